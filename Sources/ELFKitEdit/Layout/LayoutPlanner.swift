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
        self.pageSize = pageSize ?? Self.segmentAlignment(of: file)
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
    static func segmentAlignment(of file: ELFFile) -> UInt64 {
        let aligns = file.programHeaders.filter { $0.type == .load && $0.alignment.nonzeroBitCount == 1 }.map(\.alignment)
        guard let largest = aligns.max() else { return file.header.machine.maximumPageSize }
        return max(largest, 0x1000)
    }

    private func makePlan(log: inout [String]) throws -> RewritePlan {
        var work = PlanState(file: file, catalog: catalog, outcome: outcome)
        defer { log = work.log }
        if let abi = outcome.osABI {
            work.header.osABI = abi
            work.log.append("EI_OSABI set to \(abi.rawValue)")
        }
        try work.dropResolutionCache()
        work.addResolutionCache()
        try work.placeStrings()
        try work.editVersionTables()
        try work.renameSymbols()
        try work.editInterpreter()
        try work.sizeDynamicSection()
        try work.decideSegment(pageSize: pageSize)
        try work.resolveDynamicEntries()
        try work.updateProgramHeaders(pageSize: pageSize)
        work.updateInterpreterHeader()
        try work.updateSectionHeaders()
        try work.addResolutionCacheSection()
        try work.updateStaticSymbolValues()
        try work.encodeHeaderCounts()
        let plan = try work.emit()
        work.log = plan.log
        return plan
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
    /// The file has no PT_DYNAMIC, only a `.dynamic` section header (what patchelf edits):
    /// an edit of its entries adds the PT_DYNAMIC without which the loader never reads them.
    var addDynamicHeader = false
    /// No room after the program header table: it moves to the start of the read-only
    /// appended segment (see `SegmentPlacement.relocatedTableSegment`), with room for this
    /// many entries.
    var relocatedTableEntries: Int?
    /// Where the moved program header table went.
    var tablePlacement: (offset: UInt64, address: UInt64)?
    /// The section header table ended the original file and a segment is appended: a
    /// changed table is written after it (`emit`).
    var sectionTableEndedFile = false
    /// The section-name table with a new name appended; written before the relocated
    /// section header table.
    var newSectionNames: [UInt8]?
    /// PT_NOTE objects of a dropped resolution cache note: never moved.
    var droppedNoteKinds: Set<FileObject.Kind> = []
    /// The bytes of a dropped resolution cache note, zeroed where they stay in the file.
    var zeroedRange: (offset: UInt64, size: UInt64)?

    var renamedFileOffsets: [[UInt8]: UInt64] = [:]
    /// `.dynstr` offsets of new symbol names.
    var symbolNameOffsets: [[UInt8]: UInt64] = [:]
    /// Changes outside the movable objects (relocation entries), already encoded.
    var extraPatches: [RewritePlan.Patch] = []

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
        guard let object = catalog.object(kind) else { throw EditError.refused(EditRefusal(.internalError, "\(kind) not found")) }
        return try file.source.bytes(at: object.offset, count: object.size, kind.description)
    }
}
