import Foundation
import Testing
import ELFKit

/// `Rewriter` as a library user meets it (a plain `import ELFKit`, no `@testable`): each
/// way an edit fails comes as its own `RewriteError` case, with the value a caller needs
/// to act on it (the reader's error kind and offset, the `errno`, the verifier's
/// findings), and no failure changes the file.
@Suite struct RewriterErrorTests {
    /// A private copy of a test binary, removed at the end.
    final class Scratch {
        let directory: URL
        let path: String
        let original: Data

        init(_ subject: String, mode: mode_t = 0o755) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-errors-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("subject").path
            original = try Data(contentsOf: try #require(Subject.all.first { $0.path == subject }).url)
            try original.write(to: URL(fileURLWithPath: path))
            chmod(path, mode)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        /// The file is byte for byte the copy made at the start, and alone in its directory.
        func isUntouched() throws -> Bool {
            try Data(contentsOf: URL(fileURLWithPath: path)) == original
                && FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"]
        }
    }

    @Test func aFileThatIsNotELFIsInvalidInputAtOffsetZero() throws {
        let scratch = try Scratch("x86_64/hello")
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: URL(fileURLWithPath: scratch.path))
        let error = try #require(throws: RewriteError.self) {
            try Rewriter().rewrite(path: scratch.path, request: EditRequest(runPath: .set("$ORIGIN")))
        }
        guard case .invalidInput(let reason) = error else { Issue.record("got \(error)"); return }
        #expect(reason.kind == .notELF)
    }

    @Test func anInterpreterForASharedLibraryIsRefused() throws {
        let scratch = try Scratch("x86_64/libgreet.so.1")
        let error = try #require(throws: RewriteError.self) {
            try Rewriter().rewrite(path: scratch.path, request: EditRequest(interpreter: "/lib/ld-linux.so.2"))
        }
        guard case .refused(let refusal) = error else { Issue.record("got \(error)"); return }
        #expect(refusal.kind == .noInterpreter)
        #expect(try scratch.isUntouched())
    }

    @Test func anOutputInAMissingDirectoryIsAFileSystemErrorWithItsErrno() throws {
        let scratch = try Scratch("x86_64/hello")
        let output = scratch.directory.appendingPathComponent("no/such/dir/out").path
        let error = try #require(throws: RewriteError.self) {
            try Rewriter().rewrite(path: scratch.path, request: EditRequest(runPath: .set("$ORIGIN")), output: output)
        }
        guard case .fileSystem(let failure) = error else { Issue.record("got \(error)"); return }
        #expect(failure.code == ENOENT)
        #expect(try scratch.isUntouched())
    }

    @Test func aLockedFileIsBusyForPrepareAndNamesThePath() throws {
        let scratch = try Scratch("x86_64/hello")
        let rewriter = Rewriter(durable: false)
        let held = try rewriter.prepare(path: scratch.path, request: EditRequest(runPath: .set("$ORIGIN/a")))
        let error = try #require(throws: RewriteError.self) {
            try rewriter.prepare(path: scratch.path, request: EditRequest(runPath: .set("$ORIGIN/b")))
        }
        guard case .busy(let path) = error else { Issue.record("got \(error)"); return }
        #expect(path == scratch.path)
        #expect(rewriter.commit([held]).allSatisfy { $0 == nil })
    }

    @Test func previewWritesNothingAndTellsWhatRewriteDoes() throws {
        let scratch = try Scratch("x86_64/hello")
        let request = EditRequest(runPath: .set("$ORIGIN/" + String(repeating: "x", count: 300)), addNeeded: ["libm.so.6"])
        let preview = try Rewriter().preview(path: scratch.path, request: request)
        #expect(try scratch.isUntouched())
        #expect(preview.changed)
        #expect(preview.newSize > preview.originalSize, "a 300-byte run path does not fit in place")
        let result = try Rewriter(durable: false).rewrite(path: scratch.path, request: request)
        #expect(result.newSize == preview.newSize)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path)).count == Int(result.newSize))
        // Asked again, the file already says it: nothing changes.
        #expect(try !Rewriter().rewrite(path: scratch.path, request: request).changed)
    }

    @Test func verificationFailuresAreValues() {
        let failure = VerificationFailure.writtenFileDiffers(offset: 0x40, expectedSize: 100, actualSize: 100)
        #expect(RewriteError.verificationFailed([failure]).description
            == "refusing to write: the result failed verification: the written file differs from the plan at offset 0x40")
    }
}
