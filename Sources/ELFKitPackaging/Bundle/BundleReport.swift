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

    /// `--json`: the same facts, for scripts.
    package var json: JSON {
        var members: [(String, JSON)] = [
            ("output", .string(output)),
            ("written", .bool(written)),
            ("programs", .array(plan.programs.map { program in
                .object([("name", .string("bin/" + program.name)), ("source", .string(program.source)),
                         ("run_path", program.isDynamic ? .string(BundleExecutor.programRunPath) : .null)])
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
        ]
        if let portability {
            members.append(("portability", BundleReport.portabilityRendering.json(portability, violations: nil)))
        }
        return .object(members)
    }

    package var text: String {
        var lines: [String] = ["bundle: \(output)", "programs:"]
        for program in plan.programs {
            lines.append("  bin/\(program.name) <- \(program.source)"
                         + (program.isDynamic ? " (RUNPATH \(BundleExecutor.programRunPath))" : " (static: copied as it is)"))
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
        if !plan.warnings.isEmpty || !leftovers.isEmpty {
            lines.append("warnings:")
            for warning in plan.warnings + leftovers { lines.append("  \(warning)") }
        }
        var text = lines.joined(separator: "\n") + "\n"
        if let portability {
            text += "\nPortability of the bundle:\n" + BundleReport.portabilityRendering.text(portability, violations: nil)
        }
        return text
    }
}
