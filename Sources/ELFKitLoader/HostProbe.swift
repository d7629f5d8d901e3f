#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// Gathers the facts about this machine that the core takes as values: the loader's
/// own diagnostics, `uname`, the user, the process environment, the cache.
package enum HostProbe {
    /// Loaders to ask, most likely first. `ld.so` on PATH is glibc's own link.
    package static let loaderCandidates = [
        "/usr/bin/ld.so", "/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3",
        "/lib/ld-linux.so.2", "/lib64/ld64.so.2", "/lib/ld64.so.1", "/lib/ld-linux-riscv64-lp64d.so.1",
    ]

    package static func hostFacts() -> HostFacts {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return HostFacts(machineName: machine, userID: UInt32(getuid()), groupID: UInt32(getgid()))
    }

    /// This machine's loader, asked with `--list-diagnostics`; nil when no loader
    /// answers (glibc < 2.33, musl, …).
    package static func loaderPlatform() -> LoaderPlatform? {
        for candidate in loaderCandidates where access(candidate, X_OK) == 0 {
            guard let file = try? ELFFile(path: candidate),
                  let output = run(candidate, ["--list-diagnostics"]),
                  let platform = LoaderPlatform.parseDiagnostics(output, machine: file.header.machine, is64: file.format.is64)
            else { continue }
            return platform
        }
        return nil
    }

    /// Fallback when the loader cannot be asked: defaults for `uname -m`.
    package static func defaultPlatform(host: HostFacts) -> LoaderPlatform {
        let format = host.nativeFormats.first ?? (machine: ELFMachine.x86_64, is64: true, bigEndian: false)
        let triplet = LoaderPlatform.multiarchTriplet(machine: format.machine, is64: format.is64, isBigEndian: format.bigEndian,
                                                      elfFlags: 0x400)
        var status = stat()
        let hasMultiarch = triplet.map { stat("/usr/lib/\($0)", &status) == 0 } ?? false
        return LoaderPlatform.defaults(machine: format.machine, is64: format.is64, isBigEndian: format.bigEndian, elfFlags: 0x400,
                                       hasMultiarch: hasMultiarch, hasLib64: stat("/lib64", &status) == 0)
    }

    /// The process environment, as NAME → VALUE.
    package static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            // Bytes, reversibly as text (ByteText): LD_LIBRARY_PATH need not be UTF-8.
            let text = BytePath(cString: entry).description
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    package static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Runs a trusted system program with an empty environment and returns its standard
    /// output, or nil if it cannot be run or fails.
    package static func run(_ program: String, _ arguments: [String]) -> String? {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("LC_ALL=C"), nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, envp)
        close(pipeEnds[1])
        guard spawned == 0 else {
            close(pipeEnds[0])
            return nil
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            output += buffer.prefix(count)
        }
        close(pipeEnds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else { return nil }
        return String(decoding: output, as: UTF8.self)
    }

    /// The environment to analyse with: this machine, or the tree at `root` (a rootfs, a
    /// sysroot), and the process environment overlaid with `overrides` in order (a later
    /// one wins).
    package static func loaderEnvironment(root: String?, overrides: [(name: String, value: String)]) -> LoaderEnvironment {
        let host = hostFacts()
        let fileSystem = LoaderFileSystem(root: root)
        let platform = loaderPlatform() ?? defaultPlatform(host: host)
        var variables = processEnvironment()
        for (name, value) in overrides { variables[name] = value }
        let cache = LoaderEnvironment.loadCache(fileSystem: fileSystem)
        let noHwcaps = fileSystem.status(fileSystem.targetPath("/etc/ld.so.nohwcap")) != nil
        return LoaderEnvironment(variables: variables, secure: false, fileSystem: fileSystem,
                                 currentDirectory: currentDirectory(), platform: platform, cache: cache.cache,
                                 cachePath: cache.path, cacheProblem: cache.problem, noHwcaps: noHwcaps)
    }
}

extension LoaderEnvironment {
    /// The loader environment of this machine, or of the file tree at `root`, as `swelf
    /// doctor` and `swelf ldd` use it: the library directories of each architecture, the
    /// `ld.so.cache`, hwcaps, and the process environment (`LD_LIBRARY_PATH`, …).
    ///
    /// To learn the platform's search directories, this runs the machine's own loader
    /// with `--list-diagnostics` (glibc 2.33 and later; it loads and runs no program), and
    /// falls back to the distribution's defaults when no loader answers.
    /// - Parameters:
    ///   - root: a root file system (a sysroot, a container image unpacked) whose files the
    ///     loader would see instead of this machine's; nil for this machine.
    ///   - overrides: environment variables laid over the process environment, in order
    ///     (a later one wins): `[("LD_LIBRARY_PATH", "/opt/lib")]`.
    /// - Returns: the environment to resolve and diagnose with.
    public static func current(root: String? = nil, overrides: [(name: String, value: String)] = []) -> LoaderEnvironment {
        HostProbe.loaderEnvironment(root: root, overrides: overrides)
    }
}

extension HostFacts {
    /// This machine: `uname`'s machine name, and the user and group of this process.
    /// - Returns: the facts `Diagnosis` compares a file with.
    public static func current() -> HostFacts { HostProbe.hostFacts() }
}
