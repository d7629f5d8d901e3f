import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

@Suite struct ByteDecoderTests {
    let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]

    @Test(arguments: allFormats)
    func endianness(format: ELFFormat) throws {
        let decoder = ByteDecoder(bytes, format: format, baseOffset: 0)
        let u16: UInt16 = try decoder.getInteger(at: 1)
        let u32: UInt32 = try decoder.getInteger(at: 0)
        let u64: UInt64 = try decoder.getInteger(at: 1)
        if format.isBigEndian {
            #expect(u16 == 0x0203)
            #expect(u32 == 0x0102_0304)
            #expect(u64 == 0x0203_0405_0607_0809)
        } else {
            #expect(u16 == 0x0302)
            #expect(u32 == 0x0403_0201)
            #expect(u64 == 0x0908_0706_0504_0302)
        }
    }

    @Test(arguments: allFormats)
    func cursorAndWordWidth(format: ELFFormat) throws {
        var decoder = ByteDecoder(bytes, format: format, baseOffset: 0x100)
        _ = try decoder.readU8()
        #expect(decoder.position == 1)
        _ = try decoder.readWord()
        #expect(decoder.position == 1 + Int(format.wordSize))
    }

    @Test(arguments: allFormats)
    func encoderDecoderRoundTrip(format: ELFFormat) throws {
        var encoder = ByteEncoder(format: format)
        encoder.writeU8(0xab)
        encoder.writeU16(0xbeef)
        encoder.writeU32(0xdead_beef)
        encoder.writeU64(0x0123_4567_89ab_cdef)
        try encoder.writeWord(0xffff_ffff, "w")
        var decoder = ByteDecoder(encoder.bytes, format: format, baseOffset: 0)
        #expect(try decoder.readU8() == 0xab)
        #expect(try decoder.readU16() == 0xbeef)
        #expect(try decoder.readU32() == 0xdead_beef)
        #expect(try decoder.readU64() == 0x0123_4567_89ab_cdef)
        #expect(try decoder.readWord() == 0xffff_ffff)
        #expect(throws: ELFError.self) { try decoder.readU8() }
    }

    @Test func shortRecordThrowsInsteadOfTrapping() {
        let decoder = ByteDecoder([1, 2, 3], format: allFormats[0], baseOffset: 0x40)
        let error = #expect(throws: ELFError.self) { try decoder.getInteger(at: 0, as: UInt32.self) }
        #expect(error?.kind == .truncated)
        #expect(error?.offset == 0x40)
        #expect(throws: ELFError.self) { try decoder.getInteger(at: -1, as: UInt8.self) }
        #expect(throws: ELFError.self) { try decoder.getInteger(at: Int.max, as: UInt8.self) }
        #expect(throws: ELFError.self) { try decoder.getInteger(at: 3, as: UInt8.self) }
        let empty = ByteDecoder([], format: allFormats[3], baseOffset: 0)
        #expect(throws: ELFError.self) { try empty.getInteger(at: 0, as: UInt64.self) }
    }

    @Test func encoderRefusesNarrowing() {
        var encoder = ByteEncoder(format: ELFFormat(is64: false, isBigEndian: false))
        let error = #expect(throws: ELFError.self) { try encoder.writeWord(0x1_0000_0000, "p_offset") }
        #expect(error?.kind == .overflow)
        #expect(error?.message.contains("p_offset") == true)
        #expect(throws: ELFError.self) { try encoder.writeU32(checked: 0x1_0000_0000, "x") }
        #expect(throws: ELFError.self) { try encoder.writeU16(checked: 0x1_0000, "x") }
        #expect(encoder.bytes.isEmpty)
    }
}

@Suite struct ByteSourceTests {
    let source = MemoryByteSource(Array(0 ..< 100))

    @Test func readsInsideTheSource() throws {
        #expect(try source.bytes(at: 0, count: 100, "all") == Array(0 ..< 100))
        #expect(try source.bytes(at: 98, count: 2, "tail") == [98, 99])
        #expect(try source.bytes(at: 100, count: 0, "empty") == [])
    }

    @Test(arguments: [
        (UInt64(0), UInt64(101)), (99, 2), (100, 1), (101, 0), (.max, 1), (1, .max), (.max, .max),
        (UInt64(Int.max), UInt64(Int.max)),
    ])
    func refusesRangesOutside(offset: UInt64, count: UInt64) {
        let error = #expect(throws: ELFError.self) { try source.bytes(at: offset, count: count, "thing") }
        #expect(error?.kind == .truncated)
        #expect(error?.message.contains("thing") == true)
    }

    @Test func rawReadsAreCheckedToo() {
        #expect(throws: ELFError.self) { try source.readBytes(at: 99, count: 2) }
        #expect(throws: ELFError.self) { try source.readBytes(at: .max, count: 1) }
    }

    @Test func fileSourceMatchesMemory() throws {
        let subject = try #require(Subject.all.first)
        let file = try FileByteSource(path: subject.url.path)
        let memory = MemoryByteSource(try subject.contents())
        #expect(file.size == memory.size)
        #expect(try file.bytes(at: 0, count: 64, "h") == memory.bytes(at: 0, count: 64, "h"))
        #expect(throws: ELFError.self) { try file.bytes(at: file.size - 1, count: 2, "x") }
    }

    @Test func fileSourceRefusesDirectoriesAndMissingFiles() {
        let directory = #expect(throws: ELFError.self) { try FileByteSource(path: Repo.testBinaries.path) }
        #expect(directory?.kind == .io)
        let missing = #expect(throws: ELFError.self) { try FileByteSource(path: "/nonexistent/swelf-test") }
        #expect(missing?.kind == .io)
    }
}
