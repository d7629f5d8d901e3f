/// The dynamic section of a file, located through PT_DYNAMIC, and the dynamic string
/// table located through DT_STRTAB/DT_STRSZ.
///
/// Not thread-safe, as the `ELFFile` it reads through: use it on that file's thread.
public struct DynamicSection {
    /// Entries before the first DT_NULL.
    public let entries: [DynamicEntry]
    /// Number of entry slots the section has room for (DT_NULL and spare slots included).
    public let capacity: Int
    /// File offset of the first entry (PT_DYNAMIC's `p_offset`, or the section's
    /// `sh_offset` when the file has no PT_DYNAMIC).
    public let fileOffset: UInt64
    /// Virtual address of the first entry (PT_DYNAMIC's `p_vaddr`, or `sh_addr`).
    public let address: UInt64
    /// File offset of `.dynstr`, the dynamic string table: where DT_STRTAB's address is
    /// in the file image; nil when there is no DT_STRTAB.
    public let stringTableOffset: UInt64?
    /// DT_STRTAB: the virtual address of `.dynstr`; nil when the entry is absent.
    public let stringTableAddress: UInt64?
    /// DT_STRSZ: the size of `.dynstr` in bytes. When the entry is absent or 0, the size of
    /// a `SHT_STRTAB` section at DT_STRTAB's address; 0 when there is neither.
    public let stringTableSize: UInt64
    /// Not the `ELFFile`: it caches this value, and a reference back would be a cycle.
    private let image: LoadedImage

    /// A PT_DYNAMIC with no bytes (p_filesz 0) locates nothing: glibc's loader takes the
    /// dynamic section's address from PT_DYNAMIC alone (elf/dl-load.c: `l_ld = p_vaddr`,
    /// `l_ldnum = p_memsz / sizeof (Dyn)`) and refuses a shared object whose l_ld is 0 with
    /// "object file has no dynamic section"; a linker script that assigns no section to
    /// PT_DYNAMIC leaves exactly that (offset 0, size 0). Such a file has no dynamic
    /// section the loader can read, whatever a section header says (`unusedSectionReason`).
    package static func read(from file: ELFFile) throws(ELFError) -> DynamicSection? {
        var location: (offset: UInt64, address: UInt64, size: UInt64)?
        if let segment = file.firstSegment(.dynamic) {
            guard segment.fileSize > 0 else { return nil }
            location = (segment.offset, segment.virtualAddress, segment.fileSize)
        } else if let section = file.sectionHeaders.first(where: { $0.type == .dynamic }),
                  file.programHeaders.isEmpty || file.programHeaders.contains(where: {
                      $0.type == .load && $0.containsInFile(address: section.address, length: section.size)
                          && section.offset &- $0.offset == section.address &- $0.virtualAddress
                  }) {
            // No PT_DYNAMIC at all, yet a loaded .dynamic section: what patchelf edits (it
            // works from section headers). An edit adds the PT_DYNAMIC the loader needs.
            location = (section.offset, section.address, section.size)
        }
        guard let location else { return nil }
        return try read(from: file, at: location)
    }

    /// The dynamic section as its SHT_DYNAMIC section header places it, whatever the
    /// program headers say: what patchelf reads (it works from section headers), for a
    /// file whose PT_DYNAMIC is empty or absent. The loader never reads it there.
    package static func readThroughSectionHeader(from file: ELFFile) throws(ELFError) -> DynamicSection? {
        guard let section = file.sectionHeaders.first(where: { $0.type == .dynamic }) else { return nil }
        return try read(from: file, at: (section.offset, section.address, section.size))
    }

    private static func read(from file: ELFFile, at location: (offset: UInt64, address: UInt64, size: UInt64)) throws(ELFError) -> DynamicSection {
        let format = file.format
        let raw = try file.source.bytes(at: location.offset, count: location.size, "dynamic section")
        let capacity = Int(location.size / format.dynamicEntrySize)
        var decoder = ByteDecoder(raw, format: format, baseOffset: location.offset)
        var entries: [DynamicEntry] = []
        for _ in 0 ..< capacity {
            let entry = try DynamicEntry.decode(&decoder)
            if entry.tag == .null { break }
            entries.append(entry)
        }

        var stringOffset: UInt64?
        var stringAddress: UInt64?
        var stringSize: UInt64 = 0
        if let address = entries.first(where: { $0.tag == .strtab })?.value {
            stringAddress = address
            stringSize = entries.first(where: { $0.tag == .strsz })?.value ?? 0
            if stringSize == 0, let section = file.sectionHeaders.first(where: { $0.type == .strtab && $0.address == address }) {
                stringSize = section.size
            }
            stringOffset = try file.fileOffset(ofAddress: address, length: max(stringSize, 1))
        }
        return DynamicSection(entries: entries, capacity: capacity, fileOffset: location.offset, address: location.address,
                              stringTableOffset: stringOffset, stringTableAddress: stringAddress,
                              stringTableSize: stringSize, image: file.image)
    }

    /// Why a file whose `dynamic()` is nil still has a `.dynamic` section header: the
    /// loader does not read that section (PT_DYNAMIC is empty or absent). Nil when there
    /// is no such section, or when the file has a dynamic section the loader reads.
    package static func unusedSectionReason(in file: ELFFile) -> String? {
        guard file.firstSegment(.dynamic).map({ $0.fileSize == 0 }) ?? !file.programHeaders.isEmpty,
              let section = file.sectionHeaders.first(where: { $0.type == .dynamic }) else { return nil }
        let segmentText = file.firstSegment(.dynamic).map {
            "PT_DYNAMIC is empty (offset 0x\(hex($0.offset)), p_filesz 0)"
        } ?? "no PT_DYNAMIC program header locates it"
        return "the .dynamic section at offset 0x\(hex(section.offset)) is not used by the loader: \(segmentText)"
    }

    // MARK: Entries

    /// The value (`d_val` or `d_ptr`) of the first entry with a tag: what the loader
    /// uses for a tag that should appear once (`DT_STRTAB`, `DT_RUNPATH`, ...).
    ///
    /// - Parameter tag: The tag (`d_tag`), e.g. `.runpath`.
    /// - Returns: The value as stored (an address, a size, a `.dynstr` offset or flags,
    ///   by tag); nil when no entry before `DT_NULL` has the tag.
    public func first(_ tag: DynamicTag) -> UInt64? { entries.first { $0.tag == tag }?.value }
    /// The values of every entry with a tag, in order: for tags that repeat (`DT_NEEDED`).
    ///
    /// - Parameter tag: The tag (`d_tag`).
    /// - Returns: The values in entry order; empty when no entry has the tag.
    public func all(_ tag: DynamicTag) -> [UInt64] { entries.filter { $0.tag == tag }.map(\.value) }
    /// Whether an entry before `DT_NULL` has the tag (`DT_BIND_NOW`, whose value means
    /// nothing, is tested this way).
    ///
    /// - Parameter tag: The tag (`d_tag`).
    /// - Returns: True when at least one entry has it.
    public func has(_ tag: DynamicTag) -> Bool { entries.contains { $0.tag == tag } }

    /// A relocation table the dynamic section points at.
    public struct RelocationTable: Sendable {
        /// Virtual address of the table (`DT_RELA`, `DT_REL` or `DT_JMPREL`).
        public var address: UInt64
        /// Size of the table in bytes (`DT_RELASZ`, `DT_RELSZ` or `DT_PLTRELSZ`).
        public var size: UInt64
        /// Bytes per entry (`DT_RELAENT`/`DT_RELENT`, or 24/16 for ELF64 and 12/8 for
        /// ELF32 when absent).
        public var entrySize: UInt64
        /// Elf_Rela entries (DT_RELA, or DT_JMPREL with DT_PLTREL = DT_RELA), not Elf_Rel.
        public var isRela = false
    }

    /// DT_RELA, DT_REL and DT_JMPREL (typed by DT_PLTREL), with their sizes and entry sizes
    /// (DT_RELAENT/DT_RELENT, or the class's default). The tables may overlap.
    ///
    /// - Parameter format: The file's class and byte order (`ELFFile.format`), for the
    ///   default entry sizes.
    /// - Returns: The tables whose address and size entries are both present, in the
    ///   order RELA, REL, JMPREL; empty for a file without dynamic relocations. Nothing
    ///   is read or checked: the addresses are as the entries give them.
    public func relocationTables(format: ELFFormat) -> [RelocationTable] {
        let relaSize = first(.relaEntrySize) ?? 3 * format.wordSize
        let relSize = first(.relEntrySize) ?? 2 * format.wordSize
        var tables: [RelocationTable] = []
        if let address = first(.rela), let size = first(.relaSize) { tables.append(.init(address: address, size: size, entrySize: relaSize, isRela: true)) }
        if let address = first(.rel), let size = first(.relSize) { tables.append(.init(address: address, size: size, entrySize: relSize)) }
        if let address = first(.jmpRel), let size = first(.pltRelSize) {
            let isRela = first(.pltRel) == DynamicTag.rela.rawValue
            tables.append(.init(address: address, size: size, entrySize: isRela ? relaSize : relSize, isRela: isRela))
        }
        return tables
    }

    /// DT_FLAGS (`DF_ORIGIN`, `DF_BIND_NOW`, ...); empty when the entry is absent.
    public var flags: DynamicFlags { DynamicFlags(rawValue: first(.flags) ?? 0) }
    /// DT_FLAGS_1 (`DF_1_NOW`, `DF_1_PIE`, ...); empty when the entry is absent.
    public var flags1: DynamicFlags1 { DynamicFlags1(rawValue: first(.flags1) ?? 0) }

    // MARK: Strings

    /// The string at `offset` in `.dynstr`, read on its own so that looking up a few
    /// names in a huge library does not read its whole string table.
    ///
    /// - Parameter offset: Byte offset into `.dynstr`, as a `DT_NEEDED`, `DT_SONAME`,
    ///   `DT_RPATH` or `DT_RUNPATH` value or a symbol's `st_name` gives it.
    /// - Returns: The string's bytes, without the terminating NUL, as they are.
    /// - Throws: `ELFError`: `.missing` when there is no DT_STRTAB; `.invalid` when
    ///   `offset` is not below `stringTableSize` or no NUL ends the string inside the
    ///   table; `.truncated` or `.io` when the bytes cannot be read.
    public func rawString(at offset: UInt64) throws(ELFError) -> [UInt8] {
        guard let tableOffset = stringTableOffset else {
            throw ELFError(.missing, "dynamic section has no DT_STRTAB", offset: fileOffset)
        }
        guard offset < stringTableSize else {
            throw ELFError(.invalid, "string offset 0x\(hex(offset)) is outside .dynstr (size 0x\(hex(stringTableSize)))",
                           offset: tableOffset)
        }
        // offset < size and [tableOffset, tableOffset + size) is inside a PT_LOAD's file image.
        var position = tableOffset + offset
        let limit = tableOffset + stringTableSize
        // A chunk at a time through a buffer on the stack, so that a string costs one array,
        // its own: the planner and the verifier read some 90 strings per small file, and a
        // new array per chunk was a third of their cost.
        var result: [UInt8] = []
        var failure: ELFError?
        let source = image.source
        while position < limit {
            let count = Int(min(256, limit - position))
            guard Checked.fits(start: position, length: UInt64(count), within: source.size) else {
                throw ELFError(.truncated, ".dynstr of 0x\(hex(UInt64(count))) bytes extends past the end of the file (size 0x\(hex(source.size)))",
                               offset: position)
            }
            let ended = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { buffer -> Bool in
                let chunk = UnsafeMutableBufferPointer(rebasing: buffer[..<count])
                do throws(ELFError) {
                    try source.read(at: position, into: UnsafeMutableRawBufferPointer(chunk))
                } catch {
                    failure = error
                    return true
                }
                let nul = chunk.firstIndex(of: 0)
                result.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[..<(nul ?? count)]))
                return nul != nil
            }
            if let failure { throw failure }
            if ended { return result }
            position += UInt64(count)
        }
        throw ELFError(.invalid, "string at .dynstr offset 0x\(hex(offset)) is not NUL-terminated", offset: tableOffset + offset)
    }

    /// The string at `offset` in `.dynstr`, as text: `rawString(at:)` with each byte that
    /// is not UTF-8 (0xXY) carried as U+F7XY, so that `BytePath(_:)` gives the bytes back.
    ///
    /// - Parameter offset: Byte offset into `.dynstr`.
    /// - Returns: The string, without its NUL.
    /// - Throws: What `rawString(at:)` throws.
    public func string(at offset: UInt64) throws(ELFError) -> String {
        ByteText.string(try rawString(at: offset))
    }

    /// The whole `.dynstr`.
    package func stringTable() throws(ELFError) -> StringTable {
        guard let tableOffset = stringTableOffset else {
            throw ELFError(.missing, "dynamic section has no DT_STRTAB", offset: fileOffset)
        }
        return StringTable(bytes: try image.source.bytes(at: tableOffset, count: stringTableSize, ".dynstr"),
                           fileOffset: tableOffset)
    }

    /// The needed libraries: the `DT_NEEDED` strings, in entry order, which is the order
    /// the loader searches and loads them (`libc.so.6`, or a path when the name has a `/`).
    ///
    /// - Returns: The names; empty when there is no `DT_NEEDED`.
    /// - Throws: What `string(at:)` throws, for the first name that cannot be read.
    public func needed() throws(ELFError) -> [String] {
        var names: [String] = []
        for value in all(.needed) { names.append(try string(at: value)) }
        return names
    }

    /// The library's own name, `DT_SONAME` (what a program linked against it records in
    /// its `DT_NEEDED`).
    ///
    /// - Returns: The name; nil when there is no `DT_SONAME` (most executables).
    /// - Throws: What `string(at:)` throws.
    public func soname() throws(ELFError) -> String? {
        guard let value = first(.soname) else { return nil }
        return try string(at: value)
    }

    /// `DT_RPATH`: the older run path, a colon-separated list of directories searched
    /// before `LD_LIBRARY_PATH`, and ignored by glibc's loader when `DT_RUNPATH` is present.
    ///
    /// - Returns: The list as stored (`$ORIGIN` and the like not expanded); nil when there
    ///   is no `DT_RPATH` (the first one counts).
    /// - Throws: What `string(at:)` throws.
    public func rpath() throws(ELFError) -> String? {
        guard let value = first(.rpath) else { return nil }
        return try string(at: value)
    }

    /// `DT_RUNPATH`: the run path, a colon-separated list of directories searched after
    /// `LD_LIBRARY_PATH`, for this object's own `DT_NEEDED` only.
    ///
    /// - Returns: The list as stored (`$ORIGIN` and the like not expanded); nil when there
    ///   is no `DT_RUNPATH` (the first one counts).
    /// - Throws: What `string(at:)` throws.
    public func runpath() throws(ELFError) -> String? {
        guard let value = first(.runpath) else { return nil }
        return try string(at: value)
    }

    // MARK: Symbol versions

    /// The walked records of `.gnu.version_r` (nil when there is none).
    package func versionNeedChain() throws(ELFError) -> VersionChain? {
        guard let address = first(.verneed) else { return nil }
        return try VersionChain(image: image, address: address, count: first(.verneedNum) ?? 0, layout: VersionChain.needs)
    }

    /// The walked records of `.gnu.version_d` (nil when there is none).
    package func versionDefinitionChain() throws(ELFError) -> VersionChain? {
        guard let address = first(.verdef) else { return nil }
        return try VersionChain(image: image, address: address, count: first(.verdefNum) ?? 0, layout: VersionChain.definitions)
    }

    /// `.gnu.version_r`: the versions this object needs, per library.
    ///
    /// Located by `DT_VERNEED` and counted by `DT_VERNEEDNUM`: at most that many entries,
    /// following `vn_next`, and `vn_cnt` auxiliary entries through `vna_next`, as the
    /// loader does.
    ///
    /// - Returns: One `Elf_Verneed` per library in chain order, each with its `Elf_Vernaux`
    ///   requirements and their names; empty when there is no `DT_VERNEED`.
    /// - Throws: `ELFError`: `.invalid` when a record is not in a PT_LOAD's file image,
    ///   when the walk visits more records than the file's size allows (entries sharing
    ///   records in a loop), or when a name is not a string of `.dynstr`; `.overflow` when
    ///   a `*_next` or `*_aux` distance overflows the address space.
    public func versionNeeds() throws(ELFError) -> [VersionNeed] {
        guard let chain = try versionNeedChain() else { return [] }
        var result: [VersionNeed] = []
        for record in chain.records {
            let entry = record.decoder
            let fileName: UInt32 = try entry.getInteger(at: 4)
            var need = VersionNeed(version: try entry.getInteger(at: 0), fileOffset: fileName,
                                   file: try string(at: UInt64(fileName)), requirements: [])
            for (_, aux) in record.auxiliaries {
                let nameOffset: UInt32 = try aux.getInteger(at: 8)
                need.requirements.append(VersionRequirement(
                    hash: try aux.getInteger(at: 0), flags: try aux.getInteger(at: 4), index: try aux.getInteger(at: 6),
                    nameOffset: nameOffset, name: try string(at: UInt64(nameOffset))))
            }
            result.append(need)
        }
        return result
    }

    /// `.gnu.version_d`: the versions this object defines.
    ///
    /// Located by `DT_VERDEF` and counted by `DT_VERDEFNUM`: at most that many entries,
    /// following `vd_next`, and `vd_cnt` names through `vda_next`.
    ///
    /// - Returns: One `Elf_Verdef` per version in chain order (the first is the object's
    ///   own name, `VER_FLG_BASE`), each with its names (the first is the version's own;
    ///   later ones are its parents); empty when there is no `DT_VERDEF`.
    /// - Throws: `ELFError`: `.invalid` when a record is not in a PT_LOAD's file image,
    ///   when the walk visits more records than the file's size allows (entries sharing
    ///   records in a loop), or when a name is not a string of `.dynstr`; `.overflow` when
    ///   a `*_next` or `*_aux` distance overflows the address space.
    public func versionDefinitions() throws(ELFError) -> [VersionDefinition] {
        guard let chain = try versionDefinitionChain() else { return [] }
        var result: [VersionDefinition] = []
        for record in chain.records {
            let entry = record.decoder
            var definition = VersionDefinition(
                version: try entry.getInteger(at: 0), flags: try entry.getInteger(at: 2),
                index: try entry.getInteger(at: 4), hash: try entry.getInteger(at: 8), names: [])
            for (_, aux) in record.auxiliaries {
                definition.names.append(try string(at: UInt64(try aux.getInteger(at: 0, as: UInt32.self))))
            }
            result.append(definition)
        }
        return result
    }
}
