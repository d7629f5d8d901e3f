import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitLoader
@testable import ELFKitPackaging

/// The autopatch planner on a prebuilt tree that gcc builds in the test, linked without
/// any run path, so only the planner can make it load:
///
///     tree/a-old/libfoo.so.1          an old libfoo without the version FOO_1 (a decoy)
///     tree/bin/app                    needs libfoo.so.1 (FOO_1), libbar.so, libc.so.6
///     tree/bin/wrapper                a shell script
///     tree/lib/libfoo.so.1.0.0        soname libfoo.so.1, defines FOO_1
///     tree/lib/libfoo.so.1 -> libfoo.so.1.0.0
///     tree/lib/libbaz.so.2            a library that needs libfoo.so.1
///     tree/libexec/plugins/helper     needs libfoo.so.1, two levels below the top
///     extra/libbar.so                 found only through --libs
///
/// The expected run paths are written from the layout above, not from the planner.
@Suite struct AutopatchPlannerTests {
    static func gcc(_ arguments: [String]) throws {
        let result = try ChildProcess.run("gcc", arguments)
        #expect(result.status == 0, "gcc \(arguments.joined(separator: " ")): \(result.stderr)")
        if result.status != 0 { throw ChildProcess.NotFound(name: "a working gcc") }
    }

    /// Builds the tree in a new temporary directory; returns that directory (canonical).
    static func buildTree() throws -> URL {
        let manager = FileManager.default
        let base = manager.temporaryDirectory.appendingPathComponent("swelf-autopatch-\(getpid())-\(UUID().uuidString)")
        let d = base.path
        for directory in ["src", "extra", "tree/a-old", "tree/bin", "tree/lib", "tree/libexec/plugins"] {
            try manager.createDirectory(atPath: "\(d)/\(directory)", withIntermediateDirectories: true)
        }
        let sources = [
            "foo.c": "const char *foo(void) { return \"foo\"; }\n",
            "foo.map": "FOO_1 { global: foo; local: *; };\n",
            "bar.c": "const char *bar(void) { return \"bar\"; }\n",
            "baz.c": "const char *foo(void);\nconst char *baz(void) { return foo(); }\n",
            "app.c": "#include <stdio.h>\nconst char *foo(void); const char *bar(void);\n"
                + "int main(void) { printf(\"%s %s\\n\", foo(), bar()); return 0; }\n",
            "helper.c": "#include <stdio.h>\nconst char *foo(void);\nint main(void) { puts(foo()); return 0; }\n",
        ]
        for (name, text) in sources { try text.write(toFile: "\(d)/src/\(name)", atomically: true, encoding: .utf8) }
        try gcc(["-shared", "-fPIC", "-o", "\(d)/tree/lib/libfoo.so.1.0.0", "\(d)/src/foo.c", "-Wl,-soname,libfoo.so.1",
                 "-Wl,--version-script,\(d)/src/foo.map"])
        try manager.createSymbolicLink(atPath: "\(d)/tree/lib/libfoo.so.1", withDestinationPath: "libfoo.so.1.0.0")
        try gcc(["-shared", "-fPIC", "-o", "\(d)/tree/a-old/libfoo.so.1", "\(d)/src/foo.c", "-Wl,-soname,libfoo.so.1"])
        try gcc(["-shared", "-fPIC", "-o", "\(d)/extra/libbar.so", "\(d)/src/bar.c", "-Wl,-soname,libbar.so"])
        try gcc(["-shared", "-fPIC", "-o", "\(d)/tree/lib/libbaz.so.2", "\(d)/src/baz.c", "-Wl,-soname,libbaz.so.2",
                 "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        try gcc(["-o", "\(d)/tree/bin/app", "\(d)/src/app.c", "-L\(d)/tree/lib", "-l:libfoo.so.1", "-L\(d)/extra", "-lbar"])
        try gcc(["-o", "\(d)/tree/libexec/plugins/helper", "\(d)/src/helper.c", "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        try "#!/bin/sh\nexec \"$(dirname \"$0\")/app\" \"$@\"\n".write(toFile: "\(d)/tree/bin/wrapper", atomically: true, encoding: .utf8)
        return URL(fileURLWithPath: try #require(AutopatchWalk.realPath(d)))
    }

    static func plan(_ directory: URL, _ configure: (inout AutopatchOptions) -> Void = { _ in }) throws -> AutopatchPlan {
        var options = AutopatchOptions()
        options.libraryDirectories = [directory.appendingPathComponent("extra").path]
        configure(&options)
        let planner = AutopatchPlanner(environment: try HostLoader.environment(variables: [:]), options: options)
        return planner.plan(paths: [directory.appendingPathComponent("tree").path])
    }

    static func file(_ plan: AutopatchPlan, _ relative: String, in directory: URL,
                     sourceLocation: SourceLocation = #_sourceLocation) throws -> AutopatchPlan.FilePlan {
        let path = directory.appendingPathComponent("tree/" + relative).path
        return try #require(plan.files.first { $0.path == path }, "no plan for \(relative)", sourceLocation: sourceLocation)
    }

    /// Each file gets `$ORIGIN` at its own depth: bin/ one level up, libexec/plugins/ two,
    /// a library in lib/ `$ORIGIN` itself; a --libs provider is written absolute, libc not
    /// at all; the order is that of DT_NEEDED.
    @Test func runPathsAreOriginRelativeAtEachFilesDepth() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Self.plan(directory)
        #expect(plan.errors.isEmpty, "\(plan.errors)")
        let extra = directory.appendingPathComponent("extra").path
        #expect(try Self.file(plan, "bin/app", in: directory).runPathAfter == "$ORIGIN/../lib:" + extra)
        #expect(try Self.file(plan, "libexec/plugins/helper", in: directory).runPathAfter == "$ORIGIN/../../lib")
        #expect(try Self.file(plan, "lib/libbaz.so.2", in: directory).runPathAfter == "$ORIGIN")
        // libfoo needs only libc: nothing to write, and it had no run path.
        let foo = try Self.file(plan, "lib/libfoo.so.1.0.0", in: directory)
        #expect(foo.runPathAfter == nil)
        #expect(!foo.changed)
    }

    /// Each need names its provider and the rule: the versioned libfoo in lib/ (the decoy
    /// in a-old/, first in walk order, lacks FOO_1), libbar from --libs, libc from the system.
    @Test func needsNameTheirProviderAndRule() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plan = try Self.plan(directory)
        let app = try Self.file(plan, "bin/app", in: directory)
        let byName = Dictionary(uniqueKeysWithValues: app.needs.map { ($0.name, $0) })
        #expect(app.needs.map(\.name) == ["libfoo.so.1", "libbar.so", "libc.so.6"])
        #expect(byName["libfoo.so.1"]?.provider == directory.appendingPathComponent("tree/lib/libfoo.so.1.0.0").path)
        #expect(byName["libfoo.so.1"]?.rule == .tree)
        #expect(byName["libbar.so"]?.provider == directory.appendingPathComponent("extra/libbar.so").path)
        #expect(byName["libbar.so"]?.rule == .libraries)
        #expect(byName["libc.so.6"]?.rule == .system)
    }

    /// ELF files only: the wrapper is counted, the soname link is a name and not a second
    /// file; libraries get no interpreter, programs keep theirs or take --interpreter (this
    /// machine's loader under another name: a link to it, as merged /usr has).
    @Test func walkKindsAndInterpreters() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let loader = try HostLoader.interpreter()
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("ld.so").path, withDestinationPath: loader)
        let plan = try Self.plan(directory) { $0.interpreter = directory.appendingPathComponent("ld.so").path }
        #expect(plan.otherFiles == 1)
        #expect(plan.files.map { $0.path.dropFirst(directory.path.count + 6) }
            == ["a-old/libfoo.so.1", "bin/app", "lib/libbaz.so.2", "lib/libfoo.so.1.0.0", "libexec/plugins/helper"])
        let baz = try Self.file(plan, "lib/libbaz.so.2", in: directory)
        #expect(baz.kind == .library)
        #expect(baz.interpreterAfter == nil)
        let helper = try Self.file(plan, "libexec/plugins/helper", in: directory)
        #expect(helper.kind == .program)
        #expect(helper.interpreterAfter == directory.appendingPathComponent("ld.so").path)
        #expect(helper.changed)
        let summary = plan.summary
        #expect(summary.elfFiles == 5 && summary.skipped == 0 && summary.missing == 0)
    }

    /// Without --libs, libbar is missing: an error naming the file and the library; with
    /// --ignore-missing 'libbar*' it is reported as ignored and is no error.
    @Test func missingAndIgnoredNeeds() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let app = directory.appendingPathComponent("tree/bin/app").path
        let missing = try Self.plan(directory) { $0.libraryDirectories = [] }
        #expect(missing.errors == ["\(app): libbar.so: not found (tree, --libs, system)"])
        #expect(try Self.file(missing, "bin/app", in: directory).missing == ["libbar.so"])
        let ignored = try Self.plan(directory) { $0.libraryDirectories = []; $0.ignoreMissing = ["libbar*"] }
        #expect(ignored.errors.isEmpty)
        #expect(try Self.file(ignored, "bin/app", in: directory).needs.first { $0.name == "libbar.so" }?.rule == .ignored)
    }

    /// --runtime-dependencies go first in programs only, --append-rpaths last in every
    /// dynamic file; a repeated directory is written once.
    @Test func runtimeDependenciesAndAppendedRunPaths() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let extra = directory.appendingPathComponent("extra").path
        let plan = try Self.plan(directory) {
            $0.runtimeDependencies = ["/opt/dlopen"]
            $0.appendRunPaths = ["/opt/last", extra]
        }
        #expect(try Self.file(plan, "bin/app", in: directory).runPathAfter == "/opt/dlopen:$ORIGIN/../lib:\(extra):/opt/last")
        #expect(try Self.file(plan, "lib/libbaz.so.2", in: directory).runPathAfter == "$ORIGIN:/opt/last:\(extra)")
        #expect(try Self.file(plan, "lib/libfoo.so.1.0.0", in: directory).runPathAfter == "/opt/last:\(extra)")
    }

    /// With --interpreter, a program of another machine (aarch64, from the cross compiler)
    /// is left alone and counted as skipped, not an error; an interpreter that does not
    /// exist is the plan's one error.
    @Test func anotherMachineIsLeftAloneAndAMissingInterpreterIsAnError() throws {
        let compiler = "/usr/bin/aarch64-linux-gnu-gcc"
        guard FileManager.default.isExecutableFile(atPath: compiler) else {
            Issue.record("\(compiler) missing: run scripts/install-test-deps")
            return
        }
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        try "int main(void) { return 0; }\n".write(toFile: "\(d)/src/arm.c", atomically: true, encoding: .utf8)
        let build = try ChildProcess.run(compiler, ["-o", "\(d)/tree/bin/arm-app", "\(d)/src/arm.c"])
        try #require(build.status == 0, "\(build.stderr)")
        let loader = try HostLoader.interpreter()
        let plan = try Self.plan(directory) { $0.interpreter = loader }
        #expect(plan.errors.isEmpty, "\(plan.errors)")
        #expect(try Self.file(plan, "bin/arm-app", in: directory).kind == .foreign)
        #expect(plan.summary.skipped == 1)
        let missing = try Self.plan(directory) { $0.interpreter = "/nonexistent/ld.so" }
        #expect(missing.errors.count == 1 && missing.errors[0].hasPrefix("--interpreter /nonexistent/ld.so: "), "\(missing.errors)")
        #expect(missing.files.isEmpty)
    }

    /// Hostile entries: a FIFO (counted, never opened: the walk would hang), a loop of
    /// links and a link out of the tree (one warning each, no provider: libbar.so is
    /// still found in --libs, not through the link into extra/).
    @Test func fifoLoopAndLinkOutOfTheTree() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let lib = directory.appendingPathComponent("tree/lib").path
        try #require(mkfifo(lib + "/pipe.so", 0o644) == 0)
        let manager = FileManager.default
        try manager.createSymbolicLink(atPath: lib + "/loop-a.so", withDestinationPath: "loop-b.so")
        try manager.createSymbolicLink(atPath: lib + "/loop-b.so", withDestinationPath: "loop-a.so")
        try manager.createSymbolicLink(atPath: lib + "/libbar.so", withDestinationPath: "../../extra/libbar.so")
        let plan = try Self.plan(directory)
        #expect(plan.errors.isEmpty, "\(plan.errors)")
        #expect(plan.otherFiles == 2)
        #expect(plan.warnings.filter { $0.contains("loop-") && $0.contains("a loop of symbolic links") }.count == 2, "\(plan.warnings)")
        #expect(plan.warnings.filter { $0.hasPrefix(lib + "/libbar.so: a symbolic link out of the tree") }.count == 1, "\(plan.warnings)")
        let app = try Self.file(plan, "bin/app", in: directory)
        #expect(app.needs.first { $0.name == "libbar.so" }?.rule == .libraries)
    }

    /// Links in the walk: a directory link inside the tree (lib64 -> lib) and one back up
    /// (lib/up -> ..) add no file and no warning (their directories were walked); one out
    /// of the tree (lib/ext -> ../../extra) is one warning and its libbar.so no provider; a
    /// hard link of the program (bin/app2) is no second plan but an other name of bin/app;
    /// one two levels down (libexec/plugins/app3) is warned of: bin/app's $ORIGIN/../lib
    /// leads elsewhere from there.
    @Test func directoryLinksOnceAndFilesByInode() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let tree = directory.appendingPathComponent("tree").path
        try #require(symlink("lib", tree + "/lib64") == 0)
        try #require(symlink("..", tree + "/lib/up") == 0)
        try #require(symlink("../../extra", tree + "/lib/ext") == 0)
        try #require(link(tree + "/bin/app", tree + "/bin/app2") == 0)
        try #require(link(tree + "/bin/app", tree + "/libexec/plugins/app3") == 0)
        let plan = try Self.plan(directory)
        #expect(plan.errors.isEmpty, "\(plan.errors)")
        let paths = plan.files.map(\.path)
        #expect(paths == ["a-old/libfoo.so.1", "bin/app", "lib/libbaz.so.2", "lib/libfoo.so.1.0.0", "libexec/plugins/helper"]
            .map { tree + "/" + $0 }, "\(paths)")
        #expect(plan.hardLinks == [tree + "/bin/app": [tree + "/bin/app2", tree + "/libexec/plugins/app3"]], "\(plan.hardLinks)")
        // $ORIGIN/../lib from libexec/plugins is libexec/lib: the deeper name is warned of.
        #expect(plan.hardLinkWarnings.count == 1 && plan.hardLinkWarnings.first?.hasPrefix(tree + "/libexec/plugins/app3: a hard link of") == true,
                "\(plan.hardLinkWarnings)")
        #expect(plan.warnings == ["\(tree)/lib/ext: a symbolic link out of the tree (to \(directory.path)/extra), not followed"], "\(plan.warnings)")
        let app = try Self.file(plan, "bin/app", in: directory)
        #expect(app.needs.first { $0.name == "libbar.so" }?.rule == .libraries)
    }

    /// --keep-existing keeps the old entries that still name a directory ($ORIGIN expanded
    /// against the file's own directory), after the new ones; a gone one is dropped. Without
    /// it the old run path is replaced.
    @Test func keepExistingKeepsTheEntriesThatStillExist() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        try FileManager.default.createDirectory(atPath: "\(d)/tree/share", withIntermediateDirectories: true)
        try Self.gcc(["-o", "\(d)/tree/bin/old", "\(d)/src/helper.c", "-L\(d)/tree/lib", "-l:libfoo.so.1",
                      "-Wl,-rpath,/nonexistent-swelf:$ORIGIN/../share:$ORIGIN/../gone", "-Wl,--enable-new-dtags"])
        let kept = try Self.plan(directory) { $0.keepExisting = true }
        #expect(try Self.file(kept, "bin/old", in: directory).runPathAfter == "$ORIGIN/../lib:$ORIGIN/../share")
        let replaced = try Self.plan(directory)
        #expect(try Self.file(replaced, "bin/old", in: directory).runPathBefore == "/nonexistent-swelf:$ORIGIN/../share:$ORIGIN/../gone")
        #expect(try Self.file(replaced, "bin/old", in: directory).runPathAfter == "$ORIGIN/../lib")
    }

    /// The depth arithmetic on its own, including siblings and a directory below the origin.
    /// Files are planned several at a time, sharing what is learnt about providers; the
    /// plan is the same as one planned file by file, in walk order.
    @Test func planningInParallelGivesTheSamePlanInWalkOrder() throws {
        let directory = try Self.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        func summary(_ plan: AutopatchPlan) -> [String] {
            plan.files.map { file in
                "\(file.path) \(file.kind) \(file.interpreterAfter ?? "-") \(file.runPathAfter ?? "-") "
                    + file.needs.map { "\($0.name)=\($0.provider ?? "-")/\($0.rule)" }.joined(separator: ",")
            } + plan.errors
        }
        let alone = summary(try Self.plan(directory) { $0.jobs = 1 })
        let together = summary(try Self.plan(directory) { $0.jobs = 4 })
        #expect(alone.count >= 5)
        #expect(together == alone)
        #expect(alone.map { $0.split(separator: " ")[0] } == alone.map { $0.split(separator: " ")[0] }
            .sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }, "not in walk order: \(alone)")
    }

    @Test func originRelativePaths() {
        #expect(AutopatchPlanner.originRelative(from: "/t/bin", to: "/t/lib") == "$ORIGIN/../lib")
        #expect(AutopatchPlanner.originRelative(from: "/t/libexec/plugins", to: "/t/lib") == "$ORIGIN/../../lib")
        #expect(AutopatchPlanner.originRelative(from: "/t/lib", to: "/t/lib") == "$ORIGIN")
        #expect(AutopatchPlanner.originRelative(from: "/t", to: "/t/lib/x86") == "$ORIGIN/lib/x86")
        #expect(AutopatchPlanner.originRelative(from: "/t/lib2", to: "/t/lib") == "$ORIGIN/../lib")
    }
}
