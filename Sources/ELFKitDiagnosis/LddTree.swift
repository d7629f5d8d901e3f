import ELFKitLoader

/// `swelf ldd --tree`: the dependencies as a tree, in libtree's manner. Each edge (a
/// DT_NEEDED name of the object above it) shows the file it resolves to and the rule
/// that found it. A library is expanded once, under the edge that loaded it (ld.so
/// loads breadth first); every other edge to it is marked `(already loaded)` and not
/// expanded, as ld.so reuses the loaded object (the interpreter, mapped by the kernel,
/// is expanded at its first edge); a name that is not found lists every path tried,
/// with its rule and why it was passed over. Pure rendering, text only (`ldd --json`
/// carries the same graph).
package struct LddTree {
    package private(set) var lines: [String] = []

    /// The tree of `resolution` below its program (the caller prints the program's name
    /// first); paths are shown as inside `fileSystem`'s root, as `ldd` shows them.
    package init(_ resolution: LibraryResolution, fileSystem: LoaderFileSystem) {
        var children: [Int: [Int]] = [:]
        for (index, lookup) in resolution.lookups.enumerated() { children[lookup.requester, default: []].append(index) }
        // Objects that a lookup loaded: expanded at that edge only.
        var shown: Set<Int> = [0]
        for lookup in resolution.lookups { if case .loaded(let object) = lookup.outcome { shown.insert(object) } }
        draw(children[0] ?? [], prefix: "", resolution, fileSystem, children, &shown)
    }

    private mutating func draw(_ lookups: [Int], prefix: String, _ resolution: LibraryResolution,
                               _ fileSystem: LoaderFileSystem, _ children: [Int: [Int]], _ shown: inout Set<Int>) {
        for (position, index) in lookups.enumerated() {
            let last = position == lookups.count - 1
            let lookup = resolution.lookups[index]
            let below = prefix + (last ? "    " : "│   ")
            var line = prefix + (last ? "└── " : "├── ") + lookup.name
            if lookup.isPreload { line += " (LD_PRELOAD)" }
            switch lookup.outcome {
            case .loaded(let object), .reused(let object, _):
                let loaded = resolution.objects[object]
                let path = fileSystem.pathInTarget(loaded.path)
                if path != lookup.name { line += " => " + path }
                var expand = shown.insert(object).inserted
                if case .loaded = lookup.outcome { expand = true }
                if expand {
                    lines.append(line + " [\(resolution.describe(loaded.rule))]")
                    draw(children[object] ?? [], prefix: below, resolution, fileSystem, children, &shown)
                } else {
                    lines.append(line + " (already loaded)")
                }
            case .notFound:
                lines.append(line + " not found")
                tried(lookup, prefix: below, resolution, fileSystem)
            case .failed(let message):
                lines.append(line + " refused: " + message)
                tried(lookup, prefix: below, resolution, fileSystem)
            }
        }
    }

    /// The paths tried for a name that was not found (or was refused), in order.
    private mutating func tried(_ lookup: DependencyLookup, prefix: String, _ resolution: LibraryResolution,
                                _ fileSystem: LoaderFileSystem) {
        if lookup.attempts.isEmpty { lines.append(prefix + "┊ no path tried") }
        for attempt in lookup.attempts {
            lines.append(prefix + "┊ tried \(fileSystem.pathInTarget(attempt.path)) [\(resolution.describe(attempt.rule))]: \(attempt.resultDescription)")
        }
    }
}
