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
    public let environment: LoaderEnvironment

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
    public func resolve(program path: String, file: ELFFile, interpreter: String? = nil,
                        interpreterName: String? = nil) -> Resolution {
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
    /// (from "a::b") mean the current directory, an element that expands to nothing is
    /// dropped, trailing slashes are normalized to one, repeats are dropped. Absolute
    /// elements are moved under the root unless they start with `$ORIGIN`.
    package func searchDirectories(_ list: String, separators: Set<Character>, origin: String?, isProgram: Bool) -> [String] {
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

/// The loader's state while it builds the link-map list.
struct ResolverState {
    let resolver: LibraryResolver
    let program: ELFFile
    var resolution = Resolution(objects: [], lookups: [], listing: [], interpreterIndex: nil)
    /// Objects whose DT_NEEDED entries are still to be processed, in order.
    var queue: [Int] = []
    /// Has the interpreter taken its place in the list (by being needed)?
    var interpreterListed = false
    var flavor = LoaderFlavor.glibc
    /// Directories the search may visit in all, counted as they are tried: DT_NEEDED
    /// entries times search directories is a product of two counts, each bounded by the
    /// file's size (10⁵ entries and a 10⁵-element DT_RPATH in 2 MB).
    let budget: SearchBudget
    /// `searchSteps(for:)` of each loader already asked: the steps depend only on the
    /// loader chain, which never changes once an object is loaded, and a program with
    /// 10,000 DT_NEEDED entries asked 10,000 times (each a walk over its dynamic section:
    /// 32 s of a debug `ldd`).
    var searchStepsByLoader: [Int: [Step]] = [:]

    var environment: LoaderEnvironment { resolver.environment }

    init(resolver: LibraryResolver, program: ELFFile) {
        self.resolver = resolver
        self.program = program
        budget = SearchBudget(limit: 65536 + program.source.size / 4)
    }

    mutating func addProgram(path: String, file: ELFFile) {
        let fileSystem = environment.fileSystem
        // The kernel reports the canonical path as /proc/self/exe, and ld.so takes the
        // program's $ORIGIN from it.
        let canonical = fileSystem.canonicalPath(path) ?? path
        let soname = try? file.dynamic()?.soname()
        let object = LoadedObject(index: 0, requestedName: path, path: path, names: [], soname: soname ?? nil, loader: nil,
                                  rule: .executable, identity: fileSystem.status(path)?.identity,
                                  origin: PathText.directory(of: absolute(canonical)), file: file)
        resolution.objects.append(object)
        queue.append(0)
    }

    mutating func addInterpreter(path: String, requestedName: String) {
        guard case .accepted = resolver.verify(path, like: program),
              let file = try? environment.fileSystem.open(path) else { return }
        let soname = (try? file.dynamic()?.soname()) ?? nil
        let index = resolution.objects.count
        var names = [requestedName]
        if let soname, soname != requestedName { names.append(soname) }
        resolution.objects.append(LoadedObject(
            index: index, requestedName: requestedName, path: path, names: names, soname: soname, loader: nil,
            rule: .interpreter, identity: environment.fileSystem.status(path)?.identity,
            origin: PathText.directory(of: absolute(path)), file: file))
        resolution.interpreterIndex = index
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : PathText.join(environment.currentDirectory, path)
    }

    mutating func loadDependencies() {
        // LD_PRELOAD (split at spaces and colons) is loaded before any DT_NEEDED,
        // searched as if the program needed it (rtld.c handle_preload_list).
        if flavor == .glibc, let preload = environment.variables["LD_PRELOAD"] {
            for name in preload.split(whereSeparator: { $0 == " " || $0 == ":" }) {
                mapObject(name: String(name), loader: 0, preload: true)
            }
        }
        var position = 0
        search: while position < queue.count {
            let current = queue[position]
            position += 1
            let needed = (try? resolution.objects[current].file.dynamic()?.needed()) ?? nil
            for name in needed ?? [] {
                mapObject(name: name, loader: current)
                if budget.exhausted { break search }  // said once, by the lookup that ran out
            }
        }
        if flavor == .musl, let interpreter = resolution.interpreterIndex {
            // musl's ldd prints the loader first, then the objects in load order, the
            // loader among them under its short name libc.so where it was first needed.
            resolution.listing.insert(.object(interpreter), at: 0)
            return
        }
        // ld.so unlinks itself from the list when no object needs it (so ldd does not
        // show it), and otherwise moves itself to just after the object that precedes it
        // in the search list: the breadth-first list without the not-found entries.
        if let interpreter = resolution.interpreterIndex, interpreterListed,
           let position = queue.firstIndex(of: interpreter) {
            let predecessor = queue[position - 1]  // position > 0: the program is first
            if predecessor == 0 {
                resolution.listing.insert(.object(interpreter), at: 0)
            } else if let at = resolution.listing.firstIndex(of: .object(predecessor)) {
                resolution.listing.insert(.object(interpreter), at: at + 1)
            } else {
                resolution.listing.append(.object(interpreter))
            }
        }
    }

    /// `_dl_map_object` for one DT_NEEDED entry of `loader`.
    mutating func mapObject(name: String, loader: Int, preload: Bool = false) {
        if flavor == .musl {
            mapObjectMusl(name: name, loader: loader)
            return
        }
        let loaderObject = resolution.objects[loader]
        var lookup = DependencyLookup(requester: loader, name: name, searchedName: name,
                                      outcome: .notFound(message: ""), attempts: [], shadowed: nil)
        // dl-deps.c substitutes DSTs in DT_NEEDED before the lookup; the object then
        // answers to the substituted name (which ldd prints).
        var expandedName = name
        var searched = name
        if name.contains("$") {
            guard let expanded = resolver.expandTokens(name, origin: loaderObject.origin, isProgram: loader == 0) else {
                lookup.outcome = .failed(message: environment.secure
                    ? "cannot load auxiliary `\(name)' because of empty dynamic string token substitution (or $ORIGIN in a secure-mode program)"
                    : "cannot load auxiliary `\(name)' because of empty dynamic string token substitution")
                record(lookup)
                return
            }
            expandedName = expanded.text
            searched = expanded.text
            if searched.hasPrefix("/") && !expanded.startsWithOrigin {
                searched = environment.fileSystem.targetPath(searched)
            }
        } else if searched.hasPrefix("/") {
            searched = environment.fileSystem.targetPath(searched)
        }
        lookup = DependencyLookup(requester: loader, name: name, searchedName: searched,
                                  outcome: .notFound(message: ""), attempts: [], shadowed: nil)
        lookup.isPreload = preload
        if preload && environment.secure && searched.contains("/") {
            lookup.outcome = .notFound(message: "\(name): a path is not preloaded in secure mode")
            record(lookup)
            return
        }

        if let existing = alreadyLoaded(searched) {
            lookup.outcome = .reused(existing.index, reason: existing.reason)
            record(lookup)
            return
        }

        var found: (path: String, rule: SearchRule)?
        var foundOtherClass = false
        var failure: String?
        if searched.contains("/") {
            let result = resolver.verify(searched, like: program)
            lookup.attempts.append(SearchAttempt(path: searched, rule: .path, result: result))
            switch result {
            case .accepted: found = (searched, .path)
            case .wrongClass: foundOtherClass = true
            case .invalid(let message): failure = "\(searched): \(message)"
            default: break
            }
        } else {
            // A secure-mode preload skips the cache and takes only set-user-ID files.
            let secureLoad = preload && environment.secure
            let search = cachedSearchSteps(for: loader).filter { !(secureLoad && $0.rule == .cache) }
            outer: for step in search {
                for (path, verdict) in candidates(step, name: searched, loader: loader) {
                    var result = verdict
                    if secureLoad, case .accepted = result, environment.fileSystem.status(path)?.isSetUID != true {
                        result = .absent("not set-user-ID: secure mode does not preload it")
                    }
                    lookup.attempts.append(SearchAttempt(path: path, rule: step.rule, result: result))
                    switch result {
                    case .accepted:
                        found = (path, step.rule)
                        if step.rule == .libraryPath {
                            lookup.shadowed = shadowedCopy(name: searched, loader: loader, after: search, foundAt: path)
                        }
                        break outer
                    case .wrongClass: foundOtherClass = true
                    case .invalid(let message):
                        failure = "\(path): \(message)"
                        break outer
                    default: continue
                    }
                }
            }
        }

        if found == nil && failure == nil && budget.exhausted { failure = budget.message }
        if let failure {
            lookup.outcome = .failed(message: failure)
            record(lookup)
            return
        }
        guard let found else {
            // Not found: ld.so gives "wrong ELF class" if a file of the other class was
            // seen, else ENOENT. In trace mode (ldd) it lists the name as "not found".
            let reason = foundOtherClass ? "wrong ELF class: \(program.format.is64 ? "ELFCLASS32" : "ELFCLASS64")"
                                         : "cannot open shared object file: No such file or directory"
            lookup.outcome = .notFound(message: "\(name): \(reason)")
            record(lookup)
            return
        }
        // The same file under another name is the object already loaded.
        let identity = environment.fileSystem.status(found.path)?.identity
        if let identity, let same = resolution.objects.first(where: { $0.identity == identity }) {
            if !same.names.contains(searched) { resolution.objects[same.index].names.append(searched) }
            lookup.outcome = .reused(same.index, reason: "same file as \(same.path)")
            record(lookup)
            return
        }
        guard let file = try? environment.fileSystem.open(found.path) else {
            lookup.outcome = .failed(message: "\(found.path): cannot read file data")
            record(lookup)
            return
        }
        let index = resolution.objects.count
        let soname = (try? file.dynamic()?.soname()) ?? nil
        resolution.objects.append(LoadedObject(
            index: index, requestedName: expandedName, path: found.path, names: [searched], soname: soname, loader: loader,
            rule: found.rule, identity: identity, origin: PathText.directory(of: absolute(found.path)), file: file))
        queue.append(index)
        lookup.outcome = .loaded(index)
        record(lookup)
    }

    /// Appends a lookup and keeps `ldd`'s listing in step.
    mutating func record(_ lookup: DependencyLookup) {
        resolution.lookups.append(lookup)
        switch lookup.outcome {
        case .loaded(let index):
            resolution.listing.append(.object(index))
        case .reused(let index, _):
            // ld.so moves itself in the list to where it is first needed.
            if index == resolution.interpreterIndex && !interpreterListed {
                interpreterListed = true
                if flavor == .musl {
                    resolution.listing.append(.alias(name: "libc.so", object: index))
                } else {
                    queue.append(index)
                }
            }
        case .notFound:
            // A preload that fails is reported and ignored; it leaves no faked entry.
            if !lookup.isPreload { resolution.listing.append(.missing(lookup: resolution.lookups.count - 1)) }
        case .failed:
            break
        }
    }

    /// The first loaded object answering to `name`: by the path it was loaded from, a
    /// name it was requested by, or its soname (which is then added to its names).
    mutating func alreadyLoaded(_ name: String) -> (index: Int, reason: String)? {
        for object in resolution.objects {
            if object.index == 0 && object.soname != name { continue }  // the program has no name of its own
            if object.answers(to: name) {
                return (object.index, object.index == resolution.interpreterIndex ? "the interpreter, already loaded" : "already loaded")
            }
            if object.soname == name {
                resolution.objects[object.index].names.append(name)
                return (object.index, "already loaded (soname)")
            }
        }
        return nil
    }

    struct Step {
        let rule: SearchRule
        /// Directories (each ending in '/', or "" for the current directory); nil for the cache.
        let directories: [String]?
    }

    /// The search steps for a name needed by `loader`, in ld.so's order.
    mutating func cachedSearchSteps(for loader: Int) -> [Step] {
        if let steps = searchStepsByLoader[loader] { return steps }
        let steps = searchSteps(for: loader)
        searchStepsByLoader[loader] = steps
        return steps
    }

    func searchSteps(for loader: Int) -> [Step] {
        var steps: [Step] = []
        let loaderObject = resolution.objects[loader]
        let loaderDynamic = (try? loaderObject.file.dynamic()) ?? nil
        if loaderDynamic?.has(.runpath) != true {
            var didProgram = false
            var current: Int? = loader
            while let index = current {
                if let directories = rpathDirectories(index) {
                    steps.append(Step(rule: .rpath(of: index), directories: directories))
                    if index == 0 { didProgram = true }
                }
                current = resolution.objects[index].loader
            }
            if !didProgram, let directories = rpathDirectories(0) {
                steps.append(Step(rule: .rpath(of: 0), directories: directories))
            }
        }
        if let libraryPath = environment.effectiveLibraryPath {
            let directories = resolver.searchDirectories(libraryPath, separators: [":", ";"],
                                                         origin: resolution.objects[0].origin, isProgram: true)
            if !directories.isEmpty { steps.append(Step(rule: .libraryPath, directories: directories)) }
        }
        if let runpath = (try? loaderDynamic?.runpath()) ?? nil, !runpath.isEmpty {
            let directories = resolver.searchDirectories(runpath, separators: [":"], origin: loaderObject.origin,
                                                         isProgram: loader == 0)
            if !directories.isEmpty { steps.append(Step(rule: .runpath(of: loader), directories: directories)) }
        }
        steps.append(Step(rule: .cache, directories: nil))
        if !noDefaultLib(loader) {
            let directories = environment.platform.systemDirectories.map { environment.fileSystem.targetPath($0) }
            steps.append(Step(rule: .systemDirectory, directories: directories))
        }
        return steps
    }

    /// The object's DT_RPATH directories; nil when it has none, has DT_RUNPATH (which
    /// makes the loader ignore DT_RPATH), or nothing is left after substitution.
    func rpathDirectories(_ index: Int) -> [String]? {
        let object = resolution.objects[index]
        guard let dynamic = (try? object.file.dynamic()) ?? nil, !dynamic.has(.runpath),
              let rpath = (try? dynamic.rpath()) ?? nil, !rpath.isEmpty else { return nil }
        let directories = resolver.searchDirectories(rpath, separators: [":"], origin: object.origin, isProgram: index == 0)
        return directories.isEmpty ? nil : directories
    }

    func noDefaultLib(_ loader: Int) -> Bool {
        let dynamic = (try? resolution.objects[loader].file.dynamic()) ?? nil
        return dynamic?.flags1.contains(.noDefaultLib) ?? false
    }

    /// The files one step tries, with what the loader would decide about each. Within a
    /// directory the hwcaps subdirectories come first; one whose directory does not
    /// exist is left out of the list (ld.so tries it once and remembers it is missing).
    func candidates(_ step: Step, name: String, loader: Int) -> [(String, SearchAttempt.Result)] {
        guard let directories = step.directories else { return cacheCandidate(name: name, loader: loader) }
        var result: [(String, SearchAttempt.Result)] = []
        var seen: Set<String> = []
        for directory in directories {
            for subdirectory in environment.searchSubdirectories {
                guard budget.spend() else { return result }
                let base = directory + subdirectory
                if !subdirectory.isEmpty && !environment.fileSystem.isDirectory(absoluteDirectory(base)) { continue }
                let path = base + name
                guard seen.insert(path).inserted else { continue }
                let verdict = resolver.verify(path, like: program)
                result.append((path, verdict))
                if case .accepted = verdict { return result }
                if case .invalid = verdict { return result }
            }
        }
        return result
    }

    func absoluteDirectory(_ path: String) -> String {
        path.isEmpty ? environment.currentDirectory : absolute(path)
    }

    func cacheCandidate(name: String, loader: Int) -> [(String, SearchAttempt.Result)] {
        guard let cache = environment.cache else { return [] }
        let hwcaps = environment.platform.hwcapsSubdirectories
        guard let entry = cache.resolve(name, defaultFlags: environment.platform.cacheFlags,
                                        hwcapsPriority: { subdirectory in hwcaps.firstIndex(of: subdirectory).map { $0 + 1 } })
        else { return [] }
        let path = environment.fileSystem.targetPath(entry.path)
        // With DF_1_NODEFLIB on the loading object (the program when there is none),
        // a cache entry whose path starts with a system directory is not used.
        if noDefaultLib(loader), environment.platform.systemDirectories.contains(where: { entry.path.hasPrefix($0) }) {
            return [(path, .refusedByNoDefaultLib)]
        }
        return [(path, resolver.verify(path, like: program))]
    }

    /// After a library was found through LD_LIBRARY_PATH: the file the remaining steps
    /// (RUNPATH, cache, system directories) would have given, if it is another file.
    func shadowedCopy(name: String, loader: Int, after steps: [Step], foundAt: String) -> DependencyLookup.ShadowedCopy? {
        guard let start = steps.firstIndex(where: { $0.rule == .libraryPath }) else { return nil }
        let foundIdentity = environment.fileSystem.status(foundAt)?.identity
        for step in steps[(start + 1)...] {
            for (path, result) in candidates(step, name: name, loader: loader) {
                if case .accepted = result {
                    if let identity = environment.fileSystem.status(path)?.identity, identity == foundIdentity { return nil }
                    return DependencyLookup.ShadowedCopy(path: path, rule: step.rule)
                }
                if case .invalid = result { return nil }
            }
        }
        return nil
    }
}

extension LibraryResolver {
    /// Every file the search for `name` by object `requester` of `resolution` accepts,
    /// other than `chosen` and each file (device and inode) once, in search order, with
    /// the step that reaches it. Unlike a lookup it does not stop at the first file: the
    /// bundler names the copies the loader would not take. Empty for a name with a slash.
    package func acceptedCopies(of name: String, neededBy requester: Int, in resolution: Resolution, program: ELFFile,
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

extension String {
    /// Every occurrence of `target` replaced (no Foundation in the core).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

/// The loader search's share of the rule that work is bounded by the file's size: a
/// count of directories tried, shared by every lookup of one resolution. Running out
/// fails the lookup with a message naming the search, and stops loading.
final class SearchBudget {
    let limit: UInt64
    private(set) var used: UInt64 = 0

    init(limit: UInt64) { self.limit = limit }

    var exhausted: Bool { used >= limit }

    /// False once the budget is spent.
    func spend() -> Bool {
        guard used < limit else { return false }
        used += 1
        return true
    }

    var message: String {
        "library search: exceeds its budget of \(limit) directories tried (DT_NEEDED entries times search directories), more than the file's size allows"
    }
}
