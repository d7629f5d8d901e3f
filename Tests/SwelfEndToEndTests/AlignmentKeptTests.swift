import Foundation
import XCTest

/// Issue 21: alignment kept, and one AT_PHDR under every loader's rule.
///
/// Files linked with `-z max-page-size=16384` or `65536` load on kernels with 16 KiB or 64 KiB
/// pages only while every PT_LOAD is congruent modulo that size; patchelf's `--replace-needed`
/// gives such a file a 4 KiB segment. Every edit here is judged from readelf's output alone
/// (not swelf's reader): no PT_LOAD's p_align went down, new PT_LOADs have the largest one,
/// p_offset ≡ p_vaddr modulo p_align, the loaders' rules for AT_PHDR (`ProgramHeaderAddress`)
/// agree on an address that is the program header table, and the program runs under
/// qemu-aarch64 (which maps with 4 KiB pages, so only the numbers prove the larger pages).
final class AlignmentKeptTests: EndToEndTestCase {
    override class var requiredTools: [String] { ["/usr/bin/qemu-aarch64-static"] }

    /// (program, its greet library, page size the linker used).
    static let subjects = [("hello-16k", "libgreet16k.so", UInt64(0x4000)), ("hello-64k", "libgreet64k.so", UInt64(0x10000))]

    static let longRunPath = "$ORIGIN/lib:" + String(repeating: "/a/longer/run/path", count: 12)

    /// Each edit, the libraries its output needs beside lib/ (name in lib/, copied from), and
    /// the output it prints.
    static func edits(_ greet: String) -> [(name: String, arguments: [String], extra: [(String, String)], stdout: String)] {
        let hello = "hello from libgreet\nhello main done\n"
        return [
            ("set-rpath growing", ["--set-rpath", longRunPath], [], hello),
            ("add-needed", ["--add-needed", "libctor.so"], [("libctor.so", "libctor.so")], "libctor constructor ran\n" + hello),
            ("replace-needed", ["--replace-needed", "libunused.so", "libunused-under-a-considerably-longer-name.so"],
             [("libunused-under-a-considerably-longer-name.so", "libunused.so")], hello),
            ("set-interpreter longer", ["--set-interpreter", "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"], [], hello),
            ("set-soname", ["--set-soname", "libhello-with-a-soname-long-enough-to-move-dynstr.so"], [], hello),
            ("remove-needed", ["--remove-needed", "libunused.so"], [], hello),
            ("set-execstack", ["--set-execstack"], [], hello),
            ("remove-rpath", ["--remove-rpath"], [], hello),
        ]
    }

    func testEveryEditKeepsAlignmentAndOneProgramHeaderAddress() throws {
        let box = try ScratchDirectory("align-kept")
        for (program, greet, page) in Self.subjects {
            let subject = try Subject.named("aarch64/\(program)")
            for (name, arguments, extra, stdout) in Self.edits(greet) {
                let context = "aarch64/\(program) \(name)"
                let dir = try box.dir("\(program)-\(name.replacingOccurrences(of: " ", with: "-"))")
                let lib = try box.dir("\(program)-\(name.replacingOccurrences(of: " ", with: "-"))/lib")
                for library in [greet, "libunused.so"] { try box.copy("aarch64/\(library)", into: lib) }
                for (target, source) in extra { try box.copy("aarch64/\(source)", into: lib, as: target) }
                let exe = try box.copy(subject.path, into: dir)
                let before = try ProgramHeaderFacts(exe)
                XCTAssertEqual(before.loads.map(\.align).max(), page, "[\(context)] the subject is not linked for 0x\(String(page, radix: 16)) pages")
                // remove-rpath has nothing to remove in the subject: it removes the long one.
                if name == "remove-rpath" { guard try patch(["--set-rpath", Self.longRunPath], exe, context) else { continue } }
                guard try patch(arguments, exe, context) else { continue }
                try assertKept(before: before, after: try ProgramHeaderFacts(exe), context)
                try SegmentViews.assertRuns(exe, libraries: lib, like: subject, expecting: stdout, context)
            }
            // The libraries themselves, edited and then loaded by the program.
            for (name, arguments) in [("set-soname", ["--set-soname", "\(greet)-with-a-much-longer-soname.so"]),
                                      ("set-rpath growing", ["--set-rpath", Self.longRunPath]),
                                      ("add-needed", ["--add-needed", "libunused.so"])] {
                let context = "aarch64/\(greet) \(name)"
                let dir = try box.dir("\(greet)-\(name.replacingOccurrences(of: " ", with: "-"))")
                let lib = try box.dir("\(greet)-\(name.replacingOccurrences(of: " ", with: "-"))/lib")
                try box.copy("aarch64/libunused.so", into: lib)
                let library = try box.copy("aarch64/\(greet)", into: lib)
                let exe = try box.copy(subject.path, into: dir)
                let before = try ProgramHeaderFacts(library)
                guard try patch(arguments, library, context) else { continue }
                try assertKept(before: before, after: try ProgramHeaderFacts(library), context)
                try SegmentViews.assertRuns(exe, libraries: lib, like: subject, expecting: subject.expectedStdout, context)
            }
        }
    }

    /// An ET_EXEC at 0x400000 whose file is longer than its image (a 1 MiB non-allocated
    /// section, as debug data makes it): placed just above the image, the new segment's
    /// p_vaddr - p_offset would fall below the first PT_LOAD's, and qemu-user before 8.2
    /// would then report AT_PHDR at the wrong address. The planner keeps the distance.
    func testExecutableLongerThanItsImageKeepsEveryLoadersProgramHeaderAddress() throws {
        try requireTool("/usr/bin/objcopy")
        let box = try ScratchDirectory("align-long-exec")
        let subject = try Subject.named("x86_64/hello-nopie")
        let (exe, lib) = try box.stage(arch: "x86_64", program: "hello-nopie")
        let junk = box.url.appendingPathComponent("junk")
        try Data(count: 1 << 20).write(to: junk)
        let r = try runTool("/usr/bin/objcopy", ["--add-section", ".junk=\(junk.path)", exe.path])
        XCTAssertEqual(r.status, 0, r.summary)
        let before = try ProgramHeaderFacts(exe)
        guard try patch(["--set-rpath", Self.longRunPath], exe, "hello-nopie with 1 MiB of junk") else { return }
        let after = try ProgramHeaderFacts(exe)
        try assertKept(before: before, after: after, "hello-nopie with 1 MiB of junk")
        let added = after.loads.filter { !before.loads.contains($0) }
        XCTAssertFalse(added.isEmpty, "no new PT_LOAD: the test no longer exercises the placement")
        try SegmentViews.assertRuns(exe, libraries: lib, like: subject, expecting: subject.expectedStdout, "hello-nopie with junk, native")
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-x86_64-static") {
            let q = try runTool("/usr/bin/qemu-x86_64-static", ["-L", "/", "-E", "LD_LIBRARY_PATH=\(lib.path)", exe.path], cwd: lib)
            XCTAssertEqual(q.stdout, subject.expectedStdout, "[hello-nopie with junk under qemu-x86_64] \(q.summary)")
        }
    }

    /// No PT_LOAD's p_align went down, new ones have the original's largest, every PT_LOAD
    /// is congruent, and every loader finds the table at one address (`ProgramHeaderFacts`).
    func assertKept(before: ProgramHeaderFacts, after: ProgramHeaderFacts, _ context: String,
                    file: StaticString = #filePath, line: UInt = #line) throws {
        let largest = before.loads.map(\.align).filter { $0.nonzeroBitCount == 1 }.max() ?? 0
        for old in before.loads {
            guard let now = after.loads.first(where: { $0.offset == old.offset && $0.vaddr == old.vaddr }) else { continue }
            XCTAssertGreaterThanOrEqual(now.align, old.align, "[\(context)] p_align of \(old) went down: \(now)", file: file, line: line)
        }
        for new in after.loads where !before.loads.contains(new) {
            XCTAssertGreaterThanOrEqual(new.align, largest, "[\(context)] new \(new) below the original's largest p_align", file: file, line: line)
        }
        for load in after.loads where load.align > 1 {
            XCTAssertEqual(load.offset % load.align, load.vaddr % load.align, "[\(context)] \(load) not congruent", file: file, line: line)
        }
        let addresses = after.programHeaderAddresses
        XCTAssertEqual(Set(addresses.values).count, 1, "[\(context)] loaders disagree on AT_PHDR: \(addresses)", file: file, line: line)
        XCTAssertTrue(after.tableIsLoaded(at: addresses["Linux before 5.18"] ?? 0),
                      "[\(context)] AT_PHDR is not the program header table in a PT_LOAD: \(addresses)", file: file, line: line)
    }
}

/// What `readelf -hlW` says about the program headers: PT_LOADs, PT_PHDR, e_phoff, the table
/// size. Worked out here, not with swelf's reader, so that the test does not share a mistake.
struct ProgramHeaderFacts {
    var loads: [SegmentViews.Load]
    var phdr: SegmentViews.Load?
    var tableOffset: UInt64
    var tableSize: UInt64

    init(_ url: URL) throws {
        loads = try SegmentViews.loads(url)
        phdr = try SegmentViews.segment(url, type: "PHDR")
        let header = try readelf(["-h", url.path]).stdout
        func number(_ label: String) -> UInt64 {
            guard let line = header.split(separator: "\n").first(where: { $0.contains(label) }),
                  let value = line.split(separator: ":").last?.split(separator: " ").first else { return .max }
            return UInt64(value) ?? .max
        }
        tableOffset = number("Start of program headers")
        tableSize = number("Number of program headers") &* number("Size of program headers")
    }

    /// AT_PHDR minus the load bias, by each loader's rule (see `LoaderViews` in the verifier,
    /// written separately), and PT_PHDR's p_vaddr, which glibc takes for it.
    var programHeaderAddresses: [String: UInt64] {
        guard let first = loads.first else { return [:] }
        var result: [String: UInt64] = [
            "Linux before 5.18": first.vaddr &- first.offset &+ tableOffset,
            "qemu-user before 8.2": loads.map { $0.vaddr &- $0.offset }.min()! &+ tableOffset,
            "qemu-user 8.2 and later": loads.map { $0.vaddr / 0x1000 * 0x1000 }.min()! &+ tableOffset,
        ]
        if let holder = loads.last(where: { $0.offset <= tableOffset && tableOffset < $0.offset + $0.fileSize }) {
            result["Linux 5.18 and later"] = holder.vaddr + (tableOffset - holder.offset)
        } else {
            result["Linux 5.18 and later"] = 0
        }
        if let phdr { result["PT_PHDR"] = phdr.vaddr }
        return result
    }

    /// Whether `address` is the whole table in some PT_LOAD's file image.
    func tableIsLoaded(at address: UInt64) -> Bool {
        loads.contains { load in
            load.vaddr <= address && address - load.vaddr + tableSize <= load.fileSize
                && load.offset + (address - load.vaddr) == tableOffset
        }
    }
}
