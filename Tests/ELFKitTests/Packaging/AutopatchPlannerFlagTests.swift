import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitLoader
@testable import ELFKitPackaging

/// The planner's remaining decisions on the tree of ``AutopatchPlannerTests``:
/// `--ignore-existing`, `--keep-libc`, the `--extra-args` flags, the interpreter found among
/// the providers, and `.note.dlopen` needs read from programs gcc builds with the note.
/// Expected values come from the layout (and, for the loader and libc, from the files
/// copied into the tree), not from the planner.
@Suite struct AutopatchPlannerFlagTests {
    typealias Base = AutopatchPlannerTests

    /// auto-patchelf.py's `--ignore-existing` skips indexing the paths to patch: the
    /// tree's libfoo is no provider, so app's libfoo.so.1 is missing; given with --libs it
    /// is found there and written absolute.
    @Test func ignoreExistingLeavesTheTreeOutOfTheProviders() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let app = directory.appendingPathComponent("tree/bin/app").path
        let lib = directory.appendingPathComponent("tree/lib").path
        let extra = directory.appendingPathComponent("extra").path
        let alone = try Base.plan(directory) { $0.ignoreExisting = true }
        #expect(alone.errors.contains("\(app): libfoo.so.1: not found (tree, --libs, system)"), "\(alone.errors)")
        let withLibs = try Base.plan(directory) { $0.ignoreExisting = true; $0.libraryDirectories = [extra, lib] }
        #expect(withLibs.errors.isEmpty, "\(withLibs.errors)")
        let planned = try Base.file(withLibs, "bin/app", in: directory)
        #expect(planned.needs.first { $0.name == "libfoo.so.1" }?.rule == .libraries)
        #expect(planned.runPathAfter == "\(lib):\(extra)")
    }

    /// A copy of this machine's libc.so.6 in the tree: without --keep-libc it is not used
    /// (glibc's libraries come from the target, as auto-patchelf.py drops them) and no
    /// libc directory is written; with it, the tree's copy is the provider. With
    /// --keep-libc and no copy, the directory the target's libc is in is written.
    @Test func keepLibc() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let extra = directory.appendingPathComponent("extra").path
        // Where the target's loader finds libc: ldconfig's cache says it, not the planner.
        let cache = try ChildProcess.run("/sbin/ldconfig", ["-p"])
        let line = try #require(cache.stdout.split(separator: "\n").first { $0.contains("libc.so.6 (") && $0.contains("x86-64") })
        let systemLibc = String(line[line.range(of: "=> ")!.upperBound...])
        let libcDirectory = String(systemLibc[..<systemLibc.lastIndex(of: "/")!])
        let kept = try Base.plan(directory) { $0.keepLibc = true }
        #expect(try Base.file(kept, "bin/app", in: directory).runPathAfter == "$ORIGIN/../lib:\(extra):\(libcDirectory)")
        #expect(try Base.file(kept, "libexec/plugins/helper", in: directory).runPathAfter == "$ORIGIN/../../lib:\(libcDirectory)")
        // libfoo needs nothing (not even libc): nothing to write.
        #expect(try Base.file(kept, "lib/libfoo.so.1.0.0", in: directory).runPathAfter == nil)

        let copy = directory.appendingPathComponent("tree/lib/libc.so.6").path
        try FileManager.default.copyItem(atPath: AutopatchWalk.realPath(systemLibc)!, toPath: copy)
        let dropped = try Base.plan(directory)
        let droppedApp = try Base.file(dropped, "bin/app", in: directory)
        #expect(droppedApp.needs.first { $0.name == "libc.so.6" }?.rule == .system)
        #expect(droppedApp.runPathAfter == "$ORIGIN/../lib:\(extra)")
        let fromTree = try Base.plan(directory) { $0.keepLibc = true }
        let treeApp = try Base.file(fromTree, "bin/app", in: directory)
        #expect(treeApp.needs.first { $0.name == "libc.so.6" }?.provider == copy)
        #expect(treeApp.runPathAfter == "$ORIGIN/../lib:\(extra)")
    }

    /// --extra-args --force-rpath: a file whose run path text is already right but is
    /// DT_RUNPATH is still to change; --no-default-lib: every patched file is to change
    /// until DF_1_NODEFLIB is set.
    @Test func extraArgumentFlagsMakeAFileChange() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        try Base.gcc(["-o", "\(d)/tree/bin/done", "\(d)/src/helper.c", "-L\(d)/tree/lib", "-l:libfoo.so.1",
                      "-Wl,-rpath,$ORIGIN/../lib", "-Wl,--enable-new-dtags"])
        let plain = try Base.file(try Base.plan(directory), "bin/done", in: directory)
        #expect(!plain.changed && !plain.runPathIsRPath)
        let forced = try Base.file(try Base.plan(directory) { $0.forceRPath = true }, "bin/done", in: directory)
        #expect(forced.changed && forced.runPathAfter == "$ORIGIN/../lib")
        // A file with no run path to write is not changed by --force-rpath.
        #expect(!(try Base.file(try Base.plan(directory) { $0.forceRPath = true }, "lib/libfoo.so.1.0.0", in: directory).changed))
        let noDefault = try Base.plan(directory) { $0.noDefaultLib = true }
        #expect(try Base.file(noDefault, "bin/done", in: directory).setsNoDefaultLib)
        #expect(try Base.file(noDefault, "lib/libfoo.so.1.0.0", in: directory).changed)
    }

    /// Without --interpreter: a file named as the machine's standard loader in the tree,
    /// of the program's machine, is taken (a decoy of another machine under the same name,
    /// first in walk order, is passed over); without one, the program keeps its own
    /// PT_INTERP; a program whose own loader does not exist is an error naming it.
    @Test func interpreterDiscovery() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let own = try HostLoader.interpreter()
        let name = String(own[own.index(after: own.lastIndex(of: "/")!)...])
        let kept = try Base.plan(directory)
        #expect(try Base.file(kept, "bin/app", in: directory).interpreterAfter == own)

        let decoy = "/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1"
        if FileManager.default.fileExists(atPath: decoy) {
            try FileManager.default.copyItem(atPath: decoy, toPath: "\(d)/tree/a-old/\(name)")
        } else {
            Issue.record("\(decoy) missing: run scripts/install-test-deps")
        }
        try FileManager.default.copyItem(atPath: AutopatchWalk.realPath(own)!, toPath: "\(d)/tree/lib/\(name)")
        let found = try Base.plan(directory)
        #expect(found.errors.isEmpty, "\(found.errors)")
        #expect(try Base.file(found, "bin/app", in: directory).interpreterAfter == "\(d)/tree/lib/\(name)")
        #expect(try Base.file(found, "libexec/plugins/helper", in: directory).interpreterAfter == "\(d)/tree/lib/\(name)")
        #expect(try Base.file(found, "lib/libbaz.so.2", in: directory).interpreterAfter == nil)
        try FileManager.default.removeItem(atPath: "\(d)/tree/lib/\(name)")

        try Base.gcc(["-o", "\(d)/tree/bin/lost", "\(d)/src/helper.c", "-L\(d)/tree/lib", "-l:libfoo.so.1",
                      "-Wl,--dynamic-linker=/nonexistent-swelf/ld.so"])
        let lost = try Base.plan(directory)
        let path = "\(d)/tree/bin/lost"
        #expect(lost.errors == ["\(path): no interpreter: no \(name) in the tree or --libs, and its own /nonexistent-swelf/ld.so "
                                + "does not exist on the target (give --interpreter)"], "\(lost.errors)")
        #expect(try Base.file(lost, "bin/lost", in: directory).interpreterAfter == "/nonexistent-swelf/ld.so")
    }

    /// A C header giving the program a `.note.dlopen` with `json` (gcc marks the section
    /// SHT_NOTE by its name and the linker puts it in a PT_NOTE segment).
    static func noteHeader(_ json: String) -> String {
        let quoted = json.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"")
        return "#define DLOPEN_JSON \"\(quoted)\"\n"
            + "__attribute__((used, section(\".note.dlopen\"), aligned(4))) static const struct {\n"
            + "    unsigned namesz, descsz, type; char name[4]; char desc[(sizeof(DLOPEN_JSON) + 3) & ~3];\n"
            + "} dlopen_note = { 4, sizeof(DLOPEN_JSON), 0x407c0c0a, \"FDO\", DLOPEN_JSON };\n"
    }

    /// Programs with a `.note.dlopen`: the first alternative found wins and its directory
    /// is written (--libs: absolute), marked dlopen with its priority; a required entry
    /// found nowhere is a missing error naming every alternative; a suggested one is a
    /// warning; a pattern matching an alternative ignores it; a malformed note is one
    /// warning and the DT_NEEDED entries are still planned.
    @Test func dlopenNotes() throws {
        let directory = try Base.buildTree()
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        let extra = directory.appendingPathComponent("extra").path
        let notes = [
            "good": #"[{"soname":["libbar.so.9","libbar.so"],"priority":"required"},{"soname":["libbaz.so.2"],"priority":"suggested"},"#
                + #"{"soname":["libnone.so.7"],"priority":"suggested","feature":"x"}]"#,
            "needy": #"[{"soname":["libnone.so.1","libnone.so.0"],"priority":"required"}]"#,
            "broken": #"[{"soname":["libbar.so"],"priority":"required"]"#,
        ]
        for (name, json) in notes {
            try (Self.noteHeader(json) + "#include <stdio.h>\nconst char *foo(void);\nint main(void) { puts(foo()); return 0; }\n")
                .write(toFile: "\(d)/src/\(name).c", atomically: true, encoding: .utf8)
            try Base.gcc(["-o", "\(d)/tree/bin/\(name)", "\(d)/src/\(name).c", "-L\(d)/tree/lib", "-l:libfoo.so.1"])
        }
        let plan = try Base.plan(directory)
        let good = try Base.file(plan, "bin/good", in: directory)
        #expect(good.runPathAfter == "$ORIGIN/../lib:\(extra)")
        let dlopen = good.needs.filter { $0.dlopen != nil }
        #expect(dlopen.map(\.name) == ["libbar.so", "libbaz.so.2", "libnone.so.7"])
        #expect(dlopen.map(\.rule) == [.libraries, .tree, .optional])
        #expect(dlopen.map(\.dlopen) == [.required, .suggested, .suggested])
        #expect(dlopen[0].alternatives == ["libbar.so.9", "libbar.so"])
        #expect(dlopen[1].provider == "\(d)/tree/lib/libbaz.so.2")
        #expect(good.missing.isEmpty)
        #expect(plan.warnings.contains("\(d)/tree/bin/good: libnone.so.7 (dlopen, suggested): not found (tree, --libs, system); suggested, so no error"),
                "\(plan.warnings)")

        let needy = "\(d)/tree/bin/needy"
        #expect(plan.errors == ["\(needy): libnone.so.1 or libnone.so.0 (dlopen, required): not found (tree, --libs, system)"], "\(plan.errors)")
        #expect(try Base.file(plan, "bin/needy", in: directory).missing == ["libnone.so.1"])

        let broken = try Base.file(plan, "bin/broken", in: directory)
        #expect(broken.needs.map(\.name) == ["libfoo.so.1", "libc.so.6"])
        #expect(broken.runPathAfter == "$ORIGIN/../lib")
        let warning = plan.warnings.filter { $0.hasPrefix("\(d)/tree/bin/broken: .note.dlopen: ") }
        #expect(warning.count == 1 && warning[0].contains("at byte"), "\(plan.warnings)")

        let ignored = try Base.plan(directory) { $0.ignoreMissing = ["libnone.so.0"] }
        #expect(ignored.errors.isEmpty, "\(ignored.errors)")
        #expect(try Base.file(ignored, "bin/needy", in: directory).needs.last?.rule == .ignored)

        // An assembler note, not allocated (in no PT_NOTE segment), priority left out:
        // found by its type in the section table, recommended.
        try (#"__asm__(".pushsection .note.dlopen,\"\",%note\n.balign 4\n.long 4\n.long 2f - 1f\n.long 0x407c0c0a\n""#
            + #"".asciz \"FDO\"\n1: .asciz \"[{\\\"soname\\\":[\\\"libbaz.so.2\\\"]}]\"\n2: .balign 4\n.popsection\n");"#
            + "\nint main(void) { return 0; }\n").write(toFile: "\(d)/src/asm.c", atomically: true, encoding: .utf8)
        try Base.gcc(["-o", "\(d)/asm", "\(d)/src/asm.c"])
        let assembled = try ELFFile(path: "\(d)/asm")
        #expect(!assembled.programHeaders.contains { $0.type == .note && $0.offset == assembled.section(named: ".note.dlopen")?.header.offset })
        #expect(try assembled.dlopenDependencies() == [DlopenDependency(sonames: ["libbaz.so.2"], priority: .recommended)])

        // The same note read directly: the reader, not the planner.
        let file = try ELFFile(path: "\(d)/tree/bin/needy")
        #expect(try file.dlopenDependencies() == [DlopenDependency(sonames: ["libnone.so.1", "libnone.so.0"], priority: .required)])
    }
}
