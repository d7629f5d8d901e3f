#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitLoader

/// The options that change `autopatch`'s decisions (docs/autopatch-design.md, Options).
package struct AutopatchOptions: Sendable {
    /// Directories searched for providers after the tree, in order; only the files
    /// directly in each (as auto-patchelf.py's `--libs`).
    package var libraryDirectories: [String] = []
    /// Whether directory PATHs are walked below their top.
    package var recurse = true
    /// Providers in the tree written as absolute directories instead of `$ORIGIN` paths.
    package var absolute = false
    /// The PT_INTERP every program gets; nil keeps each program's own.
    package var interpreter: String?
    /// `fnmatch(3)` patterns: a missing need whose name matches is reported, not an error.
    package var ignoreMissing: [String] = []
    /// `--runtime-dependencies`: directories put first in every program's run path (for
    /// libraries it opens with `dlopen`), as given.
    package var runtimeDependencies: [String] = []
    /// `--append-rpaths`: directories put last in every dynamic file's run path, as given.
    package var appendRunPaths: [String] = []
    /// `--keep-existing`: the old run path's entries that still name a directory (`$ORIGIN`
    /// expanded against the file's directory) are kept, after the new ones.
    package var keepExisting = false
    /// `--keep-libc`: glibc's own libraries (``AutopatchPlanner/isLibcLibrary(_:)``) are
    /// looked for in the tree and `--libs` like any other, and when the target's system
    /// provides them, the directory it finds them in is written too. Without it they are
    /// always the target's own and never written (auto-patchelf.py drops every name its
    /// libc directory holds, "resolved automatically by the dynamic linker").
    package var keepLibc = false
    /// The libc directory `$NIX_BINTOOLS/nix-support/orig-libc` names (plus `/lib`), as the
    /// target names it (read inside `--root`): a need whose name is a file there is glibc's
    /// own (instead of ``AutopatchPlanner/isLibcLibrary(_:)``'s list), provided from there,
    /// and the directory `--keep-libc` writes. nil without `NIX_BINTOOLS`.
    package var libcDirectory: String?
    /// `--ignore-existing`: the tree's own files are not providers (auto-patchelf.py's
    /// flag skips indexing the paths to patch; only `--libs` and the system are searched).
    package var ignoreExisting = false
    /// `--extra-args --force-rpath`: write DT_RPATH instead of DT_RUNPATH.
    package var forceRPath = false
    /// `--extra-args --no-default-lib`: set DF_1_NODEFLIB on every patched file.
    package var noDefaultLib = false
    /// How many files are planned at a time (`Overlap.map`).
    package var jobs = Overlap.processorCount

    package init() {}
}

/// Decides, for every ELF file of a tree, the run path that resolves its DT_NEEDED
/// entries and the interpreter of its programs. It only reads files.
///
/// A need is satisfied by the first compatible file of that name in the tree (in walk
/// order), then in the `--libs` directories (in order), then by the target's own
/// libraries as its loader finds them (`LibraryResolver.locateForDlopen`), which are not
/// written into the run path. Compatible: what ld.so's `open_verify` accepts for the file
/// (`LibraryResolver.verify`: class, byte order, machine, OS ABI, type), and every
/// symbol version the file needs from that name is defined by the candidate.
package struct AutopatchPlanner: Sendable {
    /// The target's loader rules and file system, without LD_LIBRARY_PATH and LD_PRELOAD:
    /// the run paths written must not depend on the caller's environment.
    package let environment: LoaderEnvironment
    package let options: AutopatchOptions

    /// A planner for the target `environment` describes (this machine, or `--root`).
    /// - Parameters:
    ///   - environment: the loader's rules; its LD_LIBRARY_PATH and LD_PRELOAD are dropped.
    ///   - options: the choices of the command line.
    package init(environment: LoaderEnvironment, options: AutopatchOptions) {
        var environment = environment
        environment.variables.removeValue(forKey: "LD_LIBRARY_PATH")
        environment.variables.removeValue(forKey: "LD_PRELOAD")
        self.environment = environment
        self.options = options
    }

    /// A file that may provide a library: its canonical path and its directory.
    struct Candidate {
        let path: String
        /// The directory written into the run path for it.
        let directory: String
        var rule: AutopatchPlan.Rule = .tree
    }

    /// Plans `paths` (trees or files). With `--interpreter`, a file of another machine or
    /// class than that loader is left alone (``AutopatchPlan/Kind/foreign``); an
    /// interpreter that cannot be read (on the target: `--root`) is the plan's only error.
    /// - Parameter paths: the PATHs of the command line.
    /// - Returns: the plan; its `errors` are not empty when a need is missing or a file
    ///   could not be read.
    package func plan(paths: [String]) -> AutopatchPlan {
        let walk = AutopatchWalk.walk(paths, recurse: options.recurse)
        var plan = AutopatchPlan()
        plan.otherFiles = walk.otherFiles
        plan.errors = walk.errors
        plan.warnings = walk.warnings
        plan.hardLinks = walk.hardLinks
        let tree = options.ignoreExisting ? [:] : treeIndex(walk)
        let libraries = libraryIndex()
        var target: (machine: ELFMachine, is64: Bool, osABI: OSABI)?
        if let interpreter = options.interpreter {
            do {
                let loader = try environment.fileSystem.open(environment.fileSystem.targetPath(interpreter))
                target = (loader.header.machine, loader.format.is64, loader.header.osABI)
            } catch {
                plan.errors.append("--interpreter \(interpreter): \(error)")
                return plan
            }
        } else {
            target = targetMachine()
        }
        // Each file is planned on its own (only reads), `jobs` at a time; what is learnt
        // about providers and loaders is shared (`ProviderFacts`). The results are taken in
        // walk order, so the plan does not depend on the threads.
        let facts = ProviderFacts()
        let files = walk.files
        let machine = target
        let outcomes = Overlap.map(count: files.count, jobs: options.jobs) { index -> Result<(AutopatchPlan.FilePlan, FileContext), PlanFailure> in
            let entry = files[index]
            var context = FileContext(tree: tree, libraries: libraries, facts: facts)
            do {
                let file = try environment.fileSystem.open(entry.realPath)
                if let machine, file.header.machine != machine.machine || file.format.is64 != machine.is64
                    || !AutopatchPlanner.osABICompatible(wanted: machine.osABI, got: file.header.osABI) {
                    return .success((AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: .foreign,
                                                            interpreterBefore: nil, interpreterAfter: nil, runPathBefore: nil,
                                                            runPathAfter: nil, needs: []), context))
                }
                return .success((planFile(entry, file: file, context: &context), context))
            } catch {
                return .failure(PlanFailure(message: "\(entry.path): \(error)"))
            }
        }
        for (entry, outcome) in zip(files, outcomes) {
            switch outcome {
            case .success(let (filePlan, context)):
                if let problem = context.interpreterProblem { plan.errors.append(problem) }
                plan.warnings += context.warnings
                for need in filePlan.needs where need.rule == .missing {
                    plan.errors.append("\(entry.path): \(AutopatchPlanner.describe(need)): not found (tree, --libs, system)")
                }
                plan.files.append(filePlan)
            case .failure(let failure):
                plan.errors.append(failure.message)
            }
        }
        return plan
    }

    /// A file that could not be planned: its line for `errors`.
    struct PlanFailure: Error {
        let message: String
    }

    /// The tree's files by every name they have: their own file name and the names of the
    /// symbolic links to them, in walk order; after them the files of their providers'
    /// run paths (``runPathProviders(of:recurse:visited:)``), as auto-patchelf.py indexes
    /// those before `--libs`.
    func treeIndex(_ walk: AutopatchWalk) -> [String: [Candidate]] {
        var index: [String: [Candidate]] = [:]
        for entry in walk.files {
            index[PathText.lastComponent(of: entry.realPath), default: []]
                .append(Candidate(path: entry.realPath, directory: AutopatchPlanner.directory(of: entry.realPath)))
        }
        for alias in walk.aliases {
            index[alias.name, default: []].append(Candidate(path: alias.target, directory: alias.directory))
        }
        let libraries = walk.files.filter { AutopatchPlanner.isLibraryName(PathText.lastComponent(of: $0.path)) }.map(\.realPath)
            + walk.aliases.filter { AutopatchPlanner.isLibraryName($0.name) }.map(\.target)
        for (name, candidate) in runPathProviders(of: libraries, recurse: options.recurse, visited: Set(walk.roots)) {
            index[name, default: []].append(candidate)
        }
        return index
    }

    /// The files directly in the `--libs` directories (links followed), by name, in the
    /// order of the directories. A `--libs` entry that is a file is itself a provider, by
    /// the name it was given, in the directory it was given in (auto-patchelf.py's
    /// `--libs` takes single files too). After them, the files of their providers' run
    /// paths (``runPathProviders(of:recurse:visited:)``, not recursive).
    func libraryIndex() -> [String: [Candidate]] {
        var index: [String: [Candidate]] = [:]
        /// The files whose run paths are followed, in order (names matching `*.so*`).
        var libraries: [String] = []
        for directory in options.libraryDirectories {
            guard let real = AutopatchWalk.realPath(directory) else { continue }
            if !AutopatchPlanner.isDirectory(real) {
                guard let parent = AutopatchWalk.realPath(AutopatchPlanner.directory(of: directory)) else { continue }
                index[PathText.lastComponent(of: directory), default: []].append(Candidate(path: real, directory: parent, rule: .libraries))
                if AutopatchPlanner.isLibraryName(PathText.lastComponent(of: directory)) { libraries.append(real) }
                continue
            }
            guard let names = AutopatchWalk.entryNames(of: real) else { continue }
            for name in names {
                guard let target = AutopatchWalk.realPath(real + "/" + name) else { continue }
                index[name, default: []].append(Candidate(path: target, directory: real, rule: .libraries))
                if AutopatchPlanner.isLibraryName(name) { libraries.append(target) }
            }
        }
        let given = Set(options.libraryDirectories.compactMap(AutopatchWalk.realPath))
        for (name, candidate) in runPathProviders(of: libraries, recurse: false, visited: given) {
            index[name, default: []].append(candidate)
        }
        return index
    }

    /// What the planning of one file works with: the provider indexes and the facts
    /// shared by every file of the plan, and what this file reports.
    struct FileContext {
        let tree: [String: [Candidate]]
        let libraries: [String: [Candidate]]
        /// Providers, loaders and interpreters already looked at, for every file.
        let facts: ProviderFacts
        /// Set by ``planFile(_:file:context:)``: the program has no interpreter to run with.
        var interpreterProblem: String?
        /// Set by ``planFile(_:file:context:)``: a malformed `.note.dlopen`, an optional
        /// dlopen library not found.
        var warnings: [String] = []
    }

    /// The machine and class the target runs, without `--interpreter`: those of the
    /// target system's own loader (the first of `HostProbe.loaderCandidates` present
    /// under `--root`, or on this machine), else of this machine's loader platform.
    func targetMachine() -> (machine: ELFMachine, is64: Bool, osABI: OSABI) {
        for candidate in HostProbe.loaderCandidates {
            if let loader = try? environment.fileSystem.open(environment.fileSystem.targetPath(candidate)) {
                return (loader.header.machine, loader.format.is64, loader.header.osABI)
            }
        }
        return (environment.platform.machine, environment.platform.is64, .systemV)
    }

    /// auto-patchelf.py's `osabi_are_compatible`: a file of OS ABI `got` may run with a
    /// loader of OS ABI `wanted` when either is System V (the base ABI) or they are equal.
    /// A file that fails it is foreign, as auto-patchelf.py skips it.
    static func osABICompatible(wanted: OSABI, got: OSABI) -> Bool {
        wanted == .systemV || got == .systemV || wanted == got
    }

    /// The plan of one ELF file.
    func planFile(_ entry: AutopatchWalk.Entry, file: ELFFile, context: inout FileContext) -> AutopatchPlan.FilePlan {
        let dynamic = (try? file.dynamic()) ?? nil
        let interpreter = (try? file.interpreter()) ?? nil
        let kind: AutopatchPlan.Kind = dynamic == nil || file.isStaticPIE
            ? .staticProgram : (interpreter != nil ? .program : .library)
        let runpath = (try? dynamic?.runpath()) ?? nil
        let before = runpath ?? ((try? dynamic?.rpath()) ?? nil)
        guard kind != .staticProgram, let dynamic else {
            return AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: kind, interpreterBefore: interpreter,
                                          interpreterAfter: interpreter, runPathBefore: before, runPathAfter: before, needs: [])
        }
        let resolver = LibraryResolver(environment: environment.adapted(for: file))
        let versionNeeds = (try? dynamic.versionNeeds()) ?? []
        var needs: [AutopatchPlan.Need] = []
        var runPath: [String] = kind == .program ? options.runtimeDependencies : []
        let origin = AutopatchPlanner.directory(of: entry.realPath)
        var libcDirectory: String??
        func add(_ found: (need: AutopatchPlan.Need, directory: String?)) {
            needs.append(found.need)
            var element = found.directory
            if element == nil, options.keepLibc, found.need.rule == .system, isLibc(found.need.name),
               let provider = found.need.provider {
                // The libc the target's loader finds (NIX_BINTOOLS's when given): its
                // directory, as the target names it.
                if libcDirectory == nil {
                    libcDirectory = options.libcDirectory.map { environment.fileSystem.canonicalPath(environment.fileSystem.targetPath($0)) }
                        ?? resolver.locateForDlopen("libc.so.6", like: file).map(AutopatchPlanner.directory(of:))
                }
                let directory = AutopatchPlanner.directory(of: provider)
                if directory == libcDirectory ?? nil { element = options.libcDirectory ?? environment.fileSystem.pathInTarget(directory) }
            }
            if let directory = element {
                let text = found.need.rule == .tree && !options.absolute
                    ? AutopatchPlanner.originRelative(from: origin, to: directory) : directory
                if !runPath.contains(text) { runPath.append(text) }
            }
        }
        for name in (try? dynamic.needed()) ?? [] {
            let versions = versionNeeds.filter { $0.file == name }.flatMap { $0.requirements.map(\.name) }
            if let found = provider(of: name, versions: versions, for: file, resolver: resolver, context: context) {
                add(found)
            } else {
                add((AutopatchPlan.Need(name: name, provider: nil, rule: ignored([name]) ? .ignored : .missing), nil))
            }
        }
        // .note.dlopen: each entry is resolved like a DT_NEEDED, its first name found wins.
        let dependencies: [DlopenDependency]
        do {
            dependencies = try file.dlopenDependencies()
        } catch {
            dependencies = []
            context.warnings.append("\(entry.path): .note.dlopen: \(error); its libraries are not resolved")
        }
        for dependency in dependencies {
            var found: (need: AutopatchPlan.Need, directory: String?)?
            for name in dependency.sonames {
                let versions = versionNeeds.filter { $0.file == name }.flatMap { $0.requirements.map(\.name) }
                if let result = provider(of: name, versions: versions, for: file, resolver: resolver, context: context) {
                    found = result
                    break
                }
            }
            if var found {
                found.need.dlopen = dependency.priority
                found.need.alternatives = dependency.sonames
                add(found)
                continue
            }
            let rule: AutopatchPlan.Rule = ignored(dependency.sonames) ? .ignored
                : (dependency.priority == .required ? .missing : .optional)
            var need = AutopatchPlan.Need(name: dependency.sonames[0], provider: nil, rule: rule)
            need.dlopen = dependency.priority
            need.alternatives = dependency.sonames
            if rule == .optional {
                context.warnings.append("\(entry.path): \(AutopatchPlanner.describe(need)): not found (tree, --libs, system); "
                    + "\(dependency.priority.rawValue), so no error")
            }
            add((need, nil))
        }
        for directory in options.appendRunPaths where !runPath.contains(directory) { runPath.append(directory) }
        if options.keepExisting, let before {
            for element in before.split(separator: ":").map(String.init) where !runPath.contains(element)
                && AutopatchPlanner.isDirectory(AutopatchPlanner.expandOrigin(element, origin: origin)) {
                runPath.append(element)
            }
        }
        let after = runPath.isEmpty ? (before == nil ? nil : "") : runPath.joined(separator: ":")
        var newInterpreter: String?
        if kind == .program, let interpreter {
            // No loader found: the error is the plan's, and the file keeps what it has.
            newInterpreter = options.interpreter
                ?? discoverInterpreter(for: file, current: interpreter, path: entry.path, context: &context) ?? interpreter
        }
        var plan = AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: kind, interpreterBefore: interpreter,
                                          interpreterAfter: newInterpreter, runPathBefore: before, runPathAfter: after, needs: needs)
        plan.runPathIsRPath = runpath == nil && before != nil
        plan.forceRPath = options.forceRPath
        plan.setsNoDefaultLib = options.noDefaultLib && !dynamic.flags1.contains(.noDefaultLib)
        return plan
    }

    /// The loader a program without `--interpreter` gets: the file of its machine's
    /// standard loader name (`ld-linux-x86-64.so.2`, `ld-linux-aarch64.so.1`, ...;
    /// `BundlePlanner.standardInterpreter`) among the providers, tree then `--libs`, of
    /// the program's class, machine and byte order, as that file's path; else its own
    /// PT_INTERP when that exists on the target (`--root`); else nil, with
    /// `context.interpreterProblem` naming the file.
    func discoverInterpreter(for file: ELFFile, current: String, path: String, context: inout FileContext) -> String? {
        let name = PathText.lastComponent(of: BundlePlanner.standardInterpreter(for: file) ?? current)
        for index in [context.tree, context.libraries] {
            for candidate in index[name] ?? [] {
                let format = context.facts.rememberLoader(candidate.path) {
                    (try? environment.fileSystem.open(candidate.path))
                        .map { ProviderFacts.LoaderFormat(machine: $0.header.machine, is64: $0.format.is64, isBigEndian: $0.format.isBigEndian) }
                }
                guard let loader = format, loader.machine == file.header.machine,
                      loader.is64 == file.format.is64, loader.isBigEndian == file.format.isBigEndian else { continue }
                return candidate.directory == "/" ? "/" + name : candidate.directory + "/" + name
            }
        }
        let exists = context.facts.rememberInterpreter(current) {
            (try? environment.fileSystem.open(environment.fileSystem.targetPath(current))) != nil
        }
        if exists { return current }
        context.interpreterProblem = "\(path): no interpreter: no \(name) in the tree or --libs, and its own \(current) "
            + "does not exist on the target (give --interpreter)"
        return nil
    }

    /// Whether a need without a provider matches `--ignore-missing` (any of its names).
    func ignored(_ names: [String]) -> Bool {
        names.contains { name in options.ignoreMissing.contains { pattern in fnmatch(pattern, name, 0) == 0 } }
    }

    /// How a need is named in a message: its name, or for a `.note.dlopen` entry every
    /// alternative and the priority (`libz.so.1 or libz.so (dlopen, required)`).
    package static func describe(_ need: AutopatchPlan.Need) -> String {
        guard let priority = need.dlopen else { return need.name }
        let names = need.alternatives.isEmpty ? [need.name] : need.alternatives
        return names.joined(separator: " or ") + " (dlopen, \(priority.rawValue))"
    }

    /// Whether `name` is glibc's own library: a file of the NIX_BINTOOLS libc directory
    /// when there is one (auto-patchelf.py's test), else ``isLibcLibrary(_:)``.
    func isLibc(_ name: String) -> Bool {
        guard let directory = options.libcDirectory else { return AutopatchPlanner.isLibcLibrary(name) }
        return environment.fileSystem.status(environment.fileSystem.targetPath(directory + "/" + name))?.isRegular ?? false
    }

    /// glibc's own libraries with fixed names (the loader and the NSS modules are matched
    /// by prefix in ``isLibcLibrary(_:)``). Built once: it is asked for every need of
    /// every file.
    static let glibcLibraryNames: Set<String> = [
        "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
        "libutil.so.1", "libanl.so.1", "libBrokenLocale.so.1", "libmvec.so.1", "libnsl.so.1",
        "libthread_db.so.1", "libc_malloc_debug.so.0", "libmemusage.so", "libpcprofile.so", "libc.so",
    ]

    /// glibc's own libraries, which its loader finds in its own directory: the names
    /// auto-patchelf.py's libc directory holds (the loader, libc, libm, libpthread, ...,
    /// the NSS modules), and musl's loader-libc.
    package static func isLibcLibrary(_ name: String) -> Bool {
        glibcLibraryNames.contains(name) || name.hasPrefix("ld-linux") || name.hasPrefix("ld64.so") || name.hasPrefix("ld.so.")
            || name.hasPrefix("ld-musl-") || (name.hasPrefix("libnss_") && name.contains(".so"))
    }

    /// The provider of `name` for `file` in the tree, then `--libs`, then the target's
    /// own libraries, and the directory to write for it (nil when nothing is written:
    /// system, path); nil when none is found. Without `--keep-libc`, glibc's own
    /// libraries are taken from the target system first, as auto-patchelf.py drops them.
    func provider(of name: String, versions: [String], for file: ELFFile, resolver: LibraryResolver,
                  context: FileContext) -> (need: AutopatchPlan.Need, directory: String?)? {
        if name.contains("/") {
            // The loader opens such a name as it is, so nothing is written for it; but an
            // absolute one that does not exist is missing (the program cannot start), as
            // auto-patchelf.py reports it, and its patterns match the last component.
            if name.hasPrefix("/"), environment.fileSystem.status(environment.fileSystem.targetPath(name)) == nil {
                let last = PathText.lastComponent(of: name)
                let ignored = options.ignoreMissing.contains { pattern in fnmatch(pattern, last, 0) == 0 }
                return (AutopatchPlan.Need(name: name, provider: nil, rule: ignored ? .ignored : .missing), nil)
            }
            return (AutopatchPlan.Need(name: name, provider: nil, rule: .path), nil)
        }
        func system() -> (need: AutopatchPlan.Need, directory: String?)? {
            let found = context.facts.remember(ProviderFacts.SystemKey(name: name, like: ProviderFacts.Loader(file),
                                                                       root: resolver.environment.fileSystem.root)) {
                resolver.locateForDlopen(name, like: file)
            }
            guard let path = found, accepts(path, versions: versions, for: file, resolver: resolver, facts: context.facts)
            else { return nil }
            return (AutopatchPlan.Need(name: name, provider: path, rule: .system), nil)
        }
        /// A name of NIX_BINTOOLS's libc directory, provided from there (not checked, as
        /// auto-patchelf.py counts it found whatever the file is).
        func libc() -> (need: AutopatchPlan.Need, directory: String?)? {
            guard let directory = options.libcDirectory, isLibc(name) else { return nil }
            let path = environment.fileSystem.targetPath(directory + "/" + name)
            return (AutopatchPlan.Need(name: name, provider: environment.fileSystem.canonicalPath(path) ?? path, rule: .system), nil)
        }
        if !options.keepLibc && isLibc(name), let found = libc() ?? system() { return found }
        for index in [context.tree, context.libraries] {
            for candidate in index[name] ?? [] where accepts(candidate.path, versions: versions, for: file, resolver: resolver,
                                                             facts: context.facts) {
                return (AutopatchPlan.Need(name: name, provider: candidate.path, rule: candidate.rule), candidate.directory)
            }
        }
        return (options.keepLibc ? libc() : nil) ?? system()
    }

    /// Whether the loader would take `path` for `file`, and it defines every version in
    /// `versions`.
    func accepts(_ path: String, versions: [String], for file: ELFFile, resolver: LibraryResolver,
                 facts: ProviderFacts = ProviderFacts()) -> Bool {
        let verified = facts.remember(ProviderFacts.VerifyKey(path: path, like: ProviderFacts.Loader(file))) { () -> Bool in
            guard case .accepted = resolver.verify(path, like: file) else { return false }
            return true
        }
        guard verified else { return false }
        guard !versions.isEmpty else { return true }
        let defined = facts.remember(path) { () -> Set<String>? in
            guard let candidate = try? environment.fileSystem.open(path),
                  let dynamic = (try? candidate.dynamic()) ?? nil else { return nil }
            return Set(((try? dynamic.versionDefinitions()) ?? []).map(\.name))
        }
        guard let defined else { return false }
        return versions.allSatisfy(defined.contains)
    }

    /// `element` with `$ORIGIN` and `${ORIGIN}` replaced by `origin`.
    static func expandOrigin(_ element: String, origin: String) -> String {
        element.replacing("${ORIGIN}", with: origin).replacing("$ORIGIN", with: origin)
    }

    /// Whether `path` names a directory (links followed).
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return BytePath(path).withCString { stat($0, &status) } == 0 && status.st_mode & S_IFMT == S_IFDIR
    }

    /// The directory part of a canonical path ("/" for a file at the top).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// The run-path element that leads from a file in `origin` to `directory`, both
    /// canonical: `$ORIGIN`, then one `..` per component of `origin` below the two
    /// directories' common ancestor, then the components of `directory` below it
    /// (`/t/libexec/plugins` to `/t/lib` is `$ORIGIN/../../lib`).
    package static func originRelative(from origin: String, to directory: String) -> String {
        // ASCII paths, split as bytes: `String.split` walks grapheme clusters, 17,000
        // instructions for two short paths (3 % of an autopatch run's on small files).
        // For ASCII the components and their equality are the same either way.
        if origin.utf8.allSatisfy({ $0 < 0x80 }) && directory.utf8.allSatisfy({ $0 < 0x80 }) {
            let from = origin.utf8.split(separator: UInt8(ascii: "/"))
            let to = directory.utf8.split(separator: UInt8(ascii: "/"))
            var common = 0
            while common < from.count && common < to.count && from[common].elementsEqual(to[common]) { common += 1 }
            var result = "$ORIGIN"
            for _ in common ..< from.count { result += "/.." }
            for component in to[common...] { result += "/" + Substring(component) }
            return result
        }
        let from = origin.split(separator: "/")
        let to = directory.split(separator: "/")
        var common = 0
        while common < from.count && common < to.count && from[common] == to[common] { common += 1 }
        let steps = Array(repeating: "..", count: from.count - common) + to[common...].map(String.init)
        return steps.isEmpty ? "$ORIGIN" : "$ORIGIN/" + steps.joined(separator: "/")
    }
}
