import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

/// `--root`: a small root file system with its own ld.so.cache (written by
/// `ldconfig -r`), an absolute /lib64 loader link and a library known only to its
/// cache. swelf's answer from outside is compared with the loader run inside it with
/// chroot.
@Suite struct ResolverRootTests {
    @Test func rootFileSystemWithItsOwnCache() throws {
        #expect(getuid() == 0, "chroot needs root: run the tests as root (scripts/test does)")
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-rootfs-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        let manager = FileManager.default
        let interpreter = try HostLoader.interpreter()  // /lib64/ld-linux-x86-64.so.2
        let loaderFile = try #require(URL(fileURLWithPath: interpreter).resolvingSymlinksInPath().path as String?)
        let libc = URL(fileURLWithPath: PathText.directory(of: loaderFile)).appendingPathComponent("libc.so.6").path
        let multiarch = "lib/x86_64-linux-gnu"
        for directory in [multiarch, "lib64", "usr/bin", "opt/greet/lib", "etc"] {
            try manager.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try manager.copyItem(atPath: loaderFile, toPath: root.appendingPathComponent("\(multiarch)/ld-linux-x86-64.so.2").path)
        try manager.copyItem(atPath: libc, toPath: root.appendingPathComponent("\(multiarch)/libc.so.6").path)
        // Absolute, as distributions ship it: must resolve inside the root.
        try manager.createSymbolicLink(atPath: root.appendingPathComponent("lib64/ld-linux-x86-64.so.2").path,
                                       withDestinationPath: "/\(multiarch)/ld-linux-x86-64.so.2")
        for name in ["libgreet.so.1", "libunused.so"] {
            try manager.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/\(name)"),
                                 to: root.appendingPathComponent("opt/greet/lib/\(name)"))
        }
        try manager.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/hello"), to: root.appendingPathComponent("usr/bin/hello"))
        try "/opt/greet/lib\n".write(to: root.appendingPathComponent("etc/ld.so.conf"), atomically: true, encoding: .utf8)
        let ldconfig = try ChildProcess.run("ldconfig", ["-r", root.path])
        #expect(ldconfig.status == 0, "ldconfig -r: \(ldconfig.stderr)")

        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "LD_LIBRARY_PATH")
        variables.removeValue(forKey: "LD_PRELOAD")
        let fileSystem = LoaderFileSystem(root: root.path)
        let cache = LoaderEnvironment.loadCache(fileSystem: fileSystem)
        #expect(cache.cache != nil, "\(cache.problem ?? "")")
        let environment = LoaderEnvironment(
            variables: variables, fileSystem: fileSystem, currentDirectory: "/", platform: try HostLoader.platform(),
            cache: cache.cache, cachePath: cache.path)
        let program = root.appendingPathComponent("usr/bin/hello").path
        let diagnosis = Diagnosis.run(path: program, environment: environment, host: HostLoader.host)
        #expect(diagnosis.wouldStart, "\(diagnosis.checks.flatMap(\.findings).map(\.message))")
        let resolution = try #require(diagnosis.resolution)
        let libgreet = try #require(resolution.lookups.first { $0.name == "libgreet.so.1" }?.object)
        #expect(resolution.objects[libgreet].rule == .cache)
        #expect(resolution.objects[libgreet].path == root.path + "/opt/greet/lib/libgreet.so.1")
        let interpreterIndex = try #require(resolution.interpreterIndex)
        #expect(resolution.objects[interpreterIndex].path == root.path + interpreter)
        // The host's own libc must not leak in.
        #expect(!resolution.objects.contains { !$0.path.hasPrefix(root.path) })

        // The loader inside the root agrees (--list: every library is there, and the
        // root has no env to set LD_TRACE_LOADED_OBJECTS for it alone).
        let inside = try ChildProcess.run("chroot", [root.path, interpreter, "--list", "/usr/bin/hello"])
        #expect(inside.status == 0, "\(inside.stderr)")
        let chrootListing = HostLoader.normalize(inside.stdout)
        let ours = HostLoader.listing(resolution, fileSystem: fileSystem)
        #expect(ours == chrootListing)
    }
}
