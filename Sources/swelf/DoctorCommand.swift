import ELFKit

/// Options shared by `doctor` and `ldd`.
struct DoctorOptions {
    var files: [String] = []
    var root: String?
    /// `--env NAME=VALUE` in order; a later one wins.
    var environment: [(name: String, value: String)] = []
    var json = false
    /// `ldd --tree`: the dependencies as a tree.
    var tree = false
    /// `portability --floor`: the oldest versions accepted.
    var limits: PortabilityReport.Limits?

    /// The loader as it would run under `--root` and `--env`, and this machine's facts:
    /// what doctor, ldd and portability judge a file against.
    func probe() -> (environment: LoaderEnvironment, host: HostFacts) {
        (HostProbe.loaderEnvironment(root: root, overrides: environment), HostProbe.hostFacts())
    }
}

/// `swelf doctor FILE`: would this program start here, and if not, why.
struct DoctorCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let (environment, host) = options.probe()
        return terminal.eachFile(options.files, command: "doctor", json: options.json) { path in
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            let report = DoctorReport(diagnosis: diagnosis)
            if options.json { return (report.json, diagnosis.wouldStart) }
            terminal.standardOutput.write(report.text)
            return (nil, diagnosis.wouldStart)
        }
    }
}

/// `swelf ldd FILE...`: the resolved tree in ldd's format, with the reason where ldd
/// prints the load address; `--tree` draws it as a tree (`LddTree`), `--json` gives
/// each file's lookups as `doctor --json` does.
struct LddCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let (environment, host) = options.probe()
        let out = terminal.standardOutput
        return terminal.eachFile(options.files, command: "ldd", json: options.json) { path in
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            let report = LddReport(diagnosis, fileSystem: environment.fileSystem, tree: options.tree)
            if options.files.count > 1 && !options.tree && !options.json { out.line("\(path):") }
            for line in report.lines {
                switch line {
                case .output(let text):
                    // Under --json the listing is the entry's `libraries`; messages and
                    // errors still go to stderr.
                    if !options.json { out.line(text) }
                case .message(let text):
                    out.flush()
                    terminal.standardError.line(text)
                    terminal.standardError.flush()
                case .error(let text):
                    out.flush()
                    terminal.error(text)
                }
            }
            return (options.json ? report.json : nil, !report.failed)
        }
    }
}
