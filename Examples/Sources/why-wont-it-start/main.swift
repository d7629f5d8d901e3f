// Says why a program would not start on this machine: the libraries ld.so would not find
// (and where it looked), and every other fatal finding. Usage: why-wont-it-start PROGRAM
import ELFKit
import Glibc

let path = CommandLine.arguments[1]
guard let file = try? ELFFile(path: path) else { print("\(path) is not a readable ELF file"); exit(1) }
// This machine as the loader sees it: its directories for the program's architecture and
// its cache (the defaults swelf uses when ld.so cannot be asked). Until the library
// probes the host itself, a client describes it.
let system = LoaderFileSystem()
let (machine, is64, bigEndian, flags) = (file.header.machine, file.format.is64, file.format.isBigEndian, file.header.flags)
let triplet = LoaderPlatform.multiarchTriplet(machine: machine, is64: is64, isBigEndian: bigEndian, elfFlags: flags)
let platform = LoaderPlatform.defaults(machine: machine, is64: is64, isBigEndian: bigEndian, elfFlags: flags,
                                       hasMultiarch: triplet.map { system.isDirectory("/usr/lib/\($0)") } ?? false,
                                       hasLib64: system.isDirectory("/lib64"))
let cache = LoaderEnvironment.loadCache(fileSystem: system)
let environment = LoaderEnvironment(currentDirectory: ".", platform: platform, cache: cache.cache, cachePath: cache.path)
var names = utsname()
uname(&names)
let machineName = withUnsafeBytes(of: names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
let host = HostFacts(machineName: machineName, userID: getuid(), groupID: getgid())

let diagnosis = Diagnosis.run(path: path, environment: environment, host: host)
for lookup in diagnosis.resolution?.lookups ?? [] where lookup.object == nil {
    print("\(lookup.name): not found; tried \(lookup.attempts.map(\.path).joined(separator: ", "))")
}
for check in diagnosis.checks {
    for finding in check.findings where finding.severity == .fatal { print("\(check.area.title): \(finding.message)") }
}
print(diagnosis.wouldStart ? "\(path) would start" : "\(path) would not start")
exit(diagnosis.wouldStart ? 0 : 1)
