import Foundation
import Testing

/// A stand-in `libc.so.6` that defines only the version GLIBC_2.2.5 (and one symbol), so a
/// program needing anything newer fails the loader's version check against it: doctor's
/// GLIBC advice is tested against it, found through LD_LIBRARY_PATH or inside a `--root`.
enum StandInLibc {
    /// Builds it with gcc at `directory/libc.so.6`, its source and version script beside it.
    static func build(in directory: URL) throws {
        let source = directory.appendingPathComponent("fake.c")
        let map = directory.appendingPathComponent("fake.map")
        try "int fake_libc(void) { return 0; }\n".write(to: source, atomically: true, encoding: .utf8)
        try "GLIBC_2.2.5 { global: fake_libc; local: *; };\n".write(to: map, atomically: true, encoding: .utf8)
        let build = try ChildProcess.run("gcc", ["-shared", "-fPIC", "-nostdlib", "-o", directory.appendingPathComponent("libc.so.6").path,
                                                 source.path, "-Wl,-soname,libc.so.6", "-Wl,--version-script,\(map.path)"])
        #expect(build.status == 0, "\(build.stderr)")
    }
}
