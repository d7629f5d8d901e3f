import Foundation
import Testing

/// doctor's advice (issue 19): each finding leads to the fix that fits the file, checked
/// on real programs built here with gcc, Go and the aarch64 cross tools.
@Suite struct DoctorAdviceTests {
    /// A scratch directory, removed by the caller.
    static func scratch(_ purpose: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-advice-\(purpose)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A cgo program with C code of its own (a function in the preamble) that also
    /// resolves host names with the net package. Its own C code makes Go link externally,
    /// through gcc and GNU ld, which shares the bytes of `getaddrinfo` in `.dynstr` with
    /// the tail of `_cgo_<hash>_C2func_getaddrinfo`.
    /// `cCode` defines `twice`; `flags` are extra `go build` arguments (`-ldflags=-s` strips
    /// the symbol table).
    static func goProgramWithOwnC(in directory: URL, cCode: String = "static int twice(int x) { return 2 * x; }",
                                  flags: [String] = []) throws -> String {
        try """
        package main

        /*
        \(cCode)
        */
        import "C"

        import (
        \t"fmt"
        \t"net"
        )

        func main() {
        \taddrs, err := net.LookupHost("localhost")
        \tfmt.Println(addrs, err, C.twice(21))
        }

        """.write(to: directory.appendingPathComponent("main.go"), atomically: true, encoding: .utf8)
        try "module example.com/owncgo\n\ngo 1.19\n".write(to: directory.appendingPathComponent("go.mod"), atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("owncgo").path
        let go = try #require(ChildProcess.path("go"), "go not found: run scripts/install-test-deps")
        let build = try ChildProcess.run("/usr/bin/env", ["CGO_ENABLED=1", "GOFLAGS=-mod=mod", go, "build"] + flags + ["-o", program, "."], cwd: directory)
        #expect(build.status == 0, "go build: \(build.stderr)")
        return program
    }

    /// Name-service use is read from `.dynsym`'s undefined symbols: a Go cgo program whose
    /// `getaddrinfo` is only the tail of another `.dynstr` string is seen.
    @Test func nameServiceOfAGoProgramWithSharedStringTails() throws {
        let directory = try Self.scratch("nss")
        defer { try? FileManager.default.removeItem(at: directory) }
        let program = try Self.goProgramWithOwnC(in: directory)
        // The shape the old reading missed: no `getaddrinfo` word of its own in .dynstr,
        // but an undefined dynamic symbol of that name (readelf is the oracle).
        let strings = try ChildProcess.run("readelf", ["-p", ".dynstr", program]).stdout
        let words = strings.split(separator: "\n").compactMap { $0.split(separator: "]", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) }
        #expect(!words.contains("getaddrinfo"), "the linker kept getaddrinfo as a string of its own: \(strings)")
        let symbols = try ChildProcess.run("readelf", ["--dyn-syms", "-W", program]).stdout
        #expect(symbols.contains("UND getaddrinfo@"), "\(symbols)")

        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", program])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("resolves host names through the C library (getaddrinfo)"), "\(result.stdout)")
    }

    /// The findings of one area in a `doctor --json` document.
    static func findings(_ document: [String: Any], _ area: String) -> [[String: Any]] {
        let checks = document["checks"] as? [[String: Any]] ?? []
        return checks.first { $0["area"] as? String == area }?["findings"] as? [[String: Any]] ?? []
    }

    /// The one file's entry of `doctor --json` (the envelope's `files`).
    static func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try Swelf.run(["doctor", "--json"] + arguments)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any], "\(result.stderr)")
        let files = try #require(envelope["files"] as? [[String: Any]])
        return try #require(files.first)
    }

    /// Runs a `swelf …` command exactly as doctor printed it, through sh (the quoting is
    /// part of what is checked), with the built swelf in place of the word `swelf`.
    static func runAdvised(_ command: String) throws -> ProcessResult {
        let swelf = try #require(Swelf.path)
        #expect(command.hasPrefix("swelf "), "\(command)")
        return try ChildProcess.run("/bin/sh", ["-c", shellQuote(swelf) + command.dropFirst("swelf".count)])
    }

    /// `dist/bin/app` needs libgreet.so.1 and libunused.so, which are in `dist/lib`: the fix
    /// is the exact `$ORIGIN/../lib` run path, `--set-rpath` for a program without one and
    /// `--add-rpath` (keeping the entry) for one with DT_RPATH. The printed command is
    /// run, and the real loader then starts the program.
    /// `dist/app` with `dist/lib` gets `$ORIGIN/lib` the same way.
    @Test(arguments: [("hello", "--set-rpath", "dist/bin", "$ORIGIN/../lib"), ("hello-rpath", "--add-rpath", "dist/bin", "$ORIGIN/../lib"),
                      ("hello", "--set-rpath", "dist", "$ORIGIN/lib")])
    func missingLibraryInSiblingLibGivesTheOriginCommand(subject: String, option: String, programDirectory: String, entry: String) throws {
        let directory = try Self.scratch("sibling")
        defer { try? FileManager.default.removeItem(at: directory) }
        let x86 = Repo.testBinaries.appendingPathComponent("x86_64")
        let bin = directory.appendingPathComponent(programDirectory)
        let lib = directory.appendingPathComponent("dist/lib")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        let app = bin.appendingPathComponent("app").path
        try FileManager.default.copyItem(atPath: x86.appendingPathComponent(subject).path, toPath: app)
        for name in ["libgreet.so.1", "libunused.so"] {
            try FileManager.default.copyItem(at: x86.appendingPathComponent(name), to: lib.appendingPathComponent(name))
        }
        let expected = "swelf \(option) '\(entry)' \(app)"
        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", app])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("run: " + expected), "\(result.stdout)")

        let document = try Self.json(["--env", "LD_LIBRARY_PATH=", app])
        let fatal = Self.findings(document, "libraries").filter { $0["severity"] as? String == "fatal" }
        #expect(fatal.count == 2, "\(fatal)")
        for finding in fatal {
            let fix = try #require(finding["fix"] as? [String: Any], "\(finding)")
            #expect(fix["command"] as? String == expected, "\(fix)")
            #expect((fix["text"] as? String)?.isEmpty == false, "\(fix)")
        }

        let patch = try Self.runAdvised(expected)
        #expect(patch.status == 0, "\(patch.stderr)")
        let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", app])
        #expect(run.status == 0 && run.stdout.contains("hello from libgreet"), "\(run.stdout)\(run.stderr)")
        if option == "--add-rpath" {
            let dynamic = try ChildProcess.run("readelf", ["-d", app]).stdout
            #expect(dynamic.contains("[/build/machine/lib:\(entry)]"), "the old entry must be kept: \(dynamic)")
        }
        #expect(try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", app]).status == 0)
    }

    /// An aarch64 program on this x86_64 machine: the fix points to the aarch64 sysroot
    /// that exists here (doctor --root, qemu -L), never to a run path for libc; the versions
    /// of a libc that was not found are not called satisfied; ldd says what the file is.
    @Test func foreignProgramPointsToTheSysrootHere() throws {
        let root = "/usr/aarch64-linux-gnu"
        let program = "TestBinaries/aarch64/hello"
        #expect(FileManager.default.currentDirectoryPath == Repo.root.path, "the CLI tests run from the package root")
        let environment = ["--env", "LD_LIBRARY_PATH=TestBinaries/aarch64"]
        let result = try Swelf.run(["doctor"] + environment + [program])
        #expect(result.status == 1, "\(result.stdout)")
        // No run path for the C library (libgreet's LD_LIBRARY_PATH warning may suggest one).
        #expect(!result.stdout.contains("--add-rpath DIR"), "\(result.stdout)")
        #expect(result.stdout.contains("swelf doctor --root \(root) \(program)"), "\(result.stdout)")
        #expect(result.stdout.contains("qemu-aarch64-static -L \(root) \(program)"), "\(result.stdout)")
        #expect(!result.stdout.contains("version requirements satisfied"), "\(result.stdout)")
        #expect(result.stdout.contains("version requirements of libc.so.6 could not be checked: libc.so.6 was not found"), "\(result.stdout)")

        let document = try Self.json(environment + [program])
        let architecture = Self.findings(document, "architecture").first { $0["severity"] as? String == "fatal" }
        let command = try #require((architecture?["fix"] as? [String: Any])?["command"] as? String)
        #expect(command == "swelf doctor --root \(root) \(program)")
        let libc = Self.findings(document, "libraries").first { ($0["message"] as? String)?.contains("libc.so.6") == true }
        let libcFix = libc?["fix"] as? [String: Any]
        #expect(libcFix?["command"] as? String == command, "\(String(describing: libc))")
        #expect((libcFix?["text"] as? String)?.contains("rpath") == false, "\(String(describing: libc))")

        // The advice holds: doctor in the sysroot says it would start, and qemu runs it there.
        #expect(try Self.runAdvised(command + " --env LD_LIBRARY_PATH=TestBinaries/aarch64").status == 0)
        let qemu = try ChildProcess.run("qemu-aarch64-static", ["-L", root, "-E", "LD_LIBRARY_PATH=TestBinaries/aarch64", program])
        #expect(qemu.stdout.contains("hello from libgreet"), "\(qemu.stdout)\(qemu.stderr)")

        let ldd = try Swelf.run(["ldd"] + environment + [program])
        #expect(ldd.status == 1)
        #expect(ldd.stdout.isEmpty, "\(ldd.stdout)")
        let lines = ldd.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(ldd.stderr)")
        #expect(ldd.stderr.contains("the file is for aarch64, this machine runs x86_64"), "\(ldd.stderr)")
        #expect(ldd.stderr.contains("swelf ldd --root \(root) \(program)"), "\(ldd.stderr)")
    }

    /// A root whose glibc is older than the program needs: an x86_64 tree with the host's
    /// loader and a stand-in libc.so.6 that defines only GLIBC_2.2.5.
    static func oldGlibcRoot() throws -> URL {
        let root = try Self.scratch("oldroot")
        let lib = root.appendingPathComponent("lib/x86_64-linux-gnu")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lib64"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/lib64/ld-linux-x86-64.so.2", toPath: root.appendingPathComponent("lib64/ld-linux-x86-64.so.2").path)
        try StandInLibc.build(in: lib)
        return root
    }

    /// Under --root the advice speaks of the root's glibc; a GLIBC failure names the
    /// symbols that need the version (readelf is the oracle) and the fixes that fit:
    /// the root's version for zig, static linking, and CGO_ENABLED=0 for a Go program
    /// whose only C use is net's, but not for one with C code of its own.
    @Test func glibcFailureUnderRootNamesSymbolsAndFittingFixes() throws {
        let root = try Self.oldGlibcRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let goCgo = Repo.testBinaries.appendingPathComponent("x86_64/go-cgo").path
        let result = try Swelf.run(["doctor", "--root", root.path, "--env", "LD_LIBRARY_PATH=", goCgo])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("version `GLIBC_2.34' not found"), "\(result.stdout)")
        #expect(!result.stdout.contains("this machine's glibc"), "\(result.stdout)")
        #expect(result.stdout.contains("or older, as the root's glibc (\(root.path)) is"), "\(result.stdout)")
        #expect(result.stdout.contains("zig cc -target x86_64-linux-gnu.2.2.5"), "\(result.stdout)")
        #expect(result.stdout.contains("swelf portability --root \(root.path) \(goCgo)"), "\(result.stdout)")
        #expect(result.stdout.contains("gcc -static"), "\(result.stdout)")
        #expect(result.stdout.contains("for Go, CGO_ENABLED=0 (or -tags netgo,osusergo) builds it with no C library"), "\(result.stdout)")
        // Every import readelf binds to GLIBC_2.34 is named, as symbol@version.
        let symbols = try ChildProcess.run("readelf", ["--dyn-syms", "-W", goCgo]).stdout.split(separator: "\n")
            .filter { $0.contains("UND") && $0.contains("@GLIBC_2.34") }
            .compactMap { line in line.split(separator: " ").first { $0.contains("@GLIBC_2.34") }?.split(separator: "@").first.map(String.init) }
        #expect(!symbols.isEmpty)
        for symbol in symbols {
            #expect(result.stdout.contains("\(symbol)@GLIBC_2.34"), "\(symbol): \(result.stdout)")
        }

        let directory = try Self.scratch("ownc")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ownC = try Self.goProgramWithOwnC(in: directory)
        let own = try Swelf.run(["doctor", "--root", root.path, "--env", "LD_LIBRARY_PATH=", ownC])
        #expect(own.status == 1, "\(own.stdout)")
        #expect(own.stdout.contains("CGO_ENABLED=0 is not an option: it calls C from package main (main._Cfunc_twice)"), "\(own.stdout)")
        #expect(!own.stdout.contains("CGO_ENABLED=0 (or -tags"), "\(own.stdout)")

        // Without a symbol table (-ldflags=-s) the imports decide: getpid is none of the
        // Go runtime's, net's or os/user's.
        let strippedDirectory = try Self.scratch("ownc-stripped")
        defer { try? FileManager.default.removeItem(at: strippedDirectory) }
        let stripped = try Self.goProgramWithOwnC(in: strippedDirectory, cCode: "#include <unistd.h>\nstatic int twice(int x) { return 2 * x + (getpid() == 0); }",
                                                  flags: ["-ldflags=-s"])
        #expect(!(try ChildProcess.run("readelf", ["-S", stripped]).stdout.contains(".symtab")), "-s left a symbol table")
        let judged = try Swelf.run(["doctor", "--root", root.path, "--env", "LD_LIBRARY_PATH=", stripped])
        #expect(judged.stdout.contains("CGO_ENABLED=0 is not an option: it imports getpid"), "\(judged.stdout)")
    }
}
