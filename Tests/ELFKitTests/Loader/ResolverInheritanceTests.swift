import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

/// RPATH against RUNPATH inheritance, the case lddtree gets wrong: a program with
/// DT_RUNPATH finds its own libraries there, but a library's dependencies do not see
/// the program's DT_RUNPATH; with DT_RPATH they do. Two tiny libraries and a program
/// are built with gcc for each case, and swelf's answer is compared with the loader's.
@Suite struct ResolverInheritanceTests {
    /// A temporary directory with lib/liba.so (needs libb.so), lib/libb.so, and
    /// programs app-runpath (DT_RUNPATH $ORIGIN/lib) and app-rpath (DT_RPATH $ORIGIN/lib).
    static func buildSubjects() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-resolver-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        let lib = directory.appendingPathComponent("lib")
        try FileManager.default.createDirectory(at: lib, withIntermediateDirectories: true)
        try "int b(void) { return 2; }\n".write(to: directory.appendingPathComponent("b.c"), atomically: true, encoding: .utf8)
        try "int b(void);\nint a(void) { return b() + 1; }\n"
            .write(to: directory.appendingPathComponent("a.c"), atomically: true, encoding: .utf8)
        try "int a(void);\nint main(void) { return a() == 3 ? 0 : 1; }\n"
            .write(to: directory.appendingPathComponent("app.c"), atomically: true, encoding: .utf8)
        let d = directory.path
        try gcc(["-shared", "-fPIC", "-o", "\(d)/lib/libb.so", "\(d)/b.c", "-Wl,-soname,libb.so"])
        try gcc(["-shared", "-fPIC", "-o", "\(d)/lib/liba.so", "\(d)/a.c", "-Wl,-soname,liba.so", "-L\(d)/lib", "-lb"])
        for (name, tags) in [("app-runpath", "--enable-new-dtags"), ("app-rpath", "--disable-new-dtags")] {
            try gcc(["-o", "\(d)/\(name)", "\(d)/app.c", "-L\(d)/lib", "-la", "-Wl,-rpath-link,\(d)/lib",
                     "-Wl,-rpath,$ORIGIN/lib", "-Wl,\(tags)"])
        }
        return directory
    }

    static func gcc(_ arguments: [String]) throws {
        let result = try ChildProcess.run("gcc", arguments)
        #expect(result.status == 0, "gcc \(arguments.joined(separator: " ")): \(result.stderr)")
        if result.status != 0 { throw ChildProcess.NotFound(name: "a working gcc") }
    }

    /// The environment without LD_LIBRARY_PATH, so only the run paths decide.
    static func environment() throws -> LoaderEnvironment {
        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "LD_LIBRARY_PATH")
        return try HostLoader.environment(variables: variables)
    }

    static func referenceListing(_ path: String) throws -> [String] {
        // `env -u` so that an LD_LIBRARY_PATH of the test runner cannot change the answer.
        let loader = try HostLoader.interpreter()
        let result = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "LD_TRACE_LOADED_OBJECTS=1", loader, path])
        return HostLoader.normalize(result.stdout)
    }

    /// `name`, one of freshly built subjects, diagnosed with the run paths alone deciding,
    /// for `body`; the subjects are removed after.
    static func diagnose(_ name: String, _ body: (_ directory: URL, _ program: String, Diagnosis, LibraryResolution) throws -> Void) throws {
        let directory = try buildSubjects()
        defer { try? FileManager.default.removeItem(at: directory) }
        let program = directory.appendingPathComponent(name).path
        let diagnosis = Diagnosis.run(path: program, environment: try environment(), host: HostLoader.host)
        try body(directory, program, diagnosis, try #require(diagnosis.resolution))
    }

    /// Expects `name` found at `path` by the rule described as `rule`; returns its object.
    @discardableResult
    static func expectFound(_ name: String, in resolution: LibraryResolution, at path: String, by rule: String,
                            sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let lookup = try #require(resolution.lookups.first { $0.name == name }, sourceLocation: sourceLocation)
        let index = try #require(lookup.object, "\(name) should be found by the \(rule)", sourceLocation: sourceLocation)
        #expect(resolution.objects[index].path == path, sourceLocation: sourceLocation)
        #expect(resolution.describe(resolution.objects[index].rule) == rule, sourceLocation: sourceLocation)
        return index
    }

    @Test func runpathIsNotInheritedByALibrarysDependencies() throws {
        try Self.diagnose("app-runpath") { directory, program, diagnosis, resolution in
            try Self.expectFound("liba.so", in: resolution, at: directory.path + "/lib/liba.so", by: "RUNPATH of app-runpath")

            let libb = try #require(resolution.lookups.first { $0.name == "libb.so" })
            guard case .notFound(let message) = libb.outcome else {
                Issue.record("libb.so should not be found through the program's RUNPATH: \(libb.outcome)")
                return
            }
            #expect(message == "libb.so: cannot open shared object file: No such file or directory")
            #expect(!libb.attempts.contains { $0.path.hasPrefix(directory.path) },
                    "the program's RUNPATH must not be searched for liba.so's dependency: \(libb.attempts.map(\.path))")
            #expect(libb.attempts.contains { $0.rule == .systemDirectory })
            #expect(!diagnosis.wouldStart)
            let fatal = diagnosis.checks.flatMap(\.findings).first { $0.severity == .fatal }
            #expect(fatal?.message == "\(program): error while loading shared libraries: libb.so: cannot open shared object file: No such file or directory (needed by liba.so)")
            #expect(fatal?.details.contains { $0.contains("exists in the RUNPATH of app-runpath") } == true, "\(fatal?.details ?? [])")

            #expect(HostLoader.listing(resolution) == (try Self.referenceListing(program)))
        }
    }

    @Test func rpathIsInheritedAlongTheLoaderChain() throws {
        try Self.diagnose("app-rpath") { directory, program, diagnosis, resolution in
            let libbIndex = try Self.expectFound("libb.so", in: resolution, at: directory.path + "/lib/libb.so", by: "RPATH of app-rpath")
            #expect(resolution.objects[libbIndex].loader == resolution.lookups.first { $0.name == "liba.so" }?.object)
            #expect(diagnosis.wouldStart)
            #expect(HostLoader.listing(resolution) == (try Self.referenceListing(program)))
        }
    }

    /// Run through a symbolic link elsewhere, `$ORIGIN` is still the real directory
    /// (the kernel's /proc/self/exe), as executing the link in trace mode shows.
    @Test func originOfAProgramReachedThroughALink() throws {
        let directory = try Self.buildSubjects()
        defer { try? FileManager.default.removeItem(at: directory) }
        let elsewhere = directory.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let link = elsewhere.appendingPathComponent("app").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "../app-rpath")
        let diagnosis = Diagnosis.run(path: link, environment: try Self.environment(), host: HostLoader.host)
        #expect(diagnosis.wouldStart)
        let resolution = try #require(diagnosis.resolution)
        let direct = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "LD_TRACE_LOADED_OBJECTS=1", link])
        #expect(HostLoader.listing(resolution) == HostLoader.normalize(direct.stdout))
        #expect(HostLoader.listing(resolution).contains("liba.so => \(directory.path)/lib/liba.so"))
    }

    /// With LD_LIBRARY_PATH the library's dependency is found again, and the loader agrees.
    @Test func libraryPathReachesEveryObject() throws {
        let directory = try Self.buildSubjects()
        defer { try? FileManager.default.removeItem(at: directory) }
        let program = directory.appendingPathComponent("app-runpath").path
        var environment = try Self.environment()
        environment.variables["LD_LIBRARY_PATH"] = "/nonexistent;" + directory.path + "/lib"
        let resolution = try #require(Diagnosis.run(path: program, environment: environment, host: HostLoader.host).resolution)
        let libb = try #require(resolution.lookups.first { $0.name == "libb.so" })
        #expect(libb.object.map { resolution.objects[$0].rule } == .libraryPath)
        let loader = try HostLoader.interpreter()
        let reference = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=/nonexistent;\(directory.path)/lib",
                                                      "LD_TRACE_LOADED_OBJECTS=1", loader, program])
        #expect(HostLoader.listing(resolution) == HostLoader.normalize(reference.stdout))
    }
}
