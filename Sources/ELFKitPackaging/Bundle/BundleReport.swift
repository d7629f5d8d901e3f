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
    /// `--allow-broken`: a bundle that would not start is kept and the run succeeds.
    package var brokenAllowed = false

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

    /// `--json`: the same facts, for scripts, in the envelope every command's JSON has
    /// (`JSONEnvelope`). Who needed a library, the search rule that found it and the
    /// policy rule that decided it are fields of their own (`needed_by`, `rule`, `policy`).
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
                         // A library given as an argument: no requester, no search rule.
                         ("needed_by", library.neededBy.isEmpty ? .null : .string(library.neededBy)),
                         ("rule", library.rule.isEmpty ? .null : .string(library.rule)),
                         ("rule_description", .string(library.ruleDescription)),
                         ("run_path", .string(BundleExecutor.libraryRunPath)),
                         ("shadowed", .array(library.shadowedCopies.map { copy in
                             .object([("path", .string(copy.path)), ("rule", .string(copy.rule)),
                                      ("rule_description", .string(copy.ruleDescription))])
                         }))])
            })),
            ("decisions", .array(plan.decisions.map { decision in
                .object([("name", .string(decision.name)), ("needed_by", .string(decision.neededBy)),
                         ("outcome", .string(decision.outcome.rawValue)),
                         ("reason", .string(decision.rule?.reason ?? decision.reason)),
                         ("policy", decision.rule.map(BundleReport.policyJSON) ?? .null),
                         ("path", .optional(decision.path))])
            })),
            ("warnings", .array((plan.warnings + leftovers).map(JSON.string))),
            ("errors", .array(plan.errors.map(JSON.string))),
            ("removed", .array(removed.map(JSON.string))),
        ]
        // The start check's members are there also when nothing was written (empty), so
        // that the shape does not depend on the outcome.
        members.append(("starts", .array((startCheck?.failures ?? []).map { failure in
            .object([("name", .string(failure.location)), ("reasons", .array(failure.reasons.map(JSON.string)))])
        })))
        members.append(("start_notes", .array((startCheck?.notes ?? []).map(JSON.string))))
        members.append(("portability", portability.map { BundleReport.portabilityRendering.json($0, violations: nil) } ?? .null))
        // `ok` is the exit status: written, no error, and starting on its target (or
        // accepted as it is with --allow-broken).
        let starts = (startCheck?.failures.isEmpty ?? true) || brokenAllowed
        return JSONEnvelope.document(command: "bundle", ok: written && plan.errors.isEmpty && starts, members)
    }

    /// A policy rule in fields: where it comes from (`glibc`, `default`, `option`,
    /// `file` with its `file` and `line`), what it does, its pattern and its reason.
    private static func policyJSON(_ rule: BundlePolicy.Rule) -> JSON {
        var source = "glibc"
        var file: JSON = .null
        var line: JSON = .null
        switch rule.source {
        case .glibc: source = "glibc"
        case .builtIn: source = "default"
        case .option: source = "option"
        case .file(let path, let number):
            source = "file"
            file = .string(path)
            line = .int(Int64(number))
        }
        return .object([("source", .string(source)), ("file", file), ("line", line),
                        ("action", .string(rule.action.rawValue)), ("pattern", .string(rule.pattern)),
                        ("reason", .string(rule.reason)), ("description", .string(rule.source.description))])
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
            for warning in plan.warnings + leftovers + notes { lines.append("  \(warning)") }
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
            text += "\nPortability of the bundle:\n" + BundleReport.portabilityRendering.text(portability, violations: nil)
        }
        return text
    }
}
