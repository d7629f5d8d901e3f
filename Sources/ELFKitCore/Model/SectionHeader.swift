/// A section header (`Elf32_Shdr`/`Elf64_Shdr`), widened to 64-bit fields.
public struct SectionHeader: Hashable, Sendable {
    public var nameOffset: UInt32
    public var type: SectionType
    public var flags: SectionFlags
    public var address: UInt64
    public var offset: UInt64
    public var size: UInt64
    public var link: UInt32
    public var info: UInt32
    public var alignment: UInt64
    public var entrySize: UInt64

    public init(nameOffset: UInt32, type: SectionType, flags: SectionFlags, address: UInt64, offset: UInt64,
                size: UInt64, link: UInt32, info: UInt32, alignment: UInt64, entrySize: UInt64) {
        // Mirrors ProgramHeader's init and FileHeader.decode on purpose: each record is its
        // own ELF structure, spelled out field by field in the order the spec gives it.
        self.nameOffset = nameOffset
        self.type = type
        self.flags = flags
        self.address = address
        self.offset = offset
        self.size = size
        self.link = link
        self.info = info
        self.alignment = alignment
        self.entrySize = entrySize
    }

    package static func decode(_ decoder: inout ByteDecoder) throws(ELFError) -> SectionHeader {
        SectionHeader(
            nameOffset: try decoder.readU32(),
            type: SectionType(rawValue: try decoder.readU32()),
            flags: SectionFlags(rawValue: try decoder.readWord()),
            address: try decoder.readWord(),
            offset: try decoder.readWord(),
            size: try decoder.readWord(),
            link: try decoder.readU32(),
            info: try decoder.readU32(),
            alignment: try decoder.readWord(),
            entrySize: try decoder.readWord())
    }

    package func encode(into encoder: inout ByteEncoder) throws(ELFError) {
        encoder.writeU32(nameOffset)
        encoder.writeU32(type.rawValue)
        try encoder.writeWord(flags.rawValue, "sh_flags")
        try encoder.writeWord(address, "sh_addr")
        try encoder.writeWord(offset, "sh_offset")
        try encoder.writeWord(size, "sh_size")
        encoder.writeU32(link)
        encoder.writeU32(info)
        try encoder.writeWord(alignment, "sh_addralign")
        try encoder.writeWord(entrySize, "sh_entsize")
    }

    /// Does the section occupy bytes in the file?
    public var hasFileData: Bool { type != .nobits && type != .null }

    /// End of the section's file bytes, or nil when `sh_offset + sh_size` overflows.
    public var fileEnd: UInt64? {
        let (end, overflow) = offset.addingReportingOverflow(size)
        return overflow ? nil : end
    }
}
