import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// A plan `Rewriter.check` verified is written by `prepare` without a second plan and
/// verification only while the file is the content that was checked; the written file
/// must then equal the verified image byte for byte (the corruption cases are in
/// `WrittenFileSabotageTests`).
@Suite struct CheckedEditTests {
    static var request: EditRequest {
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "c", count: 200)).utf8))
        return request
    }

    /// Checks `path`, lets `change` alter it, prepares with the checked edit and commits;
    /// returns whether the checked plan was written.
    private func checkChangePrepare(_ path: String, change: (String) throws -> Void) throws -> Bool {
        let rewriter = Rewriter(durable: false)
        let checked = try rewriter.check(path: path, request: Self.request)
        #expect(checked.original != nil)
        try change(path)
        let prepared = try rewriter.prepare(path: BytePath(path), request: Self.request, checked: checked)
        #expect(rewriter.commit([prepared]).allSatisfy { $0 == nil })
        return prepared.wroteCheckedPlan
    }

    /// The file as an edit planned and verified on its own makes it, from `contents`.
    private func freshEdit(of contents: Data) throws -> Data {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", purpose: "checked-fresh")
        defer { try? FileManager.default.removeItem(at: directory) }
        try contents.write(to: URL(fileURLWithPath: path))
        #expect(try Rewriter().rewrite(path: path, request: Self.request).changed)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    @Test func anUnchangedFileIsWrittenFromItsCheckedPlan() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", purpose: "checked")
        defer { try? FileManager.default.removeItem(at: directory) }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try checkChangePrepare(path) { _ in })
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == freshEdit(of: original))
    }

    @Test func aByteChangedAfterTheCheckMakesThePreparePlanAndVerifyAgain() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", purpose: "checked")
        defer { try? FileManager.default.removeItem(at: directory) }
        let comment = try #require(ELFFile(path: path).section(named: ".comment")?.header)
        var changed = try Data(contentsOf: URL(fileURLWithPath: path))
        changed[Int(comment.offset + 1)] ^= 0x20
        let wroteChecked = try checkChangePrepare(path) { path in
            // Same size and inode: only the digest tells the content apart.
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.seek(toOffset: comment.offset + 1)
            try handle.write(contentsOf: [changed[Int(comment.offset + 1)]])
            try handle.close()
        }
        #expect(!wroteChecked, "the checked plan was written over content it was not verified on")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == freshEdit(of: changed))
    }

    @Test func anotherFileInItsPlaceAfterTheCheckIsPlannedAndVerifiedAgain() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", purpose: "checked")
        defer { try? FileManager.default.removeItem(at: directory) }
        let library = Data(try Subject.named("x86_64/libgreet.so.1").contents())
        let wroteChecked = try checkChangePrepare(path) { path in
            try library.write(to: URL(fileURLWithPath: path))
        }
        #expect(!wroteChecked)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == freshEdit(of: library))
    }

    /// `checkRelocation` then `prepareRelocation(checked:)`: the checked engine plan is
    /// written only while the file is the content checked, and the result is the file a
    /// relocation prepared on its own makes.
    @Test(arguments: [false, true])
    func aRelocationIsWrittenFromItsCheckedPlanOnlyWhileTheFileIsUnchanged(changeAByte: Bool) throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", purpose: "checked-relocation")
        defer { try? FileManager.default.removeItem(at: directory) }
        let comment = try #require(ELFFile(path: path).section(named: ".comment")?.header)
        let rewriter = Rewriter(durable: false)
        let checked = try rewriter.checkRelocation(path: path, dataPatches: [], pairs: [], request: Self.request)
        #expect(checked.original != nil && checked.result.changed)
        var contents = try Data(contentsOf: URL(fileURLWithPath: path))
        if changeAByte {
            contents[Int(comment.offset + 1)] ^= 0x20
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.seek(toOffset: comment.offset + 1)
            try handle.write(contentsOf: [contents[Int(comment.offset + 1)]])
            try handle.close()
        }
        let prepared = try rewriter.prepareRelocation(path: path, dataPatches: [], pairs: [], request: Self.request, checked: checked)
        #expect(prepared.wroteCheckedPlan == !changeAByte)
        #expect(rewriter.commitRelocations([prepared]).allSatisfy { $0 == nil })
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == freshEdit(of: contents))
    }

    /// A source of any size whose bytes must not be read.
    final class Unreadable: ByteSource {
        let size: UInt64
        init(size: UInt64) { self.size = size }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
            Issue.record("read at \(offset)")
            throw ELFError(.io, "unreadable")
        }
    }

    @Test func aFileLargerThanTheDigestLimitIsNotReadWhole() throws {
        #expect(try ContentDigest.wholeContent(of: Unreadable(size: UInt64(ContentDigest.largestDigested) + 1)) == nil)
    }

    @Test func theComparisonNamesTheFirstDifferentByteOrTheSize() {
        let image = (0 ..< 150_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(WrittenEqualsVerifiedImage(image: MemoryByteSource(image), written: MemoryByteSource(image)).problems().isEmpty)
        for offset in [0, 70_000, 149_999] {
            var written = image
            written[offset] ^= 1
            let problems = WrittenEqualsVerifiedImage(image: MemoryByteSource(image), written: MemoryByteSource(written)).problems()
            guard case .writtenFileDiffers(let at?, _, _)? = problems.first else { Issue.record("\(problems)"); continue }
            #expect(at == UInt64(offset))
        }
        let problems = WrittenEqualsVerifiedImage(image: MemoryByteSource(image), written: MemoryByteSource(image + [0])).problems()
        guard case .writtenFileDiffers(nil, 150_000, 150_001)? = problems.first else { Issue.record("\(problems)"); return }
    }
}
