import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitPackaging
@testable import ELFKitVerify

/// `swelf relocate` on a tree gcc builds in the test under a long prefix (conda's padded
/// placeholder style), then moved: the programs run at the new place are the oracle (they
/// must find their library through the new run path and print and read their data paths),
/// with readelf, readlink, the bytes of the original and a plain search for OLD.
///
///     OLD/bin/app              C: DT_RUNPATH OLD/lib, DATA_DIR "OLD/share/app/data",
///                              "PATH=OLD/bin:OLD/sbin"; prints them and the data file
///     OLD/bin/cxxapp           C++ -O2: a std::string from a literal and an operator""s
///                              literal holding OLD/share/app; reads OLD/share/app/data
///                              through each
///     OLD/bin/goapp            Go (CGO_ENABLED=0, when asked for): const dataDir
///                              "OLD/share/app/data" (packed among the other Go strings,
///                              no NUL before or after it) and -X main.prefix=OLD; prints
///                              len(dataDir) (compiled in), both, and the data file
///     OLD/bin/run.sh           #! script: exec $RUN_UNDER OLD/bin/app
///     OLD/lib/libgreet.so      C library: "OLD/etc/greet.conf"
///     OLD/lib/libgreet.so.1 -> OLD/lib/libgreet.so   (absolute link)
///     OLD/lib/pkgconfig/greet.pc   prefix=OLD
///     OLD/share/app/data       "hello data" (no OLD in it)
@Suite struct RelocateTests {
    /// A tree under a long prefix inside a scratch directory.
    struct Tree {
        let scratch: ScratchDirectory
        /// The top of the prefix (the directory moved after relocation).
        let old: String
        /// The emulator for another architecture, empty natively.
        let runUnder: [String]
        /// Whether OLD/bin/goapp was built.
        let go: Bool

        func run(_ program: String, root: String) throws -> ProcessResult {
            let path = root + "/bin/" + program
            if let emulator = runUnder.first { return try ChildProcess.run(emulator, Array(runUnder.dropFirst()) + [path]) }
            return try ChildProcess.run(path, [])
        }

        /// Every file and link under `root`, by relative path: bytes (or "-> target"), mode.
        static func snapshot(_ root: String) throws -> [String: String] {
            var result: [String: String] = [:]
            for case let relative as String in FileManager.default.enumerator(atPath: root) ?? NSEnumerator() {
                let path = root + "/" + relative
                var status = stat()
                try #require(lstat(path, &status) == 0)
                switch status.st_mode & S_IFMT {
                case S_IFLNK: result[relative] = "-> " + (try FileManager.default.destinationOfSymbolicLink(atPath: path))
                case S_IFREG:
                    let data = try Data(contentsOf: URL(fileURLWithPath: path))
                    result[relative] = "\(String(status.st_mode & 0o7777, radix: 8)) \(data.base64EncodedString())"
                default: break
                }
            }
            return result
        }
    }

    static let aarch64Sysroot = "/usr/aarch64-linux-gnu"
    static let qemu = "/usr/bin/qemu-aarch64-static"

    /// Go's build cache and module path, shared by every tree and kept between runs: the
    /// standard library is compiled once per GOARCH (about a minute cold), then a tree's
    /// program takes a few seconds. Set with HOME, so nothing is read from or written to
    /// the user's (CI runs as root, without network: GOPROXY=off).
    static let goHome = Repo.root.appendingPathComponent(".build/relocate-go").path
    /// One go build at a time: the second waits for the first to fill the cache instead of
    /// compiling the same standard library beside it on the same cores.
    static let goLock = NSLock()

    /// The C++ compiler beside `compiler`, and Go's name for its architecture.
    static func companions(_ compiler: String) -> (cxx: String, goarch: String) {
        compiler == "gcc" ? ("g++", "amd64") : ("aarch64-linux-gnu-g++", "arm64")
    }

    /// Builds the tree at `scratch/build_placehold…/prefix` with `compiler` (and its g++,
    /// and go for its architecture when `go`).
    static func build(compiler: String = "gcc", purpose: String, go: Bool = false) throws -> Tree {
        let scratch = try ScratchDirectory("relocate-\(purpose)")
        let old = scratch.path("build_placehold_placehold_placehold_placehold_placehold/prefix")
        for directory in ["src", "build_placehold_placehold_placehold_placehold_placehold/prefix/bin",
                          "build_placehold_placehold_placehold_placehold_placehold/prefix/lib/pkgconfig",
                          "build_placehold_placehold_placehold_placehold_placehold/prefix/share/app"] {
            try FileManager.default.createDirectory(atPath: scratch.path(directory), withIntermediateDirectories: true)
        }
        let src = scratch.path("src")
        try "const char *lib_config(void) { return PREFIX \"/etc/greet.conf\"; }\n"
            .write(toFile: src + "/greet.c", atomically: true, encoding: .utf8)
        try """
            #include <stdio.h>
            const char *lib_config(void);
            static const char *search = "PATH=" PREFIX "/bin:" PREFIX "/sbin";
            int main(void) {
                char line[100] = {0};
                FILE *f = fopen(DATA_DIR, "r");
                if (f) fgets(line, sizeof line, f);
                printf("%s|%s|%s|%s", lib_config(), DATA_DIR, search, f ? line : "cannot open\\n");
                return f ? 0 : 1;
            }

            """.write(toFile: src + "/app.c", atomically: true, encoding: .utf8)
        try """
            #include <fstream>
            #include <iostream>
            #include <string>
            using namespace std::literals;
            int main() {
                std::string local = PREFIX "/share/app";
                std::string literal = PREFIX "/share/app"s;
                std::ifstream a(local + "/data"), b(literal + "/data");
                std::string x, y;
                std::getline(a, x);
                std::getline(b, y);
                std::cout << local.size() << " " << literal.size() << " " << x << "|" << y << "\\n";
            }

            """.write(toFile: src + "/cxxapp.cc", atomically: true, encoding: .utf8)
        let prefix = "-DPREFIX=\"\(old)\""
        let lib = old + "/lib"
        let (cxx, goarch) = companions(compiler)
        var commands: [(String, [String])] = [
            (compiler, ["-shared", "-fPIC", "-O2", prefix, "-o", lib + "/libgreet.so", src + "/greet.c", "-Wl,-soname,libgreet.so"]),
            (compiler, ["-O2", prefix, "-DDATA_DIR=\"\(old)/share/app/data\"", "-o", old + "/bin/app", src + "/app.c",
                        "-L" + lib, "-lgreet", "-Wl,-rpath," + lib]),
        ]
        commands.append((cxx, ["-O2", prefix, "-o", old + "/bin/cxxapp", src + "/cxxapp.cc"]))
        for (tool, arguments) in commands {
            let result = try ChildProcess.run(tool, arguments)
            try #require(result.status == 0, "\(tool) \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        if go {
            // Its own directory: go refuses a package beside C files when cgo is off.
            try FileManager.default.createDirectory(atPath: src + "/go", withIntermediateDirectories: true)
            try """
                package main

                import (
                \t"fmt"
                \t"os"
                )

                const dataDir = "\(old)/share/app/data"

                var prefix = "unset"

                func main() {
                \tdata, err := os.ReadFile(dataDir)
                \tfmt.Printf("%d %s|%s|", len(dataDir), dataDir, prefix)
                \tif err != nil {
                \t\tfmt.Println("cannot open")
                \t\tos.Exit(1)
                \t}
                \tfmt.Print(string(data))
                }

                """.write(toFile: src + "/go/main.go", atomically: true, encoding: .utf8)
            try "module example.com/goapp\n\ngo 1.18\n".write(toFile: src + "/go/go.mod", atomically: true, encoding: .utf8)
            let tool = try #require(ChildProcess.path("go"), "go not found: run scripts/install-test-deps")
            let environment = ["HOME": goHome, "GOCACHE": goHome + "/cache", "GOPATH": goHome + "/path", "GOFLAGS": "-buildvcs=false",
                               "GO111MODULE": "on", "GOPROXY": "off", "GOTOOLCHAIN": "local", "CGO_ENABLED": "0",
                               "GOOS": "linux", "GOARCH": goarch]
            let arguments = ["build", "-trimpath", "-ldflags", "-X main.prefix=\(old)", "-o", old + "/bin/goapp", "."]
            let result = try goLock.withLock {
                try ChildProcess.run(tool, arguments, cwd: URL(fileURLWithPath: src + "/go"), environment: environment)
            }
            try #require(result.status == 0, "go \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        try "#!/bin/sh\nexec $RUN_UNDER \(old)/bin/app \"$@\"\n".write(toFile: old + "/bin/run.sh", atomically: true, encoding: .utf8)
        try #require(chmod(old + "/bin/run.sh", 0o755) == 0)
        try "prefix=\(old)\nlibdir=${prefix}/lib\nLibs: -L${libdir} -lgreet\n"
            .write(toFile: lib + "/pkgconfig/greet.pc", atomically: true, encoding: .utf8)
        try "hello data\n".write(toFile: old + "/share/app/data", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: lib + "/libgreet.so.1", withDestinationPath: lib + "/libgreet.so")
        let runUnder = compiler == "gcc" ? [] : [qemu, "-L", aarch64Sysroot]
        return Tree(scratch: scratch, old: old, runUnder: runUnder, go: go)
    }

    static func readelfRunPath(_ path: String) throws -> String {
        let result = try ChildProcess.run("readelf", ["-dW", path])
        let line = result.stdout.split(separator: "\n").first { $0.contains("(RUNPATH)") || $0.contains("(RPATH)") }
        guard let line, let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return "" }
        return String(line[line.index(after: open) ..< close])
    }

    /// Every regular file under `root` that holds `needle`'s bytes (a plain search).
    static func filesHolding(_ needle: String, under root: String) throws -> [String] {
        let bytes = Data(needle.utf8)
        var found: [String] = []
        for case let relative as String in FileManager.default.enumerator(atPath: root) ?? NSEnumerator() {
            var status = stat()
            guard lstat(root + "/" + relative, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { continue }
            if try Data(contentsOf: URL(fileURLWithPath: root + "/" + relative)).range(of: bytes) != nil { found.append(relative) }
        }
        return found.sorted()
    }

    static func toolsPresent(_ compiler: String) -> Bool {
        ChildProcess.path("go") != nil && (compiler == "gcc" || (FileManager.default.isExecutableFile(atPath: "/usr/bin/" + compiler)
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/" + companions(compiler).cxx)
            && FileManager.default.isExecutableFile(atPath: qemu)))
    }

    /// `new` followed by as many `/` as it is shorter than `old`: the slash-padded prefix
    /// the README promises for a C++ or Go file (each string keeps its length).
    static func padded(_ new: String, to old: String) -> String {
        new + String(repeating: "/", count: max(0, old.utf8.count - new.utf8.count))
    }

    /// What goapp prints when its tree is at `root` and its strings name `strings` (the
    /// same bytes, or the slash-padded form): the compiled-in length, the two paths and
    /// the data file.
    static func goOutput(_ tree: Tree, strings: String) -> String {
        "\((tree.old + "/share/app/data").utf8.count) \(strings)/share/app/data|\(strings)|hello data\n"
    }

    /// To a shorter prefix, then the tree moved there: every program runs from the new
    /// place, finds its library by the new run path and its data by the new strings; the
    /// script, the .pc file and the link name the new place; OLD is found nowhere. The C++
    /// and Go programs' strings keep their compiled-in lengths (slash padding).
    @Test(arguments: ["gcc", "aarch64-linux-gnu-gcc"])
    func shorterPrefixRunsAtTheNewPlace(compiler: String) throws {
        guard Self.toolsPresent(compiler) else {
            Issue.record("\(compiler), its g++, go or \(Self.qemu) missing: run scripts/install-test-deps")
            return
        }
        let tree = try Self.build(compiler: compiler, purpose: "shorter", go: true)
        let new = tree.scratch.path("n")
        let before = try Self.run(tree, "app", root: tree.old)
        #expect(before.stdout == "\(tree.old)/etc/greet.conf|\(tree.old)/share/app/data|PATH=\(tree.old)/bin:\(tree.old)/sbin|hello data\n",
                "\(before)")
        // A second name of the program (a hard link): written once, both names the new file.
        try #require(link(tree.old + "/bin/app", tree.old + "/bin/app-hard") == 0)
        let result = try Swelf.run(["relocate", tree.old, new, tree.old])
        #expect(result.status == 0, "\(result)")
        // Files: app (its hard link counted once), cxxapp, goapp, libgreet.so, its link, run.sh,
        // greet.pc, data (no OLD); sites: app 3, cxxapp 1, goapp 2 (the constant and the -X
        // string), one in each other file.
        #expect(result.stdout.hasSuffix("relocate: 8 files scanned, 7 changed, 10 sites, 0 refused\n"), "\(result.stdout)")
        // Moved: the old place no longer exists, so nothing can still be found there.
        try FileManager.default.moveItem(atPath: tree.old, toPath: new)
        let after = try tree.run("app", root: new)
        #expect(after.status == 0 && after.stdout == "\(new)/etc/greet.conf|\(new)/share/app/data|PATH=\(new)/bin:\(new)/sbin|hello data\n",
                "\(after)")
        let script = try ChildProcess.run(new + "/bin/run.sh", [], environment: ["RUN_UNDER": tree.runUnder.joined(separator: " ")])
        #expect(script.stdout == after.stdout, "\(script)")
        #expect(try Self.readelfRunPath(new + "/bin/app") == new + "/lib")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: new + "/lib/libgreet.so.1") == new + "/lib/libgreet.so")
        #expect(try String(contentsOfFile: new + "/lib/pkgconfig/greet.pc", encoding: .utf8)
                == "prefix=\(new)\nlibdir=${prefix}/lib\nLibs: -L${libdir} -lgreet\n")
        var status = stat()
        #expect(stat(new + "/bin/run.sh", &status) == 0 && status.st_mode & 0o777 == 0o755)
        var hard = stat()
        #expect(stat(new + "/bin/app", &status) == 0 && stat(new + "/bin/app-hard", &hard) == 0 && status.st_ino == hard.st_ino)
        // Both std::strings keep their compiled-in length (slash padding) and read the file.
        let length = (tree.old + "/share/app").utf8.count
        let cxx = try tree.run("cxxapp", root: new)
        #expect(cxx.stdout == "\(length) \(length) hello data|hello data\n", "\(cxx)")
        // Go's strings, the packed constant too, name the new place slash-padded to their
        // lengths, and the program reads its data there.
        let go = try tree.run("goapp", root: new)
        #expect(go.status == 0 && go.stdout == Self.goOutput(tree, strings: Self.padded(new, to: tree.old)), "\(go)")
        #expect(try Self.filesHolding(tree.old, under: new) == [])
    }

    static func run(_ tree: Tree, _ program: String, root: String) throws -> ProcessResult { try tree.run(program, root: root) }

    /// Why a C++ file gets slash padding: the same site NUL-padded by hand (conda's binary
    /// mode) leaves both std::strings 75 bytes long with NULs inside, and `s + "/data"`
    /// then names the directory alone: the program no longer reads its data.
    @Test func nulPaddingBreaksCompiledInStringLengths() throws {
        let tree = try Self.build(purpose: "nul-padding")
        let new = tree.scratch.path("n")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tree.old + "/bin/cxxapp"))
        let old = Data((tree.old + "/share/app").utf8)
        let site = try #require(bytes.range(of: old))
        bytes.replaceSubrange(site, with: Data((new + "/share/app").utf8) + Data(count: old.count - (new + "/share/app").utf8.count))
        try bytes.write(to: URL(fileURLWithPath: tree.old + "/bin/cxxapp-nul"))
        try #require(chmod(tree.old + "/bin/cxxapp-nul", 0o755) == 0)
        try FileManager.default.moveItem(atPath: tree.old, toPath: new)
        let broken = try ChildProcess.run(new + "/bin/cxxapp-nul", [])
        #expect(broken.stdout == "\(old.count) \(old.count) |\n", "\(broken)")
    }

    /// To a longer prefix: the data strings cannot grow, so the run is refused naming each
    /// file, section and offset, and nothing at all is written; with --keep-going every
    /// other file (text, link) is relocated and the refused ones are left as they were.
    /// A Go string cannot grow either: its constant is named by its own offset, though no
    /// NUL is before or after it.
    @Test(arguments: ["gcc", "aarch64-linux-gnu-gcc"])
    func longerPrefixIsRefusedAndWritesNothing(compiler: String) throws {
        guard Self.toolsPresent(compiler) else {
            Issue.record("\(compiler), its g++, go or \(Self.qemu) missing: run scripts/install-test-deps")
            return
        }
        let tree = try Self.build(compiler: compiler, purpose: "longer", go: true)
        let new = tree.scratch.path("a_much_longer_prefix_than_the_placeholder_was_when_it_was_built/x/y")
        let original = try Tree.snapshot(tree.old)
        let result = try Swelf.run(["relocate", tree.old, new, tree.old])
        #expect(result.status == 1, "\(result)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tree.old + "/bin/app"))
        let offset = try #require(bytes.range(of: Data((tree.old + "/share/app/data").utf8))).lowerBound
        #expect(result.stderr.contains("\(tree.old)/bin/app: .rodata at offset 0x\(String(offset, radix: 16)): the new string is"), "\(result.stderr)")
        #expect(result.stderr.contains("\(tree.old)/lib/libgreet.so: .rodata at offset 0x"), "\(result.stderr)")
        let go = try Data(contentsOf: URL(fileURLWithPath: tree.old + "/bin/goapp"))
        let constant = try #require(go.range(of: Data((tree.old + "/share/app/data").utf8))).lowerBound
        #expect(go[constant - 1] != 0 && go[constant + (tree.old + "/share/app/data").utf8.count] != 0, "the constant is not packed")
        #expect(result.stderr.contains("\(tree.old)/bin/goapp: .rodata at offset 0x\(String(constant, radix: 16)): "), "\(result.stderr)")
        #expect(try Tree.snapshot(tree.old) == original)
        // Nothing written, so every program still runs where it was built.
        #expect(try tree.run("goapp", root: tree.old).stdout == Self.goOutput(tree, strings: tree.old))

        // Named through a link to the tree (walked, as find -H does).
        let link = tree.scratch.path("current")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: tree.old)
        let going = try Swelf.run(["relocate", "--keep-going", tree.old, new, link])
        #expect(going.status == 1, "\(going)")
        let now = try Tree.snapshot(tree.old)
        for name in ["bin/app", "bin/cxxapp", "bin/goapp", "lib/libgreet.so", "share/app/data"] { #expect(now[name] == original[name], "\(name)") }
        #expect(now["lib/libgreet.so.1"] == "-> \(new)/lib/libgreet.so")
        #expect(try String(contentsOfFile: tree.old + "/bin/run.sh", encoding: .utf8) == "#!/bin/sh\nexec $RUN_UNDER \(new)/bin/app \"$@\"\n")
    }

    /// A→B→A with B as long as A: every program runs at B, and every file comes back byte
    /// for byte (the engine rewrites the run path in place, the data strings, C++'s and
    /// Go's too, keep their length), modes and links too.
    @Test(arguments: ["gcc", "aarch64-linux-gnu-gcc"])
    func sameLengthRoundTripIsByteIdentical(compiler: String) throws {
        guard Self.toolsPresent(compiler) else {
            Issue.record("\(compiler), its g++, go or \(Self.qemu) missing: run scripts/install-test-deps")
            return
        }
        let tree = try Self.build(compiler: compiler, purpose: "round-trip", go: true)
        let same = tree.old.replacingOccurrences(of: "build_placehold", with: "BUILD_PLACEHOLD")
        #expect(same.utf8.count == tree.old.utf8.count)
        let original = try Tree.snapshot(tree.old)
        let there = try Swelf.run(["relocate", tree.old, same, tree.old])
        #expect(there.status == 0, "\(there)")
        #expect(there.stdout.hasSuffix("relocate: 8 files scanned, 7 changed, 10 sites, 0 refused\n"), "\(there.stdout)")
        let middle = try Tree.snapshot(tree.old)
        #expect(middle != original)
        #expect(try Self.filesHolding(tree.old, under: tree.old) == [])
        // At B (the parent renamed, so the old place is gone meanwhile), every program runs.
        let oldParent = (tree.old as NSString).deletingLastPathComponent, sameParent = (same as NSString).deletingLastPathComponent
        try FileManager.default.moveItem(atPath: oldParent, toPath: sameParent)
        let app = try tree.run("app", root: same)
        #expect(app.status == 0 && app.stdout == "\(same)/etc/greet.conf|\(same)/share/app/data|PATH=\(same)/bin:\(same)/sbin|hello data\n",
                "\(app)")
        let length = (tree.old + "/share/app").utf8.count
        #expect(try tree.run("cxxapp", root: same).stdout == "\(length) \(length) hello data|hello data\n")
        let go = try tree.run("goapp", root: same)
        #expect(go.status == 0 && go.stdout == Self.goOutput(tree, strings: same), "\(go)")
        try FileManager.default.moveItem(atPath: sameParent, toPath: oldParent)
        let back = try Swelf.run(["relocate", same, tree.old, tree.old])
        #expect(back.status == 0, "\(back)")
        #expect(try Tree.snapshot(tree.old) == original)
    }

    /// --dry-run lists every site and writes nothing; --json gives the same sites, each
    /// with kind, section and offset (the offset found again by a plain byte search).
    @Test func dryRunAndJSONListTheSites() throws {
        let tree = try Self.build(purpose: "dry-run")
        let new = tree.scratch.path("n")
        let original = try Tree.snapshot(tree.old)
        let text = try Swelf.run(["relocate", "--dry-run", tree.old, new, tree.old])
        #expect(text.status == 0, "\(text)")
        #expect(text.stdout.contains("\(tree.old)/bin/app: run_path: \(tree.old)/lib -> \(new)/lib\n"), "\(text.stdout)")
        #expect(text.stdout.contains("\(tree.old)/lib/libgreet.so.1: symlink: \(tree.old)/lib/libgreet.so -> \(new)/lib/libgreet.so\n"))
        #expect(text.stdout.hasSuffix("relocate: 7 files scanned, 6 to change, 8 sites, 0 refused\n"), "\(text.stdout)")
        // Valid by docs/json-schema.json, as every command's JSON.
        let document = try JSONSchemaTests.validated(["relocate", "--dry-run", "--json", tree.old, new, tree.old], command: "relocate")
        #expect(try Tree.snapshot(tree.old) == original)
        #expect(document["ok"] as? Bool == true)
        let files = try #require(document["files"] as? [[String: Any]])
        let app = try #require(files.first { $0["file"] as? String == tree.old + "/bin/app" })
        let sites = try #require(app["sites"] as? [[String: Any]])
        let data = sites.filter { $0["kind"] as? String == "data" }
        #expect(data.count == 2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: tree.old + "/bin/app"))
        for site in data {
            let before = try #require(site["before"] as? String)
            #expect(site["section"] as? String == ".rodata")
            #expect(site["offset"] as? Int == bytes.range(of: Data(before.utf8) + Data([0]))?.lowerBound, "\(site)")
            #expect(site["padding"] as? String == "nul")
        }
        let cxx = try #require(files.first { $0["file"] as? String == tree.old + "/bin/cxxapp" })
        #expect((cxx["sites"] as? [[String: Any]])?.first?["padding"] as? String == "slash")
    }

    /// What nothing rewrites is listed as left, with its reason, and is all a search for
    /// OLD finds afterwards: a program built with -g in OLD/src (its DWARF names the build
    /// directory, never loaded) and a binary file that is not ELF.
    @Test func leftoversAreListedAndAreAllThatRemains() throws {
        let tree = try Self.build(purpose: "left")
        try FileManager.default.createDirectory(atPath: tree.old + "/src", withIntermediateDirectories: true)
        try "#include <stdio.h>\nint main(void) { puts(PREFIX \"/share\"); return 0; }\n"
            .write(toFile: tree.old + "/src/dbg.c", atomically: true, encoding: .utf8)
        let compiled = try ChildProcess.run("/bin/sh", ["-c", "cd '\(tree.old)/src' && gcc -g -O2 -DPREFIX='\"\(tree.old)\"' -o ../bin/dbg dbg.c"])
        try #require(compiled.status == 0, "\(compiled)")
        try (Data([0, 1, 2]) + Data((tree.old + "/x").utf8) + Data([0])).write(to: URL(fileURLWithPath: tree.old + "/blob.bin"))
        let new = tree.scratch.path("n")
        let result = try Swelf.run(["relocate", tree.old, new, tree.old])
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("\(tree.old)/bin/dbg: left: 1 occurrence(s) in .debug_line_str: not loaded"), "\(result.stdout)")
        #expect(result.stdout.contains("\(tree.old)/blob.bin: left: 1 occurrence(s) in a file that is neither ELF nor text"), "\(result.stdout)")
        #expect(result.stdout.hasSuffix(", 0 refused, 2 left\n"), "\(result.stdout)")
        try FileManager.default.moveItem(atPath: tree.old, toPath: new)
        #expect(try Self.filesHolding(tree.old, under: new) == ["bin/dbg", "blob.bin"])
        let dbg = try ChildProcess.run(new + "/bin/dbg", [])
        #expect(dbg.stdout == new + "/share\n", "\(dbg)")
    }

    /// The matching rule, case by case (written from the README's rule, not the code).
    @Test func prefixMatchesOnlyWhereAPathStarts() throws {
        let map = try RelocationMap([(Array("/opt/a".utf8), Array("/n".utf8))])
        func apply(_ text: String, anywhere: Bool = true) -> String? {
            map.apply(to: Array(text.utf8)[...], anywhere: anywhere).map { String(decoding: $0.result, as: UTF8.self) }
        }
        #expect(apply("/opt/a") == "/n")
        #expect(apply("/opt/a/lib") == "/n/lib")
        #expect(apply("/opt/ab/lib") == nil)
        #expect(apply("/x/opt/a/lib") == nil)
        #expect(apply("PATH=/opt/a/bin:/opt/a/sbin") == "PATH=/n/bin:/n/sbin")
        #expect(apply("-I/opt/a/include") == nil)   // after a letter: not a path start
        #expect(apply("'/opt/a/x' \"/opt/a/y\"\n/opt/a;/opt/a,/opt/a\t/opt/a") == "'/n/x' \"/n/y\"\n/n;/n,/n\t/n")
        #expect(apply("/opt/a:/usr/lib", anywhere: false) == "/n:/usr/lib")
        #expect(apply("x:/opt/a", anywhere: false) == nil)
        #expect(map.apply(to: Array("/opt/a/lib".utf8)[...], anywhere: true, padWithSlashes: true)
                    .map { String(decoding: $0.result, as: UTF8.self) } == "/n/////lib")   // 4 extra, then the original /
        // The longest OLD wins where both match (they cannot be path prefixes of each other).
        let two = try RelocationMap([(Array("/opt/a".utf8), Array("/1".utf8)), (Array("/opt/abc".utf8), Array("/2".utf8))])
        #expect(two.apply(to: Array("/opt/abc/x:/opt/a/y".utf8)[...], anywhere: true).map { String(decoding: $0.result, as: UTF8.self) }
                == "/2/x:/1/y")
    }

    /// The planner's rule and the verifier's, two implementations, agree on random strings
    /// built from prefixes, separators and path pieces (either padding): a disagreement
    /// would be a file the verifier refuses, or worse, accepts wrongly.
    @Test func plannerAndVerifierAgreeOnRandomStrings() throws {
        let pairs: [(old: [UInt8], new: [UInt8])] = [(Array("/opt/pkg".utf8), Array("/n".utf8)), (Array("/build/x".utf8), Array("/build/yy".utf8))]
        let map = try RelocationMap(pairs)
        let check = RelocationDataCheck(original: [], edited: [], pairs: map.pairs.map { (old: $0.old, new: $0.new) })
        let pieces = ["/opt/pkg", "/build/x", "/opt/pkgs", "/lib", "a", ":", "=", ";", " ", "\"", "'", ",", "/", "x/opt/pkg", "-L"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 5000 {
            let string = (0 ..< Int.random(in: 1 ... 8, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let bytes = Array(string.utf8)
            for slashes in [false, true] {
                let planned = map.apply(to: bytes[...], anywhere: true, padWithSlashes: slashes)?.result ?? bytes
                #expect(planned == check.rewritten(bytes, slashes: slashes), "\(string) slashes: \(slashes)")
            }
        }
    }

    /// Bad input: each refused with one line on stderr, nothing written.
    @Test func badInputIsRefusedWithOneLine() throws {
        let tree = try Self.build(purpose: "bad-input")
        let original = try Tree.snapshot(tree.old)
        for (arguments, status, message) in [
            (["relocate", "", "/x", tree.old], 64, "OLD is empty"),
            (["relocate", "/", "/x", tree.old], 64, "OLD is '/'"),
            (["relocate", "--map", "/a=/b", "--map", "/a/c=/d", tree.old], 64, "'/a' is a path prefix of '/a/c'"),
            (["relocate", "--map", "/a=/b", "--map", "/a/=/c", tree.old], 64, "'/a' is a path prefix of '/a'"),
            (["relocate", "relative", "/x", tree.old], 64, "OLD 'relative' is not an absolute path"),
            (["relocate", tree.old, "/x"], 64, "relocate: no paths given"),
        ] as [([String], Int32, String)] {
            let result = try Swelf.run(arguments)
            #expect(result.status == status, "\(arguments): \(result)")
            // One error line (a usage error that the help answers is followed by the usual
            // "Try 'swelf --help'" hint).
            let lines = result.stderr.split(separator: "\n").filter { !$0.hasPrefix("Try 'swelf --help'") }
            #expect(lines.count == 1 && lines[0].contains(message), "\(arguments): \(result.stderr)")
        }
        // A NUL cannot be passed in argv; the map refuses it where it could come from.
        #expect(throws: RelocationMap.Invalid.self) { try RelocationMap([(Array("/a".utf8), Array("/b\u{0}c".utf8))]) }
        do {
            _ = try RelocationMap([(Array("/a".utf8), Array("/b\u{0}c".utf8))])
        } catch {
            #expect(error.description.contains("NEW '/b\u{0}c' contains a NUL byte"))
        }
        // A FIFO given as PATH: one line, and it is never opened (that would block).
        let fifo = tree.scratch.path("fifo")
        try #require(mkfifo(fifo, 0o644) == 0)
        let fifoResult = try Swelf.run(["relocate", tree.old, "/x", fifo])
        #expect(fifoResult.status == 1 && fifoResult.stderr == "swelf: \(fifo): not a regular file, directory or symbolic link; left alone\n",
                "\(fifoResult)")
        // A file that may not be written (immutable for root, who may write any mode;
        // read-only by mode otherwise): one line naming it, and no other file is written.
        let locked = tree.old + "/lib/pkgconfig/greet.pc"
        if getuid() == 0 {
            guard (try ChildProcess.run("chattr", ["+i", locked])).status == 0 else {
                Issue.record("chattr +i failed on the scratch file system")
                return
            }
        } else {
            try #require(chmod(locked, 0o444) == 0)
        }
        defer { _ = try? ChildProcess.run("chattr", ["-i", locked]) }
        let readOnly = try Swelf.run(["relocate", tree.old, tree.scratch.path("n"), tree.old])
        _ = try? ChildProcess.run("chattr", ["-i", locked])
        #expect(readOnly.status == 1, "\(readOnly)")
        let lines = readOnly.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains(locked), "\(readOnly.stderr)")
        var now = try Tree.snapshot(tree.old)
        now["lib/pkgconfig/greet.pc"] = original["lib/pkgconfig/greet.pc"]   // its mode, for the non-root case
        #expect(now == original)
    }

    /// The verifier's Go rule, judged on a real Go program: the planner's patches (one per
    /// occurrence of OLD, the packed constant and the -X string) pass; NUL padding, a
    /// slash too few, and a changed byte of the Go string packed before the constant fail.
    @Test func dataVerifierJudgesGoStringsPerOccurrence() throws {
        guard Self.toolsPresent("gcc") else {
            Issue.record("go missing: run scripts/install-test-deps")
            return
        }
        let tree = try Self.build(purpose: "go-verifier", go: true)
        let path = tree.old + "/bin/goapp"
        let new = tree.scratch.path("n")
        let map = try RelocationMap([(Array(tree.old.utf8), Array(new.utf8))])
        let plan = try #require(try RelocationPlanner(map: map).plan(path: path))
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let old = Array(tree.old.utf8)
        // Each patch is at an occurrence of OLD (a plain search), in OLD's bytes alone.
        #expect(plan.dataPatches.count == 2)
        for patch in plan.dataPatches {
            #expect(Array(original[Int(patch.offset) ..< Int(patch.offset) + old.count]) == old && patch.bytes.count == old.count)
        }
        func applied(_ patches: [(offset: UInt64, bytes: [UInt8])]) -> [UInt8] {
            var bytes = original
            for patch in patches { bytes.replaceSubrange(Int(patch.offset) ..< Int(patch.offset) + patch.bytes.count, with: patch.bytes) }
            return bytes
        }
        let pairs = map.pairs.map { (old: $0.old, new: $0.new) }
        #expect(RelocationDataCheck(original: original, edited: applied(plan.dataPatches), pairs: pairs).problems() == [])

        let constant = try #require(Data(original).range(of: Data((tree.old + "/share/app/data").utf8))).lowerBound
        let slashes = [UInt8](repeating: UInt8(ascii: "/"), count: old.count - new.utf8.count)
        var sabotages: [(String, [(offset: UInt64, bytes: [UInt8])])] = [
            ("NUL padding", [(UInt64(constant), Array(new.utf8) + [UInt8](repeating: 0, count: old.count - new.utf8.count))]),
            ("a slash too few", [(UInt64(constant), Array(new.utf8) + slashes.dropLast() + [UInt8(ascii: "s")])]),
        ]
        sabotages.append(("the string before", [(UInt64(constant - 1), [UInt8(ascii: "x")] + Array(new.utf8) + slashes)]))
        for (name, patches) in sabotages {
            #expect(!RelocationDataCheck(original: original, edited: applied(patches), pairs: pairs).problems().isEmpty, "\(name)")
        }
    }

    /// The data-string verifier, judged on a real binary: the planner's patches pass; one
    /// byte changed outside a site, a wrong padding byte, a string without OLD changed,
    /// and a NUL terminator overwritten each fail. And through the pipeline: a bad patch
    /// is refused before anything is written.
    @Test func dataVerifierRejectsSabotage() throws {
        let tree = try Self.build(purpose: "verifier")
        let path = tree.old + "/bin/app"
        let map = try RelocationMap([(Array(tree.old.utf8), Array(tree.scratch.path("n").utf8))])
        let plan = try #require(try RelocationPlanner(map: map).plan(path: path))
        #expect(plan.dataPatches.count == 2)
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        var edited = original
        for patch in plan.dataPatches { edited.replaceSubrange(Int(patch.offset) ..< Int(patch.offset) + patch.bytes.count, with: patch.bytes) }
        let pairs = map.pairs.map { (old: $0.old, new: $0.new) }
        #expect(RelocationDataCheck(original: original, edited: edited, pairs: pairs).problems() == [])

        let site = Int(plan.dataPatches[0].offset)
        let newLength = try #require(plan.dataPatches[0].bytes.firstIndex(of: 0))
        var sabotages: [(String, [UInt8])] = []
        var outside = edited
        outside[64] ^= 0x01   // in the program headers, no string site
        sabotages.append(("outside", outside))
        var padding = edited
        padding[site + newLength + 1] = UInt8(ascii: "x")
        sabotages.append(("padding", padding))
        var terminator = edited
        let end = site + plan.dataPatches[0].bytes.count
        terminator[end] = UInt8(ascii: "/")
        sabotages.append(("terminator", terminator))
        var unrelated = edited
        let other = try #require(Data(original).range(of: Data("cannot open".utf8))).lowerBound
        unrelated[other] = UInt8(ascii: "C")
        sabotages.append(("string without OLD", unrelated))
        for (name, bytes) in sabotages {
            #expect(!RelocationDataCheck(original: original, edited: bytes, pairs: pairs).problems().isEmpty, "\(name)")
        }

        // The pipeline: a patch that writes one byte too many (over the NUL) is refused by
        // the data check, and the file keeps its bytes.
        var bad = plan.dataPatches
        bad[0].bytes.append(UInt8(ascii: "/"))
        #expect(throws: RewriteError.self) {
            _ = try Rewriter(durable: false).prepareRelocation(path: path, dataPatches: bad, pairs: pairs, request: plan.request)
        }
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == original)
        // The good plan goes through.
        let prepared = try Rewriter(durable: false).prepareRelocation(path: path, dataPatches: plan.dataPatches, pairs: pairs,
                                                                      request: plan.request)
        #expect(Rewriter(durable: false).commitRelocations([prepared]).allSatisfy { $0 == nil })
        #expect(try Self.readelfRunPath(path) == tree.scratch.path("n") + "/lib")
    }
}
