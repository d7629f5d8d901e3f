import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// Where the repository and its test subjects are, found from this source file's path.
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // ELFKitTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()
    static let testBinaries = root.appendingPathComponent("TestBinaries")
    /// Inputs that once crashed swelf (outside the test targets, so SwiftPM does not warn
    /// about unhandled files).
    static let fixtures = root.appendingPathComponent("Tests/Fixtures")
}

/// One row of TestBinaries/manifest.tsv.
struct Subject: CustomStringConvertible, Sendable {
    let path: String
    let arch: String
    let kind: String
    let notes: String
    var url: URL { Repo.testBinaries.appendingPathComponent(path) }
    var description: String { path }
    /// Subjects without section headers carry "-noshdr" in their name (hello-noshdr, libcounter-noshdr.so).
    var hasSectionHeaders: Bool { !path.contains("-noshdr") }

    /// Every subject in the manifest. A missing or empty manifest is a test failure,
    /// not an empty (and so passing) parameter list.
    static let all: [Subject] = {
        let url = Repo.testBinaries.appendingPathComponent("manifest.tsv")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").dropFirst().compactMap { line in
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard columns.count >= 7 else { return nil }
            return Subject(path: columns[0], arch: columns[1], kind: columns[2], notes: columns[6])
        }
    }()

    func contents() throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
}

/// Runs an external tool and returns its standard output. A missing tool is a failure
/// that says how to install it: these tests must never pass by being skipped.
enum Tool {
    static func path(_ name: String) -> String? {
        if name.hasPrefix("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "\(name) not found: run scripts/install-test-deps" }
    }

    static func run(_ name: String, _ arguments: [String]) throws
        -> (status: Int32, stdout: String, stderr: String, stdoutBytes: [UInt8]) {
        guard let executable = path(name) else { throw Missing(name: name) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LC_ALL"] = "C"
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a large output cannot block the child.
        final class Box: @unchecked Sendable { var data = Data() }  // written before group.wait() returns
        let errBox = Box()
        let group = DispatchGroup()
        group.enter()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async {
            errBox.data = errHandle.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        // A signal (a trap in swelf) is reported as 128 + signal number, like a shell does.
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, String(decoding: outData, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self), [UInt8](outData))
    }
}

/// SplitMix64: a tiny, seeded generator, so every mutated input can be rebuilt from
/// (file, seed, iteration) when a test fails.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// The four record formats.
let allFormats: [ELFFormat] = [
    ELFFormat(is64: false, isBigEndian: false), ELFFormat(is64: false, isBigEndian: true),
    ELFFormat(is64: true, isBigEndian: false), ELFFormat(is64: true, isBigEndian: true),
]

/// x86_64/hello followed by `padding` zero bytes that no section or segment refers to (a
/// file whose unchanged bulk is as large as wanted), mode 0755, alone in a new directory
/// named `swelf-<purpose>-<uuid>` under the temporary directory.
func paddedHelloScratchFile(padding: Int, purpose: String) throws -> (directory: URL, path: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-\(purpose)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("subject").path
    let program = try #require(Subject.all.first { $0.path == "x86_64/hello" }).contents()
    try Data(program + [UInt8](repeating: 0, count: padding)).write(to: URL(fileURLWithPath: path))
    chmod(path, 0o755)
    return (directory, path)
}
