import Foundation

// Where the repository, its test subjects and scratch directories are, for every test
// target: shared by a link from Tests/SwelfCLITests/Shared and Tests/SwelfEndToEndTests/Shared
// (Foundation only, no test framework).

/// Where the repository and its test subjects are, found from this source file's path
/// (Tests/ELFKitTests/Support/ here, Tests/<target>/Shared/ through the links: the same depth).
enum Repo {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support or Shared
        .deletingLastPathComponent()  // the test target
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()
    static let testBinaries = root.appendingPathComponent("TestBinaries")
    /// Inputs that once crashed swelf (outside the test targets, so SwiftPM does not warn
    /// about unhandled files).
    static let fixtures = root.appendingPathComponent("Tests/Fixtures")
}

/// A required file or tool is missing: the test fails (never skips) and says how to fix it.
struct MissingTool: Error, CustomStringConvertible {
    let path: String
    let hint: String
    var description: String { "required tool missing: \(path) — \(hint)" }
}

/// One row of TestBinaries/manifest.tsv: the path (relative to TestBinaries), the
/// architecture, the kind, how to run it (`qemu`: "native", "none" when nothing here can, or
/// the qemu-ARCH-static that runs it, with `sysroot`, "-" for native or static), what it
/// prints, notes.
struct Subject: CustomStringConvertible, Sendable {
    let path, arch, kind, qemu, sysroot, expectedStdout, notes: String

    var url: URL { Repo.testBinaries.appendingPathComponent(path) }
    var description: String { path }
    var isNative: Bool { qemu == "native" }
    /// False for qemu "none": a dynamic program of an architecture whose C library is not
    /// installed (the zig-built ones), judged by tools instead of run.
    var isRunnable: Bool { qemu != "none" }
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
            let stdout = columns[5] == "-" ? "" : columns[5].replacingOccurrences(of: "\\n", with: "\n") + "\n"
            return Subject(path: columns[0], arch: columns[1], kind: columns[2], qemu: columns[3], sysroot: columns[4],
                           expectedStdout: stdout, notes: columns[6])
        }
    }()

    /// The subject at `path` (relative to TestBinaries); missing from the manifest or from
    /// the disk is an error that says how to build it.
    static func named(_ path: String) throws -> Subject {
        guard let subject = all.first(where: { $0.path == path }) else {
            throw MissingTool(path: "TestBinaries/\(path)", hint: "not in TestBinaries/manifest.tsv; run scripts/build-test-binaries")
        }
        guard FileManager.default.fileExists(atPath: subject.url.path) else {
            throw MissingTool(path: subject.url.path, hint: "run scripts/build-test-binaries")
        }
        return subject
    }

    func contents() throws -> [UInt8] { [UInt8](try Data(contentsOf: url)) }
}

/// A fresh directory under the temporary directory, named `swelf-<purpose>-<uuid>`,
/// removed with everything in it when the last reference goes.
final class ScratchDirectory {
    let url: URL

    init(_ purpose: String) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-\(purpose)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit {
        // A read-only directory left by a test would stop removal: open everything up first.
        if let entries = FileManager.default.enumerator(atPath: url.path) {
            for case let entry as String in entries { chmod(url.appendingPathComponent(entry).path, 0o755) }
        }
        try? FileManager.default.removeItem(at: url)
    }

    /// The path of `name` inside (not created).
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// The directory `relative` inside, created if need be.
    func dir(_ relative: String) throws -> URL {
        let directory = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}
