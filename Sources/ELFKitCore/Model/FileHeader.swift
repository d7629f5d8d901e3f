/// The ELF file header (`Elf32_Ehdr`/`Elf64_Ehdr`), widened to 64-bit fields.
///
/// The fields are the header's raw values: the counts and the name table index may be
/// escapes to section 0, which ``ELFFile`` resolves.
public struct FileHeader: Hashable, Sendable {
    /// The class and byte order (`e_ident[EI_CLASS]`, `e_ident[EI_DATA]`), which decide
    /// how every other structure of the file is decoded.
    public var format: ELFFormat
    /// The OS/ABI the object targets (`e_ident[EI_OSABI]`).
    public var osABI: OSABI
    /// The version of that ABI (`e_ident[EI_ABIVERSION]`), usually 0.
    public var abiVersion: UInt8
    /// `e_ident[EI_PAD]` (bytes 9 to 15), written back as read: the gABI reserves them as
    /// zeros, but AppImage type 2 keeps its magic `AI\x02` at bytes 8 to 10, where tools
    /// (appimaged, AppImageLauncher) look for it.
    package var identPadding: [UInt8] = [UInt8](repeating: 0, count: 7)
    /// The object file type (`e_type`): executable, shared object, relocatable, core.
    public var type: ELFFileType
    /// The architecture (`e_machine`).
    public var machine: ELFMachine
    /// The object file version (`e_version`); 1 (`EV_CURRENT`) in every file made today.
    public var version: UInt32
    /// The virtual address where the program starts (`e_entry`), or 0 when it has none
    /// (most shared libraries).
    public var entry: UInt64
    /// The file offset of the program header table (`e_phoff`), 0 when there is none.
    public var programHeaderOffset: UInt64
    /// The file offset of the section header table (`e_shoff`), 0 when there is none.
    public var sectionHeaderOffset: UInt64
    /// Processor-specific flags (`e_flags`): the ARM EABI version, the MIPS ABI, the
    /// RISC-V floating-point ABI, ...; 0 on x86.
    public var flags: UInt32
    /// The size in bytes of this header (`e_ehsize`): 52 for Elf32, 64 for Elf64.
    public var headerSize: UInt16
    /// The size in bytes of one program header (`e_phentsize`); ``ELFFile`` refuses any
    /// but 32 (Elf32) or 56 (Elf64) when there are program headers.
    public var programHeaderEntrySize: UInt16
    /// The raw number of program headers (`e_phnum`). `0xffff` (`PN_XNUM`) means the real
    /// count is section 0's `sh_info`; ``ELFFile/programHeaders`` holds them all.
    public var programHeaderCount: UInt16
    /// The size in bytes of one section header (`e_shentsize`); ``ELFFile`` refuses any
    /// but 40 (Elf32) or 64 (Elf64) when there is a section header table.
    public var sectionHeaderEntrySize: UInt16
    /// The raw number of section headers (`e_shnum`). 0 with a section header table
    /// means the real count is section 0's `sh_size`; ``ELFFile/sectionHeaders`` holds them all.
    public var sectionHeaderCount: UInt16
    /// The raw index of the section-name string table (`e_shstrndx`). `0xffff`
    /// (`SHN_XINDEX`) means the real index is section 0's `sh_link`;
    /// ``ELFFile/sectionNameTableIndex`` resolves it.
    public var sectionNameTableIndex: UInt16

    package static let magic: [UInt8] = [0x7f, 0x45, 0x4c, 0x46]
    package static let identSize = 16
    package static let extendedNumbering: UInt16 = 0xffff  // PN_XNUM and SHN_XINDEX

    /// Decodes the header from the first bytes of a file (at least 64 bytes or the
    /// whole file if shorter).
    package static func decode(_ bytes: [UInt8]) throws(ELFError) -> FileHeader {
        guard bytes.count >= identSize, Array(bytes[0 ..< 4]) == magic else {
            throw ELFError(.notELF, "not an ELF file (bad magic number)", offset: 0)
        }
        let is64: Bool
        switch bytes[4] {
        case 1: is64 = false
        case 2: is64 = true
        default: throw ELFError(.unsupported, "unknown ELF class", offset: 4, value: UInt64(bytes[4]))
        }
        let bigEndian: Bool
        switch bytes[5] {
        case 1: bigEndian = false
        case 2: bigEndian = true
        default: throw ELFError(.unsupported, "unknown ELF data encoding", offset: 5, value: UInt64(bytes[5]))
        }
        guard bytes[6] == 1 else {
            throw ELFError(.unsupported, "unknown ELF identification version", offset: 6, value: UInt64(bytes[6]))
        }
        let format = ELFFormat(is64: is64, isBigEndian: bigEndian)
        guard UInt64(bytes.count) >= format.fileHeaderSize else {
            throw ELFError(.truncated, "file is shorter than the \(format.fileHeaderSize)-byte ELF header", offset: 0,
                           value: UInt64(bytes.count))
        }
        var decoder = ByteDecoder(bytes, format: format, baseOffset: 0)
        decoder.position = identSize
        // Mirrors SectionHeader.decode and ProgramHeader's fields on purpose: each record is
        // its own ELF structure, read field by field in the order the spec gives it.
        let header = FileHeader(
            format: format, osABI: OSABI(rawValue: bytes[7]), abiVersion: bytes[8], identPadding: Array(bytes[9 ..< 16]),
            type: ELFFileType(rawValue: try decoder.readU16()),
            machine: ELFMachine(rawValue: try decoder.readU16()),
            version: try decoder.readU32(),
            entry: try decoder.readWord(),
            programHeaderOffset: try decoder.readWord(),
            sectionHeaderOffset: try decoder.readWord(),
            flags: try decoder.readU32(),
            headerSize: try decoder.readU16(),
            programHeaderEntrySize: try decoder.readU16(),
            programHeaderCount: try decoder.readU16(),
            sectionHeaderEntrySize: try decoder.readU16(),
            sectionHeaderCount: try decoder.readU16(),
            sectionNameTableIndex: try decoder.readU16())
        return header
    }

    package func encode() throws(ELFError) -> [UInt8] {
        var encoder = ByteEncoder(format: format, capacity: Int(format.fileHeaderSize))
        encoder.append(FileHeader.magic)
        encoder.writeU8(format.is64 ? 2 : 1)
        encoder.writeU8(format.isBigEndian ? 2 : 1)
        encoder.writeU8(1)
        encoder.writeU8(osABI.rawValue)
        encoder.writeU8(abiVersion)
        encoder.append(identPadding.count == 7 ? identPadding : [UInt8](repeating: 0, count: 7))
        encoder.writeU16(type.rawValue)
        encoder.writeU16(machine.rawValue)
        encoder.writeU32(version)
        try encoder.writeWord(entry, "e_entry")
        try encoder.writeWord(programHeaderOffset, "e_phoff")
        try encoder.writeWord(sectionHeaderOffset, "e_shoff")
        encoder.writeU32(flags)
        encoder.writeU16(headerSize)
        encoder.writeU16(programHeaderEntrySize)
        encoder.writeU16(programHeaderCount)
        encoder.writeU16(sectionHeaderEntrySize)
        encoder.writeU16(sectionHeaderCount)
        encoder.writeU16(sectionNameTableIndex)
        return encoder.bytes
    }
}
