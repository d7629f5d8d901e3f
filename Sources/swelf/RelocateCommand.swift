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
/// holds descriptors until its commit); within a chunk a failure abandons the whole
/// chunk, so a tree of one chunk is all or nothing. A failure that only writing shows
/// (the verifier refusing a file, a full disk) in a later chunk leaves earlier chunks
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
        let run = RelocationRun.plan(paths: options.paths, map: options.map, jobs: jobs)
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

    /// Prepares (verified, written to a temporary file beside each) and commits `files`,
    /// chunk by chunk. Returns false when a file failed.
    func write(_ files: [RelocationFilePlan], pairs: [(old: [UInt8], new: [UInt8])], jobs: Int, hardLinks: [String: [String]],
               makeRewriter: @escaping @Sendable () -> Rewriter, outcome: inout RelocationRun.Outcome) -> Bool {
        let part = Swelf.batchSize()
        var succeeded = true
        var start = 0
        while start < files.count {
            let chunk = Array(files[start ..< min(files.count, start + part)])
            let prepared = Overlap.map(count: chunk.count, jobs: jobs) { index in
                Result { () throws(RewriteError) -> Rewriter.Prepared in
                    let file = chunk[index]
                    if let text = file.newText { return try makeRewriter().prepareReplacement(path: file.path, content: text) }
                    return try makeRewriter().prepareRelocation(path: file.path, dataPatches: file.dataPatches,
                                                                pairs: pairs, request: file.request)
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
