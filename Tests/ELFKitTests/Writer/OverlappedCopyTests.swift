import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// A large file's unchanged bulk is copied while the plan is verified (`Overlap`). The
/// promise stays the writer's: a refused plan or a failed copy leaves the original
/// byte-identical and no temporary file; a passed one gives exactly the planned bytes.
/// A small file is verified before anything is created.
@Suite struct OverlappedCopyTests {
    struct Refused: Error {}

    /// Counts from both threads; read only after the write returned (the thread joined).
    final class Counter: @unchecked Sendable {
        var copies = 0
        var temporaries = 0
        var writebacks: [(offset: Int64, length: Int64, copiesBefore: Int)] = []
    }

    private func scratchFile(padding: Int) throws -> (directory: URL, path: String) {
        try paddedHelloScratchFile(padding: padding, purpose: "overlap")
    }

    private func plan(for path: String) throws -> (FileByteSource, RewritePlan) {
        let source = try FileByteSource(path: path)
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "o", count: 150)).utf8))
        return (source, try Rewriter().plan(file: try ELFFile(source: source), request: request))
    }

    private func countingSystem(_ counter: Counter, failCopy: Bool = false) -> SystemCalls {
        var system = SystemCalls()
        let copy = system.copyFileRange!
        system.copyFileRange = { input, inputOffset, output, outputOffset, count, flags in
            counter.copies += 1
            if failCopy { errno = ENOSPC; return -1 }
            return copy(input, inputOffset, output, outputOffset, count, flags)
        }
        let anonymous = system.openAnonymous
        system.openAnonymous = { directory in counter.temporaries += 1; return anonymous(directory) }
        let named = system.makeTemporary
        system.makeTemporary = { directory, name in counter.temporaries += 1; return named(directory, name) }
        return system
    }

    private static let large = Int(AtomicFileWriter.overlappedCopyMinimum) + (1 << 20)

    @Test func aRefusedPlanWhileCopyingLeavesTheFileAndNoTemporary() throws {
        let (directory, path) = try scratchFile(padding: Self.large)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let (source, plan) = try plan(for: path)
        #expect(plan.keptPrefix >= AtomicFileWriter.overlappedCopyMinimum, "the bulk must be large enough to overlap")
        let counter = Counter()
        var checked = false
        #expect(throws: Refused.self) {
            try AtomicFileWriter(system: countingSystem(counter)).write(
                plan: plan, input: source, to: BytePath(path), verifyPlan: { throw Refused() }) { _ in checked = true }
        }
        #expect(counter.copies > 0, "the copy never ran beside the verification")
        #expect(!checked, "a refused plan reached the written-file check")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    @Test func aFailedCopyBesideAPassedPlanLeavesTheFileAndNoTemporary() throws {
        let (directory, path) = try scratchFile(padding: Self.large)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let (source, plan) = try plan(for: path)
        let counter = Counter()
        var verified = false
        #expect(throws: WriteError.self) {
            try AtomicFileWriter(system: countingSystem(counter, failCopy: true)).write(
                plan: plan, input: source, to: BytePath(path), verifyPlan: { verified = true }) { _ in }
        }
        #expect(verified && counter.copies > 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    @Test func aPassedPlanGivesExactlyThePlannedBytes() throws {
        let (directory, path) = try scratchFile(padding: Self.large)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (source, plan) = try plan(for: path)
        let expected = try PlannedByteSource(base: source, plan: plan).readBytes(at: 0, count: Int(plan.newSize))
        let counter = Counter()
        var verifications = 0
        try AtomicFileWriter(system: countingSystem(counter)).write(
            plan: plan, input: source, to: BytePath(path), verifyPlan: { verifications += 1 }) { written in
            #expect(WrittenImageCheck(plan: plan, written: written).problems().isEmpty)
        }
        #expect(verifications == 1 && counter.copies > 0)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
    }

    /// Through the pipeline: the edited large file still runs.
    @Test func theRewriterEditsALargeFileThatStillRuns() throws {
        let (directory, path) = try scratchFile(padding: Self.large)
        defer { try? FileManager.default.removeItem(at: directory) }
        var request = EditRequest()
        request.runPath = .set(Array("/opt/a/run/path/long/enough/to/move/the/string/table/somewhere/else".utf8))
        #expect(try Rewriter().rewrite(path: path, request: request).changed)
        // libgreet.so.1 and libunused.so are next to the test program, not in the run path.
        let run = try ChildProcess.run(path, [], environment: ["LD_LIBRARY_PATH": Repo.testBinaries.appendingPathComponent("x86_64").path])
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("hello main done"))
    }

    /// A durable copy starts the disk writes of each chunk as soon as it is copied, so
    /// the final fsync does not wait for the whole file; the start is only a hint, and
    /// without durability, or for a bulk of one chunk or less, there is none.
    @Test(arguments: [(true, 2), (false, 2), (true, 0)]) func aDurableCopyStartsWritebackChunkByChunk(durable: Bool, chunks: Int) throws {
        let bulk = chunks * AtomicFileWriter.writebackChunk + (1 << 20)
        let (directory, path) = try scratchFile(padding: bulk)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (source, plan) = try plan(for: path)
        let expected = try PlannedByteSource(base: source, plan: plan).readBytes(at: 0, count: Int(plan.newSize))
        let counter = Counter()
        var system = countingSystem(counter)
        system.startWriteback = { _, offset, length in
            counter.writebacks.append((Int64(offset), Int64(length), counter.copies))
            errno = EIO
            return -1   // a failed hint must not fail the write
        }
        var writer = AtomicFileWriter(system: system)
        writer.durable = durable
        try writer.write(plan: plan, input: source, to: BytePath(path), verifyPlan: {}) { _ in }
        let ranges = counter.writebacks
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
        guard durable && chunks > 0 else {
            #expect(ranges.isEmpty, "writeback started without durability or for a single chunk")
            return
        }
        #expect(ranges.count >= 3, "the bulk was not written back chunk by chunk")
        var next: Int64 = 0
        for (index, range) in ranges.enumerated() {
            #expect(range.offset == next && range.length > 0 && range.length <= Int64(AtomicFileWriter.writebackChunk))
            #expect(range.copiesBefore == index + 1, "writeback started before its chunk was copied")
            next = range.offset + range.length
        }
        #expect(next == Int64(plan.keptPrefix), "the writeback ranges do not cover the copied bulk")
    }
}
