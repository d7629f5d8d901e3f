import ELFKit

/// `swelf autopatch PATH...`: plans the interpreter and run path of every ELF file under
/// PATH (`AutopatchPlanner`), prints the plan, and unless `--dry-run` writes each changed
/// file with one verified edit (interpreter and run path together), `-j` files at a time,
/// then one summary line.
///
/// Without `--keep-going` a plan with any error writes nothing. Files are prepared and
/// committed in chunks of `Swelf.batchSize()` (open descriptors stay bounded): a tree
/// up to one chunk is all or nothing; beyond it a failure while preparing a later chunk
/// leaves the earlier chunks written (docs/autopatch-design.md, Writes: open).
struct AutopatchCommand {
    let terminal: Terminal
    let options: AutopatchCommandOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: [])
        let planner = AutopatchPlanner(environment: environment, options: options.planner)
        let plan = planner.plan(paths: options.paths)
        if !options.json { terminal.standardOutput.write(plan.text(verbose: terminal.verbosity == .verbose)) }
        for warning in plan.warnings { terminal.warning(warning) }
        for error in plan.errors { terminal.error(error) }
        var failed = !plan.errors.isEmpty
        var writeErrors: [String: String] = [:]
        if !options.dryRun && (plan.errors.isEmpty || options.keepGoing) {
            failed = !write(plan.files.filter { $0.isPatched && $0.changed && $0.missing.isEmpty }, errors: &writeErrors) || failed
        }
        if options.json {
            terminal.standardOutput.line(plan.json(dryRun: options.dryRun, ok: !failed, failed: writeErrors).serialized())
        } else {
            terminal.standardOutput.line(plan.summaryLine(dryRun: options.dryRun))
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

    /// Writes `files`, chunk by chunk: each file of a chunk edited and verified in
    /// parallel, then the chunk committed at once. Returns false when a file failed (one
    /// line each on stderr).
    func write(_ files: [AutopatchPlan.FilePlan], errors: inout [String: String]) -> Bool {
        let jobs = options.jobs ?? Overlap.processorCount
        let chunk = Swelf.batchSize()
        let (pageSize, keepOldBytes) = (options.pageSize, options.keepOldBytes)
        let progress = ProgressLine(terminal: terminal, label: "autopatch: writing", total: files.count)
        defer { progress.clear() }
        var succeeded = true
        var start = 0
        while start < files.count {
            let part = Array(files[start ..< min(files.count, start + chunk)])
            let prepared = Overlap.map(count: part.count, jobs: jobs) { index -> Result<Rewriter.Prepared, RewriteError> in
                let rewriter = Rewriter(durable: true, allowReadOnly: false)
                return Result { () throws(RewriteError) -> Rewriter.Prepared in
                    try rewriter.prepare(path: part[index].path, request: AutopatchCommand.request(for: part[index], pageSize: pageSize, keepOldBytes: keepOldBytes))
                }
            }
            var ready: [Rewriter.Prepared] = []
            var readyFiles: [String] = []
            for (index, outcome) in prepared.enumerated() {
                switch outcome {
                case .success(let edit):
                    ready.append(edit)
                    readyFiles.append(part[index].path)
                case .failure(let error):
                    terminal.error("\(error)")
                    errors[part[index].path] = "\(error)"
                    succeeded = false
                }
            }
            // Without --keep-going one failure stops the run: this chunk is dropped unwritten.
            if !succeeded && !options.keepGoing { return false }
            for (index, error) in Rewriter(durable: true, allowReadOnly: false).commit(ready).enumerated() {
                if let error {
                    terminal.error("\(readyFiles[index]): \(error)")
                    errors[readyFiles[index]] = "\(error)"
                    succeeded = false
                }
            }
            start += part.count
            progress.update(start)
        }
        return succeeded
    }
}
