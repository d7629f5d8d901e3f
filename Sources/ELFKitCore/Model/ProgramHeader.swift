/// A program header (`Elf32_Phdr`/`Elf64_Phdr`), widened to 64-bit fields: one segment,
/// as the kernel and the loader see the file.
public struct ProgramHeader: Hashable, Sendable {
    /// What the segment is (`p_type`): PT_LOAD, PT_DYNAMIC, PT_INTERP, ...
    public var type: SegmentType
    /// The segment's memory permissions (`p_flags`).
    public var flags: SegmentFlags
    /// The file offset of the segment's first byte (`p_offset`).
    public var offset: UInt64
    /// The virtual address of the segment's first byte in memory (`p_vaddr`); for a
    /// position-independent file, relative to the load address.
    public var virtualAddress: UInt64
    /// The physical address (`p_paddr`), which Linux ignores; usually equal to
    /// ``virtualAddress``.
    public var physicalAddress: UInt64
    /// The number of bytes of the segment in the file (`p_filesz`).
    public var fileSize: UInt64
    /// The number of bytes of the segment in memory (`p_memsz`); beyond ``fileSize`` they
    /// are zero-filled (`.bss`).
    public var memorySize: UInt64
    /// The segment's alignment in bytes (`p_align`); 0 and 1 mean none. For PT_LOAD,
    /// ``offset`` and ``virtualAddress`` are congruent modulo it.
    public var alignment: UInt64

    /// A program header with these fields, each in the units of the field it sets.
    /// - Parameters:
    ///   - type: `p_type`.
    ///   - flags: `p_flags`.
    ///   - offset: `p_offset`, a file offset.
    ///   - virtualAddress: `p_vaddr`, a virtual address.
    ///   - physicalAddress: `p_paddr`, usually equal to `virtualAddress`.
    ///   - fileSize: `p_filesz`, in bytes.
    ///   - memorySize: `p_memsz`, in bytes, at least `fileSize` for PT_LOAD.
    ///   - alignment: `p_align`, in bytes, a power of two (or 0).
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

    /// The file offset just past the segment's file bytes (`p_offset + p_filesz`), or nil
    /// when that sum overflows (a malformed header).
    public var fileEnd: UInt64? {
        let (end, overflow) = offset.addingReportingOverflow(fileSize)
        return overflow ? nil : end
    }

    /// The virtual address just past the segment's memory image (`p_vaddr + p_memsz`), or
    /// nil when that sum overflows (a malformed header).
    public var memoryEnd: UInt64? {
        let (end, overflow) = virtualAddress.addingReportingOverflow(memorySize)
        return overflow ? nil : end
    }

    /// Whether the bytes the file holds for this segment cover the virtual addresses
    /// `[address, address + length)`, so that they can be read from the file (memory past
    /// ``fileSize`` is zero-fill, not file bytes). Cannot overflow on malformed values.
    /// - Parameters:
    ///   - address: the first virtual address.
    ///   - length: the number of bytes; 0 asks whether `address` is at most the end.
    /// - Returns: true when the whole range is inside `[p_vaddr, p_vaddr + p_filesz)`.
    public func containsInFile(address: UInt64, length: UInt64) -> Bool {
        address >= virtualAddress && Checked.fits(start: address - virtualAddress, length: length, within: fileSize)
    }

    /// Whether the segment's memory image covers the virtual addresses
    /// `[address, address + length)`, zero-filled bytes included. Cannot overflow on
    /// malformed values.
    /// - Parameters:
    ///   - address: the first virtual address.
    ///   - length: the number of bytes; 0 asks whether `address` is at most the end.
    /// - Returns: true when the whole range is inside `[p_vaddr, p_vaddr + p_memsz)`.
    public func containsInMemory(address: UInt64, length: UInt64) -> Bool {
        address >= virtualAddress && Checked.fits(start: address - virtualAddress, length: length, within: memorySize)
    }
}
