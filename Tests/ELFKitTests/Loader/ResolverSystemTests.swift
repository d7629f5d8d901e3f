import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

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

    /// Compares `programs` (those with this loader's PT_INTERP) and then `libraries`,
    /// each path once; prints what it found and expects more than `minimum` compared,
    /// no listing that differs and, with `verdicts`, doctor's verdict where ld.so found
    /// everything.
    static func compareAll(programs: [String] = [], libraries: [String] = [], _ what: String, minimum: Int,
                           verdicts: Bool = true, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let environment = try HostLoader.environment()
        let interpreter = try HostLoader.interpreter()
        var outcome = Outcome()
        var seen: Set<String> = []
        for (paths, requireInterpreter) in [(programs, true), (libraries, false)] {
            for path in paths where seen.insert(path).inserted {
                try compare(path, environment: environment, interpreter: interpreter, requireInterpreter: requireInterpreter,
                            outcome: &outcome)
            }
        }
        print("ResolverSystemTests: \(outcome.compared) \(what) compared with LD_TRACE_LOADED_OBJECTS=1 ld.so, "
              + "\(outcome.mismatches.count) differ, \(outcome.wouldStart) would start, \(outcome.skipped.count) skipped")
        for line in outcome.skipped { print("  skipped \(line)") }
        #expect(outcome.compared > minimum, "too few \(what) found to compare", sourceLocation: sourceLocation)
        #expect(outcome.mismatches.isEmpty, "\(outcome.mismatches.count) differ:\n\(outcome.mismatches.prefix(20).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
        if verdicts {
            #expect(outcome.verdictProblems.isEmpty, "\(outcome.verdictProblems.joined(separator: "\n"))", sourceLocation: sourceLocation)
        }
    }

    @Test func everyProgramInUsrBinAndUsrSbin() throws {
        let programs = ["/usr/bin", "/usr/sbin"].flatMap { Self.files(in: $0, recursive: false, matching: { _ in true }) }
        try Self.compareAll(programs: programs, "programs in /usr/bin and /usr/sbin", minimum: 50)
    }

    /// Programs kept under /usr/lib and /usr/libexec (git-core, openssh, systemd, …).
    @Test func everyProgramUnderUsrLibAndUsrLibexec() throws {
        let programs = ["/usr/lib", "/usr/libexec"].flatMap { directory in
            Self.files(in: directory, recursive: true) { !PathText.lastComponent(of: $0).contains(".so") }
                .filter { access($0, X_OK) == 0 }
        }
        try Self.compareAll(programs: programs, "programs under /usr/lib and /usr/libexec", minimum: 10)
    }

    /// The Swift toolchain running these tests: its programs and libraries find each
    /// other through `$ORIGIN` run paths, a good test of DST substitution.
    @Test func theSwiftToolchain() throws {
        let swift = try #require(ChildProcess.path("swift"), "swift not on PATH")
        let toolchain = PathText.directory(of: PathText.directory(of: URL(fileURLWithPath: swift).resolvingSymlinksInPath().path))
        let programs = Self.files(in: toolchain + "/bin", recursive: false, matching: { _ in true }).filter { access($0, X_OK) == 0 }
        let libraries = Self.files(in: toolchain + "/lib", recursive: true) { PathText.lastComponent(of: $0).contains(".so") }
        // Only the listings are compared here, as this test always has; the tests above judge verdicts.
        try Self.compareAll(programs: programs, libraries: Set(libraries).sorted(),
                            "programs and libraries of the Swift toolchain in \(toolchain)", minimum: 10, verdicts: false)
    }

    @Test func sampleOfLibrariesInUsrLib() throws {
        let libraries = Self.files(in: "/usr/lib", recursive: true) { name in
            PathText.lastComponent(of: name).contains(".so")
        }
        // Every third library, deterministically: the whole set takes long and adds little.
        let sample = Set(libraries).sorted().enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        try Self.compareAll(libraries: sample, "libraries under /usr/lib", minimum: 50)
    }
}
