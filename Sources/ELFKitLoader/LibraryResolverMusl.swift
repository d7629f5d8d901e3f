import ELFKitCore

/// musl's library search, for programs whose PT_INTERP is `ld-musl-<arch>.so.1`.
extension ResolverState {
    /// musl's `load_library` (ldso/dynlink.c): the names of the libraries musl's libc
    /// replaces (libc, libpthread, librt, libm, libdl, libutil, libxnet) are the loader
    /// itself; a name with a slash is opened as it is; otherwise a library loaded under
    /// that name is reused, else LD_LIBRARY_PATH (':' or newline separated, empty
    /// entries skipped), then the DT_RUNPATH (or, without one, DT_RPATH) of the loading
    /// object and of every object up its chain — musl inherits both — then the lines of
    /// /etc/ld-musl-<arch>.path, or /lib:/usr/local/lib:/usr/lib. Only a missing file
    /// continues the search: a file of another architecture is an error.
    mutating func mapObjectMusl(name: String, loader: Int) {
        var lookup = DependencyLookup(requester: loader, name: name, searchedName: name,
                                      outcome: .notFound(message: ""), attempts: [], shadowed: nil)
        if name.hasPrefix("lib"), let dot = name.firstIndex(of: "."), let interpreter = resolution.interpreterIndex,
           ["c", "pthread", "rt", "m", "dl", "util", "xnet"].contains(String(name.dropFirst(3)[..<dot])) {
            record(lookup, .reused(interpreter, reason: "provided by musl's libc, which is the loader"))
            return
        }
        var found: (path: String, rule: SearchRule)?
        if name.contains("/") {
            let path = environment.fileSystem.targetPath(name)
            let result = musl(verify: path)
            lookup.attempts.append(SearchAttempt(path: path, rule: .path, result: result))
            if case .accepted = result { found = (path, .path) }
        } else {
            if let existing = resolution.objects.first(where: { $0.index != 0 && $0.requestedName == name }) {
                record(lookup, .reused(existing.index, reason: "already loaded"))
                return
            }
            var steps: [Step] = []
            if let libraryPath = environment.effectiveLibraryPath {
                steps.append(Step(rule: .libraryPath, directories: muslDirectories(libraryPath, origin: nil)))
            }
            var current: Int? = loader
            while let index = current {
                let dynamic = (try? resolution.objects[index].file.dynamic()) ?? nil
                if let runpath = (try? dynamic?.runpath()) ?? nil {
                    steps.append(Step(rule: .runpath(of: index), directories: muslDirectories(runpath, origin: resolution.objects[index].origin)))
                } else if let rpath = (try? dynamic?.rpath()) ?? nil {
                    steps.append(Step(rule: .rpath(of: index), directories: muslDirectories(rpath, origin: resolution.objects[index].origin)))
                }
                current = resolution.objects[index].loader
            }
            steps.append(Step(rule: .systemDirectory, directories: muslSystemPath()))
            search: for step in steps {
                for directory in step.directories ?? [] {
                    guard budget.spend() else { break search }
                    let path = directory + name
                    let result = musl(verify: path)
                    lookup.attempts.append(SearchAttempt(path: path, rule: step.rule, result: result))
                    if case .absent = result { continue }
                    if case .accepted = result { found = (path, step.rule) }
                    break search
                }
            }
        }
        guard let found else {
            if budget.exhausted {
                record(lookup, .failed(message: budget.message))
            } else if let last = lookup.attempts.last, case .absent = last.result {
                record(lookup, .notFound(message: "Error loading shared library \(name): No such file or directory"))
            } else {
                record(lookup, .failed(message: "Error loading shared library \(name): Exec format error"))
            }
            return
        }
        admit(found, lookup: lookup, loader: loader, requestedName: name, searchedName: name,
              reuseAddsName: false, unreadable: "Error loading shared library \(name): cannot read it")
    }

    /// musl opens the first existing file and fails if it is not a library for it.
    func musl(verify path: String) -> SearchAttempt.Result {
        switch resolver.verify(path, like: program) {
        case .absent(let reason): return .absent(reason)
        case .accepted: return .accepted
        case .wrongClass, .wrongMachine, .invalid, .refusedByNoDefaultLib: return .invalid("Exec format error")
        }
    }

    /// A musl search path: split at ':' and newlines, empty entries skipped, `$ORIGIN`
    /// (and `${ORIGIN}`) replaced; absolute entries moved under the root.
    func muslDirectories(_ list: String, origin: String?) -> [String] {
        list.split(whereSeparator: { $0 == ":" || $0 == "\n" }).compactMap { element in
            var text = String(element)
            var fromOrigin = false
            for token in ["${ORIGIN}", "$ORIGIN"] where text.contains(token) {
                guard let origin, !environment.secure else { return nil }
                fromOrigin = text.hasPrefix(token)
                text = text.replacingAll(token, with: origin)
            }
            if !fromOrigin { text = environment.fileSystem.targetPath(text) }
            return text.hasSuffix("/") ? text : text + "/"
        }
    }

    /// /etc/ld-musl-<arch>.path (relative to the loader's prefix), or musl's default.
    func muslSystemPath() -> [String] {
        if let interpreter = resolution.interpreterIndex {
            let name = resolution.objects[interpreter].requestedName
            let base = PathText.lastComponent(of: name)
            let arch = base.dropFirst("ld-musl-".count).prefix { $0 != "." }
            let prefix = PathText.directory(of: PathText.directory(of: name))
            let file = environment.fileSystem.targetPath((prefix == "/" ? "" : prefix) + "/etc/ld-musl-\(arch).path")
            if let access = environment.fileSystem.accessPath(file), let source = try? FileByteSource(path: access),
               let bytes = try? source.bytes(at: 0, count: min(source.size, 1 << 16), "musl path file") {
                return muslDirectories(ByteText.string(bytes), origin: nil)
            }
        }
        return muslDirectories("/lib:/usr/local/lib:/usr/lib", origin: nil)
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
