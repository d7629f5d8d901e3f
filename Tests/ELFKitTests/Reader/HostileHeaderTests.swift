import Testing
@testable import ELFKitCore

/// Hand-crafted hostile inputs, in all four formats. Each must give a clear `ELFError`
/// (or a sane result), never a trap.
@Suite struct HostileHeaderTests {
    // MARK: The unmodified synthetic file

    @Test(arguments: allFormats)
    func syntheticBaseline(format: ELFFormat) throws {
        let elf = SyntheticELF(format: format)
        let file = try elf.parse()
        #expect(file.programHeaders.count == 5)
        #expect(file.sectionHeaders.count == 4)
        #expect(file.sectionNames() == [nil, ".dynstr", ".dynamic", ".shstrtab"].map { $0 == nil ? "" : $0 })
        #expect(try file.interpreter() == elf.interpreter)
        let dynamic = try #require(try file.dynamic())
        #expect(dynamic.capacity == elf.dynamicEntries.count + 2)
        #expect(try dynamic.needed() == elf.needed)
        #expect(try dynamic.soname() == elf.soname)
        #expect(try dynamic.runpath() == elf.runpath)
        #expect(try dynamic.rpath() == elf.rpath)
        let needs = try dynamic.versionNeeds()
        #expect(needs.map(\.file) == ["libc.so.6"])
        #expect(needs.first?.requirements.map(\.name) == ["GLIBC_2.2.5", "GLIBC_2.34"])
        #expect(needs.first?.requirements.map(\.index) == [2, 3])
        let definitions = try dynamic.versionDefinitions()
        #expect(definitions.map(\.name) == ["libself.so.1.base", "VERS_1"])
        #expect(definitions.map(\.isBase) == [true, false])
        let notes = try file.notes()
        #expect(notes.map(\.name) == ["GNU"])
        #expect(notes.first?.descriptor == Array(0 ..< 16))
        #expect(file.executableStack == false)
        #expect(exerciseReader(elf.bytes).errors.isEmpty)
    }

    @Test(arguments: allFormats)
    func withoutSectionHeaders(format: ELFFormat) throws {
        let elf = SyntheticELF(format: format, withSections: false)
        let file = try elf.parse()
        #expect(file.sectionHeaders.isEmpty)
        #expect(file.sectionNames().isEmpty)
        #expect(try file.dynamic()?.needed() == elf.needed)
        #expect(exerciseReader(elf.bytes).errors.isEmpty)
    }

    // MARK: Program header table

    @Test(arguments: allFormats)
    func hugeProgramHeaderCount(format: ELFFormat) {
        var elf = SyntheticELF(format: format)
        elf.set(UInt16(0xfffe), at: elf.phnumField)
        let error = #expect(throws: ELFError.self) { try elf.parse() }
        #expect(error?.kind == .truncated)
        #expect(error?.offset == UInt64(elf.programHeaderOffset))
    }

    @Test(arguments: allFormats)
    func programHeaderOffsetNearTheTop(format: ELFFormat) {
        for offset in [format.maximumWord, format.maximumWord - 1, format.maximumWord - format.programHeaderSize + 1,
                       format.maximumWord / 2] {
            var elf = SyntheticELF(format: format)
            elf.setWord(offset, at: elf.phoffField)
            let error = #expect(throws: ELFError.self, "e_phoff 0x\(String(offset, radix: 16))") { try elf.parse() }
            #expect(error?.kind == .truncated)
        }
    }

    @Test(arguments: allFormats)
    func programHeaderEntrySizes(format: ELFFormat) {
        for size: UInt16 in [0, 1, UInt16(format.programHeaderSize) - 1, UInt16(format.programHeaderSize) + 1, 0xffff] {
            var elf = SyntheticELF(format: format)
            elf.set(size, at: elf.phentsizeField)
            let error = #expect(throws: ELFError.self, "e_phentsize \(size)") { try elf.parse() }
            #expect(error?.kind == .invalid)
            #expect(error?.value == UInt64(size))
        }
        // With no program headers, e_phentsize does not matter.
        var elf = SyntheticELF(format: format)
        elf.set(UInt16(0), at: elf.phentsizeField)
        elf.set(UInt16(0), at: elf.phnumField)
        #expect(throws: Never.self) { try elf.parse() }
    }

    /// PN_XNUM: e_phnum 0xffff means "the count is in section 0's sh_info".
    @Test(arguments: allFormats)
    func extendedProgramHeaderCount(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        let section0Info = elf.sectionHeaderOffset + (format.is64 ? 44 : 28)
        elf.set(UInt16(0xffff), at: elf.phnumField)
        elf.set(UInt32(5), at: section0Info)
        let file = try elf.parse()
        #expect(file.programHeaders.count == 5)
        #expect(try file.dynamic()?.needed() == elf.needed)

        // A huge sh_info is refused, not allocated.
        elf.set(UInt32.max, at: section0Info)
        #expect(#expect(throws: ELFError.self) { try elf.parse() }?.kind == .truncated)

        // PN_XNUM without a section header table: taken literally, and too many.
        var bare = SyntheticELF(format: format, withSections: false)
        bare.set(UInt16(0xffff), at: bare.phnumField)
        #expect(throws: ELFError.self) { try bare.parse() }
    }

    // MARK: Section header table

    @Test(arguments: allFormats)
    func hostileSectionHeaderTable(format: ELFFormat) throws {
        for offset in [format.maximumWord, format.maximumWord - 8, UInt64(SyntheticELF(format: format).bytes.count)] {
            var elf = SyntheticELF(format: format)
            elf.setWord(offset, at: elf.shoffField)
            #expect(throws: ELFError.self, "e_shoff 0x\(String(offset, radix: 16))") { try elf.parse() }
        }
        var elf = SyntheticELF(format: format)
        elf.set(UInt16(0), at: elf.shentsizeField)
        #expect(#expect(throws: ELFError.self) { try elf.parse() }?.kind == .invalid)

        // e_shnum 0: the count is section 0's sh_size.
        let section0Size = elf.sectionHeaderOffset + (format.is64 ? 32 : 20)
        elf = SyntheticELF(format: format)
        elf.set(UInt16(0), at: elf.shnumField)
        elf.setWord(4, at: section0Size)
        #expect(try elf.parse().sectionHeaders.count == 4)
        elf.setWord(format.maximumWord, at: section0Size)
        #expect(throws: ELFError.self) { try elf.parse() }

        // SHN_XINDEX: the name table index is section 0's sh_link.
        elf = SyntheticELF(format: format)
        elf.set(UInt16(0xffff), at: elf.shstrndxField)
        elf.set(UInt32(3), at: elf.sectionHeaderOffset + (format.is64 ? 40 : 24))
        #expect(try elf.parse().sectionNames()[1] == ".dynstr")
        // A name table index out of range gives no names, not a trap.
        for index: UInt16 in [4, 0xfffe, 0] {
            elf = SyntheticELF(format: format)
            elf.set(index, at: elf.shstrndxField)
            #expect(try elf.parse().sectionNames() == [nil, nil, nil, nil])
        }
    }

    // MARK: Dynamic section

    @Test(arguments: allFormats)
    func dynamicSizeNotAMultipleOfTheEntrySize(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        let filesz = elf.offset(of: .filesz, in: .dynamic)
        let size = UInt64(elf.dynamicEntries.count + 2) * format.dynamicEntrySize
        elf.setWord(size - 3, at: filesz)
        var dynamic = try #require(try elf.parse().dynamic())
        #expect(dynamic.capacity == elf.dynamicEntries.count + 1)
        #expect(try dynamic.needed() == elf.needed)

        // Smaller than one entry: no entries, and so no needed libraries.
        elf.setWord(format.dynamicEntrySize - 1, at: filesz)
        dynamic = try #require(try elf.parse().dynamic())
        #expect(dynamic.entries.isEmpty)
        #expect(try dynamic.needed() == [])
        #expect(throws: ELFError.self) { try dynamic.stringTable() }

        // No DT_NULL before the end: every slot is an entry.
        elf = SyntheticELF(format: format)
        elf.setWord(UInt64(elf.dynamicEntries.count) * format.dynamicEntrySize, at: filesz)
        #expect(try elf.parse().dynamic()?.entries.count == elf.dynamicEntries.count)
    }

    @Test(arguments: allFormats)
    func dynamicSegmentOutsideTheFile(format: ELFFormat) {
        for (offset, size) in [(format.maximumWord, format.dynamicEntrySize), (0, format.maximumWord),
                               (format.maximumWord - 4, 16)] {
            var elf = SyntheticELF(format: format)
            elf.setWord(offset, at: elf.offset(of: .offset, in: .dynamic))
            elf.setWord(size, at: elf.offset(of: .filesz, in: .dynamic))
            let file = try? elf.parse()
            #expect(file != nil)
            #expect(throws: ELFError.self) { try file?.dynamic() }
            _ = exerciseReader(elf.bytes)
        }
    }

    @Test(arguments: allFormats)
    func hugeStringTableSize(format: ELFFormat) throws {
        for size in [format.maximumWord, format.maximumWord - 1, UInt64(elfSizeHint * 16), 0] {
            var elf = SyntheticELF(format: format)
            elf.setWord(size, at: elf.dynamicValueOffset(.strsz))
            let outcome = exerciseReader(elf.bytes)
            #expect(outcome.parsed)
            if size == 0 {
                // DT_STRSZ 0 with a matching SHT_STRTAB section: its size is used.
                #expect(outcome.needed == elf.needed)
            } else {
                #expect(!outcome.errors.isEmpty, "DT_STRSZ 0x\(String(size, radix: 16))")
            }
        }
    }

    @Test(arguments: allFormats)
    func stringOffsetsOutsideTheTable(format: ELFFormat) throws {
        for value in [UInt64(elfSizeHint), format.maximumWord, 0xffff_ffff] {
            var elf = SyntheticELF(format: format)
            elf.setWord(value, at: elf.dynamicValueOffset(.needed))
            let dynamic = try #require(try elf.parse().dynamic())
            #expect(#expect(throws: ELFError.self) { try dynamic.needed() }?.kind == .invalid)
        }
        // The last string not NUL-terminated within DT_STRSZ.
        var elf = SyntheticELF(format: format)
        elf.setWord(UInt64(elf.stringOffsets["liba.so.1"]! + 3), at: elf.dynamicValueOffset(.strsz))
        let dynamic = try #require(try elf.parse().dynamic())
        #expect(#expect(throws: ELFError.self) { try dynamic.needed() }?.kind == .invalid)
    }

    @Test(arguments: allFormats)
    func stringTableOutsideEveryLoadSegment(format: ELFFormat) {
        for address in [format.maximumWord, format.maximumWord - 2, UInt64(elfSizeHint * 8)] {
            var elf = SyntheticELF(format: format)
            elf.setWord(address, at: elf.dynamicValueOffset(.strtab))
            let error = #expect(throws: ELFError.self) { try elf.parse().dynamic()?.needed() }
            #expect(error?.kind == .invalid)
            #expect(error?.value == address)
        }
    }

    /// Regression: a PT_LOAD whose p_offset + p_filesz overflows let `.dynstr`'s file
    /// offset be computed without overflow while `offset + DT_STRSZ` overflowed in
    /// `rawString`, a trap. `fileOffset(ofAddress:length:)` now checks the whole range.
    @Test(arguments: allFormats.filter(\.is64))
    func loadSegmentOffsetNearTheTop(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        let top = UInt64.max - UInt64(elf.dynstrOffset) - 4
        elf.setWord(top, at: elf.offset(of: .offset, in: .load))
        let file = try elf.parse()
        let outcome = exerciseReader(elf.bytes)
        #expect(!outcome.errors.isEmpty)
        #expect(throws: ELFError.self) { try file.dynamic()?.needed() }
        #expect(throws: ELFError.self) { try file.fileOffset(ofAddress: UInt64(elf.dynstrOffset), length: 16) }
    }

    // MARK: Symbol versions

    @Test(arguments: allFormats)
    func versionNeedChains(format: ELFFormat) throws {
        let vnCount = { (elf: SyntheticELF) in elf.verneedOffset + 2 }
        let vnAux = { (elf: SyntheticELF) in elf.verneedOffset + 8 }
        let vnNext = { (elf: SyntheticELF) in elf.verneedOffset + 12 }
        let firstAuxNext = { (elf: SyntheticELF) in elf.verneedOffset + 16 + 12 }

        // vn_next 0 ends the chain even when DT_VERNEEDNUM asks for more: an entry
        // "pointing to itself" is the end marker.
        var elf = SyntheticELF(format: format)
        elf.setWord(0xffff_ffff, at: elf.dynamicValueOffset(.verneedNum))
        #expect(try elf.parse().dynamic()?.versionNeeds().count == 1)

        // vn_next 1 with a huge count: overlapping entries march forward and stop at
        // the first bad one, in bounded time.
        elf.set(UInt32(1), at: vnNext(elf))
        #expect(throws: ELFError.self) { try elf.parse().dynamic()?.versionNeeds() }

        // vna_next 0 (self) ends the aux chain even with vn_cnt 0xffff.
        elf = SyntheticELF(format: format)
        elf.set(UInt16(0xffff), at: vnCount(elf))
        elf.set(UInt32(0), at: firstAuxNext(elf))
        #expect(try elf.parse().dynamic()?.versionNeeds().first?.requirements.count == 1)

        // vn_aux / vn_next / vna_next far outside the file.
        for (field, value) in [(vnAux(elf), UInt32.max), (vnNext(elf), UInt32.max), (firstAuxNext(elf), UInt32.max),
                               (vnAux(elf), 0x7fff_fff0)] {
            elf = SyntheticELF(format: format)
            elf.setWord(2, at: elf.dynamicValueOffset(.verneedNum))
            elf.set(value, at: field)
            #expect(throws: ELFError.self) { try elf.parse().dynamic()?.versionNeeds() }
        }

        // DT_VERNEED itself near the top of the address space.
        elf = SyntheticELF(format: format)
        elf.setWord(format.maximumWord - 3, at: elf.dynamicValueOffset(.verneed))
        #expect(throws: ELFError.self) { try elf.parse().dynamic()?.versionNeeds() }
    }

    @Test(arguments: allFormats)
    func versionDefinitionChains(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        elf.setWord(0xffff_ffff, at: elf.dynamicValueOffset(.verdefNum))
        #expect(try elf.parse().dynamic()?.versionDefinitions().count == 2)

        for (delta, value) in [(12, UInt32.max), (16, UInt32.max), (16, 1), (20 + 4, UInt32.max)] {
            elf = SyntheticELF(format: format)
            elf.setWord(0xffff, at: elf.dynamicValueOffset(.verdefNum))
            elf.set(value, at: elf.verdefOffset + delta)
            _ = exerciseReader(elf.bytes)
        }
        elf = SyntheticELF(format: format)
        elf.set(UInt16(0xffff), at: elf.verdefOffset + 6)  // vd_cnt
        elf.set(UInt32(8), at: elf.verdefOffset + 20 + 4)  // vda_next → walks into the next verdef
        _ = exerciseReader(elf.bytes)
    }

    // MARK: Interpreter and notes

    @Test(arguments: allFormats)
    func interpreterSegment(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        elf.setWord(format.maximumWord, at: elf.offset(of: .filesz, in: .interp))
        #expect(#expect(throws: ELFError.self) { try elf.parse().interpreter() }?.kind == .truncated)
        // No NUL inside the segment: everything up to its end.
        elf = SyntheticELF(format: format)
        elf.setWord(5, at: elf.offset(of: .filesz, in: .interp))
        #expect(try elf.parse().interpreter() == "/lib/")
        elf.setWord(0, at: elf.offset(of: .filesz, in: .interp))
        #expect(try elf.parse().interpreter() == "")
    }

    @Test(arguments: allFormats)
    func noteSegment(format: ELFFormat) throws {
        var elf = SyntheticELF(format: format)
        elf.set(UInt32.max, at: elf.noteOffset + 4)  // n_descsz
        #expect(throws: ELFError.self) { try elf.parse().notes() }
        elf = SyntheticELF(format: format)
        elf.setWord(format.maximumWord, at: elf.offset(of: .filesz, in: .note))
        #expect(throws: ELFError.self) { try elf.parse().notes() }
        for alignment: UInt64 in [0, 1, 3, 8, 0x1000] {
            elf = SyntheticELF(format: format)
            elf.setWord(alignment, at: elf.offset(of: .offset, in: .note) + (format.is64 ? 40 : 20))  // p_align
            _ = exerciseReader(elf.bytes)
        }
    }

    // MARK: Truncated and tiny files

    @Test func tinyInputs() {
        for bytes: [UInt8] in [[], [0x7f], [0x7f, 0x45, 0x4c, 0x46], [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1],
                               [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1] + [UInt8](repeating: 0, count: 9),
                               [0x7f, 0x45, 0x4c, 0x46, 1, 2, 1] + [UInt8](repeating: 0, count: 40),
                               Array("#!/bin/sh\necho hi\n".utf8)] {
            let outcome = exerciseReader(bytes)
            #expect(!outcome.parsed, "\(bytes.count) bytes")
        }
    }

    @Test(arguments: allFormats)
    func headerOnly(format: ELFFormat) throws {
        let elf = SyntheticELF(format: format)
        var header = Array(elf.bytes[0 ..< Int(format.fileHeaderSize)])
        #expect(throws: ELFError.self) { try ELFFile(source: MemoryByteSource(header)) }
        // With no program or section headers a bare header is a valid, empty file.
        var bare = SyntheticELF(format: format)
        bare.set(UInt16(0), at: bare.phnumField)
        bare.setWord(0, at: bare.shoffField)
        header = Array(bare.bytes[0 ..< Int(format.fileHeaderSize)])
        let file = try ELFFile(source: MemoryByteSource(header))
        #expect(file.programHeaders.isEmpty && file.sectionHeaders.isEmpty)
        #expect(try file.dynamic() == nil)
        #expect(try file.interpreter() == nil)
        #expect(file.isStatic)
    }
}

/// Comfortably larger than any synthetic file.
private let elfSizeHint = 0x10000
