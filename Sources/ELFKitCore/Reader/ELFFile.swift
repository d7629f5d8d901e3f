/// A parsed ELF file: headers read eagerly, everything else on demand.
///
/// Everything is found through program headers and `DT_*` tags, so a file whose
/// section headers were removed reads as well as a normal one; section headers are
/// used only as an extra (names for `show`, and the layout of files without segments).
///
/// Not thread-safe: an `ELFFile` caches what it has read (the dynamic section, section
/// names) without locks, and reads through a `ByteSource` that may cache blocks. Use one
/// per thread; opening a file is cheap (only its headers are read).
public final class ELFFile {
    public let source: any ByteSource
    public let header: FileHeader
    public var format: ELFFormat { header.format }
    public let programHeaders: [ProgramHeader]
    /// Empty when the file has no section header table.
    public let sectionHeaders: [SectionHeader]
    /// File offset of each program header, for error messages and in-place patches.
    public let programHeaderTableOffset: UInt64

    private var cachedDynamic: DynamicSection??
    private var cachedSectionNames: [String?]?

    public convenience init(path: String) throws(ELFError) {
        try self.init(source: FileByteSource(path: path))
    }

    public convenience init(path: BytePath) throws(ELFError) {
        try self.init(source: FileByteSource(path: path))
    }

    public init(source: any ByteSource) throws(ELFError) {
        self.source = source
        let prefix = try source.bytes(at: 0, count: min(source.size, 64), "ELF header")
        let header = try FileHeader.decode(prefix)
        let format = header.format
        self.header = header

        // Section 0 carries the real counts when they do not fit the 16-bit fields.
        var section0: SectionHeader?
        if header.sectionHeaderOffset != 0 {
            try ELFFile.checkEntrySize(header.sectionHeaderEntrySize, expected: format.sectionHeaderSize,
                                       what: "e_shentsize", fieldOffset: format.is64 ? 0x3a : 0x2e)
            let raw = try source.bytes(at: header.sectionHeaderOffset, count: format.sectionHeaderSize, "section header 0")
            var decoder = ByteDecoder(raw, format: format, baseOffset: header.sectionHeaderOffset)
            section0 = try SectionHeader.decode(&decoder)
        }

        var phnum = UInt64(header.programHeaderCount)
        if header.programHeaderCount == FileHeader.extendedNumbering, let section0 {
            phnum = UInt64(section0.info)
        }
        if phnum > 0 {
            try ELFFile.checkEntrySize(header.programHeaderEntrySize, expected: format.programHeaderSize,
                                       what: "e_phentsize", fieldOffset: format.is64 ? 0x36 : 0x2a)
        }
        programHeaders = try ELFFile.table(phnum, of: format.programHeaderSize, at: header.programHeaderOffset,
                                           "program header table", in: source, format, ProgramHeader.decode)
        programHeaderTableOffset = header.programHeaderOffset

        var shnum: UInt64 = 0
        if let section0 {
            shnum = UInt64(header.sectionHeaderCount)
            if shnum == 0 { shnum = section0.size }
        }
        sectionHeaders = try ELFFile.table(shnum, of: format.sectionHeaderSize, at: header.sectionHeaderOffset,
                                           "section header table", in: source, format, SectionHeader.decode)
    }

    /// `count` records of `entrySize` bytes at `offset` (none when `count` is 0): the
    /// table's size is checked for overflow and against the file before it is read.
    private static func table<Record>(_ count: UInt64, of entrySize: UInt64, at offset: UInt64, _ what: String,
                                      in source: any ByteSource, _ format: ELFFormat,
                                      _ decode: (inout ByteDecoder) throws(ELFError) -> Record) throws(ELFError) -> [Record] {
        guard count > 0 else { return [] }
        let size = try Checked.multiply(count, entrySize, "\(what) size")
        let raw = try source.bytes(at: offset, count: size, what)
        var decoder = ByteDecoder(raw, format: format, baseOffset: offset)
        var records: [Record] = []
        records.reserveCapacity(Int(count))
        for _ in 0 ..< count { records.append(try decode(&decoder)) }
        return records
    }

    private static func checkEntrySize(_ actual: UInt16, expected: UInt64, what: String, fieldOffset: UInt64) throws(ELFError) {
        guard UInt64(actual) == expected else {
            throw ELFError(.invalid, "\(what) is \(actual), expected \(expected) for this ELF class",
                           offset: fieldOffset, value: UInt64(actual))
        }
    }

    // MARK: - Sections

    /// Index of the section-name string table, resolving `SHN_XINDEX`.
    public var sectionNameTableIndex: Int? {
        var index = Int(header.sectionNameTableIndex)
        if header.sectionNameTableIndex == FileHeader.extendedNumbering, let first = sectionHeaders.first {
            index = Int(first.link)
        }
        return index > 0 && index < sectionHeaders.count ? index : nil
    }

    /// Section names, or nil for every section when the name table is missing or bad.
    /// Read once: the planner and the verifier look sections up by name many times.
    public func sectionNames() -> [String?] {
        if let cachedSectionNames { return cachedSectionNames }
        let names: [String?]
        if let index = sectionNameTableIndex, let table = try? readStringTable(section: sectionHeaders[index]) {
            names = sectionHeaders.map { try? table.string(at: UInt64($0.nameOffset)) }
        } else {
            names = Array(repeating: nil, count: sectionHeaders.count)
        }
        cachedSectionNames = names
        return names
    }

    /// The first section with the given name.
    public func section(named name: String) -> (index: Int, header: SectionHeader)? {
        let names = sectionNames()
        guard let index = names.firstIndex(where: { $0 == name }) else { return nil }
        return (index, sectionHeaders[index])
    }

    package func readStringTable(section: SectionHeader) throws(ELFError) -> StringTable {
        let bytes = try source.bytes(at: section.offset, count: section.size, "string table section")
        return StringTable(bytes: bytes, fileOffset: section.offset)
    }

    // MARK: - Segments and addresses

    public var loadSegments: [ProgramHeader] { programHeaders.filter { $0.type == .load } }

    public func firstSegment(_ type: SegmentType) -> ProgramHeader? {
        programHeaders.first { $0.type == type }
    }

    /// File offset of the `length` bytes at virtual address `address`, found through the
    /// PT_LOAD whose file image contains them all.
    public func fileOffset(ofAddress address: UInt64, length: UInt64 = 1) throws(ELFError) -> UInt64 {
        try image.fileOffset(ofAddress: address, length: length)
    }

    /// Reads `length` bytes at a virtual address.
    public func bytes(atAddress address: UInt64, length: UInt64, _ what: @autoclosure () -> String) throws(ELFError) -> [UInt8] {
        try image.bytes(atAddress: address, length: length, what())
    }

    /// The byte source and its address map, without the file object itself.
    package var image: LoadedImage { LoadedImage(source: source, format: format, programHeaders: programHeaders) }

    /// The file is statically linked: no PT_INTERP and no PT_DYNAMIC (static-pie has a
    /// PT_DYNAMIC but no PT_INTERP; see `isStaticPIE`).
    public var isStatic: Bool { firstSegment(.interp) == nil && firstSegment(.dynamic) == nil }

    public var isStaticPIE: Bool {
        header.type == .sharedObject && firstSegment(.interp) == nil && firstSegment(.dynamic) != nil
            && ((try? dynamic()?.flags1.contains(.pie)) ?? false)
    }

    /// Position-independent executable: ET_DYN with an interpreter, or with DF_1_PIE.
    public var isPIE: Bool {
        guard header.type == .sharedObject else { return false }
        if firstSegment(.interp) != nil { return true }
        return (try? dynamic()?.flags1.contains(.pie)) ?? false
    }

    /// The path in PT_INTERP, up to its first NUL.
    public func interpreter() throws(ELFError) -> String? {
        guard let segment = firstSegment(.interp) else { return nil }
        let raw = try source.bytes(at: segment.offset, count: segment.fileSize, "PT_INTERP")
        let end = raw.firstIndex(of: 0) ?? raw.count
        return ByteText.string(raw[..<end])
    }

    /// Raw interpreter bytes (without the NUL), for byte-exact printing.
    public func rawInterpreter() throws(ELFError) -> [UInt8]? {
        guard let segment = firstSegment(.interp) else { return nil }
        let raw = try source.bytes(at: segment.offset, count: segment.fileSize, "PT_INTERP")
        return Array(raw[..<(raw.firstIndex(of: 0) ?? raw.count)])
    }

    /// `PT_GNU_STACK`'s execute flag: nil when there is no such header.
    public var executableStack: Bool? {
        firstSegment(.gnuStack).map { $0.flags.contains(.execute) }
    }

    // MARK: - Dynamic section

    /// The dynamic section, read once; nil for a file without one.
    public func dynamic() throws(ELFError) -> DynamicSection? {
        if let cachedDynamic { return cachedDynamic }
        let result = try DynamicSection.read(from: self)
        cachedDynamic = .some(result)
        return result
    }

    /// The dynamic section, or an error saying the file has none.
    public func requireDynamic() throws(ELFError) -> DynamicSection {
        guard let dynamic = try dynamic() else {
            throw ELFError(.missing, "no dynamic section (statically linked?)")
        }
        return dynamic
    }

    // MARK: - Notes

    /// Notes from every PT_NOTE segment (or SHT_NOTE section when there are no segments).
    public func notes() throws(ELFError) -> [ELFNote] {
        var result: [ELFNote] = []
        var ranges: [(offset: UInt64, size: UInt64, align: UInt64)] = programHeaders
            .filter { $0.type == .note }.map { ($0.offset, $0.fileSize, $0.alignment) }
        if programHeaders.isEmpty {
            ranges = sectionHeaders.filter { $0.type == .note }.map { ($0.offset, $0.size, $0.alignment) }
        }
        // Segments may overlap; parsing the same bytes once per segment header must not
        // multiply the work (and the notes kept) by the number of headers.
        var budget = WalkBudget(programHeaders.isEmpty ? "SHT_NOTE sections" : "PT_NOTE segments",
                                limit: 2 * source.size + 4096, unit: "bytes")
        for range in ranges {
            try budget.spend(range.size, at: range.offset)
            let bytes = try source.bytes(at: range.offset, count: range.size, "note segment")
            result += try ELFNote.parseAll(bytes, format: format, baseOffset: range.offset, alignment: range.align == 8 ? 8 : 4)
        }
        return result
    }
}

extension ELFNote {
    package static func parseAll(_ bytes: [UInt8], format: ELFFormat, baseOffset: UInt64, alignment: Int) throws(ELFError) -> [ELFNote] {
        var notes: [ELFNote] = []
        var position = 0
        let decoder = ByteDecoder(bytes, format: format, baseOffset: baseOffset)
        while bytes.count - position >= 12 {
            let nameSize = Int(try decoder.getInteger(at: position, as: UInt32.self))
            let descSize = Int(try decoder.getInteger(at: position + 4, as: UInt32.self))
            let type = try decoder.getInteger(at: position + 8, as: UInt32.self)
            let noteOffset = baseOffset &+ UInt64(position)  // position < bytes.count, which fits the file
            let nameStart = position + 12
            guard nameSize <= bytes.count - nameStart else {
                throw ELFError(.truncated, "note name extends past its segment", offset: noteOffset)
            }
            // The descriptor and the next note start at the next multiple of the alignment,
            // counted from the segment start (for 8-byte aligned notes such as
            // .note.gnu.property, 12 + namesz rounds to 16, not 12 + 8). Both sums are at
            // most bytes.count + alignment, far from overflowing.
            let descStart = (nameStart + nameSize + alignment - 1) / alignment * alignment
            guard descStart <= bytes.count, descSize <= bytes.count - descStart else {
                throw ELFError(.truncated, "note descriptor extends past its segment", offset: noteOffset)
            }
            let nameBytes = bytes[nameStart ..< nameStart + nameSize]
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            notes.append(ELFNote(name: name, type: type, descriptor: Array(bytes[descStart ..< descStart + descSize]),
                              fileOffset: noteOffset))
            position = min((descStart + descSize + alignment - 1) / alignment * alignment, bytes.count)
        }
        return notes
    }
}

/// The bytes of a file and how virtual addresses map onto them (through PT_LOAD).
///
/// `DynamicSection` keeps one of these rather than its `ELFFile`: the file caches its
/// dynamic section, and a reference back would be a retain cycle that leaked every
/// file (and, for a `MemoryByteSource`, its whole contents) once `dynamic()` was called.
package struct LoadedImage {
    package let source: any ByteSource
    package let format: ELFFormat
    package let programHeaders: [ProgramHeader]

    package func fileOffset(ofAddress address: UInt64, length: UInt64 = 1) throws(ELFError) -> UInt64 {
        // A segment whose p_offset + p_filesz overflows has no usable file image. Skipping
        // it guarantees callers that `result + length` cannot overflow either, since
        // address - vaddr + length <= filesz (DynamicSection.rawString relies on this).
        for segment in programHeaders where segment.type == .load && segment.fileEnd != nil {
            if segment.containsInFile(address: address, length: length) {
                return try Checked.add(segment.offset, address - segment.virtualAddress, "address 0x\(hex(address))")
            }
        }
        throw ELFError(.invalid, "address 0x\(hex(address)) (0x\(hex(length)) bytes) is not in the file image of any PT_LOAD segment",
                       value: address)
    }

    package func bytes(atAddress address: UInt64, length: UInt64, _ what: @autoclosure () -> String) throws(ELFError) -> [UInt8] {
        let offset = try fileOffset(ofAddress: address, length: max(length, 1))
        return try source.bytes(at: offset, count: length, what())
    }
}

/// See `ELFFile`: one per thread.
@available(*, unavailable, message: "an ELFFile caches without locks; open one per thread")
extension ELFFile: Sendable {}
