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
package struct LayoutPlanner {
    let file: ELFFile
    let catalog: FileObjectCatalog
    let outcome: EditOutcome
    let pageSize: UInt64
    /// The file is the image of a longer file whose overlay will follow it: a section
    /// header table that ended the image is written after the appended segments, so that
    /// it ends the new image (AppImage's runtime finds its squashfs at the end of the
    /// section header table or of the last section, whichever is later).
    package var sectionTableLast = false

    /// Spare DT_NULL slots given to a relocated dynamic section, so that later
    /// additions fit in place.
    static let spareDynamicSlots = 4

    /// The first bytes of every PT_LOAD swelf appends: "swelf appended" and two NULs.
    /// Only a segment whose file bytes start with it (and which ends the file) is
    /// recognised as swelf's own and rebuilt by a later edit.
    package static let appendedSegmentMark: [UInt8] = Array("swelf appended".utf8) + [0, 0]

    package init(file: ELFFile, outcome: EditOutcome, pageSize: UInt64? = nil) throws(EditError) {
        self.file = file
        self.outcome = outcome
        self.pageSize = Self.segmentAlignment(of: file, requested: pageSize)
        do { catalog = try FileObjectCatalog(file: file) } catch { throw .format(error) }
    }

    package func plan() throws(EditError) -> RewritePlan {
        var log: [String] = []
        return try plan(log: &log)
    }

    /// `plan()`, with the decisions made so far in `log` even when it then refuses the edit
    /// (`--debug` shows why).
    package func plan(log: inout [String]) throws(EditError) -> RewritePlan {
        do { return try makePlan(log: &log) } catch let error as ELFError { throw .format(error) } catch let error as EditError { throw error } catch {
            throw .refused(EditRefusal(.internalError, "\(error)"))
        }
    }

    /// The alignment of a new PT_LOAD: the largest p_align of the file's PT_LOADs, as the
    /// linker chose it (`-z max-page-size`), and at least 4 KiB, the smallest page any of
    /// the architectures has; the architecture's largest page size when no PT_LOAD has a
    /// usable p_align.
    ///
    /// `requested` (`--page-size`) can raise it, never lower it: a file linked for 16 KiB or
    /// 64 KiB pages loads on kernels with those pages only while every PT_LOAD is congruent
    /// modulo that size (Android refuses a 16 KiB library to which patchelf added a 4 KiB
    /// aligned segment). A larger alignment costs no file bytes here: new
    /// segments start where the file ends and only their addresses are aligned.
    static func segmentAlignment(of file: ELFFile, requested: UInt64? = nil) -> UInt64 {
        let aligns = file.programHeaders.filter { $0.type == .load && $0.alignment.nonzeroBitCount == 1 }.map(\.alignment)
        guard let largest = aligns.max() else { return requested ?? file.header.machine.maximumPageSize }
        return max(largest, requested ?? 0x1000)
    }

    /// The steps, in order. Each takes the values it needs, as the steps before it
    /// produced them, and returns what it produced; `log` collects the decisions for
    /// `--debug` (and keeps them when a step refuses the edit).
    private func makePlan(log: inout [String]) throws -> RewritePlan {
        let input = PlanInput(file: file, catalog: catalog, outcome: outcome, pageSize: pageSize, sectionTableLast: sectionTableLast)
        log = outcome.log
        var tables = HeaderTables(file: file)
        if let abi = outcome.osABI {
            tables.header.osABI = abi
            log.append("EI_OSABI set to \(abi.rawValue)")
        }
        // 1. A stale resolution cache note gives back its program-header slots first.
        let staleCache = input.dropResolutionCache(tables, log: &log)
        tables = staleCache.tables

        // 2. The new contents of each changed table, and which of them must move.
        let strings = try input.placeStrings(log: &log)
        let versions = try input.editVersionTables(renamedFileOffsets: strings.renamedFileOffsets, log: &log)
        let symbols = try input.renameSymbols(symbolNameOffsets: strings.symbolNameOffsets, versionSymbols: versions.symbols,
                                              log: &log)
        let interpreter = input.editInterpreter(log: &log)
        let dynamic = try input.sizeDynamicSection(droppedTags: versions.droppedTags, log: &log)
        var edits = TableEdits(resolutionCache: outcome.resolutionCacheNote, strings: strings, versions: versions,
                               symbols: symbols, interpreter: interpreter, dynamic: dynamic)

        // 3. Where the moved tables go: the appended segments, and room for their headers.
        var layout = try input.placeSegments(edits, dynamic: dynamic, tables: tables,
                                             droppedNoteKinds: staleCache.droppedNoteKinds, log: &log)

        // 4. The dynamic entries, now that every address is final, in .dynamic's place.
        if let entries = try input.resolveDynamicEntries(strings: strings, versions: versions, edits: edits, layout: layout) {
            try input.store(dynamicEntries: entries, in: &edits, &layout)
        }

        // 5. Headers: program headers, section headers, symbol values, counts.
        tables = try input.updateProgramHeaders(tables, layout: layout, addDynamicHeader: dynamic.addsHeader, log: &log)
        tables.programHeaders = input.interpreterHeaderFollowing(layout.placements, in: tables.programHeaders)
        tables.sectionHeaders = try input.updateSectionHeaders(tables.sectionHeaders, placements: layout.placements,
                                                               versions: versions, log: &log)
        (tables.sectionHeaders, layout.sectionTable) = try input.addResolutionCacheSection(
            tables.sectionHeaders, sectionTable: layout.sectionTable, placements: layout.placements)
        let symbolPatches = try input.updateStaticSymbolValues(sectionHeaders: tables.sectionHeaders,
                                                               placements: layout.placements, log: &log)
        tables = try input.encodeHeaderCounts(tables, log: &log)

        // 6. The plan: patches inside the original, bytes after it.
        let decided = DecidedLayout(tables: tables, contents: edits.contents, segments: layout,
                                    zeroedRange: staleCache.zeroedRange,
                                    extraPatches: symbols.relocationPatches + symbolPatches)
        let plan = try input.emit(decided, log: log)
        log = plan.log
        return plan
    }
}

/// What every planning step reads and none changes: the file, its movable objects, what
/// the edit means for it, and the page size of new segments.
struct PlanInput {
    let file: ELFFile
    let catalog: FileObjectCatalog
    let outcome: EditOutcome
    let pageSize: UInt64
    /// See `LayoutPlanner.sectionTableLast`.
    var sectionTableLast = false
    var format: ELFFormat { file.format }

    /// The original bytes of `kind`.
    func original(_ kind: FileObject.Kind) throws -> [UInt8] {
        guard let object = catalog.object(kind) else { throw EditError.refused(EditRefusal(.internalError, "\(kind) not found")) }
        return try file.source.bytes(at: object.offset, count: object.size, kind.description)
    }

    /// Where `kind` is in the edited file: where it was placed, else where it was.
    func location(_ kind: FileObject.Kind, placements: [FileObject.Kind: FileObject]) -> FileObject? {
        placements[kind] ?? catalog.object(kind)
    }
}

/// The ELF header and the two header tables, as the steps edit them.
struct HeaderTables {
    var header: FileHeader
    var programHeaders: [ProgramHeader]
    var sectionHeaders: [SectionHeader]

    init(file: ELFFile) {
        header = file.header
        programHeaders = file.programHeaders
        sectionHeaders = file.sectionHeaders
    }
}
