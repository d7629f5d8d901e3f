import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// A relocation of data strings alone is judged on the written file itself (the writer
/// against the plan, then `RelocationDataCheck` of the written file against the original),
/// with no image compared in between: each case changes one byte of the temporary file on
/// disk after the plan is written (`WrittenFileSabotageTests.corrupting`), and the
/// relocation must be refused with the original untouched and no temporary file left.
@Suite struct RelocationWrittenFileTests {
    static let old = "/oldpre"
    static let new = "/nw"

    /// A copy of the hello program (plus `padding` zero bytes) with one of its .rodata C
    /// strings overwritten, at the same length, by a path under `old`; and the relocation's
    /// data patch for it (`new` then NULs up to the old end, conda's binary mode).
    static func subject(padding: Int) throws -> (directory: URL, path: String, patch: (offset: UInt64, bytes: [UInt8])) {
        let (directory, path) = try paddedHelloScratchFile(padding: padding, purpose: "relocation-written")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let rodata = try #require(ELFFile(path: path).section(named: ".rodata")?.header)
        let path_ = Array((old + "/share").utf8)
        // The first C string of .rodata long enough to hold the path.
        var start = Int(rodata.offset)
        var site: Int?
        while start < Int(rodata.offset + rodata.size) {
            let end = bytes[start...].firstIndex(of: 0) ?? Int(rodata.offset + rodata.size)
            if end - start >= path_.count, start == Int(rodata.offset) || bytes[start - 1] == 0 {
                site = start
                break
            }
            start = end + 1
        }
        let offset = try #require(site, "no C string in .rodata long enough")
        let length = bytes[offset...].firstIndex(of: 0)! - offset
        bytes.replaceSubrange(offset ..< offset + length, with: path_ + [UInt8](repeating: UInt8(ascii: "/"), count: length - path_.count))
        try bytes.write(to: URL(fileURLWithPath: path))
        let after = Array((new + "/share").utf8) + [UInt8](repeating: UInt8(ascii: "/"), count: length - path_.count)
        return (directory, path, (UInt64(offset), after + [UInt8](repeating: 0, count: length - after.count)))
    }

    static let large = WrittenFileSabotageTests.large

    /// Where to change a byte: nil for the control (no change).
    @Test(arguments: [
        ("no corruption (control)", 1, nil as String?),
        ("a patched byte", 1, "patch"), ("a byte of code", 1, "code"), ("a byte of .comment", 1, "comment"),
        ("a byte of code, large file", large, "code"), ("a zero byte of padding, large file", large, "padding"),
    ])
    func aByteChangedInTheWrittenFileIsRefused(name: String, padding: Int, place: String?) throws {
        let (directory, path, patch) = try Self.subject(padding: padding)
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let file = try ELFFile(path: path)
        let hook = WrittenFileSabotageTests.Hook()
        var offset: UInt64?
        switch place {
        case "patch": offset = patch.offset + 2
        case "code":
            let text = try #require(file.programHeaders.first { $0.type == .load && $0.flags.contains(.execute) })
            offset = text.offset + text.fileSize / 2
        case "comment":
            let comment = try #require(file.section(named: ".comment")?.header)
            offset = comment.offset + comment.size / 2
        case "padding": offset = UInt64(before.count) - 4096
        default: offset = nil
        }
        if let offset {
            let expected = offset >= patch.offset && offset < patch.offset + UInt64(patch.bytes.count)
                ? patch.bytes[Int(offset - patch.offset)] : before[Int(offset)]
            hook.corruption = (offset, expected == 0 ? 0x5a : ~expected)
        }
        let rewriter = Rewriter(writer: AtomicFileWriter(system: WrittenFileSabotageTests.corrupting(hook)))
        let pairs = [(old: Array(Self.old.utf8), new: Array(Self.new.utf8))]
        let prepared = Result { () throws(RewriteError) in
            try rewriter.prepareRelocation(path: path, dataPatches: [patch], pairs: pairs, request: EditRequest())
        }
        guard offset != nil else {
            let edit = try prepared.get()
            #expect(rewriter.commitRelocations([edit]).allSatisfy { $0 == nil })
            var expected = before
            expected.replaceSubrange(Int(patch.offset) ..< Int(patch.offset) + patch.bytes.count, with: patch.bytes)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected)
            return
        }
        switch prepared {
        case .success: Issue.record("\(name): the corrupted file was accepted")
        case .failure(.verificationFailed(let problems)): #expect(!problems.isEmpty)
        case .failure(let error): Issue.record("\(name): refused for another reason: \(error)")
        }
        #expect(hook.fired == 1, "the corruption was not written")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the original changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"], "a temporary file was left")
    }
}
