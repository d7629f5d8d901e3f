import ELFKitCore

/// The new bytes of the tables the edit changes, and which of them must move: what the
/// table steps produced, gathered for segment placement.
struct TableEdits {
    /// New content of objects, whether they stay or move.
    var contents: [FileObject.Kind: [UInt8]] = [:]
    /// The objects that no longer fit where they are.
    var mustMove: Set<FileObject.Kind> = []

    init(resolutionCache: [UInt8]?, strings: PlacedStrings, versions: VersionTableEdits, symbols: RenamedSymbols,
         interpreter: InterpreterEdit?, dynamic: DynamicSizing) {
        // A new resolution cache note is one more object to place, in the read-only
        // appended segment.
        if let resolutionCache {
            contents[.resolutionCache] = resolutionCache
            mustMove.insert(.resolutionCache)
        }
        if let table = strings.table { contents[.dynamicStrings] = table }
        if strings.tableMoves { mustMove.insert(.dynamicStrings) }
        if let needs = versions.needs { contents[.versionNeeds] = needs }
        if let symbols = versions.symbols { contents[.versionSymbols] = symbols }
        // Renaming starts from the version step's `.gnu.version`: its tables win.
        contents.merge(symbols.contents) { _, renamed in renamed }
        if let interpreter {
            contents[.interpreter] = interpreter.bytes
            if interpreter.moves { mustMove.insert(.interpreter) }
        }
        if dynamic.moves { mustMove.insert(.dynamic) }
    }
}

/// The new PT_INTERP string, and whether it needs more room than the old one had.
struct InterpreterEdit {
    var bytes: [UInt8]
    var moves: Bool
}

/// How many slots `.dynamic` needs for the edited entries.
struct DynamicSizing {
    /// The slots of `.dynamic` in the edited file (0: no dynamic section).
    var capacity = 0
    /// The entries no longer fit: `.dynamic` moves.
    var moves = false
    /// The file has no PT_DYNAMIC, only a `.dynamic` section header (what patchelf edits):
    /// an edit of its entries adds the PT_DYNAMIC without which the loader never reads them.
    var addsHeader = false
}

extension PlanInput {
    /// The new interpreter, padded over the old one when it fits.
    /// - Parameter log: Collects the decision.
    /// - Returns: The new PT_INTERP bytes, or nil when the interpreter is unchanged.
    func editInterpreter(log: inout [String]) -> InterpreterEdit? {
        guard let new = outcome.interpreter, let object = catalog.object(.interpreter) else { return nil }
        if UInt64(new.count) <= object.size {
            log.append("interpreter fits in PT_INTERP's \(object.size) bytes: written in place")
            return InterpreterEdit(bytes: new + [UInt8](repeating: 0, count: Int(object.size) - new.count), moves: false)
        }
        log.append("interpreter needs \(new.count) bytes, PT_INTERP has \(object.size): it moves to the new segment")
        return InterpreterEdit(bytes: new, moves: true)
    }

    /// The slots the edited dynamic entries need, and whether `.dynamic` must move.
    /// - Parameter droppedTags: Entries that go with the last `.gnu.version_r` entry.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The capacity of `.dynamic` and whether it moves or needs a PT_DYNAMIC.
    /// - Throws: `ELFError` when the dynamic section cannot be read.
    func sizeDynamicSection(droppedTags: Set<DynamicTag>, log: inout [String]) throws -> DynamicSizing {
        var sizing = DynamicSizing()
        guard let dynamic = try file.dynamic() else { return sizing }
        let entries = outcome.entries
        var count = entries.count
        count -= entries.filter { droppedTags.contains($0.tag) }.count
        sizing.capacity = dynamic.capacity
        // An unchanged list keeps its slots as they are, DT_NULL or not: .dynamic is never
        // moved (nor a segment added for it) when the edit changes no entry.
        let unchanged = droppedTags.isEmpty
            && entries == dynamic.entries.enumerated().map { PlannedEntry(tag: $1.tag, value: .raw($1.value), originalIndex: $0) }
        if !unchanged && file.firstSegment(.dynamic) == nil && !file.programHeaders.isEmpty {
            sizing.addsHeader = true
            log.append("no PT_DYNAMIC: .dynamic found through its section header; a PT_DYNAMIC is added for it")
        }
        if unchanged && count <= dynamic.capacity { return sizing }
        if count + 1 > dynamic.capacity {
            sizing.capacity = count + 1 + LayoutPlanner.spareDynamicSlots
            sizing.moves = true
            log.append(".dynamic needs \(count + 1) slots, has \(dynamic.capacity): it moves to the new segment")
        }
        return sizing
    }
}
