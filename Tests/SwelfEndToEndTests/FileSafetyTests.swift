import Foundation
import XCTest

/// What happens to the file on disk: failures leave it untouched, --output keeps the input,
/// a running executable can be patched, symlinks stay symlinks, the mode is kept.
final class FileSafetyTests: XCTestCase {
    override func setUpWithError() throws {
        try requireSwelf()
        try requireTool(E2E.readelf)
    }

    func directoryListing(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    /// `--set-interpreter` on a static binary fails with exit 1; the file is byte-identical and
    /// not rewritten, and no temporary file is left behind. Same for a file that is not ELF.
    func testRefusedEditLeavesInputUntouched() throws {
        let box = try Sandbox("refused")
        let dir = try box.dir("d")
        let exe = try box.copy("x86_64/static", into: dir)
        let text = dir.appendingPathComponent("notes.txt")
        try Data("not an ELF file\n".utf8).write(to: text)
        for (file, args) in [(exe, ["--set-interpreter", "/lib64/ld-linux-x86-64.so.2"]),
                             (exe, ["--set-rpath", "$ORIGIN/lib", "--set-interpreter", "/x"]),
                             (text, ["--set-rpath", "$ORIGIN/lib"])] {
            let before = try bytes(file), time = mtime(file), listing = try directoryListing(dir)
            usleep(10_000)
            let r = try swelf(args + [file.path])
            XCTAssertEqual(r.status, 1, "[\(file.lastPathComponent) \(args)] expected exit 1:\n\(r.summary)")
            XCTAssertFalse(r.stderr.isEmpty, "[\(file.lastPathComponent)] no error message")
            XCTAssertEqual(try bytes(file), before, "[\(file.lastPathComponent)] input changed")
            XCTAssertTrue(mtime(file) == time, "[\(file.lastPathComponent)] input rewritten")
            XCTAssertEqual(try directoryListing(dir), listing, "[\(file.lastPathComponent)] stray files left")
        }
        try assertRuns(exe, like: try Manifest.subject("x86_64/static"), "static after refused edit")
    }

    /// A directory swelf may not write to: an error, the file unchanged, no temporary file.
    /// As root (which ignores directory modes) swelf runs as nobody through setpriv.
    func testReadOnlyDirectory() throws {
        let box = try Sandbox("readonly")
        let dir = try box.dir("ro")
        let exe = try box.copy("x86_64/hello", into: dir)
        chmod(exe.path, 0o666)      // the file itself is writable: only the directory says no
        chmod(dir.path, 0o555)
        defer { chmod(dir.path, 0o755) }
        let before = try bytes(exe), listing = try directoryListing(dir)
        let args = ["--set-rpath", "$ORIGIN/lib", exe.path]
        let r: RunResult
        if geteuid() == 0 {
            try requireTool("/usr/bin/setpriv", hint: "util-linux's setpriv is needed to drop root; run scripts/install-test-deps")
            chmod(box.url.path, 0o755)
            r = try runTool("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", E2E.swelf] + args)
        } else {
            r = try swelf(args)
        }
        XCTAssertNotEqual(r.status, 0, "swelf wrote into a read-only directory?\n\(r.summary)")
        XCTAssertEqual(r.status, 1, "expected exit 1 (I/O error):\n\(r.summary)")
        XCTAssertTrue(r.stderr.contains("Permission denied"), "the error does not give the reason:\n\(r.summary)")
        XCTAssertEqual(try bytes(exe), before, "input changed:\n\(r.summary)")
        XCTAssertEqual(try directoryListing(dir), listing, "stray files left in the read-only directory")
    }

    /// `--output F` writes F (which runs) and leaves the input byte-identical.
    func testOutputKeepsInput() throws {
        let box = try Sandbox("output")
        let subject = try Manifest.subject("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let before = try bytes(exe), time = mtime(exe)
        let out = exe.deletingLastPathComponent().appendingPathComponent("hello-out")
        guard try patch(["--set-rpath", "$ORIGIN/lib", "--output", out.path], exe, "--output", checkOutput: false) else { return }
        XCTAssertEqual(try bytes(exe), before, "input changed by --output")
        XCTAssertTrue(mtime(exe) == time, "input rewritten by --output")
        try assertCleanOutput(out, "--output")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: out.path), "--output file is not executable")
        XCTAssertEqual(try dynamicValue(out, tag: "RUNPATH"), ["$ORIGIN/lib"])
        try assertRuns(out, like: subject, "--output")
    }

    /// A program that is running can be patched (no ETXTBSY); the running copy finishes normally
    /// and the patched file runs.
    func testPatchRunningExecutable() throws {
        try requireTool("/usr/bin/gcc")
        let box = try Sandbox("running")
        let source = box.url.appendingPathComponent("sleeper.c")
        try Data("""
            #include <stdio.h>
            #include <stdlib.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                int ms = argc > 1 ? atoi(argv[1]) : 0;
                printf("started\\n"); fflush(stdout);
                usleep(ms * 1000);
                printf("done\\n");
                return 0;
            }
            """.utf8).write(to: source)
        let exe = box.url.appendingPathComponent("sleeper")
        let cc = try runTool("/usr/bin/gcc", ["-O1", "-o", exe.path, source.path])
        XCTAssertEqual(cc.status, 0, cc.summary)
        guard cc.status == 0 else { return }

        let out = box.url.appendingPathComponent("running.out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        let handle = try FileHandle(forWritingTo: out)
        let process = Process()
        process.executableURL = exe
        process.arguments = ["1500"]
        process.standardOutput = handle
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        // Wait until it has really started (its text is mapped) before patching.
        let deadline = Date().addingTimeInterval(10)
        while (try? String(contentsOf: out, encoding: .utf8))?.contains("started") != true && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(process.isRunning, "sleeper exited too early")

        let r = try swelf(["--set-rpath", "$ORIGIN/lib", "--add-needed", "libm.so.6", exe.path])
        XCTAssertEqual(r.status, 0, "patching a running executable failed:\n\(r.summary)")
        process.waitUntilExit()
        try handle.close()
        XCTAssertEqual(process.terminationStatus, 0)
        XCTAssertEqual(try String(contentsOf: out, encoding: .utf8), "started\ndone\n", "the running copy was disturbed")
        try assertCleanOutput(exe, "patched while running")
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"])
        let again = try runTool(exe.path, ["0"])
        XCTAssertTrue(again.status == 0 && again.stdout == "started\ndone\n", again.summary)
    }

    /// Patching through a symlink patches its target; the link stays a link, and the target
    /// keeps its mode.
    func testSymlinkStaysSymlink() throws {
        let box = try Sandbox("symlink")
        let subject = try Manifest.subject("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        chmod(exe.path, 0o750)
        let link = exe.deletingLastPathComponent().appendingPathComponent("hello-link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "hello")
        guard try patch(["--set-rpath", "$ORIGIN/lib"], link, "symlink", checkOutput: false) else { return }
        let dest = try? FileManager.default.destinationOfSymbolicLink(atPath: link.path)
        XCTAssertEqual(dest, "hello", "the symlink was replaced by a regular file")
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"], "the symlink's target was not patched")
        try assertCleanOutput(exe, "symlink target")
        let mode = (try FileManager.default.attributesOfItem(atPath: exe.path)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o750, "the target's mode was not kept")
        try assertRuns(link, like: subject, "run through the symlink")
    }

    /// A hard-linked file: patched in place semantics are not required, but the other name must
    /// still be a valid, runnable program (either old or new content).
    func testHardLinkOtherNameStillRuns() throws {
        let box = try Sandbox("hardlink")
        let subject = try Manifest.subject("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let other = exe.deletingLastPathComponent().appendingPathComponent("hello-hard")
        try FileManager.default.linkItem(at: exe, to: other)
        guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, "hard link") else { return }
        try assertRuns(exe, like: subject, "patched name")
        try assertCleanOutput(other, "other hard-linked name")
    }
}
