import Foundation
import Testing
@testable import ELFKitCore

/// The `.note.dlopen` reader (FDO ELF dlopen metadata) on notes built by hand: what it
/// takes from a well-formed note, and that every malformed one is an `.invalid` error
/// carrying the note's offset, never a trap (deep nesting included). A real note that gcc
/// wrote is read in `AutopatchPlannerFlagTests` and run in `AutopatchTreeRunTests`.
@Suite struct DlopenNoteTests {
    static func note(_ json: String, padding: Int = 1, offset: UInt64 = 0x1234) -> ELFNote {
        ELFNote(name: "FDO", type: DlopenDependency.noteType, descriptor: Array(json.utf8) + Array(repeating: 0, count: padding),
                fileOffset: offset)
    }

    @Test func wellFormedNote() throws {
        let json = #"""
            [ {"soname": ["libz.so.1", "libz.so"], "feature": "gzip", "description": "Compress \"logs\" \u00e9",
               "priority": "required", "extra": {"nested": [1, 2.5e3, true, null]}},
              {"soname": ["libzstd.so.1"]},
              {"soname": ["liblz4.so.1"], "priority": "suggested"} ]
            """#
        let dependencies = try DlopenDependency.parse(Self.note(json, padding: 3))
        #expect(dependencies == [
            DlopenDependency(sonames: ["libz.so.1", "libz.so"], feature: "gzip", description: "Compress \"logs\" é", priority: .required),
            DlopenDependency(sonames: ["libzstd.so.1"], priority: .recommended),
            DlopenDependency(sonames: ["liblz4.so.1"], priority: .suggested),
        ])
        #expect(try DlopenDependency.parse(Self.note("[]")).isEmpty)
    }

    /// Each is refused with `.invalid` at the note's offset (0x1234); none traps.
    @Test(arguments: [
        "", "[", "{}", "[1]", "[{}]", #"[{"soname": "libz.so.1"}]"#, #"[{"soname": []}]"#, #"[{"soname": [1]}]"#,
        #"[{"soname": [""]}]"#, #"[{"soname": ["a"], "priority": "urgent"}]"#, #"[{"soname": ["a"], "priority": 1}]"#,
        #"[{"soname": ["a"]}] x"#, #"[{"soname": ["a"}]"#, #"[{"soname": ["a]"#, #"[{"soname": ["a\q"]}]"#,
        #"[{"soname": ["a\u12"]}]"#, #"[{"soname": ["a\"#, "[{\"soname\": [\"a\nb\"]}]", #"[{soname: ["a"]}]"#,
        String(repeating: "[", count: 100_000), String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        "[tru]", "[-]x",
    ])
    func malformedNoteIsAnErrorAtItsOffset(json: String) {
        #expect {
            _ = try DlopenDependency.parse(Self.note(json))
        } throws: { error in
            guard let error = error as? ELFError else { return false }
            return error.kind == .invalid && error.offset == 0x1234
        }
    }

    @Test func invalidUTF8IsAnError() {
        var note = Self.note(#"[{"soname": ["lib"]}]"#)
        note.descriptor[15] = 0xff
        #expect(throws: ELFError.self) { try DlopenDependency.parse(note) }
    }

    /// Notes laid out as in a segment (header, "FDO\0", descriptor padded to 4): the note
    /// reader finds them; a descriptor size past the segment is `.truncated`.
    @Test func notesInASegment() throws {
        func note(_ json: String, type: UInt32 = DlopenDependency.noteType) -> [UInt8] {
            var descriptor = Array(json.utf8) + [0]
            while descriptor.count % 4 != 0 { descriptor.append(0) }
            func word(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.littleEndian, Array.init) }
            return word(4) + word(UInt32(json.utf8.count + 1)) + word(type) + Array("FDO\0".utf8) + descriptor
        }
        let format = ELFFormat(is64: true, isBigEndian: false)
        let bytes = note(#"[{"soname":["liba.so.1"]}]"#) + note("[]", type: 1) + note(#"[{"soname":["libb.so.2"],"priority":"suggested"}]"#)
        let notes = try ELFNote.parseAll(bytes, format: format, baseOffset: 0x400, alignment: 4)
            .filter { $0.name == DlopenDependency.noteOwner && $0.type == DlopenDependency.noteType }
        #expect(try notes.flatMap { try DlopenDependency.parse($0) }.map(\.sonames) == [["liba.so.1"], ["libb.so.2"]])
        var truncated = note(#"[{"soname":["liba.so.1"]}]"#)
        truncated[4] = 0xff
        #expect(throws: ELFError.self) { try ELFNote.parseAll(truncated, format: format, baseOffset: 0, alignment: 4) }
    }
}
