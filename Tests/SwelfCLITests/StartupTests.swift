import Foundation
import Testing

/// swelf as built for the tests (dynamically linked against the Swift runtime) in a root
/// without /proc: a chroot holding the binary, the libraries ldd lists for it and a
/// program to read. The runtime library finds argv through /proc/self/maps; without it
/// swelf saw no arguments at all and every command was a usage error ("missing
/// filename"). scripts/test-install checks the static release binary the same way.
/// Needs root (chroot); CI runs as root.
@Suite struct StartupTests {
    @Test func runsWithoutProc() throws {
        let swelf = try #require(Swelf.path, "swelf is not built")
        let jail = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-noproc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: jail, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: jail) }
        func copy(_ source: String, to destination: String) throws {
            let target = jail.appendingPathComponent(destination)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            // The file a link names, not the link: the chroot has nothing for it to point at.
            try FileManager.default.copyItem(atPath: URL(fileURLWithPath: source).resolvingSymlinksInPath().path, toPath: target.path)
        }
        try copy(swelf, to: "swelf")
        let libraries = try ChildProcess.run("ldd", [swelf]).stdout.matches(of: #/(/[^ \t\n]+)/#).map { String($0.output.1) }
        #expect(libraries.contains { $0.contains("libswiftCore.so") }, "not a dynamically linked build: \(libraries)")
        for library in Set(libraries) { try copy(library, to: String(library.dropFirst())) }
        try copy(Repo.testBinaries.appendingPathComponent("x86_64/hello-runpath").path, to: "hello")
        #expect(!FileManager.default.fileExists(atPath: jail.appendingPathComponent("proc").path))

        let chroot = try #require(["/usr/sbin/chroot", "/sbin/chroot"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                  "chroot not found")
        let version = try ChildProcess.run(chroot, [jail.path, "/swelf", "--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("swelf "), "--version: exit \(version.status): \(version.stdout) \(version.stderr)")
        let rpath = try ChildProcess.run(chroot, [jail.path, "/swelf", "--print-rpath", "/hello"])
        #expect(rpath.status == 0 && rpath.stdout == "$ORIGIN/lib\n", "--print-rpath: exit \(rpath.status): \(rpath.stdout) \(rpath.stderr)")
        let edit = try ChildProcess.run(chroot, [jail.path, "/swelf", "--set-rpath", "/opt/x", "/hello"])
        #expect(edit.status == 0, "--set-rpath: exit \(edit.status): \(edit.stderr)")
        #expect(try Swelf.run(["--print-rpath", jail.appendingPathComponent("hello").path]).stdout == "/opt/x\n")
    }
}
