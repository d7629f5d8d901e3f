/// Class (32/64-bit) and byte order of a file: the one value that decides how every
/// record is encoded. This type and the record codecs are the only places that know
/// the difference between ELFCLASS32 and ELFCLASS64.
public struct ELFFormat: Hashable, Sendable, CustomStringConvertible {
    public var is64: Bool
    public var isBigEndian: Bool

    public init(is64: Bool, isBigEndian: Bool) {
        self.is64 = is64
        self.isBigEndian = isBigEndian
    }

    /// Size of an address/offset field.
    public var wordSize: UInt64 { is64 ? 8 : 4 }
    public var fileHeaderSize: UInt64 { is64 ? 64 : 52 }
    public var programHeaderSize: UInt64 { is64 ? 56 : 32 }
    public var sectionHeaderSize: UInt64 { is64 ? 64 : 40 }
    public var dynamicEntrySize: UInt64 { is64 ? 16 : 8 }
    public var symbolSize: UInt64 { is64 ? 24 : 16 }
    /// Largest value an address or offset may take.
    public var maximumWord: UInt64 { is64 ? UInt64.max : UInt64(UInt32.max) }

    public var description: String { (is64 ? "ELF64" : "ELF32") + (isBigEndian ? " big-endian" : " little-endian") }
}
