import Foundation
import XCTest

/// Issue 7, cases 1, 4, 5 and 9: where new segments go, what they are, and which segments
/// swelf may rebuild. Every expectation is read from readelf, eu-elflint and the running
/// program, never from swelf's own plan.
final class SegmentPlacementTests: EndToEndTestCase {
    override class var requiredTools: [String] { [ELFLint.path] }

    // MARK: Case 1: marked segments

    /// A library without section headers whose last PT_LOAD is the linker's RW segment
    /// (.got, .data) at the end of the file: swelf must append its own segment, never
    /// rebuild the linker's. A second growing edit rebuilds swelf's segment (marked), so the
    /// number of PT_LOADs stays the same. The program prints the library's data both times.
    func testLinkerSegmentAtTheEndIsNeverRebuilt() throws {
        let box = try ScratchDirectory("marked")
        forEachArch { arch in
            for library in ["libcounter-noshdr.so", "libcounter.so"] {
                let ctx = "\(arch)/\(library)"
                let program = try Subject.named("\(arch)/usecounter")
                let dir = try box.dir("\(arch)-\(library)")
                let exe = try box.copy(program.path, into: dir)
                let lib = try box.copy("\(arch)/\(library)", into: dir, as: "libcounter.so")
                try SegmentViews.assertRuns(exe, libraries: dir, like: program, expecting: "counter 42\n", "\(ctx) before")
                let before = try SegmentViews.loads(lib)
                let lintBefore = try SegmentViews.elflint(lib)

                guard try patch(["--set-soname", "libcounter-with-a-much-longer-soname.so"], lib, ctx) else { continue }
                try SegmentViews.assertRuns(exe, libraries: dir, like: program, expecting: "counter 42\n", "\(ctx) after one edit")
                let after = try SegmentViews.loads(lib)
                XCTAssertEqual(Array(after.prefix(before.count)), before, "[\(ctx)] the linker's PT_LOADs changed")
                XCTAssertEqual(after.count, before.count + 1, "[\(ctx)] expected one appended PT_LOAD:\n\(after)")
                if let added = after.last, after.count > before.count {
                    XCTAssertEqual(added.flags, "R", "[\(ctx)] the appended segment holds read-only tables only")
                    XCTAssertEqual(try SegmentViews.fileBytes(lib, at: added.offset, count: 16),
                                   Array("swelf appended".utf8) + [0, 0], "[\(ctx)] the appended segment does not begin with the mark")
                }
                SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(lib), ctx)

                guard try patch(["--set-soname", "libcounter-with-an-even-much-longer-soname-than-before.so"], lib, ctx) else { continue }
                try SegmentViews.assertRuns(exe, libraries: dir, like: program, expecting: "counter 42\n", "\(ctx) after two edits")
                let again = try SegmentViews.loads(lib)
                XCTAssertEqual(again.count, after.count, "[\(ctx)] the second edit did not rebuild swelf's segment:\n\(again)")
                XCTAssertEqual(Array(again.prefix(before.count)), before, "[\(ctx)] the linker's PT_LOADs changed on the second edit")
                XCTAssertEqual(try dynamicValue(lib, tag: "SONAME"), ["libcounter-with-an-even-much-longer-soname-than-before.so"], "[\(ctx)]")
                SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(lib), ctx)
            }
        }
    }

    /// An appended segment without the mark (as swelf 0.1 wrote them) is not swelf's as far
    /// as a later edit can prove: it stays, and a new segment is added after it.
    func testUnmarkedAppendedSegmentIsKept() throws {
        let box = try ScratchDirectory("unmarked")
        forEachArch(["x86_64", "aarch64", "armhf"]) { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, _) = try box.stage(arch: arch, program: "hello")
            guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, "\(arch) first edit") else { return }
            let first = try SegmentViews.loads(exe)
            guard let appended = first.last else { return XCTFail("[\(arch)] no PT_LOAD") }
            // Erase the mark: nothing refers to these 16 bytes.
            let handle = try FileHandle(forWritingTo: exe)
            try handle.seek(toOffset: appended.offset)
            handle.write(Data(repeating: 0, count: 16))
            try handle.close()
            guard try patch(["--add-rpath", "/a/directory/that/is/long/enough/to/grow/the/strings"], exe, "\(arch) second edit") else { return }
            let second = try SegmentViews.loads(exe)
            XCTAssertEqual(Array(second.prefix(first.count)), first, "[\(arch)] the unmarked segment was rebuilt or cut")
            XCTAssertEqual(second.count, first.count + 1, "[\(arch)] expected a new segment after the unmarked one:\n\(second)")
            try assertRuns(exe, like: subject, "\(arch) after the second edit")
        }
    }

    // MARK: Case 5: read-only tables stay read-only

    /// Enough --add-needed that .dynamic moves: .dynamic goes alone into a writable PT_LOAD
    /// on its own page; .dynstr, .interp, the notes and the hash tables stay in read-only
    /// memory. A further growing edit rebuilds both segments instead of adding more.
    /// Without section headers too: the first edit (one read-only segment) keeps a spare
    /// program header for the second, which swelf could not otherwise make room for.
    func testMovedDynamicSectionIsTheOnlyWritableTable() throws {
        forEachArch { arch in
          for program in ["hello", "hello-noshdr"] {
            let subject = try Subject.named("\(arch)/\(program)")
            let box = try ScratchDirectory("rw-split-\(program)")
            let (exe, lib) = try box.stage(arch: arch, program: program)
            let extra = (1...8).map { "libunused\($0).so" }
            for name in extra { try box.copy("\(arch)/libunused.so", into: lib, as: name) }
            let before = try SegmentViews.loads(exe)
            let readOnlyBefore = try SegmentViews.readOnlyTables(exe)
            let lintBefore = try SegmentViews.elflint(exe)

            // First a run path alone (a read-only segment), then enough entries that .dynamic moves.
            guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, "\(arch)/\(program) set-rpath"),
                  try patch(extra.flatMap { ["--add-needed", $0] }, exe, "\(arch)/\(program) add-needed x8") else { continue }
            try assertRuns(exe, like: subject, "\(arch)/\(program) after add-needed x8")
            let after = try SegmentViews.loads(exe)
            XCTAssertEqual(Array(after.prefix(before.count)), before, "[\(arch)/\(program)] the linker's PT_LOADs changed")
            let added = Array(after.dropFirst(before.count))
            // .dynamic was writable (every arch but MIPS, whose linker keeps it read-only).
            guard let oldDynamic = try SegmentViews.segment(Repo.testBinaries.appendingPathComponent(subject.path), type: "DYNAMIC"),
                  let holder = before.first(where: { $0.vaddr <= oldDynamic.vaddr && oldDynamic.vaddr < $0.vaddr + $0.memSize })
            else { XCTFail("[\(arch)/\(program)] no PT_DYNAMIC inside a PT_LOAD in the original"); continue }
            guard holder.flags.contains("W") else {
                XCTAssertEqual(added.map(\.flags), ["R"], "[\(arch)/\(program)] .dynamic was read-only: expected one read-only PT_LOAD:\n\(added)")
                XCTAssertTrue(try SegmentViews.readOnlyTables(exe).values.allSatisfy { $0 }, "[\(arch)/\(program)] a table became writable")
                SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(exe), "\(arch)/\(program) add-needed x8")
                continue
            }
            XCTAssertEqual(added.map(\.flags), ["R", "RW"], "[\(arch)/\(program)] expected a read-only and a read-write PT_LOAD:\n\(added)")
            guard added.count == 2, let dynamic = try SegmentViews.segment(exe, type: "DYNAMIC") else { continue }
            // .dynamic moved, alone in the writable segment, right after the mark.
            XCTAssertEqual(dynamic.offset, added[1].offset + 16, "[\(arch)/\(program)] PT_DYNAMIC is not at the start of the RW segment")
            XCTAssertEqual(added[1].fileSize, 16 + dynamic.fileSize, "[\(arch)/\(program)] the RW segment holds more than .dynamic")
            for segment in added {
                XCTAssertEqual(try SegmentViews.fileBytes(exe, at: segment.offset, count: 16), Array("swelf appended".utf8) + [0, 0],
                               "[\(arch)/\(program)] segment at 0x\(String(segment.offset, radix: 16)) does not begin with the mark")
            }
            // The RW segment starts on a page the read-only one does not touch.
            let page = added[1].align
            XCTAssertGreaterThan(added[1].vaddr / page, (added[0].vaddr + added[0].memSize - 1) / page,
                                 "[\(arch)/\(program)] the RW segment shares a page with the read-only one")
            // Every table that was read-only is still in a read-only PT_LOAD.
            let readOnlyAfter = try SegmentViews.readOnlyTables(exe)
            for (table, wasReadOnly) in readOnlyBefore where wasReadOnly {
                XCTAssertEqual(readOnlyAfter[table], true, "[\(arch)/\(program)] \(table) became writable")
            }
            SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(exe), "\(arch)/\(program) add-needed x8")

            // Once more: both segments are rebuilt.
            guard try patch(["--add-needed", "libctor.so", "--add-rpath", "/another/rather/long/run/path/entry"], exe, "\(arch)/\(program) again") else { continue }
            try assertRuns(exe, like: subject, expecting: "libctor constructor ran\n" + subject.expectedStdout, "\(arch)/\(program) after the second edit")
            let again = try SegmentViews.loads(exe)
            XCTAssertEqual(again.count, after.count, "[\(arch)/\(program)] the second edit added segments instead of rebuilding:\n\(again)")
            XCTAssertEqual(again.dropFirst(before.count).map(\.flags), ["R", "RW"], "[\(arch)/\(program)] after the second edit")
            SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(exe), "\(arch)/\(program) again")
          }
        }
    }

    // MARK: Case 9: alignment of a new segment

    /// A new PT_LOAD takes the largest p_align of the file's PT_LOADs (64 KiB for files
    /// linked with -z max-page-size=0x10000, 4 KiB for armhf's default), and its offset is
    /// congruent with its address modulo that; --page-size can raise it, never lower it
    /// (issue 21: a 64 KiB file with a 16 KiB segment no longer loads on 64 KiB pages).
    func testNewSegmentTakesTheLinkersAlignment() throws {
        let box = try ScratchDirectory("align")
        let programs = ["x86_64/hello-64k", "aarch64/hello-64k", "aarch64/hello-4k"] + E2E.architectures.map { "\($0)/hello" }
        for path in programs {
            do {
                let subject = try Subject.named(path)
                let dir = try box.dir(path.replacingOccurrences(of: "/", with: "_"))
                let lib = try box.dir(path.replacingOccurrences(of: "/", with: "_") + "/lib")
                for name in ["libgreet.so.1", "libgreet64k.so", "libunused.so"] {
                    if FileManager.default.fileExists(atPath: Repo.testBinaries.appendingPathComponent("\(subject.arch)/\(name)").path) {
                        try box.copy("\(subject.arch)/\(name)", into: lib)
                    }
                }
                let exe = try box.copy(path, into: dir)
                let before = try SegmentViews.loads(exe)
                let linkers = before.map(\.align).max() ?? 0
                guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, path) else { continue }
                try assertRuns(exe, like: subject, path)
                let added = Array(try SegmentViews.loads(exe).dropFirst(before.count))
                XCTAssertEqual(added.count, 1, "[\(path)] expected one new PT_LOAD")
                for segment in added {
                    XCTAssertEqual(segment.align, linkers, "[\(path)] p_align of the new segment (linker used 0x\(String(linkers, radix: 16)))")
                    XCTAssertEqual(segment.offset % linkers, segment.vaddr % linkers, "[\(path)] offset and address not congruent")
                }
            } catch {
                XCTFail("[\(path)] \(error)")
            }
        }
        // Libraries, and --page-size.
        forEachArch(["x86_64", "aarch64"]) { arch in
            let subject = try Subject.named("\(arch)/hello-64k")
            let dir = try box.dir("\(arch)-lib64k")
            let lib = try box.dir("\(arch)-lib64k/lib")
            let exe = try box.copy(subject.path, into: dir)
            for name in ["libgreet64k.so", "libunused.so"] { try box.copy("\(arch)/\(name)", into: lib) }
            guard try patch(["--set-rpath", "$ORIGIN/lib", "--page-size", "16384"], exe, "\(arch) hello-64k --page-size") else { return }
            let library = lib.appendingPathComponent("libgreet64k.so")
            let before = try SegmentViews.loads(library)
            guard try patch(["--set-soname", "libgreet64k-with-a-considerably-longer-soname.so"], library, "\(arch) libgreet64k") else { return }
            try assertRuns(exe, like: subject, "\(arch) hello-64k with the patched library")
            for segment in try SegmentViews.loads(library).dropFirst(before.count) {
                XCTAssertEqual(segment.align, 0x10000, "[\(arch)] libgreet64k.so: p_align of the new segment")
                XCTAssertEqual(segment.offset % 0x10000, segment.vaddr % 0x10000, "[\(arch)] libgreet64k.so: not congruent")
            }
            let lowered = try SegmentViews.loads(exe).filter { $0.align != 0x10000 }
            XCTAssertEqual(lowered, [], "[\(arch)] --page-size 16384 lowered a p_align below the linker's 64 KiB")
            let raised = try box.copy(subject.path, into: try box.dir("\(arch)-lib64k-raised"))
            guard try patch(["--set-rpath", "$ORIGIN/lib", "--page-size", "131072"], raised, "\(arch) hello-64k --page-size 131072") else { return }
            let forced = try SegmentViews.loads(raised).filter { $0.align == 0x20000 }
            XCTAssertEqual(forced.count, 1, "[\(arch)] --page-size 131072 did not raise the new segment's p_align")
            for segment in forced { XCTAssertEqual(segment.offset % 0x20000, segment.vaddr % 0x20000, "[\(arch)] --page-size: not congruent") }
        }
    }

    // MARK: Case 4: static PIE

    /// A static PIE relocates itself through _DYNAMIC, the link-time address of .dynamic:
    /// .dynamic stays where it is. An edit whose entries fit in .dynamic's slots is made
    /// (a new .dynstr may move); one that needs more slots, or a run path (glibc's static-PIE
    /// start-up asserts there is none), is refused with a one-line reason and the file is
    /// left untouched.
    func testStaticPIEKeepsItsDynamicSection() throws {
        let box = try ScratchDirectory("static-pie")
        let subjects = Subject.all.filter { $0.kind == "static-pie" }
        XCTAssertTrue(subjects.contains { $0.arch == "x86_64" }, "no x86_64 static-pie subject in the manifest")
        for subject in subjects {
            let arch = subject.arch
            do {
                let dir = try box.dir(arch)
                // Fits: a new DT_SONAME in a spare slot, its string in a moved .dynstr.
                let exe = try box.copy(subject.path, into: dir)
                let dynamicBefore = try SegmentViews.segment(exe, type: "DYNAMIC")
                let lintBefore = try SegmentViews.elflint(exe)
                if try patch(["--set-soname", "libhello-static-pie-with-a-soname.so", "--no-default-lib"], exe, "\(arch) static-pie fits") {
                    try assertRuns(exe, like: subject, "\(arch) static-pie after an edit that fits")
                    XCTAssertEqual(try SegmentViews.segment(exe, type: "DYNAMIC"), dynamicBefore, "[\(arch)] PT_DYNAMIC moved")
                    XCTAssertEqual(try dynamicValue(exe, tag: "SONAME"), ["libhello-static-pie-with-a-soname.so"], "[\(arch)]")
                    SegmentViews.assertNoNewComplaints(before: lintBefore, after: try SegmentViews.elflint(exe), "\(arch) static-pie")
                }
                // Does not fit: more entries than .dynamic has slots; and a run path.
                let refusals: [(String, [String], String)] = [
                    ("20 x --add-needed", (1...20).flatMap { ["--add-needed", "libnothing\($0).so"] }, "_DYNAMIC"),
                    ("--set-rpath", ["--set-rpath", "/opt/lib"], "DT_RUNPATH"),
                ]
                for (name, arguments, reason) in refusals {
                    let target = try box.copy(subject.path, into: dir, as: "static-pie-refused")
                    let original = try bytes(target)
                    let r = try swelf(arguments + [target.path])
                    XCTAssertNotEqual(r.status, 0, "[\(arch)] static-pie \(name) was not refused:\n\(r.summary)")
                    XCTAssertTrue(r.stderr.contains(reason) && r.stderr.split(separator: "\n").count == 1,
                                  "[\(arch)] static-pie \(name): want one line naming \(reason):\n\(r.stderr)")
                    XCTAssertEqual(try bytes(target), original, "[\(arch)] static-pie \(name): the refused file changed")
                    try assertRuns(target, like: subject, "\(arch) static-pie after a refused \(name)")
                }
            } catch {
                XCTFail("[\(arch)] \(error)")
            }
        }
    }

    // MARK: patchelf's large-page-dynamic

    /// patchelf 0.19's large-page-dynamic, which patchelf's suite runs only where its own
    /// build is 32-bit (it skips on x86_64): a non-PIE program linked with
    /// -z max-page-size=0x200000, whose .dynamic must move (eight --add-needed). The loader
    /// writes DT_DEBUG into .dynamic, so the moved table must be in a writable PT_LOAD
    /// (patchelf once put it in the read-only first one, and the program crashed). Built
    /// here for i386 and mips under qemu-user, and x86_64; not armhf, whose 0x10000 image
    /// base puts a 2 MiB-aligned PT_LOAD at address 0, below mmap_min_addr.
    func testLargePageProgramWhoseDynamicSectionMovesStillRuns() throws {
        let targets: [(arch: String, cc: String, qemu: String?, sysroot: String?)] = [
            ("x86_64", "/usr/bin/gcc", nil, nil),
            ("i386", "/usr/bin/i686-linux-gnu-gcc", "/usr/bin/qemu-i386-static", "/usr/i686-linux-gnu"),
            ("mips", "/usr/bin/mips-linux-gnu-gcc", "/usr/bin/qemu-mips-static", "/usr/mips-linux-gnu"),
        ]
        let box = try ScratchDirectory("large-page")
        for target in targets {
            let arch = target.arch
            try requireTool(target.cc)
            if let qemu = target.qemu { try requireTool(qemu) }
            let dir = try box.dir(arch)
            let build = try runTool("/bin/sh", ["-ec", """
                printf 'int foo_value(void) { return 7; }\\n' > foo.c
                printf '#include <stdio.h>\\nint main(void) { puts("large page"); return 0; }\\n' > app.c
                \(target.cc) -shared -fPIC -o libfoo.so foo.c
                \(target.cc) -fno-pie -no-pie -Wl,-z,max-page-size=0x200000 -o app app.c
                for i in 2 3 4 5 6 7 8; do cp libfoo.so libfoo$i.so; done
                """], cwd: dir, timeout: 300)
            guard build.status == 0 else { XCTFail("[\(arch)] building the subject failed:\n\(build.summary)"); continue }
            let app = dir.appendingPathComponent("app")
            func run() throws -> ProcessResult {
                var command = ["LD_LIBRARY_PATH=\(dir.path)"]
                if let qemu = target.qemu, let sysroot = target.sysroot { command += [qemu, "-L", sysroot] }
                return try runTool("/usr/bin/env", command + [app.path], cwd: dir)
            }
            let before = try run()
            XCTAssertEqual(before.stdout, "large page\n", "[\(arch)] the unpatched program:\n\(before.summary)")
            let dynamicBefore = try XCTUnwrap(try SegmentViews.segment(app, type: "DYNAMIC"), "[\(arch)] no PT_DYNAMIC")
            let loadsBefore = try SegmentViews.loads(app)
            XCTAssertTrue(loadsBefore.allSatisfy { $0.align == 0x200000 }, "[\(arch)] not linked with 2 MiB pages:\n\(loadsBefore)")
            let holderBefore = loadsBefore.first { $0.vaddr <= dynamicBefore.vaddr && dynamicBefore.vaddr < $0.vaddr + $0.memSize }

            // More entries than the linker's spare DT_NULL slots: .dynamic must move (patchelf
            // moves it for one).
            let libraries = ["libfoo.so"] + (2...8).map { "libfoo\($0).so" }
            guard try patch(libraries.flatMap { ["--add-needed", $0] }, app, "\(arch) large-page --add-needed") else { continue }
            XCTAssertEqual(try dynamicValue(app, tag: "NEEDED").first, "libfoo.so", "[\(arch)]")
            let dynamic = try XCTUnwrap(try SegmentViews.segment(app, type: "DYNAMIC"), "[\(arch)] no PT_DYNAMIC after the edit")
            XCTAssertNotEqual(dynamic.vaddr, dynamicBefore.vaddr, "[\(arch)] .dynamic did not move: the test no longer tests the move")
            let holder = try SegmentViews.loads(app).first { $0.vaddr <= dynamic.vaddr && dynamic.vaddr + dynamic.memSize <= $0.vaddr + $0.memSize }
            // It keeps the rights it had (MIPS's linker leaves .dynamic read-only; the
            // loader does not write it there).
            XCTAssertEqual(holder?.flags.contains("W"), holderBefore?.flags.contains("W"),
                           "[\(arch)] .dynamic was in a \(holderBefore?.flags ?? "?") PT_LOAD and is now in \(holder?.flags ?? "none")")
            let after = try run()
            XCTAssertTrue(after.status == 0 && after.stdout == "large page\n", "[\(arch)] the patched program:\n\(after.summary)")
        }
    }
}

/// readelf and eu-elflint views the segment tests compare.
enum SegmentViews {
    struct Load: Equatable, CustomStringConvertible {
        var offset, vaddr, fileSize, memSize, align: UInt64
        var flags: String
        var description: String {
            "LOAD off 0x\(String(offset, radix: 16)) vaddr 0x\(String(vaddr, radix: 16)) filesz 0x\(String(fileSize, radix: 16)) memsz 0x\(String(memSize, radix: 16)) \(flags) align 0x\(String(align, radix: 16))"
        }
    }

    /// Program headers of one type from `readelf -lW`, in table order.
    static func segments(_ url: URL, type: String) throws -> [Load] {
        let r = try readelf(["-l", url.path])
        return r.stdout.split(separator: "\n").compactMap { line -> Load? in
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard f.first == type, f.count >= 8 else { return nil }
            func n(_ s: String) -> UInt64 { UInt64(s.hasPrefix("0x") ? String(s.dropFirst(2)) : s, radix: 16) ?? .max }
            // Flags are one to three columns ("R", "R E", "RW"); p_align is the last column.
            let flags = f[6 ..< f.count - 1].joined()
            return Load(offset: n(f[1]), vaddr: n(f[2]), fileSize: n(f[4]), memSize: n(f[5]), align: n(f.last!), flags: flags)
        }
    }

    static func loads(_ url: URL) throws -> [Load] { try segments(url, type: "LOAD") }
    static func segment(_ url: URL, type: String) throws -> Load? { try segments(url, type: type).first }

    static func fileBytes(_ url: URL, at offset: UInt64, count: Int) throws -> [UInt8] {
        let data = try Data(contentsOf: url)
        guard offset + UInt64(count) <= UInt64(data.count) else { return [] }
        return Array(data[Int(offset) ..< Int(offset) + count])
    }

    /// For each table the loader reads (PT_INTERP, PT_NOTE, and the DT_* tables), whether
    /// the PT_LOAD holding its address is read-only.
    static func readOnlyTables(_ url: URL) throws -> [String: Bool] {
        let loads = try loads(url)
        func readOnly(_ address: UInt64) -> Bool? {
            loads.first { $0.vaddr <= address && address < $0.vaddr + $0.memSize }.map { !$0.flags.contains("W") }
        }
        var result: [String: Bool] = [:]
        for type in ["INTERP", "NOTE"] {
            for (i, s) in try segments(url, type: type).enumerated() { result["\(type)#\(i)"] = readOnly(s.vaddr) }
        }
        let r = try readelf(["-d", url.path])
        for line in r.stdout.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard f.count >= 3, let open = f[1].firstIndex(of: "("), let close = f[1].firstIndex(of: ")") else { continue }
            let tag = String(f[1][f[1].index(after: open) ..< close])
            guard ["STRTAB", "SYMTAB", "HASH", "GNU_HASH", "VERSYM", "VERNEED", "VERDEF"].contains(tag),
                  let address = UInt64(f[2].dropFirst(2), radix: 16) else { continue }
            result[tag] = readOnly(address)
        }
        return result
    }

    /// `eu-elflint --gnu-ld --quiet` complaints (the shared `ELFLint` view).
    static func elflint(_ url: URL) throws -> [String] { try ELFLint.complaints(url) }

    /// No eu-elflint complaint the input did not have (numbers normalised, see `ELFLint`).
    static func assertNoNewComplaints(before: [String], after: [String], _ context: String,
                                      file: StaticString = #filePath, line: UInt = #line) {
        let new = ELFLint.newComplaints(input: before, output: after)
        XCTAssertTrue(new.isEmpty, "[\(context)] new eu-elflint complaints:\n\(new.map(\.example).joined(separator: "\n"))",
                      file: file, line: line)
    }

    /// Runs `program` with LD_LIBRARY_PATH=`libraries` (natively, or passed to qemu with -E).
    static func assertRuns(_ program: URL, libraries: URL, like subject: Subject, expecting expected: String, _ context: String,
                           file: StaticString = #filePath, line: UInt = #line) throws {
        let r: ProcessResult
        if subject.isNative {
            r = try runTool("/usr/bin/env", ["LD_LIBRARY_PATH=\(libraries.path)", program.path], cwd: libraries)
        } else {
            r = try runTool("/usr/bin/\(subject.qemu)", ["-L", subject.sysroot, "-E", "LD_LIBRARY_PATH=\(libraries.path)", program.path],
                            cwd: libraries)
        }
        XCTAssertTrue(r.status == 0 && r.stdout == expected,
                      "[\(context)] want \(expected.debugDescription):\n\(r.summary)", file: file, line: line)
    }
}
