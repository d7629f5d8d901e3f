import ELFKitCore

/// One structural problem: what is wrong (`kind`), with which part of the file
/// (`subject`), and a line for people naming the offending values.
///
/// An edit is judged against the problems its input already had by `identity` alone:
/// the description carries offsets and sizes that an edit may shift, and a problem the
/// input had must not count as new because a table moved.
public struct StructureProblem: Hashable, Sendable, CustomStringConvertible {
    /// The invariant a problem breaks; the raw value is the case's name.
    public enum Kind: String, Hashable, Sendable {
        /// A segment's file range (`p_offset` + `p_filesz`) reaches past the end of the
        /// file or overflows; PT_GNU_STACK is not checked.
        case segmentOutsideFile
        /// A PT_LOAD's `p_filesz` exceeds its `p_memsz`.
        case loadFileSizeExceedsMemorySize
        /// A PT_LOAD's `p_align` is above 1 and not a power of two.
        case alignmentNotPowerOfTwo
        /// A PT_LOAD's `p_offset` and `p_vaddr` differ modulo `p_align`: `mmap` cannot map
        /// the file bytes at that address.
        case offsetAddressIncongruent
        /// A PT_LOAD's `p_vaddr` + `p_memsz` overflows the class's address space.
        case memoryRangeOverflows
        /// A PT_LOAD's `p_vaddr` is below the previous PT_LOAD's (the ELF specification
        /// wants them in ascending order, and loaders size the mapping from the first and last).
        case loadsNotSorted
        /// A PT_LOAD's memory range overlaps the previous PT_LOAD's.
        case loadsOverlap
        /// PT_PHDR's offset or size is not the program header table's (`e_phoff`,
        /// `e_phnum` × `e_phentsize`).
        case phdrDoesNotDescribeTable
        /// PT_PHDR's `p_vaddr` is not the AT_PHDR that kernels before 5.18 compute: the
        /// first PT_LOAD's `p_vaddr` − `p_offset` + `e_phoff` (glibc's ld.so takes the load
        /// bias to be AT_PHDR − PT_PHDR's `p_vaddr`).
        case phdrAddressDiffersFromKernel
        /// PT_PHDR's address and offset disagree with the PT_LOAD that holds it.
        case phdrDisagreesWithLoad
        /// The program header table PT_PHDR describes is inside no PT_LOAD's file image.
        case phdrTableNotLoaded
        /// Linux before 5.18, Linux 5.18 and later, and qemu-user before and since 8.2 would
        /// report different AT_PHDR values (see `LoaderViews`): the program would find its
        /// program headers under some loaders and not others.
        case phdrAddressRulesDisagree
        /// The AT_PHDR every loader reports is not the program header table in a PT_LOAD's
        /// file image: the program would read other bytes as its program headers.
        case phdrAddressNotTable
        /// PT_INTERP has a `p_filesz` of 0.
        case interpreterEmpty
        /// PT_INTERP's last byte is not NUL (the kernel refuses such a file).
        case interpreterNotTerminated
        /// The dynamic section cannot be read.
        case dynamicUnreadable
        /// PT_DYNAMIC's address and offset disagree with the PT_LOAD that holds it.
        case dynamicDisagreesWithLoad
        /// The dynamic section has DT_DEBUG but lies in a read-only PT_LOAD, and the loader
        /// writes DT_DEBUG at run time (not checked on MIPS, which keeps it elsewhere).
        case debugInReadOnlySegment
        /// PT_DYNAMIC is inside no PT_LOAD's file image.
        case dynamicNotLoaded
        /// A dynamic entry that holds an address (DT_STRTAB, DT_SYMTAB, the hash, version
        /// and relocation tables, the init and fini arrays and functions) points outside
        /// every PT_LOAD.
        case addressNotLoaded
        /// DT_STRTAB is inside no PT_LOAD's file image.
        case stringTableNotLoaded
        /// The dynamic string table (DT_STRTAB, DT_STRSZ bytes) does not end with NUL.
        case stringTableNotTerminated
        /// A dynamic entry that holds a string-table offset (DT_NEEDED, DT_SONAME,
        /// DT_RPATH, DT_RUNPATH, …) does not name a string in `.dynstr`.
        case badStringOffset
        /// `.gnu.version_r` names a library that no DT_NEEDED entry names (glibc asserts).
        case versionNeedNotNeeded
        /// The DT_NEEDED names, the version tables or the dynamic symbol table cannot be read.
        case symbolTablesUnreadable
        /// A section's file range reaches past the end of the file.
        case sectionOutsideFile
        /// An allocated section (SHF_ALLOC, with file data, not TLS) has an address inside
        /// no PT_LOAD.
        case sectionNotLoaded
        /// An allocated section's offset and address disagree with the PT_LOAD that holds it.
        case sectionDisagreesWithLoad
        /// Two allocated sections share file bytes (strip would then mangle the file).
        case sectionsOverlap
        /// An SHT_NOTE section does not parse as notes.
        case badNotes
        /// The `.dynamic` section header's offset or address is not PT_DYNAMIC's.
        case dynamicSectionHeaderMismatch
        /// The string table section `.dynsym` links to is not at DT_STRTAB's address.
        case dynamicSymbolStringTableMismatch
    }

    /// The part of the file a problem concerns, named so that an edit does not rename it:
    /// program headers by type and rank among that type (swelf appends headers, never
    /// reorders them), sections by index (their number never changes), dynamic entries by
    /// tag and rank among that tag.
    public enum Subject: Hashable, Sendable {
        /// A program header: its type and its rank (from 0) among the headers of that type.
        case programHeader(SegmentType, rank: Int)
        /// The program header table as a whole (what PT_PHDR describes).
        case programHeaderTable
        /// The dynamic section (PT_DYNAMIC) as a whole.
        case dynamicSection
        /// A dynamic entry: its tag and its rank (from 0) among the entries with that tag.
        case dynamicEntry(DynamicTag, rank: Int)
        /// The `.gnu.version_r` entry (`Elf_Verneed`) for the library `file` (`vn_file`).
        case versionNeed(file: String)
        /// A section, by its index in the section header table.
        case section(Int)
        /// Two sections, by index: the one at the lower file offset first.
        case sections(Int, Int)
    }

    /// What a problem is, without the values that an edit may shift: the key by which a
    /// new file's problems are compared with its input's.
    public struct Identity: Hashable, Sendable {
        /// The invariant broken.
        public let kind: Kind
        /// The part of the file that breaks it.
        public let subject: Subject
    }

    /// The invariant broken.
    public let kind: Kind
    /// The part of the file that breaks it.
    public let subject: Subject
    /// A line for people, naming the structure and the offending values (offsets and
    /// addresses in hex).
    public let description: String

    /// The ``kind`` and ``subject`` together, without the description.
    public var identity: Identity { Identity(kind: kind, subject: subject) }
}

/// Structural invariants every loadable ELF file must keep; `swelf verify` runs these on
/// any file, and every write runs them on the new image before it replaces the old one.
public struct StructureVerifier {
    let file: ELFFile
    /// The PT_LOAD entries, in file order; the checks ask for them per section and per entry.
    private let loads: [ProgramHeader]

    /// A verifier of `file`; nothing is checked until ``problems()``.
    ///
    /// - Parameter file: The file to check, as the reader opened it.
    public init(file: ELFFile) {
        self.file = file
        loads = file.loadSegments
    }

    /// Checks the program headers, then the dynamic section, then the section headers.
    ///
    /// - Returns: The problems found, each naming the structure and the offending value,
    ///   in that order; empty for a well-formed file. Nothing throws: a part that cannot
    ///   be read is itself a problem.
    public func problems() -> [StructureProblem] {
        var problems = Problems()
        checkSegments(&problems)
        checkDynamic(&problems)
        checkSections(&problems)
        return problems.list
    }

    struct Problems {
        var list: [StructureProblem] = []
        mutating func add(_ kind: StructureProblem.Kind, _ subject: StructureProblem.Subject, _ description: String) {
            list.append(StructureProblem(kind: kind, subject: subject, description: description))
        }
    }

    /// Program header `index` as a subject: its type and its rank among headers of that type.
    private func segmentSubject(_ index: Int) -> StructureProblem.Subject {
        let type = file.programHeaders[index].type
        return .programHeader(type, rank: file.programHeaders[..<index].filter { $0.type == type }.count)
    }

    /// The PT_LOAD whose file image holds `[offset, offset + size)`, if the mapping agrees.
    private func loadContaining(offset: UInt64, size: UInt64) -> ProgramHeader? {
        loads.first { $0.offset <= offset && Checked.fits(start: offset - $0.offset, length: size, within: $0.fileSize) }
    }

    private func checkSegments(_ problems: inout Problems) {
        let size = file.source.size
        var previous: ProgramHeader?
        for (index, segment) in file.programHeaders.enumerated() {
            // Built only for a problem: interpolating the type name costs a dynamic cast.
            func name() -> String { "program header \(index) (\(segment.type))" }
            if segment.type != .gnuStack, segment.fileSize > 0 {
                guard let end = segment.fileEnd, end <= size else {
                    problems.add(.segmentOutsideFile, segmentSubject(index), "\(name()): file range 0x\(hex(segment.offset))+0x\(hex(segment.fileSize)) is outside the file (size 0x\(hex(size)))")
                    continue
                }
            }
            guard segment.type == .load else { continue }
            if segment.fileSize > segment.memorySize {
                problems.add(.loadFileSizeExceedsMemorySize, segmentSubject(index), "\(name()): p_filesz 0x\(hex(segment.fileSize)) exceeds p_memsz 0x\(hex(segment.memorySize))")
            }
            if segment.alignment > 1 {
                if segment.alignment & (segment.alignment - 1) != 0 {
                    problems.add(.alignmentNotPowerOfTwo, segmentSubject(index), "\(name()): p_align 0x\(hex(segment.alignment)) is not a power of two")
                } else if segment.offset % segment.alignment != segment.virtualAddress % segment.alignment {
                    problems.add(.offsetAddressIncongruent, segmentSubject(index), "\(name()): p_offset 0x\(hex(segment.offset)) and p_vaddr 0x\(hex(segment.virtualAddress)) disagree modulo p_align 0x\(hex(segment.alignment))")
                }
            }
            if segment.memoryEnd == nil || segment.memoryEnd! > file.format.maximumWord {
                problems.add(.memoryRangeOverflows, segmentSubject(index), "\(name()): memory range overflows the address space")
            }
            if let previous, let previousEnd = previous.memoryEnd {
                if segment.virtualAddress < previous.virtualAddress {
                    problems.add(.loadsNotSorted, segmentSubject(index), "\(name()): PT_LOAD entries are not sorted by p_vaddr")
                } else if segment.virtualAddress < previousEnd {
                    problems.add(.loadsOverlap, segmentSubject(index), "\(name()): memory range overlaps the previous PT_LOAD (ends at 0x\(hex(previousEnd)))")
                }
            }
            previous = segment
        }

        let tableSize = UInt64(file.programHeaders.count) * file.format.programHeaderSize
        if let phdr = file.firstSegment(.phdr) {
            if phdr.offset != file.header.programHeaderOffset || phdr.fileSize != tableSize {
                problems.add(.phdrDoesNotDescribeTable, .programHeaderTable, "PT_PHDR (offset 0x\(hex(phdr.offset)), size 0x\(hex(phdr.fileSize))) does not describe the program header table (offset 0x\(hex(file.header.programHeaderOffset)), size 0x\(hex(tableSize)))")
            }
            if let first = loads.first {
                // Kernels before 5.18 compute AT_PHDR this way (`LoaderViews` has the others);
                // glibc takes the load bias to be AT_PHDR minus PT_PHDR's p_vaddr.
                let kernelAddress = first.virtualAddress &- first.offset &+ file.header.programHeaderOffset
                if kernelAddress != phdr.virtualAddress {
                    problems.add(.phdrAddressDiffersFromKernel, .programHeaderTable, "PT_PHDR address 0x\(hex(phdr.virtualAddress)) differs from the AT_PHDR older kernels compute, 0x\(hex(kernelAddress))")
                }
            }
            if let load = loadContaining(offset: phdr.offset, size: phdr.fileSize) {
                if phdr.virtualAddress &- load.virtualAddress != phdr.offset - load.offset {
                    problems.add(.phdrDisagreesWithLoad, .programHeaderTable, "PT_PHDR address and offset disagree with the PT_LOAD that holds it")
                }
            } else {
                problems.add(.phdrTableNotLoaded, .programHeaderTable, "the program header table is not inside any PT_LOAD")
            }
        }
        // Every file, with or without PT_PHDR, whether or not the edit moved the table:
        // a new PT_LOAD alone can change what some loaders report.
        if let (kind, message) = LoaderViews(file: file).disagreement() {
            problems.add(kind, .programHeaderTable, message)
        }
        if let interp = file.firstSegment(.interp) {
            if interp.fileSize == 0 {
                problems.add(.interpreterEmpty, .programHeader(.interp, rank: 0), "PT_INTERP is empty")
            } else if interp.fileEnd == nil {
                problems.add(.segmentOutsideFile, .programHeader(.interp, rank: 0), "PT_INTERP's p_offset + p_filesz overflows")
            } else if let bytes = try? file.source.bytes(at: interp.fileEnd! - 1, count: 1, "PT_INTERP"), bytes != [0] {
                problems.add(.interpreterNotTerminated, .programHeader(.interp, rank: 0), "PT_INTERP is not NUL-terminated within p_filesz (the kernel refuses such a file)")
            }
        }
    }

    private func checkDynamic(_ problems: inout Problems) {
        let dynamic: DynamicSection?
        do { dynamic = try file.dynamic() } catch {
            problems.add(.dynamicUnreadable, .dynamicSection, "dynamic section: \(error)")
            return
        }
        guard let dynamic, let segment = file.firstSegment(.dynamic) ?? nil else { return }
        if let load = loadContaining(offset: segment.offset, size: segment.fileSize) {
            if segment.virtualAddress &- load.virtualAddress != segment.offset - load.offset {
                problems.add(.dynamicDisagreesWithLoad, .dynamicSection, "PT_DYNAMIC address and offset disagree with the PT_LOAD that holds it")
            }
            if dynamic.has(.debug) && !load.flags.contains(.write) && file.header.machine != .mips {
                problems.add(.debugInReadOnlySegment, .dynamicSection, "PT_DYNAMIC has DT_DEBUG but lies in a read-only segment (the loader writes DT_DEBUG)")
            }
        } else {
            problems.add(.dynamicNotLoaded, .dynamicSection, "PT_DYNAMIC at offset 0x\(hex(segment.offset)) is not inside any PT_LOAD's file image")
        }
        let addressTags: [DynamicTag] = [.strtab, .symtab, .hash, .gnuHash, .versym, .verneed, .verdef, .rela, .rel,
                                         .jmpRel, .relr, .initArray, .finiArray, .preinitArray, .initFunction, .finiFunction]
        var ranks: [DynamicTag: Int] = [:]
        ranks.reserveCapacity(dynamic.entries.count)
        let rankedEntries = dynamic.entries.map { entry -> (DynamicEntry, Int) in
            defer { ranks[entry.tag, default: 0] += 1 }
            return (entry, ranks[entry.tag, default: 0])
        }
        for (entry, rank) in rankedEntries where addressTags.contains(entry.tag) {
            if !loads.contains(where: { $0.containsInMemory(address: entry.value, length: 1) }) {
                problems.add(.addressNotLoaded, .dynamicEntry(entry.tag, rank: rank), "\(entry.tag) address 0x\(hex(entry.value)) is not inside any PT_LOAD")
            }
        }
        if dynamic.stringTableOffset == nil, dynamic.has(.strtab) {
            problems.add(.stringTableNotLoaded, .dynamicEntry(.strtab, rank: 0), "DT_STRTAB is not inside any PT_LOAD's file image")
        }
        if let offset = dynamic.stringTableOffset, dynamic.stringTableSize > 0,
           let last = try? file.source.bytes(at: offset + dynamic.stringTableSize - 1, count: 1, ".dynstr"), last != [0] {
            problems.add(.stringTableNotTerminated, .dynamicEntry(.strtab, rank: 0), ".dynstr does not end with a NUL byte")
        }
        for (entry, rank) in rankedEntries where entry.tag.isStringOffset {
            do { _ = try dynamic.rawString(at: entry.value) } catch {
                problems.add(.badStringOffset, .dynamicEntry(entry.tag, rank: rank), "\(entry.tag): \(error)")
            }
        }
        do {
            let needed = Set(try dynamic.all(.needed).map { try dynamic.rawString(at: $0) })
            let versions = VersionTables(file: file, dynamic: dynamic)
            for need in try versions.needs() where !needed.contains(need.file) {
                let name = String(decoding: need.file, as: UTF8.self)
                problems.add(.versionNeedNotNeeded, .versionNeed(file: name), ".gnu.version_r names \(name), which is not a DT_NEEDED library (glibc asserts on this)")
            }
            _ = try versions.definitions()
            _ = try TableMap(file: file)
        } catch {
            problems.add(.symbolTablesUnreadable, .dynamicSection, "symbol tables: \(error)")
        }
    }

    private func checkSections(_ problems: inout Problems) {
        let size = file.source.size
        let names = file.sectionNames()
        for (index, section) in file.sectionHeaders.enumerated() where index > 0 {
            // Built only for a message: a file's thirty sections checked three times per edit.
            var name: String { "section \(index) (\(names[index] ?? "?"))" }
            if section.hasFileData, section.size > 0, !Checked.fits(start: section.offset, length: section.size, within: size) {
                problems.add(.sectionOutsideFile, .section(index), "\(name): extends past the end of the file")
                continue
            }
            guard section.flags.contains(.alloc), section.size > 0 else { continue }
            guard let load = loads.first(where: { $0.containsInMemory(address: section.address, length: section.size) }) else {
                if section.type != .nobits && !section.flags.contains(.tls) {
                    problems.add(.sectionNotLoaded, .section(index), "\(name): address 0x\(hex(section.address)) is not inside any PT_LOAD")
                }
                continue
            }
            if section.type != .nobits, section.address - load.virtualAddress != section.offset &- load.offset {
                problems.add(.sectionDisagreesWithLoad, .section(index), "\(name): offset 0x\(hex(section.offset)) and address 0x\(hex(section.address)) disagree with their PT_LOAD")
            }
        }
        // Allocated sections never share file bytes; a header left pointing at moved
        // content would (strip would then mangle the file).
        let placed = file.sectionHeaders.enumerated()
            .filter { $0.offset > 0 && $0.element.flags.contains(.alloc) && $0.element.hasFileData && $0.element.size > 0 }
            .sorted { $0.element.offset < $1.element.offset }
        for (a, b) in zip(placed, placed.dropFirst()) where a.element.offset &+ a.element.size > b.element.offset {
            problems.add(.sectionsOverlap, .sections(a.offset, b.offset), "sections \(a.offset) (\(names[a.offset] ?? "?")) and \(b.offset) (\(names[b.offset] ?? "?")) overlap in the file")
        }
        for (index, section) in file.sectionHeaders.enumerated() where section.type == .note && section.size > 0 {
            guard let bytes = try? file.source.bytes(at: section.offset, count: section.size, "note section") else { continue }
            do {
                _ = try ELFNote.parseAll(bytes, format: file.format, baseOffset: section.offset,
                                      alignment: section.alignment == 8 ? 8 : 4)
            } catch {
                problems.add(.badNotes, .section(index), "section \(index) (\(names[index] ?? "?")): \(error)")
            }
        }
        if let dynamicSegment = file.firstSegment(.dynamic),
           let section = file.sectionHeaders.first(where: { $0.type == .dynamic }),
           section.offset != dynamicSegment.offset || section.address != dynamicSegment.virtualAddress {
            problems.add(.dynamicSectionHeaderMismatch, .dynamicSection, "the .dynamic section header (offset 0x\(hex(section.offset))) disagrees with PT_DYNAMIC (offset 0x\(hex(dynamicSegment.offset)))")
        }
        if let dynamic = try? file.dynamic(), let strtab = dynamic.stringTableAddress,
           let symbols = file.sectionHeaders.first(where: { $0.type == .dynsym }),
           Int(symbols.link) < file.sectionHeaders.count, file.sectionHeaders[Int(symbols.link)].address != strtab {
            problems.add(.dynamicSymbolStringTableMismatch, .dynamicEntry(.strtab, rank: 0), ".dynsym's string table section does not match DT_STRTAB 0x\(hex(strtab))")
        }
    }
}
