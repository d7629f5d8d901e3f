import ELFKitCore

/// The loaded image, its permissions and its mapping.
struct ImageCheck {
    let context: IndependentVerifier.Context

    func run(_ problems: inout [VerificationProblem]) throws {
        try checkLoadedBytes(&problems)
        checkPermissions(&problems)
        checkMapping(&problems)
    }

    // MARK: (a) Every loaded byte is unchanged at its address, or in a table that may change

    /// Addresses of the original image whose bytes an edit may change: the headers, the
    /// tables the loader reaches through program headers and `DT_*` tags (they may be
    /// rewritten or moved; their content is compared where they are now; see `OldBytes`
    /// for what their old places may hold), bytes no section or segment accounts for, and
    /// a segment an earlier swelf run appended.
    private func changeableAddresses() throws -> (IntervalSet, accountedFor: IntervalSet?) {
        let original = context.original
        let format = original.format
        let map = context.oldMap
        var ranges: [(UInt64, UInt64)] = []
        func addFileRange(_ offset: UInt64, _ size: UInt64) {
            guard size > 0, Checked.fits(start: offset, length: size, within: original.source.size) else { return }
            // A header table may straddle segments; map it byte range by byte range.
            for load in map.loads where load.fileSize > 0 {
                let start = max(offset, load.offset), end = min(offset + size, load.offset + load.fileSize)
                if start < end { ranges.append((load.virtualAddress + (start - load.offset), load.virtualAddress + (end - load.offset))) }
            }
        }
        // Renaming may reorder .dynsym, and the relocations then name their symbols by new
        // indices: they are compared decoded, by symbol name (DynamicCheck).
        if !context.request.renameSymbols.isEmpty, let dynamic = try original.dynamic() {
            let pairs: [(DynamicTag, DynamicTag)] = [(.rela, .relaSize), (.rel, .relSize), (.jmpRel, .pltRelSize)]
            for (tag, sizeTag) in pairs {
                if let address = dynamic.first(tag), let size = dynamic.first(sizeTag) {
                    let (end, overflow) = address.addingReportingOverflow(size)
                    if !overflow { ranges.append((address, end)) }
                }
            }
        }
        addFileRange(0, format.fileHeaderSize)
        addFileRange(original.header.programHeaderOffset, UInt64(original.programHeaders.count) * format.programHeaderSize)
        if !original.sectionHeaders.isEmpty {
            addFileRange(original.header.sectionHeaderOffset, UInt64(original.sectionHeaders.count) * format.sectionHeaderSize)
        }
        for segment in context.ownOriginalSegments where try isOnlyTablesAndPadding(segment) {
            ranges.append((segment.virtualAddress, segment.virtualAddress + segment.fileSize))
        }
        // Zero padding of less than 16 bytes between two of those is alignment, not data:
        // the program header table may grow over it.
        let merged = IntervalSet(ranges + context.oldTables.regions.values.map { ($0.address, $0.end) }).ranges
        var padding: [(UInt64, UInt64)] = []
        for (a, b) in zip(merged, merged.dropFirst()) where b.start - a.end < 16 {
            if let load = map.fileBacked(a.end), load.containsInFile(address: a.end, length: b.start - a.end),
               try original.bytes(atAddress: a.end, length: b.start - a.end, "padding").allSatisfy({ $0 == 0 }) {
                padding.append((a.end, b.start))
            }
        }
        // The tables themselves are judged by `OldBytes`: what is still a table is compared
        // where it is now, and what the edit made obsolete may only be cleared.
        ranges += padding
        // With section headers, the sections and the non-PT_LOAD segments account for every
        // byte the program uses; a byte outside all of them is free (patchelf leaves such
        // gaps where it moved tables away).
        var accounted: IntervalSet?
        if !original.sectionHeaders.isEmpty {
            var used: [(UInt64, UInt64)] = []
            for section in original.sectionHeaders where section.flags.contains(.alloc) && section.type != .nobits && section.size > 0 {
                let (end, overflow) = section.address.addingReportingOverflow(section.size)
                used.append((section.address, overflow ? UInt64.max : end))
            }
            for segment in original.programHeaders where ![.load, .phdr, .null, .gnuStack].contains(segment.type) {
                if let end = segment.memoryEnd { used.append((segment.virtualAddress, end)) }
            }
            accounted = IntervalSet(used)
        }
        return (IntervalSet(ranges), accounted)
    }

    /// A segment with the swelf mark may be rebuilt only if it holds nothing else: outside
    /// the tables it carries, every byte is the mark or zero padding.
    private func isOnlyTablesAndPadding(_ segment: ProgramHeader) throws -> Bool {
        let bytes = try context.original.source.bytes(at: segment.offset, count: segment.fileSize, "appended segment")
        let tables = IntervalSet(context.oldTables.regions.values.map { ($0.address, $0.end) })
        for (index, byte) in bytes.enumerated() where index >= 16 && byte != 0 {
            if !tables.contains(segment.virtualAddress + UInt64(index)) { return false }
        }
        return true
    }

    private func checkLoadedBytes(_ problems: inout [VerificationProblem]) throws {
        let (changeable, accounted) = try changeableAddresses()
        let oldBytes = try OldBytes(context: context)
        var objection: String?
        func mayChange(_ address: UInt64, to byte: UInt8) -> Bool {
            objection = nil
            if changeable.contains(address) { return true }
            switch oldBytes.judge(address, byte) {
            case .allowed: return true
            case .refused(let reason): objection = reason; return false
            case .notATable: break
            }
            if let accounted { return !accounted.contains(address) }
            return false
        }
        let largest = context.oldMap.loads.map(\.fileSize).max() ?? 0
        try ComparisonWindows.with(comparingAtMost: largest) { before, after in
            let chunk = before.count
            var reported = 0
            for load in context.oldMap.loads where load.fileSize > 0 {
                var address = load.virtualAddress
                let end = load.virtualAddress + load.fileSize  // fileEnd/memoryEnd checked by MemoryMap
                while address < end, reported < 3 {
                    var count = Int(min(UInt64(chunk), end - address))
                    let a = UnsafeMutableRawBufferPointer(rebasing: before[..<count])
                    try context.original.source.read(at: load.offset + (address - load.virtualAddress), into: a)
                    if let target = context.newMap.fileBacked(address) {
                        count = Int(min(UInt64(count), target.virtualAddress + target.fileSize - address))
                        try context.edited.source.read(at: target.offset + (address - target.virtualAddress),
                                                       into: UnsafeMutableRawBufferPointer(rebasing: after[..<count]))
                    } else if let target = context.newMap.mapped(address) {
                        // Zero-filled memory (p_memsz beyond p_filesz) up to the end of the segment.
                        count = Int(min(UInt64(count), target.virtualAddress + target.memorySize - address))
                        UnsafeMutableRawBufferPointer(rebasing: after[..<count]).initializeMemory(as: UInt8.self, repeating: 0)
                    } else {
                        if !mayChange(address, to: 0) {
                            problems.append(VerificationProblem(.image, "address 0x\(hex(address)) of the original image is no longer mapped"))
                            reported += 1
                        }
                        address += 1
                        continue
                    }
                    if !ComparisonWindows.same(before, after, count) {
                        for index in 0 ..< count where before[index] != after[index] && !mayChange(address + UInt64(index), to: after[index]) {
                            problems.append(VerificationProblem(.image, "the byte at address 0x\(hex(address + UInt64(index))) changed (0x\(hex(UInt64(before[index]))) -> 0x\(hex(UInt64(after[index])))) " + (objection ?? "outside every table the edit may change")))
                            reported += 1
                            break
                        }
                    }
                    address += UInt64(count)
                }
            }
        }
    }

    // MARK: (e) Nothing read-only becomes writable, nothing becomes executable

    private func checkPermissions(_ problems: inout [VerificationProblem]) {
        func report(_ message: String) { problems.append(VerificationProblem(.permissions, message)) }
        // Where the original maps memory, the edited file maps it with no more rights (the
        // old bytes of a moved .dynamic that PT_GNU_RELRO no longer starts with are in a
        // page the loader still protects: RelroShift).
        let relroGaps = RelroShift.gaps(original: context.original, edited: context.edited) ?? []
        for piece in context.oldMap.pieces {
            for now in context.newMap.pieces(from: piece.start, to: piece.end) where !now.flags.isSubset(of: piece.flags) {
                if relroGaps.contains(where: { $0.start <= now.start && now.end <= $0.end }) { continue }
                report("address 0x\(hex(now.start)) was \(describe(piece.flags)) and is now \(describe(now.flags))")
                return
            }
        }
        // A table keeps its rights where it moved to. The loader writes .dynamic (DT_DEBUG,
        // and glibc before 2.35 relocates its d_ptr values in place), so a moved .dynamic may
        // stay writable if it was writable while the loader ran.
        for (kind, old) in context.oldTables.regions {
            guard let new = context.newTables[kind], new != old, new.size > 0 else { continue }
            let before = context.oldMap.pieces(from: old.address, to: max(old.end, old.address + 1))
            let after = context.newMap.pieces(from: new.address, to: new.end)
            let allowed = before.reduce(SegmentFlags()) { $0.union(kind == .dynamic ? $1.loadFlags : $1.flags) }
            if let wider = after.first(where: { !$0.flags.isSubset(of: allowed) }) {
                report("\(kind) was \(describe(allowed)) and is now \(describe(wider.flags)) at 0x\(hex(new.address))")
            }
        }
        // New segments carry tables, never code.
        for load in context.newMap.loads where !context.oldMap.loads.contains(load) && load.flags.contains(.execute) {
            report("the new PT_LOAD at 0x\(hex(load.virtualAddress)) is executable")
        }
    }

    private func describe(_ flags: SegmentFlags) -> String {
        (flags.contains(.read) ? "r" : "-") + (flags.contains(.write) ? "w" : "-") + (flags.contains(.execute) ? "x" : "-")
    }

    // MARK: (f) PT_LOADs ascend, do not overlap, and are congruent modulo their alignment

    private func checkMapping(_ problems: inout [VerificationProblem]) {
        func report(_ message: String) { problems.append(VerificationProblem(.mapping, message)) }
        let loads = context.edited.programHeaders.filter { $0.type == .load }
        let oldLoads = context.original.programHeaders.filter { $0.type == .load }
        for (a, b) in zip(loads, loads.dropFirst()) where b.virtualAddress < a.virtualAddress {
            if !(oldLoads.contains(a) && oldLoads.contains(b)) {
                report("PT_LOADs are not in ascending address order (0x\(hex(a.virtualAddress)) before 0x\(hex(b.virtualAddress)))")
            }
        }
        // Alignment is kept: a file linked for 16 KiB or 64 KiB pages (`-z max-page-size`)
        // loads on kernels with such pages only while every PT_LOAD is congruent modulo them.
        // No original PT_LOAD's p_align goes down, and a new PT_LOAD takes at least the
        // largest one of the original (a power of two; others are the input's own problem).
        // `--page-size` can raise it, never lower it (the planner takes the larger), so
        // there is no exception for it here.
        let largest = oldLoads.map(\.alignment).filter { $0.nonzeroBitCount == 1 }.max() ?? 0
        let own = context.ownOriginalSegments
        for old in oldLoads where !own.contains(old) {
            if let now = loads.first(where: { $0.offset == old.offset && $0.virtualAddress == old.virtualAddress }),
               now.alignment < old.alignment {
                report("the PT_LOAD at 0x\(hex(old.virtualAddress)) had p_align 0x\(hex(old.alignment)) and now has 0x\(hex(now.alignment))")
            }
        }
        for load in loads where !oldLoads.contains(load) && load.alignment < largest {
            report("the new PT_LOAD at 0x\(hex(load.virtualAddress)) has p_align 0x\(hex(load.alignment)), below the original's largest 0x\(hex(largest))")
        }
        for load in loads where !oldLoads.contains(load) {
            guard let end = load.memoryEnd, load.fileEnd.map({ $0 <= context.edited.source.size }) ?? false else {
                report("the new PT_LOAD at offset 0x\(hex(load.offset)) lies outside the file or the address space")
                continue
            }
            let align = load.alignment
            if align > 1 && (align.nonzeroBitCount != 1 || load.offset % align != load.virtualAddress % align) {
                report("the new PT_LOAD at 0x\(hex(load.virtualAddress)) is not congruent to its offset modulo p_align 0x\(hex(align))")
            }
            // The loader maps whole pages: the new segment's pages must not reach another's bytes.
            let page = max(align, 0x1000)
            let low = load.virtualAddress / page * page
            let (roundedEnd, overflow) = end.addingReportingOverflow(page - 1)
            let high = overflow ? UInt64.max : roundedEnd / page * page
            for other in loads where other != load {
                guard let otherEnd = other.memoryEnd else { continue }
                if other.virtualAddress < high && otherEnd > low {
                    report("the new PT_LOAD at 0x\(hex(load.virtualAddress)) shares pages with the PT_LOAD at 0x\(hex(other.virtualAddress))")
                }
            }
        }
    }
}
