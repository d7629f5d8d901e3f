import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitLoader
@testable import ELFKitPackaging

/// The bundle planner's bookkeeping, on a program whose private libraries are found
/// through `$ORIGIN/lib`. The expected names come from readelf's DT_NEEDED lists of the
/// test binaries (hello-runpath needs libgreet.so.1, libunused.so and libc.so.6; each
/// library needs libc.so.6), not from the planner.
@Suite struct BundlePlannerTests {
    /// A temporary tree: `app` (x86_64/hello-runpath, RUNPATH `$ORIGIN/lib`) and its two
    /// libraries in `lib/`.
    static func tree() throws -> URL {
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("swelf-bundle-planner-\(getpid())-\(UUID().uuidString)")
        try manager.createDirectory(at: directory.appendingPathComponent("lib"), withIntermediateDirectories: true)
        for (from, to) in [("x86_64/hello-runpath", "app"), ("x86_64/libgreet.so.1", "lib/libgreet.so.1"),
                           ("x86_64/libunused.so", "lib/libunused.so")] {
            try manager.copyItem(at: Repo.testBinaries.appendingPathComponent(from), to: directory.appendingPathComponent(to))
        }
        return directory
    }

    /// libc.so.6 is needed three times (by the program and by both libraries) and is
    /// excluded once: one decision per excluded name, however many objects need it. Each
    /// private library is bundled once, with one decision.
    @Test func anExcludedNameIsDecidedOnce() throws {
        let directory = try Self.tree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let planner = BundlePlanner(environment: try HostLoader.environment(variables: [:]), policy: BundlePolicy())
        let plan = planner.plan(programs: [(directory.appendingPathComponent("app").path, "app")])
        #expect(plan.errors.isEmpty, "\(plan.errors)")
        #expect(plan.decisions.filter { $0.name == "libc.so.6" }.map(\.outcome) == [.excluded])
        #expect(plan.libraries.map(\.name).sorted() == ["libgreet.so.1", "libunused.so"])
        #expect(plan.decisions.filter { $0.outcome == .bundled }.map(\.name).sorted() == ["libgreet.so.1", "libunused.so"])
    }
}
