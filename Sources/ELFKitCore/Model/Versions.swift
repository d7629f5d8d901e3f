/// One `Elf_Vernaux`: a version a needed library must define (e.g. `GLIBC_2.34`).
public struct VersionRequirement: Hashable, Sendable {
    public var hash: UInt32
    public var flags: UInt16
    /// The version index used in `.gnu.version` (`vna_other`).
    public var index: UInt16
    public var nameOffset: UInt32
    public var name: String
}

/// One `Elf_Verneed`: the versions required from one library file.
public struct VersionNeed: Hashable, Sendable {
    public var version: UInt16
    public var fileOffset: UInt32
    public var file: String
    public var requirements: [VersionRequirement]
}

/// One `Elf_Verdef`: a version this object defines.
public struct VersionDefinition: Hashable, Sendable {
    public var version: UInt16
    public var flags: UInt16
    public var index: UInt16
    public var hash: UInt32
    /// The first name is the version itself; the rest are its parents.
    public var names: [String]

    /// `VER_FLG_BASE`: the entry naming the object itself, not a real version.
    public var isBase: Bool { flags & 0x1 != 0 }
    public var name: String { names.first ?? "" }
}

/// An ELF note (`PT_NOTE` or `SHT_NOTE` entry).
public struct ELFNote: Hashable, Sendable {
    public var name: String
    public var type: UInt32
    public var descriptor: [UInt8]
    /// File offset of the note header.
    public var fileOffset: UInt64

    package init(name: String, type: UInt32, descriptor: [UInt8], fileOffset: UInt64) {
        self.name = name
        self.type = type
        self.descriptor = descriptor
        self.fileOffset = fileOffset
    }
}

/// The ELF hash function (`.hash`, `Elf_Verdef.vd_hash`, `Elf_Vernaux.vna_hash`).
package func elfHash<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
    var h: UInt32 = 0
    for byte in bytes {
        h = (h << 4) &+ UInt32(byte)
        let g = h & 0xf000_0000
        if g != 0 { h ^= g >> 24 }
        h &= ~g
    }
    return h
}

/// The GNU hash function (`.gnu.hash`): djb2 in 32 bits.
package func gnuHash<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
    var h: UInt32 = 5381
    for byte in bytes { h = h &* 33 &+ UInt32(byte) }
    return h
}
