import Foundation
import Testing

/// `swelf autopatch --dry-run` as a user runs it, on a tree gcc builds here: the plan's
/// lines and summary, the exit status for a missing library, and that nothing is written
/// (the files' bytes compared before and after). Expected run paths come from the layout.
@Suite struct AutopatchCommandTests {
    /// t/bin/app and t/libexec/plugins/helper need t/lib/libfoo.so.1; t/bin/wrap is a script.
    static func tree(_ scratch: ScratchDirectory) throws {
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
            let result = try ChildProcess.run("gcc", arguments)
            try #require(result.status == 0, "gcc: \(result.stderr)")
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
    /// library; ignored by pattern: exit 0. Without --dry-run: a usage error, for now.
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
        let usage = try Swelf.run(["autopatch", bin])
        #expect(usage.status == 64)
    }
}
