import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// Which segments swelf may rebuild, over every dynamically linked subject (issue 7 case 1):
/// only PT_LOADs it appended, known by their mark, never a linker's segment however it is
/// shaped. The end-to-end tests run the results; this covers the breadth.
@Suite struct AppendedSegmentTests {
    /// (interp-note refuses growing edits: a note follows the interpreter string inside
    /// PT_INTERP, right after the program header table; PlannerTests checks that refusal.)
    static let subjects = Subject.all.filter { $0.kind != "static" && !$0.path.hasSuffix("/interp-note") }

    static func growing(_ soname: String) -> EditRequest {
        var request = EditRequest()
        request.soname = Array(soname.utf8)
        return request
    }

    @Test("a first growing edit keeps every byte of the original; a second rebuilds only what the first appended",
          arguments: subjects)
    func rebuildsOnlyMarkedSegments(subject: Subject) throws {
        let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
        guard try file.dynamic() != nil else { return }
        let first = try Rewriter().plan(file: file, request: Self.growing("lib-" + String(repeating: "first", count: 20) + ".so"))
        // Nothing of the original is cut, whatever its last segment looks like.
        #expect(first.keptPrefix == first.originalSize, "\(subject): the first edit cuts the original at 0x\(String(first.keptPrefix, radix: 16))")
        #expect(Array(first.appended.prefix(16)) == LayoutPlanner.appendedSegmentMark, "\(subject): the appended segment lacks the mark")
        let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: first))
        let added = edited.programHeaders.filter { $0.type == .load }.dropFirst(file.programHeaders.filter { $0.type == .load }.count)
        #expect(!added.isEmpty, "\(subject): no PT_LOAD added")

        // The second edit starts where the first one's segments start, and no earlier.
        let bytes = try edited.source.bytes(at: 0, count: edited.source.size, "edited file")
        let again = try ELFFile(source: MemoryByteSource(bytes))
        let second = try Rewriter().plan(file: again, request: Self.growing("lib-" + String(repeating: "second", count: 20) + ".so"))
        #expect(second.keptPrefix == added.first?.offset, "\(subject): the second edit kept 0x\(String(second.keptPrefix, radix: 16)) bytes; swelf's segments start at 0x\(String(added.first?.offset ?? 0, radix: 16))")
        let rebuilt = try ELFFile(source: PlannedByteSource(base: again.source, plan: second))
        #expect(rebuilt.programHeaders.filter { $0.type == .load }.count == edited.programHeaders.filter { $0.type == .load }.count,
                "\(subject): the second edit added PT_LOADs instead of rebuilding")

        // Without the mark the segments are not provably swelf's: kept whole, one more added.
        var unmarked = bytes
        if let start = added.first.map({ Int($0.offset) }) {
            unmarked.replaceSubrange(start ..< start + 16, with: [UInt8](repeating: 0, count: 16))
        }
        let old = try ELFFile(source: MemoryByteSource(unmarked))
        let third = try Rewriter().plan(file: old, request: Self.growing("lib-" + String(repeating: "third", count: 20) + ".so"))
        #expect(third.keptPrefix == third.originalSize, "\(subject): an unmarked segment was cut")
    }
}
