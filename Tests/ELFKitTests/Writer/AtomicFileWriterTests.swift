import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// The writer's promise: a failed check leaves the destination byte-identical and no
/// temporary file behind; a passed one replaces it with exactly the planned bytes, with
/// the original's mode.
@Suite struct AtomicFileWriterTests {
    struct Refused: Error {}

    private func plan(for path: String) throws -> (FileByteSource, RewritePlan) {
        let source = try FileByteSource(path: path)
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "g", count: 120)).utf8))
        let plan = try Rewriter().plan(file: try ELFFile(source: source), request: request)
        #expect(!plan.appended.isEmpty, "the edit should grow the file")
        return (source, plan)
    }

    @Test func aFailedCheckLeavesTheFileAndNoTemporary() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o751, purpose: "writer")
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let (source, plan) = try plan(for: path)
        var checked = false
        #expect(throws: Refused.self) {
            try AtomicFileWriter().write(plan: plan, input: source, to: BytePath(path), verifyPlan: {}) { written in
                checked = true
                #expect(written.size == plan.newSize)
                throw Refused()
            }
        }
        #expect(checked)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    @Test func aPassedCheckWritesExactlyThePlan() throws {
        let (directory, path) = try scratchCopy(of: "mips/hello", mode: 0o751, purpose: "writer")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (source, plan) = try plan(for: path)
        let expected = try PlannedByteSource(base: source, plan: plan).readBytes(at: 0, count: Int(plan.newSize))
        try AtomicFileWriter().write(plan: plan, input: source, to: BytePath(path), verifyPlan: {}) { written in
            #expect(WrittenImageCheck(plan: plan, written: written).problems().isEmpty)
        }
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o751)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    /// Where the plan is judged before the write: never twice for a small regular file
    /// (the written file's check is the judgement), always before a character device is
    /// written in place (it cannot be read back), and there a refusal writes nothing.
    @Test func thePlanIsJudgedWhereNothingElseCanBe() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o751, purpose: "writer")
        defer { try? FileManager.default.removeItem(at: directory) }
        let (source, plan) = try plan(for: path)
        var planJudged = false, writtenJudged = false
        try AtomicFileWriter().write(plan: plan, input: source, to: BytePath(directory.appendingPathComponent("out").path),
                                     verifyPlan: { planJudged = true }, check: { _ in writtenJudged = true })
        #expect(!planJudged && writtenJudged, "a small regular file: the written file alone is judged")

        planJudged = false
        writtenJudged = false
        #expect(throws: Refused.self) {
            try AtomicFileWriter().write(plan: plan, input: source, to: BytePath("/dev/null"),
                                         verifyPlan: { planJudged = true; throw Refused() }, check: { _ in writtenJudged = true })
        }
        #expect(planJudged && !writtenJudged, "a character device: the plan is judged, and its refusal stops the write")
    }

    /// A FIFO as the file to edit is refused at once: opening it does not wait for a
    /// writer that never comes, and it is never locked or read.
    @Test(.timeLimit(.minutes(1))) func aFIFOInputIsRefusedWithoutWaiting() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fifo = directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o644) == 0)
        // Should the open wait after all, a writer comes after 5 s, so the test fails
        // instead of hanging.
        DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
        }
        var request = EditRequest()
        request.runPath = .set("/x")
        let started = Date()
        let error = try #require(throws: RewriteError.self) { try Rewriter().rewrite(path: fifo, request: request) }
        guard case .invalidInput = error else { Issue.record("got \(error)"); return }
        #expect(Date().timeIntervalSince(started) < 4, "opening the FIFO waited for a writer")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["fifo"])
    }
}
