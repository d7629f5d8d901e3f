import Foundation
import Testing

/// The command-line paths (printing, `show`, JSON rendering) on damaged files: swelf
/// must exit 0 or 1 with a one-line message, never die on a signal, and `show --json`
/// must stay valid JSON.
@Suite struct MutatedInputTests {
    static let perSubject = 40

    @Test func damagedFilesGiveCleanErrors() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-cli-mutations-\(ProcessInfo.processInfo.processIdentifier)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        // One program and one library per architecture, plus the crash fixtures.
        var paths: [String] = []
        let subjects = Subject.all.filter { $0.path.hasSuffix("/hello") || $0.path.hasSuffix("/libver.so.1") }
        #expect(subjects.count >= 16)
        for subject in subjects {
            let original = try subject.contents()
            // Seeded from the path (FNV-1a; String.hashValue differs per process) and iteration.
            let pathHash = subject.path.utf8.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
            for iteration in 0 ..< MutatedInputTests.perSubject {
                var rng = SplitMix64(seed: pathHash ^ (UInt64(iteration) &* 0x9e37_79b9_7f4a_7c15))
                var bytes = original
                // Damage the first 4 KiB, where headers, PT_DYNAMIC and .dynstr usually are.
                let limit = min(bytes.count, 4096)
                for _ in 0 ..< Int.random(in: 1 ... 6, using: &rng) {
                    bytes[Int.random(in: 0 ..< limit, using: &rng)] = UInt8.random(in: 0 ... 255, using: &rng)
                }
                if iteration % 4 == 0 { bytes.removeSubrange(Int.random(in: 0 ..< limit, using: &rng)...) }
                let url = directory.appendingPathComponent("\(subject.path.replacingOccurrences(of: "/", with: "_"))-\(iteration)")
                try Data(bytes).write(to: url)
                paths.append(url.path)
            }
        }
        if let fixtures = try? FileManager.default.contentsOfDirectory(atPath: Repo.fixtures.path) {
            paths += fixtures.map { Repo.fixtures.appendingPathComponent($0).path }
        }

        for options in [["--print-interpreter"], ["--print-soname", "--print-rpath", "--print-needed"],
                        ["--print-os-abi", "--print-execstack"], ["show"]] {
            let result = try Swelf.run(options + paths)
            #expect(result.status == 0 || result.status == 1, "\(options): exit \(result.status)")
            for line in result.stderr.split(separator: "\n") {
                #expect(line.hasPrefix("swelf: "), "\(options): \(line)")
            }
        }
        let json = try Swelf.run(["show", "--json"] + paths)
        #expect(json.status == 0 || json.status == 1, "show --json: exit \(json.status)")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdoutBytes))
        // Every file has its entry, a file that failed included (ok: false, on stderr too).
        let documents = try #require((parsed as? [String: Any])?["files"] as? [[String: Any]])
        let failures = json.stderr.split(separator: "\n").count
        #expect(documents.count == paths.count)
        #expect(documents.filter { $0["ok"] as? Bool == false }.count == failures)
        // portability reads .gnu.version_r, .gnu.version and .dynsym of each, and resolves their libraries.
        let portability = try Swelf.run(["portability", "--json", "--env", "LD_LIBRARY_PATH="] + paths)
        #expect(portability.status == 0 || portability.status == 1, "portability --json: exit \(portability.status) \(portability.stderr)")
        #expect(try JSONSerialization.jsonObject(with: Data(portability.stdoutBytes)) is [String: Any])
        print("CLI mutation test: \(paths.count) damaged files, \(documents.count) shown, \(failures) refused")
    }
}
