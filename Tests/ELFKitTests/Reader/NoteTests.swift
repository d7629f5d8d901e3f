import Testing
@testable import ELFKitCore

@Suite struct NoteTests {
    /// Regression: 8-byte aligned notes (.note.gnu.property, PT_NOTE align 8) put the
    /// descriptor at align(12 + namesz, 8) = 16, not at 12 + align(namesz, 8) = 20. The
    /// reader used the latter and threw "note descriptor extends past its segment" on
    /// every x86_64 gcc output.
    @Test(arguments: allFormats)
    func eightByteAlignedNote(format: ELFFormat) throws {
        var encoder = ByteEncoder(format: format)
        encoder.writeU32(4); encoder.writeU32(16); encoder.writeU32(5)  // NT_GNU_PROPERTY_TYPE_0
        encoder.append(Array("GNU\0".utf8))
        encoder.append(Array(0x10 ..< 0x20))
        // A second note right after, still 8-aligned.
        encoder.writeU32(4); encoder.writeU32(3); encoder.writeU32(1)
        encoder.append(Array("GNU\0".utf8)); encoder.append([1, 2, 3, 0, 0, 0, 0, 0])
        let notes = try ELFNote.parseAll(encoder.bytes, format: format, baseOffset: 0x338, alignment: 8)
        #expect(notes.count == 2)
        #expect(notes[0].name == "GNU")
        #expect(notes[0].type == 5)
        #expect(notes[0].descriptor == Array(0x10 ..< 0x20))
        #expect(notes[0].fileOffset == 0x338)
        #expect(notes[1].descriptor == [1, 2, 3])
        #expect(notes[1].fileOffset == 0x338 + 32)
    }

    @Test func fourByteAlignedNotes() throws {
        var encoder = ByteEncoder(format: allFormats[0])
        encoder.writeU32(5); encoder.writeU32(2); encoder.writeU32(7)
        encoder.append(Array("Linux".utf8) + [0, 0, 0])  // 5 rounded to 8
        encoder.append([0xaa, 0xbb, 0, 0])
        encoder.writeU32(0); encoder.writeU32(0); encoder.writeU32(9)  // empty name and descriptor
        let notes = try ELFNote.parseAll(encoder.bytes, format: allFormats[0], baseOffset: 0, alignment: 4)
        #expect(notes.map(\.name) == ["Linux", ""])
        #expect(notes[0].descriptor == [0xaa, 0xbb])
        #expect(notes[1].type == 9)
    }

    @Test func hostileSizes() throws {
        for (nameSize, descSize): (UInt32, UInt32) in [(UInt32.max, 0), (0, .max), (0xffff_fff0, 0xffff_fff0), (5, 0), (4, 1), (16, 0)] {
            var encoder = ByteEncoder(format: allFormats[2])
            encoder.writeU32(nameSize); encoder.writeU32(descSize); encoder.writeU32(1)
            encoder.append(Array("GNU\0".utf8))
            #expect(throws: ELFError.self, "namesz \(nameSize) descsz \(descSize)") {
                try ELFNote.parseAll(encoder.bytes, format: allFormats[2], baseOffset: 0, alignment: 8)
            }
        }
        // Fewer than 12 bytes left: no more notes, not an error.
        #expect(try ELFNote.parseAll([1, 2, 3], format: allFormats[0], baseOffset: 0, alignment: 4).isEmpty)
    }
}
