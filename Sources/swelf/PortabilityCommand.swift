import ELFKit

/// `swelf portability FILE|DIR...`: the oldest glibc, libstdc++ and libgcc_s the files
/// (and everything they load) run on, which symbol of which file sets each, and the
/// distributions that meet it. With `--floor`, exit 1 naming each `symbol@version`
/// beyond it.
struct PortabilityCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let (environment, host) = options.probe()
        let report = PortabilityReport.analyze(paths: options.files, environment: environment, host: host)
        let violations = options.limits.map { report.violations(of: $0) }
        var rendering = PortabilityRendering(limits: options.limits)
        // An input that cannot be read is an error, on stderr; the JSON keeps it as a note too.
        rendering.unreadableInputsElsewhere = true
        for note in report.notes where note.unreadableInput { terminal.error(note.message) }
        terminal.standardError.flush()
        if options.json {
            terminal.standardOutput.line(rendering.document(report, violations: violations).serialized())
        } else {
            terminal.standardOutput.write(rendering.text(report, violations: violations))
        }
        if report.failed || !(violations?.isEmpty ?? true) { return .failure }
        return .success
    }
}
