import ELFKitCore

/// Resolves a program's libraries the way glibc's ld.so does, without running anything.
///
/// The rules, from glibc's `elf/dl-load.c` (`_dl_map_object`, `open_path`,
/// `open_verify`, `fillin_rpath`, `_dl_dst_substitute`) and `elf/dl-deps.c`
/// (`_dl_map_object_deps`):
///
/// - Dependencies are loaded breadth first: the program's DT_NEEDED entries in order,
///   then those of each library in the order the libraries were loaded.
/// - A name is first matched against the objects already loaded: the path an object was
///   loaded from, every name it was requested by, and its DT_SONAME. The interpreter is
///   loaded from the start under its PT_INTERP path and its soname.
/// - A name with a slash is opened as it is (after DST substitution), relative names
///   relative to the current directory.
/// - Otherwise the directories are, in order: DT_RPATH of the loading object, then of
///   the object that loaded it, and so on up to the program, then the program's DT_RPATH
///   if the chain did not reach it, all of this only if the loading object has no
///   DT_RUNPATH; LD_LIBRARY_PATH (split at ':' and ';', ignored in secure mode); the
///   loading object's own DT_RUNPATH (never inherited); `/etc/ld.so.cache` (an entry in
///   a system directory is refused when the loading object has DF_1_NODEFLIB); the
///   system directories unless the loading object has DF_1_NODEFLIB. An object with
///   DT_RUNPATH has its DT_RPATH ignored everywhere (`elf_get_dynamic_info`).
/// - In each directory the glibc-hwcaps subdirectories are tried first (then the legacy
///   hwcap ones on glibc < 2.37), then the directory itself. A directory list drops
///   repeated entries; an empty entry is the current directory; trailing slashes go.
/// - `$ORIGIN`, `$LIB`, `$PLATFORM` (also `${…}`) are replaced; an element whose DST has
///   no value is dropped. In secure mode `$ORIGIN` is allowed only at the start of an
///   element, and for the program only when the result is inside a system directory.
/// - A file of the other ELF class or another machine is skipped; a file that is not
///   ELF, has the wrong byte order, a bad OS ABI or is not ET_DYN/ET_EXEC stops loading.
/// - A search that reaches a file already loaded under another name reuses that object
///   (same device and inode).
public struct LibraryResolver: Sendable {
    /// The variables, file system, loader platform and cache every search uses.
    public let environment: LoaderEnvironment

    /// A resolver for one machine (or `--root` tree) as `environment` describes it.
    /// - Parameter environment: usually ``LoaderEnvironment/current(root:overrides:)``,
    ///   ``LoaderEnvironment/adapted(for:)`` for the file when it may be foreign.
    public init(environment: LoaderEnvironment) {
        self.environment = environment
    }

    /// Resolves the program at `path` (a path on this machine). `interpreter` is the
    /// host path of its PT_INTERP file when that exists; the interpreter is then loaded
    /// first, as the kernel maps it and ld.so registers itself.
    ///
    /// For a file without PT_INTERP (a shared library examined as `ld.so --list` does)
    /// pass the loader that would load it and the name it is known by
    /// (`interpreterName`, e.g. `/lib64/ld-linux-x86-64.so.2`).
    ///
    /// A musl interpreter (`ld-musl-*`) switches to musl's rules. Nothing here throws: a
    /// library that is missing or refused is a lookup's ``DependencyLookup/Outcome``.
    ///
    /// - Parameters:
    ///   - path: the program's path on this machine; it is object 0's path and its
    ///     `$ORIGIN` directory.
    ///   - file: the program, already parsed.
    ///   - interpreter: the host path of the loader to load first; nil when there is
    ///     none or it is unusable, and then it is not in the link-map list.
    ///   - interpreterName: the name the loader is known by; nil means the program's
    ///     PT_INTERP.
    /// - Returns: the link-map list, every lookup with the paths it tried, and `ldd`'s listing.
    public func resolve(program path: String, file: ELFFile, interpreter: String? = nil,
                        interpreterName: String? = nil) -> LibraryResolution {
        var state = ResolverState(resolver: self, program: file)
        state.flavor = LoaderFlavor.of(interpreter: interpreterName ?? ((try? file.interpreter()) ?? nil))
        state.addProgram(path: path, file: file)
        if let interpreter, let name = interpreterName ?? ((try? file.interpreter()) ?? nil) {
            state.addInterpreter(path: interpreter, requestedName: name)
        }
        state.loadDependencies()
        return state.resolution
    }

    /// Expands `$ORIGIN`, `$LIB` and `$PLATFORM` in one path element or DT_NEEDED name,
    /// as `_dl_dst_substitute` does. Returns nil when the element must be dropped (a DST
    /// without a value, or `$ORIGIN` where secure mode forbids it). `startsWithOrigin`
    /// tells whether the result begins with the (host) origin directory, so that a
    /// `--root` prefix is not added to it.
    func expandTokens(_ input: String, origin: String?, isProgram: Bool) -> (text: String, startsWithOrigin: Bool)? {
        let bytes = Array(input.utf8)
        guard bytes.contains(UInt8(ascii: "$")) else { return (input, false) }
        var output: [UInt8] = []
        var index = 0
        var startsWithOrigin = false
        var checkTrusted = false
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$") else {
                output.append(bytes[index])
                index += 1
                continue
            }
            let after = index + 1
            var replacement: String??  // nil: not a known DST; .some(nil): known, no value
            var length = 0
            if let n = LibraryResolver.tokenLength(bytes, at: after, name: "ORIGIN") {
                length = n
                let followedBySeparator = after + n == bytes.count || bytes[after + n] == UInt8(ascii: "/")
                if environment.secure && !(index == 0 && followedBySeparator) {
                    replacement = .some(nil)
                } else {
                    replacement = .some(origin)
                }
                if index == 0 { startsWithOrigin = true }
                checkTrusted = environment.secure && isProgram
            } else if let n = LibraryResolver.tokenLength(bytes, at: after, name: "PLATFORM") {
                length = n
                replacement = .some(environment.platform.platformName)
            } else if let n = LibraryResolver.tokenLength(bytes, at: after, name: "LIB") {
                length = n
                replacement = .some(environment.platform.libDirectory)
            }
            switch replacement {
            case .none:
                output.append(UInt8(ascii: "$"))
                index = after
            case .some(.none):
                return nil
            case .some(.some(let value)):
                output += Array(value.utf8)
                index = after + length
            }
        }
        let text = String(decoding: output, as: UTF8.self)
        if checkTrusted && !isTrustedDirectory(text) { return nil }
        return (text, startsWithOrigin)
    }

    /// `is_dst`: the length of `$NAME` or `${NAME}` at `position` (after the '$'), not
    /// counting the '$', when the token is exactly NAME (not a longer identifier).
    static func tokenLength(_ bytes: [UInt8], at position: Int, name: String) -> Int? {
        let nameBytes = Array(name.utf8)
        var start = position
        let curly = position < bytes.count && bytes[position] == UInt8(ascii: "{")
        if curly { start += 1 }
        guard bytes.count - start >= nameBytes.count, Array(bytes[start ..< start + nameBytes.count]) == nameBytes else {
            return nil
        }
        let end = start + nameBytes.count
        if curly {
            guard end < bytes.count, bytes[end] == UInt8(ascii: "}") else { return nil }
            return nameBytes.count + 2
        }
        if end < bytes.count {
            let next = bytes[end]
            let isIdentifier = (next >= 0x41 && next <= 0x5a) || (next >= 0x61 && next <= 0x7a)
                || (next >= 0x30 && next <= 0x39) || next == UInt8(ascii: "_")
            if isIdentifier { return nil }
        }
        return nameBytes.count
    }

    /// `is_trusted_path_normalize`: after removing `.`, `..` and doubled slashes, is the
    /// directory inside one of the system directories?
    func isTrustedDirectory(_ path: String) -> Bool {
        guard path.hasPrefix("/") else { return false }
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        let normalized = "/" + parts.joined(separator: "/") + (parts.isEmpty ? "" : "/")
        let target = environment.fileSystem.pathInTarget(normalized)
        return environment.platform.systemDirectories.contains { target.hasPrefix($0) }
    }

    /// Splits a search path and substitutes tokens, as `fillin_rpath` does: empty elements
    /// (from "a::b", ":a" or "a:") mean the current directory, an element that expands to
    /// nothing is dropped, trailing slashes are normalized to one, repeats are dropped.
    /// Absolute elements are moved under the root unless they start with `$ORIGIN`. An
    /// empty list is no directory at all, not the current directory: `decompose_rpath`
    /// ignores an empty DT_RUNPATH/DT_RPATH and `_dl_init_paths` an empty LD_LIBRARY_PATH.
    package func searchDirectories(_ list: String, separators: Set<Character>, origin: String?, isProgram: Bool) -> [String] {
        guard !list.isEmpty else { return [] }
        var result: [String] = []
        var seen: Set<String> = []  // a hostile list has 10⁵ elements: no quadratic search
        for element in list.split(omittingEmptySubsequences: false, whereSeparator: { separators.contains($0) }) {
            var directory = ""
            if !element.isEmpty {
                guard let expanded = expandTokens(String(element), origin: origin, isProgram: isProgram),
                      !expanded.text.isEmpty else { continue }
                directory = expanded.text
                while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
                if !directory.hasSuffix("/") { directory += "/" }
                if !expanded.startsWithOrigin { directory = environment.fileSystem.targetPath(directory) }
            }
            if seen.insert(directory).inserted { result.append(directory) }
        }
        return result
    }

    /// Where `dlopen(name)` from a program without run paths would find a library:
    /// LD_LIBRARY_PATH, the cache, the system directories (used for NSS modules, which
    /// glibc loads at run time and no DT_NEEDED names).
    ///
    /// - Parameters:
    ///   - name: a file name without a slash (`libnss_files.so.2`).
    ///   - program: the program that would call `dlopen`; a candidate must match its
    ///     class, byte order and machine, as `open_verify` requires.
    /// - Returns: the host path of the first acceptable file; nil when none is found.
    public func locateForDlopen(_ name: String, like program: ELFFile) -> String? {
        var directories: [String] = []
        if let libraryPath = environment.effectiveLibraryPath {
            directories += searchDirectories(libraryPath, separators: [":", ";"], origin: nil, isProgram: true)
        }
        for directory in directories {
            for subdirectory in environment.searchSubdirectories {
                let path = directory + subdirectory + name
                if case .accepted = verify(path, like: program) { return path }
            }
        }
        let hwcaps = environment.platform.hwcapsSubdirectories
        if let entry = environment.cache?.resolve(name, defaultFlags: environment.platform.cacheFlags,
                                                  hwcapsPriority: { hwcaps.firstIndex(of: $0).map { $0 + 1 } }) {
            let path = environment.fileSystem.targetPath(entry.path)
            if case .accepted = verify(path, like: program) { return path }
        }
        for directory in environment.platform.systemDirectories {
            for subdirectory in environment.searchSubdirectories {
                let path = environment.fileSystem.targetPath(directory) + subdirectory + name
                if case .accepted = verify(path, like: program) { return path }
            }
        }
        return nil
    }

    /// What `open_verify` decides about the file at `path` for a loader of `program`'s
    /// class, byte order and machine.
    package func verify(_ path: String, like program: ELFFile) -> SearchAttempt.Result {
        let fileSystem = environment.fileSystem
        guard let status = fileSystem.status(path) else {
            return .absent(fileSystem.openError(path) ?? "No such file or directory")
        }
        // open(2) succeeds on a directory and read(2) then fails with EISDIR: ld.so stops
        // there, and its minimal strerror words it "Error 21".
        if status.isDirectory { return .invalid("cannot read file data: Error 21 (it is a directory)") }
        if let error = fileSystem.openError(path) { return .absent(error) }
        guard let header = fileSystem.prefix(path, count: 64) else { return .absent("cannot read") }
        let is64Program = program.format.is64
        let headerSize = is64Program ? 64 : 52
        guard header.count >= 16, header[0] == 0x7f, header[1] == 0x45, header[2] == 0x4c, header[3] == 0x46 else {
            return header.count < headerSize ? .invalid("file too short") : .invalid("invalid ELF header")
        }
        if header[4] != (is64Program ? 2 : 1) {
            if header[4] == 1 || header[4] == 2 { return .wrongClass(is64: header[4] == 2) }
            return .invalid("invalid ELF header")
        }
        guard header.count >= headerSize else { return .invalid("file too short") }
        if header[5] != (program.format.isBigEndian ? 2 : 1) {
            return .invalid(program.format.isBigEndian ? "ELF file data encoding not big-endian"
                                                       : "ELF file data encoding not little-endian")
        }
        if header[6] != 1 { return .invalid("ELF file version ident does not match current one") }
        // VALID_ELF_OSABI on Linux: System V or GNU.
        if header[7] != 0 && header[7] != 3 { return .invalid("ELF file OS ABI invalid") }
        guard let file = try? fileSystem.open(path) else { return .invalid("cannot read file data") }
        if file.header.machine != program.header.machine { return .wrongMachine(file.header.machine) }
        if file.header.type != .sharedObject && file.header.type != .executable {
            return .invalid("only ET_DYN and ET_EXEC can be loaded")
        }
        return .accepted
    }
}

extension LibraryResolver {
    /// Every file the search for `name` by object `requester` of `resolution` accepts,
    /// other than `chosen` and each file (device and inode) once, in search order, with
    /// the step that reaches it. Unlike a lookup it does not stop at the first file: the
    /// bundler names the copies the loader would not take. Empty for a name with a slash.
    package func acceptedCopies(of name: String, neededBy requester: Int, in resolution: LibraryResolution, program: ELFFile,
                                excluding chosen: String) -> [(path: String, rule: SearchRule)] {
        guard !name.contains("/") else { return [] }
        var state = ResolverState(resolver: self, program: program)
        state.resolution = resolution
        let fileSystem = environment.fileSystem
        let chosenIdentity = fileSystem.status(chosen)?.identity
        var seen: Set<FileIdentity> = chosenIdentity.map { [$0] } ?? []
        var result: [(path: String, rule: SearchRule)] = []
        for step in state.searchSteps(for: requester) {
            var paths: [String] = []
            if let directories = step.directories {
                for directory in directories {
                    for subdirectory in environment.searchSubdirectories {
                        paths.append(directory + subdirectory + name)
                    }
                }
            } else {
                paths = state.cacheCandidate(name: name, loader: requester).map(\.0)
            }
            for path in paths {
                guard case .accepted = verify(path, like: program),
                      let identity = fileSystem.status(path)?.identity, seen.insert(identity).inserted else { continue }
                result.append((path, step.rule))
            }
        }
        return result
    }
}
