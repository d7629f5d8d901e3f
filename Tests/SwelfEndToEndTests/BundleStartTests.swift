import Foundation
import XCTest

/// `swelf bundle` keeps its promises or refuses: never written into its sources, never
/// merged into a directory it did not write, a loader path the target has, an error when
/// the bundle would not start on its target, and plugins and helpers where their program
/// looks for them. Programs are built here with gcc and the bundles are run; the oracle
/// is the real loader (and, for the sources, their bytes before and after).
final class BundleStartTests: EndToEndTestCase {
    override class var requiredTools: [String] { ["/usr/bin/gcc"] }

    func sh(_ script: String, cwd: URL, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runTool("/bin/sh", ["-ec", script], cwd: cwd, timeout: 300)
        guard r.status == 0 else {
            XCTFail("[\(context)] \(r.summary)", file: file, line: line)
            throw MissingTool(path: "/bin/sh", hint: "fixture build failed: \(context)")
        }
    }

    /// Every entry under `directory`: a regular file's bytes, a link's target, "dir".
    func snapshot(_ directory: URL) -> [String: Data] {
        var result: [String: Data] = [:]
        for relative in (FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String]) ?? [] {
            let path = directory.appendingPathComponent(relative).path
            var status = stat()
            guard lstat(path, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFREG: result[relative] = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
            case S_IFLNK: result[relative] = Data(("link:" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "")).utf8)
            default: result[relative] = Data("dir".utf8)
            }
        }
        return result
    }

    /// src/bin/hello, linked to src/lib/libf.so.1 (a soname link to libf.so.1.0) through
    /// `$ORIGIN/../lib`: the shape of the tree the user bundled into itself.
    func makeHelloTree(_ sandbox: ScratchDirectory) throws -> URL {
        let src = try sandbox.dir("src")
        try sh("""
            mkdir -p bin lib
            printf 'int f(void) { return 4; }\\n' > f.c
            printf '#include <stdio.h>\\nint f(void);\\nint main(void) { printf("hello %%d\\\\n", f()); return 0; }\\n' > hello.c
            gcc -shared -fPIC -o lib/libf.so.1.0 -Wl,-soname,libf.so.1 f.c
            ln -s libf.so.1.0 lib/libf.so.1
            gcc -o bin/hello hello.c lib/libf.so.1 '-Wl,-rpath,$ORIGIN/../lib'
            """, cwd: src, "build the hello tree")
        XCTAssertEqual(try runTool(src.appendingPathComponent("bin/hello").path, []).stdout, "hello 4\n")
        return src
    }

    /// An output directory that is, holds or lies inside an input's tree, however it is
    /// spelt (a link to it, `..`): refused with one line on stderr, nothing written, the
    /// sources byte for byte as before. A library source counts as an input.
    func testOutputInsideTheInputTreeIsRefusedAndTheSourcesStayUntouched() throws {
        let sandbox = try ScratchDirectory("bundle-self")
        let src = try makeHelloTree(sandbox)
        try FileManager.default.createSymbolicLink(atPath: sandbox.path("alias"), withDestinationPath: src.path)
        let before = snapshot(src)
        let hello = src.appendingPathComponent("bin/hello").path
        let cases: [(output: String, inputs: [String], names: String)] = [
            (src.path, [hello], "contains the input"),                                     // the issue's `-o $PWD $PWD/bin/hello`
            (sandbox.path("alias") + "/bin/..", [hello], "contains the input"),           // the same directory through a link and ..
            (src.appendingPathComponent("dist").path, [src.path], "is inside the input directory"),
            (src.path, [src.path], "is inside the input directory"),
            (src.appendingPathComponent("lib").path, [hello], "contains the input"),      // where its library comes from
        ]
        for (output, inputs, names) in cases {
            let r = try swelf(["bundle", "-o", output] + inputs)
            XCTAssertEqual(r.status, 1, "\(output) \(inputs): \(r.summary)")
            XCTAssertTrue(r.stderr.contains(names), "\(output): \(r.summary)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.summary)")
            XCTAssertEqual(r.stdout, "", r.summary)
            XCTAssertEqual(snapshot(src), before, "the sources changed with -o \(output)")
        }
        XCTAssertEqual(try runTool(hello, []).stdout, "hello 4\n")
        // Apart from the sources it is written, and runs.
        let out = sandbox.url.appendingPathComponent("dist")
        let ok = try swelf(["bundle", "-o", out.path, hello])
        XCTAssertEqual(ok.status, 0, ok.summary)
        XCTAssertEqual(try runTool(out.appendingPathComponent("bin/hello").path, []).stdout, "hello 4\n")
        XCTAssertEqual(snapshot(src), before)
    }

    /// A non-empty output directory is refused; `--update` replaces only what the
    /// previous bundle wrote (its manifest), removes what the new one no longer has,
    /// leaves the user's files and does not count them; a file of the user's where the
    /// bundle would write is refused.
    func testStaleOutputDirectoryIsRefusedAndUpdateReplacesOnlyTheBundle() throws {
        let sandbox = try ScratchDirectory("bundle-stale")
        let src = try makeHelloTree(sandbox)
        try sh("""
            printf 'int main(void) { return 0; }\\n' > plain.c
            gcc -o bin/plain plain.c
            """, cwd: src, "build plain")
        let out = sandbox.url.appendingPathComponent("dist")
        let first = try swelf(["bundle", "-o", out.path, src.appendingPathComponent("bin/hello").path])
        XCTAssertEqual(first.status, 0, first.summary)
        try "mine\n".write(to: out.appendingPathComponent("NOTES"), atomically: true, encoding: .utf8)
        let before = snapshot(out)

        let refused = try swelf(["bundle", "-o", out.path, src.appendingPathComponent("bin/plain").path])
        XCTAssertEqual(refused.status, 1, refused.summary)
        XCTAssertTrue(refused.stderr.contains("\(out.path) is not empty") && refused.stderr.contains("--update"), refused.summary)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.summary)
        XCTAssertEqual(snapshot(out), before, "a refused run changed the directory")

        let updated = try swelf(["bundle", "--update", "-o", out.path, src.appendingPathComponent("bin/plain").path])
        XCTAssertEqual(updated.status, 0, updated.summary)
        let after = snapshot(out)
        XCTAssertNil(after["bin/hello"], "the old bundle's program stays")
        XCTAssertNil(after["lib/libf.so.1"], "the old bundle's library stays")
        XCTAssertEqual(after["NOTES"], Data("mine\n".utf8), "the user's file was touched")
        XCTAssertNotNil(after["bin/plain"])
        XCTAssertTrue(updated.stdout.contains("removed (the previous bundle's, not written again):\n  bin/hello\n  lib/libf.so.1"), updated.stdout)
        XCTAssertTrue(updated.stdout.contains("portability: 1 file"), "only the bundle's files are counted:\n\(updated.stdout)")
        XCTAssertFalse(updated.stdout.contains("NOTES"), updated.stdout)
        XCTAssertEqual(try runTool(out.appendingPathComponent("bin/plain").path, []).status, 0)

        // A file the bundle did not write, where it would write: refused even with --update.
        try FileManager.default.removeItem(at: out.appendingPathComponent("lib"))
        try FileManager.default.createDirectory(at: out.appendingPathComponent("lib"), withIntermediateDirectories: false)
        try "user's\n".write(to: out.appendingPathComponent("lib/libf.so.1"), atomically: true, encoding: .utf8)
        let inTheWay = try swelf(["bundle", "--update", "-o", out.path, src.appendingPathComponent("bin/hello").path])
        XCTAssertEqual(inTheWay.status, 1, inTheWay.summary)
        XCTAssertTrue(inTheWay.stderr.contains("lib/libf.so.1 exists and was not written by a previous bundle"), inTheWay.summary)
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("lib/libf.so.1"), encoding: .utf8), "user's\n")

        // A regular file as the output is named as one (it once said "a symbolic link is refused").
        let file = sandbox.url.appendingPathComponent("a-file")
        try "x".write(to: file, atomically: true, encoding: .utf8)
        let notDirectory = try swelf(["bundle", "-o", file.path, src.appendingPathComponent("bin/plain").path])
        XCTAssertEqual(notDirectory.status, 1, notDirectory.summary)
        XCTAssertTrue(notDirectory.stderr.contains("exists and is not a directory"), notDirectory.summary)
        XCTAssertFalse(notDirectory.stderr.contains("symbolic link"), notDirectory.summary)
    }

    /// A program whose PT_INTERP is a build machine's /nix/store loader does not start
    /// anywhere else; the bundle gives it the target's standard loader, and it runs.
    func testNixStoreInterpreterIsReplacedByTheStandardLoader() throws {
        let sandbox = try ScratchDirectory("bundle-nix")
        let src = try makeHelloTree(sandbox)
        let nixLoader = "/nix/store/7ba9s1ny8mw4v8xnzl4mi8mb2zdqnxn9-glibc-2.38-44/lib/ld-linux-x86-64.so.2"
        let program = src.appendingPathComponent("bin/hello-nix")
        let set = try swelf(["--set-interpreter", nixLoader, "--output", program.path, src.appendingPathComponent("bin/hello").path])
        XCTAssertEqual(set.status, 0, set.summary)
        XCTAssertEqual(try interpreter(program), nixLoader)
        XCTAssertNotEqual(try runTool("/bin/sh", ["-c", shellQuote(program.path)]).status, 0, "the source starts here: the test proves nothing")

        let out = sandbox.url.appendingPathComponent("dist")
        let r = try swelf(["bundle", "-o", out.path, program.path])
        XCTAssertEqual(r.status, 0, r.summary)
        let copy = out.appendingPathComponent("bin/hello-nix")
        XCTAssertEqual(try interpreter(copy), "/lib64/ld-linux-x86-64.so.2")
        XCTAssertTrue(r.stdout.contains("interpreter /lib64/ld-linux-x86-64.so.2, was \(nixLoader)"), r.stdout)
        let run = try runTool(copy.path, [])
        XCTAssertEqual(run.stdout, "hello 4\n", run.summary)
        XCTAssertEqual(try interpreter(program), nixLoader, "the source changed")

        // --interpreter chooses it; a loader that is not there is an error (exit 1)
        // naming the program and the loader, unless --allow-broken.
        let chosen = sandbox.url.appendingPathComponent("dist-chosen")
        let missing = try swelf(["bundle", "--interpreter", "/opt/none/ld.so", "-o", chosen.path, program.path])
        XCTAssertEqual(missing.status, 1, missing.summary)
        XCTAssertTrue(missing.stderr.contains("\(chosen.path)/bin/hello-nix would not start") && missing.stderr.contains("/opt/none/ld.so"),
                      missing.summary)
        XCTAssertEqual(try interpreter(chosen.appendingPathComponent("bin/hello-nix")), "/opt/none/ld.so")
        let kept = try swelf(["bundle", "--update", "--allow-broken", "--interpreter", "/opt/none/ld.so", "-o", chosen.path, program.path])
        XCTAssertEqual(kept.status, 0, kept.summary)
        XCTAssertTrue(kept.stderr.contains("would not start"), kept.summary)
    }

    /// A root whose glibc is older than the program needs (this machine's libc.so.6 and
    /// loader with every version from GLIBC_2.34 on renamed): the bundle is an error
    /// naming the version and the symbol that needs it; the real loader in that root
    /// agrees. `--allow-broken` keeps it.
    func testRootWithTooOldGlibcIsAnErrorNamingTheSymbol() throws {
        let sandbox = try ScratchDirectory("bundle-oldroot")
        let src = try makeHelloTree(sandbox)
        let program = src.appendingPathComponent("bin/hello").path
        XCTAssertTrue(try readelf(["-V", program]).stdout.contains("GLIBC_2.34"), "the program does not need GLIBC_2.34")
        let root = try sandbox.dir("root")
        for directory in ["lib64", "lib/x86_64-linux-gnu"] { _ = try sandbox.dir("root/" + directory) }
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        let loader = URL(fileURLWithPath: "/lib64/ld-linux-x86-64.so.2").resolvingSymlinksInPath()
        let definitions = try readelf(["-V", libc]).stdout.components(separatedBy: .whitespacesAndNewlines).filter { $0.hasPrefix("GLIBC_2.") }
        let removed = Set(definitions.filter { name in
            let numbers = name.dropFirst("GLIBC_".count).split(separator: ".").compactMap { Int($0) }
            return numbers.count >= 2 && (numbers[0], numbers[1]) >= (2, 34)
        })
        XCTAssertTrue(removed.contains("GLIBC_2.34"), "\(removed)")
        // Same length, another last letter: the names the program needs are gone.
        func old(_ data: Data) -> Data {
            var data = data
            for (index, name) in removed.sorted().enumerated() {
                let renamed = Data([0]) + Data(name.dropLast().utf8) + Data([UInt8(ascii: "a") + UInt8(index % 26)]) + Data([0])
                while let range = data.range(of: Data([0]) + Data(name.utf8) + Data([0])) { data.replaceSubrange(range, with: renamed) }
            }
            return data
        }
        try old(try Data(contentsOf: loader)).write(to: root.appendingPathComponent("lib64/ld-linux-x86-64.so.2"))
        chmod(root.appendingPathComponent("lib64/ld-linux-x86-64.so.2").path, 0o755)
        try old(try Data(contentsOf: URL(fileURLWithPath: libc))).write(to: root.appendingPathComponent("lib/x86_64-linux-gnu/libc.so.6"))

        let out = sandbox.url.appendingPathComponent("dist")
        let r = try swelf(["bundle", "--root", root.path, "-o", out.path, program])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("\(out.path)/bin/hello would not start"), r.summary)
        XCTAssertTrue(r.stderr.contains("GLIBC_2.34") && r.stderr.contains("__libc_start_main"), "the version and the symbol: \(r.summary)")
        XCTAssertTrue(r.stdout.contains("would not start:"), r.stdout)
        // The oracle: the real loader of that root refuses the bundled program on that version.
        let run = try runTool("/usr/bin/env", ["-i", root.path + "/lib64/ld-linux-x86-64.so.2", "--library-path",
                                               root.path + "/lib/x86_64-linux-gnu", out.appendingPathComponent("bin/hello").path])
        XCTAssertNotEqual(run.status, 0, run.summary)
        XCTAssertTrue(run.stderr.contains("version `GLIBC_2.34' not found"), run.summary)

        XCTAssertTrue(r.stderr.contains("its newest GLIBC_ version is GLIBC_2.33"), "how far the root is behind: \(r.summary)")
        let kept = try swelf(["bundle", "--update", "--allow-broken", "--json", "--root", root.path, "-o", out.path, program])
        XCTAssertEqual(kept.status, 0, kept.summary)
        XCTAssertTrue(kept.stderr.contains("GLIBC_2.34"), kept.summary)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(kept.stdout.utf8)) as? [String: Any], kept.stdout)
        let starts = try XCTUnwrap(document["starts"] as? [[String: Any]], kept.stdout)
        XCTAssertEqual(starts.first?["name"] as? String, "bin/hello")
        XCTAssertTrue(((starts.first?["reasons"] as? [String]) ?? []).contains { $0.contains("__libc_start_main") }, kept.stdout)
        // This machine's glibc is new enough: no error.
        let here = try swelf(["bundle", "--update", "-o", out.path, program])
        XCTAssertEqual(here.status, 0, here.summary)
    }

    /// The check and the report resolve as the bundle will start: without swelf's own
    /// LD_LIBRARY_PATH. A library left out by the policy but found through the caller's
    /// LD_LIBRARY_PATH (the build tree) does not make the bundle look as if it started.
    func testCheckResolvesWithoutTheCallersLoaderVariables() throws {
        let sandbox = try ScratchDirectory("bundle-env")
        let src = try makeHelloTree(sandbox)
        let policy = sandbox.url.appendingPathComponent("policy")
        try "exclude libf.so.*  comes with the image\n".write(to: policy, atomically: true, encoding: .utf8)
        let out = sandbox.url.appendingPathComponent("dist")
        let r = try runTool("/usr/bin/env", ["LD_LIBRARY_PATH=" + src.appendingPathComponent("lib").path, E2E.swelf, "bundle",
                                             "--policy", policy.path, "-o", out.path, src.appendingPathComponent("bin/hello").path])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("bin/hello would not start") && r.stderr.contains("libf.so.1"), r.summary)
        XCTAssertFalse(r.stdout.contains(src.appendingPathComponent("lib").path + "/libf.so"), "the report resolved through the build tree:\n\(r.stdout)")
    }

    /// A program that dlopen()s a plugin by a path relative to its own directory, a
    /// helper under libexec/, and a library named as an argument: the plugin is placed
    /// by `--plugin FILE:DIR` with a run path to the bundle's lib/ (where its own
    /// dependency goes), the helper keeps its place, the library goes to lib/. The
    /// bundle, moved and with the build tree gone, runs both.
    func testDlopenPluginIsPlacedAndFoundAndTheLayoutIsKept() throws {
        let sandbox = try ScratchDirectory("bundle-plugin")
        let build = try sandbox.dir("build")
        let b = build.path
        try sh("""
            mkdir -p \(b)/dep \(b)/plug \(b)/extra tree/bin tree/libexec/plugins
            printf 'int dep_value(void) { return 40; }\\n' > dep.c
            printf 'int dep_value(void);\\nint plug_value(void) { return 2 + dep_value(); }\\n' > plug.c
            printf 'int extra_value(void) { return 1; }\\n' > extra.c
            cat > app.c <<'EOF'
            #include <dlfcn.h>
            #include <libgen.h>
            #include <stdio.h>
            #include <unistd.h>
            int main(void) {
              char self[4096], path[4200];
              ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
              if (n < 0) return 2;
              self[n] = 0;
              snprintf(path, sizeof path, "%s/plugins/libplug.so", dirname(self));
              void *plugin = dlopen(path, RTLD_NOW);
              if (!plugin) { fprintf(stderr, "%s\\n", dlerror()); return 1; }
              int (*value)(void) = (int (*)(void))dlsym(plugin, "plug_value");
              printf("plugin %d\\n", value());
              return 0;
            }
            EOF
            printf '#include <stdio.h>\\nint dep_value(void);\\nint main(void) { printf("helper %%d\\\\n", dep_value()); return 0; }\\n' > helper.c
            gcc -shared -fPIC -o \(b)/dep/libdep.so.1 -Wl,-soname,libdep.so.1 dep.c
            gcc -shared -fPIC -o \(b)/plug/libplug.so -Wl,-soname,libplug.so plug.c \(b)/dep/libdep.so.1 -Wl,-rpath,\(b)/dep
            gcc -shared -fPIC -o \(b)/extra/libextra.so.1 -Wl,-soname,libextra.so.1 extra.c
            gcc -o tree/bin/app app.c
            gcc -o tree/libexec/plugins/helper helper.c \(b)/dep/libdep.so.1 -Wl,-rpath,\(b)/dep
            """, cwd: sandbox.url, "build the plugin subject")
        let tree = sandbox.url.appendingPathComponent("tree")
        let out = sandbox.url.appendingPathComponent("dist")
        let r = try swelf(["bundle", "-o", out.path, "--plugin", b + "/plug/libplug.so:bin/plugins", tree.path, b + "/extra/libextra.so.1"])
        XCTAssertEqual(r.status, 0, r.summary)
        let files = snapshot(out).keys.filter { !$0.hasSuffix("/") }.sorted()
        for expected in ["bin/app", "bin/plugins/libplug.so", "libexec/plugins/helper", "lib/libdep.so.1", "lib/libextra.so.1"] {
            XCTAssertTrue(files.contains(expected), "\(expected) not in \(files)")
        }
        XCTAssertFalse(files.contains("bin/helper"), "the helper was flattened into bin/: \(files)")
        XCTAssertFalse(files.contains("bin/libextra.so.1"), "a library went to bin/: \(files)")
        XCTAssertEqual(try dynamicValue(out.appendingPathComponent("bin/plugins/libplug.so"), tag: "RUNPATH"), ["$ORIGIN/../../lib"])
        XCTAssertEqual(try dynamicValue(out.appendingPathComponent("libexec/plugins/helper"), tag: "RUNPATH"), ["$ORIGIN/../../lib"])
        XCTAssertEqual(try dynamicValue(out.appendingPathComponent("lib/libextra.so.1"), tag: "RUNPATH"), ["$ORIGIN"])

        // Moved, and the build tree gone: only the bundle can supply the plugin's library.
        let moved = sandbox.url.appendingPathComponent("elsewhere/app")
        try FileManager.default.createDirectory(at: moved.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: out, to: moved)
        try FileManager.default.moveItem(at: build, to: sandbox.url.appendingPathComponent("build-gone"))
        let run = try runTool("/usr/bin/env", ["-i", moved.appendingPathComponent("bin/app").path])
        XCTAssertEqual(run.stdout, "plugin 42\n", run.summary)
        let helper = try runTool("/usr/bin/env", ["-i", moved.appendingPathComponent("libexec/plugins/helper").path])
        XCTAssertEqual(helper.stdout, "helper 40\n", helper.summary)

        // A plugin directory outside the bundle, and a relative --interpreter: usage errors.
        for bad in [["--plugin", "x.so:../up"], ["--plugin", "x.so:/abs"], ["--plugin", ":bin"], ["--interpreter", "lib/ld.so"]] {
            let usage = try swelf(["bundle", "-o", sandbox.path("never")] + bad + [tree.path])
            XCTAssertEqual(usage.status, 64, "\(bad): \(usage.summary)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: sandbox.path("never")))
        }
    }
}
