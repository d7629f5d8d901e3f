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
        let directory: String
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
        let tree = treeIndex(walk)
        let libraries = libraryIndex()
        var target: (machine: ELFMachine, is64: Bool)?
        if let interpreter = options.interpreter {
            do {
                let loader = try environment.fileSystem.open(environment.fileSystem.targetPath(interpreter))
                target = (loader.header.machine, loader.format.is64)
            } catch {
                plan.errors.append("--interpreter \(interpreter): \(error)")
                return plan
            }
        }
        // Each file is planned on its own (only reads), `jobs` at a time; the providers'
        // facts are read once and shared. The results are taken in walk order, so the plan
        // does not depend on the threads.
        let facts = ProviderFacts()
        let files = walk.files
        let machine = target
        let outcomes = Overlap.map(count: files.count, jobs: options.jobs) { index -> Result<AutopatchPlan.FilePlan, PlanFailure> in
            let entry = files[index]
            do {
                let file = try environment.fileSystem.open(entry.realPath)
                if let machine, file.header.machine != machine.machine || file.format.is64 != machine.is64 {
                    return .success(AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: .foreign,
                                                           interpreterBefore: nil, interpreterAfter: nil, runPathBefore: nil,
                                                           runPathAfter: nil, needs: []))
                }
                return .success(planFile(entry, file: file, tree: tree, libraries: libraries, facts: facts))
            } catch {
                return .failure(PlanFailure(message: "\(entry.path): \(error)"))
            }
        }
        for (entry, outcome) in zip(files, outcomes) {
            switch outcome {
            case .success(let filePlan):
                for name in filePlan.missing { plan.errors.append("\(entry.path): \(name): not found (tree, --libs, system)") }
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
    /// symbolic links to them, in walk order.
    func treeIndex(_ walk: AutopatchWalk) -> [String: [Candidate]] {
        var index: [String: [Candidate]] = [:]
        for entry in walk.files {
            index[PathText.lastComponent(of: entry.realPath), default: []]
                .append(Candidate(path: entry.realPath, directory: AutopatchPlanner.directory(of: entry.realPath)))
        }
        for alias in walk.aliases {
            index[alias.name, default: []].append(Candidate(path: alias.target, directory: alias.directory))
        }
        return index
    }

    /// The files directly in the `--libs` directories (links followed), by name, in the
    /// order of the directories.
    func libraryIndex() -> [String: [Candidate]] {
        var index: [String: [Candidate]] = [:]
        for directory in options.libraryDirectories {
            guard let real = AutopatchWalk.realPath(directory),
                  let stream = BytePath(real).withCString({ opendir($0) }) else { continue }
            var names: [String] = []
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in ByteText.string(Array(raw.prefix { $0 != 0 })) }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
            for name in names.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                guard let target = AutopatchWalk.realPath(real + "/" + name) else { continue }
                index[name, default: []].append(Candidate(path: target, directory: real))
            }
        }
        return index
    }

    /// The plan of one ELF file.
    func planFile(_ entry: AutopatchWalk.Entry, file: ELFFile, tree: [String: [Candidate]],
                  libraries: [String: [Candidate]], facts: ProviderFacts = ProviderFacts()) -> AutopatchPlan.FilePlan {
        let dynamic = (try? file.dynamic()) ?? nil
        let interpreter = (try? file.interpreter()) ?? nil
        let kind: AutopatchPlan.Kind = dynamic == nil || file.isStaticPIE
            ? .staticProgram : (interpreter != nil ? .program : .library)
        let before = ((try? dynamic?.runpath()) ?? nil) ?? ((try? dynamic?.rpath()) ?? nil)
        guard kind != .staticProgram, let dynamic else {
            return AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: kind, interpreterBefore: interpreter,
                                          interpreterAfter: interpreter, runPathBefore: before, runPathAfter: before, needs: [])
        }
        let resolver = LibraryResolver(environment: environment.adapted(for: file))
        let versionNeeds = (try? dynamic.versionNeeds()) ?? []
        var needs: [AutopatchPlan.Need] = []
        var runPath: [String] = kind == .program ? options.runtimeDependencies : []
        let origin = AutopatchPlanner.directory(of: entry.realPath)
        for name in (try? dynamic.needed()) ?? [] {
            let versions = versionNeeds.filter { $0.file == name }.flatMap { $0.requirements.map(\.name) }
            let need = provider(of: name, versions: versions, for: file, resolver: resolver, tree: tree, libraries: libraries,
                                facts: facts)
            needs.append(need.need)
            if let directory = need.directory {
                let element = need.need.rule == .tree && !options.absolute
                    ? AutopatchPlanner.originRelative(from: origin, to: directory) : directory
                if !runPath.contains(element) { runPath.append(element) }
            }
        }
        for directory in options.appendRunPaths where !runPath.contains(directory) { runPath.append(directory) }
        if options.keepExisting, let before {
            for element in before.split(separator: ":").map(String.init) where !runPath.contains(element)
                && AutopatchPlanner.isDirectory(AutopatchPlanner.expandOrigin(element, origin: origin)) {
                runPath.append(element)
            }
        }
        let after = runPath.isEmpty ? (before == nil ? nil : "") : runPath.joined(separator: ":")
        let newInterpreter = kind == .program ? (options.interpreter ?? interpreter) : nil
        return AutopatchPlan.FilePlan(path: entry.path, realPath: entry.realPath, kind: kind, interpreterBefore: interpreter,
                                      interpreterAfter: newInterpreter, runPathBefore: before, runPathAfter: after, needs: needs)
    }

    /// The provider of `name` for `file`, and the directory to write for it (nil when
    /// nothing is written: system, path, missing, ignored).
    func provider(of name: String, versions: [String], for file: ELFFile, resolver: LibraryResolver,
                  tree: [String: [Candidate]], libraries: [String: [Candidate]],
                  facts: ProviderFacts = ProviderFacts()) -> (need: AutopatchPlan.Need, directory: String?) {
        if name.contains("/") { return (AutopatchPlan.Need(name: name, provider: nil, rule: .path), nil) }
        for (rule, index) in [(AutopatchPlan.Rule.tree, tree), (.libraries, libraries)] {
            for candidate in index[name] ?? [] where accepts(candidate.path, versions: versions, for: file, resolver: resolver, facts: facts) {
                return (AutopatchPlan.Need(name: name, provider: candidate.path, rule: rule), candidate.directory)
            }
        }
        let system = facts.remember(ProviderFacts.SystemKey(name: name, like: ProviderFacts.Loader(file), root: resolver.environment.fileSystem.root)) {
            resolver.locateForDlopen(name, like: file)
        }
        if let path = system, accepts(path, versions: versions, for: file, resolver: resolver, facts: facts) {
            return (AutopatchPlan.Need(name: name, provider: path, rule: .system), nil)
        }
        let ignored = options.ignoreMissing.contains { pattern in fnmatch(pattern, name, 0) == 0 }
        return (AutopatchPlan.Need(name: name, provider: nil, rule: ignored ? .ignored : .missing), nil)
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
        let from = origin.split(separator: "/")
        let to = directory.split(separator: "/")
        var common = 0
        while common < from.count && common < to.count && from[common] == to[common] { common += 1 }
        let steps = Array(repeating: "..", count: from.count - common) + to[common...].map(String.init)
        return steps.isEmpty ? "$ORIGIN" : "$ORIGIN/" + steps.joined(separator: "/")
    }
}

/// What the planner learns about providers, kept for every file of one plan: a tree's
/// files mostly need the same few libraries (libc.so.6 by all of them), and each
/// candidate would otherwise be opened again for every file that needs it — its header
/// (`LibraryResolver.verify`), its version definitions, and the system search for a name.
/// Shared by the threads that plan files (`Overlap.map`), under one lock; a fact is
/// computed outside the lock, so two threads may compute one fact twice, with one result.
final class ProviderFacts: @unchecked Sendable {
    /// What `verify` and the system search depend on in the file being planned: its class,
    /// byte order, machine and flags (`LoaderEnvironment.adapted(for:)` reads the flags).
    struct Loader: Hashable {
        let is64: Bool
        let isBigEndian: Bool
        let machine: UInt16
        let flags: UInt32

        init(_ file: ELFFile) {
            is64 = file.format.is64
            isBigEndian = file.format.isBigEndian
            machine = file.header.machine.rawValue
            flags = file.header.flags
        }
    }

    struct VerifyKey: Hashable {
        let path: String
        let like: Loader
    }

    struct SystemKey: Hashable {
        let name: String
        let like: Loader
        let root: String?
    }

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var verified: [VerifyKey: Bool] = [:]
    private var definitions: [String: Set<String>?] = [:]
    private var system: [SystemKey: String?] = [:]

    init() {
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// Whether `verify` accepted the file for this loader, computed once.
    func remember(_ key: VerifyKey, _ compute: () -> Bool) -> Bool {
        if let known = locked({ verified[key] }) { return known }
        let value = compute()
        locked { verified[key] = value }
        return value
    }

    /// The version names the file at `path` defines (nil: it cannot be read), computed once.
    func remember(_ path: String, _ compute: () -> Set<String>?) -> Set<String>? {
        if let known = locked({ definitions[path] }) { return known }
        let value = compute()
        locked { definitions[path] = .some(value) }
        return value
    }

    /// The system library the loader finds for a name, computed once per loader.
    func remember(_ key: SystemKey, _ compute: () -> String?) -> String? {
        if let known = locked({ system[key] }) { return known }
        let value = compute()
        locked { system[key] = .some(value) }
        return value
    }
}
