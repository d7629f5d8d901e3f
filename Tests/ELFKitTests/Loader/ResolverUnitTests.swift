import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitDiagnosis
@testable import ELFKitLoader

/// The pieces of the resolver on their own: search-path splitting, DST substitution,
/// the subdirectories tried in each directory, glibc-hwcaps, cache and `--root`.
@Suite struct ResolverUnitTests {
    static let platform = LoaderPlatform(
        machine: .x86_64, is64: true,
        systemDirectories: ["/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/lib/", "/usr/lib/"],
        libDirectory: "lib/x86_64-linux-gnu", platformName: "x86_64", cacheFlags: 0x303, source: "test")

    static func resolver(secure: Bool = false, root: String? = nil) -> LibraryResolver {
        LibraryResolver(environment: LoaderEnvironment(
            secure: secure, fileSystem: LoaderFileSystem(root: root), currentDirectory: "/work", platform: platform,
            cache: nil, cachePath: "/etc/ld.so.cache"))
    }

    @Test func tokensAreSubstitutedAsTheLoaderDoes() {
        let resolver = Self.resolver()
        let origin = "/opt/app/bin"
        func expand(_ text: String) -> String? { resolver.expandTokens(text, origin: origin, isProgram: true)?.text }
        #expect(expand("$ORIGIN/../lib") == "/opt/app/bin/../lib")
        #expect(expand("${ORIGIN}/lib") == "/opt/app/bin/lib")
        #expect(expand("/usr/$LIB/foo") == "/usr/lib/x86_64-linux-gnu/foo")
        #expect(expand("/opt/${PLATFORM}") == "/opt/x86_64")
        #expect(expand("$ORIGINAL/lib") == "$ORIGINAL/lib", "not a DST: a longer identifier")
        #expect(expand("$HOME/lib") == "$HOME/lib", "unknown names stay as they are")
        #expect(expand("/a$") == "/a$")
        #expect(resolver.expandTokens("$ORIGIN/lib", origin: nil, isProgram: true) == nil, "no origin: the element is dropped")
    }

    /// In secure mode `$ORIGIN` is honoured only at the start of an element, and for
    /// the program only if the result lies in a system directory.
    @Test func secureModeRestrictsOrigin() {
        let resolver = Self.resolver(secure: true)
        #expect(resolver.expandTokens("$ORIGIN/lib", origin: "/home/user/bin", isProgram: true) == nil)
        #expect(resolver.expandTokens("$ORIGIN/../lib/x86_64-linux-gnu/app", origin: "/usr/bin", isProgram: true)?.text
                == "/usr/bin/../lib/x86_64-linux-gnu/app")
        #expect(resolver.expandTokens("/x$ORIGIN", origin: "/usr/lib", isProgram: false) == nil)
        #expect(resolver.expandTokens("$ORIGIN/plugins", origin: "/opt/lib", isProgram: false)?.text == "/opt/lib/plugins")
    }

    @Test func searchPathsAreSplitAndNormalized() {
        let resolver = Self.resolver()
        #expect(resolver.searchDirectories("/a:/b//:/a", separators: [":"], origin: nil, isProgram: true) == ["/a/", "/b/"])
        #expect(resolver.searchDirectories("/a::/b", separators: [":"], origin: nil, isProgram: true) == ["/a/", "", "/b/"],
                "an empty element is the current directory")
        #expect(resolver.searchDirectories("/a;/b:/c", separators: [":", ";"], origin: nil, isProgram: true) == ["/a/", "/b/", "/c/"])
        #expect(resolver.searchDirectories("/", separators: [":"], origin: nil, isProgram: true) == ["/"])
        #expect(resolver.searchDirectories(":/a", separators: [":"], origin: nil, isProgram: true) == ["", "/a/"])
        #expect(resolver.searchDirectories("/a:", separators: [":"], origin: nil, isProgram: true) == ["/a/", ""])
        #expect(resolver.searchDirectories(":", separators: [":"], origin: nil, isProgram: true) == [""])
        #expect(resolver.searchDirectories("", separators: [":"], origin: nil, isProgram: true) == [],
                "an empty run path is no directory (decompose_rpath ignores it), not the current directory")
        #expect(resolver.searchDirectories("$ORIGIN/lib:/x", separators: [":"], origin: nil, isProgram: true) == ["/x/"])
        // Under --root absolute entries move into the tree; $ORIGIN ones are already host paths.
        let rooted = Self.resolver(root: "/srv/root/")
        #expect(rooted.searchDirectories("/opt/lib:$ORIGIN/lib", separators: [":"], origin: "/srv/root/app", isProgram: true)
                == ["/srv/root/opt/lib/", "/srv/root/app/lib/"])
    }

    /// The subdirectories tried in every directory are exactly the loader's, in its
    /// order: `LD_DEBUG=libs` prints them as the LD_LIBRARY_PATH search path.
    @Test func subdirectoriesMatchTheLoadersSearchPath() throws {
        let platform = try HostLoader.platform()
        let loader = try HostLoader.interpreter()
        let directory = "/nonexistent-swelf-\(getpid())"
        let result = try ChildProcess.run("/usr/bin/env", ["LD_DEBUG=libs", "LD_LIBRARY_PATH=\(directory)", loader, "--list", "/bin/true"])
        let line = try #require(result.stderr.split(separator: "\n").first { $0.contains("search path=") && $0.contains("(LD_LIBRARY_PATH)") },
                                "no LD_LIBRARY_PATH search path in LD_DEBUG=libs output:\n\(result.stderr)")
        let printed = line[line.range(of: "search path=")!.upperBound...].split(separator: "\t").first.map(String.init) ?? ""
        let ours = platform.searchSubdirectories.map { subdirectory in
            subdirectory.isEmpty ? directory : directory + "/" + String(subdirectory.dropLast())
        }.joined(separator: ":")
        #expect(ours == printed)
    }

    @Test func diagnosticsAreParsed() throws {
        let text = """
        dl_dst_lib="lib64"
        dl_hwcap=0x2
        dl_hwcap_important=0x6
        dl_hwcaps_subdirs="x86-64-v4:x86-64-v3:x86-64-v2"
        dl_hwcaps_subdirs_active=0x6
        dl_platform="haswell"
        path.rtld="/lib64/ld-linux-x86-64.so.2"
        path.system_dirs[0x0]="/lib64/"
        path.system_dirs[0x1]="/usr/lib64/"
        version.version="2.36"
        """
        let platform = try #require(LoaderPlatform.parseDiagnostics(text, machine: .x86_64, is64: true))
        #expect(platform.systemDirectories == ["/lib64/", "/usr/lib64/"])
        #expect(platform.libDirectory == "lib64")
        #expect(platform.hwcapsSubdirectories == ["x86-64-v3", "x86-64-v2"], "bit i of the mask is element i of the list")
        #expect(platform.legacySubdirectories == ["tls/haswell/x86_64/", "tls/haswell/", "tls/x86_64/", "tls/",
                                                  "haswell/x86_64/", "haswell/", "x86_64/"])
        #expect(platform.loaderPath == "/lib64/ld-linux-x86-64.so.2")
        let newer = try #require(LoaderPlatform.parseDiagnostics(text.replacingOccurrences(of: "2.36", with: "2.39"),
                                                                 machine: .x86_64, is64: true))
        #expect(newer.legacySubdirectories.isEmpty, "glibc 2.37 dropped the legacy hwcaps subdirectories")
        #expect(LoaderPlatform.parseDiagnostics("nothing here", machine: .x86_64, is64: true) == nil)
    }

    /// A library in `glibc-hwcaps/<level>/` of a directory wins over the one in the
    /// directory itself when the CPU supports the level; the loader agrees.
    @Test func glibcHwcapsSubdirectoryComesFirst() throws {
        let platform = try HostLoader.platform()
        let level = try #require(platform.hwcapsSubdirectories.last, "this CPU has no active glibc-hwcaps level")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-hwcaps-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let subdirectory = directory.appendingPathComponent("glibc-hwcaps/\(level)")
        try FileManager.default.createDirectory(at: subdirectory, withIntermediateDirectories: true)
        let libgreet = Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1")
        try FileManager.default.copyItem(at: libgreet, to: directory.appendingPathComponent("libgreet.so.1"))
        try FileManager.default.copyItem(at: libgreet, to: subdirectory.appendingPathComponent("libgreet.so.1"))
        try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/libunused.so"),
                                         to: directory.appendingPathComponent("libunused.so"))
        let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        var variables = ProcessInfo.processInfo.environment
        variables["LD_LIBRARY_PATH"] = directory.path
        let environment = try HostLoader.environment(variables: variables)
        let resolution = try #require(Diagnosis.run(path: hello, environment: environment, host: HostLoader.host).resolution)
        let lookup = try #require(resolution.lookups.first { $0.name == "libgreet.so.1" })
        #expect(lookup.object.map { resolution.objects[$0].path } == subdirectory.path + "/libgreet.so.1")
        let reference = try HostLoader.referenceListing(hello, environment: ["LD_LIBRARY_PATH": directory.path])
        #expect(HostLoader.listing(resolution) == reference.lines)
    }

    /// Wrong-class and wrong-machine files are skipped and the search goes on; a file
    /// that is not ELF stops loading with the loader's message.
    @Test func filesOfAnotherArchitectureAreSkipped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-skip-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (sub, arch) in [("a", "i386"), ("b", "aarch64"), ("c", "x86_64")] {
            let path = directory.appendingPathComponent(sub)
            try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
            for name in ["libgreet.so.1", "libunused.so"] {
                try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("\(arch)/\(name)"),
                                                 to: path.appendingPathComponent(name))
            }
        }
        let libraryPath = ["a", "b", "c"].map { directory.appendingPathComponent($0).path }.joined(separator: ":")
        let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        var variables = ProcessInfo.processInfo.environment
        variables["LD_LIBRARY_PATH"] = libraryPath
        let resolution = try #require(Diagnosis.run(path: hello, environment: try HostLoader.environment(variables: variables),
                                                    host: HostLoader.host).resolution)
        let lookup = try #require(resolution.lookups.first { $0.name == "libgreet.so.1" })
        #expect(lookup.attempts.map(\.result).prefix(3) == [.wrongClass(is64: false), .wrongMachine(.aarch64), .accepted])
        #expect(lookup.attempts[0].resultDescription == "skipped: wrong ELF class (ELFCLASS32)")
        let reference = try HostLoader.referenceListing(hello, environment: ["LD_LIBRARY_PATH": libraryPath])
        #expect(HostLoader.listing(resolution) == reference.lines)

        // A text file where a library is expected: fatal, as ld.so says.
        try FileManager.default.removeItem(at: directory.appendingPathComponent("a/libgreet.so.1"))
        try String(repeating: "x", count: 100).write(to: directory.appendingPathComponent("a/libgreet.so.1"), atomically: false, encoding: .utf8)
        let broken = try #require(Diagnosis.run(path: hello, environment: try HostLoader.environment(variables: variables),
                                                host: HostLoader.host).resolution)
        let failed = try #require(broken.lookups.first { $0.name == "libgreet.so.1" })
        guard case .failed(let message) = failed.outcome else {
            Issue.record("expected a failure, got \(failed.outcome)")
            return
        }
        #expect(message == directory.path + "/a/libgreet.so.1: invalid ELF header")
        let run = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(libraryPath)", hello])
        #expect(run.stderr.contains("\(directory.path)/a/libgreet.so.1: invalid ELF header"), "\(run.stderr)")

        // A directory where a library is expected: open succeeds, read fails, loading stops.
        try FileManager.default.removeItem(at: directory.appendingPathComponent("a/libgreet.so.1"))
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("a/libgreet.so.1"), withIntermediateDirectories: false)
        let withDirectory = try #require(Diagnosis.run(path: hello, environment: try HostLoader.environment(variables: variables),
                                                       host: HostLoader.host).resolution)
        guard case .failed(let directoryMessage)? = withDirectory.lookups.first(where: { $0.name == "libgreet.so.1" })?.outcome else {
            Issue.record("a directory named like the library should stop loading")
            return
        }
        #expect(directoryMessage == directory.path + "/a/libgreet.so.1: cannot read file data: Error 21 (it is a directory)")
        let runDirectory = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(libraryPath)", hello])
        #expect(runDirectory.stderr.contains(directory.path + "/a/libgreet.so.1: cannot read file data: Error 21"), "\(runDirectory.stderr)")
    }

    /// LD_PRELOAD entries load before every DT_NEEDED (a missing one is ignored), and
    /// the loader then moves itself after its search-list predecessor: the same list.
    @Test func preloadsComeFirst() throws {
        let preload = "libm.so.6 nope-\(getpid()).so:libz.so.1"
        var variables = ProcessInfo.processInfo.environment
        variables["LD_PRELOAD"] = preload
        variables.removeValue(forKey: "LD_LIBRARY_PATH")
        let environment = try HostLoader.environment(variables: variables)
        for program in ["/bin/ls", "/bin/true"] {
            let diagnosis = Diagnosis.run(path: program, environment: environment, host: HostLoader.host)
            let resolution = try #require(diagnosis.resolution)
            let reference = try HostLoader.referenceListing(program, environment: ["LD_PRELOAD": preload])
            #expect(HostLoader.listing(resolution) == reference.lines)
            #expect(diagnosis.wouldStart, "a preload that cannot be found is ignored")
            let warnings = diagnosis.checks.flatMap(\.findings).filter { $0.severity == .warning }.map(\.message)
            #expect(warnings.contains("ERROR: ld.so: object 'nope-\(getpid()).so' from LD_PRELOAD cannot be preloaded (cannot open shared object file): ignored."),
                    "\(warnings)")
        }
    }

    /// A search that reaches a file already loaded under another name (libalias.so, a
    /// link to liba.so) adds the name to that object (glibc's `add_name_to_object`), so
    /// a later DT_NEEDED of the same name (libz.so's) is matched without a search. The
    /// oracle is the loader's own `LD_DEBUG=libs` trace: a "find library=NAME" line for
    /// each lookup that searched. (Sabotaged to add no name, as musl does, libalias.so
    /// was searched twice.)
    @Test func aNameReachedThroughALinkIsNotSearchedAgain() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-alias-\(getpid())")
        let libraries = directory.path + "/D"
        try FileManager.default.createDirectory(atPath: libraries, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "int a(void) { return 1; }\n".write(toFile: directory.path + "/a.c", atomically: true, encoding: .utf8)
        try "int a(void); int z(void) { return a(); }\n".write(toFile: directory.path + "/z.c", atomically: true, encoding: .utf8)
        try "int a(void); int z(void); int main(void) { return z() + a() - 2; }\n"
            .write(toFile: directory.path + "/main.c", atomically: true, encoding: .utf8)
        let program = directory.path + "/app"
        // No sonames: each DT_NEEDED is the file name the link editor was given.
        for arguments in [["-shared", "-fPIC", "-o", libraries + "/liba.so", directory.path + "/a.c"],
                          ["-shared", "-fPIC", "-o", libraries + "/libz.so", directory.path + "/z.c", "-Wl,--no-as-needed", "-L", libraries, "-lalias"],
                          ["-o", program, directory.path + "/main.c", "-Wl,--no-as-needed", "-L", libraries, "-la", "-lalias", "-lz"]] {
            if arguments.contains("-lalias") && !FileManager.default.fileExists(atPath: libraries + "/libalias.so") {
                try FileManager.default.createSymbolicLink(atPath: libraries + "/libalias.so", withDestinationPath: "liba.so")
            }
            let build = try ChildProcess.run("gcc", arguments)
            #expect(build.status == 0, "\(build.stderr)")
        }
        var variables = ProcessInfo.processInfo.environment
        variables["LD_LIBRARY_PATH"] = libraries
        variables.removeValue(forKey: "LD_PRELOAD")
        let diagnosis = Diagnosis.run(path: program, environment: try HostLoader.environment(variables: variables), host: HostLoader.host)
        let resolution = try #require(diagnosis.resolution)
        let searched = resolution.lookups.filter { !$0.attempts.isEmpty }.map(\.name)
        let trace = try ChildProcess.run("/usr/bin/env", ["-u", "LD_PRELOAD", "LD_LIBRARY_PATH=" + libraries, "LD_DEBUG=libs", program])
        #expect(trace.status == 0, "\(trace.stderr)")
        let reference = trace.stderr.split(separator: "\n").compactMap { line in
            line.firstMatch(of: /find library=(\S+) \[0\]; searching/).map { String($0.1) }
        }
        #expect(reference == ["liba.so", "libalias.so", "libz.so", "libc.so.6"])
        #expect(searched == reference)
        #expect(resolution.objects.filter { $0.names.contains("libalias.so") }.map(\.requestedName) == ["liba.so"])
    }

    /// DF_1_NODEFLIB: cache entries in system directories are refused and the system
    /// directories are not searched, so even libc.so.6 is not found; the loader agrees.
    @Test func noDefaultLibRefusesTheSystemDirectories() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-nodeflib-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "int main(void) { return 0; }\n".write(toFile: directory.path + "/main.c", atomically: true, encoding: .utf8)
        let program = directory.path + "/nodeflib"
        let build = try ChildProcess.run("gcc", ["-o", program, directory.path + "/main.c", "-Wl,-z,nodefaultlib"])
        #expect(build.status == 0, "\(build.stderr)")
        var variables = ProcessInfo.processInfo.environment
        variables.removeValue(forKey: "LD_LIBRARY_PATH")
        variables.removeValue(forKey: "LD_PRELOAD")
        let diagnosis = Diagnosis.run(path: program, environment: try HostLoader.environment(variables: variables), host: HostLoader.host)
        let resolution = try #require(diagnosis.resolution)
        let libc = try #require(resolution.lookups.first { $0.name == "libc.so.6" })
        #expect(libc.object == nil)
        #expect(libc.attempts.contains { $0.result == .refusedByNoDefaultLib })
        #expect(!libc.attempts.contains { $0.rule == .systemDirectory })
        #expect(!diagnosis.wouldStart)
        let loader = try HostLoader.interpreter()
        let reference = try ChildProcess.run("/usr/bin/env", ["-u", "LD_LIBRARY_PATH", "-u", "LD_PRELOAD", "LD_TRACE_LOADED_OBJECTS=1", loader, program])
        #expect(HostLoader.listing(resolution) == HostLoader.normalize(reference.stdout))
    }

    /// The cache step takes only entries with this loader's flags (an i386 `libc6`
    /// entry is not for x86-64), and among glibc-hwcaps entries the best level this
    /// CPU supports.
    @Test func cacheEntriesOfOtherArchitecturesAreSkipped() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-cache-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        for (sub, arch) in [("i386", "i386"), ("x86_64", "x86_64"), ("v2", "x86_64"), ("v4", "x86_64")] {
            try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
            for name in ["libgreet.so.1", "libunused.so"] {
                try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("\(arch)/\(name)"),
                                                 to: directory.appendingPathComponent("\(sub)/\(name)"))
            }
        }
        let d = directory.path
        func entry(_ name: String, _ sub: String, flags: UInt32, hwcaps: String? = nil, index: UInt64 = 0) -> LoaderCache.Entry {
            LoaderCache.Entry(flags: flags, name: name, path: "\(d)/\(sub)/\(name)",
                              hwcap: hwcaps == nil ? 0 : (UInt64(1) << 62) | index, hwcapsSubdirectory: hwcaps)
        }
        var entries: [LoaderCache.Entry] = []
        for name in ["libgreet.so.1", "libunused.so"] {
            entries += [entry(name, "v4", flags: 0x0303, hwcaps: "x86-64-v4", index: 0),
                        entry(name, "v2", flags: 0x0303, hwcaps: "x86-64-v2", index: 1),
                        entry(name, "i386", flags: 0x0003), entry(name, "x86_64", flags: 0x0303)]
        }
        let cache = LoaderCache(entries: entries, format: .new, isBigEndian: false, generator: nil,
                                hwcapsSubdirectories: ["x86-64-v4", "x86-64-v2"])
        var platform = Self.platform
        let helloPath = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        let hello = try ELFFile(path: helloPath)
        func resolve(hwcaps: [String]) -> [String] {
            platform.hwcapsSubdirectories = hwcaps
            let environment = LoaderEnvironment(currentDirectory: "/", platform: platform, cache: cache, cachePath: "test")
            let resolution = LibraryResolver(environment: environment).resolve(program: helloPath, file: hello)
            return ["libgreet.so.1", "libunused.so"].map { name in
                resolution.lookups.first { $0.name == name }?.object.map { resolution.objects[$0].path } ?? "not found"
            }
        }
        #expect(resolve(hwcaps: []) == ["\(d)/x86_64/libgreet.so.1", "\(d)/x86_64/libunused.so"],
                "no usable hwcaps level: the plain x86-64 entry, never the i386 one")
        #expect(resolve(hwcaps: ["x86-64-v3", "x86-64-v2"]) == ["\(d)/v2/libgreet.so.1", "\(d)/v2/libunused.so"])
        #expect(resolve(hwcaps: ["x86-64-v4", "x86-64-v3", "x86-64-v2"]) == ["\(d)/v4/libgreet.so.1", "\(d)/v4/libunused.so"])
    }

    /// Symbolic links inside a `--root` tree resolve inside the tree.
    @Test func rootedPathsResolveLinksInsideTheRoot() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-root-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("usr/lib"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lib64"), withIntermediateDirectories: true)
        try "x".write(to: root.appendingPathComponent("usr/lib/ld.so"), atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("lib").path, withDestinationPath: "usr/lib")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("lib64/ld.so").path, withDestinationPath: "/lib/ld.so")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("lib64/escape").path,
                                                   withDestinationPath: "../../../../../../etc/hostname")
        let fileSystem = LoaderFileSystem(root: root.path)
        #expect(fileSystem.accessPath(root.path + "/lib64/ld.so") == root.path + "/usr/lib/ld.so")
        #expect(fileSystem.status(root.path + "/lib64/ld.so") != nil)
        #expect(fileSystem.accessPath(root.path + "/lib64/escape") == root.path + "/etc/hostname", "'..' stops at the root")
        #expect(fileSystem.accessPath("/etc/passwd") == "/etc/passwd", "paths outside the root are host paths")
        #expect(fileSystem.pathInTarget(root.path + "/lib/x") == "/lib/x")
    }
}
