import ELFKitCore

/// Where the moved tables go: new PT_LOADs appended after everything else (or rebuilt
/// where an earlier swelf run appended its own), and room for their program headers.
///
/// The step's working state is a `SegmentPlanner`, private to this run; the step hands
/// back only the `SegmentLayout` it decided.
extension PlanInput {
    /// Decides the appended segments and places every moved table in them.
    /// - Parameter edits: The new table contents and the tables that must move.
    /// - Parameter dynamic: The slots `.dynamic` needs, and whether it needs a PT_DYNAMIC.
    /// - Parameter tables: The headers, after a stale resolution cache note dropped its own.
    /// - Parameter droppedNoteKinds: PT_NOTE objects of a dropped resolution cache note (never moved).
    /// - Parameter log: Collects the decisions, also when the edit is refused.
    /// - Returns: The placements, the appended segments and their bytes, and what becomes of
    ///   the program and section header tables.
    /// - Throws: `EditError.refused` when the tables cannot be placed or no program header fits.
    func placeSegments(_ edits: TableEdits, dynamic: DynamicSizing, tables: HeaderTables,
                       droppedNoteKinds: Set<FileObject.Kind>, log: inout [String]) throws -> SegmentLayout {
        var planner = SegmentPlanner(input: self, header: tables.header, programHeaders: tables.programHeaders,
                                     sectionHeaders: tables.sectionHeaders, contents: edits.contents,
                                     addDynamicHeader: dynamic.addsHeader, droppedNoteKinds: droppedNoteKinds, log: log,
                                     mustMove: edits.mustMove, dynamicCapacity: dynamic.capacity)
        defer { log = planner.log }
        try planner.decideSegment(pageSize: pageSize)
        return planner.layout
    }
}

/// What segment placement decided.
struct SegmentLayout {
    /// Where moved objects go.
    var placements: [FileObject.Kind: FileObject] = [:]
    /// The PT_LOADs this run appends (read-only tables, then `.dynamic`), in file and
    /// address order.
    var appendedSegments: [ProgramHeader] = []
    /// The file bytes of all appended segments, from the first one's offset on.
    var segmentContent: [UInt8] = []
    /// The segments an earlier swelf run appended (marked, ending the file), rebuilt by this one.
    var ownSegmentIndices: [Int] = []
    /// No room after the program header table: it moves to the start of the read-only
    /// appended segment (see `SegmentPlanner.relocatedTableSegment`), with room for this
    /// many entries.
    var relocatedTableEntries: Int?
    /// Where the moved program header table went.
    var tablePlacement: (offset: UInt64, address: UInt64)?
    /// A PT_NULL entry is added to the program header table, for a later second segment.
    var spareProgramHeader = false
    /// The slots of `.dynamic` where it is written (its own, or the moved copy's).
    var dynamicCapacity = 0
    /// What becomes of the section header table.
    var sectionTable = SectionTableMove()

    /// The first appended segment; `segmentContent` starts at its offset.
    var newSegment: ProgramHeader? { appendedSegments.first }

    /// Writes `bytes` over the placeholder of moved object `kind` in the appended bytes.
    mutating func fill(_ kind: FileObject.Kind, with bytes: [UInt8]) {
        guard let placed = placements[kind], let segment = newSegment else { return }
        let start = Int(placed.offset - segment.offset)
        segmentContent.replaceSubrange(start ..< start + bytes.count, with: bytes)
    }
}

/// What becomes of the section header table and the section-name table.
struct SectionTableMove {
    /// The section header table moves to the end of the file (it sat where the program
    /// header table must grow, as Go's linker puts it, or after a rebuilt segment, or it
    /// gains a header).
    var relocate = false
    /// The section header table ended the original file and a segment is appended: a
    /// changed table is written after it (`emit`).
    var endedFile = false
    /// The section-name table with a new name appended (or moved with a rebuilt segment);
    /// written before the relocated section header table.
    var names: [UInt8]?
}

/// The working state of one run of `PlanInput.placeSegments`.
struct SegmentPlanner {
    let input: PlanInput
    let header: FileHeader
    let programHeaders: [ProgramHeader]
    let sectionHeaders: [SectionHeader]
    /// New content of objects, whether they stay or move.
    let contents: [FileObject.Kind: [UInt8]]
    let addDynamicHeader: Bool
    /// PT_NOTE objects of a dropped resolution cache note: never moved.
    let droppedNoteKinds: Set<FileObject.Kind>
    var log: [String]
    var mustMove: Set<FileObject.Kind>
    var dynamicCapacity: Int

    var ownSegmentIndices: [Int] = []
    var relocateSectionTable = false
    var sectionTableEndedFile = false
    var newSectionNames: [UInt8]?
    var relocatedTableEntries: Int?
    var tablePlacement: (offset: UInt64, address: UInt64)?
    var spareProgramHeader = false
    var placements: [FileObject.Kind: FileObject] = [:]
    var appendedSegments: [ProgramHeader] = []
    var segmentContent: [UInt8] = []

    var file: ELFFile { input.file }
    var catalog: FileObjectCatalog { input.catalog }
    var format: ELFFormat { input.format }
    var outcome: EditOutcome { input.outcome }

    func original(_ kind: FileObject.Kind) throws -> [UInt8] { try input.original(kind) }

    var layout: SegmentLayout {
        SegmentLayout(placements: placements, appendedSegments: appendedSegments, segmentContent: segmentContent,
                      ownSegmentIndices: ownSegmentIndices, relocatedTableEntries: relocatedTableEntries,
                      tablePlacement: tablePlacement, spareProgramHeader: spareProgramHeader, dynamicCapacity: dynamicCapacity,
                      sectionTable: SectionTableMove(relocate: relocateSectionTable, endedFile: sectionTableEndedFile,
                                                     names: newSectionNames))
    }
}

extension SegmentPlanner {
    /// `.dynamic` goes into a writable segment when it was in one (everywhere but MIPS,
    /// whose linker keeps it read-only).
    var dynamicIsWritable: Bool {
        guard let dynamic = catalog.object(.dynamic) else { return false }
        return file.programHeaders.contains {
            $0.type == .load && $0.flags.contains(.write) && $0.virtualAddress <= dynamic.address
                && dynamic.address < ($0.memoryEnd ?? 0)
        }
    }

    /// How many PT_LOADs the moved objects need: one read-only for the tables that were
    /// read-only, one read-write for a writable `.dynamic`.
    func segmentCount(for kinds: Set<FileObject.Kind>) -> Int {
        let writable = dynamicIsWritable && kinds.contains(.dynamic)
        return (kinds.contains { $0 != .dynamic || !writable } ? 1 : 0) + (writable ? 1 : 0)
    }

    mutating func decideSegment(pageSize: UInt64) throws {
        try input.refuseUnsafeSelfRelocatingEdit(movesDynamic: mustMove.contains(.dynamic), dynamicCapacity: dynamicCapacity)
        let needStack = outcome.executableStack != nil && file.firstSegment(.gnuStack) == nil
        let newHeaders = (needStack ? 1 : 0) + (addDynamicHeader ? 1 : 0) + input.resolutionCacheProgramHeaders
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
                newSectionNames = try input.original(sectionNames: index)
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
        if roomMoves.contains(.dynamic) && input.relocatesItself {
            throw EditError.refused(EditRefusal(.selfRelocating, "cannot make room for a program header: .dynamic follows the program header table, and \(PlanInput.selfRelocationReason)", offset: catalog.object(.dynamic)?.offset))
        }
        mustMove.formUnion(roomMoves)
        if mustMove.contains(.dynamic) && dynamicCapacity == 0, let dynamic = try file.dynamic() {
            dynamicCapacity = dynamic.capacity
        }
        guard !mustMove.isEmpty || relocatedTableEntries != nil else { return }
        try placeMovedObjects(pageSize: pageSize)
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
        // qemu-user before 8.2 takes the lowest p_vaddr - p_offset of all PT_LOADs (modulo
        // 2^64) as the image's base and reports AT_PHDR as that base plus e_phoff: a new
        // segment must not bring that lowest distance down (`LoaderViews` in the verifier).
        var lowestDistance = UInt64.max
        for (index, segment) in programHeaders.enumerated() where segment.type == .load && !ownSegmentIndices.contains(index) {
            guard let end = segment.memoryEnd else { throw EditError.refused(EditRefusal(.inconsistentTable, "a PT_LOAD's memory range overflows")) }
            highest = max(highest, end)
            lowestDistance = min(lowestDistance, segment.virtualAddress &- segment.offset)
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
            // Where the file is longer than its image (an ET_EXEC at 0x400000 with much debug
            // data), p_vaddr - p_offset could fall below every original one: move the segment
            // up to keep that distance, a multiple of the alignment above the offset.
            if address &- offset < lowestDistance, lowestDistance != UInt64.max,
               let distance = try? Checked.alignUp(lowestDistance, to: pageSize, "distance"),
               let raised = try? Checked.add(offset, distance, "new segment address"), raised > address {
                address = raised
            }
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
