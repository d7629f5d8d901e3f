import ELFKitCore

/// Room for more program headers: after the table, by moving what follows it out of the
/// way, or, when nothing there can move, by moving the table itself into the read-only
/// appended segment.
extension SegmentPlanner {
    /// The objects that must move so `count` more program headers fit after the table.
    mutating func objectsInTheWay(ofEntries count: Int) throws -> Set<FileObject.Kind> {
        guard count > 0 else { return [] }
        let tableStart = header.programHeaderOffset
        let tableEnd = try Checked.add(tableStart, UInt64(programHeaders.count) * format.programHeaderSize, "e_phoff")
        let needed = try Checked.add(tableEnd, UInt64(count) * format.programHeaderSize, "e_phoff")
        guard let container = programHeaders.first(where: {
            $0.type == .load && $0.offset <= tableStart && ($0.fileEnd ?? 0) >= tableEnd
        }) else {
            throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "the program header table is not inside a PT_LOAD; cannot add program headers", offset: tableStart))
        }
        guard needed <= container.fileEnd! else {
            throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "no room for \(count) more program header(s) in the first segment", offset: tableStart))
        }
        var moves: Set<FileObject.Kind> = []
        var cursor = tableEnd
        let objects = catalog.objects.sorted { $0.offset < $1.offset }
        let sectionTableStart = header.sectionHeaderOffset
        let sectionTableEnd = sectionTableStart + UInt64(sectionHeaders.count) * format.sectionHeaderSize
        while cursor < needed {
            // The section header table is no part of any segment: it can go to the end.
            if !sectionHeaders.isEmpty, sectionTableEnd > cursor,
               sectionTableStart <= cursor || gapIsFree(cursor, sectionTableStart) && sectionTableStart < needed {
                relocateSectionTable = true
                cursor = sectionTableEnd
                continue
            }
            // The next object must start at the cursor, or after padding smaller than its alignment.
            guard let next = objects.first(where: { $0.fileEnd > cursor && $0.size > 0 }),
                  next.offset <= cursor || next.offset - cursor < max(next.alignment, 1) || gapIsFree(cursor, next.offset)
            else {
                throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "cannot make room for \(count) more program header(s): the bytes at 0x\(hex(cursor)) after the program header table belong to nothing swelf can move", offset: cursor))
            }
            if next.offset >= needed { break }
            moves.insert(next.kind)
            cursor = max(cursor, next.fileEnd)
        }
        // With section headers, no other allocated section may sit in the space taken.
        for section in sectionHeaders where section.flags.contains(.alloc) && section.hasFileData && section.size > 0 {
            guard let end = section.fileEnd else {
                throw EditError.refused(EditRefusal(.inconsistentTable, "section at offset 0x\(hex(section.offset)) has a size that overflows", offset: section.offset))
            }
            guard section.offset < needed && end > tableEnd else { continue }
            let covered = objects.contains { moves.contains($0.kind) && $0.offset <= section.offset && $0.fileEnd >= end }
            if !covered {
                throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "cannot make room for program headers: section at offset 0x\(hex(section.offset)) follows the table and cannot be moved", offset: section.offset))
            }
        }
        return moves
    }

    /// With section headers, a gap no section occupies is free.
    private func gapIsFree(_ start: UInt64, _ end: UInt64) -> Bool {
        guard !sectionHeaders.isEmpty else { return false }
        return !sectionHeaders.contains {
            $0.flags.contains(.alloc) && $0.hasFileData && $0.offset < end && ($0.fileEnd ?? UInt64.max) > start
        }
    }

    /// Why the program header table cannot move to an appended segment; nil when it can.
    ///
    /// The kernel tells the program where its headers are (AT_PHDR): before Linux 5.18, and
    /// in qemu-user, as the first PT_LOAD's load address plus e_phoff, which is right only
    /// where the table's segment has the first PT_LOAD's p_vaddr - p_offset. The read-only
    /// segment then starts on a page boundary at that same distance (`relocatedTableSegment`),
    /// after zero padding if the addresses in use reach further than the file. PT_PHDR, if
    /// any, must describe the table now, and goes with it.
    func relocatedTableRefusal(pageSize: UInt64) -> String? {
        guard let first = programHeaders.first(where: { $0.type == .load }) else { return "there is no PT_LOAD" }
        // p_vaddr - p_offset as a distance modulo 2^64 (p_vaddr may be below p_offset);
        // only compared with other such distances.
        let delta = first.virtualAddress &- first.offset
        guard delta % pageSize == 0 else { return "the first PT_LOAD's p_vaddr - p_offset is not a multiple of the page size" }
        let tableSize = UInt64(programHeaders.count) * format.programHeaderSize
        for phdr in programHeaders where phdr.type == .phdr {
            guard phdr.offset == header.programHeaderOffset, phdr.fileSize == tableSize,
                  phdr.virtualAddress &- phdr.offset == delta else { return "PT_PHDR does not describe the program header table" }
        }
        guard let segment = try? relocatedTableSegment(pageSize: pageSize) else { return "no address for it" }
        let contentEnd = ownSegmentIndices.first.map { programHeaders[$0].offset } ?? file.source.size
        let padding = segment.offset > contentEnd ? segment.offset - contentEnd : 0
        guard padding <= Self.maximumTablePadding else {
            return "it would need 0x\(hex(padding)) bytes of padding"
        }
        return nil
    }

    /// Padding allowed before a segment that carries the moved program header table.
    static let maximumTablePadding: UInt64 = 16 << 20

    /// Offset and address of the read-only appended segment when it carries the program
    /// header table: page-aligned, above every PT_LOAD, at the first PT_LOAD's distance
    /// between address and offset.
    func relocatedTableSegment(pageSize: UInt64) throws -> (offset: UInt64, address: UInt64) {
        guard let first = programHeaders.first(where: { $0.type == .load }) else { throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "there is no PT_LOAD")) }
        let delta = first.virtualAddress &- first.offset  // a distance modulo 2^64, as in relocatedTableRefusal
        var highest: UInt64 = 0
        for (index, segment) in programHeaders.enumerated() where segment.type == .load && !ownSegmentIndices.contains(index) {
            guard let end = segment.memoryEnd else { throw EditError.refused(EditRefusal(.inconsistentTable, "a PT_LOAD's memory range overflows")) }
            highest = max(highest, end)
        }
        let fileEnd = ownSegmentIndices.first.map { programHeaders[$0].offset } ?? file.source.size
        let lowestAddress = try Checked.alignUp(highest, to: pageSize, "new segment address")
        guard lowestAddress >= delta else { throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "no address for the program header table", offset: header.programHeaderOffset)) }
        let offset = max(try Checked.alignUp(fileEnd, to: pageSize, "new segment offset"), lowestAddress - delta)
        return (offset, try Checked.add(offset, delta, "new segment address"))
    }
}
