import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// Decides what `swelf bundle` copies: each program's libraries found as its loader
/// would find them, each kept or left to the host by a ``BundlePolicy``, with the reason.
/// It only reads files; ``BundlePlan`` holds the outcome.
public struct BundlePlanner {
    /// The machine (or `--root` tree) whose loader rules find the libraries; adapted to
    /// each program's architecture (``LoaderEnvironment/adapted(for:)``) when they differ.
    public let environment: LoaderEnvironment
    /// Which needed libraries are left to the host instead of copied.
    public let policy: BundlePolicy
    /// The PT_INTERP every dynamic program gets (`--interpreter`); nil gives each the
    /// standard loader path for its machine and class (``standardInterpreter(for:)``).
    public var interpreter: String?

    /// A planner for programs resolved in `environment` and sorted by `policy`.
    ///
    /// - Parameters:
    ///   - environment: The loader's search rules and file system the libraries are found in.
    ///   - policy: The rules that exclude libraries from the bundle.
    public init(environment: LoaderEnvironment, policy: BundlePolicy) {
        self.environment = environment
        self.policy = policy
    }

    /// Plans a bundle of `programs`, each a path on this machine, copied to `bin/` under
    /// the name given with it.
    ///
    /// Each program is opened and resolved as the loader would (`openProgram`), then its
    /// libraries are walked breadth first (`walkLibraries`), each lookup excluded by the
    /// policy, missing, or bundled (`take`); last, the exclusions that matched nothing
    /// are named (`unmatchedExclusions`).
    ///
    /// - Parameter programs: Each program's path on this machine (a symbolic link is
    ///   kept as given) and its file name under `bin/`; two programs with one name are an
    ///   error in the plan.
    /// - Returns: The plan: programs, libraries and decisions, with the warnings and the
    ///   errors that must stop the bundle (a missing library, an unreadable program).
    public func plan(programs: [(path: String, name: String)]) -> BundlePlan {
        plan(inputs: programs.map { BundleInput(path: $0.path, location: "bin/" + $0.name, kind: .program) })
    }

    /// Plans a bundle of `inputs`: programs and plugins at their locations, libraries
    /// named as arguments in `lib/` under their sonames, and what they all need.
    /// `progress` is told how many inputs are done after each (for a progress line).
    package func plan(inputs: [BundleInput], progress: (Int) -> Void = { _ in }) -> BundlePlan {
        var builder = BundlePlanBuilder()
        for (index, input) in inputs.enumerated() {
            progress(index)
            guard let program = open(input, into: &builder) else { continue }
            walkLibraries(of: program, into: &builder)
        }
        progress(inputs.count)
        builder.plan.warnings += unmatchedExclusions(used: builder.usedRules)
        return builder.plan
    }

    /// The standard PT_INTERP of `file`'s machine and class, glibc's name for it
    /// (`/lib64/ld-linux-x86-64.so.2`, `/lib/ld-linux-aarch64.so.1`), or musl's
    /// (`/lib/ld-musl-ARCH.so.1`) when the file names a musl loader; the file's own
    /// when the machine has no standard one here.
    ///
    /// - Parameter file: A dynamic program.
    /// - Returns: The path, or nil when the file has no PT_INTERP.
    public static func standardInterpreter(for file: ELFFile) -> String? {
        guard let current = (try? file.interpreter()) ?? nil else { return nil }
        let name = PathText.lastComponent(of: current)
        if name.hasPrefix("ld-musl-") { return "/lib/" + name }
        return LoaderPlatform.defaultLoaderPath(machine: file.header.machine, is64: file.format.is64,
                                                isBigEndian: file.format.isBigEndian, elfFlags: file.header.flags) ?? current
    }

    /// A dynamic file to walk: its place in the bundle, its file, and how the loader
    /// resolves it.
    struct ResolvedProgram {
        let location: String
        let file: ELFFile
        let resolver: LibraryResolver
        let resolution: LibraryResolution

        /// How an object is named in decisions and warnings: its place in the bundle
        /// for the input (`bin/NAME`), else the library's file name.
        func requesterName(_ index: Int) -> String {
            index == 0 ? location : PathText.lastComponent(of: resolution.objects[index].path)
        }

        /// Where an object goes in the bundle: the input's location, or `lib/FILE`.
        func bundledPath(_ index: Int) -> String {
            index == 0 ? location : "lib/\(PathText.lastComponent(of: resolution.objects[index].path))"
        }
    }

    /// Opens an input and adds it to the plan, then resolves it; nil when there is
    /// nothing to walk (an error was recorded, or the program is static).
    func open(_ input: BundleInput, into builder: inout BundlePlanBuilder) -> ResolvedProgram? {
        let path = input.path
        let file: ELFFile
        do {
            file = try environment.fileSystem.open(path)
        } catch {
            builder.plan.errors.append("\(path): \(error)")
            return nil
        }
        let dynamic = (try? file.dynamic()) ?? nil
        var location = input.location
        switch input.kind {
        case .library:
            guard dynamic != nil else {
                builder.plan.errors.append("\(path): a shared library without a dynamic section")
                return nil
            }
            let soname = (try? dynamic?.soname()) ?? nil
            let name = soname.map { PathText.lastComponent(of: $0) } ?? PathText.lastComponent(of: path)
            location = "lib/" + name
            let canonical = environment.fileSystem.canonicalPath(path) ?? path
            builder.bundle(BundlePlan.Library(source: path, canonical: canonical, name: name, soname: soname,
                                              foundBy: "given as an argument", shadowed: [],
                                              ruleDescription: "given as an argument"),
                           reason: "given as an argument", neededBy: location, rule: nil)
        case .program, .plugin:
            guard builder.programNames.insert(location).inserted else {
                builder.plan.errors.append("\(path): another file is already bundled as \(location)")
                return nil
            }
            let original = input.kind == .program ? ((try? file.interpreter()) ?? nil) : nil
            let target = original == nil ? nil : (interpreter ?? BundlePlanner.standardInterpreter(for: file))
            builder.plan.programs.append(BundlePlan.Program(
                source: path, name: PathText.lastComponent(of: location), location: location,
                role: input.kind == .plugin ? .plugin : .program, isDynamic: dynamic != nil && !file.isStaticPIE,
                originalInterpreter: original, interpreter: target))
        }
        guard dynamic != nil else { return nil }
        let program = resolve(path: path, location: location, file: file)
        warnAboutRunTimeLoading(file, shownAs: location, into: &builder.plan)
        return program
    }

    /// The file's libraries as its own loader finds them (the machine's, or defaults
    /// for the file's architecture), the interpreter loaded first when it is usable: the
    /// one the copy will name, so that a build machine's own loader path (a /nix/store
    /// one) does not decide.
    func resolve(path: String, location: String, file: ELFFile) -> ResolvedProgram {
        let environment = self.environment.adapted(for: file)
        let resolver = LibraryResolver(environment: environment)
        let current = (try? file.interpreter()) ?? nil
        let interpreterName = current == nil ? nil : (interpreter ?? BundlePlanner.standardInterpreter(for: file))
        var interpreterPath: String?
        if let interpreterName, case .accepted = resolver.verify(environment.fileSystem.targetPath(interpreterName), like: file) {
            interpreterPath = environment.fileSystem.targetPath(interpreterName)
        }
        let resolution = resolver.resolve(program: path, file: file, interpreter: interpreterPath)
        return ResolvedProgram(location: location, file: file, resolver: resolver, resolution: resolution)
    }

    /// Breadth first from the program, through bundled libraries only: an excluded
    /// library's own dependencies are the host's business. A library reached for the
    /// first time has its imports scanned for run-time loading.
    func walkLibraries(of program: ResolvedProgram, into builder: inout BundlePlanBuilder) {
        var queue = [0]
        var walked: Set<Int> = [0]
        var position = 0
        while position < queue.count {
            let requester = queue[position]
            position += 1
            for lookup in program.resolution.lookups where lookup.requester == requester && !lookup.isPreload {
                guard let library = take(lookup, of: program, into: &builder), walked.insert(library.object).inserted else { continue }
                queue.append(library.object)
                if builder.importScanned.insert(library.canonical).inserted {
                    warnAboutRunTimeLoading(program.resolution.objects[library.object].file, shownAs: "lib/\(library.name)",
                                            into: &builder.plan)
                }
            }
        }
    }

    /// A library `take` let into the bundle (or found there already).
    struct TakenLibrary {
        /// Its index among the resolution's objects.
        let object: Int
        /// The file at the end of its links.
        let canonical: String
        /// The name it was searched for.
        let name: String
    }

    /// The rule that decides a lookup: the loader's own when the lookup reaches the
    /// interpreter, else the policy's for the name searched and the soname found.
    func rule(for lookup: DependencyLookup, searchedName: String, in resolution: LibraryResolution) -> BundlePolicy.Rule? {
        var names = [searchedName]
        if let object = lookup.object, let soname = resolution.objects[object].soname, soname != searchedName {
            names.append(soname)
        }
        let isLoader = lookup.object != nil && lookup.object == resolution.interpreterIndex
        return isLoader ? BundlePolicy.loaderRule : policy.decide(names)
    }

    /// One DT_NEEDED lookup: excluded by the policy, missing (an error), or a library
    /// to bundle, with the other copies the loader would not take. Returns the library
    /// to walk on from; nil for an excluded or missing one.
    func take(_ lookup: DependencyLookup, of program: ResolvedProgram, into builder: inout BundlePlanBuilder) -> TakenLibrary? {
        let resolution = program.resolution
        let requester = lookup.requester
        let requesterName = program.requesterName(requester)
        let searchedName = PathText.lastComponent(of: lookup.searchedName)
        let rule = rule(for: lookup, searchedName: searchedName, in: resolution)
        if let rule, let userIndex = policy.rules.firstIndex(where: { $0.pattern == rule.pattern && $0.source == rule.source }) {
            builder.usedRules.insert(userIndex)
        }
        if let rule, rule.action == .exclude {
            builder.decideOnce(BundlePlan.Decision(
                name: searchedName, neededBy: requesterName, outcome: .excluded,
                reason: "\(rule.reason) [\(rule.source.description): exclude \(rule.pattern)]",
                path: lookup.object.map { resolution.objects[$0].path }, rule: rule))
            return nil
        }
        guard let object = lookup.object, object != 0 else {
            var message = "not found"
            switch lookup.outcome {
            case .notFound(let text), .failed(let text): message = text
            default: break
            }
            builder.plan.errors.append("\(lookup.name), needed by \(requesterName): \(message)")
            builder.decideOnce(BundlePlan.Decision(name: searchedName, neededBy: requesterName, outcome: .missing,
                                                   reason: message, path: nil))
            return nil
        }
        if lookup.name.contains("/") {
            builder.plan.pathNeeded[program.bundledPath(requester), default: []].append((lookup.name, searchedName))
        }
        let loaded = resolution.objects[object]
        let canonical = environment.fileSystem.canonicalPath(loaded.path) ?? loaded.path
        let why = rule.map { " [\($0.source.description): \($0.action.rawValue) \($0.pattern)]" } ?? ""
        builder.bundle(
            BundlePlan.Library(source: loaded.path, canonical: canonical, name: searchedName, soname: loaded.soname,
                               foundBy: "\(requesterName) (\(resolution.describe(loaded.rule)))", shadowed: [],
                               neededBy: requesterName, rule: loaded.rule.kind, ruleDescription: resolution.describe(loaded.rule)),
            reason: (rule?.reason ?? "not part of the base system") + why, neededBy: requesterName, rule: rule)
        if let index = builder.libraryIndex[canonical] {
            for copy in otherCopies(of: lookup.searchedName, neededBy: requester, resolution: resolution,
                                    program: program.file, resolver: program.resolver, chosen: loaded.path)
            where !builder.plan.libraries[index].shadowed.contains(copy.text) {
                builder.plan.libraries[index].shadowed.append(copy.text)
                builder.plan.libraries[index].shadowedCopies.append(copy.fields)
            }
        }
        return TakenLibrary(object: object, canonical: canonical, name: searchedName)
    }

    /// A warning for each exclusion of the user's policy that no lookup matched.
    func unmatchedExclusions(used: Set<Int>) -> [String] {
        policy.rules.enumerated().filter { $0.element.action == .exclude && !used.contains($0.offset) }.map {
            "\($0.element.source.description): exclude \($0.element.pattern) matches no library these programs need"
        }
    }

    /// Copies of `name` that the requester's search would reach after the one the loader
    /// takes (a later directory of the same list, a later step), other files than it,
    /// each with the step that reaches it.
    func otherCopies(of name: String, neededBy requester: Int, resolution: LibraryResolution, program: ELFFile,
                     resolver: LibraryResolver, chosen: String) -> [(text: String, fields: BundlePlan.ShadowedCopy)] {
        resolver.acceptedCopies(of: name, neededBy: requester, in: resolution, program: program, excluding: chosen)
            .map { ("\($0.path) (\(resolution.describe($0.rule)))",
                    BundlePlan.ShadowedCopy(path: $0.path, rule: $0.rule.kind, ruleDescription: resolution.describe($0.rule))) }
    }

    /// Imports that make a program load code at run time, which no static analysis sees.
    static let runTimeLoaders: [(symbols: Set<String>, what: String)] = [
        (NameServiceImports.all,
         "uses the name service: glibc loads the host's libnss_* modules at run time (they come with the host's glibc)"),
        (["iconv_open"], "converts character sets with iconv: glibc loads gconv modules from the host at run time"),
        (["dlopen", "dlmopen"], "loads code with dlopen: the libraries or plugins it opens are not bundled; add them yourself"),
    ]

    func warnAboutRunTimeLoading(_ file: ELFFile, shownAs name: String, into plan: inout BundlePlan) {
        let imports = VersionedImports.importedNames(of: file)
        for (symbols, what) in BundlePlanner.runTimeLoaders {
            let used = symbols.intersection(imports).sorted()
            if !used.isEmpty { plan.warnings.append("\(name) \(what) (imports \(used.joined(separator: ", ")))") }
        }
    }
}
