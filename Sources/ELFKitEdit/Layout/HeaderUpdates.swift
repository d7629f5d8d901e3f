import ELFKitCore

/// The program and section headers that follow the moved tables.
extension PlanInput {
    /// Program headers for the moved tables, the appended segments, PT_GNU_STACK, a new
    /// PT_DYNAMIC or PT_NOTE, and a moved table's PT_PHDR.
    /// - Parameter tables: The headers before the move.
    /// - Parameter layout: Where the moved tables and the program header table went.
    /// - Parameter addDynamicHeader: `.dynamic` gets the PT_DYNAMIC it lacked.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The headers with the new program header table (and its e_phoff).
    /// - Throws: `EditError.refused` (`.internalError`) when the moved table has no room
    ///   for every entry.
    func updateProgramHeaders(_ tables: HeaderTables, layout: SegmentLayout, addDynamicHeader: Bool,
                              log: inout [String]) throws -> HeaderTables {
        var tables = tables
        let programHeaders = tables.programHeaders
        let placements = layout.placements
        var headers = programHeaders
        // Each header that describes a table follows the one moved object that holds it,
        // matched against the original values (never against headers already updated).
        // Headers that describe memory, not a table (PT_GNU_RELRO, PT_TLS, PT_GNU_EH_FRAME,
        // …), stay: a PT_GNU_RELRO that covered only .dynamic must keep protecting the
        // original pages, not jump to the moved copy (one that began with .dynamic starts
        // at the next section, in the same page: relroAfterMovedDynamic).
        let tableHeaders: Set<SegmentType> = [.interp, .dynamic, .note, .gnuProperty, .mipsReginfo, .mipsABIFlags]
        for (index, segment) in programHeaders.enumerated() where tableHeaders.contains(segment.type) {
            guard let end = segment.fileEnd,
                  let (old, placed) = movedObject(holding: segment.offset, end: end, emptyAtStartOnly: segment.fileSize == 0,
                                                  placements: placements)
            else { continue }
            let delta = segment.offset - old.offset
            headers[index].offset = placed.offset + delta
            headers[index].virtualAddress = placed.address + delta
            // p_paddr takes p_vaddr's shift, modulo 2^64 (a wrapped delta for a move down);
            // an ELF32 result past 32 bits is refused by the encoder.
            headers[index].physicalAddress = segment.physicalAddress &+ (placed.address &- old.address)
            if delta == 0 && (old.kind == .interpreter || old.kind == .dynamic) {
                headers[index].fileSize = placed.size
                headers[index].memorySize = placed.size
            }
        }
        relroAfterMovedDynamic(&headers, placements: placements, log: &log)
        if let stack = outcome.executableStack {
            if let index = headers.firstIndex(where: { $0.type == .gnuStack }) {
                if stack { headers[index].flags.insert(.execute) } else { headers[index].flags.remove(.execute) }
            } else {
                let entry = ProgramHeader(type: .gnuStack, flags: stack ? [.read, .write, .execute] : [.read, .write],
                                          offset: 0, virtualAddress: 0, physicalAddress: 0, fileSize: 0, memorySize: 0,
                                          alignment: 16)
                if let slot = headers.firstIndex(where: { $0.type == .null }) { headers[slot] = entry } else { headers.append(entry) }
                log.append("added PT_GNU_STACK")
            }
            log.append("PT_GNU_STACK: stack \(stack ? "executable" : "not executable")")
        }
        // Rebuilt segments take the headers of the ones they replace; further ones go after
        // the last PT_LOAD (PT_LOADs are sorted by address), into a PT_NULL slot there, or
        // in place of a PT_NULL elsewhere, or as a new entry the room was made for.
        var pending = layout.appendedSegments[...]
        for own in layout.ownSegmentIndices {
            headers[own] = pending.popFirst() ?? ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0,
                                                               physicalAddress: 0, fileSize: 0, memorySize: 0, alignment: 0)
        }
        for segment in pending {
            let lastLoad = headers.lastIndex(where: { $0.type == .load }) ?? headers.count - 1
            if let slot = headers.lastIndex(where: { $0.type == .null }), slot > lastLoad {
                headers[slot] = segment
            } else if let slot = headers.lastIndex(where: { $0.type == .null }) {
                headers.remove(at: slot)
                headers.insert(segment, at: lastLoad)
            } else {
                headers.insert(segment, at: lastLoad + 1)
            }
        }
        if addDynamicHeader, let dynamic = location(.dynamic, placements: placements) {
            let flags = headers.first {
                $0.type == .load && $0.containsInMemory(address: dynamic.address, length: max(dynamic.size, 1))
            }?.flags.intersection([.read, .write]) ?? [.read, .write]
            let entry = ProgramHeader(type: .dynamic, flags: flags, offset: dynamic.offset, virtualAddress: dynamic.address,
                                      physicalAddress: dynamic.address, fileSize: dynamic.size, memorySize: dynamic.size,
                                      alignment: format.wordSize)
            let lastLoad = headers.lastIndex(where: { $0.type == .load }) ?? headers.count - 1
            if let slot = headers.firstIndex(where: { $0.type == .null }) { headers[slot] = entry } else { headers.insert(entry, at: lastLoad + 1) }
            log.append("added PT_DYNAMIC at offset 0x\(hex(dynamic.offset)) for .dynamic")
        }
        addResolutionCacheProgramHeader(&headers, placements: placements, log: &log)
        if layout.spareProgramHeader {
            headers.append(ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                         fileSize: 0, memorySize: 0, alignment: 0))
        }
        let tableSize = UInt64(headers.count) * format.programHeaderSize
        if let room = layout.relocatedTableEntries, let placed = layout.tablePlacement {
            guard headers.count <= room else { throw EditError.refused(EditRefusal(.internalError, "internal: the moved program header table has room for \(room) entries, not \(headers.count)")) }
            tables.header.programHeaderOffset = placed.offset
            for index in headers.indices where headers[index].type == .phdr {
                headers[index].offset = placed.offset
                // The same shift as p_vaddr's, modulo 2^64 (see above).
                headers[index].physicalAddress = headers[index].physicalAddress &+ (placed.address &- headers[index].virtualAddress)
                headers[index].virtualAddress = placed.address
            }
        }
        for index in headers.indices where headers[index].type == .phdr {
            headers[index].fileSize = tableSize
            headers[index].memorySize = tableSize
        }
        tables.programHeaders = headers  // e_phnum (or section 0's sh_info): encodeHeaderCounts
        return tables
    }

    /// A PT_GNU_RELRO that began with `.dynamic` (lld's layout, and zig's) begins, once
    /// `.dynamic` moved out, at the first section left in it, and still ends where it ended.
    /// binutils `strip` and `objcopy` rebuild the header from the first section inside it
    /// and its p_memsz (`assign_file_positions_for_non_load_sections`): left as it was, the
    /// header they write starts at that section and runs p_memsz past it, beyond its
    /// PT_LOAD. The bytes it no longer covers are the old `.dynamic`'s, cleared and read by
    /// nothing, and the loader protects whole pages (`_dl_protect_relro` rounds the start
    /// down), so with that section in the old start's 4 KiB page every page stays
    /// protected; otherwise the header stays as it was.
    func relroAfterMovedDynamic(_ headers: inout [ProgramHeader], placements: [FileObject.Kind: FileObject],
                                log: inout [String]) {
        guard let old = catalog.object(.dynamic), let placed = placements[.dynamic], placed.address != old.address else { return }
        let oldEnd = old.address &+ old.size
        for index in headers.indices where headers[index].type == .gnuRelRO && headers[index].virtualAddress == old.address {
            let relro = headers[index]
            let (end, overflow) = relro.virtualAddress.addingReportingOverflow(relro.memorySize)
            guard !overflow else { continue }
            // The first section in it after .dynamic; none may overlap .dynamic's old bytes.
            let inside = file.sectionHeaders.dropFirst().filter {
                $0.flags.contains(.alloc) && $0.size > 0 && $0.type != .dynamic && $0.address < end && $0.address &+ $0.size > relro.virtualAddress
            }
            // Only within the old start's 4 KiB page: the loader then protects the same pages.
            guard !inside.contains(where: { $0.address < oldEnd }), let first = inside.map(\.address).min(),
                  first & ~0xfff <= relro.virtualAddress else { continue }
            let delta = first - relro.virtualAddress
            headers[index].offset = relro.offset &+ delta
            headers[index].virtualAddress = first
            headers[index].physicalAddress = relro.physicalAddress &+ delta
            headers[index].fileSize = relro.fileSize > delta ? relro.fileSize - delta : 0
            headers[index].memorySize = relro.memorySize - delta
            log.append("PT_GNU_RELRO starts at 0x\(hex(first)), its first section after the moved .dynamic (binutils strip rebuilds it from there)")
        }
    }

    /// A moved interpreter takes PT_INTERP with it, and PT_INTERP then describes the new
    /// string alone, even where it used to cover more than the string (content placed
    /// after it stays where it is, untouched).
    /// - Parameter placements: Where the moved objects went.
    /// - Parameter programHeaders: The program headers, the appended segments among them.
    /// - Returns: The program headers with PT_INTERP on the moved string.
    func interpreterHeaderFollowing(_ placements: [FileObject.Kind: FileObject],
                                    in programHeaders: [ProgramHeader]) -> [ProgramHeader] {
        guard let placed = placements[.interpreter], let old = catalog.object(.interpreter) else { return programHeaders }
        var programHeaders = programHeaders
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
        return programHeaders
    }

    /// Section headers of the moved tables, and `.gnu.version_r`'s after entries were removed.
    /// - Parameter sectionHeaders: The section headers before the move.
    /// - Parameter placements: Where the moved objects went.
    /// - Parameter versions: The `.gnu.version_r` count and size, and the tags dropped with it.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The updated section headers.
    /// - Throws: `ELFError` when a count does not fit sh_info.
    func updateSectionHeaders(_ sectionHeaders: [SectionHeader], placements: [FileObject.Kind: FileObject],
                              versions: VersionTableEdits, log: inout [String]) throws -> [SectionHeader] {
        var sectionHeaders = sectionHeaders
        for (index, section) in file.sectionHeaders.enumerated()
        where section.flags.contains(.alloc) && section.hasFileData {
            guard let end = Checked.fits(start: section.offset, length: section.size, within: UInt64.max) ? section.offset + section.size : nil,
                  let (old, placed) = movedObject(holding: section.offset, end: end, emptyAtStartOnly: section.size == 0,
                                                  placements: placements),
                  section.address &- old.address == section.offset - old.offset  // a distance modulo 2^64, compared only
            else { continue }
            let delta = section.offset - old.offset
            sectionHeaders[index].offset = placed.offset + delta
            sectionHeaders[index].address = placed.address + delta
            if delta == 0 && (old.kind == .interpreter || old.kind == .dynamic || old.kind == .dynamicStrings) {
                sectionHeaders[index].size = placed.size
            }
        }
        try updateVersionNeedSection(&sectionHeaders, versions: versions, log: &log)
        return sectionHeaders
    }

    /// `.gnu.version_r`'s header describes the table left after entries were removed:
    /// sh_info its entry count, sh_size its bytes (readelf and eu-elflint walk sh_info
    /// entries from sh_offset).
    ///
    /// With every entry gone DT_VERNEED is dropped (and DT_VERSYM with it when nothing
    /// defines versions). A header that still said "version table" would describe a
    /// table the loader no longer has (eu-elflint: ".gnu.versym section present without
    /// .gnu.versym_d or .gnu.versym_r"), and a zero-sized one would leave the bytes to
    /// nobody. So such a header becomes an unnamed SHT_PROGBITS over the same bytes:
    /// still allocated, still accounted for, interpreted by no tool.
    private func updateVersionNeedSection(_ sectionHeaders: inout [SectionHeader], versions: VersionTableEdits,
                                          log: inout [String]) throws {
        guard let count = versions.verneedCount, let size = versions.verneedSize, let old = catalog.object(.versionNeeds) else { return }
        var retired: [(SectionType, UInt64)] = []
        for index in sectionHeaders.indices
        where file.sectionHeaders[index].type == .gnuVerneed && file.sectionHeaders[index].address == old.address {
            sectionHeaders[index].info = try Checked.narrow(count, to: UInt32.self, ".gnu.version_r entry count (sh_info)")
            sectionHeaders[index].size = size
            if count == 0 { retired.append((.gnuVerneed, old.address)) }
        }
        if versions.droppedTags.contains(.versym), let versions = catalog.object(.versionSymbols) {
            retired.append((.gnuVersym, versions.address))
        }
        for index in sectionHeaders.indices {
            let original = file.sectionHeaders[index]
            guard retired.contains(where: { $0.0 == original.type && $0.1 == original.address }) else { continue }
            sectionHeaders[index].nameOffset = 0
            sectionHeaders[index].type = .progbits
            sectionHeaders[index].size = original.size
            sectionHeaders[index].link = 0
            sectionHeaders[index].info = 0
            sectionHeaders[index].entrySize = 0
            log.append("section \(index): no longer a version table (its dynamic tag is gone), now unnamed SHT_PROGBITS")
        }
    }

    /// The smallest moved object whose original file range holds `[offset, end)`, with
    /// where it went. Deterministic whatever the order of `placements`.
    private func movedObject(holding offset: UInt64, end: UInt64, emptyAtStartOnly: Bool,
                             placements: [FileObject.Kind: FileObject]) -> (FileObject, FileObject)? {
        var best: (FileObject, FileObject)?
        for (kind, placed) in placements {
            guard let old = catalog.object(kind), offset >= old.offset, end <= old.fileEnd else { continue }
            if emptyAtStartOnly && offset != old.offset { continue }
            if let current = best, (current.0.size, current.0.kind.description) <= (old.size, old.kind.description) { continue }
            best = (old, placed)
        }
        return best
    }
}
