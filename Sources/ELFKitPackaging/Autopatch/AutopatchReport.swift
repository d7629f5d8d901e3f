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
    /// with "to change" for a dry run. "changed" counts the files written; when writes
    /// failed or were withheld, `F failed` and `W not written` follow `missing` (only then,
    /// so the line of a clean run stays as it was).
    /// - Parameters:
    ///   - dryRun: whether nothing was to be written.
    ///   - outcome: what the writes made of the plan (empty for a dry run).
    package func summaryLine(dryRun: Bool, outcome: Outcome = Outcome()) -> String {
        let s = summary(outcome)
        let plural = { (count: Int, word: String) in "\(count) \(word)\(count == 1 ? "" : "s")" }
        var line = "\(plural(s.elfFiles, "ELF file")): \(s.changed) \(dryRun ? "to change" : "changed"), \(s.unchanged) unchanged, "
            + "\(s.skipped) skipped, \(s.missing) missing"
        if s.failed > 0 || s.notWritten > 0 { line += ", \(s.failed) failed, \(s.notWritten) not written" }
        return line + "; \(plural(otherFiles, "other file"))"
    }

    /// The summary's numbers after the writes: `changed` is the files written (with a dry
    /// run, to be written), `failed` the files whose write failed or was refused,
    /// `notWritten` the files due a change that were not written because the run stopped
    /// (an error elsewhere and no `--keep-going`, or a missing need of their own).
    package func summary(_ outcome: Outcome) -> (elfFiles: Int, changed: Int, unchanged: Int, skipped: Int, missing: Int,
                                                failed: Int, notWritten: Int) {
        let s = summary
        let due = files.filter { $0.isPatched && $0.changed }.map(\.path)
        let failed = due.filter { outcome.failed[$0] != nil }.count
        let notWritten = due.filter { outcome.failed[$0] == nil && outcome.notWritten.contains($0) }.count
        return (s.elfFiles, s.changed - failed - notWritten, s.unchanged, s.skipped, s.missing, failed, notWritten)
    }

    /// What the writes made of a plan (`swelf autopatch` without `--dry-run`).
    package struct Outcome: Sendable {
        /// The files whose write failed or was refused, by path, with the reason.
        package var failed: [String: String] = [:]
        /// The files due a change that were not written: the run stopped before them.
        package var notWritten: Set<String> = []
        /// Errors of the writes that belong to no planned file (a hard link that could not
        /// be relinked to its written file).
        package var errors: [String] = []
        package init() {}
    }
}

extension AutopatchPlan {
    /// One warning per hard link that its file's new run path does not suit: the file is
    /// written once, and all its names share the one run path, whose `$ORIGIN` entries are
    /// planned from the first name's directory. A name in another directory for which an
    /// `$ORIGIN` entry leads elsewhere (another depth) would look in the wrong place.
    package var hardLinkWarnings: [String] {
        var lines: [String] = []
        for file in files where file.isPatched {
            guard let others = hardLinks[file.path], let runPath = file.runPathAfter, runPath.contains("ORIGIN") else { continue }
            let origin = AutopatchPlanner.directory(of: file.realPath)
            for other in others {
                guard let real = AutopatchWalk.realPath(other) else { continue }
                let otherOrigin = AutopatchPlanner.directory(of: real)
                guard otherOrigin != origin else { continue }
                let differs = runPath.split(separator: ":").map(String.init).contains { element in
                    AutopatchWalk.realPath(AutopatchPlanner.expandOrigin(element, origin: origin))
                        != AutopatchWalk.realPath(AutopatchPlanner.expandOrigin(element, origin: otherOrigin))
                }
                if differs {
                    lines.append("\(other): a hard link of \(file.path) in another directory; the run path's $ORIGIN entries are planned for \(file.path) and lead elsewhere from here")
                }
            }
        }
        return lines
    }
}

extension AutopatchPlan {
    /// The `--json` document (docs/json.md, `autopatch --json`): the envelope with one entry
    /// per ELF file in walk order, then `dry_run`, `summary`, `warnings` and `errors`.
    /// - Parameters:
    ///   - dryRun: whether nothing was written.
    ///   - ok: the command's verdict (its exit status is 0).
    ///   - outcome: what the writes made of the plan: a failed file's entry says why, and
    ///     `changed` is true only for a file written (with `dryRun`, to be written).
    /// - Returns: the document.
    package func json(dryRun: Bool, ok: Bool, outcome: Outcome = Outcome()) -> JSON {
        let entries = files.map { file -> JSON in
            let missing = file.missing
            let error = outcome.failed[file.path] ?? (missing.isEmpty ? nil : "not found: " + missing.joined(separator: ", "))
            let written = file.isPatched && file.changed && outcome.failed[file.path] == nil && !outcome.notWritten.contains(file.path)
            return JSONEnvelope.entry(file: .string(file.path), ok: error == nil, error: error, [
                ("kind", .string(file.kind.rawValue)),
                ("changed", .bool(written)),
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
        let s = summary(outcome)
        return JSONEnvelope.document(command: "autopatch", ok: ok, [
            ("files", .array(entries)),
            ("dry_run", .bool(dryRun)),
            ("summary", .object([("elf_files", .int(Int64(s.elfFiles))), ("changed", .int(Int64(s.changed))),
                                 ("unchanged", .int(Int64(s.unchanged))), ("skipped", .int(Int64(s.skipped))),
                                 ("missing", .int(Int64(s.missing))), ("failed", .int(Int64(s.failed))),
                                 ("not_written", .int(Int64(s.notWritten))), ("other_files", .int(Int64(otherFiles)))])),
            ("warnings", .array(warnings.map(JSON.string))),
            ("errors", .array((errors + outcome.errors).map(JSON.string))),
        ])
    }
}
