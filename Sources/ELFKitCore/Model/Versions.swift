/// One `Elf_Vernaux` of `.gnu.version_r`: a version a needed library must define
/// (e.g. `GLIBC_2.34`), without which glibc's loader refuses to start the program
/// (unless the requirement is weak).
public struct VersionRequirement: Hashable, Sendable {
    /// The ELF hash of ``name`` (`vna_hash`), which the loader compares first.
    public var hash: UInt32
    /// `vna_flags`: `VER_FLG_WEAK` (`0x2`) when a missing version is only a warning.
    public var flags: UInt16
    /// The version index used in `.gnu.version` (`vna_other`); the symbols bound to
    /// this version carry it.
    public var index: UInt16
    /// The offset of ``name`` in the dynamic string table (`vna_name`).
    public var nameOffset: UInt32
    /// The version's name (`GLIBC_2.34`).
    public var name: String
}

/// One `Elf_Verneed` of `.gnu.version_r`: the versions required from one needed library.
public struct VersionNeed: Hashable, Sendable {
    /// The structure's revision (`vn_version`), 1 (`VER_NEED_CURRENT`).
    public var version: UInt16
    /// The offset of ``file`` in the dynamic string table (`vn_file`).
    public var fileOffset: UInt32
    /// The library's name as its DT_NEEDED entry gives it (`libc.so.6`).
    public var file: String
    /// The versions required from that library (the `vn_aux` chain), in file order.
    public var requirements: [VersionRequirement]
}

/// One `Elf_Verdef` of `.gnu.version_d`: a version this object defines.
public struct VersionDefinition: Hashable, Sendable {
    /// The structure's revision (`vd_version`), 1 (`VER_DEF_CURRENT`).
    public var version: UInt16
    /// `vd_flags`: `VER_FLG_BASE` (`0x1`, see ``isBase``) or `VER_FLG_WEAK` (`0x2`).
    public var flags: UInt16
    /// The version index used in `.gnu.version` (`vd_ndx`) for the symbols of this version.
    public var index: UInt16
    /// The ELF hash of the version's name (`vd_hash`).
    public var hash: UInt32
    /// The names of the `vd_aux` chain: the first is the version itself; the rest are its parents.
    public var names: [String]

    /// `VER_FLG_BASE`: the entry naming the object itself, not a real version.
    public var isBase: Bool { flags & 0x1 != 0 }
    /// The version's name (`GLIBC_2.34`), the first of ``names``; empty when the entry has no
    /// names.
    public var name: String { names.first ?? "" }
}

/// An ELF note, one entry of a `PT_NOTE` segment or `SHT_NOTE` section: a build ID, an
/// ABI tag, GNU properties, Nixpkgs' resolution cache, ...
public struct ELFNote: Hashable, Sendable {
    /// The owner (the note's name field, `"GNU"`), without its NUL; the note's ``type``
    /// means something only together with it.
    public var name: String
    /// The note's type (`n_type`), defined by its owner: for `"GNU"`, 1 is the ABI tag
    /// (`NT_GNU_ABI_TAG`) and 3 the build ID (`NT_GNU_BUILD_ID`).
    public var type: UInt32
    /// The note's descriptor bytes (`n_descsz` of them), without padding.
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
