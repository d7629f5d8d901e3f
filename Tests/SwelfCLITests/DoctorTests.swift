import Foundation
import Testing

/// `swelf doctor` and `swelf ldd` on built subjects, one per failure class, each checked
/// for the verdict, the exit status and the message (the loader's own where it has one).
@Suite struct DoctorTests {
    static let x86 = Repo.testBinaries.appendingPathComponent("x86_64")
    static let hello = x86.appendingPathComponent("hello").path
    /// The environment the subjects are analysed with: no LD_LIBRARY_PATH unless a test sets one.
    static let noLibraryPath = ["--env", "LD_LIBRARY_PATH="]

    static func doctor(_ arguments: [String]) throws -> ProcessResult {
        try Swelf.run(["doctor"] + noLibraryPath + arguments)
    }

    static func doctorJSON(_ arguments: [String]) throws -> [String: Any] {
        let result = try Swelf.run(["doctor", "--json"] + noLibraryPath + arguments)
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any])
        #expect(envelope["command"] as? String == "doctor")
        let files = try #require(envelope["files"] as? [[String: Any]])
        #expect(files.count == 1)
        return try #require(files.first)
    }

    static func library(_ document: [String: Any], _ name: String) -> [String: Any]? {
        (document["libraries"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    /// A scratch directory, removed by the caller.
    static func scratch() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-doctor-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A copy of `hello` and its libraries in a scratch directory, with RUNPATH $ORIGIN
    /// so that it starts without LD_LIBRARY_PATH.
    static func startableHello(in directory: URL) throws -> String {
        for name in ["hello", "libgreet.so.1", "libunused.so"] {
            try FileManager.default.copyItem(at: x86.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        let copy = directory.appendingPathComponent("hello").path
        let patch = try Swelf.run(["--set-rpath", "$ORIGIN", copy])
        #expect(patch.status == 0, "\(patch.stderr)")
        return copy
    }

    @Test func missingLibraryListsEveryPathTried() throws {
        let result = try Self.doctor([Self.hello])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FATAL    \(Self.hello): error while loading shared libraries: libgreet.so.1: cannot open shared object file: No such file or directory"),
                "\(result.stdout)")
        #expect(result.stdout.contains("tried /lib/x86_64-linux-gnu/libgreet.so.1: not found"), "\(result.stdout)")
        #expect(result.stdout.contains("tried /usr/lib/libgreet.so.1: not found"), "\(result.stdout)")
        #expect(result.stdout.contains("verdict: would not start"))

        let document = try Self.doctorJSON([Self.hello])
        #expect(document["would_start"] as? Bool == false)
        let libgreet = try #require(Self.library(document, "libgreet.so.1"))
        #expect(libgreet["status"] as? String == "not_found")
        let tried = (libgreet["tried"] as? [[String: Any]])?.compactMap { $0["path"] as? String } ?? []
        #expect(tried.contains("/usr/lib/x86_64-linux-gnu/libgreet.so.1"), "\(tried)")
        #expect(tried.contains("/lib/libgreet.so.1"), "\(tried)")

        // The loader says the same when the program is run.
        let run = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", Self.hello])
        #expect(run.status == 127)
        #expect(run.stderr.contains("libgreet.so.1: cannot open shared object file: No such file or directory"), "\(run.stderr)")
    }

    @Test func startsWithLibraryPathAndSaysItDependsOnIt() throws {
        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(Self.x86.path)", Self.hello])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("libgreet.so.1 => \(Self.x86.path)/libgreet.so.1 [LD_LIBRARY_PATH]"), "\(result.stdout)")
        #expect(result.stdout.contains("libgreet.so.1 is found only through LD_LIBRARY_PATH"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix("verdict: would start\n"))
    }

    @Test func missingInterpreter() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = try Self.startableHello(in: directory)
        let patch = try Swelf.run(["--set-interpreter", "/nonexistent/ld.so", copy])
        #expect(patch.status == 0, "\(patch.stderr)")
        let result = try Self.doctor([copy])
        #expect(result.status == 1)
        #expect(result.stdout.contains("interpreter /nonexistent/ld.so does not exist: exec fails with \"No such file or directory\" although \(copy) exists"),
                "\(result.stdout)")
        #expect(result.stdout.contains("fix: swelf --set-interpreter /lib64/ld-linux-x86-64.so.2 \(copy)"), "\(result.stdout)")
        // The kernel agrees: ENOENT for a file that exists.
        let run = try ChildProcess.run("/usr/bin/env", [copy])
        #expect(run.status == 127)
        #expect(run.stderr.contains("No such file or directory"), "\(run.stderr)")
    }

    @Test func wrongArchitecture() throws {
        let aarch64 = Repo.testBinaries.appendingPathComponent("aarch64/hello").path
        let result = try Self.doctor([aarch64])
        #expect(result.status == 1)
        #expect(result.stdout.contains("ELFCLASS64 little-endian aarch64 cannot run on this x86_64 machine: exec fails with \"Exec format error\""),
                "\(result.stdout)")
        let document = try Self.doctorJSON([aarch64])
        let checks = document["checks"] as? [[String: Any]] ?? []
        #expect(checks.first { $0["area"] as? String == "architecture" }?["status"] as? String == "fatal")
    }

    @Test func noExecuteBit() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = try Self.startableHello(in: directory)
        #expect(try Self.doctor([copy]).status == 0)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: copy)
        let result = try Self.doctor([copy])
        #expect(result.status == 1)
        #expect(result.stdout.contains("(mode 0644): exec fails with \"Permission denied\""), "\(result.stdout)")
        #expect(result.stdout.contains("fix: chmod +x \(copy)"), "\(result.stdout)")
    }

    /// needver needs VER_2 of libver.so.1; the old libver defines only VER_1.
    @Test func versionRequirementTheLibraryLacks() throws {
        let needver = Self.x86.appendingPathComponent("needver").path
        let old = Self.x86.appendingPathComponent("old").path
        let good = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(Self.x86.path)", needver])
        #expect(good.status == 0, "\(good.stdout)")

        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(old)", needver])
        #expect(result.status == 1)
        let expected = "\(needver): \(old)/libver.so.1: version `VER_2' not found (required by \(needver))"
        #expect(result.stdout.contains("FATAL    " + expected), "\(result.stdout)")
        #expect(result.stdout.contains("newest VER_* version in \(old)/libver.so.1: VER_1"), "\(result.stdout)")
        // Word for word what the loader prints when the program is run.
        let run = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(old)", needver])
        #expect(run.status != 0)
        #expect(run.stderr.trimmingCharacters(in: .newlines) == expected)
    }

    @Test func libraryPathShadowingASystemLibrary() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ls = "/bin/ls"
        let reference = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "ldd", ls])
        let libc = try #require(reference.stdout.split(separator: "\n").first { $0.contains("libc.so.6 =>") })
        let systemCopy = String(libc.split(separator: " ")[2])
        try FileManager.default.copyItem(atPath: systemCopy, toPath: directory.appendingPathComponent("libc.so.6").path)

        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(directory.path)", ls])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("LD_LIBRARY_PATH shadows libc.so.6: \(directory.path)/libc.so.6 is loaded instead of \(systemCopy) (ld.so.cache)"),
                "\(result.stdout)")
        // The loader picks the shadowing copy too.
        let traced = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(directory.path)", "ldd", ls])
        #expect(traced.stdout.contains("libc.so.6 => \(directory.path)/libc.so.6"), "\(traced.stdout)")
    }

    /// A setuid program owned by someone else runs in secure mode: LD_LIBRARY_PATH is ignored.
    @Test func secureModeIgnoresLibraryPath() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("hello").path
        try FileManager.default.copyItem(atPath: Self.hello, toPath: copy)
        // chown clears the setuid bit, so the mode is set after the owner.
        try FileManager.default.setAttributes([.ownerAccountID: 65534], ofItemAtPath: copy)
        try FileManager.default.setAttributes([.posixPermissions: 0o4755], ofItemAtPath: copy)
        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(Self.x86.path)", copy])
        if getuid() == 65534 { return }  // the owner itself: no secure mode, nothing to show
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("setuid (owner 65534)"), "\(result.stdout)")
        #expect(result.stdout.contains("LD_LIBRARY_PATH=\(Self.x86.path) is ignored"), "\(result.stdout)")
        #expect(result.stdout.contains("libgreet.so.1: cannot open shared object file"), "\(result.stdout)")
    }

    /// An aarch64 program in the aarch64 cross sysroot, compared with qemu-user running
    /// the real aarch64 loader there in trace mode.
    @Test func foreignRootAarch64() throws {
        let program = "TestBinaries/aarch64/hello"
        let libraryPath = "TestBinaries/aarch64"  // relative: a path on this machine, not in the root
        let root = "/usr/aarch64-linux-gnu"
        let cwd = FileManager.default.currentDirectoryPath
        #expect(cwd == Repo.root.path, "the CLI tests run from the package root")

        let result = try Swelf.run(["doctor", "--root", root, "--env", "LD_LIBRARY_PATH=\(libraryPath)", program])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("libc.so.6 => \(root)/lib/libc.so.6 [system directory]"), "\(result.stdout)")
        #expect(result.stdout.contains("ok       /lib/ld-linux-aarch64.so.1 (\(root)/lib/ld-linux-aarch64.so.1)"), "\(result.stdout)")

        let ldd = try Swelf.run(["ldd", "--root", root, "--env", "LD_LIBRARY_PATH=\(libraryPath)", program])
        #expect(ldd.status == 0)
        let ours = ldd.stdout.split(separator: "\n").map { line in
            String(line[..<(line.range(of: " (", options: .backwards)?.lowerBound ?? line.endIndex)])
        }
        let qemu = try ChildProcess.run("qemu-aarch64-static", ["-L", root, "-E", "LD_LIBRARY_PATH=\(libraryPath)",
                                                        "-E", "LD_TRACE_LOADED_OBJECTS=1", program])
        let reference = qemu.stdout.split(separator: "\n").map { line in
            String(line[..<(line.range(of: " (0x", options: .backwards)?.lowerBound ?? line.endIndex)])
        }
        #expect(ours == reference, "swelf ldd:\n\(ldd.stdout)\nqemu ld.so:\n\(qemu.stdout)")

        // Without --root it is the wrong architecture for this machine.
        #expect(try Self.doctor([program]).status == 1)
    }

    /// A noexec mount: a program there cannot be executed, a library there cannot be
    /// mapped. A tmpfs is mounted for the test (the tests run as root).
    @Test func noexecMount() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mount = try ChildProcess.run("mount", ["-t", "tmpfs", "-o", "noexec", "tmpfs", directory.path])
        #expect(mount.status == 0, "mount -o noexec needs root: \(mount.stderr)")
        guard mount.status == 0 else { return }
        defer { _ = try? ChildProcess.run("umount", [directory.path]) }
        for name in ["hello", "libgreet.so.1", "libunused.so"] {
            try FileManager.default.copyItem(at: Self.x86.appendingPathComponent(name), to: directory.appendingPathComponent(name))
        }
        let program = directory.appendingPathComponent("hello").path
        let onMount = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(directory.path)", program])
        #expect(onMount.status == 1)
        #expect(onMount.stdout.contains("is on a file system mounted noexec: exec fails with \"Permission denied\""), "\(onMount.stdout)")

        let libraries = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(directory.path)", Self.hello])
        #expect(libraries.status == 1)
        let expected = "\(Self.hello): error while loading shared libraries: libgreet.so.1: failed to map segment from shared object"
        #expect(libraries.stdout.contains(expected), "\(libraries.stdout)")
        let run = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(directory.path)", Self.hello])
        #expect(run.stderr.trimmingCharacters(in: .newlines) == expected)
    }

    /// PATH entries that let someone else choose the program: relative ones and
    /// world-writable directories (sticky or not).
    @Test func pathHazards() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: directory.path)
        let result = try Self.doctor(["--env", "PATH=/usr/bin::bin:\(directory.path):/tmp", "/bin/ls"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("warning  PATH entry \"\" is relative"), "\(result.stdout)")
        #expect(result.stdout.contains("warning  PATH entry \"bin\" is relative"), "\(result.stdout)")
        #expect(result.stdout.contains("warning  PATH entry \(directory.path) is writable by every user (mode 0777)"), "\(result.stdout)")
        #expect(result.stdout.contains("warning  PATH entry /tmp is writable by every user (mode 1777)"), "\(result.stdout)")
        #expect(!result.stdout.contains("PATH entry /usr/bin"), "\(result.stdout)")
    }

    /// The failure classes for an aarch64 program in its sysroot, each message compared
    /// with what the real aarch64 loader prints under qemu-user.
    @Test func foreignRootAarch64Failures() throws {
        let root = "/usr/aarch64-linux-gnu"
        #expect(FileManager.default.currentDirectoryPath == Repo.root.path, "the CLI tests run from the package root")
        func qemu(_ arguments: [String]) throws -> String {
            try ChildProcess.run("qemu-aarch64-static", ["-L", root] + arguments).stderr.trimmingCharacters(in: .newlines)
        }

        // Missing library: every path tried is inside the root.
        let hello = "TestBinaries/aarch64/hello"
        let missing = try Swelf.run(["doctor", "--root", root, "--env", "LD_LIBRARY_PATH=", hello])
        #expect(missing.status == 1)
        let loaderMessage = try qemu(["-U", "LD_LIBRARY_PATH", hello])
        #expect(missing.stdout.contains("FATAL    " + loaderMessage), "\(missing.stdout)\nqemu: \(loaderMessage)")
        #expect(missing.stdout.contains("tried \(root)/lib/aarch64-linux-gnu/libgreet.so.1: not found")
                || missing.stdout.contains("tried \(root)/lib/libgreet.so.1: not found"), "\(missing.stdout)")
        #expect(!missing.stdout.contains("tried /lib/x86_64-linux-gnu"), "host directories must not be searched: \(missing.stdout)")

        // A version the old libver lacks.
        let needver = "TestBinaries/aarch64/needver"
        let version = try Swelf.run(["doctor", "--root", root, "--env", "LD_LIBRARY_PATH=TestBinaries/aarch64/old", needver])
        #expect(version.status == 1)
        let versionMessage = try qemu(["-E", "LD_LIBRARY_PATH=TestBinaries/aarch64/old", needver])
        #expect(version.stdout.contains("FATAL    " + versionMessage), "\(version.stdout)\nqemu: \(versionMessage)")

        // A tree without the aarch64 loader.
        let empty = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: empty) }
        let noLoader = try Swelf.run(["doctor", "--root", empty.path, "--env", "LD_LIBRARY_PATH=TestBinaries/aarch64", hello])
        #expect(noLoader.status == 1)
        #expect(noLoader.stdout.contains("interpreter /lib/ld-linux-aarch64.so.1 (\(empty.path)/lib/ld-linux-aarch64.so.1) does not exist"),
                "\(noLoader.stdout)")
    }

    @Test func staticAndStaticPIE() throws {
        for (name, text) in [("static", "statically linked: no interpreter, no shared libraries"),
                             ("static-pie", "static-pie: relocates itself")] {
            let result = try Self.doctor([Self.x86.appendingPathComponent(name).path])
            #expect(result.status == 0, "\(result.stdout)")
            #expect(result.stdout.contains(text), "\(result.stdout)")
        }
    }

    /// `swelf ldd` prints ldd's lines (the reason where ldd prints the address).
    /// At least two of the three programs must be there to compare (ls and bash are
    /// essential packages; ssh comes with openssh-client): a loop over programs that are
    /// all missing would pass having compared nothing.
    @Test func lddMatchesLdd() throws {
        let programs = ["/bin/ls", "/usr/bin/ssh", "/bin/bash"].filter { FileManager.default.fileExists(atPath: $0) }
        #expect(programs.count >= 2, "only \(programs) of /bin/ls, /usr/bin/ssh, /bin/bash exist: too few to compare with ldd")
        for program in programs {
            let ours = try Swelf.run(["ldd", "--env", "LD_LIBRARY_PATH=", program])
            #expect(ours.status == 0)
            let reference = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "ldd", program])
            let strip: (Substring) -> String = { line in
                String(line[..<(line.range(of: " (", options: .backwards)?.lowerBound ?? line.endIndex)])
            }
            let expected = reference.stdout.split(separator: "\n").filter { !$0.contains("linux-vdso") }.map(strip)
            #expect(ours.stdout.split(separator: "\n").map(strip) == expected, "\(ours.stdout)")
            #expect(ours.stdout.contains("(ld.so.cache)") || ours.stdout.contains("(system directory)"))
        }
    }

    /// An empty run-path element is the current directory of the process, in its place in
    /// the list (glibc's fillin_rpath), and an empty run path as a whole is no directory at
    /// all (decompose_rpath ignores it). `swelf ldd`, run from a directory holding another
    /// libgreet.so.1 and the only libunused.so, must list what the loader in trace mode
    /// lists from there, for DT_RUNPATH and DT_RPATH; and doctor must not say libunused.so
    /// "exists in the RUNPATH" of a library whose DT_RUNPATH is empty.
    @Test func emptyRunPathElementIsTheCurrentDirectory() throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let libs = directory.appendingPathComponent("libs"), cwd = directory.appendingPathComponent("cwd")
        let emptyRunpath = directory.appendingPathComponent("empty-runpath")
        for made in [libs, cwd, emptyRunpath] { try FileManager.default.createDirectory(at: made, withIntermediateDirectories: true) }
        try FileManager.default.copyItem(at: Self.x86.appendingPathComponent("libgreet.so.1"), to: libs.appendingPathComponent("libgreet.so.1"))
        try FileManager.default.copyItem(at: Self.x86.appendingPathComponent("libgreet.so.1"), to: emptyRunpath.appendingPathComponent("libgreet.so.1"))
        try FileManager.default.copyItem(at: Self.x86.appendingPathComponent("libgreetalt.so.1"), to: cwd.appendingPathComponent("libgreet.so.1"))
        try FileManager.default.copyItem(at: Self.x86.appendingPathComponent("libunused.so"), to: cwd.appendingPathComponent("libunused.so"))
        let withEmpty = emptyRunpath.appendingPathComponent("libgreet.so.1").path
        let setEmpty = try Swelf.run(["--set-rpath", "", withEmpty])
        #expect(setEmpty.status == 0, "\(setEmpty.stderr)")
        #expect(try ChildProcess.run("readelf", ["-d", withEmpty]).stdout.contains("Library runpath: []"))
        let swelf = try #require(Swelf.path)
        let strip: (Substring) -> String = { line in
            String(line[..<(line.range(of: " (", options: .backwards)?.lowerBound ?? line.endIndex)])
        }
        var compared = 0
        for runPath in [":\(libs.path)", "\(libs.path):", "/nowhere::\(libs.path)", emptyRunpath.path] {
            for force in [[], ["--force-rpath"]] {
                let program = directory.appendingPathComponent("hello").path
                try? FileManager.default.removeItem(atPath: program)
                try FileManager.default.copyItem(atPath: Self.hello, toPath: program)
                let patch = try Swelf.run(force + ["--set-rpath", runPath, program])
                #expect(patch.status == 0, "\(patch.stderr)")
                let context = "\(force) --set-rpath \(runPath.debugDescription)"
                let ours = try ChildProcess.run(swelf, ["ldd", "--env", "LD_LIBRARY_PATH=", program], cwd: cwd)
                let reference = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "ldd", program], cwd: cwd)
                let expected = reference.stdout.split(separator: "\n").filter { !$0.contains("linux-vdso") }.map(strip)
                #expect(ours.stdout.split(separator: "\n").map(strip) == expected,
                        "\(context): swelf ldd:\n\(ours.stdout)\nldd:\n\(reference.stdout)")
                compared += 1
                if runPath == emptyRunpath.path {
                    #expect(expected.contains("\tlibunused.so => not found"), "\(context): \(reference.stdout)")
                    let doctor = try ChildProcess.run(swelf, ["doctor", "--env", "LD_LIBRARY_PATH=", program], cwd: cwd)
                    #expect(doctor.status == 1, "\(context): \(doctor.stdout)")
                    #expect(!doctor.stdout.contains("exists in the RUNPATH of libgreet.so.1"), "\(context): \(doctor.stdout)")
                    #expect(!doctor.stdout.contains("--add-rpath ''"), "\(context): \(doctor.stdout)")
                } else {
                    // The current directory's libgreet.so.1 comes first or last as the list says.
                    let first = runPath.hasPrefix(":") || runPath.hasPrefix("/nowhere")
                    #expect(expected.contains(first ? "\tlibgreet.so.1" : "\tlibgreet.so.1 => \(libs.path)/libgreet.so.1"),
                            "\(context): \(reference.stdout)")
                }
            }
        }
        #expect(compared == 8)
    }

    @Test(arguments: [
        ["doctor"], ["doctor", "a", "b"], ["doctor", "--env", "NOEQUALS", "x"], ["doctor", "--root"],
        ["doctor", "--bogus", "x"], ["ldd"], ["ldd", "--json"], ["ldd", "--bogus", "x"], ["show", "--tree", "x"],
    ])
    func usageErrors(arguments: [String]) throws {
        let result = try Swelf.run(arguments)
        #expect(result.status == 64, "\(arguments)")
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("swelf: "))
    }

    @Test func jsonSchema() throws {
        let document = try Self.doctorJSON(["/bin/ls"])
        for key in ["file", "ok", "error", "would_start", "verdict", "linking", "secure_mode", "root", "loader", "checks", "libraries"] {
            #expect(document[key] != nil, "missing key \(key)")
        }
        #expect(document["verdict"] as? String == "would start")
        let loader = try #require(document["loader"] as? [String: Any])
        #expect((loader["system_directories"] as? [String])?.isEmpty == false)
        let checks = try #require(document["checks"] as? [[String: Any]])
        #expect(checks.map { $0["area"] as? String ?? "" }.prefix(4) == ["file", "architecture", "interpreter", "libraries"])
        let libc = try #require(Self.library(document, "libc.so.6"))
        #expect(libc["status"] as? String == "found")
        #expect(libc["rule"] as? String == "ld_so_cache")
    }
}
