import Foundation
import Testing

/// `swelf autopatch`'s auto-patchelf.py flags on the command line: `--extra-args` takes
/// every argument after it and maps patchelf's edit qualifiers (readelf is the oracle
/// for what was written; the program still runs), refuses the others with one usage
/// line naming the option; `--ignore-existing` and `--keep-libc` reach the planner.
@Suite struct AutopatchFlagCommandTests {
    static func readelfDynamic(_ path: String) throws -> String {
        try ChildProcess.run("readelf", ["-dW", path]).stdout
    }

    /// --force-rpath and --no-default-lib: DT_RPATH (no DT_RUNPATH) and DF_1_NODEFLIB
    /// written; --page-size and --no-sort accepted. The loader now searches no default
    /// directory for app's libraries, so libc is found only because --keep-libc wrote its
    /// directory: the program runs. A second run with the same flags rewrites nothing.
    @Test func extraArgumentsAreAppliedToEveryEdit() throws {
        let scratch = try ScratchDirectory("autopatch-extra-args")
        try AutopatchCommandTests.tree(scratch)
        let flags = ["--keep-libc", "--extra-args", "--force-rpath", "--no-default-lib", "--page-size", "65536", "--no-sort"]
        let first = try Swelf.run(["autopatch", scratch.path("t")] + flags)
        #expect(first.status == 0, "\(first.stderr)")
        // All three ELF files change: libfoo has no run path to write, but DF_1_NODEFLIB.
        #expect(first.stdout.hasSuffix("3 ELF files: 3 changed, 0 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(first.stdout)")
        let app = try Self.readelfDynamic(scratch.path("t/bin/app"))
        #expect(app.contains("(RPATH)") && app.contains("[$ORIGIN/../lib:/") && !app.contains("(RUNPATH)"), "\(app)")
        #expect(app.contains("NODEFLIB"), "\(app)")
        #expect(try Self.readelfDynamic(scratch.path("t/lib/libfoo.so.1")).contains("NODEFLIB"))
        let run = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=", scratch.path("t/bin/app")])
        #expect(run.status == 0 && run.stdout == "foo\n", "\(run.stderr)")
        let second = try Swelf.run(["autopatch", scratch.path("t")] + flags)
        #expect(second.stdout.hasSuffix("3 ELF files: 0 changed, 3 unchanged, 0 skipped, 0 missing; 1 other file\n"), "\(second.stdout)")
    }

    /// Everything after --extra-args is patchelf's: a swelf option there is refused as a
    /// patchelf option (so it was taken as one), as is any patchelf operation; exit 64 and
    /// one line naming it; nothing written.
    @Test(arguments: [
        (["--set-soname", "x"], "--extra-args --set-soname: not supported"),
        (["--force-rpath", "--dry-run"], "--extra-args --dry-run: not supported"),
        (["--page-size", "3000"], "--extra-args --page-size 3000: expected a power of two"),
        (["--page-size"], "--extra-args --page-size: a value is needed"),
    ])
    func unsupportedExtraArgumentsAreUsageErrors(extra: [String], message: String) throws {
        let scratch = try ScratchDirectory("autopatch-extra-refused")
        try AutopatchCommandTests.tree(scratch)
        let before = try Data(contentsOf: URL(fileURLWithPath: scratch.path("t/bin/app")))
        let result = try Swelf.run(["autopatch", scratch.path("t"), "--extra-args"] + extra)
        #expect(result.status == 64)
        #expect(result.stderr.split(separator: "\n").first.map { $0.contains(message) } == true, "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("t/bin/app"))) == before)
    }

    /// --ignore-existing: the tree's libfoo is no provider (exit 1, the need missing);
    /// with its directory in --libs it is written absolute. --keep-libc: the libc
    /// directory joins the run path.
    @Test func ignoreExistingAndKeepLibc() throws {
        let scratch = try ScratchDirectory("autopatch-ignore-existing")
        try AutopatchCommandTests.tree(scratch)
        let lib = scratch.path("t/lib")
        let alone = try Swelf.run(["autopatch", "--dry-run", "--ignore-existing", scratch.path("t")])
        #expect(alone.status == 1 && alone.stderr.contains("app: libfoo.so.1: not found"), "\(alone.stderr)")
        let withLibs = try Swelf.run(["autopatch", "--dry-run", "--ignore-existing", "--libs", lib, scratch.path("t")])
        #expect(withLibs.status == 0 && withLibs.stdout.contains("-> \"\(lib)\""), "\(withLibs.stdout)")
        let libc = try Swelf.run(["autopatch", "--dry-run", "--keep-libc", scratch.path("t")])
        #expect(libc.status == 0 && libc.stdout.contains("-> \"$ORIGIN/../lib:/"), "\(libc.stdout)")
    }
}
