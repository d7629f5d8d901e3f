// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// `sh_type`.
public struct SectionType: NamedConstant {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let null = SectionType(rawValue: 0)
    public static let progbits = SectionType(rawValue: 1)
    public static let symtab = SectionType(rawValue: 2)
    public static let strtab = SectionType(rawValue: 3)
    public static let rela = SectionType(rawValue: 4)
    public static let hash = SectionType(rawValue: 5)
    public static let dynamic = SectionType(rawValue: 6)
    public static let note = SectionType(rawValue: 7)
    public static let nobits = SectionType(rawValue: 8)
    public static let rel = SectionType(rawValue: 9)
    public static let dynsym = SectionType(rawValue: 11)
    public static let initArray = SectionType(rawValue: 14)
    public static let finiArray = SectionType(rawValue: 15)
    public static let gnuHash = SectionType(rawValue: 0x6fff_fff6)
    public static let gnuVerdef = SectionType(rawValue: 0x6fff_fffd)
    public static let gnuVerneed = SectionType(rawValue: 0x6fff_fffe)
    public static let gnuVersym = SectionType(rawValue: 0x6fff_ffff)

    public static let names: KeyValuePairs<UInt32, String> = [
        0: "SHT_NULL", 1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA",
        5: "SHT_HASH", 6: "SHT_DYNAMIC", 7: "SHT_NOTE", 8: "SHT_NOBITS", 9: "SHT_REL",
        11: "SHT_DYNSYM", 14: "SHT_INIT_ARRAY", 15: "SHT_FINI_ARRAY", 0x6fff_fff6: "SHT_GNU_HASH",
        0x6fff_fffd: "SHT_GNU_verdef", 0x6fff_fffe: "SHT_GNU_verneed", 0x6fff_ffff: "SHT_GNU_versym",
    ]
}

/// `sh_flags` bits that matter to layout.
public struct SectionFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public static let write = SectionFlags(rawValue: 0x1)
    public static let alloc = SectionFlags(rawValue: 0x2)
    public static let execInstr = SectionFlags(rawValue: 0x4)
    public static let tls = SectionFlags(rawValue: 0x400)
}
