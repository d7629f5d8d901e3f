import Foundation
import XCTest

/// The special subjects: x86_64 link variants (non-PIE, static-pie, musl, C++, Go with cgo,
/// separate-code layouts, stripped, existing RPATH/RUNPATH), aarch64 64K/4K page sizes, other
/// linkers (gold, mold, lld, a CREL object), DT_RELR, riscv64 non-PIE at 64 KiB, and the static
/// programs of the zig-built architectures.
final class VariantTests: EndToEndTestCase {

    /// The growing edits on one program: set-rpath + add-needed, then a longer interpreter,
    /// then strip — running it after every step.
    /// `check`, if given, is called on the program after every step, with the step's name.
    func growingEdits(_ path: String, libraries: [String] = E2E.standardLibraries, in box: ScratchDirectory,
                      check: (URL, String) throws -> Void = { _, _ in }) throws {
        let subject = try Subject.named(path)
        let arch = subject.arch
        let base = try box.dir(path.replacingOccurrences(of: "/", with: "_"))
        let lib = try box.dir(base.lastPathComponent + "/lib")
        for l in libraries { try box.copy("\(arch)/\(l)", into: lib) }
        let exe = try box.copy(path, into: base)

        guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, "\(path) set-rpath") else { return }
        try assertRuns(exe, like: subject, "\(path) set-rpath")
        try check(exe, "set-rpath")
        guard try patch(["--add-needed", "libctor.so"], exe, "\(path) add-needed") else { return }
        try assertRuns(exe, like: subject, expecting: "libctor constructor ran\n" + subject.expectedStdout, "\(path) add-needed")
        try check(exe, "add-needed")

        let original = try XCTUnwrap(try interpreter(exe), "\(path): no interpreter")
        let link = try box.dir(base.lastPathComponent + "/a/considerably/longer/path/to/the/dynamic/loader")
            .appendingPathComponent("ld.so")
        try FileManager.default.createSymbolicLink(atPath: link.path,
            withDestinationPath: subject.isNative ? original : subject.sysroot + original)
        guard try patch(["--set-interpreter", link.path], exe, "\(path) set-interpreter") else { return }
        XCTAssertEqual(try interpreter(exe), link.path, "[\(path)]")
        try assertRuns(exe, like: subject, expecting: "libctor constructor ran\n" + subject.expectedStdout, "\(path) set-interpreter")
        try check(exe, "set-interpreter")

        try requireTool(E2E.strip)
        let s = try runTool(E2E.strip, [exe.path])
        XCTAssertTrue(s.status == 0 && s.stderr.isEmpty, "[\(path) strip] \(s.summary)")
        try assertCleanOutput(exe, "\(path) after strip")
        try assertRuns(exe, like: subject, expecting: "libctor constructor ran\n" + subject.expectedStdout, "\(path) after strip")
        try check(exe, "strip")
    }

    func testNonPIE() throws { try growingEdits("x86_64/hello-nopie", in: ScratchDirectory("nopie")) }
    func testSeparateCode() throws { try growingEdits("x86_64/hello-separate-code", in: ScratchDirectory("sepcode")) }
    func testNoSeparateCode() throws { try growingEdits("x86_64/hello-noseparate-code", in: ScratchDirectory("nosepcode")) }
    func testStrippedInput() throws { try growingEdits("x86_64/hello-stripped", in: ScratchDirectory("stripped")) }
    func testExistingRpath() throws { try growingEdits("x86_64/hello-rpath", in: ScratchDirectory("hasrpath")) }
    func testExistingRunpath() throws { try growingEdits("x86_64/hello-runpath", in: ScratchDirectory("hasrunpath")) }
    func testAarch64PageSize64K() throws {
        try growingEdits("aarch64/hello-64k", libraries: ["libgreet64k.so", "libunused.so", "libctor.so"], in: ScratchDirectory("64k"))
    }
    func testAarch64PageSize4K() throws { try growingEdits("aarch64/hello-4k", in: ScratchDirectory("4k")) }

    // MARK: Linkers other than GNU ld, and GNU ld's DT_RELR

    func testGold() throws { try growingEdits("x86_64/hello-gold", in: ScratchDirectory("gold")) }
    func testMold() throws {
        for arch in ["x86_64", "aarch64"] { try growingEdits("\(arch)/hello-mold", in: ScratchDirectory("mold")) }
    }
    func testLLD() throws {
        for arch in ["x86_64", "aarch64"] { try growingEdits("\(arch)/hello-lld", in: ScratchDirectory("lld")) }
    }
    /// A program linked from a CREL object (clang -Wa,--crel) by lld: the output itself has no
    /// CREL (lld writes RELA), so this is one more lld layout, from clang's code generation.
    func testCrelObjectLinkedByLLD() throws { try growingEdits("x86_64/hello-crel", in: ScratchDirectory("crel")) }

    /// -z pack-relative-relocs: the relative relocations are in .relr.dyn (DT_RELR), which the
    /// edits must keep as they are, and the program needs GLIBC_ABI_DT_RELR.
    func testPackRelativeRelocs() throws {
        let box = try ScratchDirectory("relr")
        let path = "x86_64/hello-relr"
        let before = try dynamicEntries(Subject.named(path).url, ["RELR", "RELRSZ", "RELRENT"])
        XCTAssertEqual(before.count, 3, "\(path): DT_RELR, DT_RELRSZ, DT_RELRENT expected:\n\(before)")
        try growingEdits(path, in: box)
        let exe = box.url.appendingPathComponent("x86_64_hello-relr/hello-relr")
        XCTAssertEqual(try dynamicEntries(exe, ["RELRSZ", "RELRENT"]), try dynamicEntries(Subject.named(path).url, ["RELRSZ", "RELRENT"]))
        XCTAssertTrue(try readelf(["-V", exe.path]).stdout.contains("GLIBC_ABI_DT_RELR"), "[\(path)] version need GLIBC_ABI_DT_RELR lost")
    }

    /// readelf -d's lines for the tags, `(TAG) value`.
    func dynamicEntries(_ url: URL, _ tags: [String]) throws -> [String] {
        try readelf(["-d", url.path]).stdout.split(separator: "\n").compactMap { line in
            guard let tag = tags.first(where: { line.contains("(\($0))") }) else { return nil }
            return "(\(tag)) " + (line.split(separator: " ").last.map(String.init) ?? "")
        }
    }

    /// riscv64 -no-pie with its first PT_LOAD at 64 KiB, the usual vm.mmap_min_addr: a segment
    /// swelf adds must go above the image, never in the pages below it (which the kernel
    /// refuses to map, whatever qemu-user does). Checked after every growing edit.
    func testRiscv64NonPIEAtLowBase() throws {
        let box = try ScratchDirectory("lowbase")
        let path = "riscv64/hello-nopie"
        try growingEdits(path, in: box) { exe, step in
            let loads = try self.loadAddresses(exe)
            XCTAssertFalse(loads.isEmpty, "[\(path) \(step)] no PT_LOAD")
            XCTAssertTrue(loads.allSatisfy { $0 >= 0x10000 }, "[\(path) \(step)] a PT_LOAD below 64 KiB: \(loads.map { String($0, radix: 16) })")
        }
    }

    /// The p_vaddr of every PT_LOAD, from readelf -lW.
    func loadAddresses(_ url: URL) throws -> [UInt64] {
        try readelf(["-l", url.path]).stdout.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count > 3, f[0] == "LOAD" else { return nil }
            return UInt64(f[2].dropFirst(2), radix: 16)
        }
    }

    /// Existing DT_RPATH / DT_RUNPATH: the tag swelf writes is the tag patchelf 0.19.3 writes
    /// (plain --set-rpath turns DT_RPATH into DT_RUNPATH; --force-rpath writes DT_RPATH).
    func testSetRpathOnExistingRpathMatchesPatchelf() throws {
        let box = try ScratchDirectory("kind")
        let value = "/somewhere/else/entirely/longer"
        for program in ["hello-rpath", "hello-runpath"] {
            for force in [false, true] {
                let ctx = "\(program)\(force ? " --force-rpath" : "")"
                let args = (force ? ["--force-rpath"] : []) + ["--set-rpath", value]
                let mine = try box.copy("x86_64/\(program)", into: box.url, as: "swelf-\(program)")
                let theirs = try box.copy("x86_64/\(program)", into: box.url, as: "patchelf-\(program)")
                guard try patch(args, mine, ctx) else { continue }
                let p = try patchelf(args + [theirs.path])
                XCTAssertEqual(p.status, 0, "[\(ctx)] patchelf: \(p.summary)")
                for tag in ["RPATH", "RUNPATH"] {
                    XCTAssertEqual(try dynamicValue(mine, tag: tag), try dynamicValue(theirs, tag: tag), "[\(ctx)] DT_\(tag) differs from patchelf's")
                }
            }
        }
    }

    /// static-pie and static: only the edits that make sense (GNU_STACK flags, EI_OSABI).
    func testStaticExecstackAndOsAbi() throws {
        let box = try ScratchDirectory("static")
        // The zig-built architectures' static musl programs run under qemu-user (no sysroot).
        for path in ["x86_64/static-pie", "x86_64/static", "x86_64/go-nocgo"]
                    + E2E.toolJudgedArchitectures.map({ "\($0)/static" }) {
            let subject = try Subject.named(path)
            let exe = try box.copy(path, into: box.url)
            guard try patch(["--set-execstack"], exe, "\(path) set-execstack") else { continue }
            XCTAssertEqual(try swelf(["--print-execstack", exe.path]).stdout, "execstack: X\n", "[\(path)]")
            XCTAssertEqual(try gnuStackFlags(exe), "RWE", "[\(path)] GNU_STACK flags")
            try assertRuns(exe, like: subject, "\(path) set-execstack")
            guard try patch(["--clear-execstack"], exe, "\(path) clear-execstack") else { continue }
            XCTAssertEqual(try gnuStackFlags(exe), "RW", "[\(path)]")
            try assertRuns(exe, like: subject, "\(path) clear-execstack")
            guard try patch(["--set-os-abi", "linux"], exe, "\(path) set-os-abi") else { continue }
            let h = try readelf(["-h", exe.path]).stdout
            XCTAssertTrue(h.contains("UNIX - GNU"), "[\(path)] OS/ABI not GNU:\n\(h)")
            try assertRuns(exe, like: subject, "\(path) set-os-abi")
        }
    }

    func gnuStackFlags(_ url: URL) throws -> String? {
        let out = try readelf(["-l", url.path]).stdout
        guard let line = out.split(separator: "\n").first(where: { $0.contains("GNU_STACK") }) else { return nil }
        let fields = line.split(separator: " ")
        // Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align: flags are the fields between MemSiz and Align.
        return fields.dropFirst(6).dropLast().joined()
    }

    /// musl: the interpreter moves to a longer symlink of /lib/ld-musl-x86_64.so.1.
    func testMuslLongerInterpreter() throws {
        let box = try ScratchDirectory("musl")
        let path = "x86_64/hello-musl"
        let subject = try Subject.named(path)
        let exe = try box.copy(path, into: box.url)
        let original = try XCTUnwrap(try interpreter(exe))
        XCTAssertTrue(FileManager.default.fileExists(atPath: original), "musl loader \(original) missing: run scripts/install-test-deps")
        let link = try box.dir("an/even/longer/directory/for/the/musl/dynamic/loader").appendingPathComponent("ld-musl.so")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: original)
        guard try patch(["--set-interpreter", link.path], exe, path) else { return }
        XCTAssertEqual(try interpreter(exe), link.path)
        try assertRuns(exe, like: subject, path)
    }

    func testCxxSetRpath() throws {
        let box = try ScratchDirectory("cxx")
        let path = "x86_64/hello-cxx"
        let exe = try box.copy(path, into: box.url)
        _ = try box.dir("lib")
        guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, path) else { return }
        try assertRuns(exe, like: try Subject.named(path), path)
    }

    func testGoCgoSetRpath() throws {
        let box = try ScratchDirectory("gocgo")
        let path = "x86_64/go-cgo"
        let exe = try box.copy(path, into: box.url)
        guard try patch(["--set-rpath", "$ORIGIN/lib"], exe, path) else { return }
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"])
        try assertRuns(exe, like: try Subject.named(path), path)
    }
}
