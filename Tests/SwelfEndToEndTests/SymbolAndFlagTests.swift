import Foundation
import XCTest

/// The remaining edits, on every architecture: --rename-dynamic-symbols (program and library
/// renamed together still run; the old name is gone), --clear-symbol-version,
/// --no-default-lib, --add-debug-tag and --shrink-rpath.
final class SymbolAndFlagTests: EndToEndTestCase {

    private func dynamicSymbolNames(_ url: URL) throws -> [String] {
        let r = try readelf(["--dyn-syms", "-W", url.path])
        return r.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[0].hasSuffix(":") else { return nil }
            return String(fields[7].split(separator: "@").first ?? "")
        }
    }

    /// The vendoring use: prefix a library's symbol and the program's import of it; the
    /// program still runs, and neither file mentions the old name.
    func testRenameDynamicSymbolsInProgramAndLibrary() throws {
        let box = try ScratchDirectory("rename")
        let map = box.url.appendingPathComponent("map")
        try "greet vendored_greet\n".write(to: map, atomically: true, encoding: .utf8)
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, lib) = try box.stage(arch: arch, program: "hello")
            let library = lib.appendingPathComponent("libgreet.so.1")
            guard try patch(["--set-rpath", "$ORIGIN/lib", "--rename-dynamic-symbols", map.path], exe, "\(arch) program"),
                  try patch(["--rename-dynamic-symbols", map.path], library, "\(arch) library") else { return }
            for file in [exe, library] {
                let names = try dynamicSymbolNames(file)
                XCTAssertTrue(names.contains("vendored_greet"), "[\(arch)] \(file.lastPathComponent): \(names)")
                XCTAssertFalse(names.contains("greet"), "[\(arch)] \(file.lastPathComponent) still has greet")
            }
            try assertRuns(exe, like: subject, "\(arch) renamed")
            // The program alone renamed does not find its symbol: the rename is real.
            try box.copy("\(arch)/libgreet.so.1", into: lib)
            let r = try runProgram(exe, like: subject)
            XCTAssertNotEqual(r.status, 0, "[\(arch)] runs against an unrenamed library?\n\(r.summary)")
        }
    }

    /// Many renames in a real library force .gnu.hash buckets to change, so .dynsym is
    /// reordered and relocations rewritten; the verifier (run on every write) looks every
    /// symbol up through the rebuilt hash tables, and readelf stays quiet.
    func testRenameManySymbolsInSystemLibrary() throws {
        let box = try ScratchDirectory("rename-many")
        let source = URL(fileURLWithPath: "/usr/lib/x86_64-linux-gnu/libz.so.1").resolvingSymlinksInPath()
        let library = box.url.appendingPathComponent("libz.so.1")
        try FileManager.default.copyItem(at: source, to: library)
        let exported = try dynamicSymbolNames(library).filter { $0.hasPrefix("inflate") || $0.hasPrefix("deflate") }
        XCTAssertGreaterThan(exported.count, 10)
        let map = box.url.appendingPathComponent("map")
        try exported.map { "\($0) zz_\($0)" }.joined(separator: "\n").write(to: map, atomically: true, encoding: .utf8)
        guard try patch(["--rename-dynamic-symbols", map.path], library, "libz") else { return }
        let names = try dynamicSymbolNames(library)
        for name in exported {
            XCTAssertTrue(names.contains("zz_" + name), "zz_\(name) missing")
            XCTAssertFalse(names.contains(name), "\(name) still there")
        }
        // A C program that dlopens the renamed library finds the new name.
        let program = box.url.appendingPathComponent("usez")
        let c = box.url.appendingPathComponent("usez.c")
        try """
        #include <dlfcn.h>
        #include <stdio.h>
        int main(int argc, char **argv) {
            void *h = dlopen(argv[1], RTLD_NOW);
            if (!h) { puts(dlerror()); return 2; }
            puts(dlsym(h, "zz_inflate") && !dlsym(h, "inflate") ? "renamed" : "not renamed");
            return 0;
        }
        """.write(to: c, atomically: true, encoding: .utf8)
        try requireTool("/usr/bin/gcc")
        let build = try runTool("/usr/bin/gcc", [c.path, "-o", program.path, "-ldl"])
        XCTAssertEqual(build.status, 0, build.summary)
        let run = try runTool(program.path, [library.path])
        XCTAssertEqual(run.stdout, "renamed\n", run.summary)
    }

    func testClearSymbolVersion() throws {
        let box = try ScratchDirectory("clearver")
        forEachArch { arch in
            let (exe, _) = try box.stage(arch: arch, program: "needver", libraries: ["libver.so.1"])
            let before = try readelf(["-V", "--dyn-syms", "-W", exe.path]).stdout
            XCTAssertTrue(before.contains("ver_new@VER_2"), "[\(arch)] \(before)")
            guard try patch(["--clear-symbol-version", "ver_new"], exe, "\(arch) clear-symbol-version") else { return }
            let after = try readelf(["--dyn-syms", "-W", exe.path]).stdout
            XCTAssertFalse(after.contains("ver_new@VER_2"), "[\(arch)] version still attached:\n\(after)")
            XCTAssertTrue(after.contains("ver_new"), "[\(arch)] symbol gone")
        }
    }

    func testNoDefaultLibAndDebugTag() throws {
        let box = try ScratchDirectory("flags")
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, _) = try box.stage(arch: arch, program: "hello")
            guard try patch(["--set-rpath", "$ORIGIN/lib", "--no-default-lib", "--add-debug-tag"], exe, "\(arch)") else { return }
            let dynamic = try readelf(["-d", exe.path]).stdout
            XCTAssertTrue(dynamic.contains("NODEFLIB"), "[\(arch)] no NODEFLIB:\n\(dynamic)")
            XCTAssertTrue(dynamic.contains("(DEBUG)"), "[\(arch)] no DT_DEBUG:\n\(dynamic)")
            // With NODEFLIB the loader skips ld.so.cache and the default directories, so libc
            // is no longer found: the flag is real.
            let r = try runProgram(exe, like: subject)
            XCTAssertNotEqual(r.status, 0, "[\(arch)] still runs with DF_1_NODEFLIB?\n\(r.summary)")
            XCTAssertTrue(r.stderr.contains("libc.so.6"), "[\(arch)] \(r.summary)")
        }
    }

    func testShrinkRpath() throws {
        let box = try ScratchDirectory("shrink")
        forEachArch { arch in
            let subject = try Subject.named("\(arch)/hello")
            let (exe, lib) = try box.stage(arch: arch, program: "hello")
            let empty = try box.dir("\(arch)/empty")
            let rpath = "\(empty.path):\(lib.path):/nonexistent/dir:$ORIGIN/rel"
            guard try patch(["--set-rpath", rpath], exe, "\(arch) set"),
                  try patch(["--shrink-rpath"], exe, "\(arch) shrink") else { return }
            XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["\(lib.path):$ORIGIN/rel"], "[\(arch)]")
            try assertRuns(exe, like: subject, "\(arch) shrunk")
            guard try patch(["--set-rpath", rpath], exe, "\(arch) set again"),
                  try patch(["--shrink-rpath", "--allowed-rpath-prefixes", "/nowhere"], exe, "\(arch) prefixes") else { return }
            XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/rel"], "[\(arch)]")
        }
    }
}
