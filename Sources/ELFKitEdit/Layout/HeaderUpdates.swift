import ELFKitCore

/// The new dynamic entries, program and section headers, and the plan that writes them.
extension PlanState {
    // MARK: Dynamic entries

    func location(_ kind: FileObject.Kind) -> FileObject? { placements[kind] ?? catalog.object(kind) }

    mutating func resolveDynamicEntries() throws {
        guard let dynamic = try file.dynamic() else { return }
        let entrySize = format.dynamicEntrySize
        let newDynamicAddress = location(.dynamic)?.address ?? dynamic.address
        var resolved: [DynamicEntry] = []
        for (index, planned) in entries.enumerated() {
            var value: UInt64
            switch planned.value {
            case .raw(let raw): value = raw
            case .string: value = resolvedStrings[index]!
            }
            if droppedVersionTags.contains(planned.tag) { continue }
            switch planned.tag {
            case .verneedNum:
                if let verneedCount { value = UInt64(verneedCount) }
            case .strsz:
                if let strings = contents[.dynamicStrings] { value = UInt64(strings.count) }
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
        var encoder = ByteEncoder(format: format)
        for entry in resolved { try entry.encode(into: &encoder) }
        // The DT_NULL, unless the entries fill every slot of a .dynamic that stays (only an
        // unchanged list can: a longer one moves).
        let used = min(resolved.count + 1, max(resolved.count, dynamicCapacity)) * Int(entrySize)
        let total = max(dynamicCapacity * Int(entrySize), used)
        encoder.append([UInt8](repeating: 0, count: total - resolved.count * Int(entrySize)))
        encodedDynamic = encoder.bytes
        let originalBytes = try original(.dynamic)
        if placements[.dynamic] != nil || encodedDynamic != originalBytes {
            contents[.dynamic] = encodedDynamic
        }
        if let placed = placements[.dynamic] {
            let start = Int(placed.offset - newSegment!.offset)
            segmentContent.replaceSubrange(start ..< start + encodedDynamic.count, with: encodedDynamic)
        }
    }

    // MARK: Headers

    mutating func updateProgramHeaders(pageSize: UInt64) throws {
        var headers = programHeaders
        // Each header that describes a table follows the one moved object that holds it,
        // matched against the original values (never against headers already updated).
        // Headers that describe memory, not a table (PT_GNU_RELRO, PT_TLS, PT_GNU_EH_FRAME,
        // …), stay: a PT_GNU_RELRO that covered only .dynamic must keep protecting the
        // original pages, not jump to the moved copy.
        let tableHeaders: Set<SegmentType> = [.interp, .dynamic, .note, .gnuProperty, .mipsReginfo, .mipsABIFlags]
        for (index, segment) in programHeaders.enumerated() where tableHeaders.contains(segment.type) {
            guard let end = segment.fileEnd,
                  let (old, placed) = movedObject(holding: segment.offset, end: end, emptyAtStartOnly: segment.fileSize == 0)
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
        var pending = appendedSegments[...]
        for own in ownSegmentIndices {
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
        if addDynamicHeader, let dynamic = location(.dynamic) {
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
        addResolutionCacheProgramHeader(&headers)
        if spareProgramHeader {
            headers.append(ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                         fileSize: 0, memorySize: 0, alignment: 0))
        }
        let tableSize = UInt64(headers.count) * format.programHeaderSize
        if let room = relocatedTableEntries, let placed = tablePlacement {
            guard headers.count <= room else { throw EditError.refused(EditRefusal(.internalError, "internal: the moved program header table has room for \(room) entries, not \(headers.count)")) }
            header.programHeaderOffset = placed.offset
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
        programHeaders = headers  // e_phnum (or section 0's sh_info): encodeHeaderCounts
    }

    mutating func updateSectionHeaders() throws {
        for (index, section) in file.sectionHeaders.enumerated()
        where section.flags.contains(.alloc) && section.hasFileData {
            guard let end = Checked.fits(start: section.offset, length: section.size, within: UInt64.max) ? section.offset + section.size : nil,
                  let (old, placed) = movedObject(holding: section.offset, end: end, emptyAtStartOnly: section.size == 0),
                  section.address &- old.address == section.offset - old.offset  // a distance modulo 2^64, compared only
            else { continue }
            let delta = section.offset - old.offset
            sectionHeaders[index].offset = placed.offset + delta
            sectionHeaders[index].address = placed.address + delta
            if delta == 0 && (old.kind == .interpreter || old.kind == .dynamic || old.kind == .dynamicStrings) {
                sectionHeaders[index].size = placed.size
            }
        }
        try updateVersionNeedSection()
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
    private mutating func updateVersionNeedSection() throws {
        guard let count = verneedCount, let size = verneedSize, let old = catalog.object(.versionNeeds) else { return }
        var retired: [(SectionType, UInt64)] = []
        for index in sectionHeaders.indices
        where file.sectionHeaders[index].type == .gnuVerneed && file.sectionHeaders[index].address == old.address {
            sectionHeaders[index].info = try Checked.narrow(count, to: UInt32.self, ".gnu.version_r entry count (sh_info)")
            sectionHeaders[index].size = size
            if count == 0 { retired.append((.gnuVerneed, old.address)) }
        }
        if droppedVersionTags.contains(.versym), let versions = catalog.object(.versionSymbols) {
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
    private func movedObject(holding offset: UInt64, end: UInt64, emptyAtStartOnly: Bool) -> (FileObject, FileObject)? {
        var best: (FileObject, FileObject)?
        for (kind, placed) in placements {
            guard let old = catalog.object(kind), offset >= old.offset, end <= old.fileEnd else { continue }
            if emptyAtStartOnly && offset != old.offset { continue }
            if let current = best, (current.0.size, current.0.kind.description) <= (old.size, old.kind.description) { continue }
            best = (old, placed)
        }
        return best
    }

    // MARK: Output

    func emit() throws -> RewritePlan {
        var plan = RewritePlan(originalSize: file.source.size)
        plan.log = log
        plan.warnings = outcome.warnings
        var patches: [RewritePlan.Patch] = []

        func patch(_ offset: UInt64, _ bytes: [UInt8]) throws {
            guard !bytes.isEmpty else { return }
            if offset + UInt64(bytes.count) <= file.source.size,
               try file.source.bytes(at: offset, count: UInt64(bytes.count), "patched range") == bytes { return }
            patches.append(RewritePlan.Patch(offset: offset, bytes: bytes))
        }

        var header = self.header
        var trailer: [UInt8] = []
        var trailerOffset: UInt64 = 0
        // A table that ended the file and changes follows the new segment (an unchanged one
        // stays where it is: no byte of it would differ).
        let relocateSectionTable = relocateSectionTable
            || sectionTableEndedFile && newSegment != nil && sectionHeaders != file.sectionHeaders
        if relocateSectionTable {
            let end = newSegment.map { $0.offset + UInt64(segmentContent.count) } ?? file.source.size
            trailerOffset = try Checked.alignUp(end, to: 8, "section header table offset")
            var sectionHeaders = self.sectionHeaders
            if let names = newSectionNames, let index = file.sectionNameTableIndex {
                // The names first, then the table, 8-aligned after them.
                sectionHeaders[index].offset = trailerOffset
                sectionHeaders[index].size = UInt64(names.count)
                trailer = names + [UInt8](repeating: 0, count: (8 - names.count % 8) % 8)
                plan.log.append("section-name table moved to offset 0x\(hex(trailerOffset))")
            }
            header.sectionHeaderOffset = trailerOffset + UInt64(trailer.count)
            var sections = ByteEncoder(format: format)
            for section in sectionHeaders { try section.encode(into: &sections) }
            trailer += sections.bytes
            plan.log.append("section header table moved to offset 0x\(hex(header.sectionHeaderOffset))")
        }
        try patch(0, header.encode())
        var encoder = ByteEncoder(format: format)
        for segment in programHeaders { try segment.encode(into: &encoder) }
        var appendedContent = segmentContent
        if let placed = tablePlacement, let segment = newSegment {
            // The moved table lies in the appended segment; its old bytes stay as they were.
            let start = Int(placed.offset - segment.offset)
            appendedContent.replaceSubrange(start ..< start + encoder.bytes.count, with: encoder.bytes)
        } else {
            try patch(header.programHeaderOffset, encoder.bytes)
        }
        if !sectionHeaders.isEmpty && !relocateSectionTable {
            var sections = ByteEncoder(format: format)
            for section in sectionHeaders { try section.encode(into: &sections) }
            // A dropped last entry leaves zeros, not a stale header, after the table.
            let dropped = (file.sectionHeaders.count - sectionHeaders.count) * Int(format.sectionHeaderSize)
            try patch(header.sectionHeaderOffset, sections.bytes + [UInt8](repeating: 0, count: max(dropped, 0)))
        }
        if let (offset, size) = zeroedRange, offset + size <= (newSegment.map { ownSegmentIndices.isEmpty ? file.source.size : $0.offset } ?? file.source.size) {
            try patch(offset, [UInt8](repeating: 0, count: Int(size)))
        }
        for (kind, bytes) in contents where placements[kind] == nil {
            guard let object = catalog.object(kind) else { continue }
            try patch(object.offset, bytes)
        }
        for extra in extraPatches { try patch(extra.offset, extra.bytes) }
        // The old places of moved tables: cleared, or with keepOldBytes kept (see OldPlaces).
        let keptPrefix = ownSegmentIndices.isEmpty ? file.source.size : (newSegment?.offset ?? file.source.size)
        if outcome.keepOldBytes {
            try refuseOverwrittenOldPlaces(keptPrefix: keptPrefix, patches: patches)
        } else {
            let cleared = try clearedOldPlaces(keptPrefix: keptPrefix, written: patches)
            if !cleared.isEmpty {
                plan.log.append("old places of moved tables cleared: " + listed(cleared.map { "0x\(hex($0.offset))+0x\(hex($0.bytes.count))" }))
            }
            patches += cleared
        }
        plan.patches = patches.sorted { $0.offset < $1.offset }
        // Patches must not overlap: two changes to the same bytes mean a planning bug.
        for (a, b) in zip(plan.patches, plan.patches.dropFirst()) where a.offset + UInt64(a.bytes.count) > b.offset {
            throw EditError.refused(EditRefusal(.internalError, "internal: overlapping changes at offsets 0x\(hex(a.offset)) and 0x\(hex(b.offset))", offset: b.offset))
        }
        if let segment = newSegment {
            if !ownSegmentIndices.isEmpty { plan.keptPrefix = segment.offset }
            plan.appendOffset = segment.offset
            plan.appended = appendedContent
        }
        if relocateSectionTable {
            if newSegment == nil { plan.appendOffset = trailerOffset }
            plan.appended += [UInt8](repeating: 0, count: Int(trailerOffset - plan.appendOffset) - plan.appended.count)
            plan.appended += trailer
        }
        for (kind, placed) in placements {
            if let old = catalog.object(kind) { plan.moves.append(RewritePlan.Move(from: old, to: placed)) }
        }
        if let last = plan.patches.last, last.offset + UInt64(last.bytes.count) > plan.keptPrefix {
            throw EditError.refused(EditRefusal(.internalError, "internal: a change lies inside the segment being rebuilt", offset: last.offset))
        }
        return plan
    }
}
