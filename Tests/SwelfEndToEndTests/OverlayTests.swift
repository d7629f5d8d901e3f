import Foundation
import XCTest

/// Issue 21, "trailing data kept" (docs/overlay-design.md §11–§12): programs that carry a
/// payload after their ELF image and find it the way bun ≤ 1.3.11, deno's d3n0l4nd trailer
/// (24 and 40 bytes), libsui ≤ 0.12, Nuitka onefile, AppImage's runtime and PyInstaller
/// 4.0–4.2's bounded scan do (the archive in section `pydata`; TestBinaries/src/overlay/*.c, built here with gcc and
/// aarch64-linux-gnu-gcc by TestBinaries/src/overlay/build-fixture, which appends each
/// payload as the tool does). Every growing edit must leave a program that still prints its
/// payload, or be refused before writing (the file unchanged, one line naming the format).
final class OverlayTests: EndToEndTestCase {
    override class var requiredTools: [String] {
        ["/usr/bin/gcc", "/usr/bin/aarch64-linux-gnu-gcc", "/usr/bin/qemu-aarch64-static", "/usr/bin/python3", "/usr/bin/objcopy"]
    }

    struct Target {
        let name: String
        let compiler: String
        let loader: String
        let libc: String
        /// qemu's sysroot for a foreign target; nil runs natively.
        let sysroot: String?
    }

    static let targets = [
        Target(name: "x86_64", compiler: "gcc", loader: "/lib64/ld-linux-x86-64.so.2",
               libc: "/lib/x86_64-linux-gnu/libc.so.6", sysroot: nil),
        Target(name: "aarch64", compiler: "aarch64-linux-gnu-gcc", loader: "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1",
               libc: "/usr/aarch64-linux-gnu/lib/libc.so.6", sysroot: "/usr/aarch64-linux-gnu"),
    ]

    static let builder = Repo.root.appendingPathComponent("TestBinaries/src/overlay/build-fixture").path

    /// Formats whose programs must run after every growing edit.
    static let kept = ["bun-old", "deno-24", "deno-40", "libsui", "nuitka", "appimage", "unknown", "pyinstaller-window"]

    func run(_ program: URL, on target: Target) throws -> ProcessResult {
        if let sysroot = target.sysroot {
            return try runTool("/usr/bin/qemu-aarch64-static", ["-L", sysroot, program.path], cwd: program.deletingLastPathComponent())
        }
        return try runTool(program.path, [], cwd: program.deletingLastPathComponent())
    }

    /// Builds `format` for `target` in `directory`: the program and the line it prints.
    func build(_ format: String, _ target: Target, in directory: URL) throws -> (URL, String) {
        let program = directory.appendingPathComponent(format)
        let built = try runTool("/usr/bin/python3", [Self.builder, format, target.compiler, program.path])
        XCTAssertEqual(built.status, 0, "[\(target.name) \(format)] builder failed: \(built)")
        let expected = built.stdout.trimmingCharacters(in: .newlines)
        let ran = try run(program, on: target)
        XCTAssertEqual(ran.stdout.trimmingCharacters(in: .newlines), expected, "[\(target.name) \(format)] the fixture itself does not find its payload: \(ran)")
        return (program, expected)
    }

    /// The growing edits of §11, each past any slack, each leaving a program that still runs.
    func growingEdits(_ target: Target, in directory: URL) throws -> [(String, [String])] {
        let loader = directory.appendingPathComponent("a-considerably-longer-name-for-the-dynamic-loader-of-this-test.so")
        let libc = directory.appendingPathComponent("libc-under-a-considerably-longer-file-name-than-before.so.6")
        for (link, destination) in [(loader, target.loader), (libc, target.libc)] where !FileManager.default.fileExists(atPath: link.path) {
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: destination)
        }
        return [
            ("set-rpath", ["--set-rpath", "/opt/a/run/path/much/longer/than/any/slack/in/the/string/table/" + String(repeating: "x", count: 200)]),
            ("add-needed", ["--add-needed", "libm.so.6"]),
            ("set-interpreter", ["--set-interpreter", loader.path]),
            ("replace-needed", ["--replace-needed", "libc.so.6", libc.path]),
        ]
    }

    /// Every fixture × every growing edit on both architectures: the output prints the
    /// payload, its overlay is the file's tail byte for byte (deno's trailer aside, whose
    /// positions move), an unknown overlay gets one warning line, PyInstaller 4.0–4.2's
    /// archive ends the file (its cookie within the 4184 bytes those bootloaders search);
    /// UPX is refused before writing, naming UPX.
    func testGrowingEditsKeepTheTrailingPayload() throws {
        let box = try ScratchDirectory("overlay")
        for target in Self.targets {
            let directory = try box.dir(target.name)
            let edits = try growingEdits(target, in: directory)
            for format in Self.kept + ["upx"] {
                let (fixture, expected) = try build(format, target, in: directory)
                let original = try bytes(fixture)
                for (name, edit) in edits {
                    let context = "\(target.name) \(format) \(name)"
                    let output = directory.appendingPathComponent("\(format)-\(name)")
                    try? FileManager.default.removeItem(at: output)
                    try FileManager.default.copyItem(at: fixture, to: output)
                    let result = try swelf(edit + [output.path])
                    let stderrLines = result.stderr.split(separator: "\n")
                    if format == "upx" {
                        XCTAssertNotEqual(result.status, 0, "[\(context)] a UPX-packed program was edited: \(result)")
                        XCTAssertEqual(stderrLines.count, 1, "[\(context)] the refusal is not one line: \(result.stderr)")
                        XCTAssertTrue(result.stderr.contains("UPX"), "[\(context)] the refusal does not name UPX: \(result.stderr)")
                        XCTAssertEqual(try bytes(output), original, "[\(context)] the refused file changed")
                        continue
                    }
                    XCTAssertEqual(result.status, 0, "[\(context)] swelf failed: \(result)")
                    let ran = try run(output, on: target)
                    XCTAssertEqual(ran.stdout.trimmingCharacters(in: .newlines), expected, "[\(context)] the edited program lost its payload: \(ran)")
                    let edited = try bytes(output)
                    XCTAssertGreaterThan(edited.count, original.count, "[\(context)] the edit did not grow the file: no overlay was moved")
                    if format == "pyinstaller-window" {
                        // Bootloaders before PyInstaller 4.3 search only the last 4184 bytes:
                        // the archive (section pydata, its cookie last) now ends the file.
                        let cookie = try cookieEnd(of: fixture)
                        XCTAssertEqual(edited.suffix(88), original[cookie - 88 ..< cookie], "[\(context)] the archive's cookie does not end the file")
                    } else if !format.hasPrefix("deno") {
                        let tail = original.suffix(64)
                        XCTAssertEqual(edited.suffix(64), tail, "[\(context)] the file's last bytes are not the original's")
                    }
                    if format == "appimage" {
                        XCTAssertEqual(Array(edited[8 ..< 11]), [0x41, 0x49, 0x02], "[\(context)] the AppImage magic in e_ident was not kept")
                    }
                    if format == "unknown" {
                        XCTAssertEqual(stderrLines.count, 1, "[\(context)] expected one warning line: \(result.stderr)")
                        XCTAssertTrue(result.stderr.contains("bytes after the ELF image"), "[\(context)] \(result.stderr)")
                    } else {
                        XCTAssertEqual(result.stderr, "", "[\(context)] unexpected messages")
                    }
                    let verified = try swelf(["verify", output.path])
                    XCTAssertEqual(verified.status, 0, "[\(context)] swelf verify: \(verified)")
                }
            }
        }
    }

    /// Where the `pydata` section of `program` ends (readelf's view): its cookie's end.
    func cookieEnd(of program: URL) throws -> Int {
        let sections = try runTool("/usr/bin/readelf", ["-SW", program.path]).stdout
        let line = try XCTUnwrap(sections.split(separator: "\n").first { $0.contains(" pydata ") }, "no pydata in \(sections)")
        let fields = line.split(separator: " ").map(String.init)
        let at = try XCTUnwrap(fields.firstIndex(of: "pydata"))
        // Name, type, address, offset, size.
        return try XCTUnwrap(Int(fields[at + 3], radix: 16)) + XCTUnwrap(Int(fields[at + 4], radix: 16))
    }

    /// A PyInstaller 4.0–4.2 program with bytes after its image: its archive cannot end the
    /// file while those bytes stay the tail, so every growing edit is refused before
    /// writing, in one line naming PyInstaller and the bootloaders' 4184-byte search; the
    /// file is unchanged and still runs.
    func testPyInstallerWindowWithAnOverlayIsRefused() throws {
        let box = try ScratchDirectory("overlay-pyinstaller")
        for target in Self.targets {
            let directory = try box.dir(target.name)
            let (fixture, expected) = try build("pyinstaller-window", target, in: directory)
            let handle = try FileHandle(forWritingTo: fixture)
            handle.seekToEndOfFile()
            handle.write(Data("a signature after the image".utf8))
            try handle.close()
            XCTAssertEqual(try run(fixture, on: target).stdout.trimmingCharacters(in: .newlines), expected, "[\(target.name)] the fixture with its tail")
            let original = try bytes(fixture)
            for (name, edit) in try growingEdits(target, in: directory) {
                let context = "\(target.name) \(name)"
                let result = try swelf(edit + [fixture.path])
                XCTAssertNotEqual(result.status, 0, "[\(context)] the edit was made: \(result)")
                XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "[\(context)] the refusal is not one line: \(result.stderr)")
                XCTAssertTrue(result.stderr.contains("PyInstaller") && result.stderr.contains("4184"), "[\(context)] \(result.stderr)")
                XCTAssertEqual(try bytes(fixture), original, "[\(context)] the refused file changed")
            }
            XCTAssertEqual(try run(fixture, on: target).stdout.trimmingCharacters(in: .newlines), expected, "[\(target.name)] after the refusals")
        }
    }

    /// An edit that fits in place moves nothing: the file keeps its size and every byte
    /// after the image stays at its offset.
    func testInPlaceEditMovesNothing() throws {
        let box = try ScratchDirectory("overlay-in-place")
        let target = Self.targets[0]
        let directory = try box.dir(target.name)
        for format in ["deno-40", "appimage"] {
            let (fixture, expected) = try build(format, target, in: directory)
            let original = try bytes(fixture)
            let result = try swelf(["--set-execstack", fixture.path])
            XCTAssertEqual(result.status, 0, "[\(format)] \(result)")
            let edited = try bytes(fixture)
            XCTAssertEqual(edited.count, original.count, "[\(format)] an in-place edit changed the size")
            XCTAssertEqual(edited.suffix(200), original.suffix(200), "[\(format)] an in-place edit moved the overlay")
            XCTAssertEqual(try run(fixture, on: target).stdout.trimmingCharacters(in: .newlines), expected, "[\(format)]")
        }
    }

    /// `--overlay keep-offset`: the overlay keeps its offsets and the new content follows it.
    /// deno's program then finds its trailer again once the user re-appends the original's
    /// last 40 bytes (deno#19961's workaround, which works because the positions are
    /// absolute and unchanged); bun's end-relative reader is warned about.
    func testKeepOffsetLeavesTheOverlayInPlace() throws {
        let box = try ScratchDirectory("overlay-keep-offset")
        let target = Self.targets[0]
        let directory = try box.dir(target.name)
        let edit = try growingEdits(target, in: directory)[1].1
        let (deno, expected) = try build("deno-40", target, in: directory)
        let original = try bytes(deno)
        let result = try swelf(["--overlay", "keep-offset"] + edit + [deno.path])
        XCTAssertEqual(result.status, 0, "\(result)")
        var edited = try bytes(deno)
        XCTAssertGreaterThan(edited.count, original.count)
        XCTAssertEqual(edited.prefix(original.count).suffix(300), original.suffix(300), "the overlay moved in keep-offset mode")
        XCTAssertTrue(result.stderr.contains("deno") && result.stderr.split(separator: "\n").count == 1, "expected one warning naming deno: \(result.stderr)")
        edited.append(original.suffix(40))
        try edited.write(to: deno)
        XCTAssertEqual(try run(deno, on: target).stdout.trimmingCharacters(in: .newlines), expected, "the trailer re-appended does not work")

        let (bun, _) = try build("bun-old", target, in: directory)
        let bunResult = try swelf(["--overlay", "keep-offset"] + edit + [bun.path])
        XCTAssertEqual(bunResult.status, 0, "\(bunResult)")
        XCTAssertTrue(bunResult.stderr.contains("bun"), "no warning naming bun: \(bunResult.stderr)")

        let usage = try swelf(["--overlay", "somewhere", deno.path])
        XCTAssertEqual(usage.status, 64, "\(usage)")
    }
}
