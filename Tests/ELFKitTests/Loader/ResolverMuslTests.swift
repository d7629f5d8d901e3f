import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

/// musl programs are resolved with musl's rules, which differ from glibc's: its loader
/// is libc.so, and a DT_RUNPATH is inherited by the libraries' dependencies. Checked
/// against musl's own loader in list mode.
@Suite struct ResolverMuslTests {
    static let loader = "/lib/ld-musl-x86_64.so.1"

    static func referenceListing(_ program: String) throws -> [String] {
        let result = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", loader, "--list", program])
        return HostLoader.normalize(result.stdout)
    }

    static func environment() throws -> LoaderEnvironment {
        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "LD_LIBRARY_PATH")
        return try HostLoader.environment(variables: variables)
    }

    @Test func helloMusl() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.loader), "musl is missing: run scripts/install-test-deps")
        let program = Repo.testBinaries.appendingPathComponent("x86_64/hello-musl").path
        let diagnosis = Diagnosis.run(path: program, environment: try Self.environment(), host: HostLoader.host)
        #expect(diagnosis.wouldStart)
        let resolution = try #require(diagnosis.resolution)
        #expect(HostLoader.listing(resolution) == (try Self.referenceListing(program)))
    }

    @Test func runpathIsInheritedUnderMusl() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-musl-\(getpid())")
        let lib = directory.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let d = directory.path
        try "int b(void) { return 2; }\n".write(toFile: "\(d)/b.c", atomically: true, encoding: .utf8)
        try "int b(void);\nint a(void) { return b() + 1; }\n".write(toFile: "\(d)/a.c", atomically: true, encoding: .utf8)
        try "int a(void);\nint main(void) { return a() == 3 ? 0 : 1; }\n".write(toFile: "\(d)/app.c", atomically: true, encoding: .utf8)
        for arguments in [
            ["-shared", "-fPIC", "-o", "\(d)/lib/libb.so", "\(d)/b.c", "-Wl,-soname,libb.so"],
            ["-shared", "-fPIC", "-o", "\(d)/lib/liba.so", "\(d)/a.c", "-Wl,-soname,liba.so", "-L\(d)/lib", "-lb"],
            ["-o", "\(d)/app", "\(d)/app.c", "-L\(d)/lib", "-la", "-Wl,-rpath-link,\(d)/lib", "-Wl,-rpath,$ORIGIN/lib",
             "-Wl,--enable-new-dtags"],
        ] {
            let result = try ChildProcess.run("musl-gcc", arguments)
            #expect(result.status == 0, "musl-gcc \(arguments): \(result.stderr)")
        }
        let program = "\(d)/app"
        let diagnosis = Diagnosis.run(path: program, environment: try Self.environment(), host: HostLoader.host)
        let resolution = try #require(diagnosis.resolution)
        let libb = try #require(resolution.lookups.first { $0.name == "libb.so" })
        let index = try #require(libb.object, "under musl the program's RUNPATH reaches liba.so's dependencies")
        #expect(resolution.describe(resolution.objects[index].rule) == "RUNPATH of app")
        #expect(diagnosis.wouldStart)
        #expect(HostLoader.listing(resolution) == (try Self.referenceListing(program)))
    }
}
