import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// Inputs that once crashed the reader or the planner. Each must now return or throw.
@Suite struct FixtureTests {
    static let fixtures: [String] = (try? FileManager.default.contentsOfDirectory(atPath: Repo.fixtures.path))?
        .filter { !$0.hasPrefix(".") }.sorted() ?? []

    /// The requests of the libFuzzer target (Fuzz/SwelfFuzz.swift), so that a crash it
    /// found and kept here is replayed on every test run.
    static let fuzzRequests: [EditRequest] = {
        var list: [EditRequest] = []
        func make(_ body: (inout EditRequest) -> Void) { var request = EditRequest(); body(&request); list.append(request) }
        make { $0.runPath = .set("/opt/fuzz/lib:$ORIGIN") }
        make { $0.runPath = .add("/opt/fuzz/lib") }
        make { $0.runPath = .remove }
        make { $0.runPath = .shrink(allowedPrefixes: []) }
        make { $0.interpreter = "/lib/ld-fuzz-with-a-much-longer-name-than-any-real-loader.so.1" }
        make { $0.soname = "libfuzz.so.7" }
        make { $0.addNeeded = ["libfuzz.so.1"] }
        make { $0.removeNeeded = ["libc.so.6"] }
        make { $0.replaceNeeded = [("libc.so.6", "libfuzz-c.so.6")] }
        make { $0.noDefaultLib = true }
        make { $0.osABI = OSABI(rawValue: 3) }
        make { $0.executableStack = true }
        make { $0.executableStack = false }
        make { $0.addDebugTag = true }
        make { $0.clearSymbolVersions = ["puts", "ver_new"] }
        make { $0.renameSymbols = ["puts": "fuzz_puts", "greet": "greet2", "ver_new": "ver_fuzz"] }
        make { $0.runPath = .set("/a"); $0.forceRPath = true; $0.addNeeded = ["libx.so"]; $0.pageSize = 0x10000 }
        return list
    }()

    @Test func fixturesArePresent() {
        #expect(!FixtureTests.fixtures.isEmpty, "no files in \(Repo.fixtures.path)")
    }

    @Test(arguments: fixtures)
    func fixtureDoesNotTrap(name: String) throws {
        let bytes = [UInt8](try Data(contentsOf: Repo.fixtures.appendingPathComponent(name)))
        let outcome = exerciseReader(bytes)
        #expect(!outcome.parsed || !outcome.errors.isEmpty || outcome.needed != nil)
        // The same through the file-backed source.
        if let file = try? ELFFile(path: Repo.fixtures.appendingPathComponent(name).path) {
            _ = try? file.dynamic()?.needed()
            // And through the rewrite path: plan edits that move tables, and judge each
            // plan as the pipeline and the fuzzer (Tests/Fuzz/SwelfFuzz.swift) do.
            for request in PlannerMutationTests.requests + FixtureTests.fuzzRequests {
                guard let plan = try? Rewriter().plan(file: file, request: request), !plan.isEmpty,
                      let planned = try? ELFFile(source: PlannedByteSource(base: file.source, plan: plan)) else { continue }
                _ = IndependentVerifier(original: file, edited: planned, request: request).problems()
                _ = StructureVerifier(file: planned).problems()
            }
        }
    }
}
