import ELFKitCore

/// Which tables stay and which move, and the PT_LOADs that receive the moved ones.
extension PlanState {
    // MARK: Interpreter and dynamic section

    mutating func editInterpreter() throws {
        guard let new = outcome.interpreter, let object = catalog.object(.interpreter) else { return }
        if UInt64(new.count) <= object.size {
            contents[.interpreter] = new + [UInt8](repeating: 0, count: Int(object.size) - new.count)
            log.append("interpreter fits in PT_INTERP's \(object.size) bytes: written in place")
        } else {
            contents[.interpreter] = new
            mustMove.insert(.interpreter)
            log.append("interpreter needs \(new.count) bytes, PT_INTERP has \(object.size): it moves to the new segment")
        }
    }

    /// Entries that go once every `.gnu.version_r` entry is removed. glibc reads no
    /// versions without DT_VERNEED and DT_VERDEF, yet with DT_VERSYM left it takes
    /// `.gnu.version` indices into that missing list and crashes; so DT_VERSYM goes too
    /// when nothing defines versions.
    var droppedVersionTags: Set<DynamicTag> {
        guard verneedCount == 0 else { return [] }
        let definesVersions = entries.contains { $0.tag == .verdef }
        return definesVersions ? [.verneed, .verneedNum] : [.verneed, .verneedNum, .versym]
    }

    /// A moved interpreter takes PT_INTERP with it, and PT_INTERP then describes the new
    /// string alone, even where it used to cover more than the string (content placed
    /// after it stays where it is, untouched).
    mutating func updateInterpreterHeader() {
        guard let placed = placements[.interpreter], let old = catalog.object(.interpreter) else { return }
        // Matched in the updated list (a new PT_LOAD may have been inserted before it),
        // whether or not the range update already moved it.
        for index in programHeaders.indices where programHeaders[index].type == .interp {
            let segment = programHeaders[index]
            guard segment.offset == old.offset || segment.offset == placed.offset else { continue }
            // p_paddr follows p_vaddr's shift, modulo 2^64 (a move down is a wrapped delta).
            let physicalShift = segment.offset == old.offset ? placed.address &- old.address : 0
            programHeaders[index].offset = placed.offset
            programHeaders[index].virtualAddress = placed.address
            programHeaders[index].physicalAddress = segment.physicalAddress &+ physicalShift
            programHeaders[index].fileSize = placed.size
            programHeaders[index].memorySize = placed.size
        }
    }

    mutating func sizeDynamicSection() throws {
        guard let dynamic = try file.dynamic() else { return }
        var count = entries.count
        count -= entries.filter { droppedVersionTags.contains($0.tag) }.count
        dynamicCapacity = dynamic.capacity
        // An unchanged list keeps its slots as they are, DT_NULL or not: .dynamic is never
        // moved (nor a segment added for it) when the edit changes no entry.
        let unchanged = droppedVersionTags.isEmpty
            && entries == dynamic.entries.enumerated().map { PlannedEntry(tag: $1.tag, value: .raw($1.value), originalIndex: $0) }
        if !unchanged && file.firstSegment(.dynamic) == nil && !file.programHeaders.isEmpty {
            addDynamicHeader = true
            log.append("no PT_DYNAMIC: .dynamic found through its section header; a PT_DYNAMIC is added for it")
        }
        if unchanged && count <= dynamic.capacity { return }
        if count + 1 > dynamic.capacity {
            dynamicCapacity = count + 1 + LayoutPlanner.spareDynamicSlots
            mustMove.insert(.dynamic)
            log.append(".dynamic needs \(count + 1) slots, has \(dynamic.capacity): it moves to the new segment")
        }
    }

    // MARK: Segment

    /// The PT_LOADs an earlier swelf run appended: the last PT_LOADs, each beginning with
    /// `LayoutPlanner.appendedSegmentMark`, consecutive in the file, past every other
    /// segment and the section header table, and ending the file (or followed only by the
    /// section header table, moved there by swelf). Their shape proves nothing: a
    /// linker's last RW segment can look just like them.
    private func findOwnSegments() -> [Int] {
        var own: [Int] = []
        for index in programHeaders.indices.reversed() where programHeaders[index].type == .load {
            guard isMarked(programHeaders[index]) else { break }
            own.insert(index, at: 0)
        }
        guard let first = own.first, let last = own.last, let lastEnd = programHeaders[last].fileEnd else { return [] }
        // Consecutive in the file, apart from alignment padding.
        for (a, b) in zip(own, own.dropFirst()) {
            guard let end = programHeaders[a].fileEnd, programHeaders[b].offset >= end, programHeaders[b].offset - end < 16
            else { return [] }
        }
        let start = programHeaders[first].offset
        // It ends the file, or only the section header table (moved there by swelf) follows
        // it, maybe after the section-name table (moved there with a new name).
        let tableBytes = UInt64(file.sectionHeaders.count) * format.sectionHeaderSize
        var tableMayStart = lastEnd
        if let names = file.sectionNameTableIndex.map({ file.sectionHeaders[$0] }), names.offset >= lastEnd,
           names.offset - lastEnd < 16, let end = Checked.fits(start: names.offset, length: names.size, within: file.source.size) ? names.offset + names.size : nil {
            tableMayStart = end
        }
        // A dropped last section header leaves one entry of zeros after the table.
        // The table was read from the file at this offset: the sum is at most its size.
        let tableEnd = header.sectionHeaderOffset &+ tableBytes
        let tableFollows = header.sectionHeaderOffset >= tableMayStart && header.sectionHeaderOffset - tableMayStart < 16
            && tableEnd <= file.source.size && file.source.size - tableEnd <= format.sectionHeaderSize
            && (tableEnd == file.source.size
                || (try? file.source.bytes(at: tableEnd, count: file.source.size - tableEnd, "after the section headers"))?.allSatisfy { $0 == 0 } == true)
        guard lastEnd == file.source.size || tableFollows else { return [] }
        for (other, load) in programHeaders.enumerated() where load.type == .load && !own.contains(other) {
            guard let end = load.fileEnd, end <= start else { return [] }
        }
        if !tableFollows {
            let tableEnd = header.sectionHeaderOffset + tableBytes
            guard header.sectionHeaderOffset == 0 || tableEnd <= start else { return [] }
        }
        return own
    }

    /// The segment's file bytes begin with swelf's mark.
    private func isMarked(_ segment: ProgramHeader) -> Bool {
        let mark = LayoutPlanner.appendedSegmentMark
        guard segment.fileSize >= UInt64(mark.count), segment.fileSize == segment.memorySize,
              let head = try? file.source.bytes(at: segment.offset, count: UInt64(mark.count), "segment mark")
        else { return false }
        return head == mark
    }

    /// `.dynamic` goes into a writable segment when it was in one (everywhere but MIPS,
    /// whose linker keeps it read-only).
    private var dynamicIsWritable: Bool {
        guard let dynamic = catalog.object(.dynamic) else { return false }
        return file.programHeaders.contains {
            $0.type == .load && $0.flags.contains(.write) && $0.virtualAddress <= dynamic.address
                && dynamic.address < ($0.memoryEnd ?? 0)
        }
    }

    /// How many PT_LOADs the moved objects need: one read-only for the tables that were
    /// read-only, one read-write for a writable `.dynamic`.
    private func segmentCount(for kinds: Set<FileObject.Kind>) -> Int {
        let writable = dynamicIsWritable && kinds.contains(.dynamic)
        return (kinds.contains { $0 != .dynamic || !writable } ? 1 : 0) + (writable ? 1 : 0)
    }

    mutating func decideSegment(pageSize: UInt64) throws {
        try refuseUnsafeSelfRelocatingEdit()
        let needStack = outcome.executableStack != nil && file.firstSegment(.gnuStack) == nil
        let newHeaders = (needStack ? 1 : 0) + (addDynamicHeader ? 1 : 0) + resolutionCacheProgramHeaders
        guard !mustMove.isEmpty || newHeaders > 0 else { return }
        ownSegmentIndices = mustMove.isEmpty ? [] : findOwnSegments()
        if let first = ownSegmentIndices.first {
            for own in ownSegmentIndices {
                let segment = programHeaders[own]
                for object in catalog.objects where object.offset >= segment.offset && object.fileEnd <= segment.fileEnd!
                    && !droppedNoteKinds.contains(object.kind) {
                    mustMove.insert(object.kind)
                }
            }
            let start = programHeaders[first].offset
            log.append("rebuilding the \(ownSegmentIndices.count == 1 ? "segment" : "segments") an earlier swelf run appended at offset 0x\(hex(start))")
            if !sectionHeaders.isEmpty && header.sectionHeaderOffset >= start { relocateSectionTable = true }
            // A section-name table swelf moved after the segments goes with the table.
            if let index = file.sectionNameTableIndex, file.sectionHeaders[index].offset >= start {
                newSectionNames = try original(sectionNames: index)
            }
        }
        // Program headers to add, and room for them after the table.
        var roomMoves: Set<FileObject.Kind> = []
        let tableIsInRebuiltSegment = ownSegmentIndices.first.map { header.programHeaderOffset >= programHeaders[$0].offset } ?? false
        do {
            guard !tableIsInRebuiltSegment else { throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "the program header table is in a segment being rebuilt", offset: header.programHeaderOffset)) }
            for _ in 0 ..< 3 {
                var added = newHeaders
                added += max(0, segmentCount(for: mustMove.union(roomMoves)) - ownSegmentIndices.count)
                let nullSlots = programHeaders.filter { $0.type == .null }.count
                let required = max(0, added - nullSlots)
                let moves = try objectsInTheWay(ofEntries: required)
                if moves == roomMoves { break }
                roomMoves = moves
            }
        } catch let refusal as EditError {
            // No room after the table: it moves, where the kernel still finds it.
            if let reason = relocatedTableRefusal(pageSize: pageSize) {
                guard case .refused(var combined) = refusal, !tableIsInRebuiltSegment else { throw refusal }
                // The first obstacle keeps its kind and offset; the text says both.
                combined.detail += "; nor can the program header table move: \(reason)"
                throw EditError.refused(combined)
            }
            roomMoves = []
            // Its own read-only segment, and a writable one for a moved .dynamic.
            let segments = 1 + (mustMove.contains(.dynamic) && dynamicIsWritable ? 1 : 0)
            relocatedTableEntries = programHeaders.count + newHeaders + max(0, segments - ownSegmentIndices.count)
            log.append("\(refusal); the program header table moves to a new read-only segment instead")
        }
        // When tables move out of the way anyway, make room for one more program header and
        // keep a PT_NULL there: a later edit that moves .dynamic needs a second segment, and
        // without section headers it could not prove the space after the table free. This
        // may move one or two more small tables, never the section header table.
        if !roomMoves.isEmpty && dynamicIsWritable && segmentCount(for: mustMove.union(roomMoves)) < 2 {
            var trial = self
            let added = newHeaders + max(0, segmentCount(for: mustMove.union(roomMoves)) - ownSegmentIndices.count)
            let required = max(0, added - programHeaders.filter { $0.type == .null }.count)
            if let moves = try? trial.objectsInTheWay(ofEntries: required + 1), moves.isSuperset(of: roomMoves),
               !moves.contains(.dynamic), trial.relocateSectionTable == relocateSectionTable {
                spareProgramHeader = true
                roomMoves = moves
            }
        }
        if !roomMoves.isEmpty {
            log.append("making room for program headers by moving " + listed(roomMoves.map(\.description).sorted()))
        }
        if roomMoves.contains(.dynamic) && relocatesItself {
            throw EditError.refused(EditRefusal(.selfRelocating, "cannot make room for a program header: .dynamic follows the program header table, and \(Self.selfRelocationReason)", offset: catalog.object(.dynamic)?.offset))
        }
        mustMove.formUnion(roomMoves)
        if mustMove.contains(.dynamic) && dynamicCapacity == 0, let dynamic = try file.dynamic() {
            dynamicCapacity = dynamic.capacity
        }
        guard !mustMove.isEmpty || relocatedTableEntries != nil else { return }
        try placeMovedObjects(pageSize: pageSize)
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

    /// A file with PT_DYNAMIC that runs without an interpreter (a static PIE, or a dynamic
    /// loader such as ld.so) relocates itself before anything else runs. It finds its
    /// dynamic section through `_DYNAMIC`, the link-time address of `.dynamic` built into
    /// its code, never through PT_DYNAMIC: there `.dynamic` must not move.
    var relocatesItself: Bool {
        guard file.firstSegment(.dynamic) != nil, file.firstSegment(.interp) == nil else { return false }
        return file.isStaticPIE || file.header.entry != 0
    }

    static let selfRelocationReason =
        "this file runs without an interpreter and relocates itself through _DYNAMIC, the link-time address of .dynamic, so .dynamic cannot move"

    /// Edits a self-relocating file cannot take: more dynamic entries than `.dynamic` has
    /// slots, and a run path (glibc's static-PIE start-up asserts that there is no
    /// DT_RUNPATH or DT_RPATH, up to at least 2.41; the program dies before `main`).
    private func refuseUnsafeSelfRelocatingEdit() throws {
        guard relocatesItself, let dynamic = try file.dynamic() else { return }
        if mustMove.contains(.dynamic) {
            throw EditError.refused(EditRefusal(.selfRelocating, ".dynamic has \(dynamic.capacity) slots and the edit needs \(dynamicCapacity - LayoutPlanner.spareDynamicSlots); \(Self.selfRelocationReason)", offset: dynamic.fileOffset))
        }
        let hadRunPath = dynamic.has(.runpath) || dynamic.has(.rpath)
        if file.isStaticPIE && !hadRunPath && entries.contains(where: { $0.tag == .runpath || $0.tag == .rpath }) {
            throw EditError.refused(EditRefusal(.selfRelocating, "a static PIE cannot have DT_RUNPATH or DT_RPATH: glibc's start-up code asserts that it has none, and the program would die before main"))
        }
    }

    /// The objects that must move so `count` more program headers fit after the table.
    private mutating func objectsInTheWay(ofEntries count: Int) throws -> Set<FileObject.Kind> {
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

    /// The offset of the section header table when it is the last thing in the file: past
    /// every segment's and every section's bytes, ending exactly at the end of the file.
    private var sectionTableEndingTheFile: UInt64? {
        guard !file.sectionHeaders.isEmpty else { return nil }
        let table = header.sectionHeaderOffset
        let size = UInt64(file.sectionHeaders.count) * format.sectionHeaderSize
        guard Checked.fits(start: table, length: size, within: file.source.size), table + size == file.source.size else { return nil }
        for segment in file.programHeaders where segment.fileSize > 0 {
            guard let end = segment.fileEnd, end <= table else { return nil }
        }
        for section in file.sectionHeaders where section.hasFileData && section.size > 0 {
            guard let end = section.fileEnd, end <= table else { return nil }
        }
        return table
    }

    /// Lays the moved objects out in new PT_LOADs after the end of the file (or where
    /// the segments being rebuilt began): first a read-only one with every table that was
    /// read-only, in original file order, then a read-write one holding `.dynamic` alone.
    /// `.dynamic` must be writable: the loader writes DT_DEBUG there, and glibc before
    /// 2.35 adjusts its d_ptr values in place; patchelf gives it a writable segment too.
    /// (On MIPS the linker keeps `.dynamic` read-only; there it stays read-only.)
    /// The other tables stay read-only, as they were. Each segment begins with
    /// `LayoutPlanner.appendedSegmentMark` and is congruent modulo the alignment; the
    /// read-write one begins on a page of its own in memory, with no padding in the file.
    private mutating func placeMovedObjects(pageSize: UInt64) throws {
        var highest: UInt64 = 0
        for (index, segment) in programHeaders.enumerated() where segment.type == .load && !ownSegmentIndices.contains(index) {
            guard let end = segment.memoryEnd else { throw EditError.refused(EditRefusal(.inconsistentTable, "a PT_LOAD's memory range overflows")) }
            highest = max(highest, end)
        }
        var start: UInt64
        if let first = ownSegmentIndices.first {
            start = programHeaders[first].offset
        } else {
            start = try Checked.alignUp(file.source.size, to: 16, "new segment offset")
            // The section header table ended the file (as linkers and patchelf leave it, and
            // as tools such as patchelf's pad-to-page expect): when it changes, a copy of it
            // follows the new segment, still last (`emit`). The original's bytes all stay.
            sectionTableEndedFile = sectionTableEndingTheFile != nil
        }
        let tableSegment = relocatedTableEntries == nil ? nil : try relocatedTableSegment(pageSize: pageSize)
        if let tableSegment { start = tableSegment.offset }
        let writable: [FileObject.Kind] = mustMove.contains(.dynamic) && dynamicIsWritable ? [.dynamic] : []
        let readOnly = mustMove.filter { !writable.contains($0) }.sorted {
            (catalog.object($0)?.offset ?? UInt64.max, $0.description) < (catalog.object($1)?.offset ?? UInt64.max, $1.description)
        }
        let groups: [([FileObject.Kind], SegmentFlags)] = [(readOnly, [.read]), (writable, [.read, .write])]
        var content: [UInt8] = []
        var segments: [ProgramHeader] = []
        var memoryEnd = highest
        for (kinds, flags) in groups where !kinds.isEmpty || (flags == [.read] && tableSegment != nil) {
            content += [UInt8](repeating: 0, count: (16 - content.count % 16) % 16)
            let offset = try Checked.add(start, UInt64(content.count), "new segment offset")
            var address = try Checked.add(try Checked.alignUp(memoryEnd, to: pageSize, "new segment address"),
                                          offset % pageSize, "new segment address")
            let segmentStart = content.count
            content += LayoutPlanner.appendedSegmentMark
            if flags == [.read], let tableSegment, let count = relocatedTableEntries {
                address = tableSegment.address
                // The table first, 8-aligned (the offsets are page-aligned).
                let position = UInt64(content.count - segmentStart)
                tablePlacement = (offset + position, address + position)
                content += [UInt8](repeating: 0, count: count * Int(format.programHeaderSize))
                log.append("program header table placed at offset 0x\(hex(offset + position)), address 0x\(hex(address + position)) (\(count) entries)")
            }
            for kind in kinds {
                let objectAlignment: UInt64
                if let object = catalog.object(kind) {
                    objectAlignment = object.alignment
                } else if kind == .resolutionCache {
                    objectAlignment = 4
                } else {
                    continue
                }
                let bytes: [UInt8]
                if kind == .dynamic {
                    bytes = [UInt8](repeating: 0, count: dynamicCapacity * Int(format.dynamicEntrySize))
                } else {
                    bytes = try contents[kind] ?? original(kind)
                }
                // Segments start 16-aligned in the file and congruent in memory, so padding
                // within the content aligns both (object alignments are at most 16).
                let alignment = max(objectAlignment, 1)
                let padding = (alignment - UInt64(content.count) % alignment) % alignment
                content += [UInt8](repeating: 0, count: Int(padding))
                let position = UInt64(content.count - segmentStart)
                placements[kind] = FileObject(kind: kind, offset: offset + position, address: address + position,
                                              size: UInt64(bytes.count), alignment: alignment)
                content += bytes
                log.append("\(kind) placed at offset 0x\(hex(offset + position)), address 0x\(hex(address + position)) (0x\(hex(bytes.count)) bytes)")
            }
            let size = UInt64(content.count - segmentStart)
            segments.append(ProgramHeader(type: .load, flags: flags, offset: offset, virtualAddress: address,
                                          physicalAddress: address, fileSize: size, memorySize: size, alignment: pageSize))
            memoryEnd = try Checked.add(address, size, "new segment end")
        }
        segmentContent = content
        appendedSegments = segments
    }
}
