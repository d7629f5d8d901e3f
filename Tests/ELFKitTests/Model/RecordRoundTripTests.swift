import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// encode() then decode() gives the same value, in all four formats, with field
/// values chosen so that a swapped or misplaced field shows.
@Suite struct RecordRoundTripTests {
    /// Largest value every field of the format can hold, minus a distinct low pattern.
    func word(_ format: ELFFormat, _ pattern: UInt64) -> UInt64 { format.is64 ? 0x8070_6050_0000_0000 | pattern : pattern }

    /// `record` encoded in `format` is `size` bytes, and decodes from them to itself,
    /// every byte read.
    func roundTrip<Record: Equatable>(_ record: Record, _ format: ELFFormat, size: UInt64,
                                      encode: (Record, inout ByteEncoder) throws -> Void,
                                      decode: (inout ByteDecoder) throws -> Record,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        var encoder = ByteEncoder(format: format)
        try encode(record, &encoder)
        #expect(UInt64(encoder.bytes.count) == size, sourceLocation: sourceLocation)
        var decoder = ByteDecoder(encoder.bytes, format: format, baseOffset: 0)
        #expect(try decode(&decoder) == record, sourceLocation: sourceLocation)
        #expect(decoder.position == encoder.bytes.count, sourceLocation: sourceLocation)
    }

    @Test(arguments: allFormats)
    func fileHeader(format: ELFFormat) throws {
        let header = FileHeader(
            format: format, osABI: .linux, abiVersion: 7, type: .sharedObject, machine: .aarch64, version: 1,
            entry: word(format, 0x1111_2222), programHeaderOffset: word(format, 0x40), sectionHeaderOffset: word(format, 0x3333_4444),
            flags: 0x7000_1007, headerSize: UInt16(format.fileHeaderSize),
            programHeaderEntrySize: UInt16(format.programHeaderSize), programHeaderCount: 0xffff,
            sectionHeaderEntrySize: UInt16(format.sectionHeaderSize), sectionHeaderCount: 0x1234, sectionNameTableIndex: 0xfff0)
        let bytes = try header.encode()
        #expect(UInt64(bytes.count) == format.fileHeaderSize)
        #expect(try FileHeader.decode(bytes) == header)
        // Decoding from a longer prefix (the reader passes 64 bytes) gives the same value.
        #expect(try FileHeader.decode(bytes + [UInt8](repeating: 0xee, count: 12)) == header)
    }

    @Test(arguments: allFormats)
    func programHeader(format: ELFFormat) throws {
        let phdr = ProgramHeader(type: .gnuStack, flags: [.read, .write, .execute], offset: word(format, 0x1),
                                 virtualAddress: word(format, 0x22), physicalAddress: word(format, 0x333),
                                 fileSize: word(format, 0x4444), memorySize: word(format, 0x55555),
                                 alignment: word(format, 0x66_6666))
        try roundTrip(phdr, format, size: format.programHeaderSize, encode: { try $0.encode(into: &$1) }, decode: ProgramHeader.decode)
    }

    @Test(arguments: allFormats)
    func sectionHeader(format: ELFFormat) throws {
        let shdr = SectionHeader(nameOffset: 0x1234_5678, type: .gnuVerneed, flags: [.alloc, .write, .tls],
                                 address: word(format, 0xa), offset: word(format, 0xbb), size: word(format, 0xccc),
                                 link: 0x0102_0304, info: 0x0506_0708, alignment: word(format, 0x10),
                                 entrySize: word(format, 0x18))
        try roundTrip(shdr, format, size: format.sectionHeaderSize, encode: { try $0.encode(into: &$1) }, decode: SectionHeader.decode)
    }

    @Test(arguments: allFormats)
    func dynamicEntry(format: ELFFormat) throws {
        let entries = [
            DynamicEntry(tag: .needed, value: 1), DynamicEntry(tag: .verneedNum, value: word(format, 0xfffe)),
            DynamicEntry(tag: .mipsRldMapRel, value: format.maximumWord), DynamicEntry(tag: .null, value: 0),
        ]
        var encoder = ByteEncoder(format: format)
        for entry in entries { try entry.encode(into: &encoder) }
        #expect(UInt64(encoder.bytes.count) == format.dynamicEntrySize * UInt64(entries.count))
        var decoder = ByteDecoder(encoder.bytes, format: format, baseOffset: 0)
        for entry in entries { #expect(try DynamicEntry.decode(&decoder) == entry) }
    }

    @Test func elf32RefusesWideValues() {
        let format = ELFFormat(is64: false, isBigEndian: true)
        var encoder = ByteEncoder(format: format)
        #expect(throws: ELFError.self) { try DynamicEntry(tag: .needed, value: 1 << 32).encode(into: &encoder) }
        let phdr = ProgramHeader(type: .load, flags: [], offset: 1 << 40, virtualAddress: 0, physicalAddress: 0,
                                 fileSize: 0, memorySize: 0, alignment: 0)
        #expect(throws: ELFError.self) { try phdr.encode(into: &encoder) }
    }

    @Test func fileHeaderRejectsBadIdentification() {
        var good = SyntheticELF(format: allFormats[2]).bytes
        #expect(throws: ELFError.self) { try FileHeader.decode([]) }
        #expect((try? FileHeader.decode(Array(good[0 ..< 63]))) == nil)
        good[4] = 3
        #expect(#expect(throws: ELFError.self) { try FileHeader.decode(good) }?.kind == .unsupported)
        good[4] = 2; good[5] = 0
        #expect(#expect(throws: ELFError.self) { try FileHeader.decode(good) }?.kind == .unsupported)
        good[5] = 1; good[6] = 2
        #expect(#expect(throws: ELFError.self) { try FileHeader.decode(good) }?.kind == .unsupported)
        good[6] = 1; good[0] = 0x7e
        #expect(#expect(throws: ELFError.self) { try FileHeader.decode(good) }?.kind == .notELF)
    }
}

@Suite struct ConstantTests {
    @Test func namesAndFallbacks() {
        #expect(DynamicTag.runpath.description == "DT_RUNPATH")
        #expect(DynamicTag(rawValue: 0x6000_0001).description == "0x60000001")
        #expect(SegmentType.gnuStack.description == "PT_GNU_STACK")
        #expect(SectionType(rawValue: 0x1234).description == "0x1234")
        #expect(ELFMachine.x86_64.commonName == "x86_64")
        #expect(ELFMachine(rawValue: 9999).commonName == "machine 9999")
        #expect(OSABI.linux.name == "ELFOSABI_GNU")
        #expect(DynamicTag.needed.isStringOffset && DynamicTag.rpath.isStringOffset && !DynamicTag.strtab.isStringOffset)
    }

    @Test func stringTable() throws {
        let table = StringTable(bytes: Array("\0abc\0de".utf8), fileOffset: 0x100)
        #expect(try table.string(at: 0) == "")
        #expect(try table.string(at: 1) == "abc")
        #expect(try table.string(at: 3) == "c")
        #expect(Array(try table.rawString(at: 1)) == Array("abc".utf8))
        #expect(#expect(throws: ELFError.self) { try table.string(at: 5) }?.kind == .invalid)  // no NUL
        #expect(throws: ELFError.self) { try table.string(at: 7) }
        #expect(throws: ELFError.self) { try table.string(at: .max) }
        #expect(throws: ELFError.self) { try table.rawString(at: .max) }
    }

    @Test func hashes() {
        // Values from glibc's dl-hash.h / the GNU hash reference.
        #expect(elfHash(Array("GLIBC_2.2.5".utf8)) == 0x09691a75)
        #expect(gnuHash(Array("".utf8)) == 0x0000_1505)
        #expect(gnuHash(Array("printf".utf8)) == 0x156b_2bb8)
    }
}
