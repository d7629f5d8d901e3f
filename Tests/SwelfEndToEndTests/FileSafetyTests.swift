import ELFKit
import Foundation
import XCTest

/// `lchown`: the owner of a symbolic link itself (Foundation has no call for it).
private func linkOwner(_ path: String, _ uid: uid_t) -> Int32 { lchown(path, uid, gid_t.max) }

/// What happens to the file on disk: failures leave it untouched, --output keeps the input,
/// a running executable can be patched, symlinks stay symlinks, the mode is kept.
final class FileSafetyTests: EndToEndTestCase {

    func directoryListing(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    /// `--set-interpreter` on a static binary fails with exit 1; the file is byte-identical and
    /// not rewritten, and no temporary file is left behind. Same for a file that is not ELF.
    func testRefusedEditLeavesInputUntouched() throws {
        let box = try ScratchDirectory("refused")
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
        try assertRuns(exe, like: try Subject.named("x86_64/static"), "static after refused edit")
    }

    /// A directory swelf may not write to: an error, the file unchanged, no temporary file.
    /// As root (which ignores directory modes) swelf runs as nobody through setpriv.
    func testReadOnlyDirectory() throws {
        let box = try ScratchDirectory("readonly")
        let dir = try box.dir("ro")
        let exe = try box.copy("x86_64/hello", into: dir)
        chmod(exe.path, 0o666)      // the file itself is writable: only the directory says no
        chmod(dir.path, 0o555)
        defer { chmod(dir.path, 0o755) }
        let before = try bytes(exe), listing = try directoryListing(dir)
        let args = ["--set-rpath", "$ORIGIN/lib", exe.path]
        let r: ProcessResult
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
        let box = try ScratchDirectory("output")
        let subject = try Subject.named("x86_64/hello")
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
        let box = try ScratchDirectory("running")
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

        let process = try ChildProcess(exe.path, ["1500"])
        // Wait until it has really started (its text is mapped) before patching.
        let deadline = Date().addingTimeInterval(10)
        while !process.stdoutSoFar.contains("started") && Date() < deadline { usleep(5_000) }
        XCTAssertTrue(process.isRunning, "sleeper exited too early")

        let r = try swelf(["--set-rpath", "$ORIGIN/lib", "--add-needed", "libm.so.6", exe.path])
        XCTAssertEqual(r.status, 0, "patching a running executable failed:\n\(r.summary)")
        let finished = process.wait(timeout: 60)
        XCTAssertEqual(finished.status, 0, finished.summary)
        XCTAssertEqual(finished.stdout, "started\ndone\n", "the running copy was disturbed")
        try assertCleanOutput(exe, "patched while running")
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"])
        let again = try runTool(exe.path, ["0"])
        XCTAssertTrue(again.status == 0 && again.stdout == "started\ndone\n", again.summary)
    }

    /// Patching through a symlink patches its target; the link stays a link, and the target
    /// keeps its mode.
    func testSymlinkStaysSymlink() throws {
        let box = try ScratchDirectory("symlink")
        let subject = try Subject.named("x86_64/hello")
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
        let box = try ScratchDirectory("hardlink")
        let (subject, exe, other) = try box.stageHardLinkedHello()
        guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, "hard link") else { return }
        try assertRuns(exe, like: subject, "patched name")
        try assertCleanOutput(other, "other hard-linked name")
    }

    // MARK: - Paths that cannot be turned (issue 17)

    /// The uid the attacks below plant their links as.
    static let nobody: uid_t = 65534

    func requireRoot(_ why: String) throws {
        guard geteuid() == 0 else {
            XCTFail("this test \(why) and needs root (CI runs as root)")
            throw XCTSkip("not root")
        }
    }

    /// As root: in a sticky world-writable directory (/tmp's mode, 1777), a symbolic link
    /// another user (nobody) planted, pointing at a root-only file, is never followed,
    /// whether it is `--output` or the file to edit: refused with a message naming the
    /// rule, the root-only file byte-identical, the link still a link. The same link owned
    /// by root, or by the directory's owner, or in a directory that is not sticky, is
    /// followed as before (the kernel's fs.protected_symlinks rule, applied whatever the
    /// sysctl says).
    func testPlantedSymlinkInStickyDirectoryIsNotFollowed() throws {
        try requireRoot("plants links as another user")
        let box = try ScratchDirectory("sticky")
        let input = try box.copy("x86_64/hello", into: box.url)
        // An ELF file, so that the edit in place gets as far as the write.
        let rootOnly = try box.copy("x86_64/hello", into: box.url, as: "root-only")
        XCTAssertEqual(chmod(rootOnly.path, 0o600), 0)
        let before = try bytes(rootOnly)
        let sticky = try box.dir("tmp")
        XCTAssertEqual(chmod(sticky.path, 0o1777), 0)

        let planted = sticky.appendingPathComponent("out")
        try FileManager.default.createSymbolicLink(atPath: planted.path, withDestinationPath: rootOnly.path)
        XCTAssertEqual(linkOwner(planted.path, Self.nobody), 0)
        for args in [["--set-rpath", "/x", "--output", planted.path, input.path], ["--set-rpath", "/x", planted.path]] {
            let r = try swelf(args)
            XCTAssertEqual(r.status, 1, "a planted link was followed: \(args)\n\(r.summary)")
            XCTAssertTrue(r.stderr.contains("protected_symlinks"), "the refusal does not give the reason:\n\(r.summary)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "expected one line:\n\(r.summary)")
            XCTAssertEqual(try bytes(rootOnly), before, "the root-only file was replaced through the planted link: \(args)")
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: planted.path), rootOnly.path, "the link was replaced")
        }
        XCTAssertEqual(try directoryListing(sticky), ["out"], "stray files left")

        // Followed: a link its follower (root) owns; a link the directory's owner owns;
        // a link in a directory that is not sticky.
        let nobodysSticky = try box.dir("nobodys-tmp")
        XCTAssertEqual(chmod(nobodysSticky.path, 0o1777), 0)
        XCTAssertEqual(chown(nobodysSticky.path, Self.nobody, gid_t.max), 0)
        let plain = try box.dir("plain")
        XCTAssertEqual(chmod(plain.path, 0o777), 0)
        for (directory, owner, tag) in [(sticky, uid_t(0), "root's link in a sticky directory"),
                                        (nobodysSticky, Self.nobody, "the directory owner's link"),
                                        (plain, Self.nobody, "nobody's link in a directory that is not sticky")] {
            let target = box.url.appendingPathComponent("target-\(directory.lastPathComponent)")
            try Data("old\n".utf8).write(to: target)
            XCTAssertEqual(chmod(target.path, 0o640), 0)
            let link = directory.appendingPathComponent("followed")
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: target.path)
            XCTAssertEqual(linkOwner(link.path, owner), 0)
            let r = try swelf(["--set-rpath", "/followed", "--output", link.path, input.path])
            XCTAssertEqual(r.status, 0, "[\(tag)] \(r.summary)")
            XCTAssertEqual(try dynamicValue(target, tag: "RUNPATH"), ["/followed"], "[\(tag)] the link's target was not written")
            XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: link.path), target.path, "[\(tag)] the link was replaced")
            let mode = (try FileManager.default.attributesOfItem(atPath: target.path)[.posixPermissions] as? NSNumber)?.intValue
            XCTAssertEqual(mode, 0o640, "[\(tag)] the target's mode was not kept")
        }
    }

    /// A file swapped for a symbolic link to a victim while swelf edits it: another thread
    /// swaps the file for a link to the victim and back, as fast as it can, while the
    /// library's entry point edits the file 10,000 times in this process. The victim is
    /// never touched: each edit either succeeds on the real file, or refuses the link, and
    /// a rename only ever replaces the name swelf resolved at the start. (Before, about one
    /// run in a thousand replaced the victim; patchelf has the same race.)
    func testFileSwappedForASymlinkDuringTheEditNeverReplacesTheVictim() throws {
        let box = try ScratchDirectory("swap")
        let directory = try box.dir("d")
        let file = try box.copy("x86_64/hello", into: directory, as: "f")
        let fresh = try bytes(file)
        let victim = box.url.appendingPathComponent("victim")
        try Data("the victim's content\n".utf8).write(to: victim)
        let victimBefore = try bytes(victim)
        let swapper = Swapper(directory: directory.path, victim: victim.path, fresh: Data(fresh))
        let thread = Thread { swapper.run() }
        thread.start()
        let rewriter = Rewriter(durable: false)
        var request = EditRequest()
        var succeeded = 0, refused = 0
        var reasons: [String: Int] = [:]
        let runs = 10_000
        let started = Date()
        for run in 0 ..< runs {
            request.runPath = .set(Array("/run\(run % 7)".utf8))
            do {
                _ = try rewriter.rewrite(path: file.path, request: request)
                succeeded += 1
            } catch {
                refused += 1
                let text = "\(error)"
                reasons[String(text.prefix(60)), default: 0] += 1
                // A refusal takes microseconds: without a pause, the loop would spend its
                // runs on the few moments the swapper (preempted on a loaded machine) leaves
                // the link in place.
                usleep(200)
            }
            if run % 500 == 0, (try? bytes(victim)) != victimBefore { break }
        }
        swapper.stop()
        while !swapper.finished { usleep(1_000) }
        let elapsed = Date().timeIntervalSince(started)
        print("swap race: \(runs) edits in \(String(format: "%.1f", elapsed)) s, \(succeeded) succeeded, \(refused) refused, \(swapper.swaps) swaps; refusals: \(reasons); swapper: \(swapper.failure ?? "ok")")
        var status = stat()
        XCTAssertEqual(lstat(victim.path, &status), 0)
        XCTAssertEqual(status.st_mode & S_IFMT, S_IFREG, "the victim is no longer a regular file")
        XCTAssertEqual(try bytes(victim), victimBefore, "the victim was replaced through the swapped-in link")
        XCTAssertGreaterThan(swapper.swaps, 100, "the swapper hardly ran: the race was not tried")
        XCTAssertGreaterThan(succeeded, runs / 10, "too few edits succeeded for the race to mean anything")
        XCTAssertEqual(try directoryListing(directory).filter { $0.hasPrefix(".swelf-") }, [], "temporary files left")
    }

    /// Swaps `directory/f` for a symbolic link to the victim and back to a fresh regular
    /// file, by rename, until stopped.
    final class Swapper: @unchecked Sendable {
        let directory: String, victim: String, fresh: Data
        private let lock = NSLock()
        private var stopping = false
        private(set) var finished = false
        private(set) var swaps = 0
        private(set) var failure: String?
        init(directory: String, victim: String, fresh: Data) {
            self.directory = directory
            self.victim = victim
            self.fresh = fresh
        }
        func stop() { lock.withLock { stopping = true } }
        func run() {
            let file = directory + "/f", link = directory + "/link", spare = directory + "/spare"
            // The file is a link for a moment between two renames and a regular file the
            // rest of the time (while the next spare copy is written): most edits start on
            // a regular file, and some of them meet the link on their way.
            while !lock.withLock({ stopping }) {
                guard FileManager.default.createFile(atPath: spare, contents: fresh), chmod(spare, 0o755) == 0 else { failure = "spare"; break }
                unlink(link)
                guard symlink(victim, link) == 0 else { failure = "symlink"; break }
                usleep(UInt32.random(in: 0 ... 2_000))
                guard rename(link, file) == 0 else { failure = "rename of the link: \(errno)"; break }
                guard rename(spare, file) == 0 else { failure = "rename of the spare: \(errno)"; break }
                swaps += 1
            }
            lock.withLock { finished = true }
        }
    }

    /// `--output` naming a dangling symbolic link writes the file the link names (as
    /// patchelf's open(O_CREAT) does, and as docs/design.md says: links are followed); the link
    /// stays a link. A link left dangling by a missing directory is an error, not a
    /// replaced link.
    func testOutputToADanglingSymlinkCreatesItsTarget() throws {
        let box = try ScratchDirectory("dangling")
        let subject = try Subject.named("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let directory = exe.deletingLastPathComponent()
        let link = directory.appendingPathComponent("out-link")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "made-by-swelf")
        let r = try swelf(["--set-rpath", "$ORIGIN/lib", "--output", link.path, exe.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: link.path), "made-by-swelf", "the dangling link was replaced")
        let made = directory.appendingPathComponent("made-by-swelf")
        XCTAssertEqual(try dynamicValue(made, tag: "RUNPATH"), ["$ORIGIN/lib"], "the link's target was not written")
        try assertRuns(link, like: subject, "run through the link")

        let nowhere = directory.appendingPathComponent("nowhere-link")
        try FileManager.default.createSymbolicLink(atPath: nowhere.path, withDestinationPath: "missing-directory/file")
        let failed = try swelf(["--set-rpath", "$ORIGIN/lib", "--output", nowhere.path, exe.path])
        XCTAssertEqual(failed.status, 1, failed.summary)
        XCTAssertTrue(failed.stderr.contains("No such file or directory"), failed.summary)
        XCTAssertEqual(try? FileManager.default.destinationOfSymbolicLink(atPath: nowhere.path), "missing-directory/file", "the link was replaced")
    }

    /// A file its own user made read-only (0555, as Nix store files are) is refused as
    /// patchelf refuses it ("Permission denied", exit 1, untouched, also for `--output`
    /// over a read-only file and as patchelf, in patchelf's words); `--allow-read-only`
    /// replaces it and keeps its mode. Root, who may write any file, edits it as before.
    /// As root, the user's runs go through setpriv as nobody.
    func testReadOnlyFileIsRefusedUnlessAllowed() throws {
        try requireRoot("runs swelf as another user")
        try requireTool("/usr/bin/setpriv", hint: "util-linux's setpriv is needed to drop root; run scripts/install-test-deps")
        let box = try ScratchDirectory("readonly-file")
        chmod(box.url.path, 0o755)
        let home = try box.dir("home")
        XCTAssertEqual(chown(home.path, Self.nobody, gid_t.max), 0)
        func asNobody(_ executable: String, _ arguments: [String]) throws -> ProcessResult {
            try runTool("/usr/bin/setpriv", ["--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups", executable] + arguments)
        }
        let file = try box.copy("x86_64/hello", into: home, as: "store-file")
        let input = try box.copy("x86_64/hello", into: home, as: "input")
        let readOnlyOutput = try box.copy("x86_64/hello", into: home, as: "read-only-output")
        for url in [file, input, readOnlyOutput] { XCTAssertEqual(chown(url.path, Self.nobody, Self.nobody), 0) }
        XCTAssertEqual(chmod(file.path, 0o555), 0)
        XCTAssertEqual(chmod(readOnlyOutput.path, 0o444), 0)
        let patchelf = box.url.appendingPathComponent("patchelf")
        try FileManager.default.createSymbolicLink(atPath: patchelf.path, withDestinationPath: E2E.swelf)
        let listing = try directoryListing(home)

        for (executable, args, tag) in [(E2E.swelf, ["--set-rpath", "/x", file.path], "in place"),
                                        (E2E.swelf, ["--set-rpath", "/x", "--output", readOnlyOutput.path, input.path], "--output"),
                                        (patchelf.path, ["--set-rpath", "/x", file.path], "as patchelf")] {
            let before = try bytes(file), outputBefore = try bytes(readOnlyOutput)
            let r = try asNobody(executable, args)
            XCTAssertEqual(r.status, 1, "[\(tag)] a read-only file was replaced:\n\(r.summary)")
            XCTAssertTrue(r.stderr.contains("Permission denied"), "[\(tag)] \(r.summary)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "[\(tag)] expected one line:\n\(r.summary)")
            XCTAssertEqual(try bytes(file), before, "[\(tag)] the read-only file changed")
            XCTAssertEqual(try bytes(readOnlyOutput), outputBefore, "[\(tag)] the read-only output changed")
            XCTAssertEqual(try directoryListing(home), listing, "[\(tag)] stray files")
            if tag == "as patchelf" { XCTAssertEqual(r.stderr, "patchelf: open: Permission denied\n", "patchelf's words") }
        }
        let allowed = try asNobody(E2E.swelf, ["--allow-read-only", "--set-rpath", "/allowed", file.path])
        XCTAssertEqual(allowed.status, 0, allowed.summary)
        XCTAssertEqual(try dynamicValue(file, tag: "RUNPATH"), ["/allowed"])
        var status = stat()
        XCTAssertEqual(stat(file.path, &status), 0)
        XCTAssertEqual(String(status.st_mode & 0o7777, radix: 8), "555", "the mode was not kept")
        XCTAssertEqual(status.st_uid, Self.nobody)
        let asPatchelf = try asNobody(patchelf.path, ["--allow-read-only", "--set-rpath", "/x", file.path])
        XCTAssertEqual(asPatchelf.status, 1, "patchelf has no --allow-read-only:\n\(asPatchelf.summary)")

        // Root may write the file, so root edits it, as patchelf run by root does.
        let rootsOwn = try box.copy("x86_64/hello", into: box.url, as: "roots-read-only")
        XCTAssertEqual(chmod(rootsOwn.path, 0o555), 0)
        let r = try swelf(["--set-rpath", "/root", rootsOwn.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try dynamicValue(rootsOwn, tag: "RUNPATH"), ["/root"])
    }
}
