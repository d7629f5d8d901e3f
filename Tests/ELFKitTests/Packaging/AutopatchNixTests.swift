import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitLoader
@testable import ELFKitPackaging

/// What auto-patchelf.py takes from its surroundings, on the tree of
/// ``AutopatchPlannerTests``: the providers' own absolute run paths (rule
/// `provider-runpath`) and `$NIX_BINTOOLS`'s libc directory. Expected values come from
/// the layout the test builds, not from the planner.
@Suite struct AutopatchNixTests {
    typealias Base = AutopatchPlannerTests

    /// Adds, beside the tree:
    ///
    ///     rp/one/librp.so        run path rp/two
    ///     rp/one/libbar.so       a second libbar.so (extra/ has the first)
    ///     rp/one/sub/libdeep.so  one level below a run-path directory
    ///     rp/two/libtwo.so       reached only through librp.so's run path
    ///     rp/x/libxx.so          reached through extra/libx.so's run path
    ///     rp/x/sub/libxsub.so    below it: --libs' run paths are not searched recursively
    ///     extra/libx.so          run path rp/x
    ///     tree/lib/libhasrp.so   run path "$ORIGIN/none:rp/one" (the $ORIGIN entry is not followed)
    ///     tree/bin/rpapp         needs librp.so libtwo.so libdeep.so libxx.so libbar.so
    ///     tree/bin/subapp        needs libxsub.so
    static func buildRunPathTree() throws -> URL {
        let directory = try Base.buildTree()
        let d = directory.path
        for sub in ["rp/one/sub", "rp/two", "rp/x/sub"] {
            try FileManager.default.createDirectory(atPath: "\(d)/\(sub)", withIntermediateDirectories: true)
        }
        try "int zero(void) { return 0; }\n".write(toFile: "\(d)/src/zero.c", atomically: true, encoding: .utf8)
        for (path, extra) in [("rp/two/libtwo.so", []), ("rp/one/sub/libdeep.so", []), ("rp/x/libxx.so", []),
                              ("rp/x/sub/libxsub.so", []), ("rp/one/librp.so", ["-Wl,-rpath,\(d)/rp/two"]),
                              ("extra/libx.so", ["-Wl,-rpath,\(d)/rp/x"]),
                              ("tree/lib/libhasrp.so", ["-Wl,-rpath,$ORIGIN/none:\(d)/rp/one"])] {
            try Base.gcc(["-shared", "-fPIC", "-o", "\(d)/\(path)", "\(d)/src/zero.c"] + extra)
        }
        try Base.gcc(["-shared", "-fPIC", "-o", "\(d)/rp/one/libbar.so", "\(d)/src/bar.c", "-Wl,-soname,libbar.so"])
        try Base.gcc(["-o", "\(d)/tree/bin/rpapp", "\(d)/src/helper.c", "-Wl,--no-as-needed", "-L\(d)/rp/one", "-lrp",
                      "-L\(d)/rp/two", "-ltwo", "-L\(d)/rp/one/sub", "-ldeep", "-L\(d)/rp/x", "-lxx", "-L\(d)/extra", "-lbar",
                      "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        try Base.gcc(["-o", "\(d)/tree/bin/subapp", "\(d)/src/helper.c", "-Wl,--no-as-needed", "-L\(d)/rp/x/sub", "-lxsub",
                      "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        return directory
    }

    /// The tree's libhasrp.so brings rp/one (searched recursively, as the tree is), whose
    /// librp.so brings rp/two: breadth first, each absolute entry, before --libs, so
    /// rp/one's libbar.so wins over extra's. extra/libx.so brings rp/x, one level only.
    /// Written absolute, in DT_NEEDED order. `--no-recurse` leaves rp/one/sub out;
    /// `--ignore-existing` every directory the tree brings.
    @Test func providersRunPathsAreSearchedBreadthFirstAfterTheirIndex() throws {
        let directory = try Self.buildRunPathTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let plan = try Base.plan(directory)
        let rpapp = try Base.file(plan, "bin/rpapp", in: directory)
        let byName = Dictionary(uniqueKeysWithValues: rpapp.needs.map { ($0.name, $0) })
        for (name, provider) in ["librp.so": "rp/one/librp.so", "libtwo.so": "rp/two/libtwo.so", "libdeep.so": "rp/one/sub/libdeep.so",
                                 "libxx.so": "rp/x/libxx.so", "libbar.so": "rp/one/libbar.so"] {
            #expect(byName[name]?.rule == .providerRunPath && byName[name]?.provider == "\(d)/\(provider)", "\(name): \(String(describing: byName[name]))")
        }
        #expect(rpapp.runPathAfter == "\(d)/rp/one:\(d)/rp/two:\(d)/rp/one/sub:\(d)/rp/x:$ORIGIN/../lib", "\(rpapp.runPathAfter ?? "-")")
        // app's libbar.so too: rp/one comes before --libs.
        #expect(try Base.file(plan, "bin/app", in: directory).needs.first { $0.name == "libbar.so" }?.provider == "\(d)/rp/one/libbar.so")
        #expect(plan.errors == ["\(d)/tree/bin/subapp: libxsub.so: not found (tree, --libs, system)"], "\(plan.errors)")

        // --no-recurse: bin/ and lib/ given as PATHs (from the top nothing below is walked).
        var options = AutopatchOptions()
        options.libraryDirectories = ["\(d)/extra"]
        options.recurse = false
        let planner = AutopatchPlanner(environment: try HostLoader.environment(variables: [:]), options: options)
        let noRecurse = planner.plan(paths: ["\(d)/tree/bin", "\(d)/tree/lib"])
        #expect(noRecurse.errors.contains("\(d)/tree/bin/rpapp: libdeep.so: not found (tree, --libs, system)"), "\(noRecurse.errors)")
        #expect(noRecurse.files.first { $0.path == "\(d)/tree/bin/rpapp" }?.needs.first { $0.name == "librp.so" }?.rule == .providerRunPath)

        let ignored = try Base.file(try Base.plan(directory) { $0.ignoreExisting = true }, "bin/rpapp", in: directory)
        #expect(ignored.missing == ["librp.so", "libtwo.so", "libdeep.so", "libfoo.so.1"], "\(ignored.needs)")
        #expect(ignored.needs.first { $0.name == "libxx.so" }?.rule == .providerRunPath)
        // tree/lib given with --libs: libhasrp.so's run path is followed as a --libs one,
        // one level, so rp/one/sub is not searched.
        let given = try Base.plan(directory) { $0.ignoreExisting = true; $0.libraryDirectories.append("\(d)/tree/lib") }
        let viaLibs = try Base.file(given, "bin/rpapp", in: directory)
        #expect(viaLibs.missing == ["libdeep.so"], "\(viaLibs.needs)")
        #expect(viaLibs.needs.first { $0.name == "librp.so" }?.rule == .providerRunPath)
    }

    /// NIX_BINTOOLS's libc directory decides what is glibc's: a (fake) libbar.so there is
    /// dropped as auto-patchelf.py drops every name that directory holds, so extra/ is no
    /// longer written; libc.so.6, a copy there, is provided from it, and `--keep-libc`
    /// writes that directory, as the target names it.
    @Test func nixBintoolsLibcDirectoryDecidesWhatIsLibc() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let libc = "\(d)/glibc/lib"
        try FileManager.default.createDirectory(atPath: libc, withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: "\(libc)/libbar.so"))
        let system = try #require(HostLoader.environment(variables: [:]).fileSystem.canonicalPath("/lib/x86_64-linux-gnu/libc.so.6"))
        try FileManager.default.copyItem(atPath: system, toPath: "\(libc)/libc.so.6")

        let plain = try Base.plan(directory)
        #expect(try Base.file(plain, "bin/app", in: directory).runPathAfter == "$ORIGIN/../lib:\(d)/extra")
        let nix = try Base.plan(directory) { $0.libcDirectory = libc }
        #expect(nix.errors.isEmpty, "\(nix.errors)")
        let app = try Base.file(nix, "bin/app", in: directory)
        #expect(app.needs.first { $0.name == "libbar.so" }.map { ($0.rule, $0.provider) } ?? (.missing, nil) == (.system, "\(libc)/libbar.so"))
        #expect(app.needs.first { $0.name == "libc.so.6" }?.provider == "\(libc)/libc.so.6")
        #expect(app.runPathAfter == "$ORIGIN/../lib", "\(app.runPathAfter ?? "-")")
        let kept = try Base.file(try Base.plan(directory) { $0.libcDirectory = libc; $0.keepLibc = true }, "bin/app", in: directory)
        // With --keep-libc libbar.so is looked for like any other (extra/ first), and libc's directory written.
        #expect(kept.runPathAfter == "$ORIGIN/../lib:\(d)/extra:\(libc)", "\(kept.runPathAfter ?? "-")")
    }

    /// `nix-support/dynamic-linker` and `orig-libc` read and trimmed; a missing, empty or
    /// relative one is one ``NixBintools/Problem`` naming the file.
    @Test func nixBintoolsFilesAreReadOrNamed() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-bintools-\(getpid())-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let support = scratch.appendingPathComponent("nix-support").path
        try FileManager.default.createDirectory(atPath: support, withIntermediateDirectories: true)
        #expect(throws: NixBintools.Problem(path: "\(support)/dynamic-linker", reason: "cannot open: No such file or directory")) {
            try NixBintools.read(scratch.path)
        }
        try " /nix/store/x-glibc/lib/ld-linux-x86-64.so.2\n".write(toFile: "\(support)/dynamic-linker", atomically: true, encoding: .utf8)
        #expect(throws: NixBintools.Problem(path: "\(support)/orig-libc", reason: "cannot open: No such file or directory")) {
            try NixBintools.read(scratch.path + "/")
        }
        try "\n".write(toFile: "\(support)/orig-libc", atomically: true, encoding: .utf8)
        #expect(throws: NixBintools.Problem(path: "\(support)/orig-libc", reason: "empty, expected an absolute path")) {
            try NixBintools.read(scratch.path)
        }
        try "glibc\n".write(toFile: "\(support)/orig-libc", atomically: true, encoding: .utf8)
        #expect(throws: NixBintools.Problem(path: "\(support)/orig-libc", reason: "'glibc' is not an absolute path")) {
            try NixBintools.read(scratch.path)
        }
        try "/nix/store/x-glibc\n".write(toFile: "\(support)/orig-libc", atomically: true, encoding: .utf8)
        #expect(try NixBintools.read(scratch.path)
                == NixBintools(interpreter: "/nix/store/x-glibc/lib/ld-linux-x86-64.so.2", libcDirectory: "/nix/store/x-glibc/lib"))
    }

    /// The interpreter's OS ABI decides what is foreign too (auto-patchelf.py's
    /// `osabi_are_compatible`): with this machine's loader (GNU/Linux, as Debian's is), a
    /// program marked FreeBSD is foreign, one marked GNU/Linux or System V (gcc's default)
    /// is planned; with a copy of the loader marked System V (the base ABI, which takes
    /// any), the FreeBSD one is planned too.
    @Test func interpreterOSABIDecidesWhatIsForeign() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let system = try #require(AutopatchWalk.realPath("/lib64/ld-linux-x86-64.so.2"))
        var loader = try Data(contentsOf: URL(fileURLWithPath: system))
        try #require(loader[7] == 3, "this machine's loader is GNU/Linux")
        loader[7] = 0
        try loader.write(to: URL(fileURLWithPath: "\(d)/sysv-ld.so"))
        let app = try Data(contentsOf: URL(fileURLWithPath: "\(d)/tree/bin/app"))
        #expect(app[7] == 0)
        for (name, osABI) in [("linuxapp", UInt8(3)), ("bsdapp", UInt8(9))] {
            var copy = app
            copy[7] = osABI
            try copy.write(to: URL(fileURLWithPath: "\(d)/tree/bin/\(name)"))
        }
        let gnu = try Base.plan(directory) { $0.interpreter = system }
        #expect(try Base.file(gnu, "bin/bsdapp", in: directory).kind == .foreign)
        for name in ["bin/app", "bin/linuxapp"] {
            let planned = try Base.file(gnu, name, in: directory)
            #expect(planned.kind == .program && planned.interpreterAfter == system, "\(name)")
        }
        let sysv = try Base.plan(directory) { $0.interpreter = "\(d)/sysv-ld.so" }
        #expect(try Base.file(sysv, "bin/bsdapp", in: directory).kind == .program)
    }

    /// Under `--root`, a provider's run-path entry names a directory of the target: it is
    /// read inside the root and written as the target names it. The NIX_BINTOOLS libc
    /// directory is read inside the root as well.
    @Test func providerRunPathsAndLibcAreReadInsideTheRoot() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        try FileManager.default.createDirectory(atPath: "\(d)/root/opt/rp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(d)/root/nix/glibc/lib", withIntermediateDirectories: true)
        try "int zero(void) { return 0; }\n".write(toFile: "\(d)/src/zero.c", atomically: true, encoding: .utf8)
        try Base.gcc(["-shared", "-fPIC", "-o", "\(d)/root/opt/rp/librp.so", "\(d)/src/zero.c"])
        try Base.gcc(["-shared", "-fPIC", "-o", "\(d)/tree/lib/libhasrp.so", "\(d)/src/zero.c", "-Wl,-rpath,/opt/rp"])
        try Base.gcc(["-o", "\(d)/tree/bin/rpapp", "\(d)/src/helper.c", "-Wl,--no-as-needed", "-L\(d)/root/opt/rp", "-lrp",
                      "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        try Data().write(to: URL(fileURLWithPath: "\(d)/root/nix/glibc/lib/libc.so.6"))
        // The interpreter is read inside the root too.
        try FileManager.default.createDirectory(atPath: "\(d)/root/lib64", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try #require(AutopatchWalk.realPath("/lib64/ld-linux-x86-64.so.2")),
                                         toPath: "\(d)/root/lib64/ld-linux-x86-64.so.2")
        var options = AutopatchOptions()
        options.libcDirectory = "/nix/glibc/lib"
        options.interpreter = "/lib64/ld-linux-x86-64.so.2"
        let planner = AutopatchPlanner(environment: try HostLoader.environment(variables: [:], root: "\(d)/root"), options: options)
        let plan = planner.plan(paths: ["\(d)/tree"])
        let rpapp = try Base.file(plan, "bin/rpapp", in: directory)
        #expect(rpapp.needs.first { $0.name == "librp.so" }.map { ($0.rule, $0.provider) } ?? (.missing, nil)
                == (.providerRunPath, "\(d)/root/opt/rp/librp.so"), "\(rpapp.needs)")
        #expect(rpapp.needs.first { $0.name == "libc.so.6" }?.provider == "\(d)/root/nix/glibc/lib/libc.so.6", "\(rpapp.needs)")
        #expect(rpapp.runPathAfter == "/opt/rp:$ORIGIN/../lib", "\(rpapp.runPathAfter ?? "-")")
    }
}
