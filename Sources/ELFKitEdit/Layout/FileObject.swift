import ELFKitCore

/// A table or blob the layout engine knows how to find, size and move: everything the
/// loader reaches through a program header or a `DT_*` address, so it can be found in
/// files without section headers too.
package struct FileObject: Hashable, Sendable {
    // Mirrored by TableMap.Kind in ELFKitVerify/TableMap.swift because the verifier names the tables itself, never through the planner it judges.
    package enum Kind: Hashable, Sendable, CustomStringConvertible {
        case interpreter
        /// A PT_NOTE segment (several notes; PT_GNU_PROPERTY may point inside it).
        case notes(programHeaderIndex: Int)
        /// A processor-specific segment the loader reads by header only (MIPS ABI flags, reginfo).
        case processorSegment(programHeaderIndex: Int)
        case dynamic
        case dynamicStrings
        case dynamicSymbols
        case hash
        case gnuHash
        case versionSymbols
        case versionNeeds
        case versionDefinitions
        /// A new `.note.nixos.ldcache` note (`--build-resolution-cache`); not in the original.
        case resolutionCache

        package var description: String {
            switch self {
            case .interpreter: return ".interp"
            case .notes(let index): return "notes (program header \(index))"
            case .processorSegment(let index): return "processor segment (program header \(index))"
            case .dynamic: return ".dynamic"
            case .dynamicStrings: return ".dynstr"
            case .dynamicSymbols: return ".dynsym"
            case .hash: return ".hash"
            case .gnuHash: return ".gnu.hash"
            case .versionSymbols: return ".gnu.version"
            case .versionNeeds: return ".gnu.version_r"
            case .versionDefinitions: return ".gnu.version_d"
            case .resolutionCache: return ResolutionCacheNote.sectionName
            }
        }

        /// The dynamic tag holding this object's address, if any.
        var addressTag: DynamicTag? {
            switch self {
            case .dynamicStrings: return .strtab
            case .dynamicSymbols: return .symtab
            case .hash: return .hash
            case .gnuHash: return .gnuHash
            case .versionSymbols: return .versym
            case .versionNeeds: return .verneed
            case .versionDefinitions: return .verdef
            default: return nil
            }
        }
    }

    package var kind: Kind
    package var offset: UInt64
    package var address: UInt64
    package var size: UInt64
    package var alignment: UInt64

    package var fileEnd: UInt64 { offset + size }  // checked when the catalog is built
}

/// Every movable object of a file, with checked extents.
package struct FileObjectCatalog {
    package private(set) var objects: [FileObject] = []
    /// Number of dynamic symbols, when it can be determined.
    package private(set) var symbolCount: UInt64?
    /// File range that certainly holds every dynamic symbol: the exact table when the count
    /// is known, else everything from DT_SYMTAB to the next known table. Reading too many
    /// entries only finds more string users, which is the safe direction.
    package private(set) var symbolRangeBound: (offset: UInt64, size: UInt64)?

    package init(file: ELFFile) throws(ELFError) {
        let format = file.format
        for (index, segment) in file.programHeaders.enumerated() {
            let kind: FileObject.Kind
            switch segment.type {
            case .interp: kind = .interpreter
            case .note: kind = .notes(programHeaderIndex: index)
            case SegmentType(rawValue: 0x7000_0000) where file.header.machine == .mips,
                 SegmentType(rawValue: 0x7000_0003) where file.header.machine == .mips:
                kind = .processorSegment(programHeaderIndex: index)
            default: continue
            }
            // What these segments need is their records' alignment (4 or 8); a hostile
            // p_align must not turn into megabytes of padding.
            let alignment = segment.alignment.nonzeroBitCount == 1 ? min(segment.alignment, 16) : 8
            var size = segment.fileSize
            if kind == .interpreter, Checked.fits(start: segment.offset, length: size, within: file.source.size) {
                size = try FileObjectCatalog.interpreterSize(file: file, segment: segment)
            }
            try add(FileObject(kind: kind, offset: segment.offset, address: segment.virtualAddress,
                               size: size, alignment: alignment), file: file)
        }
        guard let dynamic = try file.dynamic() else { return }
        try add(FileObject(kind: .dynamic, offset: dynamic.fileOffset, address: dynamic.address,
                           size: UInt64(dynamic.capacity) * format.dynamicEntrySize, alignment: format.wordSize), file: file)
        if let offset = dynamic.stringTableOffset, let address = dynamic.stringTableAddress {
            try add(FileObject(kind: .dynamicStrings, offset: offset, address: address,
                               size: dynamic.stringTableSize, alignment: 1), file: file)
        }

        // Any other stride makes every symbol, and every name in use, a guess.
        if let entrySize = dynamic.first(.symEntrySize), entrySize != format.symbolSize {
            throw ELFError(.invalid, "DT_SYMENT is 0x\(hex(entrySize)), expected \(format.symbolSize)", value: entrySize)
        }
        let symbols = try SymbolTableGeometry(file: file, dynamic: dynamic)
        symbolCount = symbols.symbolCount
        if let address = dynamic.first(.hash), let size = symbols.hashSize {
            try addDynamic(.hash, address: address, size: size, alignment: symbols.hashEntrySize, file: file)
        }
        if let address = dynamic.first(.gnuHash), let size = symbols.gnuHashSize {
            try addDynamic(.gnuHash, address: address, size: size, alignment: format.wordSize, file: file)
        }
        if let address = dynamic.first(.symtab), let count = symbols.symbolCount {
            let entrySize = format.symbolSize
            try addDynamic(.dynamicSymbols, address: address,
                           size: try Checked.multiply(count, entrySize, "dynamic symbol table size"),
                           alignment: format.wordSize, file: file)
        }
        if let address = dynamic.first(.symtab) {
            if let exact = object(.dynamicSymbols) {
                symbolRangeBound = (exact.offset, exact.size)
            } else if let offset = try? file.fileOffset(ofAddress: address),
                      let load = file.programHeaders.first(where: { $0.type == .load && $0.offset <= offset && ($0.fileEnd ?? 0) > offset }) {
                // Any table the dynamic section or a segment points at ends the range.
                let addressTags: [DynamicTag] = [.strtab, .hash, .gnuHash, .versym, .verneed, .verdef, .rela, .rel,
                                                 .jmpRel, .relr, .initArray, .finiArray, .preinitArray]
                let tableOffsets = dynamic.entries.filter { addressTags.contains($0.tag) }
                    .compactMap { try? file.fileOffset(ofAddress: $0.value) }
                let next = (objects.map(\.offset) + tableOffsets).filter { $0 > offset }.min() ?? load.fileEnd!
                symbolRangeBound = (offset, min(next, load.fileEnd!) - offset)
            }
        }
        if let address = dynamic.first(.versym), let count = symbols.symbolCount {
            try addDynamic(.versionSymbols, address: address, size: try Checked.multiply(count, 2, ".gnu.version size"),
                           alignment: 2, file: file)
        }
        if let address = dynamic.first(.verneed) {
            let size = try dynamic.versionNeedChain()?.extent ?? 0
            try addDynamic(.versionNeeds, address: address, size: size, alignment: 4, file: file)
        }
        if let address = dynamic.first(.verdef) {
            let size = try dynamic.versionDefinitionChain()?.extent ?? 0
            try addDynamic(.versionDefinitions, address: address, size: size, alignment: 4, file: file)
        }
    }

    package func object(_ kind: FileObject.Kind) -> FileObject? { objects.first { $0.kind == kind } }

    /// The interpreter is the string, its NUL, and what follows up to the end of PT_INTERP
    /// (or of a .interp section that starts with the string) when that is interpreter text.
    ///
    /// No one reads PT_INTERP's bytes after the first NUL: the kernel reads p_filesz bytes,
    /// requires the last to be NUL and opens the string up to the first NUL
    /// (fs/binfmt_elf.c), and ld.so takes the string at p_vaddr (elf/rtld.c). Those bytes
    /// are the interpreter's to overwrite when it changes, as long as they hold only
    /// interpreter text: zero padding (a shorter interpreter left it) or further
    /// NUL-terminated paths (a second `.interp` input section, as glibc's
    /// `__invoke_dynamic_linker__` in libc.so, which patchelf's test programs copy). Anything
    /// else there (a note or other data a linker script put after the string, which the
    /// program itself may read) is not the interpreter's: the object then ends at the NUL.
    static func interpreterSize(file: ELFFile, segment: ProgramHeader) throws(ELFError) -> UInt64 {
        let bytes = try file.source.bytes(at: segment.offset, count: min(segment.fileSize, 0x1_0000), "PT_INTERP")
        guard let nul = bytes.firstIndex(of: 0) else { return segment.fileSize }
        var end = bytes.count
        if let section = file.sectionHeaders.first(where: {
            $0.type == .progbits && $0.offset == segment.offset && $0.size > UInt64(nul) && $0.size <= UInt64(bytes.count)
        }) {
            end = Int(section.size)
        }
        return isInterpreterText(bytes[nul ..< end]) ? UInt64(end) : UInt64(nul) + 1
    }

    /// Zero bytes and NUL-terminated runs of path characters (no control character).
    static func isInterpreterText(_ tail: ArraySlice<UInt8>) -> Bool {
        tail.last == 0 && tail.allSatisfy { $0 == 0 || ($0 >= 0x20 && $0 != 0x7f) }
    }

    private mutating func addDynamic(_ kind: FileObject.Kind, address: UInt64, size: UInt64, alignment: UInt64,
                                     file: ELFFile) throws(ELFError) {
        let offset = try file.fileOffset(ofAddress: address, length: max(size, 1))
        try add(FileObject(kind: kind, offset: offset, address: address, size: size, alignment: alignment), file: file)
    }

    private mutating func add(_ object: FileObject, file: ELFFile) throws(ELFError) {
        guard Checked.fits(start: object.offset, length: object.size, within: file.source.size) else {
            throw ELFError(.truncated, "\(object.kind) of 0x\(hex(object.size)) bytes extends past the end of the file",
                           offset: object.offset)
        }
        objects.append(object)
    }
}
