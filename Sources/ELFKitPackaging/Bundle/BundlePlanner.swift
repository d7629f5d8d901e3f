import ELFKitCore
import ELFKitLoader

/// What `swelf bundle` will copy, and why: the decisions, made without running or
/// changing anything. The files are resolved with `LibraryResolver`, the model `doctor`
/// uses, so a bundle for another architecture is planned the same way as a native one.
public struct BundlePlan: Sendable {
    /// A program, copied to `bin/name`.
    public struct Program: Sendable {
        /// The path as given (it may be a symbolic link).
        public let source: String
        public let name: String
        /// False for a static program: nothing to patch.
        public let isDynamic: Bool
    }

    /// A library, copied once to `lib/name` (a regular file, whatever chain of symbolic
    /// links led to it).
    public struct Library: Sendable {
        /// The file the loader would open (the path it found, links not followed).
        public let source: String
        /// The file at the end of the links.
        public let canonical: String
        /// The name the loader searches for: the DT_NEEDED name that first asked for it.
        public let name: String
        public let soname: String?
        /// "libb.so.1 (RUNPATH of liba.so.1)" — who needed it first and how it was found.
        public let foundBy: String
        /// Other copies of the same name that the loader would not take.
        public internal(set) var shadowed: [String]
    }

    /// One library name and what the bundle does with it.
    public struct Decision: Sendable {
        public enum Outcome: String, Sendable { case bundled, excluded, missing }
        public let name: String
        public let neededBy: String
        public let outcome: Outcome
        public let reason: String
        /// Where it was found on this machine, if it was.
        public let path: String?
    }

    public internal(set) var programs: [Program] = []
    public internal(set) var libraries: [Library] = []
    public internal(set) var decisions: [Decision] = []
    /// Things static analysis cannot settle (dlopen'ed libraries, clashes); the bundle is still made.
    public internal(set) var warnings: [String] = []
    /// Things that stop the bundle (a needed library not found, an unreadable program).
    public internal(set) var errors: [String] = []

    /// Every DT_NEEDED name a file in the bundle has that contains a '/', with the file
    /// name it becomes (a build-machine path must not remain).
    public internal(set) var pathNeeded: [String: [(old: String, new: String)]] = [:]
}

public struct BundlePlanner {
    public let environment: LoaderEnvironment
    public let policy: BundlePolicy

    public init(environment: LoaderEnvironment, policy: BundlePolicy) {
        self.environment = environment
        self.policy = policy
    }

    /// Plans a bundle of `programs`, each a path on this machine, copied under the name
    /// given with it.
    public func plan(programs: [(path: String, name: String)]) -> BundlePlan {
        var plan = BundlePlan()
        var libraryIndex: [String: Int] = [:]   // canonical path -> index in plan.libraries
        var nameOwner: [String: String] = [:]   // name in lib/ -> canonical path
        var decided: Set<String> = []           // "name\u{0}outcome" already recorded
        var usedRules: Set<Int> = []            // indices into policy.rules that matched
        var programNames: Set<String> = []
        var importScanned: Set<String> = []

        for (path, name) in programs {
            guard programNames.insert(name).inserted else {
                plan.errors.append("\(path): another program is already bundled as bin/\(name)")
                continue
            }
            let file: ELFFile
            do {
                file = try environment.fileSystem.open(path)
            } catch {
                plan.errors.append("\(path): \(error)")
                continue
            }
            let dynamic = (try? file.dynamic()) ?? nil
            plan.programs.append(BundlePlan.Program(source: path, name: name, isDynamic: dynamic != nil && !file.isStaticPIE))
            guard dynamic != nil else { continue }
            let environment = self.environment.adapted(for: file)
            let resolver = LibraryResolver(environment: environment)
            let interpreterName = (try? file.interpreter()) ?? nil
            var interpreterPath: String?
            if let interpreterName, case .accepted = resolver.verify(environment.fileSystem.targetPath(interpreterName), like: file) {
                interpreterPath = environment.fileSystem.targetPath(interpreterName)
            }
            let resolution = resolver.resolve(program: path, file: file, interpreter: interpreterPath)
            warnAboutRunTimeLoading(file, shownAs: "bin/\(name)", into: &plan)

            // Breadth first from the program, through bundled libraries only: an excluded
            // library's own dependencies are the host's business.
            var queue = [0]
            var walked: Set<Int> = [0]
            var position = 0
            while position < queue.count {
                let requester = queue[position]
                position += 1
                let requesterName = requester == 0 ? "bin/\(name)" : PathText.lastComponent(of: resolution.objects[requester].path)
                for lookup in resolution.lookups where lookup.requester == requester && !lookup.isPreload {
                    let searchedName = PathText.lastComponent(of: lookup.searchedName)
                    var names = [searchedName]
                    if let object = lookup.object, let soname = resolution.objects[object].soname, soname != searchedName {
                        names.append(soname)
                    }
                    let isLoader = lookup.object != nil && lookup.object == resolution.interpreterIndex
                    let rule = isLoader ? BundlePolicy.loaderRule : policy.decide(names)
                    if let rule, let userIndex = policy.rules.firstIndex(where: { $0.pattern == rule.pattern && $0.source == rule.source }) {
                        usedRules.insert(userIndex)
                    }
                    if let rule, rule.action == .exclude {
                        let reason = rule.reason
                        if decided.insert(searchedName + "\u{0}excluded").inserted {
                            plan.decisions.append(BundlePlan.Decision(
                                name: searchedName, neededBy: requesterName, outcome: .excluded,
                                reason: "\(reason) [\(rule.source.description): exclude \(rule.pattern)]",
                                path: lookup.object.map { resolution.objects[$0].path }))
                        }
                        continue
                    }
                    guard let object = lookup.object, object != 0 else {
                        var message = "not found"
                        switch lookup.outcome {
                        case .notFound(let text), .failed(let text): message = text
                        default: break
                        }
                        plan.errors.append("\(lookup.name), needed by \(requesterName): \(message)")
                        if decided.insert(searchedName + "\u{0}missing").inserted {
                            plan.decisions.append(BundlePlan.Decision(name: searchedName, neededBy: requesterName, outcome: .missing,
                                                                      reason: message, path: nil))
                        }
                        continue
                    }
                    if lookup.name.contains("/") {
                        let owner = requester == 0 ? "bin/\(name)" : "lib/\(PathText.lastComponent(of: resolution.objects[requester].path))"
                        plan.pathNeeded[owner, default: []].append((lookup.name, searchedName))
                    }
                    let loaded = resolution.objects[object]
                    let canonical = environment.fileSystem.canonicalPath(loaded.path) ?? loaded.path
                    if let existing = libraryIndex[canonical] {
                        if plan.libraries[existing].name != searchedName, !(loaded.soname == plan.libraries[existing].name) {
                            plan.warnings.append("\(canonical) is needed as \(plan.libraries[existing].name) and as \(searchedName) (by \(requesterName)); it is bundled once, as \(plan.libraries[existing].name)")
                        }
                    } else if let owner = nameOwner[searchedName], owner != canonical {
                        plan.warnings.append("two different files are needed as \(searchedName): \(owner) is bundled, \(canonical) (for \(requesterName)) is not")
                    } else {
                        let why = rule.map { " [\($0.source.description): \($0.action.rawValue) \($0.pattern)]" } ?? ""
                        let library = BundlePlan.Library(
                            source: loaded.path, canonical: canonical, name: searchedName, soname: loaded.soname,
                            foundBy: "\(requesterName) (\(resolution.describe(loaded.rule)))", shadowed: [])
                        libraryIndex[canonical] = plan.libraries.count
                        nameOwner[searchedName] = canonical
                        plan.libraries.append(library)
                        plan.decisions.append(BundlePlan.Decision(
                            name: searchedName, neededBy: requesterName, outcome: .bundled,
                            reason: (rule?.reason ?? "not part of the base system") + why, path: loaded.path))
                    }
                    if let index = libraryIndex[canonical] {
                        for copy in otherCopies(of: lookup.searchedName, neededBy: requester, resolution: resolution,
                                                program: file, resolver: resolver, chosen: loaded.path)
                        where !plan.libraries[index].shadowed.contains(copy) {
                            plan.libraries[index].shadowed.append(copy)
                        }
                    }
                    if walked.insert(object).inserted {
                        queue.append(object)
                        if importScanned.insert(canonical).inserted {
                            warnAboutRunTimeLoading(loaded.file, shownAs: "lib/\(searchedName)", into: &plan)
                        }
                    }
                }
            }
        }
        for (index, rule) in policy.rules.enumerated() where rule.action == .exclude && !usedRules.contains(index) {
            plan.warnings.append("\(rule.source.description): exclude \(rule.pattern) matches no library these programs need")
        }
        return plan
    }

    /// Copies of `name` that the requester's search would reach after the one the loader
    /// takes (a later directory of the same list, a later step), other files than it,
    /// each with the step that reaches it.
    func otherCopies(of name: String, neededBy requester: Int, resolution: Resolution, program: ELFFile,
                     resolver: LibraryResolver, chosen: String) -> [String] {
        resolver.acceptedCopies(of: name, neededBy: requester, in: resolution, program: program, excluding: chosen)
            .map { "\($0.path) (\(resolution.describe($0.rule)))" }
    }

    /// Imports that make a program load code at run time, which no static analysis sees.
    static let runTimeLoaders: [(symbols: Set<String>, what: String)] = [
        (["getaddrinfo", "getnameinfo", "gethostbyname", "gethostbyname2", "gethostbyname_r", "gethostbyname2_r",
          "gethostbyaddr", "gethostbyaddr_r", "getpwnam", "getpwnam_r", "getpwuid", "getpwuid_r", "getpwent",
          "getgrnam", "getgrnam_r", "getgrgid", "getgrgid_r", "getgrent", "getgrouplist", "initgroups", "getspnam",
          "getspnam_r", "getservbyname", "getservbyname_r", "getservbyport", "getprotobyname", "getnetgrent",
          "innetgr", "getlogin", "getlogin_r"],
         "uses the name service: glibc loads the host's libnss_* modules at run time (they come with the host's glibc)"),
        (["iconv_open"], "converts character sets with iconv: glibc loads gconv modules from the host at run time"),
        (["dlopen", "dlmopen"], "loads code with dlopen: the libraries or plugins it opens are not bundled; add them yourself"),
    ]

    func warnAboutRunTimeLoading(_ file: ELFFile, shownAs name: String, into plan: inout BundlePlan) {
        let imports = BundlePlanner.importedSymbols(file)
        for (symbols, what) in BundlePlanner.runTimeLoaders {
            let used = symbols.intersection(imports).sorted()
            if !used.isEmpty { plan.warnings.append("\(name) \(what) (imports \(used.joined(separator: ", ")))") }
        }
    }

    /// Names of the undefined symbols in `.dynsym` (empty if it cannot be read).
    static func importedSymbols(_ file: ELFFile) -> Set<String> {
        guard let section = file.sectionHeaders.first(where: { $0.type == .dynsym }),
              section.entrySize >= (file.format.is64 ? 24 : 16),
              Int(exactly: section.link).map({ $0 < file.sectionHeaders.count }) == true,
              let raw = try? file.source.bytes(at: section.offset, count: section.size, ".dynsym"),
              let strings = try? file.readStringTable(section: file.sectionHeaders[Int(section.link)]) else { return [] }
        var names: Set<String> = []
        let count = UInt64(raw.count) / section.entrySize
        var decoder = ByteDecoder(raw, format: file.format, baseOffset: section.offset)
        var index: UInt64 = 1
        while index < count {
            // index < count = raw.count / entrySize: the product is at most raw.count.
            decoder.position = Int(index * section.entrySize)
            guard let symbol = try? Symbol.decode(&decoder) else { break }
            if !symbol.isDefined, let name = try? strings.string(at: UInt64(symbol.nameOffset)) { names.insert(name) }
            index += 1
        }
        return names
    }
}
