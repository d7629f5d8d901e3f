import Foundation
import Testing

/// `swelf autopatch` on a generated prebuilt tree, then the tree copied elsewhere (`cp -a`,
/// the original removed) and every program run from the copy with an empty
/// LD_LIBRARY_PATH: the loader is the oracle. Built without any run path, so only the
/// autopatch result can make it load. On x86_64 natively and on aarch64 (cross gcc,
/// `--root /usr/aarch64-linux-gnu`, run under qemu-user with `-L`):
///
///     t/bin/app                        needs libcore.so.1 (tree) and libextra.so.1 (--libs only)
///     t/bin/run-app                    a shell wrapper that runs app (under $RUN_UNDER)
///     t/lib/libcore.so -> libcore.so.1 -> libcore.so.1.2.3   a soname link chain
///     t/lib/plugins/libplugin.so.1     needs libcore.so.1; loaded only with dlopen
///     t/libexec/app/plugins/loader     three levels down; dlopens libplugin.so.2 or .1, named
///                                      by its .note.dlopen (required), which also lists a
///                                      suggested libnothere.so.9 that exists nowhere
///     t/share/addons/libaddon.so       needs libghost.so.1, which exists nowhere:
///                                      --ignore-missing 'libghost*'
///     t/opt/foreign/libother.so        a file of the other architecture: left alone
///     extra/libextra.so.1              outside the tree, given with --libs
///
/// The expected run paths are written from this layout, not from the planner.
@Suite struct AutopatchTreeRunTests {
    static let noteHeader = """
        #define DLOPEN_JSON "[{\\"soname\\":[\\"libplugin.so.2\\",\\"libplugin.so.1\\"],\\"feature\\":\\"plugin\\",\\"priority\\":\\"required\\"},{\\"soname\\":[\\"libnothere.so.9\\"],\\"priority\\":\\"suggested\\"}]"
        __attribute__((used, section(".note.dlopen"), aligned(4))) static const struct {
            unsigned namesz, descsz, type; char name[4]; char desc[(sizeof(DLOPEN_JSON) + 3) & ~3];
        } dlopen_note = { 4, sizeof(DLOPEN_JSON), 0x407c0c0a, "FDO", DLOPEN_JSON };

        """

    static let sources = [
        "core.c": "const char *core(void) { return \"core 1.2.3\"; }\n",
        "extra.c": "const char *extra(void) { return \"extra\"; }\n",
        "ghost.c": "int ghost(void) { return 1; }\n",
        "addon.c": "int ghost(void);\nint addon(void) { return ghost(); }\n",
        "plugin.c": "#include <stdio.h>\nconst char *core(void);\nstatic char text[64];\n"
            + "const char *plugin(void) { snprintf(text, sizeof text, \"plugin(%s)\", core()); return text; }\n",
        "app.c": "#include <stdio.h>\nconst char *core(void); const char *extra(void);\n"
            + "int main(void) { printf(\"app: %s, %s\\n\", core(), extra()); return 0; }\n",
        "loader.c": "#include <dlfcn.h>\n#include <stdio.h>\n#include \"note.h\"\nint main(void) {\n"
            + "    void *h = dlopen(\"libplugin.so.2\", RTLD_NOW);\n    if (!h) h = dlopen(\"libplugin.so.1\", RTLD_NOW);\n"
            + "    if (!h) { printf(\"loader: %s\\n\", dlerror()); return 1; }\n"
            + "    const char *(*plugin)(void) = (const char *(*)(void))dlsym(h, \"plugin\");\n"
            + "    printf(\"loader: %s\\n\", plugin()); return 0;\n}\n",
    ]

    /// Builds the tree with `compiler` (one compile per file); `foreign` is a file of the
    /// other architecture, copied in.
    static func build(_ scratch: ScratchDirectory, compiler: String, foreign: String) throws {
        for directory in ["src", "extra", "ghost", "t/bin", "t/lib/plugins", "t/libexec/app/plugins", "t/share/addons", "t/opt/foreign"] {
            try FileManager.default.createDirectory(atPath: scratch.path(directory), withIntermediateDirectories: true)
        }
        for (name, text) in sources { try text.write(toFile: scratch.path("src/\(name)"), atomically: true, encoding: .utf8) }
        try noteHeader.write(toFile: scratch.path("src/note.h"), atomically: true, encoding: .utf8)
        let src = scratch.path("src")
        let lib = scratch.path("t/lib")
        try FileManager.default.createSymbolicLink(atPath: lib + "/libcore.so.1", withDestinationPath: "libcore.so.1.2.3")
        try FileManager.default.createSymbolicLink(atPath: lib + "/libcore.so", withDestinationPath: "libcore.so.1")
        let shared = ["-shared", "-fPIC"]
        for arguments in [
            shared + ["-o", lib + "/libcore.so.1.2.3", src + "/core.c", "-Wl,-soname,libcore.so.1"],
            shared + ["-o", scratch.path("extra/libextra.so.1"), src + "/extra.c", "-Wl,-soname,libextra.so.1"],
            shared + ["-o", scratch.path("ghost/libghost.so.1"), src + "/ghost.c", "-Wl,-soname,libghost.so.1", "-nostdlib"],
            shared + ["-o", scratch.path("t/share/addons/libaddon.so"), src + "/addon.c", "-L" + scratch.path("ghost"), "-l:libghost.so.1"],
            shared + ["-o", lib + "/plugins/libplugin.so.1", src + "/plugin.c", "-Wl,-soname,libplugin.so.1", "-L" + lib, "-lcore"],
            ["-o", scratch.path("t/bin/app"), src + "/app.c", "-L" + lib, "-lcore", "-L" + scratch.path("extra"), "-l:libextra.so.1"],
            ["-o", scratch.path("t/libexec/app/plugins/loader"), src + "/loader.c", "-ldl"],
        ] {
            let result = try ChildProcess.run(compiler, arguments)
            try #require(result.status == 0, "\(compiler) \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        // RUN_UNDER: the emulator for another architecture (empty natively).
        try "#!/bin/sh\nexec $RUN_UNDER \"$(dirname \"$0\")/app\" \"$@\"\n".write(toFile: scratch.path("t/bin/run-app"), atomically: true, encoding: .utf8)
        try #require(chmod(scratch.path("t/bin/run-app"), 0o755) == 0)
        try FileManager.default.copyItem(atPath: foreign, toPath: scratch.path("t/opt/foreign/libother.so"))
    }

    /// The DT_RUNPATH readelf shows for `path` ("" when none): another road than swelf's.
    static func readelfRunPath(_ path: String) throws -> String {
        let result = try ChildProcess.run("readelf", ["-dW", path])
        let line = result.stdout.split(separator: "\n").first { $0.contains("(RUNPATH)") }
        guard let line, let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return "" }
        return String(line[line.index(after: open) ..< close])
    }

    @Test(arguments: [("gcc", nil), ("aarch64-linux-gnu-gcc", "/usr/aarch64-linux-gnu")] as [(String, String?)])
    func everyProgramRunsFromACopyOfThePatchedTree(compiler: String, sysroot: String?) throws {
        let qemu = "/usr/bin/qemu-aarch64-static"
        let aarch64Sysroot = "/usr/aarch64-linux-gnu"
        // The file of the other architecture: the aarch64 libm in an x86_64 tree, this
        // machine's /bin/true (a program) in an aarch64 tree.
        let foreign = sysroot == nil ? aarch64Sysroot + "/lib/libm.so.6" : "/bin/true"
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/aarch64-linux-gnu-gcc"), FileManager.default.fileExists(atPath: foreign),
              sysroot == nil || FileManager.default.isExecutableFile(atPath: qemu) else {
            Issue.record("aarch64-linux-gnu-gcc, \(qemu) or \(aarch64Sysroot) missing: run scripts/install-test-deps")
            return
        }
        let scratch = try ScratchDirectory("autopatch-tree-run")
        try Self.build(scratch, compiler: compiler, foreign: foreign)
        let foreignBytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path("t/opt/foreign/libother.so")))
        let root = sysroot.map { ["--root", $0] } ?? []
        let arguments = root + ["--libs", scratch.path("extra"), "--ignore-missing", "libghost*", scratch.path("t")]
        // The plan as JSON first (valid by the schema): the loader's .note.dlopen needs.
        let plan = try JSONSchemaTests.validated(["autopatch", "--json", "--dry-run"] + arguments, command: "autopatch")
        let loader = JSONSchemaTests.files(plan).first { ($0["file"] as? String)?.hasSuffix("/plugins/loader") == true }
        let dlopen = (loader?["needs"] as? [[String: Any]] ?? []).filter { !($0["dlopen"] is NSNull) }
        #expect(dlopen.map { "\($0["name"] ?? "") \($0["rule"] ?? "") \($0["dlopen"] ?? "")" }
                == ["libplugin.so.1 tree required", "libnothere.so.9 optional suggested"], "\(dlopen)")
        let result = try Swelf.run(["autopatch"] + arguments)
        #expect(result.status == 0, "\(result.stderr)")
        // ELF: app, loader, libcore, libplugin, libaddon, libother (foreign, skipped);
        // unchanged: libcore (needs only libc), libaddon (libc, and libghost ignored);
        // other: the wrapper.
        #expect(result.stdout.hasSuffix("6 ELF files: 3 changed, 2 unchanged, 1 skipped, 0 missing; 1 other file\n"), "\(result.stdout)")
        #expect(result.stderr.contains("loader: libnothere.so.9 (dlopen, suggested): not found"), "\(result.stderr)")

        // Copy elsewhere, remove the original: nothing may still point into it.
        let copy = scratch.path("copy")
        let cp = try ChildProcess.run("/bin/cp", ["-a", scratch.path("t"), copy])
        try #require(cp.status == 0, "\(cp.stderr)")
        try FileManager.default.removeItem(atPath: scratch.path("t"))

        #expect(try Self.readelfRunPath(copy + "/bin/app") == "$ORIGIN/../lib:" + scratch.path("extra"))
        #expect(try Self.readelfRunPath(copy + "/libexec/app/plugins/loader") == "$ORIGIN/../../../lib/plugins")
        #expect(try Self.readelfRunPath(copy + "/lib/plugins/libplugin.so.1") == "$ORIGIN/..")
        #expect(try Self.readelfRunPath(copy + "/share/addons/libaddon.so") == "")
        #expect(try Data(contentsOf: URL(fileURLWithPath: copy + "/opt/foreign/libother.so")) == foreignBytes)

        let emulator = sysroot.map { [qemu, "-L", $0] } ?? []
        let expected = [
            "bin/app": "app: core 1.2.3, extra\n",
            "bin/run-app": "app: core 1.2.3, extra\n",
            "libexec/app/plugins/loader": "loader: plugin(core 1.2.3)\n",
        ]
        for (program, output) in expected.sorted(by: { $0.key < $1.key }) {
            // The wrapper is a script: the shell runs it, and it runs app under RUN_UNDER.
            let command = program == "bin/run-app" ? ["RUN_UNDER=" + emulator.joined(separator: " "), "/bin/sh", copy + "/" + program]
                : emulator + [copy + "/" + program]
            let run = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH="] + command)
            #expect(run.status == 0 && run.stdout == output, "\(program): status \(run.status), \(run.stdout) \(run.stderr)")
        }
    }
}
