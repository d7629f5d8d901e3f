import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitVerify

/// lld (and zig, which links with lld) puts `.dynamic` first in PT_GNU_RELRO. When a growing
/// edit moves `.dynamic`, binutils `strip` rebuilds PT_GNU_RELRO from the first section left
/// in it and keeps p_memsz, so it ran past its PT_LOAD; the editor now starts the header at
/// that section (the same 4 KiB page, the same end). The verifier accepts exactly that shift
/// and rejects the header as strip left it, a shift that uncovers a section, and one into
/// another page.
@Suite struct RelroShiftTests {
    static let growing: EditRequest = {
        var request = EditRequest()
        request.runPath = .set(Array(("/opt/" + String(repeating: "long/", count: 60)).utf8))
        return request
    }()

    static func problems(_ file: ELFFile, _ plan: RewritePlan) throws -> [VerificationProblem] {
        IndependentVerifier(original: file, edited: try ELFFile(source: PlannedByteSource(base: file.source, plan: plan)),
                            request: growing).problems()
    }

    /// `plan` with PT_GNU_RELRO replaced by `change(original header)`.
    static func relro(_ plan: RewritePlan, _ file: ELFFile, _ change: (inout ProgramHeader) -> Void) throws -> RewritePlan {
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
        let index = try #require(edited.programHeaders.firstIndex { $0.type == .gnuRelRO })
        var header = try #require(file.programHeaders.first { $0.type == .gnuRelRO })
        change(&header)
        let at = edited.header.programHeaderOffset + UInt64(index) * edited.format.programHeaderSize
        return try #require(VerifierSabotageTests.overlay(plan, at: at, try VerifierSabotageTests.encode([header], edited.format)))
    }

    @Test(arguments: ["aarch64_be/hello", "armeb/hello"])
    func relroStartsAtTheFirstSectionLeftInIt(_ name: String) throws {
        let file = try ELFFile(source: MemoryByteSource(try Subject.named(name).contents()))
        let before = try #require(file.programHeaders.first { $0.type == .gnuRelRO })
        let dynamic = try #require(file.programHeaders.first { $0.type == .dynamic })
        #expect(before.virtualAddress == dynamic.virtualAddress, "the subject's .dynamic does not start PT_GNU_RELRO")
        let got = try #require(file.section(named: ".got")).header
        let plan = try Rewriter().plan(file: file, request: Self.growing)
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
        let after = try #require(edited.programHeaders.first { $0.type == .gnuRelRO })
        let delta = got.address - before.virtualAddress
        #expect(after.virtualAddress == got.address && after.offset == before.offset + delta)
        #expect(after.virtualAddress + after.memorySize == before.virtualAddress + before.memorySize)
        let accepted = try Self.problems(file, plan)
        #expect(accepted.isEmpty, "\(accepted)")

        // As strip leaves it: the start moved, p_memsz kept (it ends past its PT_LOAD).
        let stripped = try Self.relro(plan, file) {
            $0.offset += delta; $0.virtualAddress += delta; $0.physicalAddress += delta; $0.fileSize -= delta
        }
        let rejected = try Self.problems(file, stripped)
        #expect(rejected.contains { $0.message.contains("PT_GNU_RELRO changed") }, "\(rejected)")
        // One byte further: .got is no longer protected.
        let uncovered = try Self.relro(plan, file) {
            let more = delta + 1
            $0.offset += more; $0.virtualAddress += more; $0.physicalAddress += more; $0.fileSize -= more; $0.memorySize -= more
        }
        #expect(try !Self.problems(file, uncovered).isEmpty)
    }

    /// The page rule alone: a start moved within its 4 KiB page keeps the pages the loader
    /// protects (it rounds the start down); into the next page, or down, it does not.
    @Test func onlyAShiftWithinThePageIsAccepted() {
        #expect(RelroShift.protectsTheSamePages(from: 0x206a0, from: 0x20820))
        #expect(RelroShift.protectsTheSamePages(from: 0x20000, from: 0x20fff))
        #expect(!RelroShift.protectsTheSamePages(from: 0x206a0, from: 0x21000))
        #expect(!RelroShift.protectsTheSamePages(from: 0x20ff8, from: 0x21010))
        #expect(!RelroShift.protectsTheSamePages(from: 0x20820, from: 0x206a0))
        #expect(!RelroShift.protectsTheSamePages(from: 0x20820, from: 0x20820))
    }
}
