import ELFKit

/// Options shared by `doctor` and `ldd`.
struct DoctorOptions {
    var files: [String] = []
    var root: String?
    /// `--env NAME=VALUE` in order; a later one wins.
    var environment: [(name: String, value: String)] = []
    var json = false
    /// `portability --floor`: the oldest versions accepted.
    var limits: PortabilityReport.Limits?
}

/// `swelf doctor FILE`: would this program start here, and if not, why.
struct DoctorCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let host = HostProbe.hostFacts()
        var status = ExitCode.success
        var documents: [JSON] = []
        for path in options.files {
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            if !diagnosis.wouldStart { status = .failure }
            if options.json {
                documents.append(DoctorReport(diagnosis: diagnosis).json)
            } else {
                terminal.standardOutput.write(DoctorReport(diagnosis: diagnosis).text)
            }
        }
        if options.json {
            terminal.standardOutput.line((documents.count == 1 ? documents[0] : .array(documents)).serialized())
        }
        return status
    }
}

/// `swelf ldd FILE...`: the resolved tree in ldd's format, with the reason where ldd
/// prints the load address.
struct LddCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let host = HostProbe.hostFacts()
        var status = ExitCode.success
        let out = terminal.standardOutput
        for path in options.files {
            if options.files.count > 1 { out.line("\(path):") }
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            guard diagnosis.file != nil else {
                let message = diagnosis.checks.first?.findings.first { $0.severity == .fatal }?.message ?? "cannot read"
                out.flush()
                terminal.error(message)
                status = .failure
                continue
            }
            switch diagnosis.linking {
            case "static":
                out.line("\tnot a dynamic executable")
                status = .failure
                continue
            case "static-pie":
                out.line("\tstatically linked")
                continue
            default: break
            }
            guard let resolution = diagnosis.resolution else { continue }
            for check in diagnosis.checks where check.area == .versions {
                for finding in check.findings where finding.severity == .fatal || finding.severity == .warning {
                    out.line("\t" + finding.message)
                }
            }
            for lookup in resolution.lookups where lookup.isPreload && lookup.object == nil {
                out.flush()
                terminal.standardError.line("ERROR: ld.so: object '\(lookup.name)' from LD_PRELOAD cannot be preloaded (cannot open shared object file): ignored.")
                terminal.standardError.flush()
            }
            let lines = DoctorReport.lddLines(resolution, fileSystem: environment.fileSystem)
            if lines.isEmpty && resolution.lookups.isEmpty { out.line("\tstatically linked") }  // as ld.so says for no DT_NEEDED
            for line in lines { out.line(line) }
        }
        return status
    }
}

/// Renders a diagnosis as text or JSON.
struct DoctorReport {
    let diagnosis: Diagnosis

    /// ldd's lines. Under `--root` paths are shown as inside the tree, as an ldd run
    /// there (or under qemu-user with -L) shows them.
    static func lddLines(_ resolution: Resolution, fileSystem: LoaderFileSystem) -> [String] {
        var lines: [String] = []
        for entry in resolution.listing {
            switch entry {
            case .object(let index):
                let object = resolution.objects[index]
                let reason = resolution.describe(object.rule)
                let path = fileSystem.pathInTarget(object.path)
                if object.requestedName == path {
                    lines.append("\t\(path) (\(reason))")
                } else {
                    lines.append("\t\(object.requestedName) => \(path) (\(reason))")
                }
            case .missing(let lookup):
                lines.append("\t\(resolution.lookups[lookup].name) => not found")
            case .alias(let name, let index):
                let object = resolution.objects[index]
                lines.append("\t\(name) => \(fileSystem.pathInTarget(object.path)) (\(resolution.describe(object.rule)))")
            }
        }
        return lines
    }

    var verdict: String {
        if diagnosis.wouldStart {
            return diagnosis.isSharedLibrary ? "would load" : "would start"
        }
        return diagnosis.isSharedLibrary ? "would not load" : "would not start"
    }

    var fatalFindings: [Finding] {
        diagnosis.checks.flatMap { $0.findings.filter { $0.severity == .fatal } }
    }

    var text: String {
        var out = "doctor: \(diagnosis.path)\n"
        for check in diagnosis.checks {
            out += check.area.title.lowercased() + ":\n"
            for finding in check.findings {
                let label: String
                switch finding.severity {
                case .ok: label = "ok"
                case .info: label = "info"
                case .warning: label = "warning"
                case .fatal: label = "FATAL"
                }
                out += "  " + label + String(repeating: " ", count: 9 - label.count) + finding.message + "\n"
                for detail in finding.details { out += "           " + detail + "\n" }
                if let fix = finding.fix { out += "           fix: " + fix + "\n" }
            }
        }
        let fatal = fatalFindings
        out += "verdict: \(verdict)"
        if let first = fatal.first {
            out += " (\(fatal.count) problem\(fatal.count == 1 ? "" : "s")): \(first.message)"
        }
        return out + "\n"
    }

    var json: JSON {
        let environment = diagnosis.environment
        let platform = environment.platform
        var members: [(String, JSON)] = [
            ("file", .string(diagnosis.path)),
            ("would_start", .bool(diagnosis.wouldStart)),
            ("verdict", .string(verdict)),
            ("linking", .optional(diagnosis.linking)),
            ("secure_mode", .bool(environment.secure)),
            ("root", .optional(environment.fileSystem.root)),
            ("loader", .object([
                ("source", .string(platform.source)),
                ("machine", .string(platform.machine.commonName)),
                ("system_directories", .array(platform.systemDirectories.map(JSON.string))),
                ("lib", .string(platform.libDirectory)),
                ("platform", .optional(platform.platformName)),
                ("hwcaps_subdirectories", .array(platform.hwcapsSubdirectories.map(JSON.string))),
                ("cache", environment.cache == nil ? .null : .string(environment.cachePath)),
                ("cache_problem", .optional(environment.cacheProblem)),
            ])),
            ("checks", .array(diagnosis.checks.map { check in
                .object([
                    ("area", .string(check.area.rawValue)),
                    ("status", .string(check.severity.name)),
                    ("findings", .array(check.findings.map { finding in
                        .object([
                            ("severity", .string(finding.severity.name)),
                            ("message", .string(finding.message)),
                            ("details", .array(finding.details.map(JSON.string))),
                            ("fix", .optional(finding.fix)),
                        ])
                    })),
                ])
            })),
        ]
        if let go = diagnosis.goBuildInfo {
            members.append(("go", .object([
                ("version", .string(go.goVersion)),
                ("path", .optional(go.path)),
                ("main_module", go.mainModule.map { module in
                    .object([("path", .string(module.path)), ("version", .string(module.version)), ("sum", .string(module.sum))])
                } ?? .null),
                ("dependencies", .array(go.dependencies.map { module in
                    .object([("path", .string(module.path)), ("version", .string(module.version)), ("sum", .string(module.sum))])
                })),
                ("settings", .array(go.settings.map { setting in
                    .object([("key", .string(setting.key)), ("value", .string(setting.value))])
                })),
                ("cgo_enabled", go.cgoEnabled.map(JSON.bool) ?? .null),
                ("goos", .optional(go.goos)),
                ("goarch", .optional(go.goarch)),
                ("tags", .array(go.tags.map(JSON.string))),
            ])))
        } else {
            members.append(("go", .null))
        }
        if let resolution = diagnosis.resolution {
            members.append(("libraries", .array(resolution.lookups.map { lookup in
                libraryJSON(lookup, resolution)
            })))
        } else {
            members.append(("libraries", .array([])))
        }
        return .object(members)
    }

    private func libraryJSON(_ lookup: DependencyLookup, _ resolution: Resolution) -> JSON {
        var status = "found"
        var path: String?
        var rule: SearchRule?
        var message: String?
        switch lookup.outcome {
        case .loaded(let index):
            path = resolution.objects[index].path
            rule = resolution.objects[index].rule
        case .reused(let index, let reason):
            status = "reused"
            path = resolution.objects[index].path
            message = reason
        case .notFound(let text):
            status = "not_found"
            message = text
        case .failed(let text):
            status = "failed"
            message = text
        }
        return .object([
            ("name", .string(lookup.name)),
            ("needed_by", .string(resolution.objects[lookup.requester].path)),
            ("preload", .bool(lookup.isPreload)),
            ("status", .string(status)),
            ("path", .optional(path)),
            ("rule", .optional(rule?.kind)),
            ("rule_description", .optional(rule.map(resolution.describe))),
            ("message", .optional(message)),
            ("tried", .array(lookup.attempts.map { attempt in
                .object([
                    ("path", .string(attempt.path)),
                    ("rule", .string(attempt.rule.kind)),
                    ("result", .string(attempt.resultDescription)),
                ])
            })),
            ("shadowed", lookup.shadowed.map { shadowed in
                .object([("path", .string(shadowed.path)), ("rule", .string(shadowed.rule.kind))])
            } ?? .null),
        ])
    }
}
