import ELFKitCore

/// What the dynamic loader of the target system is like: its compiled-in search
/// directories, the values it substitutes for `$LIB` and `$PLATFORM`, the hardware
/// capability subdirectories it tries in every directory, and the cache flags it accepts.
///
/// On a glibc ≥ 2.33 machine `ld.so --list-diagnostics` prints all of it
/// (`parseDiagnostics`); elsewhere, and for a foreign `--root`, `defaults` gives what
/// Debian's and Fedora's glibc builds use.
public struct LoaderPlatform: Sendable, Equatable {
    /// The architecture the loader serves (its own class and machine).
    public var machine: ELFMachine
    /// The loader's class: true for ELFCLASS64. Libraries of the other class are skipped.
    public var is64: Bool
    /// `path.system_dirs`, each with its trailing slash, in search order.
    public var systemDirectories: [String]
    /// `$LIB` (`dl_dst_lib`), e.g. `lib/x86_64-linux-gnu` on Debian, `lib64` on Fedora.
    public var libDirectory: String
    /// `$PLATFORM` (`dl_platform`, from the kernel's AT_PLATFORM), e.g. `x86_64`.
    public var platformName: String?
    /// Active glibc-hwcaps subdirectory names, best first (`x86-64-v4`, `x86-64-v3`, …).
    public var hwcapsSubdirectories: [String]
    /// The legacy hardware-capability subdirectories glibc < 2.37 still tries after the
    /// glibc-hwcaps ones (`tls/x86_64/x86_64/`, `tls/`, `x86_64/`, …), each ending in '/'.
    public var legacySubdirectories: [String]
    /// `_DL_CACHE_DEFAULT_ID`: the cache flags this loader's libraries carry.
    public var cacheFlags: UInt32
    /// The loader's own path (`path.rtld`), when known.
    public var loaderPath: String?
    /// glibc version (`version.version`), when known.
    public var glibcVersion: String?
    /// Where these facts came from, for the report.
    public var source: String

    /// Facts given by the caller (a loader described by hand, a test); see the
    /// properties for what each means.
    ///
    /// - Parameters:
    ///   - machine: the architecture the loader serves (`e_machine`).
    ///   - is64: true for an ELFCLASS64 loader.
    ///   - systemDirectories: the default directories, in search order, each ending in '/'.
    ///   - libDirectory: the value of `$LIB`.
    ///   - platformName: the value of `$PLATFORM`; nil drops path elements that use it.
    ///   - hwcapsSubdirectories: usable glibc-hwcaps subdirectory names, best first.
    ///   - legacySubdirectories: legacy hwcap subdirectories, each ending in '/'
    ///     (empty for glibc 2.37 and later).
    ///   - cacheFlags: `_DL_CACHE_DEFAULT_ID`, the `ld.so.cache` flags this loader takes.
    ///   - loaderPath: the loader's own path, when known.
    ///   - glibcVersion: the glibc version, when known.
    ///   - source: where the facts came from, shown in reports.
    public init(machine: ELFMachine, is64: Bool, systemDirectories: [String], libDirectory: String, platformName: String?,
                hwcapsSubdirectories: [String] = [], legacySubdirectories: [String] = [], cacheFlags: UInt32,
                loaderPath: String? = nil, glibcVersion: String? = nil, source: String) {
        self.machine = machine
        self.is64 = is64
        self.systemDirectories = systemDirectories
        self.libDirectory = libDirectory
        self.platformName = platformName
        self.hwcapsSubdirectories = hwcapsSubdirectories
        self.legacySubdirectories = legacySubdirectories
        self.cacheFlags = cacheFlags
        self.loaderPath = loaderPath
        self.glibcVersion = glibcVersion
        self.source = source
    }

    /// Every subdirectory tried inside one search directory, in order: glibc-hwcaps
    /// first, then the legacy ones, then the directory itself (""). This is the loader's
    /// `capstr` list (elf/dl-hwcaps.c `_dl_important_hwcaps`).
    public var searchSubdirectories: [String] {
        hwcapsSubdirectories.map { "glibc-hwcaps/\($0)/" } + legacySubdirectories + [""]
    }

    /// Parses the output of `ld.so --list-diagnostics` (glibc ≥ 2.33). The loader's own
    /// class and machine are not in the output; pass those of the loader binary.
    ///
    /// - Parameters:
    ///   - text: the loader's output, `key=value` lines.
    ///   - machine: the loader binary's `e_machine`.
    ///   - is64: true when the loader binary is ELFCLASS64.
    /// - Returns: the platform, with the cache flags of `machine`'s glibc; nil when the
    ///   output has no `path.system_dirs` or no `dl_dst_lib` (not a glibc loader's
    ///   diagnostics).
    public static func parseDiagnostics(_ text: String, machine: ELFMachine, is64: Bool) -> LoaderPlatform? {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<equals])
            var value = String(line[line.index(after: equals)...])
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        var systemDirectories: [String] = []
        for index in 0 ..< 64 {
            guard let directory = values["path.system_dirs[0x\(String(index, radix: 16))]"] else { break }
            systemDirectories.append(directory.hasSuffix("/") ? directory : directory + "/")
        }
        guard !systemDirectories.isEmpty, let libDirectory = values["dl_dst_lib"] else { return nil }

        // dl_hwcaps_subdirs lists every subdirectory this glibc knows, best first;
        // bit i of dl_hwcaps_subdirs_active says whether element i is usable on this CPU.
        var hwcaps: [String] = []
        if let list = values["dl_hwcaps_subdirs"], !list.isEmpty {
            let names = list.split(separator: ":").map(String.init)
            let active = values["dl_hwcaps_subdirs_active"].flatMap(parseNumber) ?? 0
            for (index, name) in names.enumerated() where index < 64 && active & (1 << UInt64(index)) != 0 {
                hwcaps.append(name)
            }
        }
        let platformName = values["dl_platform"].flatMap { $0.isEmpty ? nil : $0 }
        let version = values["version.version"]
        var legacy: [String] = []
        if let version, LoaderPlatform.hasLegacyHwcaps(glibcVersion: version) {
            let hwcap = values["dl_hwcap"].flatMap(parseNumber) ?? 0
            let important = values["dl_hwcap_important"].flatMap(parseNumber) ?? 0
            legacy = legacySubdirectories(machine: machine, hwcap: hwcap & important, platform: platformName)
        }
        return LoaderPlatform(
            machine: machine, is64: is64, systemDirectories: systemDirectories, libDirectory: libDirectory,
            platformName: platformName, hwcapsSubdirectories: hwcaps, legacySubdirectories: legacy,
            cacheFlags: defaultCacheFlags(machine: machine, is64: is64, elfFlags: 0),
            loaderPath: values["path.rtld"], glibcVersion: version, source: "ld.so --list-diagnostics")
    }

    /// glibc 2.37 removed the legacy hwcaps subdirectories (tls/, x86_64/, haswell/, …).
    static func hasLegacyHwcaps(glibcVersion: String) -> Bool {
        let parts = glibcVersion.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        guard parts.count >= 2 else { return false }
        return parts[0] < 2 || (parts[0] == 2 && parts[1] < 37)
    }

    /// The legacy subdirectories, built as glibc < 2.37's `_dl_important_hwcaps` does:
    /// the components are the names of the important hwcap bits that are set (in bit
    /// order), then the platform, then `tls`; the list holds every subset of them, the
    /// subset with every component first, counting down in binary with the last
    /// component (`tls`) as the most significant bit, and each entry names its
    /// components from the last to the first (`tls/x86_64/x86_64/`). The empty subset is
    /// the directory itself and is not included here.
    static func legacySubdirectories(machine: ELFMachine, hwcap: UInt64, platform: String?) -> [String] {
        var components: [String] = []
        for bit in 0 ..< 64 where hwcap & (1 << UInt64(bit)) != 0 {
            guard let name = hwcapName(machine: machine, bit: bit) else { continue }
            components.append(name)
        }
        if let platform { components.append(platform) }
        components.append("tls")
        guard components.count < 16 else { return [] }
        var result: [String] = []
        var subset = (1 << components.count) - 1
        while subset > 0 {
            var parts: [String] = []
            for index in stride(from: components.count - 1, through: 0, by: -1) where subset & (1 << index) != 0 {
                parts.append(components[index])
            }
            result.append(parts.joined(separator: "/") + "/")
            subset -= 1
        }
        return result
    }

    /// `_dl_hwcap_string` for the bits that can be "important" (HWCAP_IMPORTANT).
    static func hwcapName(machine: ELFMachine, bit: Int) -> String? {
        switch machine {
        case .x86_64, .i386:
            return ["sse2", "x86_64", "avx512_1"].indices.contains(bit) ? ["sse2", "x86_64", "avx512_1"][bit] : nil
        default:
            return nil
        }
    }

    static func parseNumber(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    /// Debian's multiarch triplet for an architecture (the `lib/<triplet>` directories).
    ///
    /// One of four per-architecture tables here (`multiarchTriplet`, `defaultCacheFlags`,
    /// `defaultLoaderPath`, `defaultPlatformName`) that share the shape of a switch over
    /// the machine on purpose: each fact has its own source (Debian's multiarch list,
    /// ldconfig's flags, glibc's `sysdeps` loader names) and its own architectures.
    ///
    /// - Parameters:
    ///   - machine: the file's `e_machine`.
    ///   - is64: true for ELFCLASS64 (for x86-64, false means x32).
    ///   - isBigEndian: true for ELFDATA2MSB.
    ///   - elfFlags: the file's `e_flags`; on Arm, `EF_ARM_ABI_FLOAT_HARD` (0x400)
    ///     selects the hard-float triplet.
    /// - Returns: the triplet (`x86_64-linux-gnu`); nil for an architecture Debian has
    ///   no multiarch name for here.
    public static func multiarchTriplet(machine: ELFMachine, is64: Bool, isBigEndian: Bool, elfFlags: UInt32) -> String? {
        switch machine {
        case .x86_64: return is64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32"
        case .i386: return "i386-linux-gnu"
        case .aarch64: return isBigEndian ? "aarch64_be-linux-gnu" : "aarch64-linux-gnu"
        case .arm: return elfFlags & 0x400 != 0 ? "arm-linux-gnueabihf" : "arm-linux-gnueabi"
        case .powerPC64: return isBigEndian ? "powerpc64-linux-gnu" : "powerpc64le-linux-gnu"
        case .powerPC: return "powerpc-linux-gnu"
        case .s390: return is64 ? "s390x-linux-gnu" : "s390-linux-gnu"
        case .riscv: return is64 ? "riscv64-linux-gnu" : "riscv32-linux-gnu"
        case .mips:
            if is64 { return isBigEndian ? "mips64-linux-gnuabi64" : "mips64el-linux-gnuabi64" }
            return isBigEndian ? "mips-linux-gnu" : "mipsel-linux-gnu"
        case .loongArch: return "loongarch64-linux-gnu"
        default: return nil
        }
    }

    /// `_DL_CACHE_DEFAULT_ID` of the loader for this architecture: libc6 (3) plus the
    /// ABI flag ldconfig gives its libraries (see `LoaderCache.Flags`).
    ///
    /// - Parameters:
    ///   - machine: the loader's `e_machine`.
    ///   - is64: true for an ELFCLASS64 loader.
    ///   - elfFlags: `e_flags`; on Arm, `EF_ARM_ABI_FLOAT_HARD` (0x400) selects hard-float.
    /// - Returns: the flags word, e.g. 0x0303 (libc6, x86-64) for a 64-bit x86 loader;
    ///   just libc6 (3) for an ABI without a flag of its own.
    public static func defaultCacheFlags(machine: ELFMachine, is64: Bool, elfFlags: UInt32) -> UInt32 {
        let libc6: UInt32 = 0x03
        switch machine {
        case .x86_64: return libc6 | (is64 ? 0x0300 : 0x0800)
        case .aarch64: return libc6 | (is64 ? 0x0a00 : 0)
        case .arm: return libc6 | (elfFlags & 0x400 != 0 ? 0x0900 : 0)
        case .powerPC64: return libc6 | 0x0500
        case .s390: return libc6 | (is64 ? 0x0400 : 0)
        case .sparcV9: return libc6 | 0x0100
        case .ia64: return libc6 | 0x0200
        case .mips: return libc6 | (is64 ? 0x0700 : 0)
        case .riscv: return libc6 | 0x1000  // lp64d / ilp32d, the common Linux ABI
        case .loongArch: return libc6 | 0x1200
        default: return libc6
        }
    }

    /// What glibc builds for this architecture use when the loader cannot be asked:
    /// Debian's multiarch directories when `hasMultiarch` (the tree has
    /// `lib/<triplet>`), else `/lib64` + `/usr/lib64` for 64-bit (Fedora, SUSE), and
    /// `/lib/` + `/usr/lib/` last in every case.
    ///
    /// No hwcaps subdirectories are included: which ones are usable depends on the CPU,
    /// which only the loader can say.
    ///
    /// - Parameters:
    ///   - machine: the file's `e_machine`.
    ///   - is64: true for ELFCLASS64.
    ///   - isBigEndian: true for ELFDATA2MSB.
    ///   - elfFlags: the file's `e_flags` (Arm's float ABI).
    ///   - hasMultiarch: the target tree has `lib/<triplet>` or `usr/lib/<triplet>`.
    ///   - hasLib64: the target tree has `/lib64`.
    /// - Returns: the platform, its ``source`` saying these are defaults.
    public static func defaults(machine: ELFMachine, is64: Bool, isBigEndian: Bool, elfFlags: UInt32,
                                hasMultiarch: Bool, hasLib64: Bool) -> LoaderPlatform {
        var directories: [String] = []
        var libDirectory = "lib"
        let triplet = multiarchTriplet(machine: machine, is64: is64, isBigEndian: isBigEndian, elfFlags: elfFlags)
        if hasMultiarch, let triplet {
            directories = ["/lib/\(triplet)/", "/usr/lib/\(triplet)/"]
            libDirectory = "lib/\(triplet)"
        } else if is64 && hasLib64 {
            directories = ["/lib64/", "/usr/lib64/"]
            libDirectory = "lib64"
        }
        directories += ["/lib/", "/usr/lib/"]
        return LoaderPlatform(
            machine: machine, is64: is64, systemDirectories: directories, libDirectory: libDirectory,
            platformName: defaultPlatformName(machine: machine, is64: is64), cacheFlags:
                defaultCacheFlags(machine: machine, is64: is64, elfFlags: elfFlags),
            loaderPath: defaultLoaderPath(machine: machine, is64: is64, isBigEndian: isBigEndian, elfFlags: elfFlags),
            source: "defaults for \(machine.commonName) (the loader could not be asked)")
    }

    /// The PT_INTERP glibc programs of this architecture carry. (A switch shaped like
    /// `multiarchTriplet`'s on purpose: see there.)
    ///
    /// - Parameters:
    ///   - machine: the file's `e_machine`.
    ///   - is64: true for ELFCLASS64 (for x86-64, false means x32).
    ///   - isBigEndian: true for ELFDATA2MSB.
    ///   - elfFlags: the file's `e_flags`; on Arm, `EF_ARM_ABI_FLOAT_HARD` (0x400)
    ///     selects `ld-linux-armhf.so.3`.
    /// - Returns: the loader path (`/lib64/ld-linux-x86-64.so.2`); nil for an
    ///   architecture not listed here.
    public static func defaultLoaderPath(machine: ELFMachine, is64: Bool, isBigEndian: Bool, elfFlags: UInt32) -> String? {
        switch machine {
        case .x86_64: return is64 ? "/lib64/ld-linux-x86-64.so.2" : "/libx32/ld-linux-x32.so.2"
        case .i386: return "/lib/ld-linux.so.2"
        case .aarch64: return isBigEndian ? "/lib/ld-linux-aarch64_be.so.1" : "/lib/ld-linux-aarch64.so.1"
        case .arm: return elfFlags & 0x400 != 0 ? "/lib/ld-linux-armhf.so.3" : "/lib/ld-linux.so.3"
        case .powerPC64: return isBigEndian ? "/lib64/ld64.so.1" : "/lib64/ld64.so.2"
        case .powerPC: return "/lib/ld.so.1"
        case .s390: return is64 ? "/lib/ld64.so.1" : "/lib/ld.so.1"
        case .riscv: return is64 ? "/lib/ld-linux-riscv64-lp64d.so.1" : "/lib/ld-linux-riscv32-ilp32d.so.1"
        case .mips: return is64 ? "/lib64/ld.so.1" : "/lib/ld.so.1"
        case .loongArch: return "/lib64/ld-linux-loongarch-lp64d.so.1"
        default: return nil
        }
    }

    static func defaultPlatformName(machine: ELFMachine, is64: Bool) -> String? {
        switch machine {
        case .x86_64: return "x86_64"
        case .i386: return "i686"
        case .aarch64: return "aarch64"
        case .arm: return "v7l"
        case .powerPC64: return "power8"
        case .s390: return "z13"
        default: return nil
        }
    }
}

/// Everything outside the program that decides how it loads: the environment variables
/// it is started with, whether the loader runs in secure mode, the file system (or a
/// `--root` tree), the loader's platform facts and its cache.
///
/// A value, handed to the resolver: nothing in the core reads the process environment.
public struct LoaderEnvironment: Sendable {
    /// The environment the program would be started with.
    public var variables: [String: String]
    /// AT_SECURE: set for setuid/setgid/file-capability programs run by another user.
    /// LD_LIBRARY_PATH is then ignored and `$ORIGIN` is restricted.
    public var secure: Bool
    package var fileSystem: LoaderFileSystem
    /// Relative paths (LD_LIBRARY_PATH entries, an empty entry, DT_NEEDED names with a
    /// slash) are relative to the directory the program is started in.
    public var currentDirectory: String
    /// The loader's compiled-in facts: system directories, `$LIB`, `$PLATFORM`, hwcaps
    /// subdirectories, cache flags.
    public var platform: LoaderPlatform
    /// The parsed `/etc/ld.so.cache` of the target (nil when absent or unreadable).
    public var cache: LoaderCache?
    /// The host path the cache was read from.
    public var cachePath: String
    /// Why the cache could not be used, for the report.
    public var cacheProblem: String?
    /// `/etc/ld.so.nohwcap` exists: only the directories themselves are searched.
    public var noHwcaps: Bool

    package init(variables: [String: String] = [:], secure: Bool = false, fileSystem: LoaderFileSystem = LoaderFileSystem(),
                currentDirectory: String, platform: LoaderPlatform, cache: LoaderCache?, cachePath: String,
                cacheProblem: String? = nil, noHwcaps: Bool = false) {
        self.variables = variables
        self.secure = secure
        self.fileSystem = fileSystem
        self.currentDirectory = currentDirectory
        self.platform = platform
        self.cache = cache
        self.cachePath = cachePath
        self.cacheProblem = cacheProblem
        self.noHwcaps = noHwcaps
    }

    /// Reads the cache at `etc/ld.so.cache` of the file system (under the root if any).
    package static func loadCache(fileSystem: LoaderFileSystem) -> (cache: LoaderCache?, path: String, problem: String?) {
        let path = fileSystem.targetPath("/etc/ld.so.cache")
        guard let access = fileSystem.accessPath(path), fileSystem.status(path) != nil else {
            return (nil, path, "\(path) does not exist")
        }
        do {
            return (try LoaderCache.load(path: access), path, nil)
        } catch {
            return (nil, path, "\(path): \(error)")
        }
    }

    /// The LD_LIBRARY_PATH the loader honours: nil in secure mode or when unset/empty.
    public var effectiveLibraryPath: String? {
        guard !secure, let value = variables["LD_LIBRARY_PATH"], !value.isEmpty else { return nil }
        return value
    }

    /// The subdirectories tried in every search directory.
    public var searchSubdirectories: [String] { noHwcaps ? [""] : platform.searchSubdirectories }
}

extension LoaderEnvironment {
    /// The environment for `file`: the machine's own loader when it would load the file,
    /// else defaults for the file's architecture (another architecture, or a `--root` tree).
    /// Under a root, a file of this machine's architecture keeps this CPU's hwcaps
    /// subdirectories and `$PLATFORM`, since the CPU decides those.
    ///
    /// - Parameter file: the program or library to be resolved.
    /// - Returns: this environment with ``platform`` replaced where needed.
    public func adapted(for file: ELFFile) -> LoaderEnvironment {
        var environment = self
        let host = platform
        let sameArchitecture = host.machine == file.header.machine && host.is64 == file.format.is64
        if sameArchitecture && fileSystem.root == nil { return environment }
        let triplet = LoaderPlatform.multiarchTriplet(machine: file.header.machine, is64: file.format.is64,
                                                      isBigEndian: file.format.isBigEndian, elfFlags: file.header.flags)
        let hasMultiarch = triplet.map {
            fileSystem.isDirectory(fileSystem.targetPath("/lib/\($0)")) || fileSystem.isDirectory(fileSystem.targetPath("/usr/lib/\($0)"))
        } ?? false
        var adapted = LoaderPlatform.defaults(
            machine: file.header.machine, is64: file.format.is64, isBigEndian: file.format.isBigEndian,
            elfFlags: file.header.flags, hasMultiarch: hasMultiarch, hasLib64: fileSystem.isDirectory(fileSystem.targetPath("/lib64")))
        if sameArchitecture {
            // The CPU decides the hwcaps subdirectories, whatever the tree.
            adapted.hwcapsSubdirectories = host.hwcapsSubdirectories
            adapted.legacySubdirectories = host.legacySubdirectories
            adapted.platformName = host.platformName
            adapted.source = "defaults for \(file.header.machine.commonName) under \(fileSystem.root ?? "/"), this CPU's hwcaps"
        }
        environment.platform = adapted
        return environment
    }
}
