import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// The verifier's last word is on the bytes that are renamed into place, not on the plan:
/// each case lets the writer produce its temporary file, then changes one byte of it on
/// disk, after every write of the plan and after the plan was verified (from the writer's
/// `fchmod` of the new file, its last step before the written-file check), and the edit
/// must be refused with the original byte-identical, the same inode and no temporary left.
///
/// The kept prefix is copied by the kernel and the zero gap before the appended bytes is
/// made by `ftruncate`: neither was compared with anything before the written file was
/// verified in full, so the kept-prefix and gap cases failed there.
@Suite struct WrittenFileSabotageTests {
    final class Hook: @unchecked Sendable {
        var corruption: (offset: UInt64, byte: UInt8)?
        var fired = 0
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        /// Zero bytes added after the program, none of them referred to: one makes the file's
        /// size odd, so that the appended bytes (aligned) leave a gap after it; with 9 MiB
        /// more the bulk is copied beside the plan's verification (`overlappedCopyMinimum`).
        let padding: Int
        /// The offset to corrupt, from the original file and the plan; nil: no corruption (the control).
        let offset: @Sendable (ELFFile, RewritePlan) throws -> UInt64?
        var testDescription: String { name + (padding > 1 ? ", large file (copied beside the plan's verification)" : "") }
    }

    static let large = Int(AtomicFileWriter.overlappedCopyMinimum) + (1 << 20) + 1

    static let cases: [Case] = [1, large].flatMap { padding in [
        Case(name: "no corruption (control)", padding: padding) { _, _ in nil },
        Case(name: "a byte of code in the kept prefix", padding: padding) { file, plan in
            let text = try #require(file.programHeaders.first { $0.type == .load && $0.flags.contains(.execute) })
            return try unpatched(text.offset + text.fileSize / 2, plan)
        },
        Case(name: "a byte of a non-loaded section in the kept prefix (.comment)", padding: padding) { file, plan in
            let comment = try #require(file.section(named: ".comment")?.header)
            return try unpatched(comment.offset + comment.size / 2, plan)
        },
        Case(name: "a byte of the zero gap between the old end and the appended bytes", padding: padding) { _, plan in
            try #require(plan.appendOffset > plan.keptPrefix && !plan.appended.isEmpty, "the plan leaves no gap")
            return plan.keptPrefix + (plan.appendOffset - plan.keptPrefix) / 2
        },
        Case(name: "a patched byte", padding: padding) { _, plan in
            // The dynamic entry that now points at the new run path is among the patches; the
            // first patch is the one whose bytes are the program header table or .dynamic.
            let patch = try #require(plan.patches.first)
            return patch.offset + UInt64(patch.bytes.count) / 2
        },
        Case(name: "an appended byte", padding: padding) { _, plan in
            try #require(!plan.appended.isEmpty)
            return plan.appendOffset + UInt64(plan.appended.count) / 2
        },
    ] } + [
        Case(name: "a zero byte of padding in the kept prefix that nothing refers to", padding: large) { file, plan in
            try unpatched(file.source.size - 4096, plan)
        },
    ]

    /// `offset`, after checking that no patch covers it (it is copied, not written).
    static func unpatched(_ offset: UInt64, _ plan: RewritePlan) throws -> UInt64 {
        try #require(offset < plan.keptPrefix)
        try #require(!plan.patches.contains { $0.offset <= offset && offset < $0.offset + UInt64($0.bytes.count) })
        return offset
    }

    private func scratchFile(padding: Int) throws -> (directory: URL, path: String) {
        try paddedHelloScratchFile(padding: padding, purpose: "written")
    }

    /// A run path long enough that .dynstr moves to an appended segment.
    static var request: EditRequest {
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "w", count: 200)).utf8))
        return request
    }

    /// The writer's system calls, with one byte of the new file changed at its first
    /// `fchmod` (the writer sets the mode again after the extended attributes; a second
    /// flip would undo the first): every byte of the plan is written by then, a large
    /// file's plan verified, and the written-file check not yet run.
    static func corrupting(_ hook: Hook) -> SystemCalls {
        var system = SystemCalls()
        let changeMode = system.changeMode
        system.changeMode = { descriptor, mode in
            if let (offset, byte) = hook.corruption {
                var value = byte
                if pwrite(descriptor, &value, 1, off_t(offset)) == 1 {
                    hook.fired += 1
                    hook.corruption = nil
                }
            }
            return changeMode(descriptor, mode)
        }
        return system
    }

    @Test(arguments: cases) func aByteChangedInTheWrittenFileIsRefused(case: Case) throws {
        let (directory, path) = try scratchFile(padding: `case`.padding)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        var status = stat()
        #expect(stat(path, &status) == 0)
        let inode = status.st_ino

        let source = try FileByteSource(path: path)
        let file = try ELFFile(source: source)
        let plan = try Rewriter().plan(file: file, request: Self.request)
        #expect((plan.keptPrefix >= AtomicFileWriter.overlappedCopyMinimum) == (`case`.padding > 1))
        let hook = Hook()
        if let offset = try `case`.offset(file, plan) {
            let now = try PlannedByteSource(base: source, plan: plan).bytes(at: offset, count: 1, "sabotaged byte")[0]
            hook.corruption = (offset, now == 0 ? 0x5a : ~now)
        }
        let rewriter = Rewriter(writer: AtomicFileWriter(system: Self.corrupting(hook)))
        guard hook.corruption != nil else {
            #expect(try rewriter.rewrite(path: path, request: Self.request).changed)
            return
        }
        do {
            _ = try rewriter.rewrite(path: path, request: Self.request)
            Issue.record("the corrupted file was accepted")
        } catch .verificationFailed(let problems) {
            #expect(!problems.isEmpty)
        }
        #expect(hook.fired == 1, "the corruption was not written")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the original changed")
        #expect(stat(path, &status) == 0 && status.st_ino == inode, "the original was replaced")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"], "a temporary file was left")
    }

    /// The same corruptions when the plan comes from `check`, as in autopatch's check pass:
    /// the prepare then writes the checked plan without planning or verifying it again, and
    /// only the byte-for-byte comparison with the image the verifier accepted
    /// (`WrittenEqualsVerifiedImage`) stands between the corrupted file and the rename.
    @Test(arguments: cases) func aByteChangedInAFileWrittenFromACheckedPlanIsRefused(case: Case) throws {
        let (directory, path) = try scratchFile(padding: `case`.padding)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        var status = stat()
        #expect(stat(path, &status) == 0)
        let inode = status.st_ino

        let hook = Hook()
        let rewriter = Rewriter(writer: AtomicFileWriter(system: Self.corrupting(hook)))
        let checked = try rewriter.check(path: path, request: Self.request)
        #expect(checked.original != nil, "the check kept no digest")
        let file = try ELFFile(path: path)
        if let offset = try `case`.offset(file, checked.result.plan) {
            let now = try PlannedByteSource(base: file.source, plan: checked.result.plan).bytes(at: offset, count: 1, "sabotaged byte")[0]
            hook.corruption = (offset, now == 0 ? 0x5a : ~now)
        }
        guard hook.corruption != nil else {
            try expectCheckedPlanWritten(path: path, rewriter: rewriter, checked: checked, padding: `case`.padding)
            return
        }
        let prepared = Result { () throws(RewriteError) in try rewriter.prepare(path: BytePath(path), request: Self.request, checked: checked) }
        switch prepared {
        case .success:
            Issue.record("the corrupted file was accepted")
        case .failure(.verificationFailed(let problems)):
            #expect(problems.contains(where: Self.isWrittenFileDifference), "refused for another reason: \(problems)")
        case .failure(let error):
            Issue.record("refused for another reason: \(error)")
        }
        #expect(hook.fired == 1, "the corruption was not written")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the original changed")
        #expect(stat(path, &status) == 0 && status.st_ino == inode, "the original was replaced")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"], "a temporary file was left")
    }

    static func isWrittenFileDifference(_ failure: VerificationFailure) -> Bool {
        guard case .writtenFileDiffers = failure else { return false }
        return true
    }

    /// The control of the checked-plan case: the checked plan is the one written, and the
    /// file is the one an edit planned and verified on its own makes.
    private func expectCheckedPlanWritten(path: String, rewriter: Rewriter, checked: CheckedEdit, padding: Int) throws {
        let prepared = try rewriter.prepare(path: BytePath(path), request: Self.request, checked: checked)
        #expect(prepared.wroteCheckedPlan, "the checked plan was not the one written")
        #expect(rewriter.commit([prepared]).allSatisfy { $0 == nil })
        let (freshDirectory, fresh) = try scratchFile(padding: padding)
        defer { try? FileManager.default.removeItem(at: freshDirectory) }
        #expect(try Rewriter().rewrite(path: fresh, request: Self.request).changed)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(contentsOf: URL(fileURLWithPath: fresh)))
    }
}
