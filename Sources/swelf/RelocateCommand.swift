#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// `swelf relocate OLD NEW PATH...`: plans every file under PATH (`RelocationRun`:
/// dynamic strings, data strings, text files, symbolic links), prints the sites, and
/// unless `--dry-run` writes each changed file with one verified atomic replacement
/// (`Rewriter.prepareRelocation` / `prepareReplacement`), `-j` files at a time, then
/// re-points the links, then prints one summary line.
///
/// A refused site, a file that could not be read, or a file that may not be written
/// (all found before the first write) writes nothing, unless `--keep-going`, which writes
/// every other file. Files are prepared and committed in chunks (each prepared edit
/// holds descriptors until its commit), so a tree of more than one chunk is first checked
/// whole (`Rewriter.checkRelocation`: every ELF file's data strings and engine plan
/// verified, holding nothing): a file the verifier refuses, or one another swelf is
/// editing, stops the run before the first chunk is written. Within a chunk a failure
/// abandons the whole chunk. What only the write itself can show (a full disk, a file
/// replaced between the check and its chunk) in a later chunk leaves earlier chunks
/// written: the report names them (`failed`, `not written`).
struct RelocateCommand {
    let terminal: Terminal
    let options: RelocateCommandOptions

    /// One error line for `path`: its name first unless the message already says it.
    func fail(_ path: String, _ error: RewriteError, _ outcome: inout RelocationRun.Outcome) {
        let message = "\(error)"
        if message.contains(path) { terminal.error(message) } else { terminal.error(message, file: BytePath(path)) }
        outcome.failed[path] = message.contains(path) ? message : "\(path): \(message)"
    }

    func run() -> ExitCode {
        let jobs = options.jobs ?? Overlap.processorCount
        let pairs = options.map.pairs.map { (old: $0.old, new: $0.new) }
        let run = RelocationRun.plan(paths: options.paths, map: options.map, origin: options.origin, jobs: jobs)
        if !options.json { terminal.standardOutput.write(run.text()) }
        for warning in run.warnings { terminal.warning(warning) }
        for error in run.errors { terminal.error(error) }
        for refusal in run.refusals { terminal.error(refusal) }
        var failed = !run.errors.isEmpty || !run.refusals.isEmpty
        var outcome = RelocationRun.Outcome()
        let due = run.files.filter(\.changes)
        if !options.dryRun {
            let allowReadOnly = options.allowReadOnly
            let makeRewriter = { @Sendable in Rewriter(durable: true, allowReadOnly: allowReadOnly) }
            // Before anything is written: each file must be replaceable (a read-only file is
            // refused here, not after others were written).
            let files = due.filter { $0.kind != .symlink }
            let checks = Overlap.map(count: files.count, jobs: jobs) { index in
                Result { () throws(RewriteError) in try makeRewriter().checkWritable(path: files[index].path) }
            }
            for (index, result) in checks.enumerated() {
                if case .failure(let error) = result {
                    fail(files[index].path, error, &outcome)
                    failed = true
                }
            }
            if failed && !options.keepGoing {
                outcome.notWritten = Set(due.map(\.path).filter { outcome.failed[$0] == nil })
            } else {
                let writable = files.filter { outcome.failed[$0.path] == nil }
                if !write(writable, pairs: pairs, jobs: jobs, hardLinks: run.hardLinks, makeRewriter: makeRewriter, outcome: &outcome) { failed = true }
                let links = due.filter { $0.kind == .symlink }
                if failed && !options.keepGoing {
                    outcome.notWritten.formUnion(links.map(\.path))
                } else {
                    for link in links {
                        do {
                            try makeRewriter().repoint(link: link.path, to: link.newTarget ?? [])
                        } catch {
                            fail(link.path, error, &outcome)
                            failed = true
                        }
                    }
                }
            }
        }
        if options.json {
            terminal.standardOutput.line(run.json(dryRun: options.dryRun, ok: !failed, outcome: outcome).serialized())
        } else {
            terminal.standardOutput.line(run.summaryLine(dryRun: options.dryRun, outcome: outcome))
        }
        return failed ? .failure : .success
    }

    /// Makes `name` (a hard link of `file` before its write) a name of the new `file`: a
    /// link made beside it under a temporary name, renamed over it, the directory synced.
    /// Returns false, with one error line, when that failed (`file` stays written).
    func relink(_ name: String, to file: String, _ outcome: inout RelocationRun.Outcome) -> Bool {
        let directory = name.lastIndex(of: "/").map { String(name[..<$0]) } ?? "."
        let temporary = (directory.isEmpty ? "" : directory) + "/.swelf-link-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        var code: Int32 = 0
        if link(file, temporary) != 0 {
            code = errno
        } else if rename(temporary, name) != 0 {
            code = errno
            unlink(temporary)
        } else {
            let descriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if descriptor >= 0 {
                _ = fsync(descriptor)
                close(descriptor)
            }
        }
        guard code != 0 else { return true }
        let message = "\(name): a hard link of \(file), which was relocated; this name still holds the old content: \(String(cString: strerror(code)))"
        terminal.error(message)
        outcome.failed[name] = message
        return false
    }

    /// The memory the check pass may spend keeping checked plans for the prepare (the
    /// engine's plans, a few KiB per file; a data-only relocation keeps almost nothing).
    static let checkedPlanBudget = 256 << 20

    /// Checks every ELF file of `files` without writing or holding anything
    /// (`Rewriter.checkRelocation`), `jobs` at a time. Returns false when one failed (one
    /// line each, its path in `outcome.failed`), and the checked edits, by path, of as
    /// many files as `checkedPlanBudget` bytes of plans allow.
    func check(_ files: [RelocationFilePlan], pairs: [(old: [UInt8], new: [UInt8])], jobs: Int,
               makeRewriter: @escaping @Sendable () -> Rewriter,
               outcome: inout RelocationRun.Outcome) -> (passed: Bool, checked: [String: CheckedEdit]) {
        let elf = files.filter { $0.newText == nil }
        let results = Overlap.map(count: elf.count, jobs: jobs) { index in
            Result { () throws(RewriteError) -> CheckedEdit in
                try makeRewriter().checkRelocation(path: elf[index].path, dataPatches: elf[index].dataPatches,
                                                   pairs: pairs, request: elf[index].request)
            }
        }
        var passed = true
        var kept: [String: CheckedEdit] = [:]
        var spent = 0
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let edit):
                guard edit.retainedBytes > 0, spent + edit.retainedBytes <= RelocateCommand.checkedPlanBudget else { continue }
                spent += edit.retainedBytes
                kept[elf[index].path] = edit
            case .failure(let error):
                fail(elf[index].path, error, &outcome)
                passed = false
            }
        }
        return (passed, kept)
    }

    /// Prepares (verified, written to a temporary file beside each) and commits `files`,
    /// chunk by chunk, after checking them whole when they span more than one. Returns
    /// false when a file failed.
    func write(_ files: [RelocationFilePlan], pairs: [(old: [UInt8], new: [UInt8])], jobs: Int, hardLinks: [String: [String]],
               makeRewriter: @escaping @Sendable () -> Rewriter, outcome: inout RelocationRun.Outcome) -> Bool {
        let part = Swelf.chunkSize()
        var files = files
        var succeeded = true
        var checked: [String: CheckedEdit] = [:]
        if files.count > part {
            let (passed, edits) = check(files, pairs: pairs, jobs: jobs, makeRewriter: makeRewriter, outcome: &outcome)
            checked = edits
            if !passed {
                succeeded = false
                guard options.keepGoing else {
                    outcome.notWritten.formUnion(files.map(\.path).filter { outcome.failed[$0] == nil })
                    return false
                }
                files = files.filter { outcome.failed[$0.path] == nil }
            }
        }
        var start = 0
        while start < files.count {
            let chunk = Array(files[start ..< min(files.count, start + part)])
            let chunkChecked = chunk.map { checked.removeValue(forKey: $0.path) }
            let prepared = Overlap.map(count: chunk.count, jobs: jobs) { index in
                Result { () throws(RewriteError) -> Rewriter.Prepared in
                    let file = chunk[index]
                    if let text = file.newText { return try makeRewriter().prepareReplacement(path: file.path, content: text) }
                    return try makeRewriter().prepareRelocation(path: file.path, dataPatches: file.dataPatches,
                                                                pairs: pairs, request: file.request, checked: chunkChecked[index])
                }
            }
            var edits: [Rewriter.Prepared] = []
            var editFiles: [RelocationFilePlan] = []
            for (index, result) in prepared.enumerated() {
                switch result {
                case .success(let edit):
                    edits.append(edit)
                    editFiles.append(chunk[index])
                case .failure(let error):
                    fail(chunk[index].path, error, &outcome)
                    succeeded = false
                }
            }
            if !succeeded && !options.keepGoing {
                // The chunk's prepared edits are abandoned (dropped), and so is the rest.
                outcome.notWritten.formUnion(files[start...].map(\.path).filter { outcome.failed[$0] == nil })
                return false
            }
            for (index, error) in makeRewriter().commitRelocations(edits).enumerated() {
                if let error {
                    fail(editFiles[index].path, error, &outcome)
                    succeeded = false
                } else {
                    for name in hardLinks[editFiles[index].path] ?? [] where !relink(name, to: editFiles[index].path, &outcome) {
                        succeeded = false
                    }
                }
            }
            if !succeeded && !options.keepGoing {
                outcome.notWritten.formUnion(files[(start + chunk.count)...].map(\.path).filter { outcome.failed[$0] == nil })
                return false
            }
            start += chunk.count
        }
        return succeeded
    }
}
