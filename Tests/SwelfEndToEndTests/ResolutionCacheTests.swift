import Foundation
import XCTest

/// `--build-resolution-cache` on real programs: the note readelf shows names the libraries
/// of the private directory the run path names, the program still runs (under qemu-user
/// for foreign architectures, big-endian ones included), and an edit of the needed list or
/// the run path removes the note: no section, no PT_NOTE, and no stale path in the file.
final class ResolutionCacheTests: EndToEndTestCase {

    /// x86_64 natively; aarch64, s390x, ppc64 and mips (big-endian, 32-bit) under qemu-user.
    static let architectures = ["x86_64", "aarch64", "s390x", "ppc64", "mips"]

    /// The note's descriptor as readelf -n prints it (hex after "description data:"), as
    /// `NAME ENTRIES` lines (readelf -p would print the note header's bytes, not UTF-8).
    func strings(_ url: URL) throws -> String {
        let notes = try readelf(["-n", url.path]).stdout
        guard let line = notes.split(separator: "\n").first(where: { $0.contains("NixOS") && $0.contains("description data:") }),
              let range = line.range(of: "description data:") else { return "" }
        let bytes = line[range.upperBound...].split(separator: " ").compactMap { UInt8($0, radix: 16) }
        let fields = bytes.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        return stride(from: 0, to: fields.count - 1, by: 2).map { "\(fields[$0]) \(fields[$0 + 1])" }.joined(separator: "\n")
    }

    func contains(_ url: URL, _ text: String) throws -> Bool {
        try bytes(url).range(of: Data(text.utf8)) != nil
    }

    func testBuildRunAndInvalidate() throws {
        let box = try ScratchDirectory("ldcache")
        forEachArch(Self.architectures) { arch in
            let subject = try Subject.named("\(arch)/hello")
            for invalidation in [["--remove-needed", "libunused.so"], ["--set-rpath", "$ORIGIN/lib"]] {
                let ctx = "\(arch)/hello ldcache"
                let (exe, lib) = try box.stage(arch: arch, program: "hello")
                guard try patch(["--set-rpath", lib.path, "--build-resolution-cache"], exe, ctx) else { continue }
                let notes = try readelf(["-n", exe.path]).stdout
                XCTAssertTrue(notes.contains("NixOS") && notes.contains("0x63a86cb6"), "[\(ctx)] readelf -n:\n\(notes)")
                let dump = try strings(exe)
                for library in ["libgreet.so.1", "libunused.so"] {
                    XCTAssertTrue(dump.contains("=\(lib.path)/\(library)"), "[\(ctx)] \(library) not resolved:\n\(dump)")
                }
                let sections = try readelf(["-SW", exe.path]).stdout.split(separator: "\n").filter { $0.contains(".note.nixos.ldcache") }
                XCTAssertTrue(sections.count == 1 && sections[0].contains(" NOTE ") && sections[0].contains(" A "),
                              "[\(ctx)] section: \(sections)")
                try assertRuns(exe, like: subject, ctx)
                // Building again changes nothing.
                let built = try bytes(exe)
                guard try patch(["--build-resolution-cache"], exe, ctx) else { continue }
                XCTAssertEqual(try bytes(exe), built, "[\(ctx)] rebuilding an up-to-date note changed the file")

                let ictx = "\(ctx) then \(invalidation.joined(separator: " "))"
                guard try patch(invalidation, exe, ictx) else { continue }
                XCTAssertFalse(try readelf(["-SW", exe.path]).stdout.contains(".note.nixos.ldcache"), "[\(ictx)] the section remains")
                XCTAssertFalse(try readelf(["-n", exe.path]).stdout.contains("NixOS"), "[\(ictx)] the note remains")
                XCTAssertFalse(try contains(exe, "=\(lib.path)/libgreet.so.1"), "[\(ictx)] a stale path remains in the file")
                try assertRuns(exe, like: subject, ictx)

                // Rebuilt against the final run path.
                guard try patch(["--build-resolution-cache"], exe, ictx) else { continue }
                let rebuilt = try strings(exe)
                if invalidation[0] == "--set-rpath" {
                    XCTAssertTrue(rebuilt.contains("?$ORIGIN/lib") && !rebuilt.contains("=$ORIGIN"), "[\(ictx)] $ORIGIN is not a search hint:\n\(rebuilt)")
                } else {
                    XCTAssertTrue(rebuilt.contains("=\(lib.path)/libgreet.so.1") && !rebuilt.contains("libunused.so"),
                                  "[\(ictx)] rebuilt note:\n\(rebuilt)")
                }
                try assertRuns(exe, like: subject, ictx)
            }
        }
    }

    /// An empty run-path component (ld.so searches the current directory there, at run
    /// time) becomes a bare `?` hint and a relative one `?DIR`, in run-path order before
    /// the later `=` entry (patchelf master's build-resolution-cache-search-hint.sh).
    /// swelf runs in a directory that holds a libgreet.so.1 at both places, so probing
    /// them now would write `=` entries. Each write passes the verifier (swelf judges every
    /// write) and the program runs; run from that directory, it loads the libgreet.so.1
    /// there: the loader searches the empty component first.
    func testEmptyAndRelativeComponentsAreSearchHints() throws {
        let box = try ScratchDirectory("ldcache-hint")
        let (exe, lib) = try box.stage(arch: "x86_64", program: "hello")
        let subject = try Subject.named("x86_64/hello")
        let cwd = try box.dir("elsewhere")
        try FileManager.default.createDirectory(at: cwd.appendingPathComponent("relative/dir"), withIntermediateDirectories: true)
        for copy in ["libgreet.so.1", "relative/dir/libgreet.so.1"] {
            try FileManager.default.copyItem(at: lib.appendingPathComponent("libgreetalt.so.1"), to: cwd.appendingPathComponent(copy))
        }
        let original = try bytes(exe)
        for (runPath, want) in [(":\(lib.path)", "libgreet.so.1 ?:=\(lib.path)/libgreet.so.1"),
                                ("relative/dir:\(lib.path)", "libgreet.so.1 ?relative/dir:=\(lib.path)/libgreet.so.1"),
                                ("\(lib.path)::\(lib.path)", "libgreet.so.1 =\(lib.path)/libgreet.so.1:?:=\(lib.path)/libgreet.so.1")] {
            let ctx = "x86_64/hello --set-rpath \(runPath.debugDescription)"
            try original.write(to: exe)
            let r = try runTool(E2E.swelf, ["--set-rpath", runPath, "--build-resolution-cache", exe.path], cwd: cwd)
            guard r.status == 0 else { XCTFail("[\(ctx)] swelf failed:\n\(r.summary)"); continue }
            let dump = try strings(exe)
            XCTAssertTrue(dump.split(separator: "\n").contains { $0 == want }, "[\(ctx)] want \(want.debugDescription) in:\n\(dump)")
            XCTAssertFalse(dump.contains("=relative") || dump.contains("=libgreet") || dump.contains("=/libgreet"),
                           "[\(ctx)] a run-time directory was probed now:\n\(dump)")
            try assertRuns(exe, like: subject, ctx)
        }
        // The loader's view of the empty component: run from the directory with the other library.
        try original.write(to: exe)
        guard try patch(["--set-rpath", ":\(lib.path)"], exe, "set-rpath :lib") else { return }
        let run = try runTool(exe.path, [], cwd: cwd)
        XCTAssertEqual(run.stdout, "hello from libgreetalt\nhello main done\n", "run from \(cwd.path):\n\(run.summary)")
    }
}
