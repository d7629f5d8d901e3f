import Foundation

// The one way every test target runs another program (swelf, patchelf, readelf, qemu, a
// compiler, a patched program). Shared by a link from Tests/SwelfCLITests/Shared and
// Tests/SwelfEndToEndTests/Shared: Foundation only, no test framework, so XCTest and Swift
// Testing targets both compile it.

/// What a finished child process did.
struct ProcessResult: CustomStringConvertible {
    /// The exit status, or 128 + the signal's number when a signal ended it (as a shell
    /// reports it), so that a trap is never mistaken for an ordinary exit status.
    let status: Int32
    /// Exactly the bytes written to stdout.
    let stdoutBytes: [UInt8]
    let stderr: String
    /// The run took longer than its timeout and was killed.
    let timedOut: Bool
    /// The command, quoted for a shell, so that a failure message is a command a human can paste.
    let commandLine: String

    var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }

    var summary: String {
        "`\(commandLine)` → exit \(status)\(timedOut ? " (timed out)" : "")\nstdout: \(stdout)\nstderr: \(stderr)"
    }
    var description: String { summary }
}

/// A program the tests started. Its stdout and stderr go to files, not pipes: a child that
/// fills a pipe nobody reads would block, and a grandchild that inherits a pipe would keep a
/// read waiting after the child is gone.
final class ChildProcess {
    /// A program that is not installed: the test fails (never skips) and says how to fix it.
    struct NotFound: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) not found: run scripts/install-test-deps" }
    }

    let process: Process
    let commandLine: String
    private let capture: URL
    private let stdoutURL: URL
    private let stderrURL: URL

    /// Starts `executable arguments…` (a bare name is looked up in PATH) in `cwd`. The
    /// environment is the test runner's without LD_LIBRARY_PATH, LD_PRELOAD and
    /// QEMU_LD_PREFIX (a program must find its libraries through what swelf wrote, not
    /// through the runner), with LC_ALL=C (tools' messages are parsed), then `environment`.
    init(_ executable: String, _ arguments: [String], cwd: URL? = nil, environment: [String: String] = [:]) throws {
        guard let resolved = ChildProcess.path(executable) else { throw NotFound(name: executable) }
        capture = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-capture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: capture, withIntermediateDirectories: true)
        stdoutURL = capture.appendingPathComponent("out")
        stderrURL = capture.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: stdoutURL), err = try FileHandle(forWritingTo: stderrURL)
        defer { try? out.close(); try? err.close() }  // the child has its own descriptors once started

        process = Process()
        process.executableURL = URL(fileURLWithPath: resolved)
        process.arguments = arguments
        if let cwd { process.currentDirectoryURL = cwd }
        process.environment = ChildProcess.environment(environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        let line = ([executable] + arguments).map(shellQuote).joined(separator: " ")
        commandLine = (cwd.map { "cd \(shellQuote($0.path)) && " } ?? "") + line
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: capture)
    }

    /// Runs the program to its end (or for `timeout` seconds at most).
    static func run(_ executable: String, _ arguments: [String], cwd: URL? = nil, environment: [String: String] = [:],
                    timeout: TimeInterval? = nil) throws -> ProcessResult {
        try ChildProcess(executable, arguments, cwd: cwd, environment: environment).wait(timeout: timeout)
    }

    /// The environment a child gets: see `init`.
    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var inherited = ProcessInfo.processInfo.environment
        for key in ["LD_LIBRARY_PATH", "LD_PRELOAD", "QEMU_LD_PREFIX"] { inherited.removeValue(forKey: key) }
        inherited["LC_ALL"] = "C"
        return inherited.merging(extra) { $1 }
    }

    var isRunning: Bool { process.isRunning }
    var processIdentifier: Int32 { process.processIdentifier }

    /// What it has written to stdout so far.
    var stdoutSoFar: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }

    /// Waits for the end; after `timeout` seconds it is killed with SIGKILL (the test
    /// runner's children may inherit a signal mask that blocks SIGTERM).
    func wait(timeout: TimeInterval? = nil) -> ProcessResult {
        var timedOut = false
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning {
                if Date() > deadline { timedOut = true; kill(process.processIdentifier, SIGKILL); break }
                usleep(2_000)
            }
        }
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        let stdout = (try? Data(contentsOf: stdoutURL)).map { [UInt8]($0) } ?? []
        let stderr = (try? Data(contentsOf: stderrURL)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return ProcessResult(status: status, stdoutBytes: stdout, stderr: stderr, timedOut: timedOut, commandLine: commandLine)
    }

    /// `name` itself when it holds a slash, else the first executable `name` in PATH.
    static func path(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Quotes for a shell, so that a failure message is a command a human can paste.
func shellQuote(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "/._-+=:,@".contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
