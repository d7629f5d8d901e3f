import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// Every dynamically linked program on this machine, and a sample of its libraries,
/// resolved by swelf and by the real loader (`LD_TRACE_LOADED_OBJECTS=1 ld.so FILE`, what `ldd` runs; safe on
/// these trusted system files): the same libraries, the same paths, the same order.
@Suite struct ResolverSystemTests {
    /// Regular files in `directory` (not following links into other directories), by
    /// canonical path so that a program reached by two names is checked once.
    static func files(in directory: String, recursive: Bool, matching: (String) -> Bool) -> [String] {
        let manager = FileManager.default
        var result: [String] = []
        let paths: [String]
        if recursive {
            paths = (manager.enumerator(atPath: directory)?.allObjects as? [String]) ?? []
        } else {
            paths = (try? manager.contentsOfDirectory(atPath: directory)) ?? []
        }
        for relative in paths.sorted() where matching(relative) {
            let path = directory + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            result.append(URL(fileURLWithPath: path).resolvingSymlinksInPath().path)
        }
        return result
    }

    struct Outcome {
        var compared = 0
        var wouldStart = 0
        var skipped: [String] = []
        var mismatches: [String] = []
        var verdictProblems: [String] = []
    }

    /// Compares one file; files for another loader (musl, 32-bit) and non-ELF files are skipped.
    static func compare(_ path: String, environment: LoaderEnvironment, interpreter: String, requireInterpreter: Bool,
                        outcome: inout Outcome) throws {
        guard let file = try? ELFFile(path: path), (try? file.dynamic()) != nil, ((try? file.dynamic()) ?? nil) != nil else { return }
        let programInterpreter = (try? file.interpreter()) ?? nil
        if requireInterpreter {
            guard let programInterpreter else { return }  // static-pie or a library in /usr/bin
            guard programInterpreter == interpreter else {
                outcome.skipped.append("\(path): PT_INTERP \(programInterpreter)")
                return
            }
        } else {
            guard file.header.type == .sharedObject, file.header.machine == environment.platform.machine,
                  file.format.is64 == environment.platform.is64 else { return }
            if let programInterpreter, programInterpreter != interpreter { return }
        }
        let reference = try HostLoader.referenceListing(path)
        let diagnosis = Diagnosis.run(path: path, environment: environment, host: HostLoader.host)
        guard let resolution = diagnosis.resolution else {
            outcome.mismatches.append("\(path): no resolution; checks: \(diagnosis.checks.map { "\($0.area): \($0.findings.map(\.message))" })")
            return
        }
        let ours = HostLoader.listing(resolution)
        if reference.status != 0 {
            outcome.skipped.append("\(path): LD_TRACE_LOADED_OBJECTS=1 ld.so exit \(reference.status): \(reference.lines.joined(separator: " | "))")
            return
        }
        // Counted only once there is a listing to compare with: a skipped file is not a
        // pass, and the minimums below count files actually compared.
        outcome.compared += 1
        if ours != reference.lines {
            outcome.mismatches.append("\(path):\n  ld.so: \(reference.lines.joined(separator: " | "))\n  swelf: \(ours.joined(separator: " | "))")
        }
        let referenceComplete = !reference.lines.contains { $0.hasSuffix("=> not found") }
        if diagnosis.wouldStart {
            outcome.wouldStart += 1
        } else if referenceComplete {
            let fatal = diagnosis.checks.flatMap { $0.findings.filter { $0.severity == .fatal }.map(\.message) }
            outcome.verdictProblems.append("\(path): \(fatal.joined(separator: "; "))")
        }
    }

    @Test func everyProgramInUsrBinAndUsrSbin() throws {
        let environment = try HostLoader.environment()
        let interpreter = try HostLoader.interpreter()
        var outcome = Outcome()
        var seen: Set<String> = []
        for directory in ["/usr/bin", "/usr/sbin"] {
            for path in Self.files(in: directory, recursive: false, matching: { _ in true }) where seen.insert(path).inserted {
                try Self.compare(path, environment: environment, interpreter: interpreter, requireInterpreter: true, outcome: &outcome)
            }
        }
        print("ResolverSystemTests: \(outcome.compared) programs in /usr/bin and /usr/sbin compared with LD_TRACE_LOADED_OBJECTS=1 ld.so, "
              + "\(outcome.mismatches.count) differ, \(outcome.wouldStart) would start, \(outcome.skipped.count) skipped")
        for line in outcome.skipped { print("  skipped \(line)") }
        #expect(outcome.compared > 50, "too few programs found to compare")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) differ:\n\(outcome.mismatches.prefix(20).joined(separator: "\n"))")
        #expect(outcome.verdictProblems.isEmpty, "\(outcome.verdictProblems.joined(separator: "\n"))")
    }

    /// Programs kept under /usr/lib and /usr/libexec (git-core, openssh, systemd, …).
    @Test func everyProgramUnderUsrLibAndUsrLibexec() throws {
        let environment = try HostLoader.environment()
        let interpreter = try HostLoader.interpreter()
        var outcome = Outcome()
        var seen: Set<String> = []
        for directory in ["/usr/lib", "/usr/libexec"] {
            let programs = Self.files(in: directory, recursive: true) { name in
                !PathText.lastComponent(of: name).contains(".so")
            }
            for path in programs where access(path, X_OK) == 0 && seen.insert(path).inserted {
                try Self.compare(path, environment: environment, interpreter: interpreter, requireInterpreter: true, outcome: &outcome)
            }
        }
        print("ResolverSystemTests: \(outcome.compared) programs under /usr/lib and /usr/libexec compared with LD_TRACE_LOADED_OBJECTS=1 ld.so, "
              + "\(outcome.mismatches.count) differ, \(outcome.wouldStart) would start, \(outcome.skipped.count) skipped")
        for line in outcome.skipped { print("  skipped \(line)") }
        #expect(outcome.compared > 10, "too few programs found to compare")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) differ:\n\(outcome.mismatches.prefix(20).joined(separator: "\n"))")
        #expect(outcome.verdictProblems.isEmpty, "\(outcome.verdictProblems.joined(separator: "\n"))")
    }

    /// The Swift toolchain running these tests: its programs and libraries find each
    /// other through `$ORIGIN` run paths, a good test of DST substitution.
    @Test func theSwiftToolchain() throws {
        let swift = try #require(ChildProcess.path("swift"), "swift not on PATH")
        let toolchain = PathText.directory(of: PathText.directory(of: URL(fileURLWithPath: swift).resolvingSymlinksInPath().path))
        let environment = try HostLoader.environment()
        let interpreter = try HostLoader.interpreter()
        var outcome = Outcome()
        for path in Self.files(in: toolchain + "/bin", recursive: false, matching: { _ in true }) where access(path, X_OK) == 0 {
            try Self.compare(path, environment: environment, interpreter: interpreter, requireInterpreter: true, outcome: &outcome)
        }
        let libraries = Self.files(in: toolchain + "/lib", recursive: true) { PathText.lastComponent(of: $0).contains(".so") }
        for path in Set(libraries).sorted() {
            try Self.compare(path, environment: environment, interpreter: interpreter, requireInterpreter: false, outcome: &outcome)
        }
        print("ResolverSystemTests: \(outcome.compared) programs and libraries of the Swift toolchain in \(toolchain) compared with "
              + "LD_TRACE_LOADED_OBJECTS=1 ld.so, \(outcome.mismatches.count) differ, \(outcome.skipped.count) skipped")
        #expect(outcome.compared > 10, "too few files found to compare")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) differ:\n\(outcome.mismatches.prefix(20).joined(separator: "\n"))")
    }

    @Test func sampleOfLibrariesInUsrLib() throws {
        let environment = try HostLoader.environment()
        let interpreter = try HostLoader.interpreter()
        var outcome = Outcome()
        let libraries = Self.files(in: "/usr/lib", recursive: true) { name in
            PathText.lastComponent(of: name).contains(".so")
        }
        // Every third library, deterministically: the whole set takes long and adds little.
        for (index, path) in Set(libraries).sorted().enumerated() where index % 3 == 0 {
            try Self.compare(path, environment: environment, interpreter: interpreter, requireInterpreter: false, outcome: &outcome)
        }
        print("ResolverSystemTests: \(outcome.compared) libraries under /usr/lib compared with LD_TRACE_LOADED_OBJECTS=1 ld.so, "
              + "\(outcome.mismatches.count) differ, \(outcome.wouldStart) would load, \(outcome.skipped.count) skipped")
        for line in outcome.skipped { print("  skipped \(line)") }
        #expect(outcome.compared > 50, "too few libraries found to compare")
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) differ:\n\(outcome.mismatches.prefix(20).joined(separator: "\n"))")
        #expect(outcome.verdictProblems.isEmpty, "\(outcome.verdictProblems.joined(separator: "\n"))")
    }
}
