// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// `d_tag`. Stored zero-extended to 64 bits; Elf32 tags are narrowed back on write.
public struct DynamicTag: NamedConstant {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let null = DynamicTag(rawValue: 0)
    public static let needed = DynamicTag(rawValue: 1)
    public static let pltRelSize = DynamicTag(rawValue: 2)
    public static let pltGOT = DynamicTag(rawValue: 3)
    public static let hash = DynamicTag(rawValue: 4)
    public static let strtab = DynamicTag(rawValue: 5)
    public static let symtab = DynamicTag(rawValue: 6)
    public static let rela = DynamicTag(rawValue: 7)
    public static let relaSize = DynamicTag(rawValue: 8)
    public static let relaEntrySize = DynamicTag(rawValue: 9)
    public static let strsz = DynamicTag(rawValue: 10)
    public static let symEntrySize = DynamicTag(rawValue: 11)
    public static let initFunction = DynamicTag(rawValue: 12)
    public static let finiFunction = DynamicTag(rawValue: 13)
    public static let soname = DynamicTag(rawValue: 14)
    public static let rpath = DynamicTag(rawValue: 15)
    public static let symbolic = DynamicTag(rawValue: 16)
    public static let rel = DynamicTag(rawValue: 17)
    public static let relSize = DynamicTag(rawValue: 18)
    public static let relEntrySize = DynamicTag(rawValue: 19)
    public static let pltRel = DynamicTag(rawValue: 20)
    public static let debug = DynamicTag(rawValue: 21)
    public static let textRel = DynamicTag(rawValue: 22)
    public static let jmpRel = DynamicTag(rawValue: 23)
    public static let bindNow = DynamicTag(rawValue: 24)
    public static let initArray = DynamicTag(rawValue: 25)
    public static let finiArray = DynamicTag(rawValue: 26)
    public static let initArraySize = DynamicTag(rawValue: 27)
    public static let finiArraySize = DynamicTag(rawValue: 28)
    public static let runpath = DynamicTag(rawValue: 29)
    public static let flags = DynamicTag(rawValue: 30)
    public static let preinitArray = DynamicTag(rawValue: 32)
    public static let preinitArraySize = DynamicTag(rawValue: 33)
    public static let symtabShndx = DynamicTag(rawValue: 34)
    public static let relrSize = DynamicTag(rawValue: 35)
    public static let relr = DynamicTag(rawValue: 36)
    public static let relrEntrySize = DynamicTag(rawValue: 37)
    public static let config = DynamicTag(rawValue: 0x6fff_fefa)
    public static let depAudit = DynamicTag(rawValue: 0x6fff_fefb)
    public static let audit = DynamicTag(rawValue: 0x6fff_fefc)
    public static let gnuHash = DynamicTag(rawValue: 0x6fff_fef5)
    public static let versym = DynamicTag(rawValue: 0x6fff_fff0)
    public static let relaCount = DynamicTag(rawValue: 0x6fff_fff9)
    public static let relCount = DynamicTag(rawValue: 0x6fff_fffa)
    public static let flags1 = DynamicTag(rawValue: 0x6fff_fffb)
    public static let verdef = DynamicTag(rawValue: 0x6fff_fffc)
    public static let verdefNum = DynamicTag(rawValue: 0x6fff_fffd)
    public static let verneed = DynamicTag(rawValue: 0x6fff_fffe)
    public static let verneedNum = DynamicTag(rawValue: 0x6fff_ffff)
    public static let mipsRldMap = DynamicTag(rawValue: 0x7000_0016)
    public static let mipsRldMapRel = DynamicTag(rawValue: 0x7000_0035)
    public static let auxiliary = DynamicTag(rawValue: 0x7fff_fffd)
    public static let filter = DynamicTag(rawValue: 0x7fff_ffff)

    public static let names: KeyValuePairs<UInt64, String> = [
        0: "DT_NULL", 1: "DT_NEEDED", 2: "DT_PLTRELSZ", 3: "DT_PLTGOT", 4: "DT_HASH", 5: "DT_STRTAB",
        6: "DT_SYMTAB", 7: "DT_RELA", 8: "DT_RELASZ", 9: "DT_RELAENT", 10: "DT_STRSZ", 11: "DT_SYMENT",
        12: "DT_INIT", 13: "DT_FINI", 14: "DT_SONAME", 15: "DT_RPATH", 16: "DT_SYMBOLIC", 17: "DT_REL",
        18: "DT_RELSZ", 19: "DT_RELENT", 20: "DT_PLTREL", 21: "DT_DEBUG", 22: "DT_TEXTREL",
        23: "DT_JMPREL", 24: "DT_BIND_NOW", 25: "DT_INIT_ARRAY", 26: "DT_FINI_ARRAY",
        27: "DT_INIT_ARRAYSZ", 28: "DT_FINI_ARRAYSZ", 29: "DT_RUNPATH", 30: "DT_FLAGS",
        32: "DT_PREINIT_ARRAY", 33: "DT_PREINIT_ARRAYSZ", 34: "DT_SYMTAB_SHNDX", 35: "DT_RELRSZ",
        36: "DT_RELR", 37: "DT_RELRENT", 0x6fff_fefa: "DT_CONFIG", 0x6fff_fefb: "DT_DEPAUDIT",
        0x6fff_fefc: "DT_AUDIT", 0x6fff_fef5: "DT_GNU_HASH", 0x6fff_fff0: "DT_VERSYM",
        0x6fff_fff9: "DT_RELACOUNT", 0x6fff_fffa: "DT_RELCOUNT", 0x6fff_fffb: "DT_FLAGS_1",
        0x6fff_fffc: "DT_VERDEF", 0x6fff_fffd: "DT_VERDEFNUM", 0x6fff_fffe: "DT_VERNEED",
        0x6fff_ffff: "DT_VERNEEDNUM", 0x7000_0016: "DT_MIPS_RLD_MAP", 0x7000_0035: "DT_MIPS_RLD_MAP_REL",
        0x7fff_fffd: "DT_AUXILIARY", 0x7fff_ffff: "DT_FILTER",
    ]

    /// Tags whose value is an offset into the dynamic string table: every one of them
    /// keeps the bytes it points at in use (glibc's elf.h and binutils agree on the list;
    /// DT_AUXILIARY and DT_FILTER sit in the processor range but mean the same on every
    /// machine).
    public var isStringOffset: Bool {
        switch self {
        case .needed, .soname, .rpath, .runpath, .auxiliary, .filter, .audit, .depAudit, .config: return true
        default: return false
        }
    }
}

/// `DT_FLAGS` bits.
public struct DynamicFlags: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let origin = DynamicFlags(rawValue: 0x1)
    public static let symbolic = DynamicFlags(rawValue: 0x2)
    public static let textRel = DynamicFlags(rawValue: 0x4)
    public static let bindNow = DynamicFlags(rawValue: 0x8)
    public static let staticTLS = DynamicFlags(rawValue: 0x10)
}

/// `DT_FLAGS_1` bits.
public struct DynamicFlags1: OptionSet, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let now = DynamicFlags1(rawValue: 0x1)
    public static let noDefaultLib = DynamicFlags1(rawValue: 0x800)
    public static let pie = DynamicFlags1(rawValue: 0x0800_0000)
}
