import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// This machine's loader, asked the way `swelf doctor` asks it, and the reference
/// answers it gives (`ld.so --list`, which is what `ldd` runs).
enum HostLoader {
    /// PT_INTERP of /bin/sh: the loader every system program names.
    static func interpreter() throws -> String {
        let shell = try ELFFile(path: "/bin/sh")
        return try #require(try shell.interpreter(), "/bin/sh has no PT_INTERP")
    }

    static func platform() throws -> LoaderPlatform {
        let loader = try interpreter()
        let file = try ELFFile(path: loader)
        let result = try ChildProcess.run(loader, ["--list-diagnostics"])
        #expect(result.status == 0, "\(loader) --list-diagnostics failed: \(result.stderr)")
        return try #require(LoaderPlatform.parseDiagnostics(result.stdout, machine: file.header.machine, is64: file.format.is64),
                            "cannot parse \(loader) --list-diagnostics")
    }

    /// The environment the reference runs get: this process's, as `ChildProcess` passes it.
    static func environment(variables: [String: String]? = nil, root: String? = nil) throws -> LoaderEnvironment {
        let fileSystem = LoaderFileSystem(root: root)
        let cache = LoaderEnvironment.loadCache(fileSystem: fileSystem)
        var environmentVariables = variables ?? ChildProcess.environment()
        environmentVariables["LC_ALL"] = "C"
        return LoaderEnvironment(
            variables: environmentVariables, secure: false, fileSystem: fileSystem,
            currentDirectory: FileManager.default.currentDirectoryPath, platform: try platform(),
            cache: cache.cache, cachePath: cache.path, cacheProblem: cache.problem)
    }

    static var host: HostFacts {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return HostFacts(machineName: machine, userID: getuid(), groupID: getgid())
    }

    /// `LD_TRACE_LOADED_OBJECTS=1 ld.so FILE` with the loader invoked by its PT_INTERP
    /// name, exactly what ldd runs (`ld.so --list` stops at the first missing library
    /// instead of listing it), reduced to ldd's lines without load addresses and the vDSO.
    static func referenceListing(_ path: String, environment: [String: String] = [:]) throws -> (status: Int32, lines: [String]) {
        let loader = try interpreter()
        let assignments = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let result = try ChildProcess.run("/usr/bin/env", ["LD_TRACE_LOADED_OBJECTS=1"] + assignments + [loader, path])
        let lines = normalize(result.stdout)
        // ld.so says so for a file without DT_NEEDED; swelf's listing is then empty.
        return (result.status, lines == ["statically linked"] ? [] : lines)
    }

    static func normalize(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { raw -> String? in
            var line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("linux-vdso.so") || line.hasPrefix("linux-gate.so") { return nil }
            if let range = line.range(of: " (0x", options: .backwards), line.hasSuffix(")") {
                line = String(line[..<range.lowerBound])
            }
            return line
        }
    }

    /// The same lines from swelf's resolution.
    /// With a `--root` file system, paths are shown as inside the tree.
    static func listing(_ resolution: LibraryResolution, fileSystem: LoaderFileSystem = LoaderFileSystem()) -> [String] {
        resolution.listing.map { entry in
            switch entry {
            case .object(let index):
                let object = resolution.objects[index]
                let path = fileSystem.pathInTarget(object.path)
                return object.requestedName == path ? path : "\(object.requestedName) => \(path)"
            case .missing(let lookup):
                return "\(resolution.lookups[lookup].name) => not found"
            case .alias(let name, let index):
                return "\(name) => \(fileSystem.pathInTarget(resolution.objects[index].path))"
            }
        }
    }
}
