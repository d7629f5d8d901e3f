import ELFKitCore

/// What the edited file may hold where the original had a dynamic table.
///
/// An edit may rewrite a table where it is, or move it and leave its old place behind. The
/// verifier knows neither from the plan; it reads both files:
/// - where the edited file still has a table, the table's content is compared by the
///   other checks (strings by value, symbols one by one, hash tables byte for byte);
///   only `.dynstr` kept in place has bytes those checks do not read (strings nothing uses
///   any more), and there a changed byte must belong to a string the edited dynamic
///   section uses, or be a cleared (zero) byte of a string that no symbol and no version
///   record of the original uses: the obsolete run path or library name, never the
///   symbol name a run path shared its bytes with;
/// - a table the request retires (`ExpectedDynamic.retiredTables`) is read by nothing:
///   its bytes may change, as before;
/// - where the edited file has no table any more (the table moved away), the bytes are
///   obsolete: they may be cleared to zero or covered by the grown program header table,
///   nothing else; with `EditRequest.keepOldBytes` they must not change at all.
struct OldBytes {
    enum Verdict: Equatable {
        /// Not in a table of the original: the caller's other rules apply.
        case notATable
        case allowed
        case refused(String)
    }

    private let keepOldBytes: Bool
    /// Tables whose tags the request drops (the last `.gnu.version_r` entry removed): they
    /// stay where they were, interpreted by nothing, and may hold anything.
    /// The original's tables, each with whether the request retires it: judged byte by
    /// byte, so the answer is looked up once here rather than hashed per byte.
    private let oldRegions: [(kind: TableMap.Kind, region: TableMap.Region, retired: Bool)]
    private let newTables: IntervalSet
    /// The edited program header table, by address.
    private let programHeaderTable: IntervalSet
    /// `.dynstr` kept at its address: its region, the strings the edited dynamic section
    /// names, and the strings of the original its symbols and versions name.
    private let dynamicStringsInPlace: TableMap.Region?
    private let namedByDynamic: IntervalSet
    private let namedBySymbolsOrVersions: IntervalSet

    init(context: IndependentVerifier.Context) throws {
        keepOldBytes = context.request.keepOldBytes
        let retired = context.expected?.retiredTables ?? []
        oldRegions = context.oldTables.regions.map { ($0.key, $0.value, retired.contains($0.key)) }.sorted { $0.kind < $1.kind }
        newTables = IntervalSet(context.newTables.regions.values.map { ($0.address, $0.end) })
        let edited = context.edited
        let tableSize = UInt64(edited.programHeaders.count) * edited.format.programHeaderSize
        if let start = context.newMap.address(ofOffset: edited.header.programHeaderOffset) {
            programHeaderTable = IntervalSet([(start, start &+ tableSize)])
        } else {
            programHeaderTable = IntervalSet()
        }
        guard let old = context.oldTables[.dynamicStrings], let new = context.newTables[.dynamicStrings],
              old.address == new.address, let oldDynamic = try context.original.dynamic(),
              let newDynamic = try edited.dynamic()
        else {
            dynamicStringsInPlace = nil
            namedByDynamic = IntervalSet()
            namedBySymbolsOrVersions = IntervalSet()
            return
        }
        dynamicStringsInPlace = TableMap.Region(address: new.address, size: min(old.size, new.size))
        namedByDynamic = IntervalSet(try newDynamic.entries.filter { ExpectedDynamic.stringTags.contains($0.tag) }.map { entry in
            let length = UInt64(try newDynamic.rawString(at: entry.value).count)
            return (new.address &+ entry.value, new.address &+ entry.value &+ length &+ 1)
        })
        var named: [(UInt64, UInt64)] = []
        func name(_ offset: UInt64) {
            guard let string = try? oldDynamic.rawString(at: offset) else { return }
            named.append((old.address &+ offset, old.address &+ offset &+ UInt64(string.count) &+ 1))
        }
        let symbols = try context.originalSymbols.get {
            try SymbolList(file: context.original, dynamic: oldDynamic, tables: context.oldTables)
        }
        for symbol in symbols.symbols { name(UInt64(symbol.nameOffset)) }
        let oldVersions = VersionTables(file: context.original, dynamic: oldDynamic)
        for need in try oldVersions.needs() {
            // A need whose library the request renames or removes no longer names its old
            // file (DynamicCheck holds the edited vn_file to the new name): that string is
            // as obsolete as the DT_NEEDED it shared.
            let followsTheRequest = context.expected?.renamedLibraries[need.file] != nil
                || context.expected?.removedLibraries.contains(need.file) == true
            if !followsTheRequest { name(UInt64(need.fileOffset)) }
            for requirement in need.requirements { name(UInt64(requirement.nameOffset)) }
        }
        // Version definitions are read by name: every place a name occurs counts.
        let table = try oldDynamic.stringTable().bytes
        for definition in try oldVersions.definitions() {
            for definitionName in definition.names {
                let wanted = definitionName + [0]
                var start = 0
                while start + wanted.count <= table.count {
                    if table[start ..< start + wanted.count].elementsEqual(wanted) {
                        named.append((old.address &+ UInt64(start), old.address &+ UInt64(start + wanted.count)))
                    }
                    start += 1
                }
            }
        }
        namedBySymbolsOrVersions = IntervalSet(named)
    }

    /// May the byte of the original image at `address` now be `byte`?
    func judge(_ address: UInt64, _ byte: UInt8) -> Verdict {
        guard let old = oldRegions.first(where: { $0.region.contains(address, 1) }) else { return .notATable }
        if let strings = dynamicStringsInPlace, strings.contains(address, 1) {
            if namedByDynamic.contains(address) { return .allowed }
            if namedBySymbolsOrVersions.contains(address) {
                return .refused("in a .dynstr string the original's symbols or versions use")
            }
            return byte == 0 ? .allowed : .refused("in a .dynstr string nothing uses any more: it may only be cleared")
        }
        if newTables.contains(address) || old.retired { return .allowed }
        // The table moved away: its old place is obsolete.
        if keepOldBytes { return .refused("in the old place of \(old.kind), which --no-clobber-old-sections keeps") }
        if programHeaderTable.contains(address) || byte == 0 { return .allowed }
        return .refused("in the old place of \(old.kind), which the edit may only clear")
    }
}
