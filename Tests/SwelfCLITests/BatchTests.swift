import Foundation
import Testing

/// One swelf call on many files: worked on in parallel (`-j`), committed together, and
/// reported in argument order. The oracle for each edit is readelf's RUNPATH.
@Suite struct BatchTests {
    let library = Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1").path

    private func runPath(_ path: String) throws -> String? {
        let result = try ChildProcess.run("readelf", ["-dW", path])
        guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains("(RUNPATH)") }),
              let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
        return String(line[line.index(after: open) ..< close])
    }

    /// 40 libraries, two broken files, one missing file and one library named twice:
    /// every library is edited, every failure is reported, in argument order, and the
    /// output is the same with one thread and with four.
    @Test func manyFilesOneCall() throws {
        var stderrs: [String] = []
        for jobs in ["1", "4"] {
            let directory = try ScratchDirectory("batch")
            var files: [String] = []
            for index in 0 ..< 40 {
                let path = directory.path(String(format: "lib%02d.so", index))
                try FileManager.default.copyItem(atPath: library, toPath: path)
                files.append(path)
            }
            try Data("not ELF".utf8).write(to: URL(fileURLWithPath: directory.path("broken-a.so")))
            try Data([0x7f, 0x45, 0x4c, 0x46]).write(to: URL(fileURLWithPath: directory.path("broken-b.so")))
            var arguments = files
            arguments.insert(directory.path("broken-a.so"), at: 3)
            arguments.insert(directory.path("missing.so"), at: 20)
            arguments.insert(files[5], at: 25)   // named twice: must not wait for its own lock
            arguments.append(directory.path("broken-b.so"))
            let result = try Swelf.run(["-j", jobs, "--set-rpath", "$ORIGIN/batch", "--print-soname"] + arguments)
            #expect(result.status == 1, "\(result)")
            // --print-soname prints before the edit, once per library argument (41).
            #expect(result.stdout == String(repeating: "libgreet.so.1\n", count: 41))
            let reported = result.stderr.split(separator: "\n").map { line in
                ["broken-a.so", "missing.so", "broken-b.so"].first { line.contains("/\($0):") } ?? String(line)
            }
            #expect(reported == ["broken-a.so", "missing.so", "broken-b.so"], "\(result.stderr)")
            for path in files {
                #expect(try runPath(path) == "$ORIGIN/batch", "\(path)")
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.url.path).filter { $0.hasPrefix(".swelf-") }
            #expect(leftovers.isEmpty)
            stderrs.append(result.stderr.replacingOccurrences(of: directory.url.path, with: "DIR"))
        }
        #expect(stderrs[0] == stderrs[1])
    }

    /// `--no-durability` edits exactly as the default does (only the fsyncs are left out,
    /// which no test short of pulling the power can see); patchelf has no such option.
    @Test func noDurabilityEditsTheSame() throws {
        let directory = try ScratchDirectory("batch")
        let files = try (0 ..< 3).map { index -> String in
            let path = directory.path("lib\(index).so")
            try FileManager.default.copyItem(atPath: library, toPath: path)
            return path
        }
        let many = try Swelf.run(["--no-durability", "--set-rpath", "/fast", files[0], files[1]])
        #expect(many.status == 0, "\(many)")
        let one = try Swelf.run(["--no-durability", "--set-rpath", "/fast", files[2]])
        #expect(one.status == 0, "\(one)")
        for path in files { #expect(try runPath(path) == "/fast") }
        let link = directory.path("patchelf")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: try #require(Swelf.path))
        let refused = try ChildProcess.run(link, ["--no-durability", "--set-rpath", "/x", files[0]])
        #expect(refused.status != 0)
        #expect(try runPath(files[0]) == "/fast")
    }

    @Test func jobsMustBeAPositiveNumber() throws {
        for value in ["0", "-3", "many", "2000"] {
            let result = try Swelf.run(["-j", value, "--print-rpath", library])
            #expect(result.status == 64, "-j \(value): \(result)")
        }
        #expect(try Swelf.run(["--jobs", "3", "--print-rpath", library, library]).status == 0)
    }
}
