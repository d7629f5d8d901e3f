import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitVerify

/// Issue 21: the checks that keep a 16 KiB or 64 KiB file loadable and AT_PHDR one address
/// under every loader. Each takes swelf's correct output for a real subject (which every
/// check accepts), breaks it in one way, and expects that very check to name the break:
/// other checks may object too, so a rejection alone would not show this one works.
@Suite struct AlignmentAndProgramHeaderAddressTests {
    static let subjects = ["aarch64/hello-16k", "aarch64/libgreet16k.so", "aarch64/hello-64k", "aarch64/libgreet64k.so",
                           "x86_64/hello-64k", "x86_64/hello-nopie"]

    /// A growing edit: the tables move to a new PT_LOAD.
    static var request: EditRequest {
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "long/", count: 60)).utf8))
        return request
    }

    struct Grown {
        let file: ELFFile
        let plan: RewritePlan
        let edited: ELFFile
        var newLoads: [Int] {
            edited.programHeaders.indices.filter { edited.programHeaders[$0].type == .load && !file.programHeaders.contains(edited.programHeaders[$0]) }
        }

        /// The edited image with its program header table replaced by `headers`.
        func with(_ headers: [ProgramHeader]) throws -> ELFFile {
            let bytes = try VerifierSabotageTests.encode(headers, edited.format)
            let broken = try #require(VerifierSabotageTests.overlay(plan, at: edited.header.programHeaderOffset, bytes))
            return try VerifierSabotageTests.image(file, broken)
        }

        func failures(_ image: ELFFile) -> [String] {
            EditCheck(original: file, request: AlignmentAndProgramHeaderAddressTests.request).problems(edited: image).map(\.description)
        }
    }

    static func grown(_ path: String) throws -> Grown {
        let file = try ELFFile(source: MemoryByteSource(try Subject.named(path).contents()))
        let plan = try Rewriter().plan(file: file, request: request)
        return Grown(file: file, plan: plan, edited: try VerifierSabotageTests.image(file, plan))
    }

    @Test("swelf's own outputs pass, and keep the linker's alignment", arguments: subjects)
    func correctOutputsPass(_ path: String) throws {
        let grown = try Self.grown(path)
        #expect(grown.failures(grown.edited) == [], "\(path)")
        #expect(!grown.newLoads.isEmpty, "\(path): no new PT_LOAD, nothing to sabotage")
        let largest = grown.file.programHeaders.filter { $0.type == .load }.map(\.alignment).max() ?? 0
        for index in grown.newLoads { #expect(grown.edited.programHeaders[index].alignment == largest, "\(path)") }
    }

    @Test("an original PT_LOAD whose p_align went down is refused", arguments: subjects)
    func loweredAlignmentIsRefused(_ path: String) throws {
        let grown = try Self.grown(path)
        var headers = grown.edited.programHeaders
        let index = try #require(headers.indices.first { headers[$0].type == .load && headers[$0].alignment > 0x1000 && grown.file.programHeaders.contains(headers[$0]) }
                                 ?? headers.indices.first { headers[$0].type == .load && headers[$0].alignment > 1 && grown.file.programHeaders.contains(headers[$0]) })
        headers[index].alignment /= 2
        let failures = grown.failures(try grown.with(headers))
        #expect(failures.contains { $0.contains("had p_align 0x\(hex(grown.edited.programHeaders[index].alignment))") }, "\(path): \(failures)")
    }

    @Test("a new PT_LOAD below the original's largest p_align is refused", arguments: subjects)
    func newSegmentBelowLargestAlignmentIsRefused(_ path: String) throws {
        let grown = try Self.grown(path)
        var headers = grown.edited.programHeaders
        let index = try #require(grown.newLoads.first)
        // Half the alignment: still a power of two, and still congruent, so only this check objects.
        headers[index].alignment /= 2
        let failures = grown.failures(try grown.with(headers))
        #expect(failures.contains { $0.contains("below the original's largest") }, "\(path): \(failures)")
    }

    @Test("PT_PHDR disagreeing with the first PT_LOAD's bias plus e_phoff is refused", arguments: subjects)
    func programHeaderSegmentElsewhereIsRefused(_ path: String) throws {
        let grown = try Self.grown(path)
        var headers = grown.edited.programHeaders
        guard let index = headers.firstIndex(where: { $0.type == .phdr }) else { return }  // libraries have none
        headers[index].virtualAddress += 0x1000
        headers[index].physicalAddress += 0x1000
        let broken = try grown.with(headers)
        #expect(StructureVerifier(file: broken).problems().contains { $0.kind == .phdrAddressDiffersFromKernel }, "\(path)")
        #expect(!grown.failures(broken).isEmpty, "\(path)")
    }

    /// A new PT_LOAD whose p_vaddr - p_offset is below the first's, the table where it was:
    /// Linux finds it, qemu-user before 8.2 does not. Only ET_EXEC has a distance to go below
    /// (a PIE's first PT_LOAD has 0).
    @Test("loaders disagreeing on AT_PHDR are refused, though the table did not move")
    func loaderRulesDisagreeingIsRefused() throws {
        let grown = try Self.grown("x86_64/hello-nopie")
        #expect(grown.edited.header.programHeaderOffset == grown.file.header.programHeaderOffset)
        var headers = grown.edited.programHeaders
        let index = try #require(grown.newLoads.first)
        let first = try #require(headers.first { $0.type == .load })
        // Keep p_vaddr; move p_offset so that p_vaddr - p_offset is one page below the first
        // PT_LOAD's (still congruent modulo the page).
        headers[index].offset = headers[index].virtualAddress - (first.virtualAddress - first.offset) + 0x1000
        let broken = try grown.with(headers)
        let kinds = StructureVerifier(file: broken).problems().map(\.kind)
        #expect(kinds.contains(.phdrAddressRulesDisagree), "\(kinds)")
        #expect(!StructureVerifier(file: grown.edited).problems().map(\.kind).contains(.phdrAddressRulesDisagree))
        #expect(grown.failures(broken).contains { $0.contains("qemu-user before 8.2") })
    }

    /// Every rule agrees, but the first PT_LOAD's file image ends inside the table: the
    /// loader would read the rest of the table from memory that is not the file's.
    @Test("an AT_PHDR that is not the whole table in a PT_LOAD's file image is refused")
    func addressNotTheTableIsRefused() throws {
        let grown = try Self.grown("aarch64/hello-16k")
        var headers = grown.edited.programHeaders
        let index = try #require(headers.firstIndex { $0.type == .load })
        headers[index].fileSize = grown.edited.header.programHeaderOffset - headers[index].offset + 8
        let broken = try grown.with(headers)
        #expect(LoaderViews(file: grown.edited).disagreement() == nil)
        #expect(LoaderViews(file: broken).disagreement()?.0 == .phdrAddressNotTable)
        #expect(!grown.failures(broken).isEmpty)
    }
}
