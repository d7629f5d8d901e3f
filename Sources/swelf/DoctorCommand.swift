#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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

/// Gathers the facts about this machine that the core takes as values: the loader's
/// own diagnostics, `uname`, the user, the process environment, the cache.
enum HostProbe {
    /// Loaders to ask, most likely first. `ld.so` on PATH is glibc's own link.
    static let loaderCandidates = [
        "/usr/bin/ld.so", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3",
        "/lib/ld-linux.so.2", "/lib64/ld64.so.2", "/lib/ld64.so.1", "/lib/ld-linux-riscv64-lp64d.so.1",
    ]

    static func hostFacts() -> HostFacts {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return HostFacts(machineName: machine, userID: UInt32(getuid()), groupID: UInt32(getgid()))
    }

    /// This machine's loader, asked with `--list-diagnostics`; nil when no loader
    /// answers (glibc < 2.33, musl, …).
    static func loaderPlatform() -> LoaderPlatform? {
        for candidate in loaderCandidates where access(candidate, X_OK) == 0 {
            guard let file = try? ELFFile(path: candidate),
                  let output = run(candidate, ["--list-diagnostics"]),
                  let platform = LoaderPlatform.parseDiagnostics(output, machine: file.header.machine, is64: file.format.is64)
            else { continue }
            return platform
        }
        return nil
    }

    /// Fallback when the loader cannot be asked: defaults for `uname -m`.
    static func defaultPlatform(host: HostFacts) -> LoaderPlatform {
        let format = host.nativeFormats.first ?? (machine: Machine.x86_64, is64: true, bigEndian: false)
        let triplet = LoaderPlatform.multiarchTriplet(machine: format.machine, is64: format.is64, isBigEndian: format.bigEndian,
                                                      elfFlags: 0x400)
        var status = stat()
        let hasMultiarch = triplet.map { stat("/usr/lib/\($0)", &status) == 0 } ?? false
        return LoaderPlatform.defaults(machine: format.machine, is64: format.is64, isBigEndian: format.bigEndian, elfFlags: 0x400,
                                       hasMultiarch: hasMultiarch, hasLib64: stat("/lib64", &status) == 0)
    }

    /// The process environment, as NAME → VALUE.
    static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            // Bytes, reversibly as text (ByteText): LD_LIBRARY_PATH need not be UTF-8.
            let text = FilePath(cString: entry).description
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs a trusted system program with an empty environment and returns its standard
    /// output, or nil if it cannot be run or fails.
    static func run(_ program: String, _ arguments: [String]) -> String? {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("LC_ALL=C"), nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, envp)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            return nil
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += buffer.prefix(count)
        }
        close(pipeEnds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { return nil }
        return String(decoding: output, as: UTF8.self)
    }

    /// The environment to analyse with: this machine (or the `--root` tree), the
    /// process environment overlaid with `--env`.
    static func loaderEnvironment(options: DoctorOptions) -> LoaderEnvironment {
        let host = hostFacts()
        let fileSystem = LoaderFileSystem(root: options.root)
        let platform = loaderPlatform() ?? defaultPlatform(host: host)
        var variables = processEnvironment()
        for (name, value) in options.environment { variables[name] = value }
        let cache = LoaderEnvironment.loadCache(fileSystem: fileSystem)
        let noHwcaps = fileSystem.status(fileSystem.targetPath("/etc/ld.so.nohwcap")) != nil
        return LoaderEnvironment(variables: variables, secure: false, fileSystem: fileSystem,
                                 currentDirectory: currentDirectory(), platform: platform, cache: cache.cache,
                                 cachePath: cache.path, cacheProblem: cache.problem, noHwcaps: noHwcaps)
    }
}

/// `swelf doctor FILE`: would this program start here, and if not, why.
struct DoctorCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(options: options)
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
        let environment = HostProbe.loaderEnvironment(options: options)
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
