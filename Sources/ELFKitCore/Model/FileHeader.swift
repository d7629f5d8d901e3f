/// The ELF file header (`Elf32_Ehdr`/`Elf64_Ehdr`), widened to 64-bit fields.
public struct FileHeader: Hashable, Sendable {
    public var format: ELFFormat
    public var osABI: OSABI
    public var abiVersion: UInt8
    public var type: ELFFileType
    public var machine: ELFMachine
    public var version: UInt32
    public var entry: UInt64
    public var programHeaderOffset: UInt64
    public var sectionHeaderOffset: UInt64
    public var flags: UInt32
    public var headerSize: UInt16
    public var programHeaderEntrySize: UInt16
    /// Raw `e_phnum`; may be `PN_XNUM` (see `ELFFile.programHeaderCount`).
    public var programHeaderCount: UInt16
    public var sectionHeaderEntrySize: UInt16
    /// Raw `e_shnum`; may be 0 with the real count in section 0.
    public var sectionHeaderCount: UInt16
    /// Raw `e_shstrndx`; may be `SHN_XINDEX`.
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
            format: format, osABI: OSABI(rawValue: bytes[7]), abiVersion: bytes[8],
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
        encoder.append([UInt8](repeating: 0, count: 7))
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
