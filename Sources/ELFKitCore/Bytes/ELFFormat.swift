/// Class (32/64-bit) and byte order of a file: the one value that decides how every
/// record is encoded. This type and the record codecs are the only places that know
/// the difference between ELFCLASS32 and ELFCLASS64.
public struct ELFFormat: Hashable, Sendable, CustomStringConvertible {
    /// ELFCLASS64 (`e_ident[EI_CLASS]` = 2): 64-bit addresses, offsets and sizes. False
    /// for ELFCLASS32.
    public var is64: Bool
    /// ELFDATA2MSB (`e_ident[EI_DATA]` = 2): multi-byte fields are big-endian. False for
    /// ELFDATA2LSB, little-endian.
    public var isBigEndian: Bool

    /// A format from its two parts, as `e_ident` gives them.
    ///
    /// - Parameters:
    ///   - is64: ELFCLASS64 rather than ELFCLASS32.
    ///   - isBigEndian: ELFDATA2MSB rather than ELFDATA2LSB.
    public init(is64: Bool, isBigEndian: Bool) {
        self.is64 = is64
        self.isBigEndian = isBigEndian
    }

    /// Size of an address/offset field.
    public var wordSize: UInt64 { is64 ? 8 : 4 }
    /// Size in bytes of the ELF header, `Elf_Ehdr` (the `e_ehsize` a file should state).
    public var fileHeaderSize: UInt64 { is64 ? 64 : 52 }
    /// Size in bytes of one program header, `Elf_Phdr` (the `e_phentsize` it must state).
    public var programHeaderSize: UInt64 { is64 ? 56 : 32 }
    /// Size in bytes of one section header, `Elf_Shdr` (the `e_shentsize` it must state).
    public var sectionHeaderSize: UInt64 { is64 ? 64 : 40 }
    /// Size in bytes of one dynamic entry, `Elf_Dyn` (`d_tag` and `d_val`).
    public var dynamicEntrySize: UInt64 { is64 ? 16 : 8 }
    /// Size in bytes of one symbol, `Elf_Sym` (the usual `DT_SYMENT`).
    public var symbolSize: UInt64 { is64 ? 24 : 16 }
    /// Largest value an address or offset may take.
    public var maximumWord: UInt64 { is64 ? UInt64.max : UInt64(UInt32.max) }

    /// `ELF64 little-endian`, `ELF32 big-endian`, ...
    public var description: String { (is64 ? "ELF64" : "ELF32") + (isBigEndian ? " big-endian" : " little-endian") }
}
