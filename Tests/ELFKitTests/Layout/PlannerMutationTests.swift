import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// The rewrite path on damaged input: mutated TestBinaries files (the reader mutation
/// test's generator) go through the editor, the layout planner and the verifier for
/// several requests. Each must plan, refuse, or fail verification — never trap, which
/// would kill the test process.
@Suite struct PlannerMutationTests {
    static let iterationsPerFile = 150

    static let requests: [EditRequest] = {
        var requests: [EditRequest] = []
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "grow/", count: 20)).utf8))
        request.addNeeded = ["libextra.so"]
        requests.append(request)
        request = EditRequest()
        request.removeNeeded = ["libunused.so"]
        request.replaceNeeded = [("libgreet.so.1", "libgreetalt.so.1")]
        request.soname = "x"
        requests.append(request)
        request = EditRequest()
        request.interpreter = "/a/much/longer/interpreter/path/ld.so"
        request.executableStack = true
        request.renameSymbols = ["greet": "vendored_greet"]
        requests.append(request)
        return requests
    }()

    @Test func mutatedInputsThroughThePlanner() throws {
        let subjects = Subject.all.filter { $0.kind != "static" }
        try #require(subjects.count >= 70, "TestBinaries/manifest.tsv missing or short")
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var total = 0, planned = 0, verified = 0
        }
        let tally = Tally()
        // SWELF_MUTATION_SCALE=N multiplies the inputs for a longer hunt, as in MutationTests.
        let scale = max(1, Int(ProcessInfo.processInfo.environment["SWELF_MUTATION_SCALE"] ?? "") ?? 1)
        let trace = ProcessInfo.processInfo.environment["SWELF_MUTATION_TRACE"] != nil
        DispatchQueue.concurrentPerform(iterations: subjects.count) { index in
            let subject = subjects[index]
            guard let original = try? subject.contents(), original.count < 500 * 1024 else { return }
            let regions = Regions(of: original)
            var counts = (total: 0, planned: 0, verified: 0)
            for iteration in 0 ..< Self.iterationsPerFile * scale {
                // Reproducible per (file, iteration), and different from the reader test's inputs;
                // SWELF_MUTATION_TRACE=1 names each input on stderr before it is planned.
                let seed = MutationTests().seed(for: subject.path, iteration: iteration) ^ 0x504c_414e_4e45_5253
                let input = mutate(original, regions: regions, seed: seed)
                if trace { FileHandle.standardError.write(Data("planner mutation \(subject.path):\(iteration)\n".utf8)) }
                guard let file = try? ELFFile(source: MemoryByteSource(input)) else { continue }
                for request in Self.requests {
                    counts.total += 1
                    guard let plan = try? Rewriter().plan(file: file, request: request) else { continue }
                    counts.planned += 1
                    guard let edited = try? ELFFile(source: PlannedByteSource(base: file.source, plan: plan)) else { continue }
                    if EditCheck(original: file, request: request).problems(edited: edited).isEmpty {
                        counts.verified += 1
                    }
                }
            }
            tally.lock.withLock {
                tally.total += counts.total
                tally.planned += counts.planned
                tally.verified += counts.verified
            }
        }
        print("planner mutation test: \(tally.total) plans attempted, \(tally.planned) planned, \(tally.verified) verified")
        #expect(tally.total > 10_000)
    }
}
