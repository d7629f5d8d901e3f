import ELFKit

/// `swelf bundle` options.
struct BundleOptions {
    var inputs: [String] = []
    var output: String?
    var policyFile: String?
    var includeCxxRuntime = false
    var root: String?
    var environment: [(name: String, value: String)] = []
    var json = false
}

/// `swelf bundle --output DIR PROGRAM_OR_DIR...`: copies the programs to DIR/bin and every
/// library they load that is not base system to DIR/lib, gives each copy an
/// `$ORIGIN`-relative DT_RUNPATH (`BundleExecutor`, each copy written and verified by
/// `Rewriter`), and prints what it decided and why
/// (`BundleReport`). Nothing outside DIR is written.
struct BundleCommand {
    let terminal: Terminal
    let options: BundleOptions

    func run() -> ExitCode {
        guard let output = options.output else { return .usage }
        guard let policy = policy() else { return .failure }
        let programs: [(path: String, name: String)]
        do {
            programs = try BundleInputs.programs(in: options.inputs, output: output)
        } catch {
            terminal.error("\(error)")
            return .failure
        }
        if programs.isEmpty {
            terminal.error("bundle: no programs found in \(options.inputs.joined(separator: " "))")
            return .failure
        }

        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let plan = BundlePlanner(environment: environment, policy: policy).plan(programs: programs)
        guard plan.errors.isEmpty else {
            refuse(plan, output: output)
            return .failure
        }

        let leftovers: [String]
        // The bundle's own copies keep their sources' modes, read-only ones from a
        // store included; a rerun replaces them as the bundle's, not the user's, files.
        let rewriter = Rewriter(durable: true, allowReadOnly: true)
        let executor = BundleExecutor(output: output) { source, request, destination in
            _ = try rewriter.rewrite(path: source, request: request, output: destination)
        }
        do {
            leftovers = try executor.write(plan)
        } catch {
            terminal.standardOutput.flush()
            terminal.error("bundle: \(error)")
            return .failure
        }
        // The bundle ends with the portability report of what it wrote (bin/ and lib/,
        // resolved as they will be: private libraries through their $ORIGIN run paths, the
        // base system where --root/--env say). Its verdict does not change the bundle's
        // exit status; `swelf portability --floor` gates on it.
        let portability = PortabilityReport.analyze(paths: [output], environment: environment, host: HostProbe.hostFacts())
        let report = BundleReport(plan: plan, output: output, leftovers: leftovers, portability: portability)
        if options.json {
            terminal.standardOutput.line(report.json.serialized())
        } else {
            terminal.standardOutput.write(report.text)
        }
        return .success
    }

    /// The default policy with `--policy FILE`'s rules and `--include-libstdcxx`; nil
    /// (after saying why) when the file cannot be read or parsed.
    private func policy() -> BundlePolicy? {
        var policy = BundlePolicy()
        if let path = options.policyFile {
            do {
                let text = String(decoding: try FileSystem.readContents(BytePath(path)), as: UTF8.self)
                try policy.parse(text, path: path)
            } catch {
                terminal.error("policy: \(error)")
                return nil
            }
        }
        if options.includeCxxRuntime { policy.includeCxxRuntime() }
        return policy
    }

    /// A plan with errors: nothing is written. With `--json` the report (marked not
    /// written) comes first, then each error on stderr.
    private func refuse(_ plan: BundlePlan, output: String) {
        if options.json {
            terminal.standardOutput.line(BundleReport(plan: plan, output: output, written: false).json.serialized())
            terminal.standardOutput.flush()
        }
        for error in plan.errors { terminal.error("bundle: \(error)") }
        terminal.error("bundle: nothing written to \(output)")
    }
}
