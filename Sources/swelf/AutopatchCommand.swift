#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKit

/// `swelf autopatch PATH...`: plans the interpreter and run path of every ELF file under
/// PATH (`AutopatchPlanner`), prints the plan, and unless `--dry-run` writes each changed
/// file with one verified edit (interpreter and run path together), `-j` files at a time,
/// then one summary line.
///
/// Without `--keep-going` a plan with any error writes nothing, and so does a file that
/// fails to be written: files are prepared and committed in chunks of `Swelf.chunkSize()` (each
/// prepared edit holds descriptors until its commit), so a tree of more than one chunk is
/// first checked whole (`Rewriter.check`: planned and verified in memory, its writability
/// checked, nothing written or held) before the first chunk is written. What only a write
/// shows (a full disk, a file replaced meanwhile) can still stop a later chunk after
/// earlier ones were committed (docs/autopatch-design.md, Writes).
struct AutopatchCommand {
    let terminal: Terminal
    let options: AutopatchCommandOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: [])
        var plannerOptions = options.planner
        // auto-patchelf.py's own source of the loader and libc, for autoPatchelfHook's call.
        if plannerOptions.interpreter == nil, let bintools = getenv("NIX_BINTOOLS").map({ String(cString: $0) }), !bintools.isEmpty {
            do {
                let facts = try NixBintools.read(bintools)
                plannerOptions.interpreter = facts.interpreter
                plannerOptions.libcDirectory = facts.libcDirectory
            } catch {
                terminal.error("\(error)")
                return .failure
            }
        }
        if let jobs = options.jobs { plannerOptions.jobs = jobs }
        let planner = AutopatchPlanner(environment: environment, options: plannerOptions)
        var plan = planner.plan(paths: options.paths)
        plan.warnings += plan.hardLinkWarnings
        if !options.json { terminal.standardOutput.write(plan.text(verbose: terminal.verbosity == .verbose)) }
        for warning in plan.warnings { terminal.warning(warning) }
        for error in plan.errors { terminal.error(error) }
        var failed = !plan.errors.isEmpty
        var outcome = AutopatchPlan.Outcome()
        if !options.dryRun {
            let due = plan.files.filter { $0.isPatched && $0.changed }
            // A file with a missing need is never written; the others only when nothing
            // failed, or with --keep-going.
            let writable = due.filter { $0.missing.isEmpty }
            outcome.notWritten = Set(due.filter { !$0.missing.isEmpty }.map(\.path))
            if plan.errors.isEmpty || options.keepGoing {
                failed = !write(writable, hardLinks: plan.hardLinks, outcome: &outcome) || failed
            } else {
                // Nothing is written, but every file due a change is still checked, so that
                // one run names every file that would fail (a read-only one) with the errors.
                _ = check(writable, keeping: 0, outcome: &outcome)
                outcome.notWritten.formUnion(writable.map(\.path).filter { outcome.failed[$0] == nil })
            }
        }
        if options.json {
            terminal.standardOutput.line(plan.json(dryRun: options.dryRun, ok: !failed, outcome: outcome).serialized())
        } else {
            terminal.standardOutput.line(plan.summaryLine(dryRun: options.dryRun, outcome: outcome))
        }
        return failed ? .failure : .success
    }

    /// The edit of one file: the interpreter and the run path, each only when it changes.
    /// An empty run path removes DT_RUNPATH: an empty one would mean the current directory.
    /// With `--extra-args`: `--force-rpath` writes DT_RPATH (also over an unchanged
    /// DT_RUNPATH), `--no-default-lib` sets DF_1_NODEFLIB, `--page-size` and
    /// `--no-clobber-old-sections` qualify the edit as patchelf's flags do.
    static func request(for file: AutopatchPlan.FilePlan, pageSize: UInt64? = nil, keepOldBytes: Bool = false) -> EditRequest {
        var request = EditRequest()
        if file.interpreterAfter != file.interpreterBefore, let interpreter = file.interpreterAfter {
            request.interpreter = Array(interpreter.utf8)
        }
        let toRPath = file.forceRPath && !file.runPathIsRPath
        if file.runPathAfter != file.runPathBefore || toRPath, let runPath = file.runPathAfter {
            request.runPath = runPath.isEmpty ? .remove : .set(Array(runPath.utf8))
        }
        request.forceRPath = file.forceRPath
        request.noDefaultLib = file.setsNoDefaultLib
        request.pageSize = pageSize
        request.keepOldBytes = keepOldBytes
        return request
    }

    /// One of the two things a pipeline step does at once.
    enum ChunkStep: Sendable {
        /// The previous chunk committed: each file's error, nil where it was replaced.
        case committed([RewriteError?])
        /// The next chunk prepared: each file's edit or error.
        case prepared([Result<Rewriter.Prepared, RewriteError>])
    }

    /// Writes `files`, chunk by chunk: each file of a chunk edited and verified in
    /// parallel, then the chunk committed at once; a file's other names (`hardLinks`)
    /// then linked to its new inode. Returns false when a file failed (one line each on
    /// stderr, its path in `outcome.failed`); without --keep-going every file not yet
    /// written then goes to `outcome.notWritten`.
    func write(_ files: [AutopatchPlan.FilePlan], hardLinks: [String: [String]], outcome: inout AutopatchPlan.Outcome) -> Bool {
        let jobs = options.jobs ?? Overlap.processorCount
        // Two chunks hold their descriptors at once (the pipeline below).
        let part = Swelf.chunkSize(alive: 2)
        let rewriter = rewriterMaker()
        let (pageSize, keepOldBytes) = (options.pageSize, options.keepOldBytes)
        func fail(_ path: String, _ error: RewriteError) {
            terminal.error("\(error)")
            outcome.failed[path] = "\(error)"
        }
        var files = files
        var succeeded = true
        // What the check pass proved, by path: the prepare writes those plans without
        // planning and verifying them again (`CheckedEdit`).
        var checked: [String: CheckedEdit] = [:]
        if files.count > part {
            // More than one chunk: only a chunk is committed at once, so every file is
            // checked first, holding nothing, and a failure stops the run before any write.
            let (passed, edits) = check(files, keeping: AutopatchCommand.checkedPlanBudget, outcome: &outcome)
            succeeded = passed
            checked = edits
            if !succeeded {
                guard options.keepGoing else {
                    outcome.notWritten.formUnion(files.map(\.path).filter { outcome.failed[$0] == nil })
                    return false
                }
                files = files.filter { outcome.failed[$0.path] == nil }
            }
        }
        let progress = ProgressLine(terminal: terminal, label: "autopatch: writing", total: files.count)
        defer { progress.clear() }
        // The chunks form a pipeline: chunk N+1 is prepared (processors) while chunk N is
        // committed (mostly waiting for the disk's syncfs), so two chunks hold their
        // descriptors at once (`chunkSize(alive: 2)`). The order of outcomes is that of
        // doing them one after another: a chunk is committed only when it was fully
        // prepared and every chunk before it committed (or --keep-going).
        var committing: (edits: [Rewriter.Prepared], files: [AutopatchPlan.FilePlan]) = ([], [])
        var start = 0
        var written = 0
        while start < files.count || !committing.edits.isEmpty {
            let chunk = Array(files[start ..< min(files.count, start + part)])
            let chunkChecked = chunk.map { checked.removeValue(forKey: $0.path) }
            // The committing thread owns the edits and drops them itself once committed:
            // dropping an edit closes the old file's last descriptor, and the kernel frees
            // the replaced inode's blocks then (about a tenth of the run's CPU time), which
            // on this thread would stall the pipeline between chunks.
            let edits = CommittingEdits(committing.edits)
            committing.edits = []
            let steps = Overlap.map(count: 2, jobs: 2) { step -> ChunkStep in
                if step == 0 { return .committed(edits.commitAndRelease(with: rewriter())) }
                return .prepared(Overlap.map(count: chunk.count, jobs: jobs) { index in
                    Result { () throws(RewriteError) -> Rewriter.Prepared in
                        try rewriter().prepare(path: BytePath(chunk[index].path),
                                               request: AutopatchCommand.request(for: chunk[index], pageSize: pageSize, keepOldBytes: keepOldBytes),
                                               checked: chunkChecked[index])
                    }
                })
            }
            guard case .committed(let commitErrors) = steps[0], case .prepared(let prepared) = steps[1] else { return false }
            for (index, error) in commitErrors.enumerated() {
                if let error {
                    fail(committing.files[index].path, error)
                    succeeded = false
                } else if let others = hardLinks[committing.files[index].path] {
                    for other in others where !relink(other, to: committing.files[index].realPath, outcome: &outcome) { succeeded = false }
                }
            }
            written += committing.files.count
            progress.update(written)
            committing = ([], [])
            for (index, result) in prepared.enumerated() {
                switch result {
                case .success(let edit):
                    committing.edits.append(edit)
                    committing.files.append(chunk[index])
                case .failure(let error):
                    fail(chunk[index].path, error)
                    succeeded = false
                }
            }
            // Without --keep-going one failure stops the run: the chunk just prepared is
            // dropped unwritten (its edits are abandoned when `committing` goes), and so
            // are the rest.
            if !succeeded && !options.keepGoing {
                outcome.notWritten.formUnion(files[start...].map(\.path).filter { outcome.failed[$0] == nil })
                return false
            }
            start += chunk.count
        }
        return succeeded
    }

    /// A chunk's prepared edits, handed to the thread that commits them, which releases
    /// them (`commitAndRelease`) so that no other thread pays for their closing.
    /// `@unchecked Sendable`: made by one thread, then used only by the committing one.
    final class CommittingEdits: @unchecked Sendable {
        private var edits: [Rewriter.Prepared]

        init(_ edits: [Rewriter.Prepared]) { self.edits = edits }

        /// Threads that drop committed edits at once: each mostly waits for the device.
        static let releasingThreads = 8

        /// Commits the edits (each file's error, nil where it was replaced) and drops them.
        ///
        /// Dropping an edit closes the replaced file's last descriptor, and the kernel frees
        /// its blocks then; on a file system mounted with `discard` (ext4 here) each free
        /// waits for the device to discard them. One after another those waits were 3.4 s
        /// of the 20,000-file benchmark tree and the pipeline's longest step, so the edits
        /// are dropped from several threads, whose waits overlap.
        func commitAndRelease(with rewriter: Rewriter) -> [RewriteError?] {
            guard !edits.isEmpty else { return [] }
            let errors = rewriter.commit(edits)
            let count = min(CommittingEdits.releasingThreads, edits.count)
            let shares = (0 ..< count).map { share in
                ReleasedShare(stride(from: share, to: edits.count, by: count).map { edits[$0] })
            }
            edits = []
            _ = Overlap.map(count: count, jobs: count) { shares[$0].release() }
            return errors
        }
    }

    /// Some committed edits, dropped by one of the releasing threads.
    /// `@unchecked Sendable`: each share is released by exactly one thread.
    final class ReleasedShare: @unchecked Sendable {
        private var edits: [Rewriter.Prepared]

        init(_ edits: [Rewriter.Prepared]) { self.edits = edits }

        func release() { edits = [] }
    }

    /// A maker of the rewriter of one edit: a Rewriter is not Sendable, so each thread
    /// makes its own.
    func rewriterMaker() -> @Sendable () -> Rewriter {
        let allowReadOnly = options.allowReadOnly
        return { Rewriter(durable: true, allowReadOnly: allowReadOnly) }
    }

    /// The memory the check pass may spend keeping checked plans for the prepare (about a
    /// kilobyte or two per file: 256 MiB keeps those of 10⁵ files); the files beyond it
    /// are planned and verified again when they are prepared.
    static let checkedPlanBudget = 256 << 20

    /// Checks every file's edit without writing or holding a descriptor (`Rewriter.check`:
    /// planned and verified in memory, the file and its directory writable), `-j` at a
    /// time, in chunks for the progress line. Returns false when a file failed (one line
    /// each on stderr, its path in `outcome.failed`), and the checked edits, by path, of
    /// as many files as `keeping` bytes of plans allow.
    func check(_ files: [AutopatchPlan.FilePlan], keeping budget: Int,
               outcome: inout AutopatchPlan.Outcome) -> (passed: Bool, checked: [String: CheckedEdit]) {
        let jobs = options.jobs ?? Overlap.processorCount
        let chunk = Swelf.chunkSize()
        let rewriter = rewriterMaker()
        let (pageSize, keepOldBytes) = (options.pageSize, options.keepOldBytes)
        let progress = ProgressLine(terminal: terminal, label: "autopatch: checking", total: files.count)
        defer { progress.clear() }
        var succeeded = true
        var kept: [String: CheckedEdit] = [:]
        var spent = 0
        var start = 0
        while start < files.count {
            let part = Array(files[start ..< min(files.count, start + chunk)])
            let checked = Overlap.map(count: part.count, jobs: jobs) { index in
                Result { () throws(RewriteError) -> CheckedEdit in
                    try rewriter().check(path: part[index].path,
                                         request: AutopatchCommand.request(for: part[index], pageSize: pageSize, keepOldBytes: keepOldBytes))
                }
            }
            for (index, result) in checked.enumerated() {
                switch result {
                case .success(let edit):
                    guard edit.retainedBytes > 0, spent + edit.retainedBytes <= budget else { continue }
                    spent += edit.retainedBytes
                    kept[part[index].path] = edit
                case .failure(let error):
                    terminal.error("\(error)")
                    outcome.failed[part[index].path] = "\(error)"
                    succeeded = false
                }
            }
            start += part.count
            progress.update(start)
        }
        return (succeeded, kept)
    }

    /// Makes `name` (a hard link of `file` before its write) a name of the new `file`
    /// again: a hard link made beside it under a temporary name, renamed over it, and the
    /// directory synced. Without this the other name would keep the old inode and so the
    /// old content. A failure is one error line (in `outcome.errors`); `file` itself stays
    /// written. Returns whether the name was relinked.
    func relink(_ name: String, to file: String, outcome: inout AutopatchPlan.Outcome) -> Bool {
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
                if fsync(descriptor) != 0 { code = errno }
                close(descriptor)
            }
        }
        guard code != 0 else { return true }
        let message = "\(name): a hard link of \(file), which was written; this name still holds the old content: \(String(cString: strerror(code)))"
        terminal.error(message)
        outcome.errors.append(message)
        return false
    }
}
