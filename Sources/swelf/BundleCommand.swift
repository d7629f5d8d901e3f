#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// `swelf bundle` options.
struct BundleOptions {
    var inputs: [String] = []
    var output: String?
    var policyFile: String?
    var includeCxxRuntime = false
    var root: String?
    var environment: [(name: String, value: String)] = []
    var json = false
}

/// `swelf bundle --output DIR PROGRAM_OR_DIR...`: copies the programs to DIR/bin and every
/// library they load that is not base system to DIR/lib, gives each copy an
/// `$ORIGIN`-relative DT_RUNPATH (through `Rewriter`, so every copy is verified like any
/// edit), and prints what it decided and why. Nothing outside DIR is written.
struct BundleCommand {
    let terminal: Terminal
    let options: BundleOptions

    /// The run paths written: programs live in bin/, libraries in lib/.
    static let programRunPath = "$ORIGIN/../lib"
    static let libraryRunPath = "$ORIGIN"

    func run() -> ExitCode {
        guard let output = options.output else { return .usage }
        var policy = BundlePolicy()
        if let path = options.policyFile {
            do {
                let text = String(decoding: try FileSystem.readContents(FilePath(path)), as: UTF8.self)
                try policy.parse(text, path: path)
            } catch {
                terminal.error("policy: \(error)")
                return .failure
            }
        }
        if options.includeCxxRuntime { policy.includeCxxRuntime() }

        var programs: [(path: String, name: String)] = []
        for input in options.inputs {
            var status = stat()
            guard FilePath(input).withCString({ stat($0, &status) }) == 0 else {
                terminal.error("\(input): \(systemErrorMessage(errno))")
                return .failure
            }
            if status.st_mode & S_IFMT == S_IFDIR {
                programs += BundleCommand.programsUnder(input, skipping: BundleCommand.realPath(output))
            } else {
                programs.append((input, BundleCommand.lastComponent(input)))
            }
        }
        if programs.isEmpty {
            terminal.error("bundle: no programs found in \(options.inputs.joined(separator: " "))")
            return .failure
        }

        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let plan = BundlePlanner(environment: environment, policy: policy).plan(programs: programs)
        if !plan.errors.isEmpty {
            if options.json {
                terminal.standardOutput.line(BundleReport(plan: plan, output: output, written: false).json.serialized())
                terminal.standardOutput.flush()
            }
            for error in plan.errors { terminal.error("bundle: \(error)") }
            terminal.error("bundle: nothing written to \(output)")
            return .failure
        }

        let out = terminal.standardOutput
        var leftovers: [String] = []
        do {
            let bin = try BundleCommand.makeDirectory(output, "bin")
            let lib = try BundleCommand.makeDirectory(output, "lib")
            // The bundle's own copies keep their sources' modes, read-only ones from a
            // store included; a rerun replaces them as the bundle's, not the user's, files.
            let rewriter = Rewriter(durable: true, allowReadOnly: true)
            for program in plan.programs {
                var request = EditRequest()
                if program.isDynamic {
                    request.runPath = .set(Array(BundleCommand.programRunPath.utf8))
                    request.replaceNeeded = replacements(plan, "bin/\(program.name)")
                }
                try write(rewriter, program.source, request, to: bin + "/" + program.name)
                leftovers += BundleCommand.leftoverPaths(source: program.source, copy: bin + "/" + program.name, shownAs: "bin/\(program.name)")
            }
            for library in plan.libraries {
                var request = EditRequest()
                request.runPath = .set(Array(BundleCommand.libraryRunPath.utf8))
                request.replaceNeeded = replacements(plan, "lib/\(library.name)")
                try write(rewriter, library.source, request, to: lib + "/" + library.name)
                leftovers += BundleCommand.leftoverPaths(source: library.source, copy: lib + "/" + library.name, shownAs: "lib/\(library.name)")
            }
        } catch {
            out.flush()
            terminal.error("bundle: \(error)")
            return .failure
        }
        let report = BundleReport(plan: plan, output: output, leftovers: leftovers)
        // The bundle ends with the portability report of what it wrote (bin/ and lib/,
        // resolved as they will be: private libraries through their $ORIGIN run paths, the
        // base system where --root/--env say). Its verdict does not change the bundle's
        // exit status; `swelf portability --floor` gates on it.
        let rendering = PortabilityRendering(limits: nil)
        let portability = PortabilityReport.analyze(paths: [output], environment: environment, host: HostProbe.hostFacts())
        if options.json {
            guard case .object(var members) = report.json else { return .failure }
            members.append(("portability", rendering.json(portability, violations: nil)))
            out.line(JSON.object(members).serialized())
        } else {
            out.write(report.text)
            out.line("")
            out.line("Portability of the bundle:")
            out.write(rendering.text(portability, violations: nil))
        }
        return .success
    }

    private func replacements(_ plan: BundlePlan, _ owner: String) -> [(old: [UInt8], new: [UInt8])] {
        (plan.pathNeeded[owner] ?? []).map { (ByteText.bytes($0.old), ByteText.bytes($0.new)) }
    }

    /// One copy: the rewriter reads `source` (never changes it) and writes `destination`.
    /// Anything but a regular file at the destination is removed first, so that a
    /// symbolic link there cannot lead the write outside the bundle.
    private func write(_ rewriter: Rewriter, _ source: String, _ request: EditRequest, to destination: String) throws {
        var status = stat()
        if FilePath(destination).withCString({ lstat($0, &status) }) == 0 && status.st_mode & S_IFMT != S_IFREG {
            guard FilePath(destination).withCString({ unlink($0) }) == 0 else {
                throw BundleError("cannot remove \(destination): \(systemErrorMessage(errno))")
            }
        }
        do {
            _ = try rewriter.rewrite(path: FilePath(source), request: request, output: FilePath(destination))
        } catch {
            throw BundleError("\(source) -> \(destination): \(error)")
        }
    }

    /// The build-machine paths of `source` (its run path, DT_NEEDED names with a '/')
    /// whose bytes are still in `copy` as a whole string: unreferenced, in the old place
    /// of a string table that had to move (swelf does not overwrite old table bytes), but
    /// visible to `strings`. Reported, so the promise "no build-machine path remains" is
    /// never broken silently.
    static func leftoverPaths(source: String, copy: String, shownAs name: String) -> [String] {
        guard let original = try? ELFFile(path: FilePath(source)), let dynamic = (try? original.dynamic()) ?? nil,
              let written = try? FileByteSource(path: FilePath(copy)),
              let bytes = try? written.bytes(at: 0, count: written.size, copy) else { return [] }
        var paths: [String] = []
        if let runpath = (try? dynamic.runpath()) ?? nil { paths.append(runpath) }
        if let rpath = (try? dynamic.rpath()) ?? nil { paths.append(rpath) }
        paths += ((try? dynamic.needed()) ?? []).filter { $0.contains("/") }
        var result: [String] = []
        for path in paths where path.contains("/") && !path.hasPrefix("$ORIGIN") && !path.hasPrefix("${ORIGIN}") {
            let framed = [0] + ByteText.bytes(path) + [0]
            if BundleCommand.contains(bytes, framed) {
                result.append("\(name): the old string '\(path)' remains as unreferenced bytes (a string table that grew was moved; its old bytes are not overwritten)")
            }
        }
        return result
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        var start = 0
        while start <= haystack.count - needle.count {
            guard let first = haystack[start...].firstIndex(of: needle[0]), first <= haystack.count - needle.count else { return false }
            if haystack[first ..< first + needle.count].elementsEqual(needle) { return true }
            start = first + 1
        }
        return false
    }

    struct BundleError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// `DIR/name`, created if needed; a symbolic link or another kind of file there is
    /// refused (the bundle is written inside DIR only).
    static func makeDirectory(_ directory: String, _ name: String) throws -> String {
        for path in [directory, directory + "/" + name] {
            var status = stat()
            if FilePath(path).withCString({ lstat($0, &status) }) == 0 {
                guard status.st_mode & S_IFMT == S_IFDIR else {
                    throw BundleError("\(path) exists and is not a directory (a symbolic link is refused: the bundle stays inside its directory)")
                }
                continue
            }
            guard FilePath(path).withCString({ mkdir($0, 0o755) }) == 0 else {
                throw BundleError("cannot create \(path): \(systemErrorMessage(errno))")
            }
        }
        return directory + "/" + name
    }

    static func lastComponent(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        return String(trimmed.split(separator: "/").last ?? trimmed)
    }

    /// Every program under `directory`, in name order: regular files (symbolic links are
    /// not followed, so nothing is taken twice) that are ELF programs: a PT_INTERP, or
    /// static (ET_EXEC, or static-pie). Shared libraries are left to the resolution.
    static func realPath(_ path: String) -> String? {
        guard let resolved = FilePath(path).withCString({ realpath($0, nil) }) else { return nil }
        defer { free(resolved) }
        return FilePath(cString: resolved).description
    }

    /// `skipping`: the bundle's own directory (canonical), when it lies inside an input
    /// directory: its programs are the previous run's copies, not inputs.
    static func programsUnder(_ directory: String, skipping output: String?) -> [(path: String, name: String)] {
        var result: [(path: String, name: String)] = []
        var entries: [String] = []
        guard let stream = FilePath(directory).withCString({ opendir($0) }) else { return [] }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                ByteText.string(Array(raw.prefix { $0 != 0 }))
            }
            if name != "." && name != ".." { entries.append(name) }
        }
        closedir(stream)
        for name in entries.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            guard FilePath(path).withCString({ lstat($0, &status) }) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                if let output, realPath(path) == output { continue }
                result += programsUnder(path, skipping: output)
            } else if status.st_mode & S_IFMT == S_IFREG, let file = try? ELFFile(path: FilePath(path)),
                      ((try? file.interpreter()) ?? nil) != nil || file.header.type == .executable || file.isStaticPIE {
                result.append((path, name))
            }
        }
        return result
    }
}

/// The text `swelf bundle` prints: what went where, every decision with its reason,
/// and the warnings.
struct BundleReport {
    let plan: BundlePlan
    let output: String
    var leftovers: [String] = []
    var written = true

    /// `--json`: the same facts, for scripts.
    var json: JSON {
        .object([
            ("output", .string(output)),
            ("written", .bool(written)),
            ("programs", .array(plan.programs.map { program in
                .object([("name", .string("bin/" + program.name)), ("source", .string(program.source)),
                         ("run_path", program.isDynamic ? .string(BundleCommand.programRunPath) : .null)])
            })),
            ("libraries", .array(plan.libraries.map { library in
                .object([("name", .string("lib/" + library.name)), ("source", .string(library.source)),
                         ("canonical", .string(library.canonical)), ("soname", .optional(library.soname)),
                         ("needed_by", .string(library.foundBy)), ("run_path", .string(BundleCommand.libraryRunPath)),
                         ("shadowed", .array(library.shadowed.map(JSON.string)))])
            })),
            ("decisions", .array(plan.decisions.map { decision in
                .object([("name", .string(decision.name)), ("needed_by", .string(decision.neededBy)),
                         ("outcome", .string(decision.outcome.rawValue)), ("reason", .string(decision.reason)),
                         ("path", .optional(decision.path))])
            })),
            ("warnings", .array((plan.warnings + leftovers).map(JSON.string))),
            ("errors", .array(plan.errors.map(JSON.string))),
        ])
    }

    var text: String {
        var lines: [String] = ["bundle: \(output)", "programs:"]
        for program in plan.programs {
            lines.append("  bin/\(program.name) <- \(program.source)"
                         + (program.isDynamic ? " (RUNPATH \(BundleCommand.programRunPath))" : " (static: copied as it is)"))
        }
        lines.append("libraries:")
        if plan.libraries.isEmpty { lines.append("  (none)") }
        for library in plan.libraries {
            var line = "  lib/\(library.name) <- \(library.source)"
            if library.canonical != library.source { line += " -> \(library.canonical)" }
            lines.append(line + " (RUNPATH \(BundleCommand.libraryRunPath))")
            lines.append("      needed by \(library.foundBy)")
            for copy in library.shadowed { lines.append("      shadowed: \(copy) (the loader takes the copy above)") }
        }
        lines.append("decisions:")
        for decision in plan.decisions {
            let padded = decision.outcome.rawValue + String(repeating: " ", count: max(0, 9 - decision.outcome.rawValue.count))
            lines.append("  \(padded) \(decision.name) (needed by \(decision.neededBy)): \(decision.reason)")
        }
        if !plan.warnings.isEmpty || !leftovers.isEmpty {
            lines.append("warnings:")
            for warning in plan.warnings + leftovers { lines.append("  \(warning)") }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
