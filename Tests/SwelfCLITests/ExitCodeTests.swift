import Foundation
import Testing

/// 0 success, 1 a file could not be read, 64 a usage error; help on stdout.
@Suite struct ExitCodeTests {
    let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
    let staticFile = Repo.testBinaries.appendingPathComponent("x86_64/static").path
    let notELF = Repo.testBinaries.appendingPathComponent("manifest.tsv").path

    @Test func help() throws {
        for arguments in [["--help"], ["-h"], ["--print-needed", "--help"], ["show", "--help"]] {
            let result = try Swelf.run(arguments)
            #expect(result.status == 0, "\(arguments)")
            #expect(result.stdout.hasPrefix("Usage: swelf"), "\(arguments)")
            #expect(result.stderr.isEmpty, "\(arguments)")
        }
        let version = try Swelf.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("swelf "))
    }

    @Test(arguments: [
        ["--no-such-option", "x"], ["--print-needed"], [], ["show"], ["show", "--bogus", "x"], ["--set-rpath"],
        ["-x", "file"], ["--print-needed", "--output", "out", "a", "b"],
    ])
    func usageErrors(arguments: [String]) throws {
        let result = try Swelf.run(arguments)
        #expect(result.status == 64)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("swelf: "))
    }

    /// An empty interpreter would leave a program the kernel cannot start: refused before
    /// the file is opened, under either name (patchelf writes it).
    @Test func emptyInterpreterIsRefused() throws {
        let scratch = try ScratchDirectory("empty-interp")
        defer { withExtendedLifetime(scratch) {} }
        let copy = scratch.path("hello")
        try FileManager.default.copyItem(atPath: hello, toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        for option in ["--set-interpreter", "--interpreter"] {
            let result = try Swelf.run([option, "", copy])
            #expect(result.status == 64, "\(option): \(result.stderr)")
            #expect(result.stderr.hasPrefix("swelf: \(option) needs a path"), "\(result.stderr)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
    }

    @Test func unknownOptionIsNamed() throws {
        let result = try Swelf.run(["--print-neded", hello])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--print-neded"))
    }

    @Test func badFiles() throws {
        let directory = FileManager.default.temporaryDirectory.path
        let cases: [[String]] = [
            ["--print-needed", notELF],
            ["--print-needed", "/nonexistent/swelf-test-file"],
            ["--print-needed", directory],
            ["--print-interpreter", staticFile],
            ["--print-rpath", staticFile],
            ["--print-needed", staticFile],
            ["show", notELF],
            ["show", "--json", "/nonexistent/swelf-test-file"],
        ]
        for arguments in cases {
            let result = try Swelf.run(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("swelf: \(arguments.last!): "), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("\n\n"))
        }
        // patchelf agrees on the status of a static file asked for its interpreter.
        let theirs = try Patchelf.run(["--print-interpreter", staticFile])
        #expect(theirs.status == 1)
    }

    /// A FIFO given as the file to read or edit is refused at once, not waited on (the
    /// open would block until a writer came).
    @Test func fifoInputIsRefusedWithoutWaiting() throws {
        let fifo = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-fifo-\(getpid())").path
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for arguments in [["--print-rpath", fifo], ["--set-rpath", "/x", fifo]] {
            let started = Date()
            let result = try Swelf.run(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("not a regular file"), "\(arguments): \(result.stderr)")
            #expect(Date().timeIntervalSince(started) < 5, "\(arguments) waited for a writer")
        }
    }

    @Test func terminatorAllowsDashFiles() throws {
        let result = try Swelf.run(["--print-soname", "--", hello])
        #expect(result.status == 0)
    }
}
