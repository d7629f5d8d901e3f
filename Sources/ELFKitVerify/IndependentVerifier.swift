import ELFKitCore

/// One thing the verifier found wrong with an edited file.
public struct VerificationProblem: Hashable, Sendable, CustomStringConvertible {
    /// The comparison that found the problem.
    public enum Check: String, Sendable {
        /// The ELF header changed beyond the edit, the program header table moved where
        /// AT_PHDR would not find it, the section header count changed, or a file could
        /// not be read at all.
        case header
        /// The program headers: an original PT_LOAD changed or disappeared, the other
        /// headers changed type or order, PT_INTERP or a note segment reads differently.
        case segments
        /// A byte of the original's loaded image changed or is no longer mapped, or a byte
        /// no header, segment or section covers is neither the original's nor zero.
        case image
        /// Memory that was read-only became writable or executable, or a new PT_LOAD is
        /// executable.
        case permissions
        /// A new PT_LOAD is out of address order, outside the file, not congruent modulo
        /// `p_align`, or shares pages with another PT_LOAD; an original PT_LOAD's `p_align`
        /// went down, or a new one's is below the original's largest.
        case mapping
        /// The dynamic entries are not the original's changed as requested (strings by
        /// value, tables by content), or the edited file's tables cannot be read.
        case dynamic
        /// `.dynsym` does not hold the original's symbols (renamed as requested), or
        /// symbol 0 is no longer the null symbol.
        case symbols
        /// `.gnu.version_r` or `.gnu.version_d` says something other than expected.
        case versions
        /// A `DT_HASH` or `DT_GNU_HASH` table changed or no longer finds a symbol.
        case hashTables
        /// A dynamic relocation no longer applies at the same place, with the same type,
        /// to a symbol of the same (possibly renamed) name.
        case relocations
        /// A section header no longer describes its content at its new place, or a
        /// `.symtab` value does not follow its moved section.
        case sections
        /// The resolution cache note (`.note.nixos.ldcache`) is wrong: missing, stale,
        /// badly placed, or left behind after it was dropped.
        case notes
        /// The bytes after the original ELF image (an overlay) are not the edited file's
        /// tail byte for byte, a deno trailer's offsets were not moved with them, or
        /// AppImage's image-end rule no longer finds them (`--overlay keep-offset`: they
        /// moved, or new content overlaps them).
        case overlay
    }
    /// Which comparison failed.
    public let check: Check
    /// The problem for people, naming the offset, address or table and the values.
    public let message: String

    package init(_ check: Check, _ message: String) {
        self.check = check
        self.message = message
    }

    /// The ``message``.
    public var description: String { message }
}

/// Proves that an edited file says what the original said, changed exactly as requested.
///
/// It judges the edited image from two things only: the original file and the request.
/// It never sees the plan, the planner's catalog of tables or the editor's functions, and
/// reads both files through the reader alone; where it needs to know something the files
/// do not state (how many dynamic symbols, how long a version table is) it works it out
/// on its own (`TableMap`). What it compares:
/// - the loaded image: every byte the original maps is unchanged at its address, unless
///   it belongs to a table the edit may rewrite or move (`checkImage`);
/// - permissions and mapping: nothing read-only becomes writable or executable, PT_LOADs
///   ascend, do not overlap and are congruent (`checkPermissions`, `checkMapping`);
/// - the headers, the dynamic entries (strings by value, tables by content), symbols,
///   versions, hash lookups, relocations, section headers and `.symtab`;
/// - the bytes nothing describes (no header, segment or section covers them): each is the
///   original's byte at that offset, or zero (`UnaccountedBytesCheck`);
/// - the bytes after the original image (an overlay): the edited file's tail, byte for
///   byte, found where its format looks for it (`OverlayCheck`).
public struct IndependentVerifier {
    let original: ELFFile
    let edited: ELFFile
    let request: EditRequest
    let probe: any VerifierPathProbe

    /// The first 16 bytes of every PT_LOAD swelf appends: how a later run recognises the
    /// segment as its own (and only then may drop and rebuild it).
    public static let appendedSegmentMark: [UInt8] = Array("swelf appended\0\0".utf8)

    /// A verifier of `edited` as the result of `request` on `original`: what `Rewriter`
    /// runs on every file it writes, and what judges a file another tool edited (give it
    /// the request that tool was asked to carry out).
    /// - Parameters:
    ///   - original: the file before the edit.
    ///   - edited: the file after it.
    ///   - request: the changes that were asked for.
    public init(original: ELFFile, edited: ELFFile, request: EditRequest) {
        self.init(original: original, edited: edited, request: request, probe: AccessPathProbe())
    }

    /// `probe` answers the access(2) questions of `--build-resolution-cache`.
    package init(original: ELFFile, edited: ELFFile, request: EditRequest, probe: any VerifierPathProbe) {
        self.original = original
        self.edited = edited
        self.request = request
        self.probe = probe
    }

    /// Runs every comparison of the edited file against the original and the request.
    ///
    /// - Returns: The problems found, grouped by comparison; empty when the edited file
    ///   says what the original said, changed exactly as requested. A file that cannot
    ///   be read gives one problem instead of a throw.
    public func problems() -> [VerificationProblem] {
        var problems: [VerificationProblem] = []
        do {
            let oldTables = try TableMap(file: original)
            let newTables: TableMap
            do { newTables = try TableMap(file: edited, symbolCount: oldTables.symbolCount) } catch {
                return [VerificationProblem(.dynamic, "the edited file's tables cannot be read: \(error)")]
            }
            let expected = try original.dynamic().map { try ExpectedDynamic(original: original, dynamic: $0, request: request) }
            let context = Context(original: original, edited: edited, request: request, expected: expected,
                                  oldTables: oldTables, newTables: newTables,
                                  oldMap: MemoryMap(file: original), newMap: MemoryMap(file: edited),
                                  resolutionCache: try ResolutionCacheExpectation(original: original, edited: edited,
                                                                                  request: request, probe: probe))
            checkHeader(context, &problems)
            try checkProgramHeaders(context, &problems)
            try ImageCheck(context: context).run(&problems)
            try DynamicCheck(context: context).run(&problems)
            try SectionCheck(context: context).run(&problems)
            try ResolutionCacheCheck(context: context).run(&problems)
            try UnaccountedBytesCheck(context: context).run(&problems)
            try OverlayCheck(context: context).run(&problems)
            try PyInstallerWindowCheck(context: context).run(&problems)
        } catch {
            problems.append(VerificationProblem(.header, "verification could not read a file: \(error)"))
        }
        return problems
    }

    /// Everything the checks share.
    struct Context {
        let original: ELFFile
        let edited: ELFFile
        let request: EditRequest
        /// What the dynamic section must say; nil when the original has none.
        let expected: ExpectedDynamic?
        let oldTables: TableMap
        let newTables: TableMap
        let oldMap: MemoryMap
        let newMap: MemoryMap
        let resolutionCache: ResolutionCacheExpectation
        /// The original's dynamic symbols, read once for the checks that need them.
        let originalSymbols = OriginalSymbols()

        /// The edited file's section count: one fewer when a dropped note's header was
        /// the last (else it is an SHT_NULL header), one more for a new note.
        var expectedSectionCounts: Set<Int> {
            var counts: Set<Int> = [original.sectionHeaders.count]
            if resolutionCache.dropped, let index = resolutionCache.originalSection?.index, index == original.sectionHeaders.count - 1 {
                counts = [index]
            }
            if resolutionCache.isNew && !original.sectionHeaders.isEmpty { counts = Set(counts.map { $0 + 1 }) }
            return counts
        }

        /// The original's section index of a dropped note.
        var droppedSectionIndex: Int? { resolutionCache.dropped ? resolutionCache.originalSection?.index : nil }

        /// PT_NOTE and PT_LOAD headers that cover exactly a dropped note (original) or a
        /// new note (edited): they are the note's own, not the file's.
        func isOwnNoteHeader(_ segment: ProgramHeader, edited inEdited: Bool) -> Bool {
            guard segment.type == .note || segment.type == .load else { return false }
            let section: SectionHeader?
            if inEdited {
                guard resolutionCache.isNew else { return false }
                section = edited.section(named: ResolutionCacheNote.sectionName)?.header
            } else {
                guard resolutionCache.dropped else { return false }
                section = resolutionCache.originalSection?.header
            }
            guard let section, section.size > 0 else { return false }
            return segment.offset == section.offset && segment.fileSize == section.size
        }

        /// Original PT_LOADs that a swelf run appended (they start with the mark and end the
        /// loaded part of the file): the only existing segments an edit may replace.
        var ownOriginalSegments: [ProgramHeader] {
            original.programHeaders.filter { segment in
                guard segment.type == .load, segment.fileSize >= 16,
                      let mark = try? original.source.bytes(at: segment.offset, count: 16, "segment mark")
                else { return false }
                return mark == IndependentVerifier.appendedSegmentMark
            }
        }
    }

    /// The original's `SymbolList`, made by the first check that asks (OldBytes and
    /// DynamicCheck both read every symbol and its name; the same file read the same way
    /// gives the same list, and an error is thrown again to each asker until one succeeds).
    final class OriginalSymbols {
        private var list: SymbolList?

        func get(_ make: () throws -> SymbolList) throws -> SymbolList {
            if let list { return list }
            let made = try make()
            list = made
            return made
        }
    }

    // MARK: Headers

    private func checkHeader(_ context: Context, _ problems: inout [VerificationProblem]) {
        var expected = original.header
        expected.programHeaderCount = edited.header.programHeaderCount
        // e_shnum holds the count below SHN_LORESERVE (0xff00) sections and 0 from there on,
        // the count then in section 0's sh_size (the gABI's extended numbering): an edit that
        // adds or drops a section across the line changes the field's form, not its meaning.
        let rawCount = Int(edited.header.sectionHeaderCount)
        if context.expectedSectionCounts.contains(edited.sectionHeaders.count),
           rawCount == edited.sectionHeaders.count || (rawCount == 0 && edited.sectionHeaders.count >= 0xff00) {
            expected.sectionHeaderCount = edited.header.sectionHeaderCount
        }
        if original.header.sectionHeaderOffset != 0 { expected.sectionHeaderOffset = edited.header.sectionHeaderOffset }
        if let abi = request.osABI { expected.osABI = abi }
        if edited.header.programHeaderOffset != original.header.programHeaderOffset {
            // The table may move where the kernel still finds it: AT_PHDR is the first
            // PT_LOAD's load address plus e_phoff before Linux 5.18, the address of e_phoff
            // in the PT_LOAD holding it since; both agree only when that PT_LOAD has the
            // first one's p_vaddr - p_offset. (qemu-user's rules, and the same agreement
            // for every output, moved table or not: `LoaderViews`, in StructureVerifier.)
            let loads = edited.programHeaders.filter { $0.type == .load }
            let tableSize = UInt64(edited.programHeaders.count) * edited.format.programHeaderSize
            let holder = loads.first { load in
                load.offset <= edited.header.programHeaderOffset
                    && Checked.fits(start: edited.header.programHeaderOffset - load.offset, length: tableSize, within: load.fileSize)
            }
            if let first = loads.first, let holder,
               holder.virtualAddress &- holder.offset == first.virtualAddress &- first.offset {
                expected.programHeaderOffset = edited.header.programHeaderOffset
            } else {
                problems.append(VerificationProblem(.header, "the program header table moved to offset 0x\(hex(edited.header.programHeaderOffset)), where AT_PHDR would not find it"))
            }
        }
        if expected != edited.header {
            problems.append(VerificationProblem(.header, "the ELF header changed beyond the edit"))
        }
        if !context.expectedSectionCounts.contains(edited.sectionHeaders.count) {
            problems.append(VerificationProblem(.header, "the number of section headers changed from \(original.sectionHeaders.count) to \(edited.sectionHeaders.count)"))
        }
    }

    private func checkProgramHeaders(_ context: Context, _ problems: inout [VerificationProblem]) throws {
        func report(_ message: String) { problems.append(VerificationProblem(.segments, message)) }
        let own = context.ownOriginalSegments
        let newLoads = edited.programHeaders.filter { $0.type == .load }
        for load in original.programHeaders where load.type == .load && !own.contains(load) && !newLoads.contains(load)
            && !context.isOwnNoteHeader(load, edited: false) {
            report("the PT_LOAD at offset 0x\(hex(load.offset)), address 0x\(hex(load.virtualAddress)) changed or disappeared")
        }
        // Other headers keep their order; an edit adds PT_LOADs and at most a PT_GNU_STACK.
        let oldTypes = original.programHeaders.filter { !context.isOwnNoteHeader($0, edited: false) }
            .map(\.type).filter { $0 != .null && $0 != .load }
        var newTypes = edited.programHeaders.filter { !context.isOwnNoteHeader($0, edited: true) }
            .map(\.type).filter { $0 != .null && $0 != .load }
        if request.executableStack != nil, !oldTypes.contains(.gnuStack), let index = newTypes.lastIndex(of: .gnuStack) {
            newTypes.remove(at: index)
        }
        // A file whose .dynamic only a section header located gets the PT_DYNAMIC the loader
        // needs to read it (its entries are compared through it, DynamicCheck).
        if !oldTypes.contains(.dynamic), original.sectionHeaders.contains(where: { $0.type == .dynamic }),
           let index = newTypes.firstIndex(of: .dynamic) {
            newTypes.remove(at: index)
            if let added = headers(edited, .dynamic).first, try edited.dynamic()?.address != added.virtualAddress
                || !edited.sectionHeaders.contains(where: { $0.type == .dynamic && $0.address == added.virtualAddress && $0.size == added.fileSize }) {
                report("the added PT_DYNAMIC does not describe the .dynamic section")
            }
        }
        if oldTypes != newTypes {
            report("the program headers other than PT_LOAD changed: \(oldTypes.map(\.description)) became \(newTypes.map(\.description))")
            return
        }
        func headers(_ file: ELFFile, _ type: SegmentType) -> [ProgramHeader] {
            file.programHeaders.filter { $0.type == type && !context.isOwnNoteHeader($0, edited: file === edited) }
        }

        // The interpreter string.
        let expectedInterpreter = try request.interpreter ?? original.rawInterpreter()
        if try edited.rawInterpreter() != expectedInterpreter {
            report("PT_INTERP says '\(String(decoding: try edited.rawInterpreter() ?? [], as: UTF8.self))', expected '\(String(decoding: expectedInterpreter ?? [], as: UTF8.self))'")
        }
        // Notes, properties and processor segments read the same wherever they are now.
        for (old, new) in zip(headers(original, .note), headers(edited, .note)) {
            let same: Bool
            if let before = try? readNotes(original, old) {
                same = (try? readNotes(edited, new)) == before
            } else {
                // Notes that do not parse at the segment's alignment (a linker script can put a
                // 4-aligned note and an 8-aligned one in one PT_NOTE) are compared byte for byte.
                let before = try original.source.bytes(at: old.offset, count: old.fileSize, "PT_NOTE")
                let after = try edited.source.bytes(at: new.offset, count: new.fileSize, "PT_NOTE")
                same = before == after
            }
            if !same { report("the notes of the PT_NOTE at 0x\(hex(old.virtualAddress)) changed") }
        }
        for type in [SegmentType.gnuProperty, .mipsReginfo, .mipsABIFlags] where type == .gnuProperty || original.header.machine == .mips {
            for (old, new) in zip(headers(original, type), headers(edited, type)) {
                let before = try original.source.bytes(at: old.offset, count: old.fileSize, "\(type)")
                let after = try edited.source.bytes(at: new.offset, count: new.fileSize, "\(type)")
                if before != after || old.fileSize != new.fileSize || new.memorySize != old.memorySize {
                    report("the content of \(type) changed")
                }
            }
        }
        // The stack permission.
        let oldStack = headers(original, .gnuStack).first, newStack = headers(edited, .gnuStack).first
        if let wanted = request.executableStack {
            if newStack?.flags.contains(.execute) != wanted { report("PT_GNU_STACK does not say the requested stack permission") }
        } else if oldStack != newStack {
            report("PT_GNU_STACK changed")
        }
        // Headers no edit moves.
        let fixed: [SegmentType] = [.tls, .gnuRelRO, .gnuEHFrame, .armExidx, .shlib]
        for type in fixed where type != .armExidx || original.header.machine == .arm {
            // PT_GNU_RELRO may start past a moved .dynamic's old bytes (RelroShift).
            if type == .gnuRelRO && RelroShift.gaps(original: original, edited: edited) != nil { continue }
            if headers(original, type) != headers(edited, type) { report("\(type) changed") }
        }
        // PT_PHDR describes the table as it now is (if it described it before: a quirk the
        // input had is not the edit's doing).
        func describesTable(_ phdr: ProgramHeader, in file: ELFFile, _ map: MemoryMap) -> Bool {
            let tableSize = UInt64(file.programHeaders.count) * file.format.programHeaderSize
            let mappedAt = map.fileBacked(phdr.virtualAddress).map { $0.offset &+ (phdr.virtualAddress - $0.virtualAddress) }
            return phdr.offset == file.header.programHeaderOffset && phdr.fileSize == tableSize
                && phdr.memorySize == tableSize && mappedAt == phdr.offset
        }
        if headers(original, .phdr).allSatisfy({ describesTable($0, in: original, context.oldMap) }) {
            for phdr in headers(edited, .phdr) where !describesTable(phdr, in: edited, context.newMap) {
                report("PT_PHDR does not describe the program header table (offset 0x\(hex(phdr.offset)), size 0x\(hex(phdr.fileSize)))")
            }
        }
        // A file that relocates itself finds .dynamic through _DYNAMIC, its link-time address:
        // that address must stay.
        if let old = headers(original, .dynamic).first, try IndependentVerifier.relocatesItself(original),
           headers(edited, .dynamic).first?.virtualAddress != old.virtualAddress {
            report("PT_DYNAMIC moved in a file that relocates itself through _DYNAMIC (a static-pie or a dynamic loader)")
        }
    }

    /// No interpreter maps and relocates this file: it does so itself. That is a static-pie
    /// (marked DF_1_PIE) or a dynamic loader (it has an entry point and needs no library).
    /// A shared library without PT_INTERP is relocated by ld.so through PT_DYNAMIC instead.
    static func relocatesItself(_ file: ELFFile) throws -> Bool {
        guard file.firstSegment(.interp) == nil, let dynamic = try file.dynamic() else { return false }
        return dynamic.flags1.contains(.pie) || (!dynamic.has(.needed) && file.header.entry != 0)
    }

    private func readNotes(_ file: ELFFile, _ segment: ProgramHeader) throws -> [ELFNote] {
        let bytes = try file.source.bytes(at: segment.offset, count: segment.fileSize, "PT_NOTE")
        return try ELFNote.parseAll(bytes, format: file.format, baseOffset: 0, alignment: segment.alignment == 8 ? 8 : 4)
            .map { ELFNote(name: $0.name, type: $0.type, descriptor: $0.descriptor, fileOffset: 0) }
    }
}
