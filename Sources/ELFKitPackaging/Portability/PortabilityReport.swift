import ELFKitCore
import ELFKitDiagnosis
import ELFKitLoader

/// Which systems a set of programs runs on: for each system library (glibc's libraries
/// and its loader, libstdc++, libgcc_s) the newest symbol version the files require,
/// which symbol and which file require it, the oldest glibc, libstdc++ and libgcc_s
/// releases that define all of them, and the distributions that ship such a glibc.
///
/// Nothing is executed: each file's libraries are found with the resolver `doctor`
/// uses (so files of another architecture, or a `--root` tree, work the same), and the
/// requirements are read from `.gnu.version_r`, `.gnu.version` and `.dynsym`. The
/// system libraries' own requirements are not counted: the target system's copies are
/// the ones that will be loaded. Every other library the files load is counted, since
/// it travels with them (or must be found on the target as it is).
public struct PortabilityReport: Sendable {
    /// A system library family the report sets a floor for; the raw value is its name.
    public enum Component: String, Sendable, CaseIterable {
        /// glibc's libraries and its loader: versions `GLIBC_x.y`.
        case glibc
        /// The GNU C++ runtime, libstdc++.so.6: versions `GLIBCXX_3.4.N` and `CXXABI_1.3.N`.
        case libstdcxx = "libstdc++"
        /// GCC's support library, libgcc_s: versions `GCC_x.y.z`.
        case libgcc = "libgcc_s"
    }

    /// One `Elf_Vernaux` on a system library, in one file.
    public struct Use: Sendable {
        /// The library the requirement is on: the `Elf_Verneed`'s `vn_file` (`libc.so.6`).
        public var library: String
        /// The version required: `vna_name` (`GLIBC_2.34`).
        public var version: VersionName
        /// `VER_FLG_WEAK` is set in `vna_flags`: glibc's loader only warns, instead of
        /// refusing the file, when the library lacks the version.
        public var weak: Bool
        /// The undefined symbols bound to the version; empty when none is (the loader
        /// checks the version all the same).
        public var symbols: [[UInt8]]
        /// The path of the file that has the requirement.
        public var requiredBy: String
        /// That file's architecture name (`x86_64`, `aarch64`, `armhf`, …): the platform
        /// the requirement is counted for.
        public var machine: String
        /// The system library family `library` belongs to; nil for any other library.
        public var component: Component? {
            if PortabilityFacts.isGlibcLibrary(library) { return .glibc }
            if PortabilityFacts.isLibstdcxx(library) { return .libstdcxx }
            if PortabilityFacts.isLibgcc(library) { return .libgcc }
            return nil
        }
    }

    /// A file looked at: an input, or a library an input loads.
    public struct FileEntry: Sendable {
        /// The path as given, or as the loader's search found it for a loaded library.
        public var path: String
        /// True for a file given (or found under a directory given); false for a library
        /// an input loads.
        public var isInput: Bool
        /// `x86_64`, `aarch64`, `ppc64le`, … (nil when not ELF).
        public var machine: String?
        /// "dynamic", "static", "static-pie", "shared library" (as doctor says).
        public var linking: String?
        /// "glibc", "musl", "none" (static) or nil when unknown.
        public var libc: String?
        /// A Go program; `cgo` is whether it links libc.
        public var isGo = false
        /// Whether the Go program was built with cgo (its build information's
        /// `CGO_ENABLED`); nil when it is not a Go program or does not say.
        public var cgo: Bool?
    }

    /// The newest numbered version of one family one system library is required at.
    public struct Newest: Sendable {
        /// The system library required (`vn_file`, e.g. `libc.so.6`).
        public var library: String
        /// The newest version of its family required of it (`GLIBC_2.34`, `GLIBCXX_3.4.30`).
        public var version: VersionName
        /// The first symbol bound to it; nil when no symbol is.
        public var symbol: [UInt8]?
        /// The path of the first file found to require it.
        public var requiredBy: String
    }

    /// The oldest release of a component that the files run on, and why.
    public struct Floor: Sendable {
        /// The library family the floor is for.
        public var component: Component
        /// glibc 2.34, or for libstdc++ and libgcc_s the GCC release (12.1.0).
        public var release: [Int]
        /// The version that sets it; nil for an architecture's baseline.
        public var version: VersionName?
        /// The first symbol bound to `version`; nil for a baseline, a marker version or a
        /// requirement without symbols.
        public var symbol: [UInt8]?
        /// The path of the file that requires `version`; nil for an architecture's baseline.
        public var requiredBy: String?
        /// A sentence on where the floor comes from.
        public var reason: String
        /// The version is newer than every one swelf's table knows: the floor is a
        /// release after `release`, the newest the table lists.
        public var beyondTable = false
    }

    /// A remark on the analysis for people: what a file is, or what could not be counted.
    public struct Note: Sendable {
        /// How much a note matters.
        public enum Severity: String, Sendable {
            /// Context: a static, musl or Go program, a system library named as an input.
            case info
            /// The report may be incomplete or the files not portable: a file that cannot
            /// be read, a missing library, `GLIBC_PRIVATE`, a version swelf cannot rank.
            case warning
        }
        /// Whether the note is context or a warning.
        public var severity: Severity
        /// The sentence, naming the file it is about.
        public var message: String
        /// An input that could not be read (missing, not ELF): an error as well as a note,
        /// which the command line prints on stderr.
        public internal(set) var unreadableInput = false
        /// The unreadable input's path (`files` of the JSON names it as a failed entry).
        package internal(set) var path: String?
    }

    /// The report for the files of one architecture.
    public struct Platform: Sendable {
        /// The architecture name (`x86_64`, `aarch64`, `armhf`, `ppc64le`, …).
        public var machine: String
        /// The oldest GLIBC_ node of this port (nil when unknown to the table).
        public var glibcBaseline: [Int]?
        /// The paths of the files of this architecture, in the order they were met.
        public var files: [String]
        /// The newest numbered version required per system library and version family:
        /// glibc's libraries first (libc, the loader, the others), then libstdc++, then libgcc_s.
        public var newest: [Newest] = []
        /// At most one floor per component, glibc's first; none for a component the files
        /// do not require.
        public var floors: [Floor] = []
        /// Distributions whose glibc meets the glibc floor (empty without one).
        public var distributions: [PortabilityFacts.Distribution] = []

        /// The floor set for one component.
        ///
        /// - Parameter component: glibc, libstdc++ or libgcc_s.
        /// - Returns: Its floor, or nil when the files do not require that component (or
        ///   no requirement of it can be ranked).
        public func floor(_ component: Component) -> Floor? { floors.first { $0.component == component } }
    }

    /// Every file looked at, each once: the inputs and the non-system libraries they load.
    public internal(set) var files: [FileEntry] = []
    /// Every version requirement the counted files have on a system library, one per
    /// `Elf_Vernaux`; those met by a libstdc++ or libgcc_s given as an input are left out.
    public internal(set) var uses: [Use] = []
    /// One report per architecture, in the order their first file was met.
    public internal(set) var platforms: [Platform] = []
    /// Remarks on the files and on what could not be counted, in the order found.
    public internal(set) var notes: [Note] = []
    /// An input could not be read as an ELF file.
    public internal(set) var failed = false

    package init() {}

    // MARK: Analysis

    /// Analyses `paths` and everything they load, in `environment` (this machine, or a
    /// `--root` tree). A directory stands for every ELF file under it (`elfFiles(under:)`).
    ///
    /// The steps: expand the directories, survey the files (each diagnosed once, told
    /// apart by `FileKey`, classified and its requirements read), then count: the
    /// missing libraries, the files and floors of each architecture, the notes on uses.
    ///
    /// - Parameters:
    ///   - given: Files and directories, in order; a file named twice is counted once.
    ///   - environment: The loader's search rules and file system the libraries are found in.
    ///   - host: The machine and user (`uname -m`, user and group ids) each input is
    ///     diagnosed for, as `doctor` does.
    /// - Returns: The report; ``failed`` is set when an input could not be read as an ELF file.
    public static func analyze(paths given: [String], environment: LoaderEnvironment, host: HostFacts) -> PortabilityReport {
        let inputs = expandDirectories(given, fileSystem: environment.fileSystem)
        let survey = Survey.of(inputs.paths, environment: environment, host: host)
        var report = PortabilityReport()
        report.files = survey.files.map(\.entry)
        report.failed = survey.failed
        report.uses = survey.uses.filter { !survey.shippedRuntimes.contains(ShippedRuntime(machine: $0.machine, soname: $0.library)) }
        report.notes = inputs.notes + survey.notes + missingLibraryNotes(survey.missing)
        let platforms = PlatformFiles.group(survey.files).map { group in
            report.platform(group.name, baseline: group.architecture.glibcBaseline, files: group.paths)
        }
        report.platforms = platforms
        report.notes += report.useNotes
        return report
    }

    /// How the survey tells files apart: by the file (device and inode) when `stat`
    /// answers, else by path. Inputs are also told apart by the path named (two hard
    /// links named are two inputs); a loaded library only by the file, so one met under
    /// another name (/lib and /usr/lib, or an input's path) is not counted again.
    enum FileKey: Hashable {
        case path(String)
        case file(FileIdentity)

        init(path: String, identity: FileIdentity?) {
            self = identity.map(FileKey.file) ?? .path(path)
        }
    }

    /// A GCC runtime (libstdc++, libgcc_s) named as an input of one architecture: what
    /// the others require of it is met by that copy, not by the target system.
    struct ShippedRuntime: Hashable {
        let machine: String
        let soname: String
    }

    /// The ELF class, byte order and machine of a file: what the glibc baseline table
    /// is looked up by.
    struct Architecture {
        let machine: ELFMachine
        let is64: Bool
        let bigEndian: Bool

        init(_ file: ELFFile) {
            machine = file.header.machine
            is64 = file.format.is64
            bigEndian = file.format.isBigEndian
        }

        /// The oldest `GLIBC_` node of this port, from the release tables.
        var glibcBaseline: [Int]? { PortabilityFacts.glibcBaseline(machine: machine, is64: is64, bigEndian: bigEndian) }
    }

    /// One file the survey counted: its entry in the report, its architecture, and the
    /// requirements it has on system libraries.
    struct Examined {
        var entry: FileEntry
        let architecture: Architecture
        let uses: [Use]
        /// Why its requirements could not be read (in full), for the report.
        let notes: [Note]
    }

    /// The files of one architecture, in the order they were met.
    struct PlatformFiles {
        let name: String
        let architecture: Architecture
        var paths: [String]

        /// The files grouped by architecture name, each group where its first file was.
        static func group(_ files: [Examined]) -> [PlatformFiles] {
            var groups: [PlatformFiles] = []
            var position: [String: Int] = [:]
            for file in files {
                guard let name = file.entry.machine else { continue }
                if let index = position[name] {
                    groups[index].paths.append(file.entry.path)
                } else {
                    position[name] = groups.count
                    groups.append(PlatformFiles(name: name, architecture: file.architecture, paths: [file.entry.path]))
                }
            }
            return groups
        }
    }

    /// A DT_NEEDED name no search found, and the file that needed it.
    struct MissingLibrary {
        let name: String
        let neededBy: String
    }

    /// Every input diagnosed, and every library the inputs load that is not a system
    /// library, each file once, in the order met.
    struct Survey {
        var files: [Examined] = []
        var uses: [Use] { files.flatMap(\.uses) }
        var notes: [Note] = []
        var failed = false
        var missing: [MissingLibrary] = []
        var shippedRuntimes: Set<ShippedRuntime> = []
        /// Where each file met so far is in `files`.
        var positions: [FileKey: Int] = [:]

        static func of(_ paths: [String], environment: LoaderEnvironment, host: HostFacts) -> Survey {
            var survey = Survey()
            for path in paths {
                survey.addInput(path, environment: environment, host: host)
            }
            return survey
        }

        /// The position of an input already met: named before, or loaded by an earlier
        /// input (then it becomes an input too, without being counted twice).
        func earlier(_ path: String, identity: FileIdentity?) -> Int? {
            if let index = positions[.path(path)] { return index }
            guard let index = positions[FileKey(path: path, identity: identity)], !files[index].entry.isInput else { return nil }
            return index
        }

        mutating func addInput(_ path: String, environment: LoaderEnvironment, host: HostFacts) {
            let identity = environment.fileSystem.status(path)?.identity
            if let index = earlier(path, identity: identity) {
                files[index].entry.isInput = true
                return
            }
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            guard let file = diagnosis.file else {
                let reason = diagnosis.checks.first?.findings.first { $0.severity == .fatal }?.message ?? "\(path): cannot be read"
                notes.append(Note(severity: .warning, message: reason, unreadableInput: true, path: path))
                failed = true
                return
            }
            let classified = PortabilityReport.classify(path, file: file, diagnosis: diagnosis)
            notes += classified.notes
            let examined = PortabilityReport.examine(file, entry: classified.entry, counted: classified.counted)
            if let soname = classified.shippedRuntime, let machine = examined.entry.machine {
                shippedRuntimes.insert(ShippedRuntime(machine: machine, soname: soname))
            }
            let identityKey = FileKey(path: path, identity: identity)
            positions[.path(path)] = files.count
            positions[identityKey] = positions[identityKey] ?? files.count
            add(examined)
            if let resolution = diagnosis.resolution { addLibraries(of: resolution) }
        }

        /// What the input loads: the libraries not found (named in a note), and every
        /// library found that is not a system library, counted once.
        mutating func addLibraries(of resolution: LibraryResolution) {
            for lookup in resolution.lookups {
                guard case .notFound = lookup.outcome, !PortabilityFacts.isSystemLibrary(lookup.name) else { continue }
                missing.append(MissingLibrary(name: lookup.name, neededBy: resolution.objects[lookup.requester].path))
            }
            for object in resolution.objects.dropFirst() where object.index != resolution.interpreterIndex {
                let names = [object.requestedName, object.soname ?? "", PathText.lastComponent(of: object.path)]
                guard !names.contains(where: { !$0.isEmpty && PortabilityFacts.isSystemLibrary($0) }) else { continue }
                let key = FileKey(path: object.path, identity: object.identity)
                guard positions[key] == nil else { continue }
                positions[key] = files.count
                add(PortabilityReport.examine(object.file, entry: FileEntry(path: object.path, isInput: false, linking: "shared library"),
                                              counted: true))
            }
        }

        mutating func add(_ examined: Examined) {
            notes += examined.notes
            files.append(examined)
        }
    }

    /// What `classify` says of an input: its entry, the notes on what it is, whether its
    /// requirements count, and the soname when it is a GCC runtime shipped with the files.
    struct Classification {
        var entry: FileEntry
        var notes: [Note]
        var counted: Bool
        var shippedRuntime: String?
    }

    /// Which libc an input uses (none, musl, glibc), whether it is a Go program, and
    /// whether it is itself a system library: a glibc library named as an input (a
    /// directory holding libc.so.6) is the target's own copy, so its requirements are
    /// not counted either. The GCC runtime (libstdc++, libgcc_s) named as an input is
    /// shipped with the files (a bundle's lib/): that copy is loaded, so its own
    /// requirements count, and what the other files require of it is met by it, not by
    /// the target.
    static func classify(_ path: String, file: ELFFile, diagnosis: Diagnosis) -> Classification {
        var entry = FileEntry(path: path, isInput: true, linking: diagnosis.linking)
        var notes: [Note] = []
        entry.isGo = diagnosis.goBuildInfo != nil
        entry.cgo = diagnosis.goBuildInfo?.cgoEnabled
        let interpreter = ((try? file.interpreter()) ?? nil) ?? ""
        let needed = ((try? file.dynamic()?.needed()) ?? nil) ?? []
        if diagnosis.linking == "static" || diagnosis.linking == "static-pie" {
            entry.libc = "none"
            notes.append(Note(severity: .info, message: entry.isGo
                ? "\(path): a Go program built without cgo, statically linked: it needs no libc"
                : "\(path): statically linked (\(diagnosis.linking!)): it needs no libc"))
        } else if interpreter.contains("ld-musl") || needed.contains(where: { $0.hasPrefix("libc.musl") }) {
            entry.libc = "musl"
            notes.append(Note(severity: .info, message: "\(path): linked with musl, not glibc: no glibc floor applies (musl has no symbol versions)"))
        } else if needed.contains(where: PortabilityFacts.isGlibcLibrary) || PortabilityFacts.isGlibcLoader(PathText.lastComponent(of: interpreter)) {
            entry.libc = "glibc"
        }
        if entry.isGo && entry.libc == "glibc" {
            notes.append(Note(severity: .info, message: "\(path): a Go program using cgo: its floor comes from its libc references"))
        }
        let soname = ((try? file.dynamic()?.soname()) ?? nil) ?? ""
        let isGlibc = PortabilityFacts.isGlibcLibrary(soname)
        let isShippedRuntime = !isGlibc && PortabilityFacts.isSystemLibrary(soname)
        if isGlibc {
            notes.append(Note(severity: .info, message: "\(path): \(soname) is a system library: the target's own copy is used, its requirements are not counted"))
        } else if isShippedRuntime {
            notes.append(Note(severity: .info, message: "\(path): \(soname) is shipped with the files: its own requirements are counted, and the versions the others require of it are met by this copy"))
        }
        return Classification(entry: entry, notes: notes, counted: !isGlibc, shippedRuntime: isShippedRuntime ? soname : nil)
    }

    /// The file's architecture and, when `counted`, its requirements on system libraries.
    static func examine(_ file: ELFFile, entry: FileEntry, counted: Bool) -> Examined {
        var entry = entry
        let machine = platformName(file)
        entry.machine = machine
        guard counted else { return Examined(entry: entry, architecture: Architecture(file), uses: [], notes: []) }
        let path = entry.path
        let imports: VersionedImports
        do {
            imports = try VersionedImports(file: file)
        } catch {
            return Examined(entry: entry, architecture: Architecture(file), uses: [],
                            notes: [Note(severity: .warning, message: "\(path): its symbol versions cannot be read: \(error)")])
        }
        var notes: [Note] = []
        if let problem = imports.symbolProblem {
            notes.append(Note(severity: .warning, message: "\(path): its symbols cannot be matched to their versions (\(problem)): its version requirements are counted without symbols"))
        }
        let uses = imports.requirements.filter { PortabilityFacts.isSystemLibrary($0.library) }.map {
            Use(library: $0.library, version: $0.version, weak: $0.weak, symbols: $0.symbols, requiredBy: path, machine: machine)
        }
        return Examined(entry: entry, architecture: Architecture(file), uses: uses, notes: notes)
    }

    /// One note per library not found, naming the first file that needs it.
    static func missingLibraryNotes(_ missing: [MissingLibrary]) -> [Note] {
        var requesters: [String: [String]] = [:]
        var order: [String] = []
        for library in missing {
            var files = requesters[library.name] ?? []
            if files.isEmpty { order.append(library.name) }
            if !files.contains(library.neededBy) { files.append(library.neededBy) }
            requesters[library.name] = files
        }
        return order.map { name in
            let files = requesters[name] ?? []
            let others = files.count > 1 ? " and \(files.count - 1) other\(files.count == 2 ? "" : "s")" : ""
            return Note(severity: .warning, message: "\(name) (needed by \(files[0])\(others)) is not found: its own requirements are not counted")
        }
    }

    /// `x86_64`, `i386`, `aarch64`, `armhf`/`arm`, `ppc64`/`ppc64le`, `riscv64`, `s390x`, `mips`/`mipsel`….
    static func platformName(_ file: ELFFile) -> String {
        let machine = file.header.machine
        let is64 = file.format.is64
        let big = file.format.isBigEndian
        switch machine {
        case .x86_64: return is64 ? "x86_64" : "x32"
        case .i386: return "i386"
        case .aarch64: return big ? "aarch64_be" : "aarch64"
        case .arm: return file.header.flags & 0x400 != 0 ? "armhf" : "arm"
        case .powerPC64: return big ? "ppc64" : "ppc64le"
        case .powerPC: return "ppc"
        case .riscv: return is64 ? "riscv64" : "riscv32"
        case .s390: return is64 ? "s390x" : "s390"
        case .mips: return (is64 ? "mips64" : "mips") + (big ? "" : "el")
        case .loongArch: return is64 ? "loongarch64" : "loongarch32"
        default: return machine.commonName + (is64 ? "-64" : "-32") + (big ? "-be" : "-le")
        }
    }
}
