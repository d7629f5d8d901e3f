import ELFKitCore

/// What the dynamic section of the edited file must say, derived from the original's
/// entries and the request alone (never from the editor's or planner's functions).
struct ExpectedDynamic {
    /// The meaning of one entry, independent of where tables and strings were placed.
    enum Meaning: Equatable, CustomStringConvertible {
        case string([UInt8])
        case value(UInt64)
        /// A table's address: the table is decoded and compared on its own.
        case table
        /// DT_STRSZ: any size that holds the strings.
        case anySize
        /// A distance from the entry's own address (DT_MIPS_RLD_MAP_REL) to this address.
        case relativeTarget(UInt64)
        /// `--shrink-rpath`: some of these directories, in this order.
        case subsequenceOf([[UInt8]])

        var description: String {
            switch self {
            case .string(let bytes): return "'\(String(decoding: bytes, as: UTF8.self))'"
            case .value(let value): return "0x\(hex(value))"
            case .table: return "(table)"
            case .anySize: return "(size)"
            case .relativeTarget(let target): return "(-> 0x\(hex(target)))"
            case .subsequenceOf(let parts): return "(some of \(parts.map { String(decoding: $0, as: UTF8.self) }))"
            }
        }
    }

    struct Entry: Equatable {
        var tag: DynamicTag
        var meaning: Meaning
        /// Not in the original: may stand anywhere.
        var added = false
    }

    /// In the order the entries must appear, DT_NULL excluded.
    var entries: [Entry] = []
    /// Libraries whose `.gnu.version_r` entries go, and renamed ones.
    var removedLibraries: Set<[UInt8]> = []
    var renamedLibraries: [[UInt8]: [UInt8]] = [:]
    /// Version tables the dynamic section no longer names: when the last needed version
    /// goes, so does `.gnu.version_r`, and `.gnu.version` with it unless the file defines
    /// versions (index values without a table to name them would mean nothing). Their
    /// section headers then describe plain bytes.
    var retiredTables: Set<TableMap.Kind> = []

    static let stringTags: Set<DynamicTag> = [
        .needed, .soname, .rpath, .runpath,
        DynamicTag(rawValue: 0x7fff_fffd),  // DT_AUXILIARY
        DynamicTag(rawValue: 0x7fff_ffff),  // DT_FILTER
        DynamicTag(rawValue: 0x6fff_fefa),  // DT_CONFIG
        DynamicTag(rawValue: 0x6fff_fefb),  // DT_DEPAUDIT
        DynamicTag(rawValue: 0x6fff_fefc),  // DT_AUDIT
    ]
    /// Tags holding the address of a table the edit may move.
    static let movableTableTags: Set<DynamicTag> = [.strtab, .symtab, .hash, .gnuHash, .versym, .verneed, .verdef]

    /// What entry `index` of `dynamic` means, the same in the original and the edited
    /// file: a string, a movable table, .dynstr's size, a target relative to the entry,
    /// or the value itself. A string entry that points outside .dynstr throws.
    static func meaning(ofEntry index: Int, in dynamic: DynamicSection, format: ELFFormat) throws -> Meaning {
        let entry = dynamic.entries[index]
        if stringTags.contains(entry.tag) { return .string(try dynamic.rawString(at: entry.value)) }
        if movableTableTags.contains(entry.tag) { return .table }
        if entry.tag == .strsz { return .anySize }
        if entry.tag == .mipsRldMapRel {
            return .relativeTarget((dynamic.address &+ UInt64(index) &* format.dynamicEntrySize &+ entry.value) & format.maximumWord)
        }
        return .value(entry.value)
    }

    init(original file: ELFFile, dynamic: DynamicSection, request: EditRequest) throws {
        for index in dynamic.entries.indices {
            entries.append(Entry(tag: dynamic.entries[index].tag, meaning: try Self.meaning(ofEntry: index, in: dynamic, format: file.format)))
        }
        if let soname = request.soname { setString(.soname, soname) }
        if let change = request.runPath { try changeRunPath(change, force: request.forceRPath) }

        for name in request.removeNeeded {
            let before = entries.count
            entries.removeAll { $0.tag == .needed && $0.meaning == .string(name) }
            if entries.count != before { removedLibraries.insert(name) }
        }
        for (old, new) in request.replaceNeeded {
            for index in entries.indices where entries[index].tag == .needed && entries[index].meaning == .string(old) {
                entries[index].meaning = .string(new)
                renamedLibraries[old] = new
            }
        }
        var front: [Entry] = []
        for name in request.addNeeded
        where !entries.contains(where: { $0.tag == .needed && $0.meaning == .string(name) })
            && !front.contains(where: { $0.meaning == .string(name) }) {
            front.append(Entry(tag: .needed, meaning: .string(name), added: true))
        }
        entries.insert(contentsOf: front, at: 0)

        if request.noDefaultLib {
            let bit: UInt64 = 0x800  // DF_1_NODEFLIB
            if let index = entries.firstIndex(where: { $0.tag == .flags1 }), case .value(let old) = entries[index].meaning {
                entries[index].meaning = .value(old | bit)
            } else {
                entries.append(Entry(tag: .flags1, meaning: .value(bit), added: true))
            }
        }
        if request.addDebugTag, !entries.contains(where: { $0.tag == .debug }) {
            entries.append(Entry(tag: .debug, meaning: .value(0), added: true))
        }
        // Version needs of removed libraries go; when none remain, so do their tags.
        if !removedLibraries.isEmpty {
            var remaining = 0
            for need in try VersionTables(file: file, dynamic: dynamic).needs() where !removedLibraries.contains(need.file) {
                remaining += 1
            }
            if remaining == 0 {
                entries.removeAll { $0.tag == .verneed || $0.tag == .verneedNum }
                retiredTables.insert(.versionNeeds)
                if !dynamic.has(.verdef) {
                    entries.removeAll { $0.tag == .versym }
                    retiredTables.insert(.versionSymbols)
                }
            } else if let index = entries.firstIndex(where: { $0.tag == .verneedNum }) {
                entries[index].meaning = .value(UInt64(remaining))
            }
        }
    }

    private mutating func setString(_ tag: DynamicTag, _ value: [UInt8]) {
        if let index = entries.firstIndex(where: { $0.tag == tag }) {
            entries[index].meaning = .string(value)
        } else {
            entries.append(Entry(tag: tag, meaning: .string(value), added: true))
        }
    }

    /// One run-path entry of the requested tag where the first one stood; swelf's
    /// documented semantics, written out here a second time on purpose.
    private mutating func changeRunPath(_ change: EditRequest.RunPathChange, force: Bool) throws {
        let colon = UInt8(ascii: ":")
        let isRunPath = { (entry: Entry) in entry.tag == .rpath || entry.tag == .runpath }
        let first = entries.firstIndex(where: isRunPath)
        // DT_RUNPATH wins over DT_RPATH when both exist (the loader ignores DT_RPATH then).
        let currentEntry = entries.first { $0.tag == .runpath } ?? entries.first { $0.tag == .rpath }
        var current: [UInt8] = []
        if let currentEntry, case .string(let value) = currentEntry.meaning { current = value }
        let directories = { (value: [UInt8]) -> [[UInt8]] in
            value.isEmpty ? [] : value.split(separator: colon, omittingEmptySubsequences: false).map(Array.init)
        }
        let meaning: Meaning?
        switch change {
        case .set(let value):
            meaning = .string(value)
        case .add(let value):
            var parts = directories(current)
            for part in directories(value) where !parts.contains(part) { parts.append(part) }
            meaning = .string(Array(parts.joined(separator: [colon])))
        case .remove:
            meaning = nil
        case .shrink:
            guard currentEntry != nil else { return }
            meaning = .subsequenceOf(directories(current))
        }
        let tag: DynamicTag = force ? .rpath : .runpath
        entries.removeAll(where: isRunPath)
        if let meaning {
            entries.insert(Entry(tag: tag, meaning: meaning, added: first == nil), at: min(first ?? entries.count, entries.count))
        }
    }
}
