// Says why a program would not start on this machine: the libraries ld.so would not find
// (and where it looked), and every other fatal finding. Usage: why-wont-it-start PROGRAM
import ELFKit
import Glibc

let path = CommandLine.arguments[1]
// This machine as the loader sees it: its directories for the program's architecture,
// its cache, the process environment.
let environment = LoaderEnvironment.current()
let host = HostFacts.current()

let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
for lookup in diagnosis.resolution?.lookups ?? [] where lookup.object == nil {
    print("\(lookup.name): not found; tried \(lookup.attempts.map(\.path).joined(separator: ", "))")
}
for check in diagnosis.checks {
    for finding in check.findings where finding.severity == .fatal { print("\(check.area.title): \(finding.message)") }
}
print(diagnosis.wouldStart ? "\(path) would start" : "\(path) would not start")
exit(diagnosis.wouldStart ? 0 : 1)
