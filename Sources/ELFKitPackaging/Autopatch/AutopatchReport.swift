import ELFKitCore

/// The text of an ``AutopatchPlan``: what `--dry-run` prints, and what a real run will
/// print of the decisions it carried out.
extension AutopatchPlan {
    /// One paragraph per file to change (every file with `verbose`): its interpreter and
    /// run path before and after, then one line per need, `NAME => PROVIDER (RULE)`.
    /// Static programs and unchanged files appear only with `verbose`.
    /// - Parameter verbose: also list unchanged and static files.
    /// - Returns: the lines, each ending in a newline; no summary (see ``summaryLine(dryRun:)``).
    package func text(verbose: Bool) -> String {
        var text = ""
        for file in files {
            if !file.isPatched {
                if verbose {
                    text += "\(file.path): \(file.kind == .foreign ? "another machine than the target's" : "static"), left alone\n"
                }
                continue
            }
            guard file.changed || verbose else { continue }
            var parts: [String] = []
            if file.kind == .program {
                let before = file.interpreterBefore ?? "(none)"
                let after = file.interpreterAfter ?? "(none)"
                parts.append(before == after ? "interpreter \(after) (kept)" : "interpreter \(before) -> \(after)")
            }
            let runBefore = file.runPathBefore.map { "\"\($0)\"" } ?? "(none)"
            let runAfter = file.runPathAfter.map { "\"\($0)\"" } ?? "(none)"
            parts.append(runBefore == runAfter ? "runpath \(runAfter) (kept)" : "runpath \(runBefore) -> \(runAfter)")
            text += "\(file.path): \(file.changed ? "" : "unchanged: ")\(parts.joined(separator: "; "))\n"
            for need in file.needs {
                text += "  \(AutopatchPlanner.describe(need)) => \(need.provider ?? "not found") (\(need.rule.rawValue))\n"
            }
        }
        return text
    }

    /// The last line: `N ELF files: C changed, U unchanged, S skipped, M missing; O other files`,
    /// with "would change" for a dry run.
    package func summaryLine(dryRun: Bool) -> String {
        let s = summary
        let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
        return "\(plural(s.elfFiles, "ELF file")): \(s.changed) \(dryRun ? "to change" : "changed"), \(s.unchanged) unchanged, "
            + "\(s.skipped) skipped, \(s.missing) missing; \(plural(otherFiles, "other file"))"
    }
}

extension AutopatchPlan {
    /// The `--json` document (docs/json.md, `autopatch --json`): the envelope with one entry
    /// per ELF file in walk order, then `dry_run`, `summary`, `warnings` and `errors`.
    /// - Parameters:
    ///   - dryRun: whether nothing was written.
    ///   - ok: the command's verdict (its exit status is 0).
    ///   - failed: the files whose write failed, with the reason; their entries say so.
    /// - Returns: the document.
    package func json(dryRun: Bool, ok: Bool, failed: [String: String] = [:]) -> JSON {
        let entries = files.map { file -> JSON in
            let missing = file.missing
            let error = failed[file.path] ?? (missing.isEmpty ? nil : "not found: " + missing.joined(separator: ", "))
            return JSONEnvelope.entry(file: .string(file.path), ok: error == nil, error: error, [
                ("kind", .string(file.kind.rawValue)),
                ("changed", .bool(file.isPatched && file.changed)),
                ("interpreter_before", .optional(file.interpreterBefore)),
                ("interpreter_after", .optional(file.interpreterAfter)),
                ("runpath_before", .optional(file.runPathBefore)),
                ("runpath_after", .optional(file.runPathAfter)),
                ("needs", .array(file.needs.map { need in
                    .object([("name", .string(need.name)), ("provider", .optional(need.provider)), ("rule", .string(need.rule.rawValue)),
                             ("dlopen", .optional(need.dlopen?.rawValue))])
                })),
                ("missing", .array(missing.map(JSON.string))),
            ])
        }
        let s = summary
        return JSONEnvelope.document(command: "autopatch", ok: ok, [
            ("files", .array(entries)),
            ("dry_run", .bool(dryRun)),
            ("summary", .object([("elf_files", .int(Int64(s.elfFiles))), ("changed", .int(Int64(s.changed))),
                                 ("unchanged", .int(Int64(s.unchanged))), ("skipped", .int(Int64(s.skipped))),
                                 ("missing", .int(Int64(s.missing))), ("other_files", .int(Int64(otherFiles)))])),
            ("warnings", .array(warnings.map(JSON.string))),
            ("errors", .array(errors.map(JSON.string))),
        ])
    }
}
