import ELFKitCore
import ELFKitLoader

/// What to do about a `GLIBC_x.y` version the loaded C library lacks: the symbols that
/// need it (portability's data, ``VersionedImports``), and the ways of building that fit
/// the file, Go's `CGO_ENABLED=0` only for a program without C code of its own.
extension Diagnosis {
    /// Whose C library the file is judged against, for messages.
    var glibcOwner: String {
        environment.fileSystem.root.map { "the root's glibc (\($0))" } ?? "this machine's glibc"
    }

    /// Details and fix for a missing `requirement` of `library` by `object`; `available`
    /// is the newest version of the family the loaded library defines.
    func glibcAdvice(requirement: VersionName, library: String, object: LoadedObject, isProgram: Bool,
                     provider: LoadedObject, available: VersionName?) -> (details: [String], fix: String) {
        var details: [String] = []
        if let imports = try? VersionedImports(file: object.file) {
            let symbols = imports.requirements.filter { $0.library == library && $0.version == requirement }.flatMap(\.symbols)
            if symbols.isEmpty {
                details.append("needed by " + VersionedImports.symbolAt(nil, requirement))
            } else {
                let shown = symbols.prefix(8).map { VersionedImports.symbolAt($0, requirement) }.joined(separator: ", ")
                details.append("needed by \(shown)\(symbols.count > 8 ? " and \(symbols.count - 8) more" : "")")
            }
        }
        details.append("every requirement, and the oldest glibc and distributions it runs on: swelf portability \(environment.fileSystem.root.map { "--root \(Self.shellWord($0)) " } ?? "")\(Self.shellWord(isProgram ? path : object.path))")
        let name = PathText.lastComponent(of: isProgram ? path : object.path)
        let release = available?.release
        let owner = provider.rule == .libraryPath ? "the \(library) found through LD_LIBRARY_PATH" : glibcOwner
        var ways = ["build \(name) for \(release.map { "glibc \($0) or older" } ?? "an older glibc"), as \(owner) is: on an older distribution or with its sysroot"]
        if let release, let zig = Self.zigTarget(object.file) {
            ways.append("or target it with `zig cc -target \(zig).\(release)` (as CC)")
        }
        ways.append("or link statically (gcc -static): no C library is needed at run time")
        if isProgram, let go = goBuildInfo, go.cgoEnabled == true {
            let use = Self.goCUse(object.file)
            if use.ownC {
                ways.append("for Go, CGO_ENABLED=0 is not an option: \(use.reason); build with CGO_ENABLED=1 and one of the above (CC='zig cc -target …', or -ldflags '-linkmode external -extldflags -static')")
            } else {
                ways.append("for Go, CGO_ENABLED=0 (or -tags netgo,osusergo) builds it with no C library: \(use.reason)")
            }
        }
        return (details, ways.joined(separator: "; "))
    }

    /// zig's target name for the file's machine, without the glibc version.
    static func zigTarget(_ file: ELFFile) -> String? {
        let big = file.format.isBigEndian
        switch (file.header.machine, file.format.is64) {
        case (.x86_64, true): return "x86_64-linux-gnu"
        case (.i386, false): return "x86-linux-gnu"
        case (.aarch64, true): return big ? "aarch64_be-linux-gnu" : "aarch64-linux-gnu"
        case (.arm, false): return "arm-linux-gnueabihf"
        case (.riscv, true): return "riscv64-linux-gnu"
        case (.s390, true): return "s390x-linux-gnu"
        case (.powerPC64, true): return big ? "powerpc64-linux-gnu" : "powerpc64le-linux-gnu"
        case (.mips, false): return big ? "mips-linux-gnu" : "mipsel-linux-gnu"
        case (.mips, true): return big ? "mips64-linux-gnuabi64" : "mips64el-linux-gnuabi64"
        default: return nil
        }
    }

    /// Go packages whose C calls have a pure-Go replacement (`netgo`, `osusergo`), so a
    /// program whose only C calls are theirs builds with CGO_ENABLED=0.
    static let goPackagesWithoutC: Set<String> = ["net", "os/user"]

    /// The C library functions the Go runtime (runtime/cgo) and those packages import,
    /// and the C start-up files' own; any other import was asked for by C code of the
    /// program's own.
    static let goRuntimeImports: Set<String> = [
        "abort", "fprintf", "fputc", "free", "fwrite", "malloc", "calloc", "realloc", "mmap", "munmap", "nanosleep",
        "setenv", "unsetenv", "sigaction", "sigaddset", "sigemptyset", "sigfillset", "sigismember", "sigaltstack",
        "sigprocmask", "stderr", "strerror", "vfprintf", "sysconf", "getpagesize", "exit", "_exit",
        "setegid", "seteuid", "setgid", "setgroups", "setregid", "setresgid", "setresuid", "setreuid", "setuid",
        "getaddrinfo", "freeaddrinfo", "gai_strerror", "getnameinfo", "res_search", "res_nsearch", "res_ninit", "res_nclose",
        "getpwnam_r", "getpwuid_r", "getgrnam_r", "getgrgid_r", "getgrouplist",
    ]

    /// Glibc's own libraries, which every cgo program may need.
    static let glibcLibraries: Set<String> = [
        "libc.so.6", "libpthread.so.0", "libdl.so.2", "libresolv.so.2", "librt.so.1", "libm.so.6",
    ]

    /// Does a cgo program have C code of its own, or is its only C use the Go runtime's
    /// and net's and os/user's? The criterion, from the strongest evidence present:
    /// 1. a library outside glibc's own in DT_NEEDED: C code links it;
    /// 2. the Go symbol table (`.symtab`, unless stripped with -s): cgo's call stubs are
    ///    `PACKAGE._Cfunc_NAME` (`_C2func_`); one in a package other than net and os/user
    ///    (`main._Cfunc_twice`) is C the program calls;
    /// 3. the imports: a C function none of runtime/cgo, net and os/user imports
    ///    (`puts`, `sqlite3_open`) was asked for by C code of its own.
    /// C code that calls only functions the runtime also imports, in a stripped file, is
    /// not seen; the advice then says what it was judged from.
    static func goCUse(_ file: ELFFile) -> (ownC: Bool, reason: String) {
        let needed = ((try? file.dynamic()?.needed()) ?? nil) ?? []
        if let other = needed.first(where: { !glibcLibraries.contains($0) && !$0.hasPrefix("ld-linux") && !$0.hasPrefix("ld64.so") }) {
            return (true, "it links \(other), C code of its own")
        }
        if let packages = cgoCallPackages(file) {
            if let own = packages.first(where: { !goPackagesWithoutC.contains($0.package) }) {
                return (true, "it calls C from package \(own.package) (\(own.symbol))")
            }
            let used = Set(packages.map(\.package)).sorted()
            return (false, "its only C calls are the standard library's (\(used.isEmpty ? "runtime/cgo" : used.joined(separator: ", ")), from its symbol table)")
        }
        let imports = VersionedImports.importedNames(of: file).filter {
            !goRuntimeImports.contains($0) && !$0.hasPrefix("pthread_") && !$0.hasPrefix("_")
        }
        if let first = imports.sorted().first {
            return (true, "it imports \(first), which neither the Go runtime nor net or os/user use")
        }
        return (false, "it imports only what the Go runtime, net and os/user use (judged from its imports: the symbol table is stripped)")
    }

    /// The packages of cgo's call stubs in `.symtab` (`net._C2func_getaddrinfo`), with one
    /// symbol each; nil when the file has no readable symbol table.
    static func cgoCallPackages(_ file: ELFFile) -> [(package: String, symbol: String)]? {
        guard let section = file.sectionHeaders.first(where: { $0.type == .symtab }),
              section.entrySize >= (file.format.is64 ? 24 : 16),
              let link = Int(exactly: section.link), link < file.sectionHeaders.count,
              let raw = try? file.source.bytes(at: section.offset, count: section.size, ".symtab"),
              let strings = try? file.readStringTable(section: file.sectionHeaders[link]) else { return nil }
        var found: [String: String] = [:]
        var decoder = ByteDecoder(raw, format: file.format, baseOffset: section.offset)
        let count = UInt64(raw.count) / section.entrySize
        var index: UInt64 = 1
        while index < count {
            // index < count = raw.count / entrySize: the product is at most raw.count.
            decoder.position = Int(index * section.entrySize)
            index += 1
            guard let symbol = try? ELFSymbol.decode(&decoder), symbol.isDefined,
                  let name = try? strings.string(at: UInt64(symbol.nameOffset)),
                  let marker = name.firstRange(of: "._Cfunc_") ?? name.firstRange(of: "._C2func_") else { continue }
            let package = String(name[..<marker.lowerBound])
            guard !package.isEmpty, !package.hasPrefix("_cgo_"), found[package] == nil else { continue }
            found[package] = name.hasSuffix(".abi0") ? String(name.dropLast(5)) : name
        }
        return found.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}
