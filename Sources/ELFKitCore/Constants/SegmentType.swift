// One idiom for every constant type here and in its sibling files: see NamedConstant.swift.
/// `p_type`.
public struct SegmentType: NamedConstant {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let null = SegmentType(rawValue: 0)
    public static let load = SegmentType(rawValue: 1)
    public static let dynamic = SegmentType(rawValue: 2)
    public static let interp = SegmentType(rawValue: 3)
    public static let note = SegmentType(rawValue: 4)
    public static let shlib = SegmentType(rawValue: 5)
    public static let phdr = SegmentType(rawValue: 6)
    public static let tls = SegmentType(rawValue: 7)
    public static let gnuEHFrame = SegmentType(rawValue: 0x6474_e550)
    public static let gnuStack = SegmentType(rawValue: 0x6474_e551)
    public static let gnuRelRO = SegmentType(rawValue: 0x6474_e552)
    public static let gnuProperty = SegmentType(rawValue: 0x6474_e553)
    public static let mipsReginfo = SegmentType(rawValue: 0x7000_0000)
    public static let mipsABIFlags = SegmentType(rawValue: 0x7000_0003)
    public static let armExidx = SegmentType(rawValue: 0x7000_0001)
    public static let riscvAttributes = SegmentType(rawValue: 0x7000_0003)

    public static let names: KeyValuePairs<UInt32, String> = [
        0: "PT_NULL", 1: "PT_LOAD", 2: "PT_DYNAMIC", 3: "PT_INTERP", 4: "PT_NOTE", 5: "PT_SHLIB",
        6: "PT_PHDR", 7: "PT_TLS", 0x6474_e550: "PT_GNU_EH_FRAME", 0x6474_e551: "PT_GNU_STACK",
        0x6474_e552: "PT_GNU_RELRO", 0x6474_e553: "PT_GNU_PROPERTY",
    ]
}

/// `p_flags` bits.
public struct SegmentFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let execute = SegmentFlags(rawValue: 1)
    public static let write = SegmentFlags(rawValue: 2)
    public static let read = SegmentFlags(rawValue: 4)
}
