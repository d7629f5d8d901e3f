import ELFKitCore

/// The resolution cache note (`--build-resolution-cache`) in the layout: a new note goes
/// at the end of the read-only appended segment, with a PT_NOTE of its own, a section
/// header `.note.nixos.ldcache` at the end of the section header table (the table and,
/// when the name is new, the section-name table move to the end of the file); a stale
/// note loses its section header, the PT_NOTE (and a PT_LOAD, as patchelf writes it)
/// that cover exactly it, and its bytes are zeroed, so that no stale path stays in
/// the file for a reference scanner such as Nix's to find.
extension PlanInput {
    static let nullProgramHeader = ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                                 fileSize: 0, memorySize: 0, alignment: 0)

    /// Before any placement: the stale note's headers go, so that their program-header
    /// slots are free for this run's segments.
    /// - Parameter tables: The headers of the file.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The headers without the note's, and what of the note stays to be handled.
    func dropResolutionCache(_ tables: HeaderTables, log: inout [String]) -> StaleCacheRemoval {
        var removal = StaleCacheRemoval(tables: tables)
        guard let dropped = outcome.droppedResolutionCache else { return removal }
        let section = dropped.section
        for (index, segment) in tables.programHeaders.enumerated()
        where (segment.type == .load || segment.type == .note) && section.size > 0
            && segment.offset == section.offset && segment.fileSize == section.size {
            if segment.type == .note { removal.droppedNoteKinds.insert(.notes(programHeaderIndex: index)) }
            removal.tables.programHeaders[index] = Self.nullProgramHeader
            log.append("resolution cache: program header \(index) (\(segment.type)) dropped")
        }
        let index = dropped.sectionIndex
        // Section 0 stays even when it is the note (a malformed file): it holds the counts
        // of extended numbering, and a table without it could not say it is empty.
        if index > 0 && index == tables.sectionHeaders.count - 1 && index != file.sectionNameTableIndex {
            removal.tables.sectionHeaders.removeLast()  // e_shnum (or section 0's sh_size): encodeHeaderCounts
        } else {
            removal.tables.sectionHeaders[index] = SectionHeader(nameOffset: 0, type: .null, flags: [], address: 0, offset: 0, size: 0,
                                                  link: 0, info: 0, alignment: 0, entrySize: 0)
        }
        if section.type != .nobits, section.size > 0,
           Checked.fits(start: section.offset, length: section.size, within: file.source.size) {
            removal.zeroedRange = (section.offset, section.size)
        }
        log.append("resolution cache: section \(index) dropped, its 0x\(hex(section.size)) bytes at 0x\(hex(section.offset)) zeroed")
        return removal
    }

    /// Program headers a new note adds besides its segment: its PT_NOTE.
    var resolutionCacheProgramHeaders: Int { outcome.resolutionCacheNote == nil ? 0 : 1 }

    /// The new note's PT_NOTE, in a PT_NULL slot (preferably one after the last PT_LOAD),
    /// else at the end (the room for it was made in `decideSegment`).
    func addResolutionCacheProgramHeader(_ headers: inout [ProgramHeader], placements: [FileObject.Kind: FileObject],
                                         log: inout [String]) {
        guard let placed = placements[.resolutionCache] else { return }
        let note = ProgramHeader(type: .note, flags: [.read], offset: placed.offset, virtualAddress: placed.address,
                                 physicalAddress: placed.address, fileSize: placed.size, memorySize: placed.size, alignment: 4)
        if let slot = headers.lastIndex(where: { $0.type == .null }) {
            headers[slot] = note
        } else {
            headers.append(note)
        }
        log.append("resolution cache: PT_NOTE at offset 0x\(hex(placed.offset)), address 0x\(hex(placed.address))")
    }

    /// The new note's section header, last in the table; its name is found in the
    /// section-name table or appended to it.
    /// - Parameter sectionHeaders: The section headers, updated for the moves.
    /// - Parameter sectionTable: What becomes of the section header table so far.
    /// - Parameter placements: Where the moved objects (the new note among them) went.
    /// - Returns: The section headers with the note's, and the table that now moves.
    /// - Throws: `EditError.refused` when the file has no section-name table.
    func addResolutionCacheSection(_ sectionHeaders: [SectionHeader], sectionTable: SectionTableMove,
                                   placements: [FileObject.Kind: FileObject]) throws
        -> ([SectionHeader], SectionTableMove) {
        guard let placed = placements[.resolutionCache], !sectionHeaders.isEmpty else { return (sectionHeaders, sectionTable) }
        var sectionHeaders = sectionHeaders
        var sectionTable = sectionTable
        guard let namesIndex = file.sectionNameTableIndex else {
            throw EditError.refused(EditRefusal(.unsupportedLayout, "--build-resolution-cache: the file has section headers but no section-name table"))
        }
        var names = try sectionTable.names ?? original(sectionNames: namesIndex)
        let wanted = ResolutionCacheNote.sectionNameBytes + [0]
        let nameOffset: Int
        if let found = Self.suffixStringOffset(of: wanted, in: names) {
            nameOffset = found
        } else {
            if names.last != 0 { names.append(0) }
            nameOffset = names.count
            names += wanted
            sectionTable.names = names
        }
        let name = try Checked.narrow(nameOffset, to: UInt32.self, "--build-resolution-cache: the new section's name offset (sh_name)")
        sectionHeaders.append(SectionHeader(nameOffset: name, type: .note, flags: .alloc, address: placed.address,
                                            offset: placed.offset, size: placed.size, link: 0, info: 0, alignment: 4,
                                            entrySize: 0))
        sectionTable.relocate = true  // e_shnum (or section 0's sh_size): encodeHeaderCounts
        return (sectionHeaders, sectionTable)
    }

    func original(sectionNames index: Int) throws -> [UInt8] {
        let names = file.sectionHeaders[index]
        return try file.source.bytes(at: names.offset, count: names.size, "section-name table")
    }

    /// Where `string` (NUL-terminated) stands in `table` as a whole string or the tail of one.
    static func suffixStringOffset(of string: [UInt8], in table: [UInt8]) -> Int? {
        guard table.count >= string.count else { return nil }
        for start in 0 ... table.count - string.count where table[start ..< start + string.count].elementsEqual(string) {
            return start
        }
        return nil
    }
}

/// What dropping a stale resolution cache note produced.
struct StaleCacheRemoval {
    /// The headers without the note's section header and segments.
    var tables: HeaderTables
    /// PT_NOTE objects of the dropped note: never moved.
    var droppedNoteKinds: Set<FileObject.Kind> = []
    /// The bytes of the dropped note, zeroed where they stay in the file.
    var zeroedRange: (offset: UInt64, size: UInt64)?
}
