import ELFKitCore
import ELFKitLoader

/// The checks on what loading the program takes, run on the loader's resolution:
/// the libraries (4), their symbol versions (5) and the environment (7).
extension Diagnosis {
    // MARK: 4. Libraries

    func libraryFindings(_ resolution: LibraryResolution, fileSystem: LoaderFileSystem) -> [Finding] {
        var findings: [Finding] = [searchFacts()]
        var reported: Set<String> = []
        for lookup in resolution.lookups {
            let requester = resolution.objects[lookup.requester]
            let by = lookup.requester == 0 ? "" : " (needed by \(resolution.shortName(lookup.requester)))"
            if lookup.isPreload {
                findings.append(preloadFinding(lookup, resolution))
                continue
            }
            switch lookup.outcome {
            case .loaded(let index):
                let object = resolution.objects[index]
                if fileSystem.isOnNoexecMount(object.path) {
                    // ld.so maps code with PROT_EXEC, which a noexec mount refuses.
                    findings.append(Finding(.fatal, "\(path): error while loading shared libraries: \(lookup.name): failed to map segment from shared object\(by)",
                                            details: ["\(object.path) is on a file system mounted noexec"],
                                            fix: "move it to a file system mounted without noexec"))
                    continue
                }
                findings.append(Finding(.ok, "\(lookup.name) => \(object.path) [\(resolution.describe(object.rule))]\(by)"))
            case .reused(let index, let reason):
                // Shown for the program's own entries only: deeper ones are plain sharing.
                guard lookup.requester == 0 else { continue }
                findings.append(Finding(.ok, "\(lookup.name) => \(resolution.objects[index].path) [\(reason)]"))
                continue
            case .notFound(let message):
                guard reported.insert(lookup.name).inserted else { continue }
                var details = lookup.attempts.map { "tried \($0.path): \($0.resultDescription)" }
                if lookup.attempts.isEmpty { details.append("no directory to search") }
                let requesterShown = lookup.requester == 0 ? path : requester.path
                var fix = "install the package that provides \(lookup.name), or add its directory: swelf --add-rpath DIR \(requester.path)"
                var command: String?
                if let foreign {
                    // Not this machine's library to find: the host's directories hold its own
                    // machine's libraries, and a run path would not make the file run here.
                    fix = foreign.rootAdvice(path: path) ?? "find it in a tree (sysroot, image) for \(foreign.machine) and analyse the file there with --root"
                    command = foreign.sysroot.map { "swelf doctor --root \($0) \(Self.shellWord(path))" }
                }
                if let refused = lookup.attempts.first(where: { $0.result == .refusedByNoDefaultLib }) {
                    details.append("\(requester.path) has DF_1_NODEFLIB (linked with -z nodefaultlib): ld.so.cache entries in system directories and the system directories themselves are not searched for its libraries")
                    fix = "swelf --add-rpath \(PathText.directory(of: refused.path)) \(requester.path)"
                    command = "swelf --add-rpath \(Self.shellWord(PathText.directory(of: refused.path))) \(Self.shellWord(requesterShown))"
                } else if let nearby = nearbyLibraryFix(lookup, requester: requester, shownAs: requesterShown) {
                    details.append(nearby.detail)
                    fix = nearby.fix
                    command = nearby.command
                }
                // A library sitting in another object's RUNPATH directory: RUNPATH is not inherited.
                for other in resolution.objects where other.index != lookup.requester {
                    guard let runpath = (try? other.file.dynamic()?.runpath()) ?? nil else { continue }
                    let resolver = LibraryResolver(environment: environment)
                    for directory in resolver.searchDirectories(runpath, separators: [":"], origin: other.origin, isProgram: other.index == 0)
                    where fileSystem.status(directory + lookup.searchedName) != nil {
                        details.append("\(directory + lookup.searchedName) exists in the RUNPATH of \(resolution.shortName(other.index)), but DT_RUNPATH applies only to that object's own DT_NEEDED entries, not to those of \(resolution.shortName(lookup.requester))")
                        let entry = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
                        fix = "swelf --add-rpath \(entry) \(requester.path)   (or give \(resolution.shortName(other.index)) an inherited DT_RPATH: swelf --force-rpath --set-rpath … \(other.path))"
                        command = "swelf --add-rpath \(Self.shellWord(entry)) \(Self.shellWord(requesterShown))"
                    }
                }
                findings.append(Finding(.fatal, "\(path): error while loading shared libraries: \(message)\(by)", details: details, fix: fix, command: command))
            case .failed(let message):
                findings.append(Finding(.fatal, "\(path): error while loading shared libraries: \(message)\(by)",
                                        details: lookup.attempts.map { "tried \($0.path): \($0.resultDescription)" }))
            }
            if case .loaded = lookup.outcome {
                let skipped = lookup.attempts.filter {
                    switch $0.result {
                    case .wrongClass, .wrongMachine, .refusedByNoDefaultLib: true
                    default: false
                    }
                }
                if !skipped.isEmpty {
                    findings[findings.count - 1].details += skipped.map { "\($0.path): \($0.resultDescription)" }
                }
            }
        }
        if findings.count == 1 {
            findings.append(Finding(.ok, "no DT_NEEDED entries"))
        }
        return findings
    }

    /// Where the search looks, and where those facts came from.
    private func searchFacts() -> Finding {
        let platform = environment.platform
        var details = ["system directories: \(platform.systemDirectories.map { environment.fileSystem.targetPath($0) }.joined(separator: " "))"]
        if !platform.hwcapsSubdirectories.isEmpty {
            details.append("glibc-hwcaps subdirectories tried first: \(platform.hwcapsSubdirectories.joined(separator: " "))")
        }
        details.append("$LIB=\(platform.libDirectory) $PLATFORM=\(platform.platformName ?? "(none)")")
        if let cache = environment.cache {
            details.append("cache: \(environment.cachePath), \(cache.entries.count) entries")
        } else {
            details.append("cache: none (\(environment.cacheProblem ?? "not read"))")
        }
        if let libraryPath = environment.effectiveLibraryPath { details.append("LD_LIBRARY_PATH=\(libraryPath)") }
        if environment.secure { details.append("secure mode: LD_LIBRARY_PATH ignored") }
        return Finding(.info, "loader facts from \(platform.source)", details: details)
    }

    /// An LD_PRELOAD entry: loaded first, or ld.so's "cannot be preloaded … ignored".
    private func preloadFinding(_ lookup: DependencyLookup, _ resolution: LibraryResolution) -> Finding {
        let tried = lookup.attempts.map { "tried \($0.path): \($0.resultDescription)" }
        switch lookup.outcome {
        case .loaded(let index), .reused(let index, _):
            let object = resolution.objects[index]
            return Finding(.ok, "\(lookup.name) => \(object.path) [LD_PRELOAD, found by \(resolution.describe(object.rule))]")
        case .notFound(let message), .failed(let message):
            let reason = message.hasSuffix("secure mode") ? "not allowed in secure mode" : "cannot open shared object file"
            return Finding(.warning, "ERROR: ld.so: object '\(lookup.name)' from LD_PRELOAD cannot be preloaded (\(reason)): ignored.",
                           details: tried)
        }
    }

    // MARK: 5. Symbol versions

    func versionFindings(_ resolution: LibraryResolution) -> [Finding] {
        var findings: [Finding] = []
        var checked = 0
        var unchecked: [(library: String, count: Int)] = []
        for entry in resolution.listing {
            guard case .object(let index) = entry else { continue }
            findings += versionFindings(of: index, resolution, checked: &checked, unchecked: &unchecked)
        }
        findings += versionFindings(of: 0, resolution, checked: &checked, unchecked: &unchecked)
        if !findings.contains(where: { $0.severity == .fatal }) && (checked > 0 || unchecked.isEmpty) {
            findings.insert(Finding(.ok, "\(checked) version requirement\(checked == 1 ? "" : "s") satisfied"), at: 0)
        }
        // A requirement of a library that was not loaded is not satisfied, it is unknown:
        // "0 satisfied" would read as a pass when libc itself is missing.
        var seen: Set<String> = []
        for (library, _) in unchecked where seen.insert(library).inserted {
            let total = unchecked.filter { $0.library == library }.reduce(0) { $0 + $1.count }
            findings.append(Finding(.info, "\(total) version requirement\(total == 1 ? "" : "s") of \(library) could not be checked: \(library) was not found (see Libraries)"))
        }
        return findings
    }

    /// `_dl_check_map_versions` for one object: each DT_VERNEED entry names a library;
    /// each of its versions must be among that library's DT_VERDEF names unless marked
    /// weak. A library without DT_VERDEF satisfies everything (the loader only says so
    /// with LD_VERBOSE).
    private func versionFindings(of index: Int, _ resolution: LibraryResolution, checked: inout Int,
                                 unchecked: inout [(library: String, count: Int)]) -> [Finding] {
        let object = resolution.objects[index]
        let requiredBy = index == 0 ? path : object.path
        guard let dynamic = (try? object.file.dynamic()) ?? nil else { return [] }
        let needs: [VersionNeed]
        do {
            needs = try dynamic.versionNeeds()
        } catch {
            // A table that cannot be walked (or would cost more than the file's size
            // allows) is said, not taken for "no requirements".
            return [Finding(.warning, "\(requiredBy): its version requirements cannot be read: \(error)")]
        }
        var findings: [Finding] = []
        var glibcFixGiven: [String: String] = [:]
        for need in needs {
            guard let provider = resolution.objects.first(where: { $0.answers(to: need.file) || $0.soname == need.file }) else {
                unchecked.append((need.file, need.requirements.count))
                continue
            }
            guard let providerDynamic = (try? provider.file.dynamic()) ?? nil else { continue }
            let definitions: [VersionDefinition]
            do {
                definitions = try providerDynamic.versionDefinitions()
            } catch {
                findings.append(Finding(.warning, "\(provider.path): its version definitions cannot be read: \(error)"))
                continue
            }
            guard !definitions.isEmpty else {
                findings.append(Finding(.info, "\(provider.path) has no version information (required by \(requiredBy))"))
                continue
            }
            let defined = Set(definitions.flatMap { $0.names.prefix(1) })
            for requirement in need.requirements {
                checked += 1
                if defined.contains(requirement.name) { continue }
                let weak = requirement.flags & 0x2 != 0  // VER_FLG_WEAK
                let message = "\(requiredBy): \(provider.path): \(weak ? "weak " : "")version `\(requirement.name)' not found (required by \(requiredBy))"
                var details: [String] = []
                let available = definitions.filter { !$0.isBase }.map(\.name)
                // The newest of the same family (GLIBC_2.36 among GLIBC_2.2.5 ...), number by number.
                let wanted = VersionName(requirement.name)
                if let newest = newestVersion(in: available, family: wanted.family) {
                    details.append("newest \(wanted.family)* version in \(provider.path): \(newest)")
                }
                if available.count <= 12 { details.append("defined there: \(available.joined(separator: ", "))") }
                var fix = "use a \(provider.soname ?? PathText.lastComponent(of: provider.path)) that defines \(requirement.name), or rebuild \(PathText.lastComponent(of: requiredBy)) against the older one"
                if requirement.name.hasPrefix("GLIBC_") {
                    let advice = glibcAdvice(requirement: wanted, library: need.file, object: object, isProgram: index == 0,
                                             provider: provider, available: newestVersion(in: available, family: wanted.family))
                    details += advice.details
                    // One object's GLIBC_ failures share one remedy: say it once.
                    if let first = glibcFixGiven[need.file] {
                        fix = "as for \(first) above"
                    } else {
                        fix = advice.fix
                        if !weak { glibcFixGiven[need.file] = requirement.name }
                    }
                }
                findings.append(Finding(weak ? .warning : .fatal, message, details: details, fix: weak ? nil : fix))
            }
        }
        return findings
    }

    /// The newest of `names` in `family` (GLIBC_2.36 among GLIBC_2.2.5 ...), number by number.
    func newestVersion(in names: [String], family: String) -> VersionName? {
        names.map(VersionName.init).filter { $0.family == family && !$0.numbers.isEmpty }
            .max { VersionName.compare($0.numbers, $1.numbers) < 0 }
    }

    /// The directory of `library` as a run-path entry for `requester`: `'$ORIGIN'` (or
    /// `'$ORIGIN/…'` below it) when it is the requester's own directory, else absolute.
    func runPathEntry(for library: String, requester: LoadedObject) -> String {
        var directory = PathText.directory(of: library)
        if !directory.hasPrefix("/") { directory = PathText.join(environment.currentDirectory, directory) }
        let canonical = environment.fileSystem.canonicalPath(directory) ?? directory
        if let origin = requester.origin {
            let canonicalOrigin = environment.fileSystem.canonicalPath(origin) ?? origin
            if canonical == canonicalOrigin { return "'$ORIGIN'" }
            if canonical.hasPrefix(canonicalOrigin + "/") { return "'$ORIGIN" + canonical.dropFirst(canonicalOrigin.count) + "'" }
        }
        return canonical
    }

    // MARK: 7. Environment

    func environmentFindings(resolution: LibraryResolution?) -> [Finding] {
        var findings: [Finding] = []
        let variables = environment.variables
        if let libraryPath = variables["LD_LIBRARY_PATH"], !libraryPath.isEmpty {
            if environment.secure {
                findings.append(Finding(.warning, "LD_LIBRARY_PATH=\(libraryPath) is ignored: the program runs in secure mode (setuid/setgid/capabilities)"))
            } else {
                findings.append(Finding(.info, "LD_LIBRARY_PATH=\(libraryPath)"))
            }
        }
        if let resolution {
            for lookup in resolution.lookups {
                guard case .loaded(let index) = lookup.outcome, resolution.objects[index].rule == .libraryPath else { continue }
                let object = resolution.objects[index]
                if let shadowed = lookup.shadowed {
                    findings.append(Finding(.warning, "LD_LIBRARY_PATH shadows \(lookup.name): \(object.path) is loaded instead of \(shadowed.path) (\(resolution.describe(shadowed.rule)))",
                                            fix: "unset LD_LIBRARY_PATH, or remove \(PathText.directory(of: object.path)) from it, unless that copy is wanted"))
                } else {
                    let requester = resolution.objects[lookup.requester]
                    let entry = runPathEntry(for: object.path, requester: requester)
                    let quoted = entry.hasPrefix("'") ? entry : Self.shellWord(entry)
                    findings.append(Finding(.warning, "\(lookup.name) is found only through LD_LIBRARY_PATH (\(object.path)): sudo, setuid programs and service managers drop it",
                                            fix: "swelf --add-rpath \(entry) \(requester.path)",
                                            command: "swelf --add-rpath \(quoted) \(Self.shellWord(lookup.requester == 0 ? path : requester.path))"))
                }
            }
        }
        if let preload = variables["LD_PRELOAD"], !preload.isEmpty {
            findings.append(Finding(.info, "LD_PRELOAD=\(preload) is loaded before every library\(environment.secure ? "; in secure mode only set-user-ID libraries found by name in the search directories" : "")"))
        }
        if let searchPath = variables["PATH"] {
            for entry in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
                let directory = String(entry)
                if directory.isEmpty || !directory.hasPrefix("/") {
                    findings.append(Finding(.warning, "PATH entry \"\(directory)\" is relative: the current directory decides which program runs",
                                            fix: "use only absolute directories in PATH"))
                } else if let status = environment.fileSystem.status(environment.fileSystem.targetPath(directory)), status.isDirectory,
                          status.mode & 0o002 != 0 {
                    // The sticky bit only stops others deleting files; anyone can still add one.
                    findings.append(Finding(.warning, "PATH entry \(directory) is writable by every user (mode \(status.permissions)): anyone can put a program there under a common name",
                                            fix: "remove \(directory) from PATH"))
                }
            }
        }
        return findings
    }
}
