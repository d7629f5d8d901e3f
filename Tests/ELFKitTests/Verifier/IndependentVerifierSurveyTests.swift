import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

@Suite struct IndependentVerifierSurvey {
    @Test func survey() throws {
        var lines: [String] = []
        for subject in PlannerTests.dynamicSubjects {
            let file = try ELFFile(source: MemoryByteSource(try subject.contents()))
            guard try file.dynamic() != nil else { continue }
            var requests = PlannerTests.requests
            var r = EditRequest(); r.removeNeeded = ["libunused.so", "libm.so.6"]; requests.append(("remove-needed", r))
            r = EditRequest(); r.replaceNeeded = [(old: "libgreet.so.1", new: "libgreetalt.so.1")]; requests.append(("replace-needed", r))
            r = EditRequest(); r.addNeeded = (0..<12).map { Array("libmany\($0).so".utf8) }; requests.append(("add-many", r))
            r = EditRequest(); r.renameSymbols = ["greet": "greet_renamed_long", "puts": "puts_x", "ver_new": "ver_newer"]; requests.append(("rename", r))
            r = EditRequest(); r.clearSymbolVersions = ["ver_new", "puts"]; requests.append(("clear-version", r))
            r = EditRequest(); r.runPath = .shrink(allowedPrefixes: []); requests.append(("shrink", r))
            for (name, request) in requests where PlannerTests.applies(name, to: file) {
                let plan: RewritePlan
                do { plan = try Rewriter().plan(file: file, request: request) } catch { lines.append("\(subject) \(name): plan refused: \(error)"); continue }
                let edited = try ELFFile(source: PlannedByteSource(base: file.source, plan: plan))
                let problems = IndependentVerifier(original: file, edited: edited, request: request).problems()
                for p in problems { lines.append("\(subject) \(name): [\(p.check)] \(p.message)") }
            }
        }
        try lines.joined(separator: "\n").write(toFile: "/tmp/survey.txt", atomically: true, encoding: .utf8)
    }
}
