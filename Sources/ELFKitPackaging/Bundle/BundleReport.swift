import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// The text `swelf bundle` prints: what went where, every decision with its reason,
/// and the warnings; then the portability report of what was written. Pure rendering:
/// it prints nothing itself.
package struct BundleReport {
    package let plan: BundlePlan
    package let output: String
    package var leftovers: [String] = []
    package var written = true
    /// The portability of the written bundle, which ends the report (none when nothing
    /// was written).
    package var portability: PortabilityReport?
    /// Whether the written bundle would start on its target (none when nothing was written).
    package var startCheck: BundleStartCheck?
    /// The previous bundle's files that this one removed (`--update`).
    package var removed: [String] = []
    /// Identical warnings about more than a few files are one line in the text
    /// (`RepeatedWarnings`); false (`-v`) lists every one. The JSON keeps them all.
    package var aggregateWarnings = true

    package init(plan: BundlePlan, output: String, leftovers: [String] = [], written: Bool = true, portability: PortabilityReport? = nil) {
        self.plan = plan
        self.output = output
        self.leftovers = leftovers
        self.written = written
        self.portability = portability
    }

    /// The portability report is rendered as `swelf portability` renders it, without a
    /// floor (a bundle has no `--floor`).
    private static var portabilityRendering: PortabilityRendering { PortabilityRendering(limits: nil) }
    private var textPortabilityRendering: PortabilityRendering {
        var rendering = PortabilityRendering(limits: nil)
        rendering.aggregateNotes = aggregateWarnings
        return rendering
    }

    /// `--json`: the same facts, for scripts.
    package var json: JSON {
        var members: [(String, JSON)] = [
            ("output", .string(output)),
            ("written", .bool(written)),
            ("programs", .array(plan.programs.map { program in
                .object([("name", .string(program.location)), ("source", .string(program.source)),
                         ("role", .string(program.role.rawValue)), ("run_path", .optional(program.runPath)),
                         ("interpreter", .optional(program.interpreter)),
                         ("original_interpreter", .optional(program.originalInterpreter))])
            })),
            ("libraries", .array(plan.libraries.map { library in
                .object([("name", .string("lib/" + library.name)), ("source", .string(library.source)),
                         ("canonical", .string(library.canonical)), ("soname", .optional(library.soname)),
                         ("needed_by", .string(library.foundBy)), ("run_path", .string(BundleExecutor.libraryRunPath)),
                         ("shadowed", .array(library.shadowed.map(JSON.string)))])
            })),
            ("decisions", .array(plan.decisions.map { decision in
                .object([("name", .string(decision.name)), ("needed_by", .string(decision.neededBy)),
                         ("outcome", .string(decision.outcome.rawValue)), ("reason", .string(decision.reason)),
                         ("path", .optional(decision.path))])
            })),
            ("warnings", .array((plan.warnings + leftovers).map(JSON.string))),
            ("errors", .array(plan.errors.map(JSON.string))),
            ("removed", .array(removed.map(JSON.string))),
        ]
        if let startCheck {
            members.append(("starts", .array(startCheck.failures.map { failure in
                .object([("name", .string(failure.location)), ("reasons", .array(failure.reasons.map(JSON.string)))])
            })))
            members.append(("start_notes", .array(startCheck.notes.map(JSON.string))))
        }
        if let portability {
            members.append(("portability", BundleReport.portabilityRendering.json(portability, violations: nil)))
        }
        return .object(members)
    }

    package var text: String {
        var lines: [String] = ["bundle: \(output)", "programs:"]
        for program in plan.programs {
            var facts: [String] = []
            if program.role == .plugin { facts.append("plugin") }
            if let runPath = program.runPath { facts.append("RUNPATH \(runPath)") } else { facts.append("static: copied as it is") }
            if let interpreter = program.interpreter, interpreter != program.originalInterpreter {
                facts.append("interpreter \(interpreter), was \(program.originalInterpreter ?? "none")")
            }
            lines.append("  \(program.location) <- \(program.source) (\(facts.joined(separator: ", ")))")
        }
        lines.append("libraries:")
        if plan.libraries.isEmpty { lines.append("  (none)") }
        for library in plan.libraries {
            var line = "  lib/\(library.name) <- \(library.source)"
            if library.canonical != library.source { line += " -> \(library.canonical)" }
            lines.append(line + " (RUNPATH \(BundleExecutor.libraryRunPath))")
            lines.append("      needed by \(library.foundBy)")
            for copy in library.shadowed { lines.append("      shadowed: \(copy) (the loader takes the copy above)") }
        }
        lines.append("decisions:")
        for decision in plan.decisions {
            let padded = decision.outcome.rawValue + String(repeating: " ", count: max(0, 9 - decision.outcome.rawValue.count))
            lines.append("  \(padded) \(decision.name) (needed by \(decision.neededBy)): \(decision.reason)")
        }
        let notes = startCheck?.notes ?? []
        if !plan.warnings.isEmpty || !leftovers.isEmpty || !notes.isEmpty {
            lines.append("warnings:")
            let warnings = plan.warnings + leftovers + notes
            let subjects = plan.programs.map(\.location) + plan.libraries.map { "lib/" + $0.name }
            for warning in aggregateWarnings ? RepeatedWarnings.aggregate(warnings, subjects: subjects) : warnings {
                lines.append("  \(warning)")
            }
        }
        if !removed.isEmpty {
            lines.append("removed (the previous bundle's, not written again):")
            for path in removed { lines.append("  \(path)") }
        }
        if let failures = startCheck?.failures, !failures.isEmpty {
            lines.append("would not start:")
            for failure in failures {
                lines.append("  \(failure.location):")
                for reason in failure.reasons { lines.append("    \(reason)") }
            }
        }
        var text = lines.joined(separator: "\n") + "\n"
        if let portability {
            text += "\nPortability of the bundle:\n" + textPortabilityRendering.text(portability, violations: nil)
        }
        return text
    }
}
