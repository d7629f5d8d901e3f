import Foundation
import XCTest

/// `swelf bundle`: programs with private libraries, built here with gcc (and the aarch64
/// cross gcc), bundled, moved to a new prefix inside a minimal root that holds only the
/// loader and glibc's libraries, and run there with an empty environment (chroot in a
/// private mount namespace, /proc mounted so that `$ORIGIN` can be computed). The oracle
/// is the real loader running the moved programs; `swelf doctor --root` must agree.
final class BundleTests: XCTestCase {
    /// What the x86_64 subject prints: the chain (100 + 20 + 3), the versioned library,
    /// the C++ library, and the copy of the duplicated soname that the loader takes.
    static let expected = "chain 123 ver 7 cxx 5 dup 1 abs 9\n"

    /// glibc's libraries a minimal x86_64 root holds, from this machine.
    static let glibcNames = ["libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libresolv.so.2"]

    struct Fixture {
        let sandbox: ScratchDirectory
        let build: URL
        /// The program, given to swelf through a symbolic link.
        let link: URL
        var path: String { sandbox.url.path }
    }

    func sh(_ script: String, cwd: URL? = nil, _ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try runTool("/bin/sh", ["-ec", script], cwd: cwd, timeout: 300)
        guard r.status == 0 else {
            XCTFail("[\(context)] \(r.summary)", file: file, line: line)
            throw MissingTool(path: "/bin/sh", hint: "fixture build failed: \(context)")
        }
    }

    /// Builds the x86_64 subject:
    /// - a chain app -> liba.so.1 -> libb.so.1 -> libc3.so.1, each found only through the
    ///   build-time absolute RUNPATH (or RPATH) of the one before; libc3.so.1 is a soname
    ///   link to libc3.so.1.2.3;
    /// - libver.so.1 with a version script (the program needs ver_value@VER_1);
    /// - libcxx.so.1, C++ (libstdc++, libgcc_s);
    /// - libdup.so.1 in dup1/ and dup2/ (both on the program's RUNPATH; they print 1 and 2);
    /// - the program imports dlopen (never called): its bundle must warn.
    func makeFixture(_ name: String) throws -> Fixture {
        try requireTool("/usr/bin/gcc", hint: "install gcc")
        try requireTool("/usr/bin/g++", hint: "install g++")
        let sandbox = try ScratchDirectory(name)
        let build = try sandbox.dir("build")
        let src = try sandbox.dir("src")
        let files: [String: String] = [
            "c.c": "int c_value(void) { return 3; }\n",
            "b.c": "int c_value(void);\nint b_value(void) { return 20 + c_value(); }\n",
            "a.c": "int b_value(void);\nint a_value(void) { return 100 + b_value(); }\n",
            "ver.c": "int ver_value(void) { return 7; }\n",
            "ver.map": "VER_1 { global: ver_value; local: *; };\n",
            "cxx.cc": "#include <string>\n#include <stdexcept>\nextern \"C\" int cxx_value(void) {\n  try { throw std::runtime_error(std::string(\"hello\")); }\n  catch (const std::exception &e) { return (int)std::string(e.what()).size(); }\n}\n",
            "dup1.c": "int dup_value(void) { return 1; }\n",
            "dup2.c": "int dup_value(void) { return 2; }\n",
            "abs.c": "int abs_value(void) { return 9; }\n",
            "abs.map": "ABS_1 { global: abs_value; local: *; };\n",
            "tool.c": "#include <stdio.h>\n#include <pwd.h>\nint a_value(void); int dup_value(void);\nstruct passwd *(*volatile lookup)(const char *) = getpwnam;\nint main(void) { printf(\"tool %d %d\\n\", a_value(), dup_value()); return 0; }\n",
            "app.c": """
                #include <stdio.h>
                #include <dlfcn.h>
                int a_value(void); int ver_value(void); int cxx_value(void); int dup_value(void); int abs_value(void);
                void *(*volatile keep)(const char *, int) = dlopen;
                int main(void) {
                  printf("chain %d ver %d cxx %d dup %d abs %d\\n", a_value(), ver_value(), cxx_value(), dup_value(), abs_value());
                  return 0;
                }

                """,
        ]
        for (file, text) in files { try text.write(to: src.appendingPathComponent(file), atomically: true, encoding: .utf8) }
        let b = build.path
        try sh("""
            mkdir -p \(b)/a \(b)/b \(b)/c \(b)/ver \(b)/cxx \(b)/dup1 \(b)/dup2 \(b)/abs \(b)/bin \(sandbox.url.path)/links
            gcc -shared -fPIC -o \(b)/c/libc3.so.1.2.3 -Wl,-soname,libc3.so.1 ../src/c.c
            ln -s libc3.so.1.2.3 \(b)/c/libc3.so.1
            ln -s libc3.so.1 \(b)/c/libc3.so
            gcc -shared -fPIC -o \(b)/b/libb.so.1 -Wl,-soname,libb.so.1 ../src/b.c -L\(b)/c -lc3 -Wl,--disable-new-dtags,-rpath,\(b)/c
            gcc -shared -fPIC -o \(b)/a/liba.so.1 -Wl,-soname,liba.so.1 ../src/a.c \(b)/b/libb.so.1 -Wl,-rpath-link,\(b)/c -Wl,--enable-new-dtags,-rpath,\(b)/b
            gcc -shared -fPIC -o \(b)/ver/libver.so.1 -Wl,-soname,libver.so.1 -Wl,--version-script,../src/ver.map ../src/ver.c
            g++ -shared -fPIC -o \(b)/cxx/libcxx.so.1 -Wl,-soname,libcxx.so.1 ../src/cxx.cc
            gcc -shared -fPIC -o \(b)/dup1/libdup.so.1 -Wl,-soname,libdup.so.1 ../src/dup1.c
            gcc -shared -fPIC -o \(b)/dup2/libdup.so.1 -Wl,-soname,libdup.so.1 ../src/dup2.c
            gcc -shared -fPIC -o \(b)/abs/libabs.so -Wl,--version-script,../src/abs.map ../src/abs.c
            gcc -o \(b)/bin/tool ../src/tool.c \(b)/a/liba.so.1 \(b)/dup2/libdup.so.1 -Wl,-rpath-link,\(b)/b:\(b)/c -Wl,-rpath,\(b)/a:\(b)/dup2
            gcc -o \(b)/bin/app ../src/app.c \(b)/a/liba.so.1 \(b)/ver/libver.so.1 \(b)/cxx/libcxx.so.1 \(b)/dup1/libdup.so.1 \(b)/abs/libabs.so \
                -Wl,-rpath-link,\(b)/b:\(b)/c -Wl,--enable-new-dtags,-rpath,\(b)/a:\(b)/ver:\(b)/cxx:\(b)/dup1:\(b)/dup2
            ln -s ../build/bin/app \(sandbox.url.path)/links/app-link
            """, cwd: src, "build the x86_64 subject")
        let link = sandbox.url.appendingPathComponent("links/app-link")
        let direct = try runTool(link.path, [])
        XCTAssertEqual(direct.stdout, BundleTests.expected, "the subject itself: \(direct.summary)")
        return Fixture(sandbox: sandbox, build: build, link: link)
    }

    /// A root holding only the loader and glibc's libraries (copied from `libraryDirectory`
    /// into `rootLibrary`), /proc to mount on, and the loader at `loaderPath`.
    func makeMinimalRoot(at root: URL, loaderPath: String, libraryDirectory: String, rootLibrary: String,
                         libraries: [String], extra: [String] = []) throws {
        var script = "mkdir -p \(root.path)/proc \(root.path)/opt \(root.path)/usr/bin \(root.path)\(rootLibrary) \(root.path)\(PathParts.directory(loaderPath))\n"
        let loaderName = PathParts.last(loaderPath)
        for name in libraries + [loaderName] {
            script += "cp -L \(libraryDirectory)/\(name) \(root.path)\(rootLibrary)/\(name)\n"
        }
        if "\(rootLibrary)/\(loaderName)" != loaderPath {
            script += "ln -s \(rootLibrary)/\(loaderName) \(root.path)\(loaderPath)\n"
        }
        for line in extra { script += line + "\n" }
        try sh(script, "make the minimal root")
    }

    /// A minimal root for this machine's programs: its x86_64 loader and glibc, nothing else.
    func makeMinimalHostRoot(at root: URL, extra: [String]) throws {
        try makeMinimalRoot(at: root, loaderPath: "/lib64/ld-linux-x86-64.so.2", libraryDirectory: "/lib/x86_64-linux-gnu",
                            rootLibrary: "/lib/x86_64-linux-gnu", libraries: BundleTests.glibcNames, extra: extra)
    }

    /// `swelf bundle OPTIONS -o SANDBOX/dist PROGRAM` on the fixture: the bundle's
    /// directory and the run.
    func bundle(_ fixture: Fixture, _ options: [String] = []) throws -> (out: URL, result: ProcessResult) {
        let out = fixture.sandbox.url.appendingPathComponent("dist")
        return (out, try swelf(["bundle"] + options + ["-o", out.path, fixture.link.path]))
    }

    /// The bundle `out` moved to /opt/newprefix of a minimal host root (then `extra`'s
    /// shell lines, given the root), its app-link run there, and doctor's verdict on it.
    func runMovedBundle(_ out: URL, _ fixture: Fixture, extra: (URL) -> [String] = { _ in [] })
        throws -> (root: URL, run: ProcessResult, doctor: ProcessResult) {
        let root = fixture.sandbox.url.appendingPathComponent("root")
        try makeMinimalHostRoot(at: root, extra: ["mv \(out.path) \(root.path)/opt/newprefix"] + extra(root))
        let run = try runInRoot(root, ["/opt/newprefix/bin/app-link"])
        return (root, run, try doctorInRoot(root, "opt/newprefix/bin/app-link"))
    }

    /// `swelf doctor --root ROOT` on the program at `path` inside the root.
    func doctorInRoot(_ root: URL, _ path: String) throws -> ProcessResult {
        try swelf(["doctor", "--root", root.path, root.appendingPathComponent(path).path])
    }

    /// Runs `command` (a path inside `root`) chrooted there, with an empty environment, in
    /// a private mount namespace with /proc mounted.
    func runInRoot(_ root: URL, _ command: [String]) throws -> ProcessResult {
        let quoted = command.map(shellQuote).joined(separator: " ")
        return try runTool("/usr/bin/unshare", ["--mount", "--fork", "/bin/sh", "-c",
                                                "mount -t proc proc \(shellQuote(root.path))/proc && exec /usr/bin/env -i /usr/sbin/chroot \(shellQuote(root.path)) \(quoted)"],
                           timeout: 120)
    }

    func hashes(_ directory: URL) throws -> [String: Data] {
        var result: [String: Data] = [:]
        let all = (FileManager.default.enumerator(atPath: directory.path)?.allObjects as? [String]) ?? []
        for relative in all {
            let url = directory.appendingPathComponent(relative)
            var status = stat()
            guard lstat(url.path, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFREG { result[relative] = try Data(contentsOf: url) }
            else if status.st_mode & S_IFMT == S_IFLNK { result[relative] = Data(("link:" + (try FileManager.default.destinationOfSymbolicLink(atPath: url.path))).utf8) }
            else if status.st_mode & S_IFMT != S_IFDIR { result[relative] = Data("other".utf8) }
        }
        return result
    }

    func regularFiles(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted().filter { name in
            var status = stat()
            return lstat(directory.appendingPathComponent(name).path, &status) == 0 && status.st_mode & S_IFMT == S_IFREG
        }
    }

    // MARK: - Tests

    func testBundleRunsMovedIntoMinimalRootAndDoctorAgrees() throws {
        try requireSwelf()
        let fixture = try makeFixture("bundle")
        let sourcesBefore = try hashes(fixture.build)
        let (out, r) = try bundle(fixture, ["--include-libstdcxx"])
        XCTAssertEqual(r.status, 0, r.summary)

        // Layout: the program under the name it was given by, each library once, as a
        // regular file named by its soname (libc3.so.1, not the .1.2.3 it links to).
        XCTAssertEqual(regularFiles(out.appendingPathComponent("bin")), ["app-link"])
        XCTAssertEqual(regularFiles(out.appendingPathComponent("lib")),
                       ["liba.so.1", "libabs.so", "libb.so.1", "libc3.so.1", "libcxx.so.1", "libdup.so.1", "libgcc_s.so.1",
                        "libstdc++.so.6", "libver.so.1"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("lib").path).count, 9,
                       "no symbolic links, nothing else in lib/")

        // The report: decisions with reasons, the shadowed copy, the dlopen warning.
        XCTAssertTrue(r.stdout.contains("excluded  libc.so.6 (needed by bin/app-link): part of glibc"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bundled   libstdc++.so.6"), r.stdout)
        XCTAssertTrue(r.stdout.contains("shadowed: \(fixture.build.path)/dup2/libdup.so.1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("lib/libc3.so.1 <- \(fixture.build.path)/c/libc3.so.1 -> \(fixture.build.path)/c/libc3.so.1.2.3"), r.stdout)
        XCTAssertTrue(r.stdout.contains("bin/app-link loads code with dlopen"), r.stdout)
        XCTAssertFalse(r.stdout.contains("libgcc_s.so.1 (needed by bin/app-link)"), "libgcc_s is needed by libcxx/libstdc++, not the program")
        // It ends with the portability report of the bundle itself: the files in the output
        // directory, and the glibc floor read from them (readelf -V as the oracle).
        let portability = try XCTUnwrap(r.stdout.components(separatedBy: "Portability of the bundle:\n").last.flatMap {
            r.stdout.contains("Portability of the bundle:") ? $0 : nil }, "no portability report:\n\(r.stdout)")
        XCTAssertTrue(portability.contains(out.path + "/"), "the report should name the bundled files:\n\(portability)")
        var newestGlibc = [0, 0]
        for file in regularFiles(out.appendingPathComponent("lib")).map({ "lib/" + $0 }) + ["bin/app-link"] {
            for match in try readelf(["-V", out.appendingPathComponent(file).path]).stdout.split(separator: " ")
                where match.hasPrefix("GLIBC_2.") {
                let numbers = match.dropFirst("GLIBC_".count).split(separator: ".").compactMap { Int($0) }
                if numbers.count >= 2, numbers.lexicographicallyPrecedes(newestGlibc) == false { newestGlibc = Array(numbers.prefix(2)) }
            }
        }
        XCTAssertTrue(portability.contains("glibc      \(newestGlibc[0]).\(newestGlibc[1])"), "floor should be glibc \(newestGlibc):\n\(portability)")

        // Each file: its own $ORIGIN RUNPATH, no RPATH, no byte of the build path, and
        // every vn_file of its version needs names one of its DT_NEEDED entries.
        let buildPath = Data(fixture.build.path.utf8)
        for (directory, runpath) in [("bin", "$ORIGIN/../lib"), ("lib", "$ORIGIN")] {
            for name in regularFiles(out.appendingPathComponent(directory)) {
                let file = out.appendingPathComponent(directory).appendingPathComponent(name)
                XCTAssertEqual(try dynamicValue(file, tag: "RUNPATH"), [runpath], "\(directory)/\(name)")
                XCTAssertEqual(try dynamicValue(file, tag: "RPATH"), [], "\(directory)/\(name)")
                XCTAssertNil(try Data(contentsOf: file).range(of: buildPath), "\(directory)/\(name) still holds the build path")
                let needed = Set(try dynamicValue(file, tag: "NEEDED"))
                let versions = try readelf(["-V", file.path]).stdout
                for line in versions.split(separator: "\n") where line.contains("File: ") && line.contains("Cnt:") {
                    guard let start = line.range(of: "File: ")?.upperBound else { continue }
                    let vnFile = String(line[start...].prefix { $0 != " " })
                    XCTAssertTrue(needed.contains(vnFile), "\(directory)/\(name): vn_file \(vnFile) is not a DT_NEEDED (\(needed))")
                }
            }
        }
        // A library without a soname, linked by its path: DT_NEEDED and vn_file named the
        // build path; both now name the file in lib/.
        let sourceNeeded = try dynamicValue(fixture.build.appendingPathComponent("bin/app"), tag: "NEEDED")
        XCTAssertTrue(sourceNeeded.contains(fixture.build.path + "/abs/libabs.so"), "\(sourceNeeded)")
        XCTAssertEqual(try dynamicValue(out.appendingPathComponent("bin/app-link"), tag: "NEEDED"),
                       ["liba.so.1", "libver.so.1", "libcxx.so.1", "libdup.so.1", "libabs.so", "libc.so.6"])
        let appVersions = try readelf(["-V", out.appendingPathComponent("bin/app-link").path]).stdout
        XCTAssertTrue(appVersions.contains("File: libver.so.1") && appVersions.contains("Name: VER_1"), appVersions)
        XCTAssertTrue(appVersions.contains("File: libabs.so") && appVersions.contains("Name: ABS_1"), appVersions)

        // Sources untouched; a second run and a bundle of the bundle are byte-identical.
        XCTAssertEqual(try hashes(fixture.build), sourcesBefore, "the sources changed")
        let first = try hashes(out)
        let again = try swelf(["bundle", "--update", "--include-libstdcxx", "-o", out.path, fixture.link.path])
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertEqual(again.stdout, r.stdout)
        XCTAssertEqual(try hashes(out), first, "a second run changed the bundle")
        let rebundled = fixture.sandbox.url.appendingPathComponent("dist2")
        let re = try swelf(["bundle", "--include-libstdcxx", "-o", rebundled.path, out.appendingPathComponent("bin").path])
        XCTAssertEqual(re.status, 0, re.summary)
        XCTAssertEqual(try hashes(rebundled), first, "bundling the bundle changed it")

        // Moved to a new prefix inside a root with only the loader and glibc.
        let (root, run, doctor) = try runMovedBundle(out, fixture) { root in
            ["ln -s /opt/newprefix/bin/app-link \(root.path)/usr/bin/app"]
        }
        XCTAssertEqual(run.stdout, BundleTests.expected, run.summary)
        XCTAssertEqual(run.status, 0, run.summary)
        let viaLink = try runInRoot(root, ["/usr/bin/app"])
        XCTAssertEqual(viaLink.stdout, BundleTests.expected, "run through a symbolic link: \(viaLink.summary)")
        XCTAssertEqual(doctor.status, 0, doctor.summary)
        XCTAssertTrue(doctor.stdout.contains("verdict: would start"), doctor.stdout)
    }

    /// Without --include-libstdcxx the C++ runtime is left to the host: the minimal root
    /// has none, so the moved program fails there and doctor predicts it. (This is the
    /// test of the test above: the root really lacks what is not bundled.)
    func testCxxRuntimeLeftToTheHostIsMissingInTheMinimalRoot() throws {
        try requireSwelf()
        let fixture = try makeFixture("bundle-nocxx")
        let (out, r) = try bundle(fixture)
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertTrue(r.stdout.contains("excluded  libstdc++.so.6 (needed by libcxx.so.1): GCC runtime"), r.stdout)
        XCTAssertFalse(regularFiles(out.appendingPathComponent("lib")).contains("libstdc++.so.6"))
        let (_, run, doctor) = try runMovedBundle(out, fixture)
        XCTAssertNotEqual(run.status, 0, run.summary)
        XCTAssertTrue(run.stderr.contains("libstdc++.so.6"), run.summary)
        XCTAssertEqual(doctor.status, 1, doctor.summary)
        XCTAssertTrue(doctor.stdout.contains("libstdc++.so.6"), doctor.stdout)
    }

    /// A policy file: an exclusion leaves the library and everything only it needs out of
    /// the bundle (its dependencies are not walked); one that matches nothing warns; a
    /// bad line is an error with its line number.
    func testPolicyFileExcludesWithoutWalkingAndWarnsOnUnusedRules() throws {
        try requireSwelf()
        let fixture = try makeFixture("bundle-policy")
        let policy = fixture.sandbox.url.appendingPathComponent("policy")
        try """
            # site policy
            exclude libb.so.*      provided by the platform team's base image
            exclude libnothing.so.7  matches nothing here

            """.write(to: policy, atomically: true, encoding: .utf8)
        // libb.so.1 is left to a host that lacks it: this one. The bundle is written, but
        // it would not start here: an error naming the library, unless --allow-broken.
        let (out, broken) = try bundle(fixture, ["--policy", policy.path])
        XCTAssertEqual(broken.status, 1, broken.summary)
        XCTAssertTrue(broken.stderr.contains("bin/app-link would not start") && broken.stderr.contains("libb.so.1"), broken.summary)
        let (_, r) = try bundle(fixture, ["--update", "--allow-broken", "--policy", policy.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(regularFiles(out.appendingPathComponent("lib")), ["liba.so.1", "libabs.so", "libcxx.so.1", "libdup.so.1", "libver.so.1"])
        XCTAssertTrue(r.stdout.contains("excluded  libb.so.1 (needed by liba.so.1): provided by the platform team's base image [\(policy.path):2: exclude libb.so.*]"), r.stdout)
        XCTAssertFalse(r.stdout.contains("libc3"), "libb's own dependency was walked:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("\(policy.path):3: exclude libnothing.so.7 matches no library"), r.stdout)

        // A directory: every program under it; shared libraries copied once; two programs
        // that need different files under one name get the first and a warning.
        let tree = fixture.sandbox.url.appendingPathComponent("dist-tree")
        let t = try swelf(["bundle", "--include-libstdcxx", "-o", tree.path, fixture.build.appendingPathComponent("bin").path])
        XCTAssertEqual(t.status, 0, t.summary)
        XCTAssertEqual(regularFiles(tree.appendingPathComponent("bin")), ["app", "tool"])
        XCTAssertEqual(regularFiles(tree.appendingPathComponent("lib")),
                       ["liba.so.1", "libabs.so", "libb.so.1", "libc3.so.1", "libcxx.so.1", "libdup.so.1", "libgcc_s.so.1",
                        "libstdc++.so.6", "libver.so.1"])
        XCTAssertTrue(t.stdout.contains("two different files are needed as libdup.so.1: \(fixture.build.path)/dup1/libdup.so.1 is bundled, \(fixture.build.path)/dup2/libdup.so.1 (for bin/tool) is not"), t.stdout)
        XCTAssertEqual(t.stdout.components(separatedBy: "lib/liba.so.1 <-").count, 2, "liba.so.1 listed once:\n\(t.stdout)")
        XCTAssertTrue(t.stdout.contains("bin/tool uses the name service: glibc loads the host's libnss_* modules at run time (they come with the host's glibc) (imports getpwnam)"), t.stdout)
        XCTAssertFalse(t.stdout.contains("bin/app uses the name service"), t.stdout)
        // The same run as JSON (files unchanged: the second run writes the same bytes).
        let j = try swelf(["bundle", "--update", "--json", "--include-libstdcxx", "-o", tree.path, fixture.build.appendingPathComponent("bin").path])
        XCTAssertEqual(j.status, 0, j.summary)
        let document = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any], j.stdout)
        XCTAssertEqual(document["written"] as? Bool, true)
        let portabilityJSON = try XCTUnwrap(document["portability"] as? [String: Any], "no portability report in --json")
        XCTAssertFalse(((portabilityJSON["platforms"] as? [Any]) ?? []).isEmpty, j.stdout)
        let libraries = try XCTUnwrap(document["libraries"] as? [[String: Any]])
        XCTAssertEqual(libraries.compactMap { $0["name"] as? String }.sorted(),
                       regularFiles(tree.appendingPathComponent("lib")).map { "lib/" + $0 })
        let decisions = try XCTUnwrap(document["decisions"] as? [[String: Any]])
        XCTAssertTrue(decisions.contains { $0["name"] as? String == "libc.so.6" && $0["outcome"] as? String == "excluded" }, j.stdout)
        XCTAssertTrue(((document["warnings"] as? [String]) ?? []).contains { $0.contains("two different files are needed as libdup.so.1") })
        let tool = try runTool(tree.appendingPathComponent("bin/tool").path, [])
        XCTAssertEqual(tool.stdout, "tool 123 1\n", "the bundled tool gets the one libdup.so.1 in lib/: \(tool.summary)")

        try "exclude\n".write(to: policy, atomically: true, encoding: .utf8)
        let bad = try swelf(["bundle", "--policy", policy.path, "-o", out.path, fixture.link.path])
        XCTAssertEqual(bad.status, 1, bad.summary)
        XCTAssertTrue(bad.stderr.contains("\(policy.path):1: 'exclude' needs a file-name pattern"), bad.summary)

        // A library that is not found stops the bundle before anything is written.
        try FileManager.default.removeItem(at: fixture.build.appendingPathComponent("ver/libver.so.1"))
        let missing = fixture.sandbox.url.appendingPathComponent("dist-missing")
        let failed = try swelf(["bundle", "-o", missing.path, fixture.link.path])
        XCTAssertEqual(failed.status, 1, failed.summary)
        XCTAssertTrue(failed.stderr.contains("libver.so.1, needed by bin/app-link"), failed.summary)
        let failedJSON = try swelf(["bundle", "--json", "-o", missing.path, fixture.link.path])
        XCTAssertEqual(failedJSON.status, 1, failedJSON.summary)
        let failure = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(failedJSON.stdout.utf8)) as? [String: Any], failedJSON.summary)
        XCTAssertEqual(failure["written"] as? Bool, false)
        XCTAssertTrue(((failure["errors"] as? [String]) ?? []).contains { $0.hasPrefix("libver.so.1, needed by bin/app-link") }, failedJSON.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing.path))

        let usage = try swelf(["bundle", fixture.link.path])
        XCTAssertEqual(usage.status, 64, usage.summary)
    }

    /// A build path shorter than `$ORIGIN/../lib`: the string table grows and moves. Its old
    /// place is cleared, so the path is gone; were the bytes left, the bundle would say so
    /// (a warning naming the file and the path). The program still runs.
    func testShortBuildPathLeftInOldBytesIsReported() throws {
        try requireSwelf()
        var template = Array("/tmp/bXXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw MissingTool(path: "/tmp", hint: "mkdtemp failed") }
        let short = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: short) }
        let sandbox = try ScratchDirectory("bundle-short")
        try sh("""
            printf 'int s_value(void) { return 5; }\\n' > s.c
            printf '#include <stdio.h>\\nint s_value(void);\\nint main(void) { printf("short %%d\\\\n", s_value()); return 0; }\\n' > app.c
            gcc -shared -fPIC -o \(short)/libs.so.1 -Wl,-soname,libs.so.1 s.c
            gcc -o app app.c \(short)/libs.so.1 -Wl,-rpath,\(short)
            """, cwd: sandbox.url, "build the short-path subject")
        let out = sandbox.url.appendingPathComponent("dist")
        let r = try swelf(["bundle", "-o", out.path, sandbox.url.appendingPathComponent("app").path])
        XCTAssertEqual(r.status, 0, r.summary)
        for name in ["bin/app", "lib/libs.so.1"] {
            let present = try Data(contentsOf: out.appendingPathComponent(name)).range(of: Data([0] + Array(short.utf8) + [0])) != nil
            let warned = r.stdout.contains("\(name): the old string '\(short)' remains as unreferenced bytes")
            XCTAssertEqual(present, warned, "\(name): bytes present \(present), warned \(warned):\n\(r.stdout)")
        }
        // The program's string table had to grow and move: its old place is cleared (see
        // docs/design.md, "Old bytes"), so no byte of the build path stays and nothing is warned.
        let program = try Data(contentsOf: out.appendingPathComponent("bin/app"))
        XCTAssertNil(program.range(of: Data(Array(short.utf8))), "the build path is still in bin/app:\n\(r.stdout)")
        XCTAssertFalse(r.stdout.contains("remains as unreferenced bytes"), r.stdout)
        let run = try runTool(out.appendingPathComponent("bin/app").path, [])
        XCTAssertEqual(run.stdout, "short 5\n", run.summary)
    }

    /// An aarch64 program and its private library, built with the cross compiler on this
    /// machine, bundled here (nothing runs), moved into an aarch64 root holding only the
    /// loader and libc, and run there under qemu-user.
    func testForeignArchitectureBundleRunsUnderQemu() throws {
        try requireSwelf()
        let cc = "/usr/bin/aarch64-linux-gnu-gcc", qemu = "/usr/bin/qemu-aarch64-static", sysroot = "/usr/aarch64-linux-gnu"
        try requireTool(cc)
        try requireTool(qemu)
        let sandbox = try ScratchDirectory("bundle-aarch64")
        let b = try sandbox.dir("build").path
        try sh("""
            mkdir -p \(b)/x \(b)/y
            printf 'int y_value(void) { return 40; }\\n' > y.c
            printf 'int y_value(void);\\nint x_value(void) { return 2 + y_value(); }\\n' > x.c
            printf '#include <stdio.h>\\nint x_value(void);\\nint main(void) { printf("aarch64 %%d\\\\n", x_value()); return 0; }\\n' > app.c
            \(cc) -shared -fPIC -o \(b)/y/liby.so.1.0 -Wl,-soname,liby.so.1 y.c
            ln -s liby.so.1.0 \(b)/y/liby.so.1
            \(cc) -shared -fPIC -o \(b)/x/libx.so.1 -Wl,-soname,libx.so.1 x.c \(b)/y/liby.so.1 -Wl,-rpath,\(b)/y
            \(cc) -o \(b)/app app.c \(b)/x/libx.so.1 -Wl,-rpath-link,\(b)/y -Wl,-rpath,\(b)/x
            """, cwd: sandbox.url, "build the aarch64 subject")
        let out = sandbox.url.appendingPathComponent("dist")
        let r = try swelf(["bundle", "-o", out.path, b + "/app"])
        XCTAssertEqual(r.status, 0, r.summary)
        // Without --root the target is unknown: said, not judged against this machine.
        XCTAssertTrue(r.stdout.contains("bin/app is for aarch64, not this machine: whether it starts is not checked"), r.stdout)
        XCTAssertEqual(regularFiles(out.appendingPathComponent("lib")), ["libx.so.1", "liby.so.1"])
        XCTAssertTrue(r.stdout.contains("excluded  libc.so.6"), r.stdout)

        let root = sandbox.url.appendingPathComponent("root")
        try makeMinimalRoot(at: root, loaderPath: "/lib/ld-linux-aarch64.so.1", libraryDirectory: "\(sysroot)/lib",
                            rootLibrary: "/lib", libraries: ["libc.so.6", "libm.so.6"],
                            extra: ["cp \(qemu) \(root.path)/qemu", "mv \(out.path) \(root.path)/opt/newprefix"])
        let run = try runInRoot(root, ["/qemu", "/opt/newprefix/bin/app"])
        XCTAssertEqual(run.stdout, "aarch64 42\n", run.summary)
        XCTAssertEqual(run.status, 0, run.summary)
        let doctor = try doctorInRoot(root, "opt/newprefix/bin/app")
        XCTAssertEqual(doctor.status, 0, doctor.summary)
        XCTAssertTrue(doctor.stdout.contains("verdict: would start"), doctor.stdout)

        // With --root the sysroot is the target system: a library only it holds
        // (libatomic.so.1, not part of glibc) is found there and bundled; the private
        // library is found through its $ORIGIN run path. Without --root it is not found.
        try sh("""
            mkdir -p rel/bin rel/private
            printf 'int p_value(void) { return 8; }\\n' > p.c
            printf '#include <stdio.h>\\nint p_value(void);\\nint main(void) { printf("root %%d\\\\n", p_value()); return 0; }\\n' > app2.c
            \(cc) -shared -fPIC -o rel/private/libp.so.1 -Wl,-soname,libp.so.1 p.c
            \(cc) -o rel/bin/app2 app2.c rel/private/libp.so.1 -Wl,--no-as-needed -latomic -Wl,--as-needed '-Wl,-rpath,$ORIGIN/../private'
            """, cwd: sandbox.url, "build the aarch64 --root subject")
        let app2 = sandbox.url.appendingPathComponent("rel/bin/app2").path
        XCTAssertTrue(try dynamicValue(URL(fileURLWithPath: app2), tag: "NEEDED").contains("libatomic.so.1"))
        let withoutRoot = try swelf(["bundle", "-o", sandbox.url.appendingPathComponent("dist-noroot").path, app2])
        XCTAssertEqual(withoutRoot.status, 1, withoutRoot.summary)
        XCTAssertTrue(withoutRoot.stderr.contains("libatomic.so.1, needed by bin/app2"), withoutRoot.summary)
        let out2 = sandbox.url.appendingPathComponent("dist-root")
        let r2 = try swelf(["bundle", "--root", sysroot, "-o", out2.path, app2])
        XCTAssertEqual(r2.status, 0, r2.summary)
        XCTAssertEqual(regularFiles(out2.appendingPathComponent("lib")), ["libatomic.so.1", "libp.so.1"])
        XCTAssertTrue(r2.stdout.contains("excluded  libc.so.6 (needed by bin/app2): part of glibc"), r2.stdout)
        try sh("mv \(out2.path) \(root.path)/opt/rootprefix", "move the --root bundle")
        let run2 = try runInRoot(root, ["/qemu", "/opt/rootprefix/bin/app2"])
        XCTAssertEqual(run2.stdout, "root 8\n", run2.summary)
        let doctor2 = try doctorInRoot(root, "opt/rootprefix/bin/app2")
        XCTAssertEqual(doctor2.status, 0, doctor2.summary)
    }
}

/// Path text for the fixtures.
enum PathParts {
    static func directory(_ path: String) -> String { (path as NSString).deletingLastPathComponent }
    static func last(_ path: String) -> String { (path as NSString).lastPathComponent }
}
