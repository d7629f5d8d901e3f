import ELFKitCore

/// Where new `.dynstr` strings go: over the string they replace when nothing else uses
/// its bytes and it fits, else appended to a relocated copy of the table.
extension PlanInput {
    /// The new `.dynstr`: where each new string of the dynamic entries, of renamed version
    /// files and of renamed symbols stands in it.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The offsets found or given, and the new table when it changed.
    /// - Throws: `EditError` or `ELFError` when the table or the symbols cannot be read.
    func placeStrings(log: inout [String]) throws -> PlacedStrings {
        let entries = outcome.entries
        var resolvedStrings: [Int: UInt64] = [:]
        let renames = outcome.renamedVersionFiles
        let hasNewStrings = entries.contains { if case .string = $0.value { return true } else { return false } }
        guard let dynamic = try file.dynamic() else { return PlacedStrings() }
        // String entries of the original that are gone (removed run path, removed library).
        let kept = Set(entries.compactMap(\.originalIndex))
        let removed = dynamic.entries.indices.filter { !kept.contains($0) && dynamic.entries[$0].tag.isStringOffset }
        let needsTable = hasNewStrings || !renames.isEmpty || !outcome.renamedSymbols.isEmpty
        guard needsTable || !removed.isEmpty else { return PlacedStrings() }
        // Clearing alone never makes an edit fail: without a readable table it is skipped.
        guard let original = needsTable ? try dynamic.stringTable().bytes : try? dynamic.stringTable().bytes else { return PlacedStrings() }
        var table = StringTableBuilder(original: original)
        var references: [StringReference]?

        for index in entries.indices {
            guard case .string(let value) = entries[index].value else { continue }
            if let offset = table.find(value) {
                // Found as the tail of the very string it replaces ("/build/lib/libfoo.so"
                // for "libfoo.so"): reusing it would keep the old prefix, often a
                // build-machine path, in the file; that string is overwritten below instead
                // when nothing else uses it (same size, no growth either way).
                var insideReplaced = false
                if let originalIndex = entries[index].originalIndex, originalIndex < dynamic.entries.count,
                   case let old = dynamic.entries[originalIndex], old.tag.isStringOffset, offset > old.value,
                   let oldLength = table.length(at: old.value), offset <= old.value + oldLength {
                    insideReplaced = try isExclusive(offset: old.value, length: oldLength, entry: index, originalIndex: originalIndex,
                                                     table: table, resolved: resolvedStrings, references: &references, dynamic: dynamic)
                }
                if !insideReplaced {
                    resolvedStrings[index] = offset
                    continue
                }
            }
            // The string this entry replaces, if nothing else uses its bytes, is either
            // overwritten (when the new one fits) or, when it ends the table (typically a
            // value an earlier swelf run appended), dropped from the relocated copy so that
            // repeated growing edits do not pile up old values.
            if let originalIndex = entries[index].originalIndex, originalIndex < dynamic.entries.count,
               case let old = dynamic.entries[originalIndex], old.tag.isStringOffset,
               let oldLength = table.length(at: old.value),
               try isExclusive(offset: old.value, length: oldLength, entry: index, originalIndex: originalIndex,
                               table: table, resolved: resolvedStrings, references: &references, dynamic: dynamic) {
                if value.count <= oldLength {
                    table.overwrite(at: old.value, with: value, oldLength: oldLength)
                    resolvedStrings[index] = old.value
                    references?.append(StringReference(offset: old.value, owner: .entry(-1)))
                    log.append("\(entries[index].tag): new string written over the old one at .dynstr+0x\(hex(old.value))")
                    continue
                }
                if old.value + oldLength + 1 == UInt64(table.original.count), table.appendedCount == 0 {
                    table.truncate(to: old.value)
                    log.append("\(entries[index].tag): the old string at the end of .dynstr is dropped")
                } else {
                    // Nothing refers to it any more: no copy of it stays in the table.
                    table.overwrite(at: old.value, with: [], oldLength: oldLength)
                    log.append("\(entries[index].tag): the old string at .dynstr+0x\(hex(old.value)) is cleared")
                }
            }
            resolvedStrings[index] = table.append(value)
        }
        // The strings of removed entries that nothing else uses are cleared too.
        for originalIndex in removed {
            let old = dynamic.entries[originalIndex]
            guard let oldLength = table.length(at: old.value), oldLength > 0,
                  try isExclusive(offset: old.value, length: oldLength, entry: -1, originalIndex: originalIndex,
                                  table: table, resolved: resolvedStrings, references: &references, dynamic: dynamic)
            else { continue }
            table.overwrite(at: old.value, with: [], oldLength: oldLength)
            log.append("\(old.tag) removed: its string at .dynstr+0x\(hex(old.value)) is cleared")
        }
        var placed = PlacedStrings(offsets: resolvedStrings)
        for (_, new) in renames { placed.renamedFileOffsets[new] = table.find(new) ?? table.append(new) }
        if !outcome.renamedSymbols.isEmpty {
            let present = Set(try symbolNames(dynamic: dynamic))
            for (old, new) in outcome.renamedSymbols.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where present.contains(old) {
                placed.symbolNameOffsets[new] = table.find(new) ?? table.append(new)
            }
        }

        if table.needsRelocation {
            placed.table = table.bytes
            placed.tableMoves = true
            log.append(".dynstr grows by \(table.appendedCount) bytes: it moves to the new segment")
        } else if table.bytes != table.original {
            placed.table = table.bytes
        }
        return placed
    }


    /// Is `[offset, offset + length]` of `.dynstr` used by nothing but the entry being replaced?
    private func isExclusive(offset: UInt64, length: UInt64, entry index: Int, originalIndex: Int, table: StringTableBuilder,
                             resolved resolvedStrings: [Int: UInt64], references: inout [StringReference]?,
                             dynamic: DynamicSection) throws -> Bool {
        if references == nil { references = try? collectReferences(dynamic: dynamic) }
        guard let known = references, catalog.symbolRangeBound != nil else { return false }
        let others = known.filter { $0.offset != offset || $0.owner != .entry(originalIndex) }
            + currentRawStringReferences(except: index, dynamic: dynamic)
            + resolvedStrings.filter { $0.key != index }.map { StringReference(offset: $0.value, owner: .entry(-3)) }
        return !others.contains { other in
            // An offset past the table cannot reach into it (entries read past the real
            // end of .dynsym give such values).
            guard let otherLength = table.length(at: other.offset) else { return false }
            return other.offset <= offset + length && other.offset + otherLength >= offset
        }
    }

    /// String-valued entries that keep their original offset.
    private func currentRawStringReferences(except skip: Int, dynamic: DynamicSection) -> [StringReference] {
        outcome.entries.enumerated().compactMap { index, entry in
            guard index != skip, entry.tag.isStringOffset, case .raw(let offset) = entry.value else { return nil }
            return StringReference(offset: offset, owner: .entry(-2))
        }
    }

    /// Every `.dynstr` offset something other than the dynamic section's own string
    /// entries uses: symbol names and version names.
    private func collectReferences(dynamic: DynamicSection) throws -> [StringReference] {
        var references: [StringReference] = []
        guard let symbols = catalog.symbolRangeBound else {
            // Symbol names unknown: the caller treats every offset as used.
            throw EditError.refused(EditRefusal(.internalError, "internal: dynamic symbol table size unknown"))
        }
        let raw = try file.source.bytes(at: symbols.offset, count: symbols.size, ".dynsym")
        let decoder = ByteDecoder(raw, format: format, baseOffset: symbols.offset)
        let entrySize = Int(format.symbolSize)  // FileObjectCatalog refuses any other DT_SYMENT
        var position = 0
        while entrySize > 0 && position + 4 <= raw.count {
            references.append(StringReference(offset: UInt64(try decoder.getInteger(at: position, as: UInt32.self)), owner: .symbol))
            position += entrySize
        }
        let renamedFiles = outcome.renamedVersionFiles
        for need in try dynamic.versionNeeds() {
            // A vn_file renamed with its DT_NEEDED (`--replace-needed`) is pointed at the new
            // string (VersionEdits), so it does not keep the old bytes in use: the old name,
            // often a build-machine path, can be overwritten.
            if renamedFiles[Array(need.file.utf8)] == nil {
                references.append(StringReference(offset: UInt64(need.fileOffset), owner: .version))
            }
            for requirement in need.requirements {
                references.append(StringReference(offset: UInt64(requirement.nameOffset), owner: .version))
            }
        }
        // Version definitions are read by name; every place the name occurs counts as used
        // (the base definition usually shares the DT_SONAME string).
        let table = StringTableBuilder(original: try dynamic.stringTable().bytes)
        for definition in try dynamic.versionDefinitions() {
            for name in definition.names {
                for offset in table.occurrences(of: Array(name.utf8)) {
                    references.append(StringReference(offset: offset, owner: .version))
                }
            }
        }
        return references
    }
}

/// What string placement produced: the `.dynstr` offsets of new strings, and the new table.
struct PlacedStrings {
    /// Offsets of the `.string` entries' values, by entry position.
    var offsets: [Int: UInt64] = [:]
    /// The new `.dynstr`; nil when it is unchanged.
    var table: [UInt8]?
    /// The table grew (or lost its tail): it moves to the appended segment.
    var tableMoves = false
    /// Offsets of the new names of renamed `.gnu.version_r` files.
    var renamedFileOffsets: [[UInt8]: UInt64] = [:]
    /// Offsets of the new names of renamed dynamic symbols.
    var symbolNameOffsets: [[UInt8]: UInt64] = [:]
}

/// Who uses a `.dynstr` offset.
private struct StringReference {
    enum Owner: Equatable { case entry(Int), symbol, version }
    var offset: UInt64
    var owner: Owner
}

/// `.dynstr` under construction: the original bytes (some strings possibly overwritten in
/// place) followed by appended strings.
struct StringTableBuilder {
    let original: [UInt8]
    private(set) var bytes: [UInt8]
    private var appendedOffsets: [[UInt8]: UInt64] = [:]

    init(original: [UInt8]) {
        self.original = original
        bytes = original
    }

    private var truncatedOriginalCount: Int?
    var appendedCount: Int { bytes.count - (truncatedOriginalCount ?? original.count) }
    /// The table must be relocated: it has new strings or lost a tail.
    var needsRelocation: Bool { truncatedOriginalCount != nil || bytes.count > original.count }

    /// Offset of an existing string equal to `value`, or of a longer string ending in it
    /// (linkers share suffixes the same way).
    func find(_ value: [UInt8]) -> UInt64? {
        if let offset = appendedOffsets[value] { return offset }
        return occurrences(of: value, limit: 1).first
    }

    /// Offsets where `value` followed by a NUL occurs.
    func occurrences(of value: [UInt8], limit: Int = .max) -> [UInt64] {
        var found: [UInt64] = []
        var terminator = bytes.startIndex
        while found.count < limit, let nul = bytes[terminator...].firstIndex(of: 0) {
            let start = nul - value.count
            if start >= 0, bytes[start ..< nul].elementsEqual(value) { found.append(UInt64(start)) }
            terminator = nul + 1
        }
        return found
    }

    /// Length (without NUL) of the string at `offset` in the current bytes.
    func length(at offset: UInt64) -> UInt64? {
        guard offset < UInt64(bytes.count), let nul = bytes[Int(offset)...].firstIndex(of: 0) else { return nil }
        return UInt64(nul) - offset
    }

    mutating func overwrite(at offset: UInt64, with value: [UInt8], oldLength: UInt64) {
        let start = Int(offset)
        bytes.replaceSubrange(start ..< start + Int(oldLength) + 1,
                              with: value + [UInt8](repeating: 0, count: Int(oldLength) + 1 - value.count))
    }

    /// Drops everything from `offset` on; only before anything is appended.
    mutating func truncate(to offset: UInt64) {
        bytes.removeSubrange(Int(offset)...)
        truncatedOriginalCount = Int(offset)
    }

    mutating func append(_ value: [UInt8]) -> UInt64 {
        if let offset = appendedOffsets[value] { return offset }
        let offset = UInt64(bytes.count)
        bytes += value + [0]
        appendedOffsets[value] = offset
        return offset
    }
}
