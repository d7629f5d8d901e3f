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
        let before = try ["moved/bin/app", "moved/libexec/plugins/helper"].map { try Self.identity(scratch.path($0)) }
        let second = try Swelf.run(["autopatch"] + root + [scratch.path("moved")])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.hasSuffix("3 ELF files: 0 changed, 3 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(second.stdout)")
        let after = try ["moved/bin/app", "moved/libexec/plugins/helper"].map { try Self.identity(scratch.path($0)) }
        #expect(before.map(\.inode) == after.map(\.inode) && before.map(\.bytes) == after.map(\.bytes))
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
}
