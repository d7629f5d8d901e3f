/// A program header (`Elf32_Phdr`/`Elf64_Phdr`), widened to 64-bit fields.
public struct ProgramHeader: Hashable, Sendable {
    public var type: SegmentType
    public var flags: SegmentFlags
    public var offset: UInt64
    public var virtualAddress: UInt64
    public var physicalAddress: UInt64
    public var fileSize: UInt64
    public var memorySize: UInt64
    public var alignment: UInt64

    public init(type: SegmentType, flags: SegmentFlags, offset: UInt64, virtualAddress: UInt64,
                physicalAddress: UInt64, fileSize: UInt64, memorySize: UInt64, alignment: UInt64) {
        // Mirrors SectionHeader's and FileHeader's field lists on purpose: each record is its
        // own ELF structure, spelled out field by field in the order the spec gives it.
        self.type = type
        self.flags = flags
        self.offset = offset
        self.virtualAddress = virtualAddress
        self.physicalAddress = physicalAddress
        self.fileSize = fileSize
        self.memorySize = memorySize
        self.alignment = alignment
    }

    /// The 32- and 64-bit layouts differ in where `p_flags` sits.
    package static func decode(_ decoder: inout ByteDecoder) throws(ELFError) -> ProgramHeader {
        let type = SegmentType(rawValue: try decoder.readU32())
        if decoder.format.is64 {
            let flags = SegmentFlags(rawValue: try decoder.readU32())
            return ProgramHeader(type: type, flags: flags, offset: try decoder.readU64(),
                                 virtualAddress: try decoder.readU64(), physicalAddress: try decoder.readU64(),
                                 fileSize: try decoder.readU64(), memorySize: try decoder.readU64(),
                                 alignment: try decoder.readU64())
        }
        let offset = UInt64(try decoder.readU32())
        let vaddr = UInt64(try decoder.readU32())
        let paddr = UInt64(try decoder.readU32())
        let filesz = UInt64(try decoder.readU32())
        let memsz = UInt64(try decoder.readU32())
        let flags = SegmentFlags(rawValue: try decoder.readU32())
        let align = UInt64(try decoder.readU32())
        return ProgramHeader(type: type, flags: flags, offset: offset, virtualAddress: vaddr, physicalAddress: paddr,
                             fileSize: filesz, memorySize: memsz, alignment: align)
    }

    package func encode(into encoder: inout ByteEncoder) throws(ELFError) {
        encoder.writeU32(type.rawValue)
        if encoder.format.is64 { encoder.writeU32(flags.rawValue) }
        try encoder.writeWord(offset, "p_offset")
        try encoder.writeWord(virtualAddress, "p_vaddr")
        try encoder.writeWord(physicalAddress, "p_paddr")
        try encoder.writeWord(fileSize, "p_filesz")
        try encoder.writeWord(memorySize, "p_memsz")
        if !encoder.format.is64 { encoder.writeU32(flags.rawValue) }
        try encoder.writeWord(alignment, "p_align")
    }

    /// End of the file bytes, or nil when `p_offset + p_filesz` overflows.
    public var fileEnd: UInt64? {
        let (end, overflow) = offset.addingReportingOverflow(fileSize)
        return overflow ? nil : end
    }

    /// End of the memory image, or nil on overflow.
    public var memoryEnd: UInt64? {
        let (end, overflow) = virtualAddress.addingReportingOverflow(memorySize)
        return overflow ? nil : end
    }

    /// Does the file image of this segment contain `[address, address + length)`?
    public func containsInFile(address: UInt64, length: UInt64) -> Bool {
        address >= virtualAddress && Checked.fits(start: address - virtualAddress, length: length, within: fileSize)
    }

    /// Does the memory image contain `[address, address + length)`?
    public func containsInMemory(address: UInt64, length: UInt64) -> Bool {
        address >= virtualAddress && Checked.fits(start: address - virtualAddress, length: length, within: memorySize)
    }
}
