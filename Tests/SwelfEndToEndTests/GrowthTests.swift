import Foundation
import XCTest

/// Item 12: idempotence and bounded growth, with patchelf 0.19.3's figures alongside.
final class GrowthTests: EndToEndTestCase {

    /// The same `--set-rpath` twice: the second run leaves the file byte-identical, mtime included.
    func testSetRpathTwiceIsIdempotent() throws {
        let box = try ScratchDirectory("idempotent")
        forEachArch { arch in
            for program in ["hello", "hello-noshdr"] {
                let ctx = "\(arch)/\(program) set-rpath twice"
                let (exe, _) = try box.stage(arch: arch, program: program, libraries: [])
                guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, ctx) else { continue }
                let first = try bytes(exe), firstTime = mtime(exe)
                var st = stat(); stat(exe.path, &st); let inode = st.st_ino
                usleep(20_000)
                guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, ctx, checkOutput: false) else { continue }
                XCTAssertEqual(try bytes(exe), first, "[\(ctx)] second identical edit changed the bytes")
                XCTAssertTrue(mtime(exe) == firstTime, "[\(ctx)] second identical edit touched the file (mtime \(firstTime) → \(mtime(exe)))")
                stat(exe.path, &st)
                XCTAssertEqual(st.st_ino, inode, "[\(ctx)] second identical edit replaced the file (new inode)")
            }
        }
    }

    /// Two edits in a row, each in its own swelf run, in both orders: every repetition gives the
    /// same bytes (swelf must not depend on hash-seed ordering), succeeds, and passes the checks.
    /// The second run rebuilds the segment the first run appended.
    func testSuccessiveEditsAreDeterministic() throws {
        let box = try ScratchDirectory("determinism")
        let repetitions = 6
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let dir = try box.dir(arch)
            let interp = dir.path + "/a/considerably/longer/path/to/the/dynamic/loader/for/this/test/ld.so"
            let steps: [(String, [[String]])] = [
                ("rpath then interpreter", [["--set-rpath", "$ORIGIN/lib"], ["--set-interpreter", interp]]),
                ("interpreter then rpath", [["--set-interpreter", interp], ["--set-rpath", "$ORIGIN/lib"]]),
                ("rpath then add-needed", [["--set-rpath", "$ORIGIN/lib"], ["--add-needed", "libctor.so"]]),
            ]
            for (name, edits) in steps {
                var outcomes: [String: Int] = [:]
                var firstFailure: String?
                var sample: URL?
                for i in 0..<repetitions {
                    let exe = try box.copy(subject.path, into: dir, as: "hello-\(i)")
                    var outcome = ""
                    for edit in edits {
                        let r = try swelf(edit + [exe.path])
                        if r.status != 0 { outcome = "exit \(r.status): " + r.stderr.replacingOccurrences(of: exe.path, with: "FILE"); firstFailure = firstFailure ?? r.summary; break }
                    }
                    if outcome.isEmpty { outcome = "sha \(try bytes(exe).hashValue)"; sample = sample ?? exe }
                    outcomes[outcome, default: 0] += 1
                }
                XCTAssertNil(firstFailure, "[\(arch) \(name)] an edit failed in some of \(repetitions) identical repetitions: \(outcomes)\n\(firstFailure ?? "")")
                XCTAssertEqual(outcomes.count, 1, "[\(arch) \(name)] \(repetitions) identical repetitions gave \(outcomes.count) different results: \(outcomes)")
                if let sample { try assertCleanOutput(sample, "\(arch) \(name)") }
            }
        }
    }

    struct Row {
        var file: String
        var original = 0
        var afterOne = 0
        var afterTen = 0
        var bound = 0
        var patchelfOne: Int?
        var patchelfTen: Int?
        var patchelfNote = ""
    }

    static func component(_ i: Int) -> String { "$ORIGIN/../grow\(i < 10 ? "0" : "")\(i)" }

    /// Ten different growing `--add-rpath` edits in a row grow the file by no more than the first
    /// edit's growth plus the bytes the later nine add to the string table, plus 64 bytes of slack.
    /// The figures (and patchelf's for the same ops) go to the log and /tmp/notes/growth.txt.
    func testTenAddRpathEditsGrowBoundedly() throws {
        let box = try ScratchDirectory("growth")
        var rows: [Row] = []
        let subjects = E2E.architectures.flatMap { ["\($0)/hello", "\($0)/hello-noshdr"] }
            + ["x86_64/hello-nopie", "x86_64/hello-cxx", "x86_64/go-cgo", "x86_64/hello-separate-code",
               "x86_64/hello-noseparate-code", "x86_64/libgreet.so.1", "x86_64/libgreet64k.so", "aarch64/hello-64k"]
        for path in subjects {
            do {
                let subject = try Subject.named(path)
                var row = Row(file: path)
                let dir = try box.dir(path.replacingOccurrences(of: "/", with: "_"))
                let mine = try box.copy(path, into: dir)
                let theirs = try box.copy(path, into: dir, as: "patchelf-" + mine.lastPathComponent)
                row.original = try fileSize(mine)
                var added: [String] = []
                var ok = true
                for i in 1...10 {
                    let c = Self.component(i)
                    guard try patch(["--add-rpath", c], mine, "\(path) add-rpath #\(i)") else { ok = false; break }
                    added.append(c)
                    if i == 1 { row.afterOne = try fileSize(mine) }
                }
                guard ok else { rows.append(row); continue }
                row.afterTen = try fileSize(mine)
                let laterBytes = added.dropFirst().reduce(0) { $0 + $1.utf8.count + 1 }  // ":" + component
                row.bound = row.original + (row.afterOne - row.original) + laterBytes + 64
                XCTAssertLessThanOrEqual(row.afterTen, row.bound,
                    "[\(path)] 10 add-rpath edits grew \(row.original) → \(row.afterTen) bytes; bound is first edit's growth \(row.afterOne - row.original) + \(laterBytes) string bytes + 64")
                let runpath = try dynamicValue(mine, tag: "RUNPATH") + dynamicValue(mine, tag: "RPATH")
                XCTAssertEqual(runpath, [added.joined(separator: ":")], "[\(path)] rpath after 10 add-rpath edits")
                if subject.kind == "program" {
                    // No library is found through these directories: the program must still load far
                    // enough to complain about libgreet (or run, when it needs only libc).
                    let r = try runProgram(mine, like: subject)
                    XCTAssertTrue(r.status == 0 || r.stderr.contains("cannot open shared object"), "[\(path)] after 10 edits:\n\(r.summary)")
                }

                // patchelf, same operations on a fresh copy.
                for i in 1...10 {
                    let r = try patchelf(["--add-rpath", Self.component(i), theirs.path])
                    guard r.status == 0 else { row.patchelfNote = "patchelf fails at #\(i): " + r.stderr.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "patchelf: ", with: "").prefix(48); break }
                    if i == 1 { row.patchelfOne = try fileSize(theirs) }
                    if i == 10 { row.patchelfTen = try fileSize(theirs) }
                }
                if row.patchelfTen != nil {
                    let v = try swelf(["verify", theirs.path])
                    if v.status != 0 { row.patchelfNote = "swelf verify rejects patchelf's output" }
                }
                rows.append(row)
            } catch {
                XCTFail("[\(path)] \(error)")
            }
        }

        func cell(_ v: Int?) -> String { v.map(String.init) ?? "-" }
        var table = "swelf vs patchelf 0.19.3: file size in bytes after 1 and 10 successive --add-rpath edits\n"
        table += "(components $ORIGIN/../grow01 … grow10; bound = original + first edit's growth + string bytes of edits 2-10 + 64)\n\n"
        let header = ["file", "original", "swelf 1", "swelf 10", "+10-+1", "bound", "patchelf 1", "patchelf 10", "note"]
        var lines = [header]
        for r in rows {
            lines.append([r.file, String(r.original), String(r.afterOne), String(r.afterTen),
                          String(r.afterTen - r.afterOne), String(r.bound),
                          cell(r.patchelfOne), cell(r.patchelfTen), r.patchelfNote])
        }
        let widths = header.indices.map { i in lines.map { $0[i].count }.max() ?? 0 }
        for l in lines {
            table += l.indices.map { i in i == 0 || i == l.count - 1
                ? l[i].padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - l[i].count) + l[i] }.joined(separator: "  ") + "\n"
        }
        print(table)
        let notes = URL(fileURLWithPath: "/tmp/notes")
        try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
        try table.write(to: notes.appendingPathComponent("growth.txt"), atomically: true, encoding: .utf8)
    }
}
