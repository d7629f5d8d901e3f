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

    /// What became of one subject's mutated inputs.
    struct Tally {
        var read = 0
        var attempts = 0
        /// Per request: planned, and the plan passed the verifier.
        var verified: [Int]
        init(requests: Int) { verified = Array(repeating: 0, count: requests) }
    }

    /// nil: refused; false: planned, and the plan failed verification; true: planned and verified.
    static func verifies(_ file: ELFFile, _ request: EditRequest) -> Bool? {
        guard let plan = try? Rewriter().plan(file: file, request: request) else { return nil }
        guard let edited = try? ELFFile(source: PlannedByteSource(base: file.source, plan: plan)) else { return false }
        return EditCheck(original: file, request: request).problems(edited: edited).isEmpty
    }

    @Test func mutatedInputsThroughThePlanner() throws {
        // Subjects up to 500 KiB: the Go programs and static PIEs above it would multiply
        // the time by ten and add no planner path the small ones lack.
        let subjects = Subject.all.filter { subject in
            subject.kind != "static" && ((try? FileManager.default.attributesOfItem(atPath: subject.url.path)[.size] as? Int) ?? 0) < 500 * 1024
        }
        try #require(subjects.count >= 140, "TestBinaries/manifest.tsv missing or short: \(subjects.count) subjects")
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var bySubject: [String: Tally] = [:]
            var baseline: [String: [Bool]] = [:]
        }
        let results = Results()
        // SWELF_MUTATION_SCALE=N multiplies the inputs for a longer hunt, as in MutationTests.
        let scale = max(1, Int(ProcessInfo.processInfo.environment["SWELF_MUTATION_SCALE"] ?? "") ?? 1)
        let trace = ProcessInfo.processInfo.environment["SWELF_MUTATION_TRACE"] != nil
        DispatchQueue.concurrentPerform(iterations: subjects.count) { index in
            let subject = subjects[index]
            var tally = Tally(requests: Self.requests.count)
            defer { results.lock.withLock { results.bySubject[subject.path] = tally } }
            guard let original = try? subject.contents(), let originalFile = try? ELFFile(source: MemoryByteSource(original)) else { return }
            // Which requests the undamaged file plans and verifies: those must survive some mutations too.
            let baseline = Self.requests.map { Self.verifies(originalFile, $0) == true }
            results.lock.withLock { results.baseline[subject.path] = baseline }
            let regions = Regions(of: original)
            for iteration in 0 ..< Self.iterationsPerFile * scale {
                // Reproducible per (file, iteration), and different from the reader test's inputs;
                // SWELF_MUTATION_TRACE=1 names each input on stderr before it is planned.
                let seed = MutationTests().seed(for: subject.path, iteration: iteration) ^ 0x504c_414e_4e45_5253
                let input = mutate(original, regions: regions, seed: seed)
                if trace { FileHandle.standardError.write(Data("planner mutation \(subject.path):\(iteration)\n".utf8)) }
                guard let file = try? ELFFile(source: MemoryByteSource(input)) else { continue }
                tally.read += 1
                for (number, request) in Self.requests.enumerated() {
                    tally.attempts += 1
                    // Refused or failing verification is a right answer for damaged input;
                    // a trap would have ended the process.
                    if Self.verifies(file, request) == true { tally.verified[number] += 1 }
                }
            }
        }
        var attempts = 0, baselinePairs = 0
        for subject in subjects {
            let tally = try #require(results.bySubject[subject.path], "\(subject.path): never reached")
            let baseline = try #require(results.baseline[subject.path], "\(subject.path): the file itself could not be read")
            attempts += tally.attempts
            baselinePairs += baseline.filter { $0 }.count
            // Each subject is exercised: its mutated inputs are read, and every request the
            // undamaged file takes also goes through on some of them.
            #expect(tally.read >= Self.iterationsPerFile / 10, "\(subject.path): only \(tally.read) of \(Self.iterationsPerFile) mutated inputs could be read")
            for (number, verified) in tally.verified.enumerated() where baseline[number] {
                #expect(verified > 0, "\(subject.path): request \(number) planned and verified on the file but on none of its \(tally.read) mutated inputs")
            }
        }
        print("planner mutation test: \(attempts) plans attempted, \(results.bySubject.values.map { $0.verified.reduce(0, +) }.reduce(0, +)) verified; "
              + "\(baselinePairs) of \(subjects.count * Self.requests.count) (file, request) pairs verify on the undamaged file")
        #expect(attempts > 10_000)
        // The per-request check above holds only where the undamaged file verifies: most
        // pairs must, or it checks little.
        #expect(baselinePairs >= subjects.count, "only \(baselinePairs) (file, request) pairs verify on the undamaged files")
    }
}
