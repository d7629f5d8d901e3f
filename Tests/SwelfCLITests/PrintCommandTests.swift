import Foundation
import Testing

/// Every print option on every TestBinaries file: compared with readelf always, and
/// byte for byte with patchelf 0.19.3 wherever patchelf succeeds.
@Suite struct PrintCommandTests {
    static let options = ["--print-interpreter", "--print-os-abi", "--print-soname", "--print-rpath", "--print-needed",
                          "--print-execstack"]

    @Test func toolsArePresent() throws {
        #expect(Swelf.path != nil, "\(Swelf.NotBuilt())")
        #expect(ChildProcess.path("readelf") != nil, "readelf not found: run scripts/install-test-deps")
        #expect(FileManager.default.isExecutableFile(atPath: Patchelf.path),
                "\(Patchelf.path) not found: run scripts/install-test-deps")
        let version = try Patchelf.run(["--version"])
        #expect(version.stdout == "patchelf 0.19.3\n", "run scripts/install-test-deps")
        #expect(Subject.all.count >= 80, "TestBinaries/manifest.tsv missing or short")
    }

    /// What swelf must print for one option, derived from readelf; nil when it must fail.
    static func expected(_ option: String, _ facts: ReadelfFacts) -> String? {
        let hasDynamic = !facts.dynamicTags.isEmpty
        switch option {
        case "--print-interpreter":
            return facts.interpreter.map { $0 + "\n" }
        case "--print-os-abi":
            switch facts.osABI {
            case "UNIX - System V": return "System V\n"
            case "UNIX - GNU": return "Linux\n"
            default: return "unexpected OS/ABI \(facts.osABI)"
            }
        case "--print-soname":
            // patchelf prints DT_SONAME only for ET_DYN, and nothing (successfully) otherwise.
            guard facts.type.hasPrefix("DYN"), let soname = facts.soname else { return "" }
            return soname + "\n"
        case "--print-rpath":
            guard hasDynamic else { return nil }
            return (facts.runpath ?? facts.rpath ?? "") + "\n"
        case "--print-needed":
            guard hasDynamic else { return nil }
            return facts.needed.map { $0 + "\n" }.joined()
        case "--print-execstack":
            guard let index = facts.segmentTypes.firstIndex(of: "GNU_STACK") else { return "execstack: ?\n" }
            return "execstack: \(facts.segmentFlags[index].contains("E") ? "X" : "-")\n"
        default:
            return nil
        }
    }

    @Test(arguments: Subject.all)
    func printOptions(subject: Subject) throws {
        let path = subject.url.path
        let facts = try ReadelfFacts(path: path)
        for option in PrintCommandTests.options {
            let ours = try Swelf.run([option, path])
            // Against readelf.
            if let want = PrintCommandTests.expected(option, facts) {
                #expect(ours.status == 0, "\(option): exit \(ours.status), stderr \(ours.stderr)")
                #expect(ours.stdout == want, "\(option)")
                #expect(ours.stderr.isEmpty, "\(option)")
            } else {
                #expect(ours.status == 1, "\(option) should fail: \(ours.stdout)")
                #expect(ours.stdout.isEmpty, "\(option)")
                #expect(ours.stderr.hasPrefix("swelf: \(path): "), "\(option): \(ours.stderr)")
            }
            // Against patchelf, where patchelf can read the file.
            let theirs = try Patchelf.run([option, path])
            if subject.hasSectionHeaders {
                #expect(ours.status == theirs.status, "\(option): swelf \(ours.status), patchelf \(theirs.status) \(theirs.stderr)")
                let same = ours.stdoutBytes == theirs.stdoutBytes
                #expect(same, "\(option): swelf printed \(ours.stdout.debugDescription), patchelf \(theirs.stdout.debugDescription)")
            } else {
                // patchelf refuses files without section headers; swelf reads them through
                // the program headers (checked against readelf above).
                #expect(theirs.status != 0, "patchelf now reads \(subject)? compare with it")
            }
        }

        // All options at once: patchelf's fixed print order.
        let all = try Swelf.run(PrintCommandTests.options + [path])
        let allTheirs = try Patchelf.run(PrintCommandTests.options + [path])
        if subject.hasSectionHeaders {
            #expect(all.status == allTheirs.status)
            let same = all.stdoutBytes == allTheirs.stdoutBytes
            #expect(same, "swelf:\n\(all.stdout)\npatchelf:\n\(allTheirs.stdout)")
        }
    }

    /// Several files in one run: each printed in turn. patchelf stops at the first file
    /// it cannot handle; swelf goes on with the rest and reports the failure in its
    /// exit status.
    @Test func manyFilesInOneRun() throws {
        let paths = Subject.all.filter { $0.hasSectionHeaders && $0.kind != "static" }.map(\.url.path)
        let ours = try Swelf.run(["--print-needed", "--print-soname"] + paths)
        let theirs = try Patchelf.run(["--print-needed", "--print-soname"] + paths)
        #expect(ours.status == 0)
        #expect(theirs.status == 0)
        let same = ours.stdoutBytes == theirs.stdoutBytes
        #expect(same, "swelf and patchelf differ on \(paths.count) files")

        let static_ = Repo.testBinaries.appendingPathComponent("x86_64/static").path
        let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        let mixed = try Swelf.run(["--print-interpreter", static_, hello])
        #expect(mixed.status == 1)
        #expect(mixed.stdout == "/lib64/ld-linux-x86-64.so.2\n")
        #expect(mixed.stderr.contains(static_))
    }
}
