import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitVerify

/// The verifier's overlay check (OverlayCheck, docs/overlay-design.md §12.6) and the
/// planner's image end on hostile headers. Each check is shown to accept the correct plan
/// and to reject the same plan broken in one way.
@Suite struct OverlayVerifierTests {
    static let growing: EditRequest = {
        var request = EditRequest()
        request.runPath = .set(Array(("/opt/" + String(repeating: "long/", count: 60)).utf8))
        return request
    }()

    /// x86_64/hello with `tail` appended: a file with an overlay.
    static func file(withOverlay tail: [UInt8]) throws -> ELFFile {
        try ELFFile(source: MemoryByteSource(try Subject.named("x86_64/hello").contents() + tail))
    }

    static func problems(_ file: ELFFile, _ plan: RewritePlan, _ request: EditRequest) throws -> [VerificationProblem] {
        IndependentVerifier(original: file, edited: try ELFFile(source: PlannedByteSource(base: file.source, plan: plan)),
                            request: request).problems()
    }

    static func denoTrailer(start: UInt64) -> [UInt8] {
        let payload = Array("ESZIP2 and the metadata of a deno program".utf8)
        func be(_ value: UInt64) -> [UInt8] { (0 ..< 8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64($0))) } }
        return payload + Array("d3n0l4nd".utf8) + be(start) + be(start + 6)
    }

    @Test func movedOverlayIsAcceptedAndEachSabotageRejected() throws {
        let tail = Array("payload bytes".utf8) + [UInt8](repeating: 0x5a, count: 300) + Array("\n---- Bun! ----\n".utf8) + [0, 0x10, 0, 0, 0, 0, 0, 0]
        let file = try Self.file(withOverlay: tail)
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let moved = try #require(plan.tail)
        #expect(moved.length == UInt64(tail.count))
        #expect(plan.newSize == moved.offset + moved.length)
        #expect(try Self.problems(file, plan, Self.growing).isEmpty)

        // One overlay byte corrupted (through a tail patch the writer would apply).
        var corrupt = plan
        corrupt.tail!.patches.append(RewritePlan.Patch(offset: moved.offset + 5, bytes: [0x21]))
        #expect(try Self.problems(file, corrupt, Self.growing).contains { $0.check == .overlay })

        // The overlay misplaced: 16 bytes later, after a gap (no longer right after the image).
        var misplaced = plan
        misplaced.tail!.offset += 16
        #expect(try Self.problems(file, misplaced, Self.growing).contains { $0.check == .overlay })

        // The overlay dropped (patchelf's ET_EXEC mistake of cutting it off is one form).
        var dropped = plan
        dropped.tail = nil
        #expect(try !Self.problems(file, dropped, Self.growing).isEmpty)
    }

    @Test func denoTrailerPositionsMoveWithTheOverlay() throws {
        let size = UInt64(try Subject.named("x86_64/hello").contents().count)
        let file = try Self.file(withOverlay: Self.denoTrailer(start: size))
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let moved = try #require(plan.tail)
        #expect(moved.patches.count == 1)
        #expect(try Self.problems(file, plan, Self.growing).isEmpty)
        // The positions left as they were: rejected.
        var stale = plan
        stale.tail!.patches = []
        #expect(try Self.problems(file, stale, Self.growing).contains { $0.check == .overlay })
        // A position off by one: rejected.
        var off = plan
        off.tail!.patches[0].bytes[7] ^= 1
        #expect(try Self.problems(file, off, Self.growing).contains { $0.check == .overlay })
    }

    @Test func denoPositionOutsideTheOverlayIsRefused() throws {
        let file = try Self.file(withOverlay: Self.denoTrailer(start: 64))
        #expect(throws: EditError.self) { try Rewriter().plan(file: file, request: Self.growing) }
        do {
            _ = try Rewriter().plan(file: file, request: Self.growing)
        } catch {
            #expect("\(error)".contains("deno"))
            #expect(!"\(error)".contains("\n"))
        }
    }

    @Test func appImageRuleHolds() throws {
        var contents = try Subject.named("x86_64/hello").contents()
        contents.replaceSubrange(8 ..< 11, with: [0x41, 0x49, 0x02])
        let file = try ELFFile(source: MemoryByteSource(contents + Array("hsqs squashfs stand-in".utf8)))
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
        #expect(OverlayCheck.computedEnd(of: edited) == plan.tail?.offset)
        #expect(try Self.problems(file, plan, Self.growing).isEmpty)
    }

    /// The AppImage rule alone: the last PT_LOAD stretched 16 bytes past the section header
    /// table and the overlay placed there. Size and bytes are right for that image end, but
    /// the runtime's rule (section headers only) would look 16 bytes too early.
    @Test func appImageRuleRejectsATableThatNoLongerEndsTheImage() throws {
        var contents = try Subject.named("x86_64/hello").contents()
        contents.replaceSubrange(8 ..< 11, with: [0x41, 0x49, 0x02])
        let file = try ELFFile(source: MemoryByteSource(contents + Array("hsqs squashfs stand-in".utf8)))
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
        let index = try #require(edited.programHeaders.lastIndex { $0.type == .load })
        var load = edited.programHeaders[index]
        let tail = try #require(plan.tail)
        load.fileSize = tail.offset + 16 - load.offset
        load.memorySize = load.fileSize
        let at = edited.header.programHeaderOffset + UInt64(index) * edited.format.programHeaderSize
        var broken = try #require(VerifierSabotageTests.overlay(plan, at: at, try VerifierSabotageTests.encode([load], edited.format)))
        broken.tail!.offset += 16
        let problems = try Self.problems(file, broken, Self.growing)
        #expect(problems.contains { $0.check == .overlay && $0.message.contains("AppImage") })
    }

    @Test func keepOffsetLeavesTheOverlayAndIsChecked() throws {
        let tail = Array("an overlay kept at its offset".utf8) + [UInt8](repeating: 7, count: 100)
        let file = try Self.file(withOverlay: tail)
        var request = Self.growing
        request.overlay = .keepOffset
        let plan = try Rewriter().plan(file: file, request: request)
        #expect(plan.tail == nil)
        #expect(plan.appendOffset >= file.source.size)
        #expect(try Self.problems(file, plan, request).isEmpty)
        // The same bytes judged as a default-placement edit: the overlay is not the tail.
        #expect(try Self.problems(file, plan, Self.growing).contains { $0.check == .overlay })
        // An overlay byte changed in place.
        var corrupt = plan
        corrupt.patches.append(RewritePlan.Patch(offset: file.source.size - 3, bytes: [0xee]))
        corrupt.patches.sort { $0.offset < $1.offset }
        #expect(try Self.problems(file, corrupt, request).contains { $0.check == .overlay })
    }

    @Test func upxIsRefused() throws {
        let file = try Self.file(withOverlay: [0, 0, 0, 0] + Array("UPX!".utf8) + [UInt8](repeating: 1, count: 28))
        do {
            _ = try Rewriter().plan(file: file, request: Self.growing)
            Issue.record("a UPX-packed file was planned")
        } catch {
            guard case .refused(let refusal) = error else { Issue.record("\(error)"); return }
            #expect(refusal.kind == .overlay)
            #expect(refusal.detail.contains("UPX"))
        }
    }

    /// x86_64/hello with PyInstaller's archive added as objcopy adds it (section `pydata`
    /// before `.shstrtab` and the section header table, its 88-byte cookie last), then
    /// `tail` appended.
    static func pyInstaller(tail: [UInt8] = []) throws -> ELFFile {
        let directory = try TemporaryDirectory()
        let program = directory.path + "/program", archive = directory.path + "/archive"
        try Data(try Subject.named("x86_64/hello").contents()).write(to: URL(fileURLWithPath: program))
        let package = Array("the package of a PyInstaller program".utf8)
        var cookie = [0x4d, 0x45, 0x49, 0o14, 0o13, 0o12, 0o13, 0o16] as [UInt8]
        let length = UInt32(package.count + 88)
        cookie += [UInt8(length >> 24), UInt8(truncatingIfNeeded: length >> 16), UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length)]
        cookie += [UInt8](repeating: 0, count: 88 - cookie.count)
        try Data(package + cookie).write(to: URL(fileURLWithPath: archive))
        let objcopy = try ChildProcess.run("objcopy", ["--add-section", "pydata=" + archive, program])
        #expect(objcopy.status == 0, "\(objcopy)")
        let contents = [UInt8](try Data(contentsOf: URL(fileURLWithPath: program)))
        return try ELFFile(source: MemoryByteSource(contents + tail))
    }

    /// PyInstaller 4.0–4.2 bootloaders find the cookie only in the last 4096 + 88 bytes: a
    /// growing edit moves the archive to the end of the file (its cookie ends it), and the
    /// verifier accepts that. Sabotages: the planner's layout without the move (the new
    /// content after the archive, what swelf wrote before) and one archive byte changed
    /// are rejected.
    @Test func pyInstallerArchiveMovesToTheEndAndIsChecked() throws {
        let file = try Self.pyInstaller()
        let pydata = try #require(file.section(named: "pydata")).header
        #expect(try PyInstallerWindowCheck.packageStart(in: file) == pydata.offset)
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let moved = try #require(plan.tail)
        #expect(moved.sourceOffset == pydata.offset && moved.length == pydata.size)
        #expect(plan.newSize == moved.offset + moved.length)
        #expect(plan.newSize < file.source.size + 2 * 4096, "the archive was copied, not moved")
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
        #expect(try #require(edited.section(named: "pydata")).header.offset == moved.offset)
        #expect(try PyInstallerWindowCheck.packageStart(in: edited) == moved.offset)
        let accepted = try Self.problems(file, plan, Self.growing)
        #expect(accepted.isEmpty, "\(accepted)")

        // A second growing edit of the result (its table now before the archive): the
        // archive ends the file again, and swelf's segment is rebuilt, not added to.
        let once = try ELFFile(source: MemoryByteSource(try edited.source.readBytes(at: 0, count: Int(plan.newSize))))
        var longer = Self.growing
        longer.runPath = .set(Array(("/srv/" + String(repeating: "longer/", count: 60)).utf8))
        let again = try Rewriter().plan(file: once, request: longer)
        let twice = try ELFFile(source: PlannedByteSource(base: once.source, plan: again))
        #expect(try #require(again.tail).sourceOffset == moved.offset)
        let archiveAgain = try #require(twice.section(named: "pydata")).header
        #expect(try PyInstallerWindowCheck.packageStart(in: twice) == archiveAgain.offset)
        #expect(archiveAgain.offset + archiveAgain.size == again.newSize)
        #expect(again.newSize < plan.newSize + 4096, "the second edit added a segment instead of rebuilding swelf's")
        #expect(try Self.problems(once, again, longer).isEmpty)

        // The archive left in place, the new content after it.
        let outcome = try DynamicEditor(file: file).apply(Self.growing)
        let unmoved = try LayoutPlanner(file: file, outcome: outcome).plan()
        #expect(unmoved.newSize - (pydata.offset + pydata.size) > PyInstallerWindowCheck.window)
        let problems = try Self.problems(file, unmoved, Self.growing)
        #expect(problems.contains { $0.check == .sections && $0.message.contains("PyInstaller 4.0–4.2") }, "\(problems)")

        // One byte of the moved archive changed.
        var corrupt = plan
        corrupt.tail!.patches.append(RewritePlan.Patch(offset: moved.offset + 3, bytes: [0x21]))
        #expect(try Self.problems(file, corrupt, Self.growing).contains { $0.check == .sections && $0.message.contains("pydata") })
    }

    /// An archive that does not end the image (bytes follow it) cannot be moved to the end
    /// while those bytes stay the file's tail: the edit is refused before anything is
    /// written, naming PyInstaller and the reason.
    @Test func pyInstallerArchiveFollowedByAnOverlayIsRefused() throws {
        let file = try Self.pyInstaller(tail: Array("sixteen bytes...".utf8))
        #expect(try PyInstallerWindowCheck.packageStart(in: file) != nil)
        do {
            let plan = try Rewriter().plan(file: file, request: Self.growing)
            Issue.record("planned: \(plan.log)")
        } catch {
            guard case .refused(let refusal) = error else { Issue.record("\(error)"); return }
            #expect(refusal.kind == .overlay)
            #expect(refusal.detail.contains("PyInstaller") && refusal.detail.contains("4.0-4.2") && !refusal.detail.contains("\n"))
        }
        // An edit that fits in place is not refused: nothing moves.
        var inPlace = EditRequest()
        inPlace.executableStack = true
        #expect(try Rewriter().plan(file: file, request: inPlace).newSize == file.source.size)
    }

    /// Hostile extents: a segment or the section header table reaching past 2^64 is a
    /// format error naming an offset, never a trap, in the planner and in the verifier.
    @Test func imageEndOverflowIsAnErrorNotATrap() throws {
        var contents = try Subject.named("x86_64/hello").contents()
        let file = try ELFFile(source: MemoryByteSource(contents))
        // The first program header's p_offset (8 bytes at phoff + 8) set to 2^64 - 1.
        let phoff = Int(file.header.programHeaderOffset)
        contents.replaceSubrange(phoff + 8 ..< phoff + 16, with: [UInt8](repeating: 0xff, count: 8))
        let hostile = try ELFFile(source: MemoryByteSource(contents))
        #expect(throws: ELFError.self) { try Overlay.imageEnd(of: hostile) }
        #expect(OverlayCheck.imageEnd(of: hostile) == nil)
        #expect(try Overlay.imageEnd(of: file) == UInt64(try Subject.named("x86_64/hello").contents().count))
    }
}
