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
                    text += "\(file.path): \(file.kind == .foreign ? "another machine than the interpreter's" : "static"), left alone\n"
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
                text += "  \(need.name) => \(need.provider ?? "not found") (\(need.rule.rawValue))\n"
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
