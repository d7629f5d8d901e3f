import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// Refusals are values a client can switch over (issue 18): real edits of real test
/// binaries that swelf refuses carry the kind of obstacle they met, the exact text the
/// command line prints (the CLI and patchelf-personality tests check it byte for byte),
/// and the offending offset where the message names one.
@Suite struct RefusalKindTests {
    static func binary(_ name: String) throws -> ELFFile {
        try ELFFile(path: Repo.testBinaries.appendingPathComponent(name).path)
    }

    /// The refusal `request` meets on `file`, or nil when the edit is planned.
    static func refusal(_ file: ELFFile, _ request: EditRequest) -> EditRefusal? {
        do {
            _ = try Rewriter().plan(file: file, request: request)
            return nil
        } catch {
            guard case .refused(let refusal) = error else {
                Issue.record("not a refusal: \(error)")
                return nil
            }
            #expect(error.description == refusal.detail, "EditError prints the refusal's text unchanged")
            return refusal
        }
    }

    static func setRunPath(_ path: String) -> EditRequest {
        var request = EditRequest()
        request.runPath = .set(Array(path.utf8))
        return request
    }

    @Test func setInterpreterOnASharedLibraryHasNoInterpreter() throws {
        var request = EditRequest()
        request.interpreter = "/lib64/ld-linux-x86-64.so.2"
        let refusal = try #require(Self.refusal(try Self.binary("x86_64/libcounter.so"), request))
        #expect(refusal.kind == .noInterpreter)
        #expect(refusal.detail == "cannot set the interpreter: the file has no PT_INTERP (statically linked or a shared library)")
    }

    /// A relocatable object (libcounter.so, which has no PT_INTERP, with e_type ET_REL):
    /// the loader never reads it.
    @Test func setInterpreterOnAnObjectFileIsNotLoadable() throws {
        var bytes = [UInt8](try Data(contentsOf: Repo.testBinaries.appendingPathComponent("x86_64/libcounter.so")))
        bytes[16] = 1; bytes[17] = 0  // e_type = ET_REL (little-endian)
        var request = EditRequest()
        request.interpreter = "/lib/ld.so"
        let refusal = try #require(Self.refusal(try ELFFile(source: MemoryByteSource(bytes)), request))
        #expect(refusal.kind == .notLoadable)
        #expect(refusal.detail.hasPrefix("cannot set the interpreter: the file is a relocatable object (ET_REL)"), "\(refusal.detail)")
    }

    /// A statically linked program has no dynamic section; a static PIE has one, but
    /// relocates itself and cannot take a run path.
    @Test func runPathOfAStaticProgram() throws {
        let staticRefusal = try #require(Self.refusal(try Self.binary("x86_64/static"), Self.setRunPath("/opt/lib")))
        #expect(staticRefusal.kind == .noDynamicSection)
        #expect(staticRefusal.detail == "cannot find section '.dynamic'. The input file is most likely statically linked")
        let pie = try Self.binary("x86_64/static-pie")
        #expect(pie.isStaticPIE)
        let pieRefusal = try #require(Self.refusal(pie, Self.setRunPath("/opt/lib")))
        #expect(pieRefusal.kind == .selfRelocating)
        #expect(pieRefusal.detail.hasPrefix("a static PIE cannot have DT_RUNPATH or DT_RPATH"))
    }

    /// `--no-clobber-old-sections` with a run path that makes .dynstr move: the program
    /// header table grows over PT_INTERP's string, which moves out of its way, so the
    /// old bytes of .interp cannot be kept. The offset is the first of them overwritten:
    /// PT_INTERP's p_offset, read from the file.
    @Test func keepingOldBytesThatMustBeOverwritten() throws {
        let file = try Self.binary("x86_64/hello")
        var request = Self.setRunPath("$ORIGIN/lib:/" + String(repeating: "long-directory/", count: 20))
        request.keepOldBytes = true
        let refusal = try #require(Self.refusal(file, request))
        #expect(refusal.kind == .oldBytesOverwritten)
        let interpreter = try #require(file.firstSegment(.interp))
        #expect(refusal.offset == interpreter.offset)
        #expect(refusal.detail.contains("moves .interp") && refusal.detail.contains("0x\(hex(interpreter.offset))"),
                "\(refusal.detail)")
    }
}
