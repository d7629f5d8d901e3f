import ELFKitCore

/// The loader's state while it builds the link-map list.
struct ResolverState {
    let resolver: LibraryResolver
    let program: ELFFile
    var resolution = LibraryResolution(objects: [], lookups: [], listing: [], interpreterIndex: nil)
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
                record(lookup, .failed(message: environment.secure
                    ? "cannot load auxiliary `\(name)' because of empty dynamic string token substitution (or $ORIGIN in a secure-mode program)"
                    : "cannot load auxiliary `\(name)' because of empty dynamic string token substitution"))
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
            record(lookup, .notFound(message: "\(name): a path is not preloaded in secure mode"))
            return
        }

        if let existing = alreadyLoaded(searched) {
            record(lookup, .reused(existing.index, reason: existing.reason))
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
            record(lookup, .failed(message: failure))
            return
        }
        guard let found else {
            // Not found: ld.so gives "wrong ELF class" if a file of the other class was
            // seen, else ENOENT. In trace mode (ldd) it lists the name as "not found".
            let reason = foundOtherClass ? "wrong ELF class: \(program.format.is64 ? "ELFCLASS32" : "ELFCLASS64")"
                                         : "cannot open shared object file: No such file or directory"
            record(lookup, .notFound(message: "\(name): \(reason)"))
            return
        }
        admit(found, lookup: lookup, loader: loader, requestedName: expandedName, searchedName: searched,
              reuseAddsName: true, unreadable: "\(found.path): cannot read file data")
    }

    /// The end of a search that found a file, the same for glibc and musl: a file
    /// already loaded under another name (same device and inode) is that object;
    /// otherwise the file is opened, appended to the link-map list and queued for its
    /// own DT_NEEDED entries.
    ///
    /// - Parameters:
    ///   - requestedName: what the new object is first known by (`LoadedObject.requestedName`).
    ///   - searchedName: the name searched, the first the new object answers to.
    ///   - reuseAddsName: glibc adds the searched name to an object reached again under
    ///     it (`add_name_to_object`), so that later lookups match it; musl matches a
    ///     library only by the name it first loaded it under, so it adds none.
    ///   - unreadable: the lookup's message when the file cannot be read.
    mutating func admit(_ found: (path: String, rule: SearchRule), lookup: DependencyLookup, loader: Int,
                        requestedName: String, searchedName: String, reuseAddsName: Bool, unreadable: String) {
        let identity = environment.fileSystem.status(found.path)?.identity
        if let identity, let same = resolution.objects.first(where: { $0.identity == identity }) {
            if reuseAddsName && !same.names.contains(searchedName) { resolution.objects[same.index].names.append(searchedName) }
            record(lookup, .reused(same.index, reason: "same file as \(same.path)"))
            return
        }
        guard let file = try? environment.fileSystem.open(found.path) else {
            record(lookup, .failed(message: unreadable))
            return
        }
        let index = resolution.objects.count
        let soname = (try? file.dynamic()?.soname()) ?? nil
        resolution.objects.append(LoadedObject(
            index: index, requestedName: requestedName, path: found.path, names: [searchedName], soname: soname, loader: loader,
            rule: found.rule, identity: identity, origin: PathText.directory(of: absolute(found.path)), file: file))
        queue.append(index)
        record(lookup, .loaded(index))
    }

    /// Sets the lookup's outcome, then records it.
    mutating func record(_ lookup: DependencyLookup, _ outcome: DependencyLookup.Outcome) {
        var lookup = lookup
        lookup.outcome = outcome
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
