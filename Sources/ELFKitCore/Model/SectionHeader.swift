/// A section header (`Elf32_Shdr`/`Elf64_Shdr`), widened to 64-bit fields: one section,
/// as the link editor and tools such as `readelf` see the file. The loader never reads them.
public struct SectionHeader: Hashable, Sendable {
    /// The offset of the section's name in the section-name string table (`sh_name`);
    /// ``ELFFile/sectionNames()`` resolves it.
    public var nameOffset: UInt32
    /// What the section holds (`sh_type`).
    public var type: SectionType
    /// The section's attributes (`sh_flags`).
    public var flags: SectionFlags
    /// The virtual address of the section's first byte in memory (`sh_addr`), or 0 when
    /// the section is not loaded (no ``SectionFlags/alloc``).
    public var address: UInt64
    /// The file offset of the section's first byte (`sh_offset`); nominal for SHT_NOBITS.
    public var offset: UInt64
    /// The section's size in bytes (`sh_size`); a SHT_NOBITS section takes none of them
    /// in the file. In section 0, the section count when `e_shnum` is 0.
    public var size: UInt64
    /// A section index whose meaning depends on ``type`` (`sh_link`): the string table of
    /// a symbol table or of `.dynamic`, the symbol table of a hash or relocation table.
    /// In section 0, the name table index when `e_shstrndx` is `SHN_XINDEX`.
    public var link: UInt32
    /// Extra information whose meaning depends on ``type`` (`sh_info`): the index of the
    /// first global symbol of a symbol table, the number of `.gnu.version_r` entries. In
    /// section 0, the program header count when `e_phnum` is `PN_XNUM`.
    public var info: UInt32
    /// The section's alignment in bytes (`sh_addralign`); 0 and 1 mean none.
    public var alignment: UInt64
    /// The size in bytes of one entry of a table section (`sh_entsize`), 0 for sections
    /// that are not tables.
    public var entrySize: UInt64

    /// A section header with these fields, each in the units of the field it sets.
    /// - Parameters:
    ///   - nameOffset: `sh_name`, an offset in the section-name string table.
    ///   - type: `sh_type`.
    ///   - flags: `sh_flags`.
    ///   - address: `sh_addr`, a virtual address, 0 for a section not in memory.
    ///   - offset: `sh_offset`, a file offset.
    ///   - size: `sh_size`, in bytes.
    ///   - link: `sh_link`, a section index.
    ///   - info: `sh_info`.
    ///   - alignment: `sh_addralign`, in bytes.
    ///   - entrySize: `sh_entsize`, in bytes, 0 when the section is not a table.
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

    /// Whether the section occupies bytes in the file: false for SHT_NOBITS (`.bss`) and
    /// SHT_NULL, whose ``offset`` and ``size`` describe no file bytes.
    public var hasFileData: Bool { type != .nobits && type != .null }

    /// The file offset just past the section's bytes (`sh_offset + sh_size`), or nil when
    /// that sum overflows (a malformed header). Meaningless when ``hasFileData`` is false.
    public var fileEnd: UInt64? {
        let (end, overflow) = offset.addingReportingOverflow(size)
        return overflow ? nil : end
    }
}
