import ELFKit

/// `swelf autopatch --dry-run PATH...`: plans the interpreter and run path of every ELF
/// file under PATH (`AutopatchPlanner`) and prints the plan and a summary line. The
/// writes (one verified edit per changed file, docs/autopatch-design.md, Writes) are the
/// next step; until then the parser requires `--dry-run`.
struct AutopatchCommand {
    let terminal: Terminal
    let options: AutopatchCommandOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: [])
        let planner = AutopatchPlanner(environment: environment, options: options.planner)
        let plan = planner.plan(paths: options.paths)
        terminal.standardOutput.write(plan.text(verbose: terminal.verbosity == .verbose))
        for error in plan.errors { terminal.error(error) }
        terminal.standardOutput.line(plan.summaryLine(dryRun: options.dryRun))
        return plan.errors.isEmpty ? .success : .failure
    }
}
