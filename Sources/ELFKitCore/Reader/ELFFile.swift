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
    /// The bytes the file is read from; every other accessor reads through it, on demand.
    public let source: any ByteSource
    /// The ELF header (`Elf_Ehdr`), decoded when the file was opened.
    public let header: FileHeader
    /// Class (ELFCLASS32/64) and byte order from `e_ident`: how every record is encoded.
    public var format: ELFFormat { header.format }
    /// The program header table (`e_phoff`), in file order; empty when `e_phnum` is 0.
    /// With more than 0xfffe headers (`e_phnum` = `PN_XNUM`) the count is section 0's
    /// `sh_info`, as the gABI says.
    public let programHeaders: [ProgramHeader]
    /// The section header table (`e_shoff`), in file order, including the null section 0;
    /// empty when `e_shoff` is 0 (a stripped-down file). `e_shnum` 0 means the count is
    /// section 0's `sh_size`.
    public let sectionHeaders: [SectionHeader]
    /// File offset of the program header table (`e_phoff`): the first header is there,
    /// the others follow at `format.programHeaderSize` bytes each.
    public let programHeaderTableOffset: UInt64

    private var cachedDynamic: DynamicSection??
    private var cachedSectionNames: [String?]?

    /// Opens the regular file at `path` read-only and decodes its headers.
    ///
    /// - Parameter path: The file's path as text. A byte that is not UTF-8 is written as
    ///   the private-use character U+F7XY, as this library's `String` results carry it,
    ///   and is turned back into byte 0xXY (see ``BytePath/init(_:)``).
    /// - Throws: `ELFError` of kind `.io` when the file cannot be opened or is not a
    ///   regular file; otherwise what ``init(source:)`` throws.
    public convenience init(path: String) throws(ELFError) {
        try self.init(source: FileByteSource(path: path))
    }

    /// Opens the regular file at `path` read-only and decodes its headers. The file is
    /// read with `pread` through a small block cache, never loaded whole.
    ///
    /// - Parameter path: The file's path, byte for byte.
    /// - Throws: `ELFError` of kind `.io` when the file cannot be opened (missing,
    ///   unreadable, a directory, a FIFO); otherwise what ``init(source:)`` throws.
    public convenience init(path: BytePath) throws(ELFError) {
        try self.init(source: FileByteSource(path: path))
    }

    /// Decodes the ELF header, the program header table and the section header table of
    /// `source`; everything else (dynamic section, notes, names) is read when asked for.
    ///
    /// - Parameter source: The file's bytes, for example a ``MemoryByteSource``.
    /// - Throws: `ELFError`: `.notELF` without the `\x7fELF` magic; `.unsupported` for an
    ///   unknown class, data encoding or version; `.truncated` when the header or a header
    ///   table extends past the end of the source; `.invalid` when `e_phentsize` or
    ///   `e_shentsize` is not this class's record size; `.overflow` when a table's size
    ///   does not fit 64 bits; `.io` when reading the source fails.
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

    /// Index in `sectionHeaders` of the section-name string table (`e_shstrndx`, or
    /// section 0's `sh_link` when it is `SHN_XINDEX`); nil when it is 0 or out of range.
    public var sectionNameTableIndex: Int? {
        var index = Int(header.sectionNameTableIndex)
        if header.sectionNameTableIndex == FileHeader.extendedNumbering, let first = sectionHeaders.first {
            index = Int(first.link)
        }
        return index > 0 && index < sectionHeaders.count ? index : nil
    }

    /// Section names, or nil for every section when the name table is missing or bad.
    /// Read once: the planner and the verifier look sections up by name many times.
    ///
    /// - Returns: One name per entry of `sectionHeaders`, in order, read from
    ///   `.shstrtab` at each `sh_name`; nil for a name whose offset is outside the table
    ///   or unterminated, and nil for all when the table itself is missing or unreadable.
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

    /// The first section with the given name, looked up through `sectionNames()`.
    ///
    /// - Parameter name: The exact name, with its dot (`.dynamic`, `.go.buildinfo`).
    /// - Returns: The section's index in `sectionHeaders` and its header; nil when no
    ///   section has that name (or the file has no readable section names).
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

    /// The `PT_LOAD` program headers, in file order: what the loader maps.
    public var loadSegments: [ProgramHeader] { programHeaders.filter { $0.type == .load } }

    /// The first program header of a type, in table order (what `interpreter()` and
    /// `dynamic()` use when a file has several).
    ///
    /// - Parameter type: The segment type (`.interp`, `.dynamic`, `.gnuStack`, ...).
    /// - Returns: Its header; nil when the file has no segment of that type.
    public func firstSegment(_ type: SegmentType) -> ProgramHeader? {
        programHeaders.first { $0.type == type }
    }

    /// File offset of the `length` bytes at virtual address `address`, found through the
    /// PT_LOAD whose file image contains them all.
    ///
    /// - Parameters:
    ///   - address: A virtual address (`p_vaddr` space), as dynamic entries give them.
    ///   - length: How many bytes from `address` must be in the same segment's file image
    ///     (`p_filesz`, not `p_memsz`: zero-filled `.bss` has no file bytes).
    /// - Returns: The file offset of the byte at `address`.
    /// - Throws: `ELFError` of kind `.invalid` when no PT_LOAD's file image holds all
    ///   `length` bytes (the value is the address).
    public func fileOffset(ofAddress address: UInt64, length: UInt64 = 1) throws(ELFError) -> UInt64 {
        try image.fileOffset(ofAddress: address, length: length)
    }

    /// Reads `length` bytes at a virtual address, through the PT_LOAD that maps them.
    ///
    /// - Parameters:
    ///   - address: The virtual address of the first byte.
    ///   - length: The number of bytes; all of them must be in one segment's file image.
    ///   - what: The structure being read, for the error message (`".gnu.version"`).
    /// - Returns: The bytes, `length` of them.
    /// - Throws: `ELFError`: `.invalid` when the range is not in a PT_LOAD's file image,
    ///   `.truncated` when that file image extends past the end of the file, `.io` when
    ///   reading fails.
    public func bytes(atAddress address: UInt64, length: UInt64, _ what: @autoclosure () -> String) throws(ELFError) -> [UInt8] {
        try image.bytes(atAddress: address, length: length, what())
    }

    /// The byte source and its address map, without the file object itself.
    package var image: LoadedImage { LoadedImage(source: source, format: format, programHeaders: programHeaders) }

    /// The file is statically linked: no PT_INTERP and no PT_DYNAMIC (static-pie has a
    /// PT_DYNAMIC but no PT_INTERP; see `isStaticPIE`).
    public var isStatic: Bool { firstSegment(.interp) == nil && firstSegment(.dynamic) == nil }

    /// A static PIE (`gcc -static-pie`): `ET_DYN` with a PT_DYNAMIC whose `DT_FLAGS_1`
    /// has `DF_1_PIE`, and no PT_INTERP (it relocates itself; no loader runs). False when
    /// the dynamic section cannot be read.
    public var isStaticPIE: Bool {
        header.type == .sharedObject && firstSegment(.interp) == nil && firstSegment(.dynamic) != nil
            && ((try? dynamic()?.flags1.contains(.pie)) ?? false)
    }

    /// Position-independent executable: ET_DYN with an interpreter, or with DF_1_PIE.
    /// False for a shared library (ET_DYN with neither) and for ET_EXEC.
    public var isPIE: Bool {
        guard header.type == .sharedObject else { return false }
        if firstSegment(.interp) != nil { return true }
        return (try? dynamic()?.flags1.contains(.pie)) ?? false
    }

    /// The path in PT_INTERP, up to its first NUL: the program interpreter (dynamic
    /// loader) the kernel starts, e.g. `/lib64/ld-linux-x86-64.so.2`.
    ///
    /// - Returns: The path as text, each byte 0xXY that is not UTF-8 as U+F7XY (so
    ///   `BytePath(_:)` gives back the bytes; `rawInterpreter()` gives them as they are); nil when the file has no PT_INTERP (a library, a static or static-pie program).
    /// - Throws: `ELFError` of kind `.truncated` when the segment's bytes (`p_offset`,
    ///   `p_filesz`) extend past the end of the file.
    public func interpreter() throws(ELFError) -> String? {
        guard let segment = firstSegment(.interp) else { return nil }
        let raw = try source.bytes(at: segment.offset, count: segment.fileSize, "PT_INTERP")
        let end = raw.firstIndex(of: 0) ?? raw.count
        return ByteText.string(raw[..<end])
    }

    /// Raw interpreter bytes (without the NUL), for byte-exact printing.
    ///
    /// - Returns: The bytes of PT_INTERP up to its first NUL (all of them when there is
    ///   none); nil when the file has no PT_INTERP.
    /// - Throws: `ELFError` of kind `.truncated` when the segment extends past the end of
    ///   the file.
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
    ///
    /// It is found where the loader finds it, through PT_DYNAMIC. Without any PT_DYNAMIC,
    /// a `SHT_DYNAMIC` section that a PT_LOAD maps (or any, in a file without program
    /// headers) is used instead, as patchelf does.
    ///
    /// - Returns: The entries up to the first `DT_NULL` and the `.dynstr` they point at;
    ///   nil when there is neither PT_DYNAMIC nor such a section, and when PT_DYNAMIC has
    ///   no file bytes (`p_filesz` 0: glibc refuses such an object).
    /// - Throws: `ELFError`: `.truncated` when the section extends past the end of the
    ///   file; `.invalid` when `DT_STRTAB` (with `DT_STRSZ` bytes) is not in the file
    ///   image of a PT_LOAD.
    public func dynamic() throws(ELFError) -> DynamicSection? {
        if let cachedDynamic { return cachedDynamic }
        let result = try DynamicSection.read(from: self)
        cachedDynamic = .some(result)
        return result
    }

    /// The dynamic section, or an error saying the file has none: `dynamic()` for
    /// operations that cannot work without one.
    ///
    /// - Returns: The dynamic section.
    /// - Throws: `ELFError` of kind `.missing` when `dynamic()` is nil (a statically
    ///   linked file), or what `dynamic()` throws.
    public func requireDynamic() throws(ELFError) -> DynamicSection {
        guard let dynamic = try dynamic() else {
            throw ELFError(.missing, "no dynamic section (statically linked?)")
        }
        return dynamic
    }

    // MARK: - Notes

    /// Notes from every PT_NOTE segment (or SHT_NOTE section when there are no segments):
    /// the build ID, the ABI tag, `.note.gnu.property`, ...
    ///
    /// - Returns: The notes in file order, segment by segment, each with the file offset
    ///   of its header; the same note appears twice when two segments cover it.
    /// - Throws: `ELFError`: `.truncated` when a segment extends past the end of the
    ///   file or a note's name or descriptor extends past its segment; `.invalid` when
    ///   the segments together cover more than about twice the file (overlapping headers
    ///   meant to multiply the work).
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
            let alignment = range.align == 8 ? 8 : 4
            do {
                result += try ELFNote.parseAll(bytes, format: format, baseOffset: range.offset, alignment: alignment)
            } catch where alignment == 8 {
                // mold 1.x puts the 8-aligned .note.gnu.property and the 4-aligned build ID and
                // ABI tag into one PT_NOTE with p_align 8, so stepping by 8 lands inside the ABI
                // tag. Read such a segment with 4-byte steps, which is the same for the
                // property note (12 + "GNU\0" and its descriptor are multiples of 8); if that
                // fails too, the error is the one for the declared alignment.
                guard let notes = try? ELFNote.parseAll(bytes, format: format, baseOffset: range.offset, alignment: 4) else {
                    throw error
                }
                result += notes
            }
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
