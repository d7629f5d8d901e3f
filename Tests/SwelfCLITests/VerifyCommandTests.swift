import Foundation
import Testing

/// `swelf verify` and the other commands on ELF files no loader maps: a core dump, an
/// object file, a kernel module. Each is made here, from the tools that make them
/// (gcc -c, gdb's gcore on a sleeping process), so they are real files of their kind.
@Suite struct VerifyCommandTests {
    struct Made {
        let path: String
        /// How the commands must name it.
        let name: String
    }

    /// gcc -c: an object file; the same with a .modinfo section: a kernel module as the
    /// kernel's build leaves it (ET_REL, .modinfo holding license=, name=…).
    static func objects(in scratch: ScratchDirectory) throws -> [Made] {
        let source = scratch.path("unit.c")
        try Data("int twice(int x) { return 2 * x; }\n".utf8).write(to: URL(fileURLWithPath: source))
        let module = scratch.path("module.c")
        try Data("""
            int twice(int x) { return 2 * x; }
            __attribute__((section(".modinfo"), used)) static const char license[] = "license=GPL";
            __attribute__((section(".modinfo"), used)) static const char name[] = "name=swelftest";

            """.utf8).write(to: URL(fileURLWithPath: module))
        for (input, output) in [(source, "unit.o"), (module, "swelftest.ko")] {
            let gcc = try ChildProcess.run("gcc", ["-c", "-O1", input, "-o", scratch.path(output)])
            #expect(gcc.status == 0, "gcc -c: \(gcc.stderr)")
        }
        return [Made(path: scratch.path("unit.o"), name: "a relocatable object (ET_REL)"),
                Made(path: scratch.path("swelftest.ko"), name: "a kernel module (ET_REL with .modinfo)")]
    }

    /// gcore of a sleeping process (gdb writes section headers, one per segment), and the
    /// same file without its section header table, as the kernel writes a core dump.
    static func coreDumps(in scratch: ScratchDirectory) throws -> [Made] {
        // The shell starts the sleeper and kills it as soon as gcore is done: a sleeper
        // left running holds the descriptors it inherited (this call's pipes among them,
        // so the read would wait for it). SIGKILL: the test runner's children may inherit
        // a signal mask that blocks SIGTERM.
        let prefix = scratch.path("core")
        let gcore = try ChildProcess.run("bash", ["-c", """
            sleep 30 </dev/null >/dev/null 2>&1 & sleeper=$!
            gcore -o "$1" "$sleeper" >/dev/null 2>&1; status=$?
            kill -KILL "$sleeper"; echo "$sleeper"; exit "$status"
            """, "_", prefix])
        try #require(gcore.status == 0, "gcore failed (scripts/install-test-deps installs gdb): \(gcore.stderr)")
        let core = "\(prefix).\(gcore.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
        try #require(FileManager.default.fileExists(atPath: core), "gcore wrote no core dump: \(gcore.stdout) \(gcore.stderr)")
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: core)))
        try #require(bytes.count > 64 && bytes[4] == 2 && bytes[5] == 1 && bytes[16] == 4, "not an ELF64 LSB ET_CORE file")
        #expect(bytes[60] != 0 || bytes[61] != 0, "gcore's core dump has no section headers; the kernel-style copy would be the same file")
        // e_shoff, e_shnum, e_shstrndx zeroed: no section header table.
        bytes.replaceSubrange(40 ..< 48, with: [UInt8](repeating: 0, count: 8))
        bytes.replaceSubrange(60 ..< 64, with: [UInt8](repeating: 0, count: 4))
        let bare = scratch.path("core-noshdr")
        try Data(bytes).write(to: URL(fileURLWithPath: bare))
        return [Made(path: core, name: "a core dump (ET_CORE)"), Made(path: bare, name: "a core dump (ET_CORE)")]
    }

    /// verify fails on each and says what the file is, on stderr; show says it is not
    /// linked; --print-* and edits name the kind instead of guessing "statically linked".
    @Test func filesNoLoaderMapsAreNamed() throws {
        let scratch = try ScratchDirectory("verify")
        let files = try VerifyCommandTests.objects(in: scratch) + VerifyCommandTests.coreDumps(in: scratch)
        #expect(files.count == 4)
        for file in files {
            let verify = try Swelf.run(["verify", file.path])
            #expect(verify.status == 1, "verify \(file.path): exit \(verify.status); \(verify.stdout)")
            #expect(verify.stdout.isEmpty, "verify \(file.path) printed on stdout: \(verify.stdout)")
            #expect(verify.stderr.hasPrefix("swelf: \(file.path): \(file.name), "), "verify \(file.path): \(verify.stderr)")
            #expect(verify.stderr.contains("not a program or a shared library: verify checks only those\n"), "\(verify.stderr)")

            let json = try Swelf.run(["verify", "--json", file.path])
            #expect(json.status == 1)
            let envelope = try #require(try JSONSerialization.jsonObject(with: Data(json.stdoutBytes)) as? [String: Any])
            let object = try #require((envelope["files"] as? [[String: Any]])?.first)
            #expect(object["ok"] as? Bool == false)
            #expect(envelope["ok"] as? Bool == false)
            #expect((object["problems"] as? [String])?.first?.hasPrefix(file.name) == true, "\(json.stdout)")

            let show = try Swelf.run(["show", file.path])
            #expect(show.status == 0, "show \(file.path): \(show.stderr)")
            #expect(show.stdout.contains("\n  linking:      none\n"), "show \(file.path): \(show.stdout)")

            let output = scratch.path("edited")
            for arguments in [["--print-interpreter"], ["--print-rpath"], ["--print-needed"],
                              ["--set-rpath", "/opt/x", "--output", output], ["--set-interpreter", "/lib/ld.so", "--output", output]] {
                let result = try Swelf.run(arguments + [file.path])
                #expect(result.status == 1, "\(arguments) \(file.path): exit \(result.status)")
                #expect(result.stderr.contains(file.name), "\(arguments) \(file.path): \(result.stderr)")
                #expect(!result.stderr.contains("statically linked"), "\(arguments) \(file.path): \(result.stderr)")
                #expect(!FileManager.default.fileExists(atPath: output), "\(arguments) wrote \(output)")
            }
        }
    }

    /// A file that passes prints "FILE: ok" on stdout; the problems of one that does not
    /// go to stderr, so stdout lists exactly the files that passed.
    @Test func problemsGoToStandardError() throws {
        let good = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        let bad = Repo.fixtures.appendingPathComponent("verify-interp-offset-overflow.elf").path
        let result = try Swelf.run(["verify", good, bad])
        #expect(result.status == 1)
        #expect(result.stdout == "\(good): ok\n", "\(result.stdout)")
        #expect(result.stderr.hasPrefix("swelf: \(bad): "), "\(result.stderr)")
        #expect(result.stderr.contains("PT_INTERP's p_offset + p_filesz overflows"), "\(result.stderr)")
        let alone = try Swelf.run(["verify", good])
        #expect(alone.status == 0 && alone.stdout == "\(good): ok\n" && alone.stderr.isEmpty, "\(alone)")
    }
}
