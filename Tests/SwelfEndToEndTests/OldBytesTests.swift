import Foundation
import XCTest

/// What a moved table and a replaced string leave behind. By default nothing: the old place
/// of a moved table is cleared and a replaced or removed string nothing else uses is
/// cleared, so no stale run path stays in the file (Nix's reference scanner would find it;
/// the user who removed it expects it gone). `--no-clobber-old-sections` keeps the old
/// places. Oracles: the file's bytes (searched like `grep -c`), readelf's section table of
/// the input, the program run natively or under qemu-user, and eu-elflint (through `patch`).
final class OldBytesTests: EndToEndTestCase {

    /// Occurrences of `needle` in the file's bytes.
    func count(_ needle: String, in url: URL) throws -> Int {
        let data = [UInt8](try bytes(url)), pattern = Array(needle.utf8)
        guard pattern.count <= data.count else { return 0 }
        return (0 ... data.count - pattern.count).filter { data[$0 ..< $0 + pattern.count].elementsEqual(pattern) }.count
    }

    /// The file range of a section of the input, from readelf.
    func section(_ name: String, of url: URL) throws -> Range<Int>? {
        for line in try readelf(["-S", url.path]).stdout.split(separator: "\n") {
            guard let close = line.firstIndex(of: "]") else { continue }
            let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 5, fields[0] == name, let offset = Int(fields[3], radix: 16), let size = Int(fields[4], radix: 16)
            else { continue }
            return offset ..< offset + size
        }
        return nil
    }

    /// The program header table of a file, from readelf.
    func programHeaderTable(_ url: URL) throws -> Range<Int> {
        let out = try readelf(["-h", url.path]).stdout
        func field(_ label: String) -> Int {
            guard let line = out.split(separator: "\n").first(where: { $0.contains(label) }),
                  let word = line.split(separator: ":").last?.split(separator: " ").first else { return 0 }
            return Int(word) ?? 0
        }
        let start = field("Start of program headers:")
        return start ..< start + field("Size of program headers:") * field("Number of program headers:")
    }

    static let oldRunPath = "/nix/store/0c8bvnrn3rf7kbsb6gls5yypvqzd8k2h-build-machine/lib"

    /// A run path swelf appended, then a string appended after it (DT_SONAME), then a longer
    /// run path: the first one sits inside swelf's own copy of .dynstr, used by nothing, and
    /// must be gone from the file. The program runs and finds its libraries after each step.
    func testAReplacedRunPathLeavesNoCopy() throws {
        let box = try ScratchDirectory("old-run-path")
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, _) = try box.stage(arch: arch, program: "hello")
            let first = "$ORIGIN/lib:" + Self.oldRunPath
            let second = "$ORIGIN/lib:/opt/a/considerably/longer/run/path/than/the/first/one/had/lib64"
            guard try patch(["--set-rpath", first], exe, "\(arch) first run path"),
                  try patch(["--set-soname", "hello-with-a-soname.so"], exe, "\(arch) soname after it") else { return }
            XCTAssertEqual(try count(Self.oldRunPath, in: exe), 1, "[\(arch)] the first run path is in the file once")
            try assertRuns(exe, like: subject, "\(arch) with the first run path")
            guard try patch(["--set-rpath", second], exe, "\(arch) longer run path") else { return }
            XCTAssertEqual(try count(Self.oldRunPath, in: exe), 0, "[\(arch)] a copy of the replaced run path stays in the file")
            XCTAssertEqual(try count("hello-with-a-soname.so", in: exe), 1, "[\(arch)] the soname")
            XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), [second], "[\(arch)]")
            try assertRuns(exe, like: subject, "\(arch) with the longer run path")

            // patchelf's shared-rpath case: the first run path ends swelf's copy of .dynstr
            // when the longer one replaces it. It is dropped, not kept as a dead string
            // (patchelf keeps it, overwritten with 'X's): the file grows by the difference.
            let direct = try box.copy("\(arch)/hello", into: exe.deletingLastPathComponent(), as: "hello-direct")
            guard try patch(["--set-rpath", first], direct, "\(arch) first run path, direct") else { return }
            let before = try fileSize(direct)
            guard try patch(["--set-rpath", second], direct, "\(arch) longer run path, direct") else { return }
            XCTAssertEqual(try count(Self.oldRunPath, in: direct), 0, "[\(arch)] the replaced run path stays in the file")
            XCTAssertEqual(try count("XXXXXXXX", in: direct), 0, "[\(arch)] a dead string stays in the file")
            XCTAssertLessThanOrEqual(try fileSize(direct) - before, second.utf8.count - first.utf8.count + 16,
                                     "[\(arch)] the dead run path was kept")
            try assertRuns(direct, like: subject, "\(arch) direct")
        }
    }

    /// The linker's own DT_RPATH, in the linker's .dynstr: a longer run path moves .dynstr,
    /// its old place is cleared (all of it, but for the program header table), and the old
    /// run path is nowhere in the file; `--remove-rpath` clears it where it is.
    func testTheLinkersRunPathIsGoneAfterAnEdit() throws {
        let box = try ScratchDirectory("linker-run-path")
        let subject = try Subject.named("x86_64/hello-rpath")
        let (input, _) = try box.stage(arch: "x86_64", program: "hello-rpath")
        XCTAssertEqual(try count("/build/machine/lib", in: input), 1, "the subject's run path")
        let dynstr = try XCTUnwrap(try section(".dynstr", of: input))

        let grown = try box.copy("x86_64/hello-rpath", into: input.deletingLastPathComponent(), as: "grown")
        let longer = "$ORIGIN/lib:/opt/a/considerably/longer/run/path/than/the/linker/wrote"
        guard try patch(["--force-rpath", "--set-rpath", longer], grown, "grown") else { return }
        XCTAssertEqual(try count("/build/machine/lib", in: grown), 0, "a copy of the old run path stays")
        let data = [UInt8](try bytes(grown)), table = try programHeaderTable(grown)
        let stale = dynstr.filter { !table.contains($0) && data[$0] != 0 }
        XCTAssertEqual(stale.count, 0, "the old place of .dynstr is not cleared: \(stale.prefix(8).map { String($0, radix: 16) })")
        XCTAssertEqual(try dynamicValue(grown, tag: "RPATH"), [longer])
        try assertRuns(grown, like: subject, "grown")

        let removed = try box.copy("x86_64/hello-rpath", into: input.deletingLastPathComponent(), as: "removed")
        guard try patch(["--remove-rpath"], removed, "removed") else { return }
        XCTAssertEqual(try count("/build/machine/lib", in: removed), 0, "the removed run path stays in the file")
        XCTAssertEqual(try section(".dynstr", of: removed), dynstr, ".dynstr was not moved")
        XCTAssertEqual(try dynamicValue(removed, tag: "RPATH") + dynamicValue(removed, tag: "RUNPATH"), [])
    }

    /// `--no-clobber-old-sections`: where the edit can be made without overwriting the old
    /// place of .dynstr, its bytes are exactly the input's; where it cannot (the program
    /// header table must grow over a table it moves), it is refused and the file untouched.
    /// Without the option the same place is cleared. Big-endian mips and s390x included.
    func testNoClobberOldSectionsKeepsTheOldBytes() throws {
        let box = try ScratchDirectory("no-clobber")
        let long = "$ORIGIN/lib:/" + String(repeating: "long-directory/", count: 20)
        var kept: [String] = []
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, _) = try box.stage(arch: arch, program: "hello")
            let original = [UInt8](try bytes(exe))
            let dynstr = try XCTUnwrap(try section(".dynstr", of: exe), "[\(arch)]")
            let r = try swelf(["--no-clobber-old-sections", "--set-rpath", long, exe.path])
            if r.status == 0 {
                kept.append(arch)
                let edited = [UInt8](try bytes(exe))
                XCTAssertNotEqual(try section(".dynstr", of: exe), dynstr, "[\(arch)] .dynstr was meant to move")
                XCTAssertEqual(Array(edited[dynstr]), Array(original[dynstr]), "[\(arch)] the old bytes of .dynstr changed")
                try assertCleanOutput(exe, "\(arch) kept")
                try assertRuns(exe, like: subject, "\(arch) kept")
            } else {
                XCTAssertEqual(r.status, 1, "[\(arch)] \(r.summary)")
                XCTAssertTrue(r.stderr.contains("--no-clobber-old-sections"), "[\(arch)] \(r.stderr)")
                XCTAssertEqual([UInt8](try bytes(exe)), original, "[\(arch)] a refused edit changed the file")
            }
            let cleared = try box.copy("\(arch)/hello", into: exe.deletingLastPathComponent(), as: "hello-cleared")
            guard try patch(["--set-rpath", long], cleared, "\(arch) cleared") else { return }
            let data = [UInt8](try bytes(cleared)), table = try programHeaderTable(cleared)
            XCTAssertTrue(dynstr.allSatisfy { table.contains($0) || data[$0] == 0 }, "[\(arch)] the old place of .dynstr is not cleared")
            XCTAssertEqual(try count("libgreet.so.1", in: cleared), 1, "[\(arch)] one copy of each name")
            try assertRuns(cleared, like: subject, "\(arch) cleared")
        }
        XCTAssertTrue(kept.contains("mips") || kept.contains("s390x"), "no big-endian file was edited with the old bytes kept: \(kept)")
    }
}
