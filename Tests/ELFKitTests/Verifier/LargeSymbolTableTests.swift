import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitVerify

/// The planner and the verifier read `.symtab` a window of symbols at a time (16,384), and
/// `.strtab` only for a `_DYNAMIC` candidate. A program with more symbols than one window
/// shows that symbols past the first window still follow their moved sections, and that the
/// verifier still judges them.
@Suite struct LargeSymbolTableTests {
    static let functions = 20_000

    /// A program with `functions` local functions (each a .symtab entry), built here.
    static func build() throws -> (directory: URL, program: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-symtab-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var source = "#include <stdio.h>\n"
        for index in 0 ..< functions { source += "__attribute__((noinline, used)) static int f\(index)(int x) { return x + \(index); }\n" }
        source += "int main(void) { puts(\"large symtab\"); return 0; }\n"
        try source.write(toFile: directory.path + "/large.c", atomically: true, encoding: .utf8)
        let program = directory.path + "/large"
        let build = try ChildProcess.run("gcc", ["-O0", "-o", program, directory.path + "/large.c"])
        #expect(build.status == 0, "\(build.stderr)")
        return (directory, program)
    }

    @Test("symbols past the first window follow .dynamic, and the verifier checks them")
    func symbolsPastTheFirstWindow() throws {
        let (directory, program) = try Self.build()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try ELFFile(source: MemoryByteSource([UInt8](try Data(contentsOf: URL(fileURLWithPath: program)))))
        guard let table = file.sectionHeaders.first(where: { $0.type == .symtab }), table.entrySize > 0 else {
            Issue.record("no .symtab")
            return
        }
        let count = table.size / table.entrySize
        #expect(count > 16_384 + 1_000, "only \(count) symbols: the test needs more than one window")

        // A new DT_RUNPATH entry: .dynamic and .dynstr move, and with them _DYNAMIC and the
        // section symbols of both (the linker sorts them first, local functions after).
        var request = EditRequest()
        request.runPath = .set(Array(("/opt/" + String(repeating: "x", count: 200)).utf8))
        let plan = try Rewriter().plan(file: file, request: request)
        let edited = try VerifierSabotageTests.image(file, plan)
        #expect(IndependentVerifier(original: file, edited: edited, request: request).problems().isEmpty)

        // The planner's values, read back by readelf's rules of our own: the last symbol of
        // the table is beyond the first window; bump its value and the verifier must object.
        let valueAt: UInt64 = file.format.is64 ? 8 : 4
        let lastValue = table.offset + (count - 1) * table.entrySize + valueAt
        var bytes = try edited.source.bytes(at: lastValue, count: 1, "st_value")
        bytes[0] = bytes[0] &+ 4
        let bumped = try #require(VerifierSabotageTests.overlay(plan, at: lastValue, bytes))
        #expect(!IndependentVerifier(original: file, edited: try VerifierSabotageTests.image(file, bumped), request: request)
            .problems().isEmpty, "a value past the first window was changed and the verifier accepted it")

        // Undo the planner's .symtab patches: _DYNAMIC and the section symbols stay behind.
        var stale = plan
        let end = table.offset + table.size
        stale.patches = plan.patches.filter { !($0.offset < end && table.offset < $0.offset + UInt64($0.bytes.count)) }
        #expect(stale.patches.count < plan.patches.count, "the plan changed no .symtab value")
        #expect(!IndependentVerifier(original: file, edited: try VerifierSabotageTests.image(file, stale), request: request)
            .problems().isEmpty)
    }
}
