import ELFKitCore

/// Everything the planning steps decided, ready to be written out.
struct DecidedLayout {
    /// The ELF header and the header tables, final.
    var tables: HeaderTables
    /// New content of objects, whether they stay or move.
    var contents: [FileObject.Kind: [UInt8]]
    /// Where the moved objects went, and the appended segments' bytes.
    var segments: SegmentLayout
    /// The bytes of a dropped resolution cache note, zeroed where they stay in the file.
    var zeroedRange: (offset: UInt64, size: UInt64)?
    /// Changes outside the movable objects (relocation entries, `.symtab` values), encoded.
    var extraPatches: [RewritePlan.Patch]

    /// The section header table moves to the end of the file: the layout moved it, or it
    /// ended the file and changes, so that a copy follows the new segment (an unchanged
    /// one stays where it is: no byte of it would differ).
    /// With `last` (an overlay follows the image) a table that ended the file moves after
    /// a new segment even unchanged, so that it ends the new image.
    func relocatesSectionTable(original file: ELFFile, last: Bool = false) -> Bool {
        segments.sectionTable.relocate
            || segments.sectionTable.endedFile && segments.newSegment != nil && (last || tables.sectionHeaders != file.sectionHeaders)
    }

    /// How much of the original file is kept: all of it, or what precedes the segments
    /// being rebuilt.
    func keptPrefix(original file: ELFFile) -> UInt64 {
        segments.ownSegmentIndices.isEmpty ? file.source.size : (segments.newSegment?.offset ?? file.source.size)
    }
}

/// Changes inside the original file, each kept only where it differs from the original.
private struct PatchList {
    let source: any ByteSource
    var patches: [RewritePlan.Patch] = []

    mutating func add(_ offset: UInt64, _ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        if offset + UInt64(bytes.count) <= source.size,
           try source.bytes(at: offset, count: UInt64(bytes.count), "patched range") == bytes { return }
        patches.append(RewritePlan.Patch(offset: offset, bytes: bytes))
    }
}

/// A section header table written after the appended segments, with the section-name
/// table before it when that moved too.
private struct SectionTableTrailer {
    /// Where the trailer starts, 8-aligned after the appended bytes.
    var offset: UInt64
    /// The names (padded to 8) then the table.
    var bytes: [UInt8]
    /// e_shoff of the moved table.
    var tableOffset: UInt64
}

extension PlanInput {
    /// The plan: the changes inside the original, and the bytes appended after it.
    /// - Parameter decided: Everything the planning steps decided.
    /// - Parameter log: The decisions so far; the plan's log adds the last ones.
    /// - Returns: The plan the writer carries out and the verifier reads.
    /// - Throws: `EditError.refused` when `keepOldBytes` cannot be honoured, or when the
    ///   plan's own changes overlap (`.internalError`).
    func emit(_ decided: DecidedLayout, log: [String]) throws -> RewritePlan {
        var plan = RewritePlan(originalSize: file.source.size)
        plan.log = log
        plan.warnings = outcome.warnings
        var header = decided.tables.header
        let trailer = try sectionTableTrailer(decided, log: &plan.log)
        if let trailer { header.sectionHeaderOffset = trailer.tableOffset }
        var patches = PatchList(source: file.source)
        let appended = try writeHeaders(header, decided, trailer: trailer, into: &patches)
        try writeContents(decided, into: &patches)
        try handleOldPlaces(decided, into: &patches, log: &plan.log)
        try assemble(&plan, patches: patches.patches, appended: appended, trailer: trailer, decided)
        return plan
    }

    /// The section header table, when it moves to the end of the file.
    private func sectionTableTrailer(_ decided: DecidedLayout, log: inout [String]) throws -> SectionTableTrailer? {
        guard decided.relocatesSectionTable(original: file, last: sectionTableLast) else { return nil }
        let segments = decided.segments
        let end = segments.newSegment.map { $0.offset + UInt64(segments.segmentContent.count) } ?? file.source.size
        let offset = try Checked.alignUp(end, to: 8, "section header table offset")
        var sectionHeaders = decided.tables.sectionHeaders
        var bytes: [UInt8] = []
        if let names = segments.sectionTable.names, let index = file.sectionNameTableIndex {
            // The names first, then the table, 8-aligned after them.
            sectionHeaders[index].offset = offset
            sectionHeaders[index].size = UInt64(names.count)
            bytes = names + [UInt8](repeating: 0, count: (8 - names.count % 8) % 8)
            log.append("section-name table moved to offset 0x\(hex(offset))")
        }
        let tableOffset = offset + UInt64(bytes.count)
        var sections = ByteEncoder(format: format, capacity: sectionHeaders.count * Int(format.sectionHeaderSize))
        for section in sectionHeaders { try section.encode(into: &sections) }
        bytes += sections.bytes
        log.append("section header table moved to offset 0x\(hex(tableOffset))")
        return SectionTableTrailer(offset: offset, bytes: bytes, tableOffset: tableOffset)
    }

    /// The ELF header, the program header table (in place, or in the appended segment
    /// where it moved) and a section header table that stays.
    /// - Returns: The appended segments' bytes, with a moved program header table in them.
    private func writeHeaders(_ header: FileHeader, _ decided: DecidedLayout, trailer: SectionTableTrailer?,
                              into patches: inout PatchList) throws -> [UInt8] {
        try patches.add(0, header.encode())
        var encoder = ByteEncoder(format: format, capacity: decided.tables.programHeaders.count * Int(format.programHeaderSize))
        for segment in decided.tables.programHeaders { try segment.encode(into: &encoder) }
        var appendedContent = decided.segments.segmentContent
        if let placed = decided.segments.tablePlacement, let segment = decided.segments.newSegment {
            // The moved table lies in the appended segment; its old bytes stay as they were.
            let start = Int(placed.offset - segment.offset)
            appendedContent.replaceSubrange(start ..< start + encoder.bytes.count, with: encoder.bytes)
        } else {
            try patches.add(header.programHeaderOffset, encoder.bytes)
        }
        let sectionHeaders = decided.tables.sectionHeaders
        if !sectionHeaders.isEmpty && trailer == nil {
            var sections = ByteEncoder(format: format, capacity: sectionHeaders.count * Int(format.sectionHeaderSize))
            for section in sectionHeaders { try section.encode(into: &sections) }
            // A dropped last entry leaves zeros, not a stale header, after the table.
            let dropped = (file.sectionHeaders.count - sectionHeaders.count) * Int(format.sectionHeaderSize)
            try patches.add(header.sectionHeaderOffset, sections.bytes + [UInt8](repeating: 0, count: max(dropped, 0)))
        }
        return appendedContent
    }

    /// The zeroed stale note, the new content of tables that stay, and the other changes.
    private func writeContents(_ decided: DecidedLayout, into patches: inout PatchList) throws {
        let segments = decided.segments
        if let (offset, size) = decided.zeroedRange,
           offset + size <= (segments.newSegment.map { segments.ownSegmentIndices.isEmpty ? file.source.size : $0.offset } ?? file.source.size) {
            try patches.add(offset, [UInt8](repeating: 0, count: Int(size)))
        }
        for (kind, bytes) in decided.contents where segments.placements[kind] == nil {
            guard let object = catalog.object(kind) else { continue }
            try patches.add(object.offset, bytes)
        }
        for extra in decided.extraPatches { try patches.add(extra.offset, extra.bytes) }
    }

    /// The old places of moved tables: cleared, or with keepOldBytes kept (see OldPlaces).
    private func handleOldPlaces(_ decided: DecidedLayout, into patches: inout PatchList, log: inout [String]) throws {
        let keptPrefix = decided.keptPrefix(original: file)
        if outcome.keepOldBytes {
            try refuseOverwrittenOldPlaces(decided, keptPrefix: keptPrefix, patches: patches.patches)
        } else {
            let cleared = try clearedOldPlaces(decided, keptPrefix: keptPrefix, written: patches.patches)
            if !cleared.isEmpty {
                log.append("old places of moved tables cleared: " + listed(cleared.map { "0x\(hex($0.offset))+0x\(hex($0.bytes.count))" }))
            }
            patches.patches += cleared
        }
    }

    /// The plan's patches in order, the appended bytes after the kept prefix, the moves;
    /// with the checks that the changes neither overlap nor reach a rebuilt segment.
    private func assemble(_ plan: inout RewritePlan, patches: [RewritePlan.Patch], appended: [UInt8],
                          trailer: SectionTableTrailer?, _ decided: DecidedLayout) throws {
        plan.patches = patches.sorted { $0.offset < $1.offset }
        // Patches must not overlap: two changes to the same bytes mean a planning bug.
        for (a, b) in zip(plan.patches, plan.patches.dropFirst()) where a.offset + UInt64(a.bytes.count) > b.offset {
            throw EditError.refused(EditRefusal(.internalError, "internal: overlapping changes at offsets 0x\(hex(a.offset)) and 0x\(hex(b.offset))", offset: b.offset))
        }
        let segments = decided.segments
        if let segment = segments.newSegment {
            if !segments.ownSegmentIndices.isEmpty { plan.keptPrefix = segment.offset }
            plan.appendOffset = segment.offset
            plan.appended = appended
        }
        if let trailer {
            if segments.newSegment == nil { plan.appendOffset = trailer.offset }
            plan.appended += [UInt8](repeating: 0, count: Int(trailer.offset - plan.appendOffset) - plan.appended.count)
            plan.appended += trailer.bytes
        }
        for (kind, placed) in segments.placements {
            if let old = catalog.object(kind) { plan.moves.append(RewritePlan.Move(from: old, to: placed)) }
        }
        if let last = plan.patches.last, last.offset + UInt64(last.bytes.count) > plan.keptPrefix {
            throw EditError.refused(EditRefusal(.internalError, "internal: a change lies inside the segment being rebuilt", offset: last.offset))
        }
    }
}
