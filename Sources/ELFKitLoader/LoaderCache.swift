import ELFKitCore

/// glibc's binary library cache, `/etc/ld.so.cache`, as written by `ldconfig` and read
/// by `ld.so` when a DT_NEEDED name has no slash and no DT_RPATH/LD_LIBRARY_PATH/
/// DT_RUNPATH directory provided it.
///
/// Layout (glibc `sysdeps/generic/dl-cache.h`), all integers in the cache's byte order:
///
/// - Optionally the old libc5 format first: the 11-byte magic `ld.so-1.7.0` padded to
///   12, a 32-bit count, then that many 12-byte entries `{flags, key, value}`. If a new
///   cache follows, it starts at the next multiple of 8 (the alignment of the new
///   header on 64-bit hosts; 4 on some 32-bit hosts, which ldconfig evens out by
///   duplicating the last old entry, so both alignments land on the same place).
/// - The new format: the 20-byte magic `glibc-ld.so.cache1.1`, `nlibs`, `len_strings`,
///   an 8-bit flags field whose low two bits give the byte order, 3 bytes of padding,
///   `extension_offset`, 12 unused bytes (48 bytes in all), then `nlibs` 24-byte entries
///   `{flags, key, value, osversion, hwcap (64-bit)}`, then the string table.
///   Key and value are offsets of NUL-terminated strings, counted from the start of the
///   new header (which is the start of the file unless an old-format part precedes it).
/// - glibc 2.33 and later add an extension directory at `extension_offset` (counted
///   from the start of the file): a magic number, a count and `{tag, flags, offset,
///   size}` sections. Tag 0 is the generator string (the ldconfig version), tag 1 the
///   glibc-hwcaps subdirectory names, an array of 32-bit string offsets. An entry whose
///   hwcap field has bit 62 set lives in `glibc-hwcaps/<name>/`, where `<name>` is that
///   array's element number (hwcap & 0xffffffff); bits 32…41 hold an ISA level.
///
/// Every field is untrusted: counts, offsets and string references are checked, and a
/// malformed cache is an `ELFError` naming the byte, never a trap.
public struct LoaderCache: Sendable {
    /// Which of glibc's three layouts the file used.
    public enum Format: String, Sendable {
        /// Old libc5 entries only (strings counted from the end of the entries).
        case old
        /// Old entries followed by a new-format cache, which is the one that is read.
        case compatible
        /// New format only (the glibc 2.32+ default).
        case new
    }

    /// One library in the cache, in the new format's terms.
    public struct Entry: Sendable, Hashable {
        /// The raw flags word: `type` in the low byte, the ABI in the next byte.
        public let flags: UInt32
        /// The name ld.so matches against a DT_NEEDED value (usually the soname).
        public let name: String
        /// Where the library is.
        public let path: String
        /// Minimum OS version (unused by current glibc, printed by `ldconfig -p`).
        public let osVersion: UInt32
        /// The raw hwcap field: a legacy hwcap mask, or a glibc-hwcaps reference.
        public let hwcap: UInt64
        /// The glibc-hwcaps subdirectory name (`x86-64-v3`, …) when the library lives in
        /// one; such an entry is only used if the CPU supports that level.
        public let hwcapsSubdirectory: String?
        /// File offset of the entry, for messages.
        public let offset: UInt64

        /// An entry built by hand (a test's or a tool's own cache); the defaults are
        /// those of an ordinary entry of a current cache.
        ///
        /// - Parameters:
        ///   - flags: the flags word (``Flags``: type | ABI), e.g. 0x0303 for libc6,x86-64.
        ///   - name: the name matched against DT_NEEDED.
        ///   - path: where the library is.
        ///   - osVersion: the minimum OS version; 0 for none.
        ///   - hwcap: the raw hwcap field; 0 for none.
        ///   - hwcapsSubdirectory: the glibc-hwcaps subdirectory name when `hwcap` refers to one.
        ///   - offset: the file offset of the entry; 0 when it has none.
        public init(flags: UInt32, name: String, path: String, osVersion: UInt32 = 0, hwcap: UInt64 = 0,
                    hwcapsSubdirectory: String? = nil, offset: UInt64 = 0) {
            self.flags = flags
            self.name = name
            self.path = path
            self.osVersion = osVersion
            self.hwcap = hwcap
            self.hwcapsSubdirectory = hwcapsSubdirectory
            self.offset = offset
        }

        /// The library type, `flags & 0xff` (libc6 for every current library).
        public var type: Flags { Flags(rawValue: flags & Flags.typeMask.rawValue) }
        /// The ABI the library was built for, `flags & 0xff00` (0 for an ABI with no
        /// flag of its own, such as i386).
        public var architecture: Flags { Flags(rawValue: flags & Flags.requiredMask.rawValue) }

        /// Does the hwcap field refer to a glibc-hwcaps subdirectory? Same test as
        /// glibc: bit 62 set and nothing else in the high word but the ISA level.
        public var usesHwcapsExtension: Bool { LoaderCache.isHwcapsExtension(hwcap) }

        /// The ISA level (bits 32…41) of a glibc-hwcaps entry; nil for other entries.
        public var isaLevel: UInt32? {
            usesHwcapsExtension ? UInt32(truncatingIfNeeded: hwcap >> 32) & LoaderCache.isaLevelMask : nil
        }

        /// `libc6`, `libc5`, `ELF`, `libc4` or `unknown`, as `ldconfig -p` prints it.
        public var typeName: String {
            switch type {
            case .libc4: "libc4"
            case .elf: "ELF"
            case .elfLibc5: "libc5"
            case .elfLibc6: "libc6"
            default: "unknown"
            }
        }

        /// The ABI as `ldconfig -p` prints it after the comma (`x86-64`, `AArch64`,
        /// `hard-float`, …); nil for the base ABI; the decimal value if unknown.
        public var architectureName: String? {
            switch architecture {
            case Flags(rawValue: 0): nil
            case .sparcLib64, .s390Lib64, .powerPCLib64, .mips64LibN64: "64bit"
            case .ia64Lib64: "IA-64"
            case .x8664Lib64: "x86-64"
            case .mips64LibN32: "N32"
            case .x8664LibX32: "x32"
            case .armLibHF: "hard-float"
            case .aarch64Lib64: "AArch64"
            case .armLibSF, .riscvFloatABISoft, .loongArchFloatABISoft: "soft-float"
            case .mipsLib32NaN2008: "nan2008"
            case .mips64LibN32NaN2008: "N32,nan2008"
            case .mips64LibN64NaN2008: "64bit,nan2008"
            case .riscvFloatABIDouble, .loongArchFloatABIDouble: "double-float"
            default: String(architecture.rawValue)
            }
        }

        /// `libc6,x86-64`: the type and ABI exactly as `ldconfig -p` shows them.
        package var flagsDescription: String {
            guard let architectureName else { return typeName }
            return typeName + "," + architectureName
        }
    }

    /// Cache entry flags (`FLAG_*` in glibc's `ldconfig.h`). An open set, so a struct
    /// with static members rather than an enum: the same idiom as the core's constants
    /// (`OSABI`, `DynamicTag`, ...), which is why `duplicates` pairs their openings.
    public struct Flags: RawRepresentable, Hashable, Sendable {
        /// The flags word as stored in an entry, or one of its two fields.
        public let rawValue: UInt32
        /// Any flags word, known or not.
        /// - Parameter rawValue: the value of an entry's flags field (or a part of it).
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `FLAG_TYPE_MASK`: the low byte, the library type.
        public static let typeMask = Flags(rawValue: 0x00ff)
        /// `FLAG_LIBC4`: an a.out libc4 library (type 0).
        public static let libc4 = Flags(rawValue: 0x0000)
        /// `FLAG_ELF`: an ELF library with no libc type recorded (no ABI byte either).
        public static let elf = Flags(rawValue: 0x0001)
        /// `FLAG_ELF_LIBC5`: an ELF library linked against libc5.
        public static let elfLibc5 = Flags(rawValue: 0x0002)
        /// `FLAG_ELF_LIBC6`: an ELF library linked against glibc (libc6), every current one.
        public static let elfLibc6 = Flags(rawValue: 0x0003)

        /// `FLAG_REQUIRED_MASK`: the second byte, the ABI; 0 is the base ABI (i386, 32-bit Arm soft-float, …).
        public static let requiredMask = Flags(rawValue: 0xff00)
        /// `FLAG_SPARC_LIB64`: 64-bit SPARC.
        public static let sparcLib64 = Flags(rawValue: 0x0100)
        /// `FLAG_IA64_LIB64`: IA-64 (Itanium).
        public static let ia64Lib64 = Flags(rawValue: 0x0200)
        /// `FLAG_X8664_LIB64`: x86-64, 64-bit.
        public static let x8664Lib64 = Flags(rawValue: 0x0300)
        /// `FLAG_S390_LIB64`: 64-bit s390 (s390x).
        public static let s390Lib64 = Flags(rawValue: 0x0400)
        /// `FLAG_POWERPC_LIB64`: 64-bit PowerPC (either byte order).
        public static let powerPCLib64 = Flags(rawValue: 0x0500)
        /// `FLAG_MIPS64_LIBN32`: MIPS64 with the N32 ABI.
        public static let mips64LibN32 = Flags(rawValue: 0x0600)
        /// `FLAG_MIPS64_LIBN64`: MIPS64 with the N64 ABI.
        public static let mips64LibN64 = Flags(rawValue: 0x0700)
        /// `FLAG_X8664_LIBX32`: x86-64 with the x32 ABI (ELFCLASS32).
        public static let x8664LibX32 = Flags(rawValue: 0x0800)
        /// `FLAG_ARM_LIBHF`: 32-bit Arm, hard-float ABI (armhf).
        public static let armLibHF = Flags(rawValue: 0x0900)
        /// `FLAG_AARCH64_LIB64`: AArch64, 64-bit.
        public static let aarch64Lib64 = Flags(rawValue: 0x0a00)
        /// `FLAG_ARM_LIBSF`: 32-bit Arm, explicitly soft-float.
        public static let armLibSF = Flags(rawValue: 0x0b00)
        /// `FLAG_MIPS_LIB32_NAN2008`: 32-bit MIPS (O32) with IEEE 754-2008 NaNs.
        public static let mipsLib32NaN2008 = Flags(rawValue: 0x0c00)
        /// `FLAG_MIPS64_LIBN32_NAN2008`: MIPS64 N32 with IEEE 754-2008 NaNs.
        public static let mips64LibN32NaN2008 = Flags(rawValue: 0x0d00)
        /// `FLAG_MIPS64_LIBN64_NAN2008`: MIPS64 N64 with IEEE 754-2008 NaNs.
        public static let mips64LibN64NaN2008 = Flags(rawValue: 0x0e00)
        /// `FLAG_RISCV_FLOAT_ABI_SOFT`: RISC-V, soft-float ABI (lp64 / ilp32).
        public static let riscvFloatABISoft = Flags(rawValue: 0x0f00)
        /// `FLAG_RISCV_FLOAT_ABI_DOUBLE`: RISC-V, double-float ABI (lp64d / ilp32d).
        public static let riscvFloatABIDouble = Flags(rawValue: 0x1000)
        /// `FLAG_LARCH_FLOAT_ABI_SOFT`: LoongArch, soft-float ABI.
        public static let loongArchFloatABISoft = Flags(rawValue: 0x1100)
        /// `FLAG_LARCH_FLOAT_ABI_DOUBLE`: LoongArch, double-float ABI (lp64d).
        public static let loongArchFloatABIDouble = Flags(rawValue: 0x1200)
    }

    /// Every entry, in file order (ldconfig's order, which ld.so relies on: for one
    /// name, glibc-hwcaps entries first, then by descending flags and hwcap bits).
    public let entries: [Entry]
    /// Old, compatible or new: which layout the file had.
    public let format: Format
    /// Byte order of the cache (from the header flags; host order if unset).
    public let isBigEndian: Bool
    /// The ldconfig that wrote the cache (extension tag 0), if recorded.
    public let generator: String?
    /// The glibc-hwcaps subdirectory names (extension tag 1), in index order.
    public let hwcapsSubdirectories: [String]

    /// Entries named exactly `soname` that `accepting` allows, in cache order: the
    /// candidates ld.so considers. Which one it takes is `resolve`'s business: not simply
    /// the first, because glibc-hwcaps entries are chosen by priority.
    ///
    /// ld.so finds the candidates by binary search with `_dl_cache_libcmp`, which compares
    /// runs of digits numerically, so it would also match `libfoo.so.01` for
    /// `libfoo.so.1`; ldconfig never writes such pairs for one library, and exact
    /// equality is used here.
    ///
    /// - Parameters:
    ///   - soname: the DT_NEEDED name, compared byte for byte with ``Entry/name``.
    ///   - accepting: a filter over the candidates; by default every one.
    /// - Returns: the matching entries in file order; empty when the name is not cached.
    public func lookup(_ soname: String, accepting: (Entry) -> Bool = { _ in true }) -> [Entry] {
        entries.filter { $0.name == soname && accepting($0) }
    }

    /// The entry ld.so would load for `soname`, following glibc's `search_cache`
    /// (elf/dl-cache.c) over the `lookup` candidates in cache order:
    ///
    /// - an entry is considered only if its flags are 1 (plain ELF) or `defaultFlags`
    ///   (`_DL_CACHE_DEFAULT_ID`, e.g. libc6|x86-64 = 0x0303 on x86-64);
    /// - glibc-hwcaps entries come first; one is skipped if `isaLevelSupported` refuses its
    ///   ISA level or `hwcapsPriority` gives nil for its subdirectory, and among the rest
    ///   the lowest priority number wins (x86-64-v3 before x86-64-v2 on a v3 CPU);
    /// - once a glibc-hwcaps entry has been chosen, the first ordinary entry ends the
    ///   search; an ordinary entry whose legacy hwcap bits `legacyHwcapUsable` refuses is
    ///   skipped (by default any bit but bit 63, the TLS bit, is refused, as for an ld.so
    ///   whose hardware-capability mask is empty);
    /// - an ordinary entry with exactly `defaultFlags` ends the search; otherwise the
    ///   search goes on, and in the old format a later acceptable entry replaces it.
    ///
    /// OS version and platform checks are not modelled (current ldconfig writes neither).
    ///
    /// - Parameters:
    ///   - soname: the DT_NEEDED name.
    ///   - defaultFlags: the loader's `_DL_CACHE_DEFAULT_ID` (``LoaderPlatform/cacheFlags``).
    ///   - hwcapsPriority: a glibc-hwcaps subdirectory name's rank, lower is better; nil
    ///     for a subdirectory this CPU cannot use. By default none is usable.
    ///   - isaLevelSupported: whether the CPU supports an entry's ISA level; by default yes.
    ///   - legacyHwcapUsable: whether an ordinary entry's legacy hwcap mask is usable.
    /// - Returns: the entry whose path ld.so would open; nil when no entry qualifies.
    public func resolve(_ soname: String, defaultFlags: UInt32,
                        hwcapsPriority: (String) -> Int? = { _ in nil },
                        isaLevelSupported: (UInt32) -> Bool = { _ in true },
                        legacyHwcapUsable: (UInt64) -> Bool = { $0 & ~(UInt64(1) << 63) == 0 }) -> Entry? {
        var best: Entry?
        var bestPriority = Int.max
        for entry in entries where entry.name == soname {
            guard entry.flags == 1 || entry.flags == defaultFlags else { continue }
            var named = false
            if format != .old {
                named = entry.usesHwcapsExtension
                if named, let level = entry.isaLevel, !isaLevelSupported(level) { continue }
                if !named, best != nil { break }
                if !named, !legacyHwcapUsable(entry.hwcap) { continue }
                if named {
                    guard let subdirectory = entry.hwcapsSubdirectory,
                          let priority = hwcapsPriority(subdirectory) else { continue }
                    guard best == nil || priority < bestPriority else { continue }
                    bestPriority = priority
                }
            }
            best = entry
            if !named, entry.flags == defaultFlags { break }
        }
        return best
    }

    /// Reads and parses the cache at `path`.
    /// - Parameter path: the cache file; by default this machine's.
    /// - Returns: the parsed cache.
    /// - Throws: ``ELFError`` of kind `io` when the file cannot be opened or read (or is
    ///   not a regular file), or any error of ``init(source:)``.
    public static func load(path: String = "/etc/ld.so.cache") throws(ELFError) -> LoaderCache {
        try LoaderCache(source: FileByteSource(path: path))
    }

    /// Parses a cache. The whole file is read (ld.so maps it whole too); a file larger
    /// than `maximumSize` is refused rather than read into memory.
    /// - Parameter source: the bytes of an `ld.so.cache` file.
    /// - Throws: ``ELFError``: `unsupported` when the file is larger than
    ///   ``maximumSize``; `truncated` or `invalid`, with the offending offset, for a
    ///   header, entry table, extension directory or string that is cut short or
    ///   impossible; `io` when reading fails.
    public init(source: ByteSource) throws(ELFError) {
        guard source.size <= LoaderCache.maximumSize else {
            throw ELFError(.unsupported, "ld.so.cache larger than \(LoaderCache.maximumSize) bytes", value: source.size)
        }
        let bytes = try source.bytes(at: 0, count: source.size, "ld.so.cache")
        var parser = LoaderCacheParser(bytes: bytes)
        self = try parser.parse()
    }

    init(entries: [Entry], format: Format, isBigEndian: Bool, generator: String?, hwcapsSubdirectories: [String]) {
        self.entries = entries
        self.format = format
        self.isBigEndian = isBigEndian
        self.generator = generator
        self.hwcapsSubdirectories = hwcapsSubdirectories
    }

    // MARK: Layout constants (dl-cache.h)

    /// Real caches are well under a few megabytes (about 100 bytes per library).
    public static let maximumSize: UInt64 = 64 << 20
    static let oldMagic: [UInt8] = Array("ld.so-1.7.0".utf8)
    static let newMagic: [UInt8] = Array("glibc-ld.so.cache1.1".utf8)
    static let oldHeaderSize: UInt64 = 16
    static let oldEntrySize: UInt64 = 12
    static let newHeaderSize: UInt64 = 48
    static let newEntrySize: UInt64 = 24
    static let extensionMagic: UInt32 = 0xeaa4_2174
    static let extensionHeaderSize: UInt64 = 8
    static let extensionSectionSize: UInt64 = 16
    static let extensionTagGenerator: UInt32 = 0
    static let extensionTagHwcaps: UInt32 = 1
    static let hwcapExtensionBit: UInt64 = 1 << 62
    static let isaLevelMask: UInt32 = (1 << 10) - 1

    static func isHwcapsExtension(_ hwcap: UInt64) -> Bool {
        (UInt32(truncatingIfNeeded: hwcap >> 32) & ~isaLevelMask) == UInt32(truncatingIfNeeded: hwcapExtensionBit >> 32)
    }
}
