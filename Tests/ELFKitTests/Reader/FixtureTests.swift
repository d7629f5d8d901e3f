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
            for request in PlannerMutationTests.requests + FuzzRequests.all {
                guard let plan = try? Rewriter().plan(file: file, request: request), !plan.isEmpty,
                      let planned = try? ELFFile(source: PlannedByteSource(base: file.source, plan: plan)) else { continue }
                _ = IndependentVerifier(original: file, edited: planned, request: request).problems()
                _ = StructureVerifier(file: planned).problems()
            }
        }
    }
}
