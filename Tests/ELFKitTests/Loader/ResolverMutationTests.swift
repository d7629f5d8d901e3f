import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

/// Damaged programs and libraries through the whole doctor: truncated and byte-mutated
/// copies of the subjects (and a damaged library next to an intact program) must give
/// a verdict, never a trap or a hang.
@Suite struct ResolverMutationTests {
    static let subjects = ["x86_64/hello", "x86_64/needver", "x86_64/libgreet.so.1", "x86_64/go-cgo", "x86_64/hello-noshdr"]

    @Test(arguments: subjects)
    func mutatedFilesGetAVerdict(subject: String) throws {
        let original = [UInt8](try Data(contentsOf: Repo.testBinaries.appendingPathComponent(subject)))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-doctor-mutation-\(getpid())-\(subject.hashValue)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // The program's libraries sit next to it; the mutated copy is loaded as one of them too.
        for name in ["libgreet.so.1", "libunused.so", "libver.so.1"] {
            try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/\(name)"),
                                             to: directory.appendingPathComponent(name))
        }
        var variables = ProcessInfo.processInfo.environment
        variables["LD_LIBRARY_PATH"] = directory.path
        let environment = try HostLoader.environment(variables: variables)
        let target = directory.appendingPathComponent(PathText.lastComponent(of: subject) == "libgreet.so.1" ? "libgreet.so.1" : "program")
        var generator = SplitMix64(seed: UInt64(truncatingIfNeeded: subject.utf8.reduce(5381) { $0 &* 33 &+ Int($1) }))
        var verdicts = 0
        for iteration in 0 ..< 300 {
            var bytes = original
            if iteration % 3 == 0 {
                bytes = Array(bytes.prefix(Int(generator.next() % UInt64(bytes.count + 1))))
            } else {
                // Mutate bytes in the headers and the dynamic data, where the loader looks.
                for _ in 0 ..< 1 + Int(generator.next() % 8) {
                    guard !bytes.isEmpty else { break }
                    let limit = min(bytes.count, iteration % 2 == 0 ? 0x1000 : bytes.count)
                    bytes[Int(generator.next() % UInt64(limit))] = UInt8(truncatingIfNeeded: generator.next())
                }
            }
            try Data(bytes).write(to: target)
            chmod(target.path, 0o755)
            let program = target.lastPathComponent == "libgreet.so.1"
                ? Repo.testBinaries.appendingPathComponent("x86_64/hello").path : target.path
            let diagnosis = Diagnosis.run(path: program, environment: environment, host: HostLoader.host)
            _ = diagnosis.wouldStart
            verdicts += 1
        }
        #expect(verdicts == 300)
    }
}
