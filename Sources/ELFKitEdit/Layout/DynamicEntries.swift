import ELFKitCore

/// The dynamic section's final bytes, written once every string and table has its place.
extension PlanInput {
    /// The dynamic entries encoded with their final values: new string offsets, the new
    /// addresses of moved tables, counts of shortened tables, relative values recomputed.
    /// - Parameter strings: The `.dynstr` offsets of the entries' new strings.
    /// - Parameter versions: The `.gnu.version_r` count, and the tags that go with its last entry.
    /// - Parameter edits: The new tables (the size of a new `.dynstr`).
    /// - Parameter layout: Where the moved tables went, and the slots of `.dynamic`.
    /// - Returns: The bytes of `.dynamic`, DT_NULL and spare slots included; nil without one.
    /// - Throws: `ELFError` when a value does not fit the class's word.
    func resolveDynamicEntries(strings: PlacedStrings, versions: VersionTableEdits, edits: TableEdits,
                               layout: SegmentLayout) throws -> [UInt8]? {
        guard let dynamic = try file.dynamic() else { return nil }
        let placements = layout.placements
        let dynamicCapacity = layout.dynamicCapacity
        let entrySize = format.dynamicEntrySize
        let newDynamicAddress = location(.dynamic, placements: placements)?.address ?? dynamic.address
        var resolved: [DynamicEntry] = []
        for (index, planned) in outcome.entries.enumerated() {
            var value: UInt64
            switch planned.value {
            case .raw(let raw): value = raw
            case .string: value = strings.offsets[index]!
            }
            if versions.droppedTags.contains(planned.tag) { continue }
            switch planned.tag {
            case .verneedNum:
                if let verneedCount = versions.verneedCount { value = UInt64(verneedCount) }
            case .strsz:
                if let table = edits.contents[.dynamicStrings] { value = UInt64(table.count) }
            case .mipsRldMapRel:
                // Relative to the entry's own address: keep the target, recompute the distance.
                if let originalIndex = planned.originalIndex {
                    // Addresses and a signed distance, all modulo 2^64 as the loader computes them.
                    let target = dynamic.address &+ UInt64(originalIndex) &* entrySize &+ value
                    value = target &- (newDynamicAddress &+ UInt64(resolved.count) &* entrySize)
                    // A negative distance is two's complement in the class's word, not in 64 bits.
                    if !format.is64 { value &= 0xffff_ffff }
                }
            default: break
            }
            // Addresses of tables that moved.
            for (kind, placed) in placements {
                if let tag = kind.addressTag, tag == planned.tag, let old = catalog.object(kind) {
                    if planned.tag == .verneed {
                        value = placed.address &+ (value &- old.address)  // the same shift as the table's, modulo 2^64
                    } else if value == old.address {
                        value = placed.address
                    }
                }
            }
            resolved.append(DynamicEntry(tag: planned.tag, value: value))
        }
        var encoder = ByteEncoder(format: format, capacity: (resolved.count + 1) * Int(format.dynamicEntrySize))
        for entry in resolved { try entry.encode(into: &encoder) }
        // The DT_NULL, unless the entries fill every slot of a .dynamic that stays (only an
        // unchanged list can: a longer one moves).
        let used = min(resolved.count + 1, max(resolved.count, dynamicCapacity)) * Int(entrySize)
        let total = max(dynamicCapacity * Int(entrySize), used)
        encoder.append([UInt8](repeating: 0, count: total - resolved.count * Int(entrySize)))
        return encoder.bytes
    }

    /// Puts the encoded entries where `.dynamic` is: over the placeholder in the appended
    /// segment when it moved, and among the in-place changes when it stays and changed.
    /// - Parameter entries: The encoded `.dynamic`.
    /// - Parameter edits: The new table contents, given `.dynamic`'s when it changed or moved.
    /// - Parameter layout: The layout, given the moved `.dynamic`'s bytes.
    /// - Throws: `EditError.refused` (`.internalError`) when `.dynamic` is not in the catalog.
    func store(dynamicEntries entries: [UInt8], in edits: inout TableEdits, _ layout: inout SegmentLayout) throws {
        let originalBytes = try original(.dynamic)
        if layout.placements[.dynamic] != nil || entries != originalBytes {
            edits.contents[.dynamic] = entries
        }
        layout.fill(.dynamic, with: entries)
    }
}
