import Foundation
import Testing

/// `swelf autopatch --dry-run` as a user runs it, on a tree gcc builds here: the plan's
/// lines and summary, the exit status for a missing library, and that nothing is written
/// (the files' bytes compared before and after). Expected run paths come from the layout.
@Suite struct AutopatchCommandTests {
    /// t/bin/app and t/libexec/plugins/helper need t/lib/libfoo.so.1; t/bin/wrap is a script.
    /// `compiler`: gcc, or a cross compiler (aarch64-linux-gnu-gcc).
    static func tree(_ scratch: ScratchDirectory, compiler: String = "gcc") throws {
        for directory in ["src", "t/bin", "t/lib", "t/libexec/plugins"] {
            try FileManager.default.createDirectory(atPath: scratch.path(directory), withIntermediateDirectories: true)
        }
        try "const char *foo(void) { return \"foo\"; }\n".write(toFile: scratch.path("src/foo.c"), atomically: true, encoding: .utf8)
        try "#include <stdio.h>\nconst char *foo(void);\nint main(void) { puts(foo()); return 0; }\n"
            .write(toFile: scratch.path("src/app.c"), atomically: true, encoding: .utf8)
        try "#!/bin/sh\nexec \"$(dirname \"$0\")/app\"\n".write(toFile: scratch.path("t/bin/wrap"), atomically: true, encoding: .utf8)
        for arguments in [["-shared", "-fPIC", "-o", scratch.path("t/lib/libfoo.so.1"), scratch.path("src/foo.c"), "-Wl,-soname,libfoo.so.1"],
                          ["-o", scratch.path("t/bin/app"), scratch.path("src/app.c"), "-L" + scratch.path("t/lib"), "-l:libfoo.so.1"],
                          ["-o", scratch.path("t/libexec/plugins/helper"), scratch.path("src/app.c"), "-L" + scratch.path("t/lib"), "-l:libfoo.so.1"]] {
            let result = try ChildProcess.run(compiler, arguments)
            try #require(result.status == 0, "\(compiler): \(result.stderr)")
        }
    }

    @Test func dryRunPrintsThePlanAndWritesNothing() throws {
        let scratch = try ScratchDirectory("autopatch-dry-run")
        try Self.tree(scratch)
        let files = ["t/bin/app", "t/libexec/plugins/helper", "t/lib/libfoo.so.1"]
        let before = try files.map { try Data(contentsOf: URL(fileURLWithPath: scratch.path($0))) }
        let result = try Swelf.run(["autopatch", "--dry-run", scratch.path("t")])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix(scratch.path("t/bin/app") + ":") && $0.hasSuffix("-> \"$ORIGIN/../lib\"") }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix(scratch.path("t/libexec/plugins/helper") + ":") && $0.hasSuffix("-> \"$ORIGIN/../../lib\"") },
                "\(result.stdout)")
        #expect(lines.last == "3 ELF files: 2 to change, 1 unchanged, 0 skipped, 0 missing; 1 other file")
        let after = try files.map { try Data(contentsOf: URL(fileURLWithPath: scratch.path($0))) }
        #expect(before == after)
    }

    /// A library the tree does not hold: exit 1 with one line naming the file and the
    /// library; ignored by pattern: exit 0. No path: a usage error.
    @Test func missingLibraryAndUsage() throws {
        let scratch = try ScratchDirectory("autopatch-missing")
        try Self.tree(scratch)
        let bin = scratch.path("t/bin")
        let missing = try Swelf.run(["autopatch", "--dry-run", bin])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("swelf: \(bin)/app: libfoo.so.1: not found (tree, --libs, system)"), "\(missing.stderr)")
        let ignored = try Swelf.run(["autopatch", "--dry-run", "--ignore-missing", "libfoo*", bin])
        #expect(ignored.status == 0, "\(ignored.stderr)")
        let withLibs = try Swelf.run(["autopatch", "--dry-run", "--libs", scratch.path("t/lib"), bin])
        #expect(withLibs.stdout.contains("-> \"\(scratch.path("t/lib"))\""), "\(withLibs.stdout)")
        let usage = try Swelf.run(["autopatch", "--dry-run"])
        #expect(usage.status == 64)
    }

    /// auto-patchelf.py's own command line: with --paths, each list option takes the plain
    /// values after it, none included (`--libs` right before another option).
    @Test func autoPatchelfStyleLists() throws {
        let scratch = try ScratchDirectory("autopatch-lists")
        try Self.tree(scratch)
        let result = try Swelf.run(["autopatch", "--dry-run", "--libs", "--paths", scratch.path("t/bin"),
                                    scratch.path("t/libexec"), "--libs", scratch.path("t/lib"), "/nonexistent-dir",
                                    "--runtime-dependencies", "/opt/dlopen", "--append-rpaths", "/opt/a", "/opt/b",
                                    "--ignore-missing"])
        #expect(result.status == 0, "\(result.stderr)")
        let lib = scratch.path("t/lib")
        #expect(result.stdout.contains("\(scratch.path("t/bin/app")): interpreter"), "\(result.stdout)")
        #expect(result.stdout.contains("-> \"/opt/dlopen:\(lib):/opt/a:/opt/b\""), "\(result.stdout)")
        let stray = try Swelf.run(["autopatch", "--dry-run", "stray", "--paths", scratch.path("t")])
        #expect(stray.status == 64 && stray.stderr.contains("'stray' follows no list option"), "\(stray.stderr)")
    }

    /// The inode and bytes of `path`: a rewrite replaces the file (a new inode).
    static func identity(_ path: String) throws -> (inode: UInt64, bytes: Data) {
        var status = stat()
        try #require(stat(path, &status) == 0)
        return (UInt64(status.st_ino), try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// What says a file was left alone: its inode (a rewrite makes a new one), its
    /// modification time to the nanosecond, its mode and its bytes.
    struct FileState: Equatable, CustomStringConvertible {
        let inode: UInt64
        let mtime: Int
        let mode: UInt32
        let bytes: Data
        var description: String { "inode \(inode), mtime \(mtime), mode \(String(mode, radix: 8)), \(bytes.count) bytes" }
    }

    /// Every regular file under `root` (links not followed, FIFOs never opened), by path
    /// relative to `root`.
    static func snapshot(_ root: String) throws -> [String: FileState] {
        var states: [String: FileState] = [:]
        func visit(_ relative: String) throws {
            let path = relative.isEmpty ? root : root + "/" + relative
            var status = stat()
            try #require(lstat(path, &status) == 0, "lstat \(path)")
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                for name in try FileManager.default.contentsOfDirectory(atPath: path).sorted() {
                    try visit(relative.isEmpty ? name : relative + "/" + name)
                }
            case S_IFREG:
                states[relative] = FileState(inode: UInt64(status.st_ino), mtime: status.st_mtim.tv_sec * 1_000_000_000 + status.st_mtim.tv_nsec,
                                             mode: status.st_mode & 0o7777, bytes: try Data(contentsOf: URL(fileURLWithPath: path)))
            default:
                break
            }
        }
        try visit("")
        return states
    }

    /// Runs swelf as a user who may not write a 0444 file: as root (CI), the tree is given
    /// to nobody (uid 65534) and swelf runs as nobody through setpriv, since root may write
    /// any file; as anyone else, as that user. `environment` is added to the child's.
    static func runAsOwner(_ tree: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        let swelf = try #require(Swelf.path, "swelf is not built")
        guard geteuid() == 0 else { return try ChildProcess.run(swelf, arguments, environment: environment) }
        let chown = try ChildProcess.run("/bin/chown", ["-R", "65534:65534", tree])
        try #require(chown.status == 0, "chown: \(chown.stderr)")
        return try ChildProcess.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", swelf] + arguments,
                                    environment: environment)
    }

    /// The stderr lines that contain `text`.
    static func lines(_ stderr: String, naming text: String) -> [Substring] {
        stderr.split(separator: "\n").filter { $0.contains(text) }
    }

    /// Patched, then moved elsewhere, each program runs with an empty LD_LIBRARY_PATH and
    /// prints its text (the loader is the oracle); a second run rewrites nothing. aarch64:
    /// built with the cross compiler, planned with --root SYSROOT, run under qemu-user with
    /// -L SYSROOT (skipped with a note when either is missing: scripts/install-test-deps).
    @Test(arguments: [("gcc", nil), ("aarch64-linux-gnu-gcc", "/usr/aarch64-linux-gnu")] as [(String, String?)])
    func patchedTreeRunsAfterAMoveAndASecondRunChangesNothing(compiler: String, sysroot: String?) throws {
        let qemu = "/usr/bin/qemu-aarch64-static"
        if let sysroot {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/\(compiler)"), FileManager.default.isExecutableFile(atPath: qemu),
                  FileManager.default.fileExists(atPath: sysroot + "/lib") else {
                Issue.record("\(compiler), \(qemu) or \(sysroot) missing: run scripts/install-test-deps")
                return
            }
        }
        let scratch = try ScratchDirectory("autopatch-write")
        try Self.tree(scratch, compiler: compiler)
        let root = sysroot.map { ["--root", $0] } ?? []
        let first = try Swelf.run(["autopatch"] + root + [scratch.path("t")])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.hasSuffix("3 ELF files: 2 changed, 1 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(first.stdout)")
        try FileManager.default.moveItem(atPath: scratch.path("t"), toPath: scratch.path("moved"))
        for program in ["moved/bin/app", "moved/libexec/plugins/helper"] {
            let command = sysroot.map { [qemu, "-L", $0] } ?? []
            let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH"] + command + [scratch.path(program)])
            #expect(run.status == 0 && run.stdout == "foo\n", "\(program): \(run.stderr)")
        }
        // The second run: every file keeps its inode, its mtime (to the nanosecond) and its
        // bytes: nothing was rewritten, not even with the same content.
        let before = try Self.snapshot(scratch.path("moved"))
        #expect(before.count == 4, "\(before.keys.sorted())")
        let second = try Swelf.run(["autopatch"] + root + [scratch.path("moved")])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.hasSuffix("3 ELF files: 0 changed, 3 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(second.stdout)")
        #expect(try Self.snapshot(scratch.path("moved")) == before)
    }

    /// A truncated ELF file in the tree: one line naming it, exit 1, and no other file
    /// written; with --keep-going the others are written and the exit status is still 1.
    @Test func aBrokenFileStopsEveryWriteUnlessKeepGoing() throws {
        let scratch = try ScratchDirectory("autopatch-broken")
        try Self.tree(scratch)
        let library = try Data(contentsOf: URL(fileURLWithPath: scratch.path("t/lib/libfoo.so.1")))
        try library.prefix(100).write(to: URL(fileURLWithPath: scratch.path("t/lib/libbroken.so")))
        let before = try Self.identity(scratch.path("t/bin/app"))
        let stopped = try Swelf.run(["autopatch", scratch.path("t")])
        #expect(stopped.status == 1)
        #expect(stopped.stderr.split(separator: "\n").filter { $0.contains("libbroken.so") }.count == 1, "\(stopped.stderr)")
        let untouched = try Self.identity(scratch.path("t/bin/app"))
        #expect(untouched.inode == before.inode && untouched.bytes == before.bytes)
        let going = try Swelf.run(["autopatch", "--keep-going", scratch.path("t")])
        #expect(going.status == 1)
        let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", scratch.path("t/bin/app")])
        #expect(run.status == 0 && run.stdout == "foo\n", "\(run.stderr)")
    }

    /// The issue's bad input, around the gcc tree: a truncated ELF file (the magic, then
    /// cut at 200 bytes), a FIFO, a link to itself, a link to a directory out of the tree,
    /// and a program of mode 0444 (its user may not write it: run as nobody when root).
    /// Each gets exactly one stderr line naming it and nothing else is printed there; the
    /// exit status is 1. Without --keep-going every file keeps its inode, mtime and bytes
    /// (the read-only file is named too: the files due a change are checked even when the
    /// run writes nothing); with it the good programs are patched (readelf and running them
    /// say so) and the bad files are untouched; --allow-read-only then writes the 0444
    /// file, which keeps its mode.
    @Test func badInputGetsOneLineEachAndHarmsNothing() throws {
        let scratch = try ScratchDirectory("autopatch-bad-input")
        try Self.tree(scratch)
        let t = scratch.path("t")
        let library = try Data(contentsOf: URL(fileURLWithPath: t + "/lib/libfoo.so.1"))
        try library.prefix(200).write(to: URL(fileURLWithPath: t + "/lib/libtrunc.so"))
        try #require(mkfifo(t + "/lib/pipe", 0o644) == 0)
        try #require(symlink("loop", t + "/lib/loop") == 0)
        try FileManager.default.createDirectory(atPath: scratch.path("outside"), withIntermediateDirectories: true)
        try library.write(to: URL(fileURLWithPath: scratch.path("outside/libfoo.so.1")))
        try #require(symlink("../../outside", t + "/lib/outside") == 0)
        try FileManager.default.copyItem(atPath: t + "/bin/app", toPath: t + "/bin/ro")
        try #require(chmod(t + "/bin/ro", 0o444) == 0)
        let bad = ["lib/libtrunc.so", "lib/pipe", "lib/loop", "lib/outside", "bin/ro"]
        func expectOneLineEach(_ result: ProcessResult, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.status == 1, "\(result.stderr)", sourceLocation: sourceLocation)
            for name in bad {
                #expect(Self.lines(result.stderr, naming: "\(t)/\(name)").count == 1, "\(name): \(result.stderr)", sourceLocation: sourceLocation)
            }
            #expect(result.stderr.split(separator: "\n").count == bad.count, "\(result.stderr)", sourceLocation: sourceLocation)
        }

        let before = try Self.snapshot(t)
        let stopped = try Self.runAsOwner(t, ["autopatch", t])
        expectOneLineEach(stopped)
        #expect(Self.lines(stopped.stderr, naming: "\(t)/bin/ro").first?.contains("for writing") == true, "\(stopped.stderr)")
        #expect(stopped.stdout.hasSuffix("4 ELF files: 0 changed, 1 unchanged, 0 skipped, 0 missing, 1 failed, 2 not written; 2 other files\n"),
                "\(stopped.stdout)")
        #expect(try Self.snapshot(t) == before)

        let going = try Self.runAsOwner(t, ["autopatch", "--keep-going", t])
        expectOneLineEach(going)
        #expect(going.stdout.hasSuffix("4 ELF files: 2 changed, 1 unchanged, 0 skipped, 0 missing, 1 failed, 0 not written; 2 other files\n"),
                "\(going.stdout)")
        let after = try Self.snapshot(t)
        for name in ["lib/libtrunc.so", "bin/ro", "lib/libfoo.so.1", "bin/wrap"] {
            #expect(after[name] == before[name], "\(name) was touched")
        }
        for (program, runPath) in [("bin/app", "$ORIGIN/../lib"), ("libexec/plugins/helper", "$ORIGIN/../../lib")] {
            #expect(after[program] != before[program])
            #expect(try ReadelfFacts(path: "\(t)/\(program)").runpath == runPath)
            let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "\(t)/\(program)"])
            #expect(run.status == 0 && run.stdout == "foo\n", "\(program): \(run.stderr)")
        }

        let allowed = try Self.runAsOwner(t, ["autopatch", "--keep-going", "--allow-read-only", t])
        #expect(allowed.status == 1 && Self.lines(allowed.stderr, naming: "\(t)/bin/ro").isEmpty, "\(allowed.stderr)")
        #expect(try ReadelfFacts(path: "\(t)/bin/ro").runpath == "$ORIGIN/../lib")
        #expect(try Self.snapshot(t)["bin/ro"]?.mode == 0o444)
    }

    /// Links inside the tree: a directory link (lib64 -> lib, bin/libs -> ../lib), a
    /// directory link back up (lib/again -> ..), a hard link and a symbolic link of the
    /// program, and a library whose only soname-named entry is a hard link. Each file is
    /// planned once, under its first real name (the JSON's files), the hard link's name
    /// makes the library a provider, and after the write both names of the program are
    /// one new inode (the hard link relinked), which runs; the unchanged library's two
    /// names keep their inode.
    @Test func linkedNamesArePlannedAndWrittenOnce() throws {
        let scratch = try ScratchDirectory("autopatch-links")
        try Self.tree(scratch)
        let t = scratch.path("t")
        try #require(rename(t + "/lib/libfoo.so.1", t + "/lib/libfoo-impl.so") == 0)
        try #require(link(t + "/lib/libfoo-impl.so", t + "/lib/libfoo.so.1") == 0)
        try #require(link(t + "/bin/app", t + "/bin/app-hard") == 0)
        try #require(symlink("app", t + "/bin/app-sym") == 0)
        try #require(symlink("../lib", t + "/bin/libs") == 0)
        try #require(symlink("lib", t + "/lib64") == 0)
        try #require(symlink("..", t + "/lib/again") == 0)

        let planned = try Swelf.run(["autopatch", "--json", "--dry-run", t])
        #expect(planned.status == 0 && planned.stderr.isEmpty, "\(planned.stderr)")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(planned.stdout.utf8)) as? [String: Any])
        let files = (document["files"] as? [[String: Any]] ?? []).compactMap { $0["file"] as? String }
        #expect(files == ["bin/app", "lib/libfoo-impl.so", "libexec/plugins/helper"].map { "\(t)/\($0)" }, "\(files)")
        let app = (document["files"] as? [[String: Any]])?.first { $0["file"] as? String == "\(t)/bin/app" }
        let need = (app?["needs"] as? [[String: Any]])?.first { $0["name"] as? String == "libfoo.so.1" }
        #expect(need?["rule"] as? String == "tree" && app?["runpath_after"] as? String == "$ORIGIN/../lib", "\(String(describing: app))")

        let before = try Self.snapshot(t)
        let written = try Swelf.run(["autopatch", t])
        #expect(written.status == 0 && written.stderr.isEmpty, "\(written.stderr)")
        #expect(written.stdout.hasSuffix("3 ELF files: 2 changed, 1 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(written.stdout)")
        let after = try Self.snapshot(t)
        #expect(after["bin/app"]?.inode == after["bin/app-hard"]?.inode && after["bin/app"]?.inode != before["bin/app"]?.inode)
        #expect(after["lib/libfoo.so.1"] == before["lib/libfoo.so.1"] && after["lib/libfoo-impl.so"] == before["lib/libfoo-impl.so"])
        for program in ["bin/app", "bin/app-hard", "bin/app-sym", "lib64/../libexec/plugins/helper"] {
            let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "\(t)/\(program)"])
            #expect(run.status == 0 && run.stdout == "foo\n", "\(program): \(run.stderr)")
        }
        let again = try Swelf.run(["autopatch", t])
        #expect(again.stdout.hasSuffix("3 ELF files: 0 changed, 3 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(again.stdout)")
        #expect(try Self.snapshot(t) == after)
    }

    /// A tree of 20 programs written in chunks of 4 (SWELF_CHUNK, the test hook)
    /// where the 15th, p15, may not be written (mode 0444, swelf run as its owner): without
    /// --keep-going no file changes, although chunks 1 to 3 precede the failure (every
    /// file is checked before the first chunk is written); with it the 19 others are
    /// written and the summary and JSON count the failed one.
    @Test func aFailureInALaterChunkLeavesEveryFileUntouched() throws {
        let scratch = try ScratchDirectory("autopatch-chunks")
        try Self.tree(scratch)
        let t = scratch.path("t")
        for name in ["bin/wrap", "libexec/plugins/helper"] { try FileManager.default.removeItem(atPath: "\(t)/\(name)") }
        for index in 1 ... 20 {
            try FileManager.default.copyItem(atPath: t + "/bin/app", toPath: t + String(format: "/bin/p%02d", index))
        }
        try FileManager.default.removeItem(atPath: t + "/bin/app")
        try #require(chmod(t + "/bin/p15", 0o444) == 0)
        let chunked = ["SWELF_CHUNK": "4"]
        let before = try Self.snapshot(t)
        let stopped = try Self.runAsOwner(t, ["autopatch", "-j", "2", t], environment: chunked)
        #expect(stopped.status == 1)
        #expect(Self.lines(stopped.stderr, naming: "\(t)/bin/p15").count == 1 && stopped.stderr.split(separator: "\n").count == 1,
                "\(stopped.stderr)")
        #expect(stopped.stdout.hasSuffix("21 ELF files: 0 changed, 1 unchanged, 0 skipped, 0 missing, 1 failed, 19 not written; 0 other files\n"),
                "\(stopped.stdout)")
        #expect(try Self.snapshot(t) == before)

        let going = try Self.runAsOwner(t, ["autopatch", "--json", "--keep-going", t], environment: chunked)
        #expect(going.status == 1)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(going.stdout.utf8)) as? [String: Any])
        let summary = document["summary"] as? [String: Any]
        #expect(summary?["changed"] as? Int == 19 && summary?["failed"] as? Int == 1 && summary?["not_written"] as? Int == 0, "\(going.stdout)")
        let p15 = (document["files"] as? [[String: Any]])?.first { $0["file"] as? String == "\(t)/bin/p15" }
        #expect(p15?["changed"] as? Bool == false && p15?["ok"] as? Bool == false && (p15?["error"] as? String)?.contains("for writing") == true)
        let after = try Self.snapshot(t)
        #expect(after["bin/p15"] == before["bin/p15"])
        for index in [1, 14, 16, 20] {
            let program = t + String(format: "/bin/p%02d", index)
            #expect(try ReadelfFacts(path: program).runpath == "$ORIGIN/../lib")
            let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", program])
            #expect(run.status == 0 && run.stdout == "foo\n", "\(program): \(run.stderr)")
        }
    }
}
