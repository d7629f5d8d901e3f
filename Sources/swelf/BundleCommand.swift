#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
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
    /// `--update`: replace a previous bundle in a non-empty output directory.
    var update = false
    /// `--allow-broken`: a bundle that would not start is a warning, not an error.
    var allowBroken = false
    /// `--interpreter PATH`: the PT_INTERP of every program (default: the target's standard loader).
    var interpreter: String?
    /// `--plugin FILE:DIR`, in order.
    var plugins: [(file: String, directory: String)] = []
}

/// `swelf bundle --output DIR PROGRAM_OR_DIR...`: copies the programs to DIR/bin (or
/// their place under an input directory), plugins where `--plugin` puts them, and every
/// library they load that is not base system to DIR/lib; gives each copy an
/// `$ORIGIN`-relative DT_RUNPATH and the target's loader (`BundleExecutor`, each copy
/// written and verified by `Rewriter`); then checks that the bundle would start on its
/// target (`BundleStartCheck`) and prints what it decided and why (`BundleReport`).
/// Nothing outside DIR is written, and DIR may not be, hold or lie inside a source.
struct BundleCommand {
    let terminal: Terminal
    let options: BundleOptions

    func run() -> ExitCode {
        guard let output = options.output else { return .usage }
        guard let policy = policy() else { return .failure }
        let inputs: [BundleInput]
        do {
            inputs = try BundleInputs.files(in: options.inputs, plugins: options.plugins)
            try checkSources(output: output, files: inputs.map(\.path))
        } catch {
            terminal.error("bundle: \(error)")
            return .failure
        }
        if inputs.isEmpty {
            terminal.error("bundle: no programs found in \(options.inputs.joined(separator: " "))")
            return .failure
        }

        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        var planner = BundlePlanner(environment: environment, policy: policy)
        planner.interpreter = options.interpreter
        let plan = planner.plan(inputs: inputs)
        guard plan.errors.isEmpty else {
            refuse(plan, output: output)
            return .failure
        }
        let manifest = BundleManifest(output: output)
        let entries = BundleExecutor.entries(of: plan)
        let update: BundleManifest.Update
        do {
            // The libraries are sources too: no copy may land on one of them.
            try checkSources(output: output, files: inputs.map(\.path) + plan.libraries.flatMap { [$0.source, $0.canonical] })
            update = try manifest.prepare(writing: entries, update: options.update)
        } catch {
            terminal.error("bundle: \(error)")
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
            // The manifest is written first with the old and the new entries, so that an
            // interrupted run leaves every file it may have written listed for --update.
            _ = try BundleExecutor.makeDirectories(output, "")
            try manifest.write(update.previous + entries.filter { !update.previous.contains($0) })
            leftovers = try executor.write(plan)
            try manifest.remove(update.stale)
            try manifest.write(entries)
        } catch {
            terminal.standardOutput.flush()
            terminal.error("bundle: \(error)")
            return .failure
        }
        // The bundle is judged as it will start on its target: the host or --root, with
        // none of this process's loader variables (LD_LIBRARY_PATH would find the build
        // tree's libraries). The portability report, which ends the report, covers the
        // files the bundle wrote, not others that share the directory.
        let target = BundleStartCheck.bundleEnvironment(environment)
        let host = HostProbe.hostFacts()
        let check = BundleStartCheck.run(plan, output: output, environment: target, host: host)
        let portability = PortabilityReport.analyze(paths: entries.map { output + "/" + $0 }, environment: target, host: host)
        var report = BundleReport(plan: plan, output: output, leftovers: leftovers, portability: portability)
        report.startCheck = check
        report.removed = update.stale
        report.brokenAllowed = options.allowBroken
        if options.json {
            terminal.standardOutput.line(report.json.serialized())
        } else {
            terminal.standardOutput.write(report.text)
        }
        guard check.failures.isEmpty else {
            terminal.standardOutput.flush()
            for failure in check.failures {
                terminal.error("bundle: \(output)/\(failure.location) would not start: \(failure.reasons.joined(separator: "; ").split(separator: "\n").joined(separator: " "))")
            }
            if options.allowBroken {
                terminal.error("bundle: warning: kept as it is (--allow-broken)")
                return .success
            }
            terminal.error("bundle: the bundle in \(output) would not start (it is left there; --allow-broken accepts it)")
            return .failure
        }
        return .success
    }

    /// Refuses an output directory that is, holds or lies inside a source.
    private func checkSources(output: String, files: [String]) throws(BundleError) {
        let directories = options.inputs.filter { input in
            var status = stat()
            return BytePath(input).withCString({ stat($0, &status) }) == 0 && status.st_mode & S_IFMT == S_IFDIR
        }
        try BundleSourceGuard.check(output: output, directories: directories, files: files)
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
