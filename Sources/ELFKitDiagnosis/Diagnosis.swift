import ELFKitCore
import ELFKitLoader

/// `swelf doctor`'s analysis of one file: would it start here, and if not, why.
public struct Diagnosis {
    /// The file examined, as given (a path on this machine, under the root with `--root`).
    public let path: String
    /// The checks that found something, in ``Check/Area`` order (the order in which a
    /// problem would stop the program); an area with no finding is left out.
    public internal(set) var checks: [Check] = []
    /// The dependency tree as the loader would build it; nil when the file was not
    /// resolved (not a usable ELF file, or statically linked).
    public internal(set) var resolution: LibraryResolution?
    /// The environment actually used (secure mode and platform decided from the file).
    public internal(set) var environment: LoaderEnvironment
    /// "dynamic", "static", "static-pie", "shared library", or nil when not ELF.
    public internal(set) var linking: String?
    /// The parsed file; nil when it does not exist, is not a regular file, or is not ELF.
    public internal(set) var file: ELFFile?
    /// The Go build information, for a Go program.
    public internal(set) var goBuildInfo: GoBuildInfo?
    /// Set when this machine cannot run the file (and no `--root` was given): where it
    /// could be analysed and run here instead.
    var foreign: ForeignMachine?

    /// Nothing would stop the program.
    public var wouldStart: Bool { !checks.contains { $0.severity == .fatal } }

    /// The file was taken for a shared library and checked as `ld.so --list` loads one:
    /// ET_DYN with a dynamic section, and either not marked PIE (`DF_1_PIE`) with a
    /// DT_SONAME or no execute permission, or without PT_INTERP and not static-pie.
    public var isSharedLibrary: Bool { linking == "shared library" }

    /// Runs every check on the file at `path`. `environment.platform` describes the
    /// machine's own loader; for a file of another architecture, or under `--root`,
    /// defaults for the file's architecture are used instead.
    ///
    /// Every problem is a finding, never an error: a file that does not exist or is not
    /// ELF gives a fatal finding in the ``Check/Area/file`` check.
    ///
    /// - Parameters:
    ///   - path: the program or shared library to examine.
    ///   - environment: the loader's view of the machine
    ///     (``LoaderEnvironment/current(root:overrides:)``).
    ///   - host: the machine and the user that would start the program
    ///     (``HostFacts/current()``).
    /// - Returns: the checks, the resolution and whether the program would start.
    public static func run(path: String, environment: LoaderEnvironment, host: HostFacts) -> Diagnosis {
        var diagnosis = Diagnosis(path: path, environment: environment)
        diagnosis.runChecks(host: host)
        return diagnosis
    }

    init(path: String, environment: LoaderEnvironment) {
        self.path = path
        self.environment = environment
    }

    mutating func add(_ area: Check.Area, _ findings: [Finding]) {
        guard !findings.isEmpty else { return }
        checks.append(Check(area: area, findings: findings))
    }

    private mutating func runChecks(host: HostFacts) {
        performChecks(host: host)
        // Report in the order a problem would stop the program.
        let order = Check.Area.allCases
        checks.sort { order.firstIndex(of: $0.area)! < order.firstIndex(of: $1.area)! }
    }

    private mutating func performChecks(host: HostFacts) {
        let fileSystem = environment.fileSystem
        guard let file = checkFile(host: host) else { return }
        self.file = file
        choosePlatform(for: file)
        checkArchitecture(file, host: host)
        let interpreter = checkInterpreter(file)
        let goInfo = checkGo(file, host: host)
        guard linking != "static" && linking != "static-pie" else {
            add(.environment, nameServiceFindings(file, resolution: nil, go: goInfo) + environmentFindings(resolution: nil))
            return
        }
        let resolver = LibraryResolver(environment: environment)
        let resolution: LibraryResolution
        if interpreter == nil && isSharedLibrary && ((try? file.interpreter()) ?? nil) == nil,
           let loaderName = environment.platform.loaderPath,
           case .accepted = resolver.verify(fileSystem.targetPath(loaderName), like: file) {
            // `ld.so --list LIBRARY`: the loader itself is loaded first, under its own name.
            resolution = resolver.resolve(program: path, file: file, interpreter: fileSystem.targetPath(loaderName),
                                          interpreterName: loaderName)
        } else {
            resolution = resolver.resolve(program: path, file: file, interpreter: interpreter)
        }
        self.resolution = resolution
        add(.libraries, libraryFindings(resolution, fileSystem: fileSystem))
        add(.versions, versionFindings(resolution))
        add(.environment, nameServiceFindings(file, resolution: resolution, go: goInfo) + environmentFindings(resolution: resolution))
    }

    // MARK: 1. File

    private mutating func checkFile(host: HostFacts) -> ELFFile? {
        let fileSystem = environment.fileSystem
        var findings: [Finding] = []
        defer { add(.file, findings) }
        guard let status = fileSystem.status(path) else {
            findings.append(Finding(.fatal, "\(path) does not exist: \(fileSystem.openError(path) ?? "No such file or directory")"))
            return nil
        }
        guard status.isRegular else {
            findings.append(Finding(.fatal, "\(path) is not a regular file: exec fails with \"Permission denied\""))
            return nil
        }
        let prefix = fileSystem.prefix(path, count: 256) ?? []
        if prefix.count >= 2 && prefix[0] == UInt8(ascii: "#") && prefix[1] == UInt8(ascii: "!") {
            let line = String(decoding: prefix.dropFirst(2).prefix { $0 != 0x0a }, as: UTF8.self)
            findings.append(Finding(.fatal, "\(path) is a script, not an ELF file: the kernel runs #!\(line)",
                                    fix: "run swelf doctor on the script's interpreter"))
            return nil
        }
        let file: ELFFile
        do {
            file = try fileSystem.open(path)
        } catch {
            let reason = error.kind == .notELF ? "not an ELF file: exec fails with \"Exec format error\"" : "\(error)"
            findings.append(Finding(.fatal, "\(path): \(reason)"))
            return nil
        }
        let dynamicSection = (try? file.dynamic()) ?? nil
        // A shared library: ET_DYN with a soname and not marked PIE. Some (libc.so.6,
        // libcap.so.2) also carry PT_INTERP so that they can be run.
        // Without DF_1_PIE, one without execute permission is taken for a library too
        // (pam_cap.so): it can only be loaded, and the question is whether it would be.
        let isLibrary = file.header.type == .sharedObject && !(dynamicSection?.flags1.contains(.pie) ?? false)
            && (((try? dynamicSection?.soname()) ?? nil) != nil || !status.hasExecuteBit)
        if dynamicSection == nil {
            linking = file.firstSegment(.interp) != nil ? "dynamic" : "static"
        } else if isLibrary || (file.header.type == .sharedObject && file.firstSegment(.interp) == nil && !file.isStaticPIE) {
            linking = "shared library"
        } else if file.firstSegment(.interp) != nil {
            linking = "dynamic"
        } else if file.isStaticPIE {
            linking = "static-pie"
        } else {
            linking = "dynamic"
        }
        guard file.header.type == .executable || file.header.type == .sharedObject else {
            findings.append(Finding(.fatal, "\(path) is \(file.header.type) (not a program or a shared library): exec fails with \"Exec format error\""))
            return nil
        }
        var detail = "ELF \(file.format.is64 ? 64 : 32)-bit \(file.format.isBigEndian ? "MSB" : "LSB") \(file.header.machine.commonName), \(linking ?? "")"
        detail += ", mode \(status.permissions), owner \(status.owner):\(status.group)"
        findings.append(Finding(.ok, detail))

        if isSharedLibrary {
            findings.append(Finding(.info, "a shared library: checked as `ld.so --list` loads it"))
            if file.firstSegment(.interp) != nil && !status.hasExecuteBit {
                findings.append(Finding(.info, "it has PT_INTERP but no execute permission (mode \(status.permissions)): it loads as a library but cannot be run directly"))
            }
        } else {
            let executable: Bool
            if host.userID == 0 {
                executable = status.hasExecuteBit
            } else if host.userID == status.owner {
                executable = status.mode & 0o100 != 0
            } else if host.groupID == status.group {
                executable = status.mode & 0o010 != 0
            } else {
                executable = status.mode & 0o001 != 0
            }
            if !executable {
                findings.append(Finding(.fatal, "no execute permission for user \(host.userID) (mode \(status.permissions)): exec fails with \"Permission denied\"",
                                        fix: "chmod +x \(path)", command: "chmod +x \(Self.shellWord(path))"))
            }
            if fileSystem.isOnNoexecMount(path) {
                findings.append(Finding(.fatal, "\(path) is on a file system mounted noexec: exec fails with \"Permission denied\"",
                                        fix: "copy it to a file system mounted without noexec, or remount with `mount -o remount,exec`"))
            }
        }
        if let label = fileSystem.extendedAttribute(path, name: "security.selinux") {
            let text = String(decoding: label.prefix { $0 != 0 }, as: UTF8.self)
            let type = text.split(separator: ":").dropFirst(2).first.map(String.init) ?? ""
            if ["user_home_t", "tmp_t", "user_tmp_t", "default_t", "httpd_sys_content_t"].contains(type) {
                findings.append(Finding(.warning, "SELinux label \(text): confined services are not allowed to execute files of type \(type)",
                                        fix: "semanage fcontext -a -t bin_t '\(path)' && restorecon -v '\(path)'"))
            } else {
                findings.append(Finding(.info, "SELinux label \(text): the policy decides whether this domain may execute it"))
            }
        }
        // AT_SECURE: the kernel sets it when the effective ids differ from the real ones
        // (setuid/setgid to someone else) or file capabilities raise the permitted set
        // of a non-root user.
        var secureReasons: [String] = []
        if status.isSetUID && status.owner != host.userID { secureReasons.append("setuid (owner \(status.owner))") }
        if status.isSetGID && status.group != host.groupID { secureReasons.append("setgid (group \(status.group))") }
        if fileSystem.extendedAttribute(path, name: "security.capability") != nil && host.userID != 0 {
            secureReasons.append("file capabilities (security.capability)")
        }
        if !secureReasons.isEmpty {
            environment.secure = true
            findings.append(Finding(.info, "\(secureReasons.joined(separator: ", ")): the loader runs in secure mode — LD_LIBRARY_PATH and LD_PRELOAD are ignored, $ORIGIN is restricted"))
        } else if status.isSetUID || status.isSetGID {
            findings.append(Finding(.info, "setuid/setgid bit set, but to this user's own ids: no secure mode for user \(host.userID)"))
        }
        return file
    }

    /// Uses defaults for the file's architecture when the machine's loader is not the
    /// one that would load it (another architecture, or a `--root` tree).
    private mutating func choosePlatform(for file: ELFFile) {
        environment = environment.adapted(for: file)
    }

    // MARK: 2. Architecture

    private mutating func checkArchitecture(_ file: ELFFile, host: HostFacts) {
        let machine = file.header.machine
        let description = "\(file.format.is64 ? "ELFCLASS64" : "ELFCLASS32") \(file.format.isBigEndian ? "big" : "little")-endian \(machine.commonName)"
        var findings: [Finding] = []
        defer { add(.architecture, findings) }
        if file.header.osABI != .systemV && file.header.osABI != .linux {
            findings.append(Finding(.warning, "OS ABI \(file.header.osABI): built for another operating system"))
        }
        if let root = environment.fileSystem.root {
            findings.append(Finding(.info, "\(description), analysed under \(root) (this machine is \(host.machineName); it runs there natively or under emulation)"))
            return
        }
        let native = host.nativeFormats.contains {
            $0.machine == machine && $0.is64 == file.format.is64 && $0.bigEndian == file.format.isBigEndian
        }
        if native {
            findings.append(Finding(.ok, "\(description) runs on this \(host.machineName) machine"))
        } else {
            var details = ["unless a binfmt_misc handler (qemu-user) is registered for \(machine.commonName)"]
            let foreign = foreignMachine(file, host: host)
            self.foreign = foreign
            let rootAdvice = foreign.rootAdvice(path: path)
            var fix = "rebuild for \(host.machineName), or " + (rootAdvice ?? "analyse it in its own tree with --root")
            let hostGoArch = LoaderPlatform.goArch(machineName: host.machineName)
            if let go = (try? GoBuildInfo.read(from: file)) ?? nil {
                // A cross-compiled Go program: say which GOARCH it was built with.
                details.insert("a Go program built with GOOS=\(go.goos ?? "?") GOARCH=\(go.goarch ?? "?")", at: 0)
                if let hostGoArch {
                    fix = "rebuild with GOARCH=\(hostGoArch) (it was built with GOARCH=\(go.goarch ?? "?"))" + (rootAdvice.map { "; or " + $0 } ?? "")
                }
            } else if let hostGoArch {
                fix = "rebuild for \(host.machineName) (for a Go program: GOARCH=\(hostGoArch)), or " + (rootAdvice ?? "analyse it in its own tree with --root")
            }
            if foreign.sysroot == nil {
                details.append("no sysroot for \(foreign.machine) with its loader under /usr on this machine (Debian: libc6-\(Self.debianArchitecture(machine, is64: file.format.is64, bigEndian: file.format.isBigEndian) ?? foreign.machine)-cross)")
            }
            findings.append(Finding(.fatal, "\(description) cannot run on this \(host.machineName) machine: exec fails with \"Exec format error\"",
                                    details: details, fix: fix,
                                    command: foreign.sysroot.map { "swelf doctor --root \($0) \(Self.shellWord(path))" }))
        }
    }

    // MARK: 3. Interpreter

    /// Returns the host path of a usable interpreter.
    private mutating func checkInterpreter(_ file: ELFFile) -> String? {
        var findings: [Finding] = []
        defer { add(.interpreter, findings) }
        switch linking {
        case "static":
            findings.append(Finding(.ok, "statically linked: no interpreter, no shared libraries"))
            return nil
        case "static-pie":
            findings.append(Finding(.ok, "static-pie: relocates itself, no interpreter, no shared libraries"))
            return nil
        default: break
        }
        guard let name = (try? file.interpreter()) ?? nil else {
            if isSharedLibrary {
                findings.append(Finding(.info, "no PT_INTERP (a shared library): \(environment.platform.loaderPath ?? "ld.so") would load it"))
            }
            return nil
        }
        let fileSystem = environment.fileSystem
        let hostPath = fileSystem.targetPath(name)
        let shown = fileSystem.root == nil ? name : "\(name) (\(hostPath))"
        let isMusl = name.contains("ld-musl")
        guard let status = fileSystem.status(hostPath) else {
            var command: String?
            var fix = isMusl ? "install musl (its loader is \(name)), or rebuild against glibc"
                : "install the \(file.header.machine.commonName) \(file.format.is64 ? "64" : "32")-bit C library that provides \(name)"
                    + (Self.debianArchitecture(file.header.machine, is64: file.format.is64, bigEndian: file.format.isBigEndian)
                        .map { " (on Debian: libc6:\($0))" } ?? "")
            if let loader = environment.platform.loaderPath, loader != name, environment.platform.machine == file.header.machine,
               environment.platform.is64 == file.format.is64, !isMusl, fileSystem.status(fileSystem.targetPath(loader)) != nil {
                fix = "swelf --set-interpreter \(loader) \(path)"
                command = "swelf --set-interpreter \(Self.shellWord(loader)) \(Self.shellWord(path))"
            }
            if let foreign, let advice = foreign.rootAdvice(path: path) {
                fix = advice
                command = foreign.sysroot.map { "swelf doctor --root \($0) \(Self.shellWord(path))" }
            }
            findings.append(Finding(.fatal, "interpreter \(shown) does not exist: exec fails with \"No such file or directory\" although \(path) exists",
                                    fix: fix, command: command))
            return nil
        }
        let resolver = LibraryResolver(environment: environment)
        switch resolver.verify(hostPath, like: file) {
        case .accepted:
            break
        case .wrongClass(let is64):
            findings.append(Finding(.fatal, "interpreter \(shown) is \(is64 ? "64" : "32")-bit, the program is not: exec fails with \"Exec format error\""))
            return nil
        case .wrongMachine(let machine):
            findings.append(Finding(.fatal, "interpreter \(shown) is for \(machine.commonName), the program for \(file.header.machine.commonName): exec fails with \"Exec format error\""))
            return nil
        case .invalid(let message), .absent(let message):
            findings.append(Finding(.fatal, "interpreter \(shown) is not usable: \(message)"))
            return nil
        case .refusedByNoDefaultLib:
            return nil
        }
        if !status.hasExecuteBit || fileSystem.isOnNoexecMount(hostPath) {
            let reason = status.hasExecuteBit ? "is on a file system mounted noexec" : "has no execute permission"
            findings.append(Finding(.fatal, "interpreter \(shown) \(reason): exec fails with \"Permission denied\""))
            return nil
        }
        var message = "\(shown)"
        if let resolved = fileSystem.canonicalPath(hostPath), resolved != hostPath { message += " -> \(resolved)" }
        findings.append(Finding(.ok, message))
        if isMusl {
            findings.append(Finding(.info, "a musl program: its libraries are resolved with musl's rules (LD_LIBRARY_PATH, then RUNPATH or RPATH of the whole loading chain, then /etc/ld-musl-*.path or /lib:/usr/local/lib:/usr/lib; the loader is libc.so)"))
        }
        return hostPath
    }
}

extension LoaderPlatform {
    /// GOARCH for a `uname -m` machine name.
    static func goArch(machineName: String) -> String? {
        switch machineName {
        case "x86_64": "amd64"
        case "aarch64": "arm64"
        case "i686", "i386": "386"
        case "ppc64le": "ppc64le"
        case "s390x": "s390x"
        case "riscv64": "riscv64"
        default: machineName.hasPrefix("armv") ? "arm" : nil
        }
    }
}

extension Diagnosis {
    /// Debian's name for an architecture, for "install libc6:ARCH" advice.
    static func debianArchitecture(_ machine: ELFMachine, is64: Bool, bigEndian: Bool) -> String? {
        switch (machine, is64) {
        case (.x86_64, true): return "amd64"
        case (.i386, false): return "i386"
        case (.aarch64, true): return "arm64"
        case (.arm, false): return "armhf"
        case (.riscv, true): return "riscv64"
        case (.s390, true): return "s390x"
        case (.powerPC64, true): return bigEndian ? "ppc64" : "ppc64el"
        case (.mips, false): return bigEndian ? "mips" : "mipsel"
        case (.mips, true): return bigEndian ? "mips64" : "mips64el"
        case (.loongArch, true): return "loong64"
        default: return nil
        }
    }
}


extension Diagnosis {
    /// One thing the doctor found.
    public struct Finding: Sendable {
        /// How much a finding matters, from ``ok`` to ``fatal`` (ordered, so that the
        /// worst of a list is its `max()`).
        public enum Severity: Int, Sendable, Comparable {
            /// Checked and in order (a library found, the interpreter usable).
            case ok
            /// A fact worth knowing that changes nothing (secure mode, LD_LIBRARY_PATH is set).
            case info
            /// Not a failure here, but one in other circumstances (a library found only
            /// through LD_LIBRARY_PATH, which sudo drops; a weak version missing).
            case warning
            /// Stops the program: exec or the loader would fail.
            case fatal
            /// Orders severities from ``ok`` to ``fatal``.
            /// - Parameters:
            ///   - a: one severity.
            ///   - b: another.
            /// - Returns: true when `a` is less severe than `b`.
            public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
            /// `ok`, `info`, `warning` or `fatal`: the name used in text and JSON reports.
            public var name: String {
                switch self {
                case .ok: "ok"
                case .info: "info"
                case .warning: "warning"
                case .fatal: "fatal"
                }
            }
        }

        /// How much it matters.
        public var severity: Severity
        /// One line saying what was found, in the loader's own words where it has some
        /// (`error while loading shared libraries: …`).
        public var message: String
        /// Evidence: paths tried, values read.
        public var details: [String]
        /// A concrete remedy in words, often naming a swelf command.
        public var fix: String?
        /// The remedy as one shell command to paste, with its words quoted for `sh`
        /// (`swelf --set-rpath '$ORIGIN/../lib' dist/bin/app`), when one command is the
        /// fix; nil when the fix is advice rather than a command.
        public var command: String?

        /// A finding, for a caller that reports its own checks alongside the doctor's.
        /// - Parameters:
        ///   - severity: how much it matters.
        ///   - message: what was found, in one line.
        ///   - details: the evidence, one line each.
        ///   - fix: a remedy, if there is one.
        ///   - command: the remedy as one shell command, if one command is the fix.
        public init(_ severity: Severity, _ message: String, details: [String] = [], fix: String? = nil, command: String? = nil) {
            self.severity = severity
            self.message = message
            self.details = details
            self.fix = fix
            self.command = command
        }
    }

    /// The findings of one check.
    public struct Check: Sendable {
        /// The checks, in the order in which a problem would stop the program.
        public enum Area: String, Sendable, CaseIterable {
            /// The file itself: it exists, is a regular ELF file of a type exec accepts,
            /// is executable by the user, not on a noexec mount; its SELinux label; whether
            /// setuid, setgid or file capabilities put the loader in secure mode.
            case file
            /// The OS ABI, and whether this machine runs the file's class, byte order and
            /// machine natively.
            case architecture
            /// PT_INTERP: the loader exists, matches the program and may be executed.
            case interpreter
            /// Every DT_NEEDED (and LD_PRELOAD) name, resolved as the loader would, with
            /// the paths tried.
            case libraries
            /// Symbol versions: each DT_VERNEED requirement is among the providing
            /// library's DT_VERDEF names (`_dl_check_map_versions`).
            case versions
            /// What a Go program's build information implies here (GOOS, GOAMD64, cgo).
            case go
            /// The environment the program starts in: LD_LIBRARY_PATH, LD_PRELOAD, PATH,
            /// and the name-service modules glibc loads at run time.
            case environment
            /// The heading of the check in a report (`Symbol versions`).
            public var title: String {
                switch self {
                case .file: "File"
                case .architecture: "Architecture"
                case .interpreter: "Interpreter"
                case .libraries: "Libraries"
                case .versions: "Symbol versions"
                case .go: "Go build info"
                case .environment: "Environment"
                }
            }
        }

        /// What was checked.
        public let area: Area
        /// What was found, in the order the checks found it; never empty in a ``Diagnosis``.
        public var findings: [Finding]
        /// The worst severity among the findings (``Finding/Severity/ok`` when there are none).
        public var severity: Finding.Severity { findings.map(\.severity).max() ?? .ok }
    }
}
