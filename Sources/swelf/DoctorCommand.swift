import ELFKit

/// Options shared by `doctor` and `ldd`.
struct DoctorOptions {
    var files: [String] = []
    var root: String?
    /// `--env NAME=VALUE` in order; a later one wins.
    var environment: [(name: String, value: String)] = []
    var json = false
    /// `portability --floor`: the oldest versions accepted.
    var limits: PortabilityReport.Limits?
}

/// `swelf doctor FILE`: would this program start here, and if not, why.
struct DoctorCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let host = HostProbe.hostFacts()
        var status = ExitCode.success
        var documents: [JSON] = []
        for path in options.files {
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            if !diagnosis.wouldStart { status = .failure }
            if options.json {
                documents.append(DoctorReport(diagnosis: diagnosis).json)
            } else {
                terminal.standardOutput.write(DoctorReport(diagnosis: diagnosis).text)
            }
        }
        if options.json {
            terminal.standardOutput.line((documents.count == 1 ? documents[0] : .array(documents)).serialized())
        }
        return status
    }
}

/// `swelf ldd FILE...`: the resolved tree in ldd's format, with the reason where ldd
/// prints the load address.
struct LddCommand {
    let terminal: Terminal
    let options: DoctorOptions

    func run() -> ExitCode {
        let environment = HostProbe.loaderEnvironment(root: options.root, overrides: options.environment)
        let host = HostProbe.hostFacts()
        var status = ExitCode.success
        let out = terminal.standardOutput
        for path in options.files {
            if options.files.count > 1 { out.line("\(path):") }
            let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
            let report = LddReport(diagnosis, fileSystem: environment.fileSystem)
            for line in report.lines {
                switch line {
                case .output(let text):
                    out.line(text)
                case .message(let text):
                    out.flush()
                    terminal.standardError.line(text)
                    terminal.standardError.flush()
                case .error(let text):
                    out.flush()
                    terminal.error(text)
                }
            }
            if report.failed { status = .failure }
        }
        return status
    }
}
