import Foundation
import XCTest

/// Command-line behaviours of edits: `@FILE` values, `--page-size`, several files in one
/// call (one failing), `--output` with edits, and `--debug`.
final class CommandLineEditTests: EndToEndTestCase {

    func testValueFromFile() throws {
        let box = try ScratchDirectory("atfile")
        let subject = try Subject.named("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let value = box.url.appendingPathComponent("rpath.txt")
        try "$ORIGIN/lib".write(to: value, atomically: true, encoding: .utf8)
        guard try patch(["--set-rpath", "@" + value.path], exe, "@FILE") else { return }
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"])
        try assertRuns(exe, like: subject, "@FILE")
    }

    /// --page-size sets the alignment of the appended segment; the program still runs.
    func testPageSize() throws {
        let box = try ScratchDirectory("pagesize")
        let subject = try Subject.named("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        guard try patch(["--page-size", "65536", "--set-rpath", "$ORIGIN/lib:" + String(repeating: "/p", count: 100)],
                        exe, "page-size") else { return }
        let loads = try readelf(["-lW", exe.path]).stdout.split(separator: "\n").filter { $0.contains("LOAD") }
        XCTAssertEqual(loads.last?.split(separator: " ").last, "0x10000", "\(loads)")
        try assertRuns(exe, like: subject, "page-size")
        let bad = try swelf(["--page-size", "3000", "--set-rpath", "/x", exe.path])
        XCTAssertEqual(bad.status, 64, bad.summary)
    }

    /// A failing file does not stop the others; the exit status says something failed and
    /// the failing file is untouched.
    func testSeveralFilesOneFailing() throws {
        let box = try ScratchDirectory("several")
        let directory = try box.dir("x86_64")
        let first = try box.copy("x86_64/hello", into: directory, as: "first")
        let broken = try box.copy("x86_64/static", into: directory, as: "broken")
        let last = try box.copy("x86_64/libgreet.so.1", into: directory, as: "last.so")
        let before = try bytes(broken)
        let r = try swelf(["--set-rpath", "/opt/lib", first.path, broken.path, last.path])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("broken"), r.summary)
        XCTAssertEqual(try dynamicValue(first, tag: "RUNPATH"), ["/opt/lib"])
        XCTAssertEqual(try dynamicValue(last, tag: "RUNPATH"), ["/opt/lib"])
        XCTAssertEqual(try bytes(broken), before)
    }

    /// --output with an edit writes the edited file there and leaves the input alone;
    /// --debug explains the layout on stderr.
    func testOutputWithEditAndDebug() throws {
        let box = try ScratchDirectory("output")
        let subject = try Subject.named("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let before = try bytes(exe)
        let output = exe.deletingLastPathComponent().appendingPathComponent("hello.fixed")
        let r = try swelf(["--debug", "--set-rpath", "$ORIGIN/lib", "--output", output.path, exe.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stderr.contains("DT_RUNPATH"), "no layout explanation on stderr: \(r.summary)")
        XCTAssertEqual(try bytes(exe), before)
        try assertCleanOutput(output, "output")
        try assertRuns(output, like: subject, "output")
    }
}
