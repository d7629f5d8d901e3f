import ELFKitCore

/// What becomes of the bytes a moved table leaves behind.
///
/// By default they are cleared to zero: nothing refers to them any more, and a stale copy
/// is not harmless. Nix's reference scanner finds store paths in any byte of a file and
/// keeps their packages alive, and a user who replaced a build machine's run path expects
/// it gone from the file, not merely unreferenced. patchelf fills the same places with 'Z'.
/// Only bytes nothing in the edited file uses are cleared: the headers, every object that
/// stays, every section and non-PT_LOAD segment still there, and every other change keep
/// theirs.
///
/// With `EditRequest.keepOldBytes` (`--no-clobber-old-sections`) the old places keep their
/// bytes, and an edit that could only be made by overwriting them (the program header
/// table growing over a table it moved out of the way) is refused.
extension PlanInput {
    /// The file range of every moved object's old place inside the kept part of the file.
    private func oldPlaces(_ decided: DecidedLayout, keptPrefix: UInt64) -> [(kind: FileObject.Kind, start: UInt64, end: UInt64)] {
        decided.segments.placements.keys.compactMap { kind in
            guard let old = catalog.object(kind), old.size > 0, old.offset < keptPrefix else { return nil }
            return (kind, old.offset, min(old.fileEnd, keptPrefix))
        }.sorted { ($0.start, $0.kind.description) < ($1.start, $1.kind.description) }
    }

    /// File ranges the edited file still uses, in the kept part.
    private func liveRanges(_ decided: DecidedLayout, written: [RewritePlan.Patch]) -> [(UInt64, UInt64)] {
        let header = decided.tables.header
        let programHeaders = decided.tables.programHeaders, sectionHeaders = decided.tables.sectionHeaders
        var live: [(UInt64, UInt64)] = [(0, format.fileHeaderSize)]
        // Both tables lie in the file (read from it, or placed in it with checked
        // arithmetic), so offset + count * entry size is at most the output's size: the
        // wrapping adds cannot wrap. A section table that stays has at most its original
        // count (a table with an added header is relocated).
        live.append((header.programHeaderOffset,
                     header.programHeaderOffset &+ UInt64(programHeaders.count) * format.programHeaderSize))
        // (A table that moves only because it ended the file and changed keeps its bytes.)
        if !sectionHeaders.isEmpty && !decided.segments.sectionTable.relocate {
            live.append((header.sectionHeaderOffset,
                         header.sectionHeaderOffset &+ UInt64(sectionHeaders.count) * format.sectionHeaderSize))
        }
        for object in catalog.objects where decided.segments.placements[object.kind] == nil { live.append((object.offset, object.fileEnd)) }
        // Headers that describe content (PT_GNU_RELRO and PT_LOAD describe memory).
        let memoryOnly: Set<SegmentType> = [.load, .gnuRelRO, .gnuStack, .null]
        for segment in programHeaders where !memoryOnly.contains(segment.type) && segment.fileSize > 0 {
            if let end = segment.fileEnd { live.append((segment.offset, end)) }
        }
        for section in sectionHeaders where section.hasFileData && section.size > 0 {
            if let end = section.fileEnd { live.append((section.offset, end)) }
        }
        for patch in written { live.append((patch.offset, patch.offset + UInt64(patch.bytes.count))) }
        return live
    }

    /// Zero patches for the old places of moved objects, around everything still in use.
    func clearedOldPlaces(_ decided: DecidedLayout, keptPrefix: UInt64, written: [RewritePlan.Patch]) throws -> [RewritePlan.Patch] {
        let places = oldPlaces(decided, keptPrefix: keptPrefix)
        guard !places.isEmpty else { return [] }
        let live = liveRanges(decided, written: written)
        var patches: [RewritePlan.Patch] = []
        for place in places {
            var pieces = [(place.start, place.end)]
            for (start, end) in live where start < place.end && end > place.start {
                pieces = pieces.flatMap { piece -> [(UInt64, UInt64)] in
                    guard start < piece.1 && end > piece.0 else { return [piece] }
                    return [(piece.0, max(piece.0, start)), (min(piece.1, end), piece.1)].filter { $0.0 < $0.1 }
                }
            }
            for (start, end) in pieces {
                // Two moved objects can share bytes (PT_GNU_PROPERTY inside notes): clear once.
                guard !patches.contains(where: { $0.offset < end && start < $0.offset + UInt64($0.bytes.count) }) else { continue }
                let bytes = try file.source.bytes(at: start, count: end - start, "old place of \(place.kind)")
                guard bytes.contains(where: { $0 != 0 }) else { continue }
                patches.append(RewritePlan.Patch(offset: start, bytes: [UInt8](repeating: 0, count: bytes.count)))
            }
        }
        return patches
    }

    /// `keepOldBytes`: refuses a plan whose changes overwrite the old place of a moved object.
    func refuseOverwrittenOldPlaces(_ decided: DecidedLayout, keptPrefix: UInt64, patches: [RewritePlan.Patch]) throws {
        let tableStart = decided.tables.header.programHeaderOffset
        // In the file: see liveRanges.
        let tableEnd = tableStart &+ UInt64(decided.tables.programHeaders.count) * format.programHeaderSize
        for place in oldPlaces(decided, keptPrefix: keptPrefix) {
            for patch in patches {
                let start = max(patch.offset, place.start), end = min(patch.offset + UInt64(patch.bytes.count), place.end)
                guard start < end else { continue }
                let before = try file.source.bytes(at: start, count: end - start, "old place of \(place.kind)")
                let after = Array(patch.bytes[Int(start - patch.offset) ..< Int(end - patch.offset)])
                guard let first = before.indices.first(where: { before[$0] != after[$0] }) else { continue }
                let at = start + UInt64(first)
                let what = at >= tableStart && at < tableEnd ? "the program header table, grown to make room for new segments,"
                    : "another change"
                throw EditError.refused(EditRefusal(.oldBytesOverwritten, "--no-clobber-old-sections: this edit moves \(place.kind) and \(what) overwrites its old bytes at offset 0x\(hex(at)); refused (without the option the old place is cleared instead)", offset: at))
            }
        }
    }
}
