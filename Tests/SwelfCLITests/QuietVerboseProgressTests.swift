import Foundation
import Testing

/// `-q` (errors only), `-v` (every warning), identical warnings about many files said
/// once, and the progress line that only a terminal gets (issue 19, "Conventions").
@Suite struct QuietVerboseProgressTests {
    let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
    let staticProgram = Repo.testBinaries.appendingPathComponent("x86_64/static").path

    /// `count` copies of `file` in a new directory `name` of `scratch`, named a, b, c, ...
    func copies(of file: String, _ count: Int, in scratch: ScratchDirectory, _ name: String) throws -> [String] {
        let directory = try scratch.dir(name)
        return try (0 ..< count).map { index in
            let path = directory.appendingPathComponent(String(UnicodeScalar(UInt8(ascii: "a") + UInt8(index)))).path
            try FileManager.default.copyItem(atPath: file, toPath: path)
            return path
        }
    }

    /// `-q`: nothing on stdout, only errors on stderr, the same exit status; for every
    /// command of swelf's own and for the patch mode.
    @Test func quietPrintsOnlyErrors() throws {
        let scratch = try ScratchDirectory("quiet")
        let calls: [[String]] = [
            ["show", "-q", hello], ["verify", "--quiet", hello], ["doctor", "-q", "/bin/ls"], ["ldd", "-q", hello],
            ["portability", "-q", hello], ["-q", "--print-needed", "--print-rpath", hello, hello],
            ["bundle", "-q", "-o", scratch.path("dist"), "/usr/bin/true"],
        ]
        for arguments in calls {
            let loud = try Swelf.run(arguments.filter { $0 != "-q" && $0 != "--quiet" }
                                     .map { $0 == scratch.path("dist") ? scratch.path("dist-loud") : $0 })
            let quiet = try Swelf.run(arguments)
            #expect(!loud.stdout.isEmpty, "\(loud.summary)")
            #expect(quiet.stdout.isEmpty && quiet.stderr.isEmpty && quiet.status == loud.status, "\(quiet.summary)")
        }
        // Errors stay.
        let missing = try Swelf.run(["verify", "-q", "/nonexistent/swelf-file", hello])
        #expect(missing.status == 1 && missing.stdout.isEmpty, "\(missing.summary)")
        #expect(missing.stderr == "swelf: /nonexistent/swelf-file: No such file or directory\n"
                || missing.stderr.hasPrefix("swelf: /nonexistent/swelf-file: "), "\(missing.summary)")
        // Warnings go.
        let files = try copies(of: staticProgram, 2, in: scratch, "static")
        let warned = try Swelf.run(["--build-resolution-cache"] + files)
        #expect(warned.stderr.contains("warning:"), "\(warned.summary)")
        let silent = try Swelf.run(["-q", "--build-resolution-cache"] + files)
        #expect(silent.status == 0 && silent.stderr.isEmpty, "\(silent.summary)")
    }

    /// `--help` and every command's page name both levels.
    @Test func helpNamesTheLevels() throws {
        for arguments in [["--help"]] + ["patch", "show", "verify", "doctor", "ldd", "bundle", "portability"].map({ ["help", $0] }) {
            let page = try Swelf.run(arguments).stdout
            #expect(page.contains("-q, --quiet") && page.contains("-v, --verbose"), "\(arguments)")
        }
    }

    /// patchelf has neither -q nor -v: as patchelf both are refused, as patchelf 0.19.3
    /// refuses them, and `--debug` keeps its meaning.
    @Test func patchelfPersonalityHasNoQuietOrVerbose() throws {
        let link = try PatchelfPersonalityTests.Link()
        let copy = try link.copy(hello, as: "hello")
        for flag in ["-q", "--quiet", "-v", "--verbose"] {
            let ours = try link.run([flag, "--print-needed", copy])
            let theirs = try Patchelf.run([flag, "--print-needed", copy])
            #expect(ours.status == 1 && theirs.status == 1, "\(flag): \(ours.summary) / \(theirs.summary)")
            #expect(ours.stderr.contains("unrecognized option '\(flag)'"), "\(ours.summary)")
        }
        let debug = try link.run(["--debug", "--set-rpath", "/opt/debug", copy])
        #expect(debug.status == 0 && !debug.stderr.isEmpty, "\(debug.summary)")
    }

    /// Five programs with the same run-time loading warning: one line naming three and a
    /// count in bundle's report, in portability's notes and in the patch mode's
    /// warnings; `-v` lists every one.
    @Test func repeatedWarningsAreSaidOnce() throws {
        let scratch = try ScratchDirectory("repeated")
        let programs = try copies(of: "/usr/bin/id", 5, in: scratch, "in")
        let bundle = try Swelf.run(["bundle", "-o", scratch.path("dist")] + programs)
        #expect(bundle.status == 0, "\(bundle.summary)")
        let nameService = bundle.stdout.split(separator: "\n").filter { $0.contains("uses the name service") }
        #expect(nameService.count == 1, "\(bundle.stdout)")
        // id's own libraries may use the name service too (libselinux on Debian): 5 or more files.
        let line = String(nameService.first ?? "")
        #expect(line.hasPrefix("  ") && line.contains(" files (bin/a, ") && line.contains(" more): uses the name service"),
                "\(bundle.stdout)")
        #expect(Int(line.dropFirst(2).prefix { $0 != " " }).map { $0 >= 5 } == true, "\(line)")
        #expect(nameService.first?.contains("getpwnam") == true)
        let verbose = try Swelf.run(["bundle", "-v", "-o", scratch.path("dist-v")] + programs)
        let every = verbose.stdout.split(separator: "\n").filter { $0.contains("uses the name service") }
        #expect(every.filter { $0.hasPrefix("  bin/") }.count == 5 && every.count >= 5, "\(verbose.stdout)")

        let statics = try copies(of: staticProgram, 5, in: scratch, "static")
        let portability = try Swelf.run(["portability"] + statics)
        let notes = portability.stdout.split(separator: "\n").filter { $0.contains("statically linked") }
        #expect(notes.count == 1 && notes[0].contains("5 files (\(statics[0]), \(statics[1]), \(statics[2]) and 2 more): "),
                "\(portability.stdout)")
        let allNotes = try Swelf.run(["portability", "--verbose"] + statics)
        #expect(allNotes.stdout.split(separator: "\n").filter { $0.contains("statically linked") }.count == 5)

        for jobs in ["1", "2"] {
            let patch = try Swelf.run(["-j", jobs, "--build-resolution-cache"] + statics)
            #expect(patch.status == 0, "\(patch.summary)")
            #expect(patch.stderr == "swelf: warning: 5 files (\(statics[0]), \(statics[1]), \(statics[2]) and 2 more): "
                    + "--build-resolution-cache: no dynamic section (statically linked?); no cache written\n", "\(patch.summary)")
            let all = try Swelf.run(["-v", "-j", jobs, "--build-resolution-cache"] + statics)
            #expect(all.stderr.split(separator: "\n").count == 5, "\(all.summary)")
        }
        // Three files: each said, as before.
        let few = try Swelf.run(["--build-resolution-cache"] + statics.prefix(3))
        #expect(few.stderr.split(separator: "\n").map { $0.hasPrefix("swelf: /") } == [true, true, true], "\(few.summary)")
    }

    /// On a terminal (a pseudo-terminal from script(1)) bundle, portability and the patch
    /// mode with many files draw a progress line on stderr, redrawn in place and erased at the end;
    /// a pipe, and -q, get none.
    @Test func progressLineOnlyOnATerminal() throws {
        guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
        let scratch = try ScratchDirectory("progress")
        let programs = try copies(of: "/usr/bin/id", 4, in: scratch, "in")
        let quoted = programs.joined(separator: " ")
        func onTerminal(_ command: String, environment: String = "TERM=xterm ") throws -> String {
            // stdout to /dev/null: what reaches the terminal is stderr alone. TERM is set: the
            // runner's may be dumb (a CI log), which gets no progress line.
            let result = try ChildProcess.run("/usr/bin/script", ["-qfec", "\(environment)\(swelf) \(command) >/dev/null", "/dev/null"])
            #expect(result.status == 0, "\(result.summary)")
            return result.stdout
        }
        let clear = "\r\u{1B}[K"
        let bundle = try onTerminal("bundle -o \(scratch.path("dist")) \(quoted)")
        // Drawings, each after an erase; the last is all files written, then erased.
        let drawings = bundle.components(separatedBy: clear)
        #expect(drawings.first == "" && drawings.last == "", "\(bundle.debugDescription)")
        #expect(drawings.allSatisfy { $0.isEmpty || $0.hasPrefix("swelf: bundle: ") }, "\(bundle.debugDescription)")
        #expect(drawings.contains("swelf: bundle: resolving: 0/4 programs"), "\(bundle.debugDescription)")
        #expect(drawings.contains("swelf: bundle: checking: 0/4 programs"), "\(bundle.debugDescription)")
        let last = drawings.last { $0.hasPrefix("swelf: bundle: writing: ") } ?? ""
        let counts = last.dropFirst("swelf: bundle: writing: ".count).split(separator: " ").first?.split(separator: "/") ?? []
        #expect(counts.count == 2 && counts[0] == counts[1] && Int(counts[0]).map { $0 >= 4 } == true, "\(bundle.debugDescription)")
        let patch = try onTerminal("--print-needed \(quoted)")
        #expect(patch.contains(clear + "swelf: working: 4/4 files") && patch.hasSuffix(clear), "\(patch.debugDescription)")
        #expect(try onTerminal("-q --print-needed \(quoted)").isEmpty)
        let portability = try onTerminal("portability \(scratch.path("in"))")
        #expect(portability.hasPrefix(clear + "swelf: portability: reading: 0/4 files") && portability.hasSuffix("4/4 files" + clear),
                "\(portability.debugDescription)")
        #expect(try onTerminal("bundle -q -o \(scratch.path("dist-q")) \(quoted)").isEmpty)
        #expect(try onTerminal("--print-needed \(quoted)", environment: "TERM=dumb ").isEmpty)

        let piped = try Swelf.run(["bundle", "-o", scratch.path("dist-pipe")] + programs)
        #expect(piped.status == 0 && !piped.stderr.contains("\r") && !piped.stdout.contains("\r"), "\(piped.summary)")
        let patchPiped = try Swelf.run(["--print-needed"] + programs)
        #expect(!patchPiped.stderr.contains("\r") && !patchPiped.stderr.contains("\u{1B}"), "\(patchPiped.summary)")
    }

    /// A missing input of portability is an error, exit 1, with `--floor` too (it warned
    /// and exited 0 before); an empty directory is a note.
    @Test func portabilityMissingInputFails() throws {
        for arguments in [["--floor", "glibc=2.28"], ["--floor=glibc=2.28", "--json"], []] {
            let result = try Swelf.run(["portability"] + arguments + ["/nonexistent/swelf-dir"])
            #expect(result.status == 1, "\(result.summary)")
            #expect(result.stderr.hasPrefix("swelf: /nonexistent/swelf-dir does not exist"), "\(result.summary)")
            // The text did say "floor glibc=2.28: met" above the failing status.
            #expect(!result.stdout.contains(": met\n"), "\(result.summary)")
        }
        let partly = try Swelf.run(["portability", "--floor", "glibc=99.0", staticProgram, "/nonexistent/swelf-dir"])
        #expect(partly.status == 1 && partly.stdout.contains("floor glibc=99.0: met by the files that could be read; an input could not be read\n"),
                "\(partly.summary)")
        // The JSON said the same: "met": true beside "ok": false.
        let partlyJSON = try Swelf.run(["portability", "--json", "--floor", "glibc=99.0", staticProgram, "/nonexistent/swelf-dir"])
        #expect(partlyJSON.status == 1 && partlyJSON.stdout.contains("\"met\": false"), "\(partlyJSON.summary)")
    }
}
