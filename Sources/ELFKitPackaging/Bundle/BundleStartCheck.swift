import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// Would the written bundle start on its target? `doctor`'s checks (``Diagnosis``) on
/// every program and plugin of the bundle, against the target (this machine, or the
/// `--root` tree), resolved in the bundle's own environment: no LD_LIBRARY_PATH,
/// LD_PRELOAD or other loader variable of the process that bundled it, so that a library
/// of the build tree cannot stand in for one the bundle lacks.
package struct BundleStartCheck {
    /// A bundled file that would not start, and why.
    package struct Failure {
        /// Its place in the bundle (`bin/app`).
        package let location: String
        /// The fatal findings, one line each; a missing symbol version names the symbols
        /// that need it.
        package let reasons: [String]
    }

    /// What the check found: the files that would not start, and the notes about files
    /// it could not judge (another architecture than this machine's, with no `--root`).
    package var failures: [Failure] = []
    package var notes: [String] = []

    /// The environment the bundle starts in on its target: `environment` (the target's
    /// file system, cache and loader) with no variable of this process.
    package static func bundleEnvironment(_ environment: LoaderEnvironment) -> LoaderEnvironment {
        var clean = environment
        clean.variables = [:]
        return clean
    }

    /// Checks each program and plugin of `plan`, written under `output`.
    package static func run(_ plan: BundlePlan, output: String, environment: LoaderEnvironment, host: HostFacts) -> BundleStartCheck {
        var result = BundleStartCheck()
        for program in plan.programs {
            let path = output + "/" + program.location
            if environment.fileSystem.root == nil, let file = try? ELFFile(path: BytePath(path)),
               !host.nativeFormats.contains(where: { $0.machine == file.header.machine && $0.is64 == file.format.is64 }) {
                result.notes.append("\(program.location) is for \(file.header.machine.commonName), not this machine: whether it starts is not checked (give --root with the target's root file system, a sysroot such as /usr/<triple>, to check it)")
                continue
            }
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            guard !diagnosis.wouldStart else { continue }
            var reasons: [String] = []
            for check in diagnosis.checks {
                for finding in check.findings where finding.severity == .fatal {
                    // The version check's findings are said again below, with the symbols.
                    if check.area == .versions, let resolution = diagnosis.resolution, !missingVersions(resolution).isEmpty { continue }
                    reasons.append(finding.message)
                }
            }
            if let resolution = diagnosis.resolution { reasons += missingVersions(resolution) }
            result.failures.append(Failure(location: program.location, reasons: reasons))
        }
        return result
    }

    /// Each version an object of `resolution` requires (not weak) that its provider does
    /// not define, with the symbols bound to it: what `doctor` finds in the versions
    /// check, said with the symbols (`__libc_start_main`) that need the version.
    static func missingVersions(_ resolution: LibraryResolution) -> [String] {
        var lines: [String] = []
        for object in resolution.objects {
            guard let imports = try? VersionedImports(file: object.file) else { continue }
            for requirement in imports.requirements where !requirement.weak {
                guard let provider = resolution.objects.first(where: { $0.answers(to: requirement.library) || $0.soname == requirement.library }),
                      let dynamic = (try? provider.file.dynamic()) ?? nil,
                      let definitions = try? dynamic.versionDefinitions(), !definitions.isEmpty else { continue }
                guard !definitions.contains(where: { $0.names.first == requirement.version.name }) else { continue }
                let symbols = requirement.symbols.map { ByteText.string($0) }
                let users = symbols.isEmpty ? "" : " (for \(symbols.prefix(8).joined(separator: ", "))\(symbols.count > 8 ? ", …" : ""))"
                // The newest of the same family the target has: how far it is behind.
                let wanted = requirement.version
                let newest = definitions.filter { !$0.isBase }.compactMap { $0.names.first.map(VersionName.init) }
                    .filter { $0.family == wanted.family && !$0.numbers.isEmpty }
                    .max { VersionName.compare($0.numbers, $1.numbers) < 0 }
                let behind = newest.map { "; its newest \(wanted.family) version is \($0.name)" } ?? ""
                lines.append("\(PathText.lastComponent(of: object.path)) needs \(wanted.name) of \(requirement.library)\(users), which \(provider.path) does not define\(behind)")
            }
        }
        return lines
    }
}
