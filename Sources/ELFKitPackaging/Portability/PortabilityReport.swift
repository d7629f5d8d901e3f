#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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
    public enum Component: String, Sendable, CaseIterable {
        case glibc
        case libstdcxx = "libstdc++"
        case libgcc = "libgcc_s"
    }

    /// One `Elf_Vernaux` on a system library, in one file.
    public struct Use: Sendable {
        public var library: String
        public var version: VersionName
        public var weak: Bool
        /// The undefined symbols bound to the version; empty when none is (the loader
        /// checks the version all the same).
        public var symbols: [[UInt8]]
        public var requiredBy: String
        public var machine: String
        public var component: Component? {
            if PortabilityFacts.isGlibcLibrary(library) { return .glibc }
            if PortabilityFacts.isLibstdcxx(library) { return .libstdcxx }
            if PortabilityFacts.isLibgcc(library) { return .libgcc }
            return nil
        }
    }

    /// A file looked at: an input, or a library an input loads.
    public struct FileEntry: Sendable {
        public var path: String
        public var isInput: Bool
        /// `x86_64`, `aarch64`, `ppc64le`, … (nil when not ELF).
        public var machine: String?
        /// "dynamic", "static", "static-pie", "shared library" (as doctor says).
        public var linking: String?
        /// "glibc", "musl", "none" (static) or nil when unknown.
        public var libc: String?
        /// A Go program; `cgo` is whether it links libc.
        public var isGo = false
        public var cgo: Bool?
    }

    /// The newest numbered version of one family one system library is required at.
    public struct Newest: Sendable {
        public var library: String
        public var version: VersionName
        /// The first symbol bound to it; nil when no symbol is.
        public var symbol: [UInt8]?
        public var requiredBy: String
    }

    /// The oldest release of a component that the files run on, and why.
    public struct Floor: Sendable {
        public var component: Component
        /// glibc 2.34, or for libstdc++ and libgcc_s the GCC release (12.1.0).
        public var release: [Int]
        /// The version that sets it; nil for an architecture's baseline.
        public var version: VersionName?
        public var symbol: [UInt8]?
        public var requiredBy: String?
        /// A sentence on where the floor comes from.
        public var reason: String
        /// The version is newer than every one swelf's table knows: the floor is a
        /// release after `release`, the newest the table lists.
        public var beyondTable = false
    }

    public struct Note: Sendable {
        public enum Severity: String, Sendable { case info, warning }
        public var severity: Severity
        public var message: String
    }

    /// The report for the files of one architecture.
    public struct Platform: Sendable {
        public var machine: String
        /// The oldest GLIBC_ node of this port (nil when unknown to the table).
        public var glibcBaseline: [Int]?
        public var files: [String]
        public var newest: [Newest] = []
        public var floors: [Floor] = []
        /// Distributions whose glibc meets the glibc floor (empty without one).
        public var distributions: [PortabilityFacts.Distribution] = []

        public func floor(_ component: Component) -> Floor? { floors.first { $0.component == component } }
    }

    public internal(set) var files: [FileEntry] = []
    public internal(set) var uses: [Use] = []
    public internal(set) var platforms: [Platform] = []
    public internal(set) var notes: [Note] = []
    /// An input could not be read as an ELF file.
    public internal(set) var failed = false

    public init() {}

    // MARK: Analysis

    /// Analyses `paths` and everything they load, in `environment` (this machine, or a
    /// `--root` tree). A directory stands for every ELF file under it (`elfFiles(under:)`).
    public static func analyze(paths given: [String], environment: LoaderEnvironment, host: HostFacts) -> PortabilityReport {
        var report = PortabilityReport()
        var paths: [String] = []
        for path in given {
            guard environment.fileSystem.isDirectory(path) else {
                paths.append(path)
                continue
            }
            let found = elfFiles(under: path)
            if found.isEmpty { report.notes.append(Note(severity: .warning, message: "\(path): no ELF file under it")) }
            paths += found
        }
        // Inputs are told apart by path (two hard links named are two inputs); a loaded
        // library by identity, so one met under another name (/lib and /usr/lib, or
        // an input's path) is not counted again.
        var seen: [String: Int] = [:]          // "path:…" or "id:…" → index in files
        func key(_ path: String, _ identity: FileIdentity?) -> String {
            identity.map { "id:\($0.device):\($0.inode)" } ?? "path:" + path
        }
        var platformFiles: [String: (Machine, Bool, Bool, [String])] = [:]
        var platformOrder: [String] = []
        var missing: [String: [String]] = [:]   // library not found → who needs it
        var missingOrder: [String] = []
        var shippedRuntimes: Set<String> = []   // "platform|soname" of a GCC runtime named as an input

        /// Counts the file's requirements; returns its platform name.
        func record(_ file: ELFFile, path: String, counted: Bool = true) -> String {
            let machine = platformName(file)
            if platformFiles[machine] == nil {
                platformFiles[machine] = (file.header.machine, file.format.is64, file.format.isBigEndian, [])
                platformOrder.append(machine)
            }
            platformFiles[machine]!.3.append(path)
            guard counted else { return machine }
            let imports: VersionedImports
            do {
                imports = try VersionedImports(file: file)
            } catch {
                report.notes.append(Note(severity: .warning, message: "\(path): its symbol versions cannot be read: \(error)"))
                return machine
            }
            if let problem = imports.symbolProblem {
                report.notes.append(Note(severity: .warning, message: "\(path): its symbols cannot be matched to their versions (\(problem)): its version requirements are counted without symbols"))
            }
            for requirement in imports.requirements where PortabilityFacts.isSystemLibrary(requirement.library) {
                report.uses.append(Use(library: requirement.library, version: requirement.version, weak: requirement.weak,
                                       symbols: requirement.symbols, requiredBy: path, machine: machine))
            }
            return machine
        }

        for path in paths {
            let inputKey = "path:" + path
            let identityKey = key(path, environment.fileSystem.status(path)?.identity)
            if let index = seen[inputKey] ?? seen[identityKey].flatMap({ report.files[$0].isInput ? nil : $0 }) {
                // Named twice, or already met as a library another input loads.
                report.files[index].isInput = true
                continue
            }
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            guard let file = diagnosis.file else {
                let reason = diagnosis.checks.first?.findings.first { $0.severity == .fatal }?.message ?? "\(path): cannot be read"
                report.notes.append(Note(severity: .warning, message: reason))
                report.failed = true
                continue
            }
            var entry = FileEntry(path: path, isInput: true, linking: diagnosis.linking)
            entry.isGo = diagnosis.goBuildInfo != nil
            entry.cgo = diagnosis.goBuildInfo?.cgoEnabled
            let interpreter = ((try? file.interpreter()) ?? nil) ?? ""
            let needed = ((try? file.dynamic()?.needed()) ?? nil) ?? []
            if diagnosis.linking == "static" || diagnosis.linking == "static-pie" {
                entry.libc = "none"
                report.notes.append(Note(severity: .info, message: entry.isGo
                    ? "\(path): a Go program built without cgo, statically linked: it needs no libc"
                    : "\(path): statically linked (\(diagnosis.linking!)): it needs no libc"))
            } else if interpreter.contains("ld-musl") || needed.contains(where: { $0.hasPrefix("libc.musl") }) {
                entry.libc = "musl"
                report.notes.append(Note(severity: .info, message: "\(path): linked with musl, not glibc: no glibc floor applies (musl has no symbol versions)"))
            } else if needed.contains(where: PortabilityFacts.isGlibcLibrary) || PortabilityFacts.isGlibcLoader(PathText.lastComponent(of: interpreter)) {
                entry.libc = "glibc"
            }
            if entry.isGo && entry.libc == "glibc" {
                report.notes.append(Note(severity: .info, message: "\(path): a Go program using cgo: its floor comes from its libc references"))
            }
            // A glibc library named as an input (a directory holding libc.so.6): the
            // target's own copy is used, so its requirements are not counted either. The GCC
            // runtime (libstdc++, libgcc_s) named as an input is shipped with the files (a
            // bundle's lib/): that copy is loaded, so its own requirements count, and what
            // the other files require of it is met by it, not by the target.
            let soname = ((try? file.dynamic()?.soname()) ?? nil) ?? ""
            let isGlibc = PortabilityFacts.isGlibcLibrary(soname)
            let isShippedRuntime = !isGlibc && PortabilityFacts.isSystemLibrary(soname)
            if isGlibc {
                report.notes.append(Note(severity: .info, message: "\(path): \(soname) is a system library: the target's own copy is used, its requirements are not counted"))
            } else if isShippedRuntime {
                report.notes.append(Note(severity: .info, message: "\(path): \(soname) is shipped with the files: its own requirements are counted, and the versions the others require of it are met by this copy"))
            }
            entry.machine = record(file, path: path, counted: !isGlibc)
            if isShippedRuntime, let machine = entry.machine { shippedRuntimes.insert(machine + "|" + soname) }
            seen[inputKey] = report.files.count
            seen[identityKey] = seen[identityKey] ?? report.files.count
            report.files.append(entry)

            guard let resolution = diagnosis.resolution else { continue }
            for lookup in resolution.lookups {
                guard case .notFound = lookup.outcome, !PortabilityFacts.isSystemLibrary(lookup.name) else { continue }
                if missing[lookup.name] == nil { missingOrder.append(lookup.name) }
                missing[lookup.name, default: []].append(resolution.objects[lookup.requester].path)
            }
            for object in resolution.objects.dropFirst() where object.index != resolution.interpreterIndex {
                let names = [object.requestedName, object.soname ?? "", PathText.lastComponent(of: object.path)]
                guard !names.contains(where: { !$0.isEmpty && PortabilityFacts.isSystemLibrary($0) }) else { continue }
                let libraryKey = key(object.path, object.identity)
                guard seen[libraryKey] == nil else { continue }
                var library = FileEntry(path: object.path, isInput: false, linking: "shared library")
                library.machine = record(object.file, path: object.path)
                seen[libraryKey] = report.files.count
                report.files.append(library)
            }
        }
        for name in missingOrder {
            let requesters = missing[name]!.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            let others = requesters.count > 1 ? " and \(requesters.count - 1) other\(requesters.count == 2 ? "" : "s")" : ""
            report.notes.append(Note(severity: .warning, message: "\(name) (needed by \(requesters[0])\(others)) is not found: its own requirements are not counted"))
        }
        report.uses.removeAll { shippedRuntimes.contains($0.machine + "|" + $0.library) }
        for machine in platformOrder {
            let (cpu, is64, bigEndian, files) = platformFiles[machine]!
            report.platforms.append(report.platform(machine, baseline: PortabilityFacts.glibcBaseline(machine: cpu, is64: is64, bigEndian: bigEndian), files: files))
        }
        report.notes += report.useNotes
        return report
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

    /// Newest versions, floors and distributions for one architecture's files.
    func platform(_ machine: String, baseline: [Int]?, files: [String]) -> Platform {
        var platform = Platform(machine: machine, glibcBaseline: baseline, files: files)
        let mine = uses.filter { $0.machine == machine }
        // Newest numbered version per (library, family), first requirer on ties.
        var newestIndex: [String: Int] = [:]
        for use in mine where !use.version.numbers.isEmpty {
            let key = use.library + "\u{0}" + use.version.family
            if let index = newestIndex[key] {
                if use.version.isNewer(than: platform.newest[index].version) {
                    platform.newest[index] = Newest(library: use.library, version: use.version, symbol: use.symbols.first, requiredBy: use.requiredBy)
                }
            } else {
                newestIndex[key] = platform.newest.count
                platform.newest.append(Newest(library: use.library, version: use.version, symbol: use.symbols.first, requiredBy: use.requiredBy))
            }
        }

        // glibc's libraries (libc, then its loader, then the rest), libstdc++, libgcc_s.
        func rank(_ newest: Newest) -> (Int, Int, String) {
            let library = newest.library
            if library.hasPrefix("libc.so.") { return (0, 0, library) }
            if PortabilityFacts.isGlibcLoader(library) { return (0, 1, library) }
            if PortabilityFacts.isGlibcLibrary(library) { return (0, 2, library) }
            return (PortabilityFacts.isLibstdcxx(library) ? 1 : 2, 0, library)
        }
        platform.newest = platform.newest.enumerated().sorted { a, b in
            let (x, y) = (rank(a.element), rank(b.element))
            return x != y ? x < y : a.offset < b.offset
        }.map(\.element)

        // glibc: the newest GLIBC_x.y of glibc's libraries, a marker's floor, or the baseline.
        let usesGlibc = mine.contains { $0.component == .glibc }
        if usesGlibc {
            var best: Floor?
            func consider(_ candidate: Floor) {
                if best == nil || VersionName.compare(candidate.release, best!.release) > 0 { best = candidate }
            }
            if let baseline {
                best = Floor(component: .glibc, release: baseline, reason: "the oldest glibc for \(machine) (GLIBC_\(baseline.map(String.init).joined(separator: "."))): no newer version is required")
            }
            for use in mine where use.component == .glibc {
                if use.version.family == "GLIBC_" && !use.version.numbers.isEmpty {
                    consider(Floor(component: .glibc, release: use.version.numbers, version: use.version, symbol: use.symbols.first,
                                   requiredBy: use.requiredBy, reason: "\(use.version.name) of \(use.library)"))
                } else if let marker = PortabilityFacts.markerFloors[use.version.name] {
                    consider(Floor(component: .glibc, release: marker, version: use.version, requiredBy: use.requiredBy,
                                   reason: "\(use.version.name) (a marker with no symbols) means glibc \(marker.map(String.init).joined(separator: ".")) or later"))
                }
            }
            if let best {
                platform.floors.append(best)
                platform.distributions = PortabilityFacts.distributions(meeting: best.release)
            }
        }
        for component in [Component.libstdcxx, .libgcc] {
            var best: Floor?
            func consider(_ candidate: Floor) {
                guard let current = best else { best = candidate; return }
                let order = VersionName.compare(candidate.release, current.release)
                if order > 0 || order == 0 && candidate.beyondTable && !current.beyondTable { best = candidate }
            }
            for use in mine where use.component == component {
                if let release = PortabilityFacts.gccRelease(for: use.version.name) {
                    consider(Floor(component: component, release: release, version: use.version, symbol: use.symbols.first,
                                   requiredBy: use.requiredBy, reason: "\(use.version.name) of \(use.library) came with GCC \(release.map(String.init).joined(separator: "."))"))
                } else if let newest = PortabilityFacts.newestKnown(like: use.version) {
                    // GLIBCXX_3.4.34 when the table ends at 3.4.33: a GCC after the newest listed.
                    var floor = Floor(component: component, release: newest.gcc, version: use.version, symbol: use.symbols.first,
                                      requiredBy: use.requiredBy,
                                      reason: "\(use.version.name) of \(use.library) is newer than swelf's table (\(newest.version), GCC \(newest.gcc.map(String.init).joined(separator: "."))): a later GCC")
                    floor.beyondTable = true
                    consider(floor)
                }
            }
            if let best { platform.floors.append(best) }
        }
        return platform
    }

    /// Notes derived from the uses: never-portable and unknown versions.
    var useNotes: [Note] {
        var result: [Note] = []
        var said = Set<String>()
        for use in uses {
            let key = use.requiredBy + "\u{0}" + use.version.name
            guard said.insert(key).inserted else { continue }
            let symbols = use.symbols.isEmpty ? "no symbol" : use.symbols.prefix(3).map { ByteText.string($0) }.joined(separator: ", ")
            if use.version.name == "GLIBC_PRIVATE" {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires GLIBC_PRIVATE of \(use.library) (\(symbols)): never portable, it binds to the exact glibc build it was linked with"))
            } else if use.component == .glibc && use.version.numbers.isEmpty && PortabilityFacts.markerFloors[use.version.name] == nil {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires \(use.version.name) of \(use.library): unknown to swelf's table, not ranked"))
            } else if use.component == .libstdcxx || use.component == .libgcc, isUnranked(use.version) {
                result.append(Note(severity: .warning, message: "\(use.requiredBy) requires \(use.version.name) of \(use.library): unknown to swelf's table, not ranked"))
            }
        }
        return result
    }

    /// A libstdc++ or libgcc_s version the floor cannot place: not in the table and not
    /// newer than all of it (`GLIBCXX_LDBL_3.4`, `CXXABI_FLOAT128`, …). Other families
    /// (libgcc_s's compatibility `GLIBC_2.0` on i386) say nothing about GCC.
    func isUnranked(_ version: VersionName) -> Bool {
        guard PortabilityFacts.gccRelease(for: version.name) == nil, PortabilityFacts.newestKnown(like: version) == nil else { return false }
        return version.name.hasPrefix("GLIBCXX") || version.name.hasPrefix("CXXABI") || version.name.hasPrefix("GCC_")
    }

    // MARK: Floor check

    /// The oldest versions a pipeline accepts: `glibc=2.28,glibcxx=3.4.24,cxxabi=1.3.11,gcc=4.8.0`.
    public struct Limits: Sendable, Equatable {
        public var glibc: [Int]?
        public var glibcxx: [Int]?
        public var cxxabi: [Int]?
        public var gcc: [Int]?

        public init(glibc: [Int]? = nil, glibcxx: [Int]? = nil, cxxabi: [Int]? = nil, gcc: [Int]? = nil) {
            self.glibc = glibc
            self.glibcxx = glibcxx
            self.cxxabi = cxxabi
            self.gcc = gcc
        }

        /// Parses `NAME=VERSION[,NAME=VERSION]...`; the message says what is wrong.
        public static func parse(_ text: String) -> Result<Limits, LimitsError> {
            var limits = Limits()
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let numbers = VersionName.numbers(of: String(parts[1])) else {
                    return .failure(LimitsError(message: "expected NAME=VERSION (e.g. glibc=2.28), got '\(item)'"))
                }
                switch parts[0].lowercased() {
                case "glibc": limits.glibc = numbers
                case "glibcxx", "libstdc++": limits.glibcxx = numbers
                case "cxxabi": limits.cxxabi = numbers
                case "gcc", "libgcc", "libgcc_s": limits.gcc = numbers
                default:
                    return .failure(LimitsError(message: "unknown name '\(parts[0])' (expected glibc, glibcxx, cxxabi or gcc)"))
                }
            }
            if limits == Limits() { return .failure(LimitsError(message: "no limit given")) }
            return .success(limits)
        }
    }

    public struct LimitsError: Error, Sendable { public var message: String }

    /// A required version beyond the limits.
    public struct Violation: Sendable {
        public var library: String
        public var version: VersionName
        /// nil when no symbol is bound to the version.
        public var symbol: [UInt8]?
        public var requiredBy: String
        public var reason: String
    }

    /// Every `symbol@version` (and every symbol-less requirement) beyond `limits`.
    public func violations(of limits: Limits) -> [Violation] {
        var result: [Violation] = []
        func add(_ use: Use, _ reason: String) {
            if use.symbols.isEmpty {
                result.append(Violation(library: use.library, version: use.version, symbol: nil, requiredBy: use.requiredBy, reason: reason))
            }
            for symbol in use.symbols {
                result.append(Violation(library: use.library, version: use.version, symbol: symbol, requiredBy: use.requiredBy, reason: reason))
            }
        }
        func above(_ numbers: [Int], _ limit: [Int]?) -> Bool {
            guard let limit, !numbers.isEmpty else { return false }
            return VersionName.compare(numbers, limit) > 0
        }
        let text: ([Int]) -> String = { $0.map(String.init).joined(separator: ".") }
        for use in uses {
            let version = use.version
            switch use.component {
            case .glibc:
                guard let limit = limits.glibc else { continue }
                if version.name == "GLIBC_PRIVATE" {
                    add(use, "GLIBC_PRIVATE is never portable")
                } else if let marker = PortabilityFacts.markerFloors[version.name], above(marker, limit) {
                    add(use, "\(version.name) needs glibc \(text(marker)), newer than \(text(limit))")
                } else if version.family == "GLIBC_" && above(version.numbers, limit) {
                    add(use, "newer than glibc \(text(limit))")
                }
            case .libstdcxx:
                if version.family == "GLIBCXX_" && above(version.numbers, limits.glibcxx) {
                    add(use, "newer than GLIBCXX_\(text(limits.glibcxx!))")
                } else if version.family == "CXXABI_" && above(version.numbers, limits.cxxabi) {
                    add(use, "newer than CXXABI_\(text(limits.cxxabi!))")
                }
            case .libgcc:
                if version.family == "GCC_" && above(version.numbers, limits.gcc) {
                    add(use, "newer than GCC_\(text(limits.gcc!))")
                }
            case nil:
                continue
            }
        }
        return result
    }

    // MARK: Directories

    /// Every ELF file under `directory`, depth first, names in byte order. Symbolic
    /// links are not followed (a link to a file elsewhere in the tree would count it
    /// twice; a link to a directory could loop).
    public static func elfFiles(under directory: String) -> [String] {
        var result: [String] = []
        var pending = [directory]
        while let current = pending.popLast() {
            guard let stream = FilePath(current).withCString({ opendir($0) }) else { continue }
            var names: [[UInt8]] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
                if name == [0x2e] || name == [0x2e, 0x2e] { continue }
                names.append(name)
            }
            closedir(stream)
            names.sort { $0.lexicographicallyPrecedes($1) }
            var subdirectories: [String] = []
            for name in names {
                let path = (current.hasSuffix("/") ? current : current + "/") + ByteText.string(name)
                var info = stat()
                guard FilePath(path).withCString({ lstat($0, &info) }) == 0 else { continue }
                let type = info.st_mode & S_IFMT
                if type == S_IFDIR {
                    subdirectories.append(path)
                } else if type == S_IFREG, isELF(path) {
                    result.append(path)
                }
            }
            pending.append(contentsOf: subdirectories.reversed())
        }
        return result
    }

    static func isELF(_ path: String) -> Bool {
        guard let source = try? FileByteSource(path: FilePath(path)), source.size >= 4,
              let magic = try? source.bytes(at: 0, count: 4, "ELF magic") else { return false }
        return magic == [0x7f, 0x45, 0x4c, 0x46]
    }
}
