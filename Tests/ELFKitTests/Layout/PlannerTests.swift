import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// The planner and the verifier in memory: every dynamically linked subject, every kind of
/// edit, planned and read back through `PlannedByteSource` (no file written) and checked
/// by the pipeline's `EditCheck` (the independent verifier and new structural problems).
/// The end-to-end tests run the results; these cover the breadth.
@Suite struct PlannerTests {
    static let dynamicSubjects = Subject.all.filter { $0.kind != "static" }

    static let requests: [(String, EditRequest)] = {
        var list: [(String, EditRequest)] = []
        var request = EditRequest()
        request.runPath = .set("$ORIGIN/lib")
        list.append(("set-rpath short", request))
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "long/", count: 60)).utf8))
        list.append(("set-rpath 300", request))
        request = EditRequest()
        request.runPath = .set("/opt/x")
        request.forceRPath = true
        list.append(("force-rpath", request))
        request = EditRequest()
        request.addNeeded = ["libextra1.so", "libextra2.so.3"]
        list.append(("add-needed", request))
        request = EditRequest()
        request.soname = "librenamed-with-a-longer-soname.so.9"
        list.append(("set-soname", request))
        request = EditRequest()
        request.interpreter = "/a/much/longer/path/to/the/dynamic/loader/ld.so.2"
        list.append(("set-interpreter", request))
        request = EditRequest()
        request.noDefaultLib = true
        request.addDebugTag = true
        request.runPath = .add("/extra")
        list.append(("flags + add-rpath", request))
        return list
    }()

    /// What the loader of each kind of subject supports: an interpreter only on programs.
    static func applies(_ name: String, to file: ELFFile) -> Bool {
        name != "set-interpreter" || file.firstSegment(.interp) != nil
    }

    @Test("plan, read back and verify", arguments: dynamicSubjects)
    func planAndVerify(subject: Subject) throws {
        let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
        guard try file.dynamic() != nil else { return }
        for (name, request) in Self.requests where Self.applies(name, to: file) {
            // glibc's static-PIE start-up asserts there is no run path: refused (issue 7 case 4).
            if file.isStaticPIE && request.runPath != nil {
                #expect(throws: EditError.self, "\(subject) \(name): a run path for a static PIE was not refused") {
                    try Rewriter().plan(file: file, request: request)
                }
                continue
            }
            let plan: RewritePlan
            do { plan = try Rewriter().plan(file: file, request: request) } catch {
                guard subject.path.hasSuffix("/interp-note"), case .refused(let reason) = error else { throw error }
                // Its PT_INTERP range holds a note after the string, right after the program
                // header table: no header can be added without overwriting the note, so a
                // growing edit is refused (issue 7, case 8).
                #expect(reason.kind == .noRoomForProgramHeaders && reason.detail.contains("cannot make room"),
                        "\(subject) \(name): \(reason)")
                continue
            }
            if plan.isEmpty {
                // Nothing to do is right only when the file already says what was asked.
                let problems = EditCheck(original: file, request: request).problems(edited: file)
                #expect(problems.isEmpty, "\(subject) \(name): nothing planned, yet \(problems)")
                continue
            }
            let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
            let problems = EditCheck(original: file, request: request).problems(edited: edited)
            #expect(problems.isEmpty, "\(subject) \(name): \(problems)")

            // The same request on the result changes nothing.
            let again = try Rewriter().plan(file: edited, request: request)
            let unchanged = again.isEmpty
            #expect(unchanged, "\(subject) \(name): second application is not a no-op: \(again.patches.count) patches, \(again.appended.count) bytes appended")
        }
    }

    @Test("a shorter run-path is written in place: the file keeps its size", arguments: dynamicSubjects.filter { $0.notes.contains("RPATH") || $0.notes.contains("RUNPATH") || $0.path.hasSuffix("hello-rpath") || $0.path.hasSuffix("hello-runpath") })
    func shorterRunPathInPlace(subject: Subject) throws {
        let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
        guard let current = try file.dynamic()?.runpath() ?? file.dynamic()?.rpath(), current.count > 2 else { return }
        var request = EditRequest()
        request.runPath = .set(Array(String(current.prefix(2)).utf8))
        request.forceRPath = try file.dynamic()?.runpath() == nil
        let plan = try Rewriter().plan(file: file, request: request)
        let inPlace = plan.appended.isEmpty && plan.newSize == file.source.size
        #expect(inPlace, "\(subject): grew")
    }

    /// A shorter interpreter leaves zero padding in PT_INTERP; the original one then fits
    /// in place again: the file goes back to its original bytes.
    @Test("shorter interpreter, then the original again: in place both times",
          arguments: dynamicSubjects.filter { $0.kind == "program" && !$0.path.hasSuffix("/interp-note") })
    func interpreterBackAndForth(subject: Subject) throws {
        let original = try subject.contents()
        let file = try ELFFile(source: MemoryByteSource(original))
        guard let current = try file.interpreter() else { return }
        var request = EditRequest()
        request.interpreter = "/l"
        let shorter = try Rewriter().plan(file: file, request: request)
        #expect(shorter.appended.isEmpty && shorter.newSize == file.source.size, "\(subject): a shorter interpreter grew the file")
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: shorter))
        request.interpreter = Array(current.utf8)
        let back = try Rewriter().plan(file: edited, request: request)
        #expect(back.appended.isEmpty && back.newSize == file.source.size, "\(subject): the original interpreter no longer fits")
        let restored = PlannedByteSource(base: edited.source, plan: back)
        #expect(try restored.bytes(at: 0, count: restored.size, "restored") == original, "\(subject): not back to the original bytes")
    }
}

/// A quirk the input already has does not block an edit; the verifier only refuses what
/// the edit itself breaks.
@Suite struct PreexistingQuirkTests {
    @Test func editSucceedsOnAFileWithAnExistingStructuralProblem() throws {
        var bytes = try #require(Subject.all.first { $0.path == "x86_64/hello" }).contents()
        let file = try ELFFile(source: MemoryByteSource(bytes))
        let index = try #require(file.programHeaders.firstIndex { $0.type == .phdr })
        // Move PT_PHDR's p_vaddr (offset 16 in an Elf64_Phdr) off by 8.
        let field = Int(file.header.programHeaderOffset) + index * 56 + 16
        bytes[field] &+= 8
        let damaged = try ELFFile(source: MemoryByteSource(bytes))
        let before = StructureVerifier(file: damaged).problems().map(\.description)
        #expect(before.contains { $0.contains("PT_PHDR address") }, "\(before)")

        let edited = try Self.rewriteWithLongRunPath(bytes)
        #expect(try edited.dynamic()?.runpath() == "$ORIGIN/" + String(repeating: "x", count: 200))
        // The pre-existing problem is still reported, and nothing new.
        #expect(Set(StructureVerifier(file: edited).problems().map(\.description)) == Set(before))
    }

    /// `bytes` as a file, given a 208-byte run path through the pipeline (the edit must
    /// change it), read back.
    static func rewriteWithLongRunPath(_ bytes: [UInt8]) throws -> ELFFile {
        let scratch = try ScratchDirectory("quirk")
        defer { withExtendedLifetime(scratch) {} }
        let path = scratch.path("hello")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "x", count: 200)).utf8))
        let result = try Rewriter().rewrite(path: path, request: request)
        #expect(result.changed)
        return try ELFFile(source: MemoryByteSource([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))))
    }

    /// A problem the input had is recognised by its kind and the object it concerns, not
    /// by its wording: here its message names the program header table's size, which a
    /// growing edit changes (issue 7, case 8).
    @Test func aPreexistingProblemWhoseMessageTheEditChangesIsStillPreexisting() throws {
        var bytes = try #require(Subject.all.first { $0.path == "x86_64/hello" }).contents()
        let file = try ELFFile(source: MemoryByteSource(bytes))
        let index = try #require(file.programHeaders.firstIndex { $0.type == .phdr })
        // Move PT_PHDR's p_offset (offset 8 in an Elf64_Phdr) off by 8.
        bytes[Int(file.header.programHeaderOffset) + index * 56 + 8] &+= 8
        let damaged = try ELFFile(source: MemoryByteSource(bytes))
        let before = StructureVerifier(file: damaged).problems()
        #expect(before.contains { $0.kind == .phdrDoesNotDescribeTable }, "\(before.map(\.description))")

        let after = StructureVerifier(file: try Self.rewriteWithLongRunPath(bytes)).problems()
        // Same problems by identity; the wording did change (the table grew by a header).
        #expect(Set(after.map(\.identity)) == Set(before.map(\.identity)))
        #expect(Set(after.map(\.description)) != Set(before.map(\.description)))
    }
}
