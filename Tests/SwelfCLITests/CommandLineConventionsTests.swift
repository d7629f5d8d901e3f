import Foundation
import Testing

/// The command line's conventions (issue 19): a help page per command, a misspelt command
/// named, `--option=value` for swelf's own options, `--root` checked, errors on stderr
/// and a lost stdout reported.
@Suite struct CommandLineConventionsTests {
    let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
    static let commands = ["show", "verify", "doctor", "ldd", "bundle", "portability"]

    /// `swelf help COMMAND` and `swelf COMMAND --help` print the same page, that
    /// command's own (synopsis, examples, exit status), different for every command;
    /// `swelf help` and `swelf --help` print the full list.
    @Test func eachCommandHasItsOwnPage() throws {
        var pages: [String: String] = [:]
        for command in Self.commands + ["patch"] {
            let viaHelp = try Swelf.run(["help", command])
            #expect(viaHelp.status == 0 && viaHelp.stderr.isEmpty, "\(viaHelp.summary)")
            let page = viaHelp.stdout
            #expect(page.hasPrefix(command == "patch" ? "Usage: swelf [OPTION]... FILE..." : "Usage: swelf \(command) "), "\(page)")
            #expect(page.contains("\nExamples:\n") && page.contains("\nExit status: 0 "), "\(command): \(page)")
            if command != "patch" {
                for flag in ["--help", "-h"] {
                    let viaOption = try Swelf.run([command, flag])
                    #expect(viaOption.status == 0 && viaOption.stdout == page, "\(command) \(flag): \(viaOption.summary)")
                }
            }
            pages[command] = page
        }
        #expect(Set(pages.values).count == pages.count, "two commands share a page")
        #expect(pages["patch"]!.contains("--set-rpath PATH") && !pages["patch"]!.contains("bundle PATTERN"))
        #expect(pages["bundle"]!.contains("--include-libstdcxx") && !pages["bundle"]!.contains("--set-rpath"))
        let full = try Swelf.run(["--help"])
        #expect(try Swelf.run(["help"]).stdout == full.stdout)
        for command in Self.commands { #expect(full.stdout.contains("swelf \(command) "), "\(command)") }
        #expect(full.stdout.count > pages.values.map(\.count).max()!)
    }

    /// A first word two edits or fewer from a command, naming no file, is a usage error
    /// that names the command; a file of that name keeps its meaning (it is printed).
    @Test func misspeltCommandIsNamed() throws {
        for (word, command) in [("doctr", "doctor"), ("shwo", "show"), ("bundel", "bundle"), ("hlep", "help")] {
            let result = try Swelf.run([word, hello])
            #expect(result.status == 64 && result.stdout.isEmpty, "\(result.summary)")
            #expect(result.stderr.hasPrefix("swelf: unknown command '\(word)'; did you mean '\(command)'?\n"), "\(result.summary)")
        }
        let help = try Swelf.run(["help", "doctr"])
        #expect(help.status == 64 && help.stderr.contains("did you mean 'doctor'?"), "\(help.summary)")
        // An existing file called doctr: read as a file, as before.
        let scratch = try ScratchDirectory("misspelt")
        try FileManager.default.copyItem(atPath: hello, toPath: scratch.path("doctr"))
        guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
        let file = try ChildProcess.run(swelf, ["doctr", "--print-interpreter"], cwd: scratch.url)
        #expect(file.status == 0 && file.stdout.hasPrefix("/lib64/ld-linux-x86-64.so.2"), "\(file.summary)")
    }

    /// `--option=value` is the same as `--option value` for swelf's own options; a
    /// patchelf option written so is refused under both names, file unchanged, as
    /// patchelf 0.19.3 fails on it (it takes it for a file name).
    @Test func inlineValuesForSwelfOptionsOnly() throws {
        let spaced = try Swelf.run(["ldd", "--root", "/", "--env", "LD_LIBRARY_PATH=/nonexistent", hello])
        let joined = try Swelf.run(["ldd", "--root=/", "--env=LD_LIBRARY_PATH=/nonexistent", hello])
        #expect(spaced.status == 0 && joined.status == 0 && joined.stdout == spaced.stdout, "\(joined.summary)")
        let floor = try Swelf.run(["portability", "--floor=glibc=2.2.5", hello])
        #expect(floor.status == 1 && floor.stdout.contains("beyond it"), "\(floor.summary)")
        let scratch = try ScratchDirectory("inline-values")
        // (hello needs the test libraries, which no search path here finds.)
        let bundle = try Swelf.run(["bundle", "--output=\(scratch.path("dist"))", "/usr/bin/true"])
        #expect(bundle.status == 0, "\(bundle.summary)")
        #expect(FileManager.default.fileExists(atPath: scratch.path("dist/bin/true")))
        let jobs = try Swelf.run(["--jobs=2", "--print-interpreter", hello, hello])
        #expect(jobs.status == 0 && jobs.stdout.components(separatedBy: "ld-linux").count == 3, "\(jobs.summary)")

        let copy = scratch.path("hello")
        try FileManager.default.copyItem(atPath: hello, toPath: copy)
        let before = try Data(contentsOf: URL(fileURLWithPath: copy))
        let asSwelf = try Swelf.run(["--set-rpath=/x", copy])
        #expect(asSwelf.status == 64 && asSwelf.stderr.contains("(--set-rpath /x)"), "\(asSwelf.summary)")
        let link = try PatchelfPersonalityTests.Link()
        #expect(try link.run(["--set-rpath=/x", copy]).status == 1)
        #expect(try Patchelf.run(["--set-rpath=/x", copy]).status == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before)
    }

    /// `--root` that is missing or not a directory: one line on stderr, usage status,
    /// for every command that takes it.
    @Test func rootMustBeADirectory() throws {
        let scratch = try ScratchDirectory("root-check")
        for root in ["/nonexistent/swelf-root", hello] {
            for command in ["doctor", "ldd", "portability", "bundle"] {
                let extra = command == "bundle" ? ["-o", scratch.path("dist")] : []
                let result = try Swelf.run([command] + extra + ["--root", root, hello])
                #expect(result.status == 64 && result.stdout.isEmpty, "\(result.summary)")
                #expect(result.stderr.hasPrefix("swelf: \(command): --root \(root): "), "\(result.summary)")
                #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(result.summary)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.path("dist")))
    }

    /// A file that cannot be read is an error on stderr with `--json` too (the JSON keeps it
    /// as data); stdout then holds only the JSON.
    @Test func fileErrorsGoToStandardError() throws {
        let verify = try Swelf.run(["verify", "--json", "/nonexistent/swelf-file", hello])
        #expect(verify.status == 1)
        #expect(verify.stderr.hasPrefix("swelf: /nonexistent/swelf-file: "), "\(verify.summary)")
        #expect(verify.stdout.contains("\"ok\": false"))
        let portability = try Swelf.run(["portability", "--json", "/nonexistent/swelf-file"])
        #expect(portability.status == 1)
        #expect(portability.stderr.contains("/nonexistent/swelf-file does not exist"), "\(portability.summary)")
    }

    /// Output that cannot be written (`> /dev/full`) fails the run, said on stderr;
    /// before, doctor's verdict (0) stood though nothing was printed.
    @Test func writeErrorOnStandardOutputFails() throws {
        guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
        for arguments in ["doctor --json", "show", "--print-needed", "--version"] {
            let result = try ChildProcess.run("/bin/sh", ["-c", "exec \"$0\" \(arguments) \"$1\" > /dev/full", swelf, hello])
            #expect(result.status == 1, "\(arguments): \(result.summary)")
            #expect(result.stderr.hasSuffix("swelf: write error on standard output: No space left on device\n"), "\(result.summary)")
        }
    }
}
