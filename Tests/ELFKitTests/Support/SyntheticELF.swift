@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// A small, valid, dynamically linked ELF image built with ELFKit's own record encoders,
/// in any of the four formats. Virtual addresses equal file offsets (one PT_LOAD at 0
/// covers the file), so hostile-header tests can aim at any structure by offset.
struct SyntheticELF {
    let format: ELFFormat
    var bytes: [UInt8] = []

    let interpreter = "/lib/ld-synthetic.so.1"
    let needed = ["liba.so.1", "libb.so"]
    let soname = "libself.so.1"
    let runpath = "$ORIGIN/lib:/opt/lib"
    let rpath = "/old/rpath"

    // Where things are (file offset == virtual address).
    private(set) var programHeaderOffset = 0
    private(set) var programHeaderCount = 0
    private(set) var interpOffset = 0
    private(set) var dynstrOffset = 0
    private(set) var dynstrSize = 0
    private(set) var verneedOffset = 0
    private(set) var verdefOffset = 0
    private(set) var noteOffset = 0
    private(set) var dynamicOffset = 0
    private(set) var dynamicEntries: [DynamicEntry] = []
    private(set) var sectionHeaderOffset = 0
    private(set) var stringOffsets: [String: UInt64] = [:]

    /// Index of each program header in the table.
    enum Segment: Int { case load = 0, interp, dynamic, note, gnuStack }

    init(format: ELFFormat, withRPath: Bool = true, withSections: Bool = true) {
        self.format = format
        let ehsize = Int(format.fileHeaderSize)
        let phentsize = Int(format.programHeaderSize)

        programHeaderOffset = ehsize
        programHeaderCount = 5
        var cursor = ehsize + phentsize * programHeaderCount

        interpOffset = cursor
        cursor += interpreter.utf8.count + 1
        cursor = align(cursor, 8)

        // .dynstr
        var dynstr: [UInt8] = [0]
        for name in needed + [soname, runpath, rpath, "libc.so.6", "GLIBC_2.2.5", "GLIBC_2.34", "libself.so.1.base", "VERS_1"]
        where stringOffsets[name] == nil {
            stringOffsets[name] = UInt64(dynstr.count)
            dynstr += Array(name.utf8) + [0]
        }
        dynstrOffset = cursor
        dynstrSize = dynstr.count
        cursor = align(cursor + dynstr.count, 8)

        // .gnu.version_r: one Elf_Verneed with two Elf_Vernaux (same layout in both classes).
        verneedOffset = cursor
        var verneed = ByteEncoder(format: format)
        verneed.writeU16(1); verneed.writeU16(2)
        verneed.writeU32(UInt32(stringOffsets["libc.so.6"]!)); verneed.writeU32(16); verneed.writeU32(0)
        verneed.writeU32(elfHash(Array("GLIBC_2.2.5".utf8))); verneed.writeU16(0); verneed.writeU16(2)
        verneed.writeU32(UInt32(stringOffsets["GLIBC_2.2.5"]!)); verneed.writeU32(16)
        verneed.writeU32(elfHash(Array("GLIBC_2.34".utf8))); verneed.writeU16(0); verneed.writeU16(3)
        verneed.writeU32(UInt32(stringOffsets["GLIBC_2.34"]!)); verneed.writeU32(0)
        cursor = align(cursor + verneed.bytes.count, 8)

        // .gnu.version_d: the base entry and VERS_1, each with one Elf_Verdaux.
        verdefOffset = cursor
        var verdef = ByteEncoder(format: format)
        for (index, name) in [(1, "libself.so.1.base"), (2, "VERS_1")] {
            verdef.writeU16(1); verdef.writeU16(index == 1 ? 1 : 0); verdef.writeU16(UInt16(index)); verdef.writeU16(1)
            verdef.writeU32(elfHash(Array(name.utf8))); verdef.writeU32(20); verdef.writeU32(index == 1 ? 28 : 0)
            verdef.writeU32(UInt32(stringOffsets[name]!)); verdef.writeU32(0)
        }
        cursor = align(cursor + verdef.bytes.count, 8)

        // One GNU build-id note.
        noteOffset = cursor
        var note = ByteEncoder(format: format)
        note.writeU32(4); note.writeU32(16); note.writeU32(3)
        note.append(Array("GNU\0".utf8)); note.append(Array(0 ..< 16))
        cursor = align(cursor + note.bytes.count, 8)

        // .dynamic
        dynamicOffset = cursor
        var entries: [DynamicEntry] = needed.map { DynamicEntry(tag: .needed, value: stringOffsets[$0]!) }
        entries.append(DynamicEntry(tag: .soname, value: stringOffsets[soname]!))
        entries.append(DynamicEntry(tag: .runpath, value: stringOffsets[runpath]!))
        if withRPath { entries.append(DynamicEntry(tag: .rpath, value: stringOffsets[rpath]!)) }
        entries += [
            DynamicEntry(tag: .strtab, value: UInt64(dynstrOffset)),
            DynamicEntry(tag: .strsz, value: UInt64(dynstrSize)),
            DynamicEntry(tag: .verneed, value: UInt64(verneedOffset)),
            DynamicEntry(tag: .verneedNum, value: 1),
            DynamicEntry(tag: .verdef, value: UInt64(verdefOffset)),
            DynamicEntry(tag: .verdefNum, value: 2),
        ]
        dynamicEntries = entries
        var dynamic = ByteEncoder(format: format)
        for entry in entries + [DynamicEntry(tag: .null, value: 0), DynamicEntry(tag: .null, value: 0)] {
            try! entry.encode(into: &dynamic)
        }
        let dynamicSize = dynamic.bytes.count
        cursor += dynamicSize

        // .shstrtab and the section header table.
        let shstrtab: [UInt8] = Array("\0.dynstr\0.dynamic\0.shstrtab\0".utf8)
        let shstrtabOffset = cursor
        cursor = align(cursor + shstrtab.count, 8)
        sectionHeaderOffset = withSections ? cursor : 0
        var sections = ByteEncoder(format: format)
        if withSections {
            let headers = [
                SectionHeader(nameOffset: 0, type: .null, flags: [], address: 0, offset: 0, size: 0, link: 0, info: 0,
                              alignment: 0, entrySize: 0),
                SectionHeader(nameOffset: 1, type: .strtab, flags: .alloc, address: UInt64(dynstrOffset),
                              offset: UInt64(dynstrOffset), size: UInt64(dynstrSize), link: 0, info: 0, alignment: 1, entrySize: 0),
                SectionHeader(nameOffset: 9, type: .dynamic, flags: [.alloc, .write], address: UInt64(dynamicOffset),
                              offset: UInt64(dynamicOffset), size: UInt64(dynamicSize), link: 1, info: 0,
                              alignment: format.wordSize, entrySize: format.dynamicEntrySize),
                SectionHeader(nameOffset: 18, type: .strtab, flags: [], address: 0, offset: UInt64(shstrtabOffset),
                              size: UInt64(shstrtab.count), link: 0, info: 0, alignment: 1, entrySize: 0),
            ]
            for header in headers { try! header.encode(into: &sections) }
            cursor += sections.bytes.count
        }
        let fileSize = cursor

        let phdrs = [
            ProgramHeader(type: .load, flags: [.read, .write], offset: 0, virtualAddress: 0, physicalAddress: 0,
                          fileSize: UInt64(fileSize), memorySize: UInt64(fileSize), alignment: 0x1000),
            ProgramHeader(type: .interp, flags: .read, offset: UInt64(interpOffset), virtualAddress: UInt64(interpOffset),
                          physicalAddress: UInt64(interpOffset), fileSize: UInt64(interpreter.utf8.count + 1),
                          memorySize: UInt64(interpreter.utf8.count + 1), alignment: 1),
            ProgramHeader(type: .dynamic, flags: [.read, .write], offset: UInt64(dynamicOffset),
                          virtualAddress: UInt64(dynamicOffset), physicalAddress: UInt64(dynamicOffset),
                          fileSize: UInt64(dynamicSize), memorySize: UInt64(dynamicSize), alignment: format.wordSize),
            ProgramHeader(type: .note, flags: .read, offset: UInt64(noteOffset), virtualAddress: UInt64(noteOffset),
                          physicalAddress: UInt64(noteOffset), fileSize: UInt64(note.bytes.count),
                          memorySize: UInt64(note.bytes.count), alignment: 4),
            ProgramHeader(type: .gnuStack, flags: [.read, .write], offset: 0, virtualAddress: 0, physicalAddress: 0,
                          fileSize: 0, memorySize: 0, alignment: 16),
        ]
        var phdrEncoder = ByteEncoder(format: format)
        for phdr in phdrs { try! phdr.encode(into: &phdrEncoder) }

        let header = FileHeader(
            format: format, osABI: .systemV, abiVersion: 0, type: .sharedObject, machine: .x86_64, version: 1, entry: 0,
            programHeaderOffset: UInt64(programHeaderOffset), sectionHeaderOffset: UInt64(sectionHeaderOffset), flags: 0,
            headerSize: UInt16(ehsize), programHeaderEntrySize: UInt16(phentsize),
            programHeaderCount: UInt16(programHeaderCount),
            sectionHeaderEntrySize: withSections ? UInt16(format.sectionHeaderSize) : 0,
            sectionHeaderCount: withSections ? 4 : 0, sectionNameTableIndex: withSections ? 3 : 0)

        bytes = [UInt8](repeating: 0, count: fileSize)
        place(try! header.encode(), at: 0)
        place(phdrEncoder.bytes, at: programHeaderOffset)
        place(Array(interpreter.utf8), at: interpOffset)
        place(dynstr, at: dynstrOffset)
        place(verneed.bytes, at: verneedOffset)
        place(verdef.bytes, at: verdefOffset)
        place(note.bytes, at: noteOffset)
        place(dynamic.bytes, at: dynamicOffset)
        place(shstrtab, at: shstrtabOffset)
        if withSections { place(sections.bytes, at: sectionHeaderOffset) }
    }

    private func align(_ value: Int, _ alignment: Int) -> Int { (value + alignment - 1) / alignment * alignment }

    mutating func place(_ data: [UInt8], at offset: Int) {
        bytes.replaceSubrange(offset ..< offset + data.count, with: data)
    }

    // MARK: Patching fields in the file's byte order

    mutating func set<T: FixedWidthInteger & UnsignedInteger>(_ value: T, at offset: Int) {
        var encoder = ByteEncoder(format: format)
        encoder.write(value)
        place(encoder.bytes, at: offset)
    }

    /// A class-sized field (4 or 8 bytes).
    mutating func setWord(_ value: UInt64, at offset: Int) {
        if format.is64 { set(value, at: offset) } else { set(UInt32(truncatingIfNeeded: value), at: offset) }
    }

    // File header fields.
    var phoffField: Int { format.is64 ? 0x20 : 0x1c }
    var shoffField: Int { format.is64 ? 0x28 : 0x20 }
    var phentsizeField: Int { format.is64 ? 0x36 : 0x2a }
    var phnumField: Int { format.is64 ? 0x38 : 0x2c }
    var shentsizeField: Int { format.is64 ? 0x3a : 0x2e }
    var shnumField: Int { format.is64 ? 0x3c : 0x30 }
    var shstrndxField: Int { format.is64 ? 0x3e : 0x32 }

    /// Offset of a field of program header `segment`.
    enum PhdrField { case type, flags, offset, vaddr, filesz, memsz }
    func offset(of field: PhdrField, in segment: Segment) -> Int {
        let base = programHeaderOffset + segment.rawValue * Int(format.programHeaderSize)
        switch (field, format.is64) {
        case (.type, _): return base
        case (.flags, true): return base + 4
        case (.flags, false): return base + 24
        case (.offset, true): return base + 8
        case (.offset, false): return base + 4
        case (.vaddr, true): return base + 16
        case (.vaddr, false): return base + 8
        case (.filesz, true): return base + 32
        case (.filesz, false): return base + 16
        case (.memsz, true): return base + 40
        case (.memsz, false): return base + 20
        }
    }

    /// Offset of the value of the dynamic entry with `tag` (the first one).
    func dynamicValueOffset(_ tag: DynamicTag) -> Int {
        let index = dynamicEntries.firstIndex { $0.tag == tag }!
        return dynamicOffset + index * Int(format.dynamicEntrySize) + Int(format.wordSize)
    }

    func parse() throws(ELFError) -> ELFFile { try ELFFile(source: MemoryByteSource(bytes)) }
}
