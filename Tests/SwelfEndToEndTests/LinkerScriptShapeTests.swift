import Foundation
import XCTest

/// Shapes that linker scripts and glibc's own idioms produce, met in patchelf's test suite
/// (contiguous-note-sections, no-rpath-pie-powerpc): built here from the x86_64 test
/// programs, patched, and judged by readelf, eu-elflint, patchelf and the program itself.
final class LinkerScriptShapeTests: XCTestCase {
    // MARK: ELF64 little-endian fields (the x86_64 subjects)

    struct Image {
        var bytes: [UInt8]
        init(_ url: URL) throws { bytes = [UInt8](try Data(contentsOf: url)) }

        func u(_ offset: Int, _ width: Int) -> Int { (0 ..< width).reversed().reduce(0) { $0 << 8 | Int(bytes[offset + $1]) } }
        mutating func put(_ value: Int, at offset: Int, _ width: Int) {
            for index in 0 ..< width { bytes[offset + index] = UInt8((value >> (8 * index)) & 0xff) }
        }
        /// File offsets of the program headers of `type`.
        func programHeaders(_ type: Int) -> [Int] {
            let phoff = u(32, 8), count = u(56, 2)
            return (0 ..< count).map { phoff + $0 * 56 }.filter { u($0, 4) == type }
        }
        func write(to url: URL) throws { try Data(bytes).write(to: url) }
        static func type(of entry: [UInt8]) -> Int { entry[..<4].reversed().reduce(0) { $0 << 8 | Int($1) } }
    }

    static let ptDynamic = 2, ptNote = 4, ptLoad = 1

    /// readelf -lW's rows: type, offset, virtual address, file size, flags.
    func segments(_ url: URL) throws -> [(type: String, offset: UInt64, address: UInt64, fileSize: UInt64, flags: String)] {
        try readelf(["-l", url.path]).stdout.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 7, f[1].hasPrefix("0x"), f[0].allSatisfy({ $0.isUppercase || $0 == "_" }) else { return nil }
            func hex(_ s: Substring) -> UInt64 { UInt64(s.dropFirst(2), radix: 16) ?? .max }
            let flags = f.count >= 8 ? f[6...].dropLast().joined(separator: " ") : ""
            return (String(f[0]), hex(f[1]), hex(f[2]), hex(f[4]), flags)
        }
    }

    /// readelf -SW's offset and size of the section called `name`.
    func section(_ name: String, of url: URL) throws -> (offset: Int, size: Int)? {
        for line in try readelf(["-S", url.path]).stdout.split(separator: "\n") {
            guard let close = line.firstIndex(of: "]") else { continue }
            let f = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 5, f[0] == name, let offset = Int(f[3], radix: 16), let size = Int(f[4], radix: 16) else { continue }
            return (offset, size)
        }
        return nil
    }

    // MARK: contiguous-note-sections: an empty PT_DYNAMIC

    /// A linker script that assigns no section to PT_DYNAMIC leaves it at offset 0 with size
    /// 0; the .dynamic section is then reachable through its section header only, and the
    /// loader reads no dynamic section (glibc takes PT_DYNAMIC's p_vaddr as is). An
    /// interpreter edit must not touch .dynamic: no entry changes, so no slot is needed. A
    /// dynamic edit is refused (it would change nothing the loader reads), and the print
    /// options answer as patchelf's do.
    func testEmptyDynamicSegmentIsNotADynamicSection() throws {
        let box = try ScratchDirectory("emptydyn")
        let directory = try box.dir("x86_64")
        let source = try box.copy("x86_64/hello", into: directory, as: "source")
        var image = try Image(source)
        let header = try XCTUnwrap(image.programHeaders(Self.ptDynamic).first)
        for field in [8, 16, 24, 32, 40] { image.put(0, at: header + field, 8) }  // offset, vaddr, paddr, filesz, memsz
        let original = directory.appendingPathComponent("empty-dynamic")
        try image.write(to: original)
        chmod(original.path, 0o755)
        let dynamicSection = try XCTUnwrap(try section(".dynamic", of: original))
        let dynamicBytes = Array(image.bytes[dynamicSection.offset ..< dynamicSection.offset + dynamicSection.size])

        for (name, path) in [("shorter", "/lib/ld.so"), ("longer", "/lib64/../lib64/ld-linux-x86-64.so.2")] {
            let target = directory.appendingPathComponent(name)
            try Data(image.bytes).write(to: target)
            guard try patch(["--set-interpreter", path], target, name, checkOutput: false) else { continue }
            XCTAssertEqual(try interpreter(target), path, "[\(name)]")
            let after = try Image(target)
            let dynamic = try segments(target).filter { $0.type == "DYNAMIC" }
            XCTAssertTrue(dynamic.count == 1 && dynamic[0].offset == 0 && dynamic[0].fileSize == 0,
                          "[\(name)] PT_DYNAMIC changed: \(dynamic)")
            XCTAssertEqual(Array(after.bytes[dynamicSection.offset ..< dynamicSection.offset + dynamicSection.size]), dynamicBytes,
                           "[\(name)] .dynamic changed")
            let writable = try segments(target).filter { $0.type == "LOAD" && $0.flags.contains("W") }
            XCTAssertEqual(writable.count, 1, "[\(name)] a writable PT_LOAD was added: \(writable)")
            if name == "shorter" {
                XCTAssertEqual(after.bytes.count, image.bytes.count, "[\(name)] an in-place interpreter grew the file")
            }
        }

        // Dynamic edits: refused, file unchanged, with a message that says why.
        let refused = directory.appendingPathComponent("refused")
        try Data(image.bytes).write(to: refused)
        let r = try swelf(["--set-rpath", "/opt/x", refused.path])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("not used by the loader") && r.stderr.contains("PT_DYNAMIC is empty"), r.summary)
        XCTAssertEqual([UInt8](try bytes(refused)), image.bytes, "a refused edit changed the file")

        // The print options answer as patchelf's.
        for option in ["--print-rpath", "--print-needed", "--print-soname", "--print-interpreter"] {
            let ours = try swelf([option, original.path]), theirs = try patchelf([option, original.path])
            XCTAssertTrue(ours.status == theirs.status && ours.stdout == theirs.stdout,
                          "\(option): swelf \(ours.status) \(ours.stdout.debugDescription), patchelf \(theirs.status) \(theirs.stdout.debugDescription)")
        }
    }

    /// An edit that changes no dynamic entry leaves .dynamic where it is, even when its
    /// entries fill every slot PT_DYNAMIC gives it (no DT_NULL inside p_filesz; the loader
    /// reads on to the DT_NULL after it, so the program runs): no slot is needed, nothing
    /// moves, no segment is added.
    func testDynamicSectionWithoutSpareSlotStaysForAnInterpreterEdit() throws {
        let box = try ScratchDirectory("fulldyn")
        let subject = try Subject.named("x86_64/hello")
        let (program, lib) = try box.stage(arch: "x86_64", program: "hello")
        var image = try Image(program)
        let header = try XCTUnwrap(image.programHeaders(Self.ptDynamic).first)
        let offset = image.u(header + 8, 8)
        let used = (0...).first { image.u(offset + $0 * 16, 8) == 0 }!  // entries before DT_NULL
        image.put(used * 16, at: header + 32, 8)
        image.put(used * 16, at: header + 40, 8)
        try image.write(to: program)
        try SegmentViews.assertRuns(program, libraries: lib, like: subject, expecting: subject.expectedStdout, "before")
        let before = try segments(program)
        guard try patch(["--set-interpreter", "/lib64/../lib64/ld-linux-x86-64.so.2"], program, "full .dynamic") else { return }
        let after = try segments(program)
        XCTAssertEqual(after.first { $0.type == "DYNAMIC" }?.offset, before.first { $0.type == "DYNAMIC" }?.offset, "PT_DYNAMIC moved")
        XCTAssertEqual(after.filter { $0.type == "LOAD" && $0.flags.contains("W") }.count,
                       before.filter { $0.type == "LOAD" && $0.flags.contains("W") }.count, "a writable PT_LOAD was added")
        try SegmentViews.assertRuns(program, libraries: lib, like: subject, expecting: subject.expectedStdout, "after")
    }

    /// contiguous-note-sections also puts a 4-aligned note into an 8-aligned PT_NOTE, whose
    /// notes then do not parse at the segment's alignment. Neither the kernel nor the loader
    /// minds (the program runs); an edit must keep the segment's bytes as they are.
    func testNotesThatDoNotParseAtTheirAlignmentAreKept() throws {
        let box = try ScratchDirectory("notealign")
        let subject = try Subject.named("x86_64/hello")
        let (source, lib) = try box.stage(arch: "x86_64", program: "hello")
        var image = try Image(source)
        // The PT_NOTE of .note.gnu.build-id and .note.ABI-tag (p_align 4): say 8.
        let header = try XCTUnwrap(image.programHeaders(Self.ptNote).first { image.u($0 + 48, 8) == 4 })
        image.put(8, at: header + 48, 8)
        let noteOffset = image.u(header + 8, 8), noteSize = image.u(header + 32, 8)
        let noteBytes = Array(image.bytes[noteOffset ..< noteOffset + noteSize])
        try image.write(to: source)
        let expected = subject.expectedStdout
        try SegmentViews.assertRuns(source, libraries: lib, like: subject, expecting: expected, "before")

        for (name, arguments) in [("set-rpath", ["--set-rpath", "/" + String(repeating: "x", count: 300)]),
                                  ("set-interpreter", ["--set-interpreter", "/lib64/../lib64/ld-linux-x86-64.so.2"])] {
            let target = try box.copy("x86_64/hello", into: source.deletingLastPathComponent(), as: name)
            try image.write(to: target)
            guard try patch(arguments, target, name, checkOutput: false) else { continue }
            let after = try Image(target)
            let notes = after.programHeaders(Self.ptNote).filter { after.u($0 + 48, 8) == 8 }
                .map { Array(after.bytes[after.u($0 + 8, 8) ..< after.u($0 + 8, 8) + after.u($0 + 32, 8)]) }
            XCTAssertTrue(notes.contains(noteBytes), "[\(name)] the PT_NOTE's bytes changed")
            try SegmentViews.assertRuns(target, libraries: lib, like: subject, expecting: expected, name)
        }
    }

    // MARK: no-rpath-pie-powerpc: interpreter text after the interpreter's NUL

    /// glibc's libc.so puts a second string into `.interp` (`__invoke_dynamic_linker__`), and
    /// so do patchelf's test programs; linked into a program, PT_INTERP then holds
    /// "/lib64/ld-linux-x86-64.so.2\0" + padding + "/foo/bar\0". Nothing reads the bytes after
    /// the first NUL (the kernel opens the string up to it, ld.so uses the string at p_vaddr):
    /// a new interpreter may be written over them, and the table may grow over them once the
    /// interpreter moves. The program must run after each edit.
    func testInterpreterTextAfterTheNulIsTheInterpreters() throws {
        try requireTool("/usr/bin/gcc")
        let box = try ScratchDirectory("interptail")
        let subject = try Subject.named("x86_64/hello")
        let directory = try box.dir("x86_64")
        let c = directory.appendingPathComponent("tail.c")
        try """
        #include <stdio.h>
        const char second_interpreter[] __attribute__((section(".interp"))) = "/foo/bar";
        int main(void) { puts("interpreter tail"); return 0; }
        """.write(to: c, atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("tail")
        let build = try runTool("/usr/bin/gcc", ["-pie", "-fPIE", c.path, "-o", program.path])
        XCTAssertEqual(build.status, 0, build.summary)
        let original = try Image(program)
        let interp = try XCTUnwrap(try segments(program).first { $0.type == "INTERP" })
        let loader = try XCTUnwrap(try interpreter(program))
        let tail = Array(original.bytes[Int(interp.offset) + loader.utf8.count ..< Int(interp.offset + interp.fileSize)])
        XCTAssertTrue(tail.contains(UInt8(ascii: "/")) && tail.last == 0, "the fixture has no interpreter text after the NUL: \(tail)")
        let expected = "interpreter tail\n"
        try assertRuns(program, like: subject, expecting: expected, "before")

        // Longer than the string, not longer than PT_INTERP: in place, over "/foo/bar".
        let link = String(repeating: "l", count: loader.utf8.count + 2)
        XCTAssertLessThanOrEqual(link.utf8.count + 1, Int(interp.fileSize))
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent(link).path, withDestinationPath: loader)
        let inPlace = directory.appendingPathComponent("in-place")
        try Data(original.bytes).write(to: inPlace)
        chmod(inPlace.path, 0o755)
        if try patch(["--set-interpreter", link], inPlace, "in place") {
            XCTAssertEqual(try interpreter(inPlace), link)
            XCTAssertEqual(try fileSize(inPlace), original.bytes.count, "in place: the file grew")
            try assertRuns(inPlace, like: subject, expecting: expected, "in place")
        }

        // What patchelf's no-rpath tests do: a new interpreter and a run path at once.
        let both = directory.appendingPathComponent("both")
        try Data(original.bytes).write(to: both)
        chmod(both.path, 0o755)
        if try patch(["--set-interpreter", link, "--set-rpath", "/foo:/bar:/xxxxxxxxxxxxxxx"], both, "both") {
            XCTAssertEqual(try interpreter(both), link)
            XCTAssertEqual(try dynamicValue(both, tag: "RUNPATH"), ["/foo:/bar:/xxxxxxxxxxxxxxx"])
            XCTAssertEqual(try segments(both).filter { $0.type == "PHDR" }.count, 1)
            try assertRuns(both, like: subject, expecting: expected, "both")
        }

        // A growing edit alone: the table grows over PT_INTERP's old range once it moves.
        let grown = directory.appendingPathComponent("grown")
        try Data(original.bytes).write(to: grown)
        chmod(grown.path, 0o755)
        if try patch(["--set-rpath", "/" + String(repeating: "x", count: 300)], grown, "grown") {
            XCTAssertEqual(try interpreter(grown), loader)
            try assertRuns(grown, like: subject, expecting: expected, "grown")
        }
    }

    // MARK: phdr-corruption: no PT_DYNAMIC, no room after the program header table

    /// A library with a .dynamic section and no PT_DYNAMIC: the loader refuses it ("object
    /// file has no dynamic section"). patchelf edits .dynamic through its section header;
    /// swelf does too and adds the PT_DYNAMIC: the loader then loads the library and the
    /// program runs, which proves the added header.
    func testLibraryWithoutDynamicSegmentGetsOne() throws {
        let box = try ScratchDirectory("nodyn")
        let subject = try Subject.named("x86_64/hello")
        let (program, lib) = try box.stage(arch: "x86_64", program: "hello")
        let library = lib.appendingPathComponent("libgreet.so.1")
        var image = try Image(library)
        let phoff = image.u(32, 8), count = image.u(56, 2)
        let entries = (0 ..< count).map { Array(image.bytes[phoff + $0 * 56 ..< phoff + ($0 + 1) * 56]) }
        let kept = entries.filter { Image.type(of: $0) != Self.ptDynamic }
        XCTAssertEqual(kept.count, count - 1)
        image.bytes.replaceSubrange(phoff ..< phoff + count * 56, with: kept.joined() + [UInt8](repeating: 0, count: 56))
        image.put(kept.count, at: 56, 2)
        try image.write(to: library)
        let before = try runTool("/usr/bin/env", ["LD_LIBRARY_PATH=\(lib.path)", program.path], cwd: lib)
        XCTAssertTrue(before.status != 0 && before.stderr.contains("no dynamic section"), "the fixture loads:\n\(before.summary)")

        guard try patch(["--set-rpath", "/opt/nowhere"], library, "no PT_DYNAMIC") else { return }
        let dynamic = try segments(library).filter { $0.type == "DYNAMIC" }
        let section = try XCTUnwrap(try self.section(".dynamic", of: library))
        XCTAssertTrue(dynamic.count == 1 && dynamic[0].offset == UInt64(section.offset) && dynamic[0].fileSize == UInt64(section.size),
                      "PT_DYNAMIC: \(dynamic), .dynamic: \(section)")
        XCTAssertEqual(try dynamicValue(library, tag: "RUNPATH"), ["/opt/nowhere"])
        try SegmentViews.assertRuns(program, libraries: lib, like: subject, expecting: subject.expectedStdout, "after")
    }

    /// When nothing after the program header table can move (interp-note: a note follows
    /// the interpreter string inside PT_INTERP), the table itself moves to the new
    /// read-only segment, placed at the first PT_LOAD's distance between address and
    /// offset so that AT_PHDR is right whichever way the kernel (or qemu-user) computes it.
    /// PT_PHDR follows; the program runs and prints its note.
    func testProgramHeaderTableMovesWhenNothingAfterItCan() throws {
        let box = try ScratchDirectory("phtmove")
        // No mips64el/interp-note: GNU ld's n64 script has no .interp line to put the note after.
        forEachArch(E2E.architectures.filter { $0 != "mips64el" }) { arch in
            let ctx = "\(arch)/interp-note"
            let subject = try Subject.named("\(arch)/interp-note")
            let program = try box.copy("\(arch)/interp-note", into: try box.dir(arch))
            let before = try Image(program)
            // MIPS's linker leaves a PT_NULL: the new PT_LOAD takes it, and the table stays.
            let spareSlot = try segments(program).contains { $0.type == "NULL" }
            guard try patch(["--set-rpath", "/" + String(repeating: "x", count: 300)], program, ctx) else { return }
            let after = try Image(program)
            let is64 = after.bytes[4] == 2, little = after.bytes[5] == 1
            func field(_ image: Image, _ offset: Int, _ width: Int) -> Int {
                let raw = Array(image.bytes[offset ..< offset + width])
                return (little ? raw.reversed() : raw).reduce(0) { $0 << 8 | Int($1) }
            }
            let phoff = is64 ? field(after, 32, 8) : field(after, 28, 4)
            let oldOffset = is64 ? field(before, 32, 8) : field(before, 28, 4)
            if spareSlot {
                XCTAssertEqual(phoff, oldOffset, "[\(ctx)] the table moved though a PT_NULL was free")
            } else {
                XCTAssertNotEqual(phoff, oldOffset, "[\(ctx)] the table did not move")
            }
            let rows = try segments(program)
            let phdr = rows.first { $0.type == "PHDR" }
            XCTAssertEqual(phdr.map { Int($0.offset) }, phoff, "[\(ctx)] PT_PHDR does not follow the table")
            let loads = rows.filter { $0.type == "LOAD" }
            if let first = loads.first, let holder = loads.first(where: { $0.offset <= UInt64(phoff) && UInt64(phoff) < $0.offset + $0.fileSize }) {
                XCTAssertEqual(holder.address &- holder.offset, first.address &- first.offset, "[\(ctx)] AT_PHDR would be wrong")
            } else {
                XCTFail("[\(ctx)] the table is in no PT_LOAD")
            }
            try assertRuns(program, like: subject, ctx)

            // A second growing edit of the file whose table already moved: swelf's own
            // segment (table included) is rebuilt, not trapped on (an arithmetic overflow
            // once did), and the program still runs.
            guard try patch(["--set-rpath", "/" + String(repeating: "y", count: 600)], program, "\(ctx) second edit") else { return }
            XCTAssertTrue(try readelf(["-d", program.path]).stdout.contains(String(repeating: "y", count: 600)), "[\(ctx)] second run path")
            try assertRuns(program, like: subject, "\(ctx) second edit")
        }
    }
}
