import Foundation
import XCTest

/// Items 1–11 of the end-to-end plan, for every architecture in TestBinaries: patch a real
/// program or library, then RUN it (natively or under qemu-user with -L SYSROOT only, never
/// LD_LIBRARY_PATH). Every output also passes readelf without warnings and `swelf verify`.
/// The zig-built architectures (E2E.toolJudgedArchitectures: aarch64_be, armeb, loongarch64)
/// cannot run their dynamic programs here: `assertRuns` judges those by readelf -a and
/// eu-elflint, and the checks of a loader's own behaviour are left to the runnable ones.
final class PerArchitectureTests: EndToEndTestCase {
    static let origin = "$ORIGIN/lib"
    static let architectures = E2E.architectures + E2E.toolJudgedArchitectures

    /// `$ORIGIN/../x0:$ORIGIN/lib1:…:$ORIGIN/../ppp…:$ORIGIN/lib`, exactly `length` characters.
    static func rpath(ofLength length: Int) -> String {
        var parts: [String] = []
        while (parts + [origin]).joined(separator: ":").count < length - 40 {
            parts.append(parts.count % 2 == 0 ? "$ORIGIN/../x\(parts.count)" : "$ORIGIN/lib\(parts.count)")
        }
        let used = (parts + ["$ORIGIN/../", origin]).joined(separator: ":").count
        parts.append("$ORIGIN/../" + String(repeating: "p", count: length - used))
        return (parts + [origin]).joined(separator: ":")
    }

    static let bothHellos = ["hello", "hello-noshdr"]

    /// 1. Libraries in lib/, `--set-rpath '$ORIGIN/lib'` → runs. Same on hello-noshdr.
    func testSetRpathOriginRuns() throws {
        forEachStaged(try ScratchDirectory("setrpath"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = staged.name
            // Without an rpath the loader cannot find libgreet: the patch is what makes it run.
            if staged.subject.isRunnable {
                let before = try runProgram(staged.program, like: staged.subject)
                XCTAssertNotEqual(before.status, 0, "[\(ctx)] runs before patching?\n\(before.summary)")
            }
            guard try patch(["--set-rpath", Self.origin], staged.program, ctx) else { return }
            XCTAssertEqual(try dynamicValue(staged.program, tag: "RUNPATH"), [Self.origin], "[\(ctx)]")
            try assertRuns(staged.program, like: staged.subject, ctx)
        }
    }

    /// 2. A 300-character rpath → runs; readelf -d shows RUNPATH equal to it.
    func testLongRpath() throws {
        let long = Self.rpath(ofLength: 300)
        XCTAssertEqual(long.count, 300)
        forEachStaged(try ScratchDirectory("longrpath"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) long rpath (\(long.count) chars)"
            guard try patch(["--set-rpath", long], staged.program, ctx) else { return }
            XCTAssertEqual(try dynamicValue(staged.program, tag: "RUNPATH"), [long], "[\(ctx)]")
            try assertRuns(staged.program, like: staged.subject, ctx)
        }
    }

    /// 3. `--force-rpath --set-rpath` → DT_RPATH, no DT_RUNPATH; runs.
    func testForceRpath() throws {
        forEachStaged(try ScratchDirectory("forcerpath"), architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --force-rpath"
            guard try patch(["--force-rpath", "--set-rpath", Self.origin], staged.program, ctx) else { return }
            XCTAssertEqual(try dynamicValue(staged.program, tag: "RPATH"), [Self.origin], "[\(ctx)]")
            XCTAssertEqual(try dynamicValue(staged.program, tag: "RUNPATH"), [], "[\(ctx)]")
            try assertRuns(staged.program, like: staged.subject, ctx)
        }
    }

    /// 4. After set-rpath, `--remove-rpath` → libgreet is no longer found.
    func testRemoveRpath() throws {
        forEachStaged(try ScratchDirectory("removerpath"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --remove-rpath"
            guard try patch(["--set-rpath", Self.origin], staged.program, ctx) else { return }
            try assertRuns(staged.program, like: staged.subject, ctx + " (before removal)")
            guard try patch(["--remove-rpath"], staged.program, ctx) else { return }
            XCTAssertEqual(try dynamicValue(staged.program, tag: "RUNPATH") + dynamicValue(staged.program, tag: "RPATH"), [], "[\(ctx)]")
            guard staged.subject.isRunnable else { return try assertJudged(staged.program, like: staged.subject, ctx) }
            let r = try runProgram(staged.program, like: staged.subject)
            XCTAssertTrue(r.status != 0 && r.stderr.contains("cannot open shared object"),
                          "[\(ctx)] expected a loader failure:\n\(r.summary)")
        }
    }

    /// 5. `--add-needed libctor.so` → the constructor runs first.
    func testAddNeeded() throws {
        forEachStaged(try ScratchDirectory("addneeded"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --add-needed"
            guard try patch(["--set-rpath", Self.origin, "--add-needed", "libctor.so"], staged.program, ctx) else { return }
            let needed = try dynamicValue(staged.program, tag: "NEEDED")
            XCTAssertTrue(needed.contains("libctor.so"), "[\(ctx)] NEEDED = \(needed)")
            guard staged.subject.isRunnable else { return try assertJudged(staged.program, like: staged.subject, ctx) }
            let r = try runProgram(staged.program, like: staged.subject)
            XCTAssertTrue(r.status == 0 && r.stdout.hasPrefix("libctor constructor ran\n")
                          && r.stdout.hasSuffix(staged.subject.expectedStdout), "[\(ctx)]\n\(r.summary)")
        }
    }

    /// 6. `--remove-needed libunused.so` → runs without it, even once the file is deleted.
    func testRemoveNeeded() throws {
        forEachStaged(try ScratchDirectory("removeneeded"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --remove-needed"
            guard try patch(["--set-rpath", Self.origin, "--remove-needed", "libunused.so"], staged.program, ctx) else { return }
            let needed = try dynamicValue(staged.program, tag: "NEEDED")
            XCTAssertFalse(needed.contains { $0.contains("libunused") }, "[\(ctx)] NEEDED = \(needed)")
            XCTAssertTrue(needed.contains("libgreet.so.1"), "[\(ctx)] NEEDED = \(needed)")
            try assertRuns(staged.program, like: staged.subject, ctx)
            try FileManager.default.removeItem(at: staged.lib.appendingPathComponent("libunused.so"))
            try assertRuns(staged.program, like: staged.subject, ctx + " (libunused.so deleted)")
        }
    }

    /// 7. `--replace-needed libgreet.so.1 libgreetalt.so.1` → the other library's greet() runs.
    func testReplaceNeeded() throws {
        forEachStaged(try ScratchDirectory("replaceneeded"), programs: Self.bothHellos, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --replace-needed"
            guard try patch(["--set-rpath", Self.origin, "--replace-needed", "libgreet.so.1", "libgreetalt.so.1"],
                            staged.program, ctx) else { return }
            let needed = try dynamicValue(staged.program, tag: "NEEDED")
            XCTAssertTrue(needed.contains("libgreetalt.so.1") && !needed.contains("libgreet.so.1"), "[\(ctx)] NEEDED = \(needed)")
            // Make sure libgreet really is out of the picture.
            try FileManager.default.removeItem(at: staged.lib.appendingPathComponent("libgreet.so.1"))
            try assertRuns(staged.program, like: staged.subject, expecting: "hello from libgreetalt\nhello main done\n", ctx)
        }
    }

    /// 8. `--set-soname libnew.so.7` on a libgreet copy → SONAME changes; hello still runs with it.
    func testSetSoname() throws {
        forEachStaged(try ScratchDirectory("soname"), architectures: Self.architectures) { staged in
            let ctx = "\(staged.arch)/libgreet.so.1 --set-soname"
            let library = staged.lib.appendingPathComponent("libgreet.so.1")
            guard try patch(["--set-soname", "libnew.so.7"], library, ctx) else { return }
            XCTAssertEqual(try dynamicValue(library, tag: "SONAME"), ["libnew.so.7"], "[\(ctx)]")
            guard try patch(["--set-rpath", Self.origin], staged.program, ctx) else { return }
            try assertRuns(staged.program, like: staged.subject, ctx + " (program using the patched library)")
        }
    }

    /// 9 and 10. `--set-interpreter` to a much longer path (a symlink to the real loader) → runs;
    /// then binutils `strip` of that output → still runs and `swelf verify` passes.
    ///
    /// Under qemu-user with -L, an interpreter path that does not exist inside the sysroot falls
    /// back to the host path, so a host symlink to SYSROOT/<loader> works for every arch.
    func testSetLongerInterpreterThenStrip() throws {
        try requireTool(E2E.strip)
        let box = try ScratchDirectory("interp")
        forEachStaged(box, architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --set-interpreter"
            let (exe, subject) = (staged.program, staged.subject)
            let printed = try swelf(["--print-interpreter", exe.path])
            XCTAssertEqual(printed.status, 0, "[\(ctx)] \(printed.summary)")
            let original = printed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(original, try interpreter(exe), "[\(ctx)] --print-interpreter disagrees with readelf")
            // (A program judged by tools has no sysroot: its link dangles, as nothing runs it.)
            let realLoader = subject.isNative || subject.sysroot == "-" ? original : subject.sysroot + original
            let linkDir = try box.dir("\(staged.arch)/some/much/longer/directory/path/for/the/program/interpreter")
            let link = linkDir.appendingPathComponent("ld.so")
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: realLoader)
            XCTAssertGreaterThan(link.path.count, original.count + 40)

            guard try patch(["--set-rpath", Self.origin, "--set-interpreter", link.path], exe, ctx) else { return }
            XCTAssertEqual(try interpreter(exe), link.path, "[\(ctx)]")
            try assertRuns(exe, like: subject, ctx)

            // 10. strip the patched output.
            if E2E.stripCannotRead(staged.arch) { return try assertStripCannotRead(subject, ctx + " + strip") }
            let stripped = staged.directory.appendingPathComponent("hello-stripped-after-patch")
            let s = try runTool(E2E.strip, ["-o", stripped.path, exe.path])
            XCTAssertTrue(s.status == 0 && s.stderr.isEmpty, "[\(ctx) + strip] strip complained:\n\(s.summary)")
            guard s.status == 0 else { return }
            XCTAssertEqual(try interpreter(stripped), link.path, "[\(ctx) + strip]")
            try assertCleanOutput(stripped, ctx + " + strip")
            if subject.isRunnable {
                try assertRuns(stripped, like: subject, ctx + " + strip")
            } else {
                try assertJudged(stripped, like: subject, ctx + " + strip")
            }
        }
    }

    /// 10 (bis). strip after the other growing edits too (rpath + needed), on the original
    /// interpreter: strip must understand swelf's layout.
    func testStripAfterRpathAndNeeded() throws {
        try requireTool(E2E.strip)
        forEachStaged(try ScratchDirectory("strip"), architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) set-rpath+add-needed then strip"
            guard try patch(["--set-rpath", Self.origin, "--add-needed", "libctor.so"], staged.program, ctx) else { return }
            if E2E.stripCannotRead(staged.arch) { return try assertStripCannotRead(staged.subject, ctx) }
            let s = try runTool(E2E.strip, [staged.program.path])
            XCTAssertTrue(s.status == 0 && s.stderr.isEmpty, "[\(ctx)] strip complained:\n\(s.summary)")
            try assertCleanOutput(staged.program, ctx)
            guard staged.subject.isRunnable else {
                return try assertJudged(staged.program, like: staged.subject, ctx)
            }
            try assertRuns(staged.program, like: staged.subject, expecting: "libctor constructor ran\n" + staged.subject.expectedStdout, ctx)
        }
    }

    /// needver: a program with symbol-version requirements still resolves VER_1/VER_2 after
    /// its dynamic section and string table move.
    func testNeedverAfterSetRpath() throws {
        forEachStaged(try ScratchDirectory("needver"), programs: ["needver"], libraries: ["libver.so.1"], architectures: Self.architectures) { staged in
            let ctx = "\(staged.name) --set-rpath"
            guard try patch(["--set-rpath", Self.origin], staged.program, ctx) else { return }
            try assertRuns(staged.program, like: staged.subject, ctx)
        }
    }
}
