import ELFKitCore

/// Decides where every changed table goes and produces a `RewritePlan`.
///
/// Policy, in order of preference:
/// 1. Content that fits where it is stays there: a string no longer than the one it
///    replaces and referenced by nothing else is overwritten; the dynamic section is
///    rewritten in its own slots while they suffice; a shorter interpreter is written
///    over the old one. The file keeps its size.
/// 2. Otherwise the tables that grew are placed in PT_LOADs appended after everything
///    else, at addresses above every existing segment; nothing existing moves down. The
///    tables that were read-only go into a read-only PT_LOAD; `.dynamic`, when it moves,
///    into a read-write PT_LOAD of its own on its own page. Each begins with
///    `appendedSegmentMark`; segments that begin with it and end the file are rebuilt
///    instead of adding more, so repeated edits do not pile up. A segment without the
///    mark is never rebuilt or cut, whatever its shape.
/// 3. Each new PT_LOAD needs a program header. The table stays where it is (kernels
///    before 5.18 and qemu-user derive AT_PHDR from its file offset); it grows into the
///    space of the objects that follow it (interpreter, notes, hash tables, …), which
///    move into the new segment with every reference to them updated.
public struct LayoutPlanner {
    let file: ELFFile
    let catalog: FileObjectCatalog
    let outcome: EditOutcome
    let pageSize: UInt64

    /// Spare DT_NULL slots given to a relocated dynamic section, so that later
    /// additions fit in place.
    static let spareDynamicSlots = 4

    /// The first bytes of every PT_LOAD swelf appends: "swelf appended" and two NULs.
    /// Only a segment whose file bytes start with it (and which ends the file) is
    /// recognised as swelf's own and rebuilt by a later edit.
    public static let appendedSegmentMark: [UInt8] = Array("swelf appended".utf8) + [0, 0]

    public init(file: ELFFile, outcome: EditOutcome, pageSize: UInt64? = nil) throws(EditError) {
        self.file = file
        self.outcome = outcome
        self.pageSize = pageSize ?? Self.segmentAlignment(of: file)
        do { catalog = try FileObjectCatalog(file: file) } catch { throw .format(error) }
    }

    public func plan() throws(EditError) -> RewritePlan {
        do { return try makePlan() } catch let error as ELFError { throw .format(error) } catch let error as EditError { throw error } catch {
            throw .refused("\(error)")
        }
    }

    /// The alignment of a new PT_LOAD: the largest p_align of the file's PT_LOADs, as the
    /// linker chose it (`-z max-page-size`), and at least 4 KiB, the smallest page any of
    /// the architectures has; the architecture's largest page size when no PT_LOAD has a
    /// usable p_align.
    static func segmentAlignment(of file: ELFFile) -> UInt64 {
        let aligns = file.programHeaders.filter { $0.type == .load && $0.alignment.nonzeroBitCount == 1 }.map(\.alignment)
        guard let largest = aligns.max() else { return file.header.machine.maximumPageSize }
        return max(largest, 0x1000)
    }

    private func makePlan() throws -> RewritePlan {
        var work = PlanState(file: file, catalog: catalog, outcome: outcome)
        if let abi = outcome.osABI {
            work.header.osABI = abi
            work.log.append("EI_OSABI set to \(abi.rawValue)")
        }
        try work.placeStrings()
        try work.editVersionTables()
        try work.renameSymbols()
        try work.editInterpreter()
        try work.sizeDynamicSection()
        try work.decideSegment(pageSize: pageSize)
        try work.resolveDynamicEntries()
        try work.updateProgramHeaders(pageSize: pageSize)
        work.updateInterpreterHeader()
        work.updateSectionHeaders()
        try work.updateStaticSymbolValues()
        return try work.emit()
    }
}

/// The mutable state of one planning run.
struct PlanState {
    let file: ELFFile
    let catalog: FileObjectCatalog
    let outcome: EditOutcome
    let format: ELFFormat
    var header: FileHeader
    var programHeaders: [ProgramHeader]
    var sectionHeaders: [SectionHeader]
    var log: [String]

    var entries: [PlannedEntry]
    /// Resolved string offsets for `.string` entries, by entry position.
    var resolvedStrings: [Int: UInt64] = [:]
    /// New content of objects, whether they stay or move.
    var contents: [FileObject.Kind: [UInt8]] = [:]
    var mustMove: Set<FileObject.Kind> = []
    /// Where moved objects go.
    var placements: [FileObject.Kind: FileObject] = [:]
    var dynamicCapacity = 0
    /// The PT_LOADs this run appends (read-only tables, then `.dynamic`), in file and
    /// address order.
    var appendedSegments: [ProgramHeader] = []
    /// The first appended segment; `segmentContent` starts at its offset.
    var newSegment: ProgramHeader? { appendedSegments.first }
    /// The segments an earlier swelf run appended (marked, ending the file), rebuilt by this one.
    var ownSegmentIndices: [Int] = []
    /// A PT_NULL entry is added to the program header table, for a later second segment.
    var spareProgramHeader = false
    /// The file bytes of all appended segments, from the first one's offset on.
    var segmentContent: [UInt8] = []
    /// Entries and bytes of `.gnu.version_r` after entries were removed (nil: unchanged).
    var verneedCount: Int?
    var verneedSize: UInt64?
    var encodedDynamic: [UInt8] = []
    /// The section header table moves to the end of the file (it sat where the program
    /// header table must grow, as Go's linker puts it, or after a rebuilt segment).
    var relocateSectionTable = false

    init(file: ELFFile, catalog: FileObjectCatalog, outcome: EditOutcome) {
        self.file = file
        self.catalog = catalog
        self.outcome = outcome
        format = file.format
        header = file.header
        programHeaders = file.programHeaders
        sectionHeaders = file.sectionHeaders
        log = outcome.log
        entries = outcome.entries
    }

    func original(_ kind: FileObject.Kind) throws -> [UInt8] {
        guard let object = catalog.object(kind) else { throw EditError.refused("\(kind) not found") }
        return try file.source.bytes(at: object.offset, count: object.size, kind.description)
    }

    // MARK: Strings

    mutating func placeStrings() throws {
        let renames = outcome.renamedVersionFiles
        let hasNewStrings = entries.contains { if case .string = $0.value { return true } else { return false } }
        guard hasNewStrings || !renames.isEmpty || !outcome.renamedSymbols.isEmpty, let dynamic = try file.dynamic() else { return }
        var table = StringTableBuilder(original: try dynamic.stringTable().bytes)
        var references: [StringReference]?

        for index in entries.indices {
            guard case .string(let value) = entries[index].value else { continue }
            if let offset = table.find(value) {
                resolvedStrings[index] = offset
                continue
            }
            // The string this entry replaces, if nothing else uses its bytes, is either
            // overwritten (when the new one fits) or, when it ends the table (typically a
            // value an earlier swelf run appended), dropped from the relocated copy so that
            // repeated growing edits do not pile up old values.
            if let originalIndex = entries[index].originalIndex, originalIndex < dynamic.entries.count,
               case let old = dynamic.entries[originalIndex], old.tag.isStringOffset,
               let oldLength = table.length(at: old.value),
               try isExclusive(offset: old.value, length: oldLength, entry: index, originalIndex: originalIndex,
                               table: table, references: &references, dynamic: dynamic) {
                if value.count <= oldLength {
                    table.overwrite(at: old.value, with: value, oldLength: oldLength)
                    resolvedStrings[index] = old.value
                    references?.append(StringReference(offset: old.value, owner: .entry(-1)))
                    log.append("\(entries[index].tag): new string written over the old one at .dynstr+0x\(hex(old.value))")
                    continue
                }
                if old.value + oldLength + 1 == UInt64(table.original.count), table.appendedCount == 0 {
                    table.truncate(to: old.value)
                    log.append("\(entries[index].tag): the old string at the end of .dynstr is dropped")
                }
            }
            resolvedStrings[index] = table.append(value)
        }
        var renamedOffsets: [[UInt8]: UInt64] = [:]
        for (_, new) in renames { renamedOffsets[new] = table.find(new) ?? table.append(new) }
        self.renamedFileOffsets = renamedOffsets
        if !outcome.renamedSymbols.isEmpty {
            let present = Set(try symbolNames(dynamic: dynamic))
            for (old, new) in outcome.renamedSymbols.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) where present.contains(old) {
                symbolNameOffsets[new] = table.find(new) ?? table.append(new)
            }
        }

        if table.needsRelocation {
            contents[.dynamicStrings] = table.bytes
            mustMove.insert(.dynamicStrings)
            log.append(".dynstr grows by \(table.appendedCount) bytes: it moves to the new segment")
        } else if table.bytes != table.original {
            contents[.dynamicStrings] = table.bytes
        }
    }

    var renamedFileOffsets: [[UInt8]: UInt64] = [:]
    /// `.dynstr` offsets of new symbol names.
    var symbolNameOffsets: [[UInt8]: UInt64] = [:]
    /// Changes outside the movable objects (relocation entries), already encoded.
    var extraPatches: [RewritePlan.Patch] = []

    /// Is `[offset, offset + length]` of `.dynstr` used by nothing but the entry being replaced?
    private func isExclusive(offset: UInt64, length: UInt64, entry index: Int, originalIndex: Int, table: StringTableBuilder,
                             references: inout [StringReference]?, dynamic: DynamicSection) throws -> Bool {
        if references == nil { references = try? collectReferences(dynamic: dynamic) }
        guard let known = references, catalog.symbolRangeBound != nil else { return false }
        let others = known.filter { $0.offset != offset || $0.owner != .entry(originalIndex) }
            + currentRawStringReferences(except: index, dynamic: dynamic)
        return !others.contains { other in
            // An offset past the table cannot reach into it (entries read past the real
            // end of .dynsym give such values).
            guard let otherLength = table.length(at: other.offset) else { return false }
            return other.offset <= offset + length && other.offset + otherLength >= offset
        }
    }

    /// String-valued entries that keep their original offset.
    private func currentRawStringReferences(except skip: Int, dynamic: DynamicSection) -> [StringReference] {
        entries.enumerated().compactMap { index, entry in
            guard index != skip, entry.tag.isStringOffset, case .raw(let offset) = entry.value else { return nil }
            return StringReference(offset: offset, owner: .entry(-2))
        }
    }

    /// Every `.dynstr` offset something other than the dynamic section's own string
    /// entries uses: symbol names and version names.
    private func collectReferences(dynamic: DynamicSection) throws -> [StringReference] {
        var references: [StringReference] = []
        guard let symbols = catalog.symbolRangeBound else {
            // Symbol names unknown: the caller treats every offset as used.
            throw EditError.refused("internal: dynamic symbol table size unknown")
        }
        let raw = try file.source.bytes(at: symbols.offset, count: symbols.size, ".dynsym")
        let decoder = ByteDecoder(raw, format: format, baseOffset: symbols.offset)
        let entrySize = Int(dynamic.first(.symEntrySize) ?? format.symbolSize)
        var position = 0
        while entrySize > 0 && position + 4 <= raw.count {
            references.append(StringReference(offset: UInt64(try decoder.getInteger(at: position, as: UInt32.self)), owner: .symbol))
            position += entrySize
        }
        for need in try dynamic.versionNeeds() {
            references.append(StringReference(offset: UInt64(need.fileOffset), owner: .version))
            for requirement in need.requirements {
                references.append(StringReference(offset: UInt64(requirement.nameOffset), owner: .version))
            }
        }
        // Version definitions are read by name; every place the name occurs counts as used
        // (the base definition usually shares the DT_SONAME string).
        let table = StringTableBuilder(original: try dynamic.stringTable().bytes)
        for definition in try dynamic.versionDefinitions() {
            for name in definition.names {
                for offset in table.occurrences(of: Array(name.utf8)) {
                    references.append(StringReference(offset: offset, owner: .version))
                }
            }
        }
        return references
    }

    // MARK: Version tables

    mutating func editVersionTables() throws {
        guard let dynamic = try file.dynamic() else { return }
        let removed = outcome.removedVersionFiles
        let renames = outcome.renamedVersionFiles
        var removedIndices: Set<UInt16> = []

        if (!removed.isEmpty || !renames.isEmpty), let object = catalog.object(.versionNeeds) {
            var blob = try original(.versionNeeds)
            let needs = try dynamic.versionNeeds()
            var positions: [Int] = []  // offset of each entry in the blob
            var position = 0
            for _ in needs {
                positions.append(position)
                let next: UInt32 = try ByteDecoder(blob, format: format, baseOffset: object.offset).getInteger(at: position + 12)
                position += Int(next)
            }
            var kept: [Int] = []
            var keptNeeds: [VersionNeed] = []
            for (index, need) in needs.enumerated() {
                let name = Array(need.file.utf8)
                if removed.contains(name) {
                    removedIndices.formUnion(need.requirements.map { $0.index & 0x7fff })
                    log.append(".gnu.version_r: dropped the entry for \(need.file)")
                    continue
                }
                var keptNeed = need
                if let new = renames[name], let offset = renamedFileOffsets[new] {
                    blob.replaceSubrange(positions[index] + 4 ..< positions[index] + 8, with: encodeU32(UInt32(offset)))
                    keptNeed.fileOffset = UInt32(offset)
                    log.append(".gnu.version_r: \(need.file) renamed")
                }
                kept.append(positions[index])
                keptNeeds.append(keptNeed)
            }
            if kept.count != needs.count {
                // The kept entries are written again from the table's start, each followed
                // by its auxiliary entries, and the rest is zeroed: DT_VERNEED stays, and
                // the section header can describe exactly the new table.
                let table = try encodeVersionNeeds(keptNeeds)
                guard table.count <= blob.count else {
                    throw EditError.refused(".gnu.version_r: the kept entries need 0x\(hex(table.count)) bytes, the table has 0x\(hex(blob.count))")
                }
                blob = table + [UInt8](repeating: 0, count: blob.count - table.count)
                verneedCount = kept.count
                verneedSize = UInt64(table.count)
            }
            if blob != (try original(.versionNeeds)) { contents[.versionNeeds] = blob }
        }

        let cleared = outcome.clearedSymbolNames
        // Without section headers or a hash table that counts the dynamic symbols, the end of
        // .gnu.version is unknown: guessing could clear bytes of the table after it.
        if !removedIndices.isEmpty || !cleared.isEmpty, dynamic.has(.versym), catalog.object(.versionSymbols) == nil {
            throw EditError.refused("cannot change symbol versions: the number of dynamic symbols is unknown (no section headers, and no hash table that counts them)")
        }
        if !removedIndices.isEmpty || !cleared.isEmpty, catalog.object(.versionSymbols) != nil {
            var versions = try original(.versionSymbols)
            let names = cleared.isEmpty ? [] : try symbolNames(dynamic: dynamic)
            let decoder = ByteDecoder(versions, format: format, baseOffset: 0)
            var clearedCount = 0
            for index in 0 ..< versions.count / 2 {
                let value: UInt16 = try decoder.getInteger(at: index * 2)
                let byName = index < names.count && cleared.contains(names[index])
                if (removedIndices.contains(value & 0x7fff) && value & 0x7fff > 1) || byName {
                    versions.replaceSubrange(index * 2 ..< index * 2 + 2, with: encodeU16(1))
                    clearedCount += 1
                }
            }
            if clearedCount > 0 {
                contents[.versionSymbols] = versions
                log.append(".gnu.version: \(clearedCount) symbol versions cleared")
            }
        }
    }

    /// `Elf_Verneed` entries laid out one after the other, each followed by its
    /// `Elf_Vernaux` entries, linked by relative offsets.
    private func encodeVersionNeeds(_ needs: [VersionNeed]) throws -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        for (number, need) in needs.enumerated() {
            guard need.requirements.count < 0x1_0000 else { throw EditError.refused(".gnu.version_r: too many requirements") }
            let size = 16 + 16 * need.requirements.count
            encoder.writeU16(need.version)
            encoder.writeU16(UInt16(need.requirements.count))
            encoder.writeU32(need.fileOffset)
            encoder.writeU32(need.requirements.isEmpty ? 0 : 16)
            encoder.writeU32(number + 1 < needs.count ? UInt32(size) : 0)
            for (position, requirement) in need.requirements.enumerated() {
                encoder.writeU32(requirement.hash)
                encoder.writeU16(requirement.flags)
                encoder.writeU16(requirement.index)
                encoder.writeU32(requirement.nameOffset)
                encoder.writeU32(position + 1 < need.requirements.count ? 16 : 0)
            }
        }
        return encoder.bytes
    }

    private func encodeU32(_ value: UInt32) -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        encoder.writeU32(value)
        return encoder.bytes
    }

    private func encodeU16(_ value: UInt16) -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        encoder.writeU16(value)
        return encoder.bytes
    }

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
        // It ends the file, or only the section header table (moved there by swelf) follows it.
        let tableBytes = UInt64(sectionHeaders.count) * format.sectionHeaderSize
        let tableFollows = header.sectionHeaderOffset >= lastEnd && header.sectionHeaderOffset - lastEnd < 16
            && header.sectionHeaderOffset + tableBytes == file.source.size
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
        guard !mustMove.isEmpty || needStack else { return }
        ownSegmentIndices = mustMove.isEmpty ? [] : findOwnSegments()
        if let first = ownSegmentIndices.first {
            for own in ownSegmentIndices {
                let segment = programHeaders[own]
                for object in catalog.objects where object.offset >= segment.offset && object.fileEnd <= segment.fileEnd! {
                    mustMove.insert(object.kind)
                }
            }
            let start = programHeaders[first].offset
            log.append("rebuilding the \(ownSegmentIndices.count == 1 ? "segment" : "segments") an earlier swelf run appended at offset 0x\(hex(start))")
            if !sectionHeaders.isEmpty && header.sectionHeaderOffset >= start { relocateSectionTable = true }
        }
        // Program headers to add, and room for them after the table.
        var roomMoves: Set<FileObject.Kind> = []
        for _ in 0 ..< 3 {
            var added = needStack ? 1 : 0
            added += max(0, segmentCount(for: mustMove.union(roomMoves)) - ownSegmentIndices.count)
            let nullSlots = programHeaders.filter { $0.type == .null }.count
            let required = max(0, added - nullSlots)
            let moves = try objectsInTheWay(ofEntries: required)
            if moves == roomMoves { break }
            roomMoves = moves
        }
        // When tables move out of the way anyway, make room for one more program header and
        // keep a PT_NULL there: a later edit that moves .dynamic needs a second segment, and
        // without section headers it could not prove the space after the table free. This
        // may move one or two more small tables, never the section header table.
        if !roomMoves.isEmpty && dynamicIsWritable && segmentCount(for: mustMove.union(roomMoves)) < 2 {
            var trial = self
            let added = (needStack ? 1 : 0) + max(0, segmentCount(for: mustMove.union(roomMoves)) - ownSegmentIndices.count)
            let required = max(0, added - programHeaders.filter { $0.type == .null }.count)
            if let moves = try? trial.objectsInTheWay(ofEntries: required + 1), moves.isSuperset(of: roomMoves),
               !moves.contains(.dynamic), trial.relocateSectionTable == relocateSectionTable {
                spareProgramHeader = true
                roomMoves = moves
            }
        }
        if !roomMoves.isEmpty {
            log.append("making room for program headers by moving " + roomMoves.map(\.description).sorted().joined(separator: ", "))
        }
        if roomMoves.contains(.dynamic) && relocatesItself {
            throw EditError.refused("cannot make room for a program header: .dynamic follows the program header table, and \(Self.selfRelocationReason)")
        }
        mustMove.formUnion(roomMoves)
        if mustMove.contains(.dynamic) && dynamicCapacity == 0, let dynamic = try file.dynamic() {
            dynamicCapacity = dynamic.capacity
        }
        guard !mustMove.isEmpty else { return }
        try placeMovedObjects(pageSize: pageSize)
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
            throw EditError.refused(".dynamic has \(dynamic.capacity) slots and the edit needs \(dynamicCapacity - LayoutPlanner.spareDynamicSlots); \(Self.selfRelocationReason)")
        }
        let hadRunPath = dynamic.has(.runpath) || dynamic.has(.rpath)
        if file.isStaticPIE && !hadRunPath && entries.contains(where: { $0.tag == .runpath || $0.tag == .rpath }) {
            throw EditError.refused("a static PIE cannot have DT_RUNPATH or DT_RPATH: glibc's start-up code asserts that it has none, and the program would die before main")
        }
    }

    /// The objects that must move so `count` more program headers fit after the table.
    private mutating func objectsInTheWay(ofEntries count: Int) throws -> Set<FileObject.Kind> {
        guard count > 0 else { return [] }
        let tableStart = header.programHeaderOffset
        let tableEnd = tableStart + UInt64(programHeaders.count) * format.programHeaderSize
        let needed = tableEnd + UInt64(count) * format.programHeaderSize
        guard let container = programHeaders.first(where: {
            $0.type == .load && $0.offset <= tableStart && ($0.fileEnd ?? 0) >= tableEnd
        }) else {
            throw EditError.refused("the program header table is not inside a PT_LOAD; cannot add program headers")
        }
        guard needed <= container.fileEnd! else {
            throw EditError.refused("no room for \(count) more program header(s) in the first segment")
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
                throw EditError.refused("cannot make room for \(count) more program header(s): the bytes at 0x\(hex(cursor)) after the program header table belong to nothing swelf can move")
            }
            if next.offset >= needed { break }
            moves.insert(next.kind)
            cursor = max(cursor, next.fileEnd)
        }
        // With section headers, no other allocated section may sit in the space taken.
        for section in sectionHeaders where section.flags.contains(.alloc) && section.hasFileData && section.size > 0 {
            guard let end = section.fileEnd else {
                throw EditError.refused("section at offset 0x\(hex(section.offset)) has a size that overflows")
            }
            guard section.offset < needed && end > tableEnd else { continue }
            let covered = objects.contains { moves.contains($0.kind) && $0.offset <= section.offset && $0.fileEnd >= end }
            if !covered {
                throw EditError.refused("cannot make room for program headers: section at offset 0x\(hex(section.offset)) follows the table and cannot be moved")
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
            guard let end = segment.memoryEnd else { throw EditError.refused("a PT_LOAD's memory range overflows") }
            highest = max(highest, end)
        }
        let start: UInt64
        if let first = ownSegmentIndices.first {
            start = programHeaders[first].offset
        } else {
            start = try Checked.alignUp(file.source.size, to: 16, "new segment offset")
        }
        let writable: [FileObject.Kind] = mustMove.contains(.dynamic) && dynamicIsWritable ? [.dynamic] : []
        let readOnly = mustMove.filter { !writable.contains($0) }.sorted {
            (catalog.object($0)?.offset ?? 0, $0.description) < (catalog.object($1)?.offset ?? 0, $1.description)
        }
        let groups: [([FileObject.Kind], SegmentFlags)] = [(readOnly, [.read]), (writable, [.read, .write])]
        var content: [UInt8] = []
        var segments: [ProgramHeader] = []
        var memoryEnd = highest
        for (kinds, flags) in groups where !kinds.isEmpty {
            content += [UInt8](repeating: 0, count: (16 - content.count % 16) % 16)
            let offset = try Checked.add(start, UInt64(content.count), "new segment offset")
            let address = try Checked.add(try Checked.alignUp(memoryEnd, to: pageSize, "new segment address"),
                                          offset % pageSize, "new segment address")
            let segmentStart = content.count
            content += LayoutPlanner.appendedSegmentMark
            for kind in kinds {
                guard let object = catalog.object(kind) else { continue }
                let bytes: [UInt8]
                if kind == .dynamic {
                    bytes = [UInt8](repeating: 0, count: dynamicCapacity * Int(format.dynamicEntrySize))
                } else {
                    bytes = try contents[kind] ?? original(kind)
                }
                // Segments start 16-aligned in the file and congruent in memory, so padding
                // within the content aligns both (object alignments are at most 16).
                let alignment = max(object.alignment, 1)
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
                        value = placed.address &+ (value &- old.address)
                    } else if value == old.address {
                        value = placed.address
                    }
                }
            }
            resolved.append(DynamicEntry(tag: planned.tag, value: value))
        }
        var encoder = ByteEncoder(format: format)
        for entry in resolved { try entry.encode(into: &encoder) }
        let used = (resolved.count + 1) * Int(entrySize)
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
        if spareProgramHeader {
            headers.append(ProgramHeader(type: .null, flags: [], offset: 0, virtualAddress: 0, physicalAddress: 0,
                                         fileSize: 0, memorySize: 0, alignment: 0))
        }
        let tableSize = UInt64(headers.count) * format.programHeaderSize
        for index in headers.indices where headers[index].type == .phdr {
            headers[index].fileSize = tableSize
            headers[index].memorySize = tableSize
        }
        guard headers.count < Int(FileHeader.extendedNumbering) else {
            throw EditError.refused("too many program headers")
        }
        header.programHeaderCount = UInt16(headers.count)
        programHeaders = headers
    }

    mutating func updateSectionHeaders() {
        for (index, section) in file.sectionHeaders.enumerated()
        where section.flags.contains(.alloc) && section.hasFileData {
            guard let end = Checked.fits(start: section.offset, length: section.size, within: UInt64.max) ? section.offset + section.size : nil,
                  let (old, placed) = movedObject(holding: section.offset, end: end, emptyAtStartOnly: section.size == 0),
                  section.address &- old.address == section.offset - old.offset
            else { continue }
            let delta = section.offset - old.offset
            sectionHeaders[index].offset = placed.offset + delta
            sectionHeaders[index].address = placed.address + delta
            if delta == 0 && (old.kind == .interpreter || old.kind == .dynamic || old.kind == .dynamicStrings) {
                sectionHeaders[index].size = placed.size
            }
        }
        updateVersionNeedSection()
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
    private mutating func updateVersionNeedSection() {
        guard let count = verneedCount, let size = verneedSize, let old = catalog.object(.versionNeeds) else { return }
        var retired: [(SectionType, UInt64)] = []
        for index in sectionHeaders.indices
        where file.sectionHeaders[index].type == .gnuVerneed && file.sectionHeaders[index].address == old.address {
            sectionHeaders[index].info = UInt32(count)
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
        if relocateSectionTable {
            let end = newSegment.map { $0.offset + UInt64(segmentContent.count) } ?? file.source.size
            trailerOffset = try Checked.alignUp(end, to: 8, "section header table offset")
            header.sectionHeaderOffset = trailerOffset
            var sections = ByteEncoder(format: format)
            for section in sectionHeaders { try section.encode(into: &sections) }
            trailer = sections.bytes
            plan.log.append("section header table moved to offset 0x\(hex(trailerOffset))")
        }
        try patch(0, header.encode())
        var encoder = ByteEncoder(format: format)
        for segment in programHeaders { try segment.encode(into: &encoder) }
        try patch(header.programHeaderOffset, encoder.bytes)
        if !sectionHeaders.isEmpty && !relocateSectionTable {
            var sections = ByteEncoder(format: format)
            for section in sectionHeaders { try section.encode(into: &sections) }
            try patch(header.sectionHeaderOffset, sections.bytes)
        }
        for (kind, bytes) in contents where placements[kind] == nil {
            guard let object = catalog.object(kind) else { continue }
            try patch(object.offset, bytes)
        }
        for extra in extraPatches { try patch(extra.offset, extra.bytes) }
        plan.patches = patches.sorted { $0.offset < $1.offset }
        // Patches must not overlap: two changes to the same bytes mean a planning bug.
        for (a, b) in zip(plan.patches, plan.patches.dropFirst()) where a.offset + UInt64(a.bytes.count) > b.offset {
            throw EditError.refused("internal: overlapping changes at offsets 0x\(hex(a.offset)) and 0x\(hex(b.offset))")
        }
        if let segment = newSegment {
            if !ownSegmentIndices.isEmpty { plan.keptPrefix = segment.offset }
            plan.appendOffset = segment.offset
            plan.appended = segmentContent
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
            throw EditError.refused("internal: a change lies inside the segment being rebuilt")
        }
        return plan
    }
}

/// Who uses a `.dynstr` offset.
private struct StringReference {
    enum Owner: Equatable { case entry(Int), symbol, version }
    var offset: UInt64
    var owner: Owner
}

/// `.dynstr` under construction: the original bytes (some strings possibly overwritten in
/// place) followed by appended strings.
struct StringTableBuilder {
    let original: [UInt8]
    private(set) var bytes: [UInt8]
    private var appendedOffsets: [[UInt8]: UInt64] = [:]

    init(original: [UInt8]) {
        self.original = original
        bytes = original
    }

    private var truncatedOriginalCount: Int?
    var appendedCount: Int { bytes.count - (truncatedOriginalCount ?? original.count) }
    /// The table must be relocated: it has new strings or lost a tail.
    var needsRelocation: Bool { truncatedOriginalCount != nil || bytes.count > original.count }

    /// Offset of an existing string equal to `value`, or of a longer string ending in it
    /// (linkers share suffixes the same way).
    func find(_ value: [UInt8]) -> UInt64? {
        if let offset = appendedOffsets[value] { return offset }
        return occurrences(of: value, limit: 1).first
    }

    /// Offsets where `value` followed by a NUL occurs.
    func occurrences(of value: [UInt8], limit: Int = .max) -> [UInt64] {
        var found: [UInt64] = []
        var terminator = bytes.startIndex
        while found.count < limit, let nul = bytes[terminator...].firstIndex(of: 0) {
            let start = nul - value.count
            if start >= 0, bytes[start ..< nul].elementsEqual(value) { found.append(UInt64(start)) }
            terminator = nul + 1
        }
        return found
    }

    /// Length (without NUL) of the string at `offset` in the current bytes.
    func length(at offset: UInt64) -> UInt64? {
        guard offset < UInt64(bytes.count), let nul = bytes[Int(offset)...].firstIndex(of: 0) else { return nil }
        return UInt64(nul) - offset
    }

    mutating func overwrite(at offset: UInt64, with value: [UInt8], oldLength: UInt64) {
        let start = Int(offset)
        bytes.replaceSubrange(start ..< start + Int(oldLength) + 1,
                              with: value + [UInt8](repeating: 0, count: Int(oldLength) + 1 - value.count))
    }

    /// Drops everything from `offset` on; only before anything is appended.
    mutating func truncate(to offset: UInt64) {
        bytes.removeSubrange(Int(offset)...)
        truncatedOriginalCount = Int(offset)
    }

    mutating func append(_ value: [UInt8]) -> UInt64 {
        if let offset = appendedOffsets[value] { return offset }
        let offset = UInt64(bytes.count)
        bytes += value + [0]
        appendedOffsets[value] = offset
        return offset
    }
}
