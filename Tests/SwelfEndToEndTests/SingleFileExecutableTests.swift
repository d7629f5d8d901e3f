import Foundation
import XCTest

/// Issue 21: real single-file executables survive every growing edit. Each program carries a
/// payload that it finds the way its format does (docs/overlay-design.md §11) and prints it:
/// PyInstaller and Nuitka onefile programs built by the real tools, a Go program with
/// `//go:embed`, and hand-made C programs with bun's `.bun` slot (linked, and laid out as
/// bun >= 1.3.14 writes it), libsui's SUI note (linked, and in a segment past the end of the
/// file with a moved program header table, as libsui >= 0.16 writes it) and Node's
/// NODE_SEA_BLOB note (two lookups). scripts/build-single-file-fixtures builds them once per
/// content hash of their sources and tools (minutes the first time, then cached).
///
/// For each program × growing edit, one of two outcomes is accepted: swelf wrote a file that
/// runs and prints the payload (and passes readelf and `swelf verify`), or swelf exited non-zero
/// with a one-line reason and left the input byte for byte as it was. Anything else is a broken
/// output and fails. A program that cannot be built fails the test (it is never skipped).
final class SingleFileExecutableTests: EndToEndTestCase {
    override class var requiredTools: [String] {
        ["/usr/bin/gcc", "/usr/bin/go", "/sbin/ldconfig", "/opt/swelf-test/single-file-venv/bin/python"]
    }

    /// Every program the builder must hand over, and a mark its input must show (a section name,
    /// or the owner of a note in a PT_NOTE segment), so that a fixture that lost its format fails here
    /// instead of passing as a plain program. Nuitka 4.3.3 keeps its payload in .rodata on
    /// Linux (no overlay, no named section): nothing to check beyond the payload it prints.
    static let fixtures: [(name: String, mark: String?)] = [
        ("pyinstaller-onefile", "pydata"),
        ("nuitka-onefile", nil),
        ("go-embed", ".go.buildinfo"),
        ("bun-section", ".bun"),
        ("bun-compiled", ".bun"),
        ("sui-note", "SUI"),
        ("sui-note-appended", "SUI"),
        ("node-sea", "NODE_SEA_BLOB"),
        ("node-sea-auxv", "NODE_SEA_BLOB"),
    ]

    /// The growing edits: each makes the dynamic string table, the program header table or
    /// .interp outgrow its slack (the log shows how much each grew the file). `arguments`
    /// gives nil when an edit does not apply to a file, and the log says why.
    enum Edit: String, CaseIterable {
        case setRpath = "--set-rpath (400 bytes)"
        case addNeeded = "--add-needed libm.so.6"
        case setInterpreter = "--set-interpreter (longer symlink to the loader)"
        case replaceNeeded = "--replace-needed (absolute path of the first DT_NEEDED)"
    }

    func testPyInstallerOnefile() throws { try check("pyinstaller-onefile") }
    func testNuitkaOnefile() throws { try check("nuitka-onefile") }
    func testGoEmbed() throws { try check("go-embed") }
    func testBunSection() throws { try check("bun-section") }
    func testBunCompiledLayout() throws { try check("bun-compiled") }
    func testLibsuiNote() throws { try check("sui-note") }
    func testLibsuiAppendedSegment() throws { try check("sui-note-appended") }
    func testNodeSeaNote() throws { try check("node-sea") }
    func testNodeSeaNoteOldLookup() throws { try check("node-sea-auxv") }

    /// The builder's directory and its fixtures.tsv (NAME → expected stdout).
    struct Built: Sendable {
        let directory: URL
        let expected: [String: String]
        /// The builder's output when it failed (it then hands over the programs it built).
        let failure: String?
    }

    /// The builder runs once per test process (a static let is initialised once), so that a
    /// failed build is not tried again for each test: the programs it built are tested, and
    /// the test of each one it could not build fails with its log.
    private static let build = Result<Built, any Error> { try runBuilder() }

    private static func runBuilder() throws -> Built {
        let script = Repo.root.appendingPathComponent("scripts/build-single-file-fixtures").path
        let r = try runTool(script, [], timeout: 1200)
        let dir = URL(fileURLWithPath: r.stdout.split(separator: "\n").last.map(String.init) ?? "")
        let table = try String(contentsOf: dir.appendingPathComponent("fixtures.tsv"), encoding: .utf8)
        var expected: [String: String] = [:]
        for row in table.split(separator: "\n") {
            let fields = row.split(separator: "\t", maxSplits: 1).map(String.init)
            if fields.count == 2 { expected[fields[0]] = fields[1].replacingOccurrences(of: "\\n", with: "\n") }
        }
        return Built(directory: dir, expected: expected, failure: r.status == 0 ? nil : r.summary)
    }

    private func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let built = try Self.build.get()
        let (dir, table) = (built.directory, built.expected)
        let original = dir.appendingPathComponent(name)
        guard let expected = table[name], FileManager.default.isExecutableFile(atPath: original.path) else {
            XCTFail("[\(name)] scripts/build-single-file-fixtures did not hand over \(name):\n\(built.failure ?? "(it exited 0)")",
                    file: file, line: line)
            return
        }
        // The input itself runs and shows its format's mark.
        let box = try ScratchDirectory("single-file-\(name)")
        let input = try runTool(original.path, [], cwd: box.url, timeout: 120)
        XCTAssertTrue(input.status == 0 && input.stdout == expected,
                      "[\(name)] the unedited program does not print its payload \(expected.debugDescription):\n\(input.summary)",
                      file: file, line: line)
        if let mark = Self.fixtures.first(where: { $0.name == name })?.mark {
            let sections = try readelf(["-S", original.path]).stdout
            let owners = try segmentNoteOwners(original)
            XCTAssertTrue(sections.contains(mark) || owners.contains(mark),
                          "[\(name)] no section and no PT_NOTE note named \(mark) (notes: \(owners)): not the format it claims",
                          file: file, line: line)
        }
        let originalBytes = try bytes(original)
        let loaderDirectory = try box.dir("a-directory-with-a-long-name-so-that-the-interpreter-path-outgrows-the-original-one")
        var outcomes: [String] = []
        for edit in Edit.allCases {
            let ctx = "\(name) \(edit.rawValue)"
            let copy = try box.dir("work").appendingPathComponent(name)
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.copyItem(at: original, to: copy)
            guard let arguments = try arguments(edit, copy, loaderDirectory) else {
                // Allowed only when the file has nothing the edit works on; said in the log.
                outcomes.append("\(ctx): does not apply (\(try notApplicable(edit, copy)))")
                continue
            }
            let r = try swelf(arguments + [copy.path])
            if r.status == 0 {
                let run = try runTool(copy.path, [], cwd: copy.deletingLastPathComponent(), timeout: 120)
                let runs = run.status == 0 && run.stdout == expected
                XCTAssertTrue(runs, "[\(ctx)] BROKEN: swelf wrote a file that does not print its payload \(expected.debugDescription):\n\(run.summary)",
                              file: file, line: line)
                try assertCleanOutput(copy, ctx, file: file, line: line)
                // The growth shows the edit did not fit in place (the log's figures).
                let growth = try fileSize(copy) - originalBytes.count
                outcomes.append("\(ctx): \(runs ? "runs" : "BROKEN (exit \(run.status))"), file \(growth >= 0 ? "+" : "")\(growth) bytes")
            } else {
                XCTAssertEqual(try bytes(copy), originalBytes, "[\(ctx)] BROKEN: swelf refused (exit \(r.status)) but changed the input", file: file, line: line)
                let reason = r.stderr.split(separator: "\n").filter { !$0.allSatisfy(\.isWhitespace) }
                XCTAssertEqual(reason.count, 1, "[\(ctx)] a refusal must give one line of reason:\n\(r.summary)", file: file, line: line)
                outcomes.append("\(ctx): refused: \(reason.first ?? "")")
            }
        }
        print("single-file \(name):\n  " + outcomes.joined(separator: "\n  "))
    }

    /// The swelf arguments of `edit` for `program`, or nil when the edit does not apply to it.
    private func arguments(_ edit: Edit, _ program: URL, _ loaderDirectory: URL) throws -> [String]? {
        switch edit {
        case .setRpath:
            // Longer than any slack a linker leaves in .dynstr.
            return ["--set-rpath", "/nonexistent/" + String(repeating: "r", count: 387)]
        case .addNeeded:
            return ["--add-needed", "libm.so.6"]
        case .setInterpreter:
            // A longer path that still reaches the loader the program asks for.
            guard let loader = try interpreter(program) else { return nil }
            let link = loaderDirectory.appendingPathComponent("ld-\(program.lastPathComponent).so")
            try? FileManager.default.removeItem(at: link)
            try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: loader)
            return ["--set-interpreter", link.path]
        case .replaceNeeded:
            // The first DT_NEEDED by the absolute path ld.so.cache gives for it: a longer name
            // of the same library, which the loader opens as a path.
            guard let first = try dynamicValue(program, tag: "NEEDED").first, let path = try cachedPath(first) else { return nil }
            return ["--replace-needed", first, path]
        }
    }

    private func notApplicable(_ edit: Edit, _ program: URL) throws -> String {
        switch edit {
        case .setInterpreter: return "no PT_INTERP"
        case .replaceNeeded:
            return try dynamicValue(program, tag: "NEEDED").first.map { "\($0) is not in ld.so.cache" } ?? "no DT_NEEDED"
        default: return "?"
        }
    }

    /// The owner names of the notes in `program`'s PT_NOTE segments, walked as a loader-side
    /// reader walks them (readelf -n shows note sections when there are section headers, and
    /// libsui's appended note has no section).
    private func segmentNoteOwners(_ program: URL) throws -> [String] {
        let data = [UInt8](try bytes(program))
        var owners: [String] = []
        for line in try readelf(["-l", program.path]).stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 5, fields[0] == "NOTE", let offset = Int(fields[1].dropFirst(2), radix: 16),
                  let size = Int(fields[4].dropFirst(2), radix: 16), offset >= 0, size >= 0, offset <= data.count - size else { continue }
            var at = offset
            let u32 = { (i: Int) in Int(data[i]) | Int(data[i + 1]) << 8 | Int(data[i + 2]) << 16 | Int(data[i + 3]) << 24 }
            while at + 12 <= offset + size {
                let nameSize = u32(at), descSize = u32(at + 4)
                let next = at + 12 + (nameSize + 3) / 4 * 4 + (descSize + 3) / 4 * 4
                guard next <= offset + size else { break }
                owners.append(String(decoding: data[(at + 12)..<(at + 12 + nameSize)].prefix { $0 != 0 }, as: UTF8.self))
                at = next
            }
        }
        return owners
    }

    /// The x86-64 path `ldconfig -p` lists for `soname`.
    private func cachedPath(_ soname: String) throws -> String? {
        let r = try runTool("/sbin/ldconfig", ["-p"])
        for line in r.stdout.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix(soname + " "), text.contains("x86-64"), let arrow = text.range(of: "=> ") else { continue }
            return String(text[arrow.upperBound...])
        }
        return nil
    }
}
