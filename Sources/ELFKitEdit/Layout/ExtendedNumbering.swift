import ELFKitCore

/// The section and program header counts written back, with the gABI's extended
/// numbering ("Sections", "Extended section numbering"; "Program Header"):
///
/// - `e_shnum` holds the number of section headers below `SHN_LORESERVE` (0xff00); from
///   there on it is 0 and section 0's `sh_size` holds the number (else `sh_size` is 0);
/// - `e_shstrndx` holds the index of the section-name table below `SHN_LORESERVE`; from
///   there on it is `SHN_XINDEX` (0xffff) and section 0's `sh_link` holds the index;
/// - `e_phnum` holds the number of program headers below `PN_XNUM` (0xffff); from there
///   on it is `PN_XNUM` and section 0's `sh_info` holds the number, so a file without
///   section headers cannot have that many.
///
/// A count the edit left alone keeps its original encoding byte for byte; a changed one
/// is encoded afresh, in whichever form its new value needs (an edit can cross the
/// threshold either way: a note section added or dropped, a PT_LOAD added).
enum ExtendedNumbering {
    /// `SHN_LORESERVE`: the first section index `e_shnum`/`e_shstrndx` cannot hold.
    static let sectionLimit = 0xff00
    /// `PN_XNUM`: `e_phnum`'s escape value (and `SHN_XINDEX`, `e_shstrndx`'s).
    static let escape: UInt16 = 0xffff

    /// The raw `e_shnum` and section 0's `sh_size` for `count` section headers.
    static func sectionCount(_ count: Int) -> (field: UInt16, section0Size: UInt64) {
        // count < 0xff00 fits 16 bits; a larger one goes to the 64-bit sh_size.
        count >= sectionLimit ? (0, UInt64(count)) : (UInt16(count), 0)
    }

    /// The raw `e_shstrndx` and section 0's `sh_link` for the section-name table at `index`.
    static func nameTableIndex(_ index: Int) throws(ELFError) -> (field: UInt16, section0Link: UInt32) {
        if index < sectionLimit { return (UInt16(index), 0) }  // below 0xff00: fits 16 bits
        return (escape, try Checked.narrow(index, to: UInt32.self, "section-name table index (sh_link of section 0)"))
    }

    /// The raw `e_phnum` and section 0's `sh_info` for `count` program headers.
    static func programHeaderCount(_ count: Int) throws(ELFError) -> (field: UInt16, section0Info: UInt32?) {
        if count < Int(escape) { return (UInt16(count), nil) }  // below 0xffff: fits 16 bits
        return (escape, try Checked.narrow(count, to: UInt32.self, "program header count (sh_info of section 0)"))
    }
}

extension PlanInput {
    /// Writes the final section and program header counts into the ELF header and,
    /// where extended numbering needs it, into section 0. Runs once, after every step
    /// that adds or removes headers.
    /// - Parameter tables: The headers as every other step left them.
    /// - Parameter log: Collects the counts written to section 0.
    /// - Returns: The headers with their counts encoded.
    /// - Throws: `EditError.refused` (`.noRoomForProgramHeaders`) when a PN_XNUM count has
    ///   no section 0 to live in; `ELFError` when a count does not fit its field.
    func encodeHeaderCounts(_ tables: HeaderTables, log: inout [String]) throws -> HeaderTables {
        var header = tables.header
        let programHeaders = tables.programHeaders
        var sectionHeaders = tables.sectionHeaders
        let sectionsChanged = sectionHeaders.count != file.sectionHeaders.count
        if sectionsChanged {
            let (field, size) = ExtendedNumbering.sectionCount(sectionHeaders.count)
            header.sectionHeaderCount = field
            // Section 0 is never removed (only a last section after it is), so it is there
            // whenever the table is. Its sh_size goes back to 0 when the count fits e_shnum
            // again; a file that never used extended numbering keeps its section 0 as it was.
            let extendedBefore = file.header.sectionHeaderCount == 0 && !file.sectionHeaders.isEmpty
            if !sectionHeaders.isEmpty && (size != 0 || extendedBefore) {
                sectionHeaders[0].size = size
                log.append("section header count \(sectionHeaders.count): e_shnum \(field), sh_size of section 0 \(size)")
            }
            // The name table keeps its index; re-encoded all the same, so that e_shstrndx
            // and sh_link always agree with the table written.
            if let index = file.sectionNameTableIndex, !sectionHeaders.isEmpty {
                let (field, link) = try ExtendedNumbering.nameTableIndex(index)
                header.sectionNameTableIndex = field
                if field == ExtendedNumbering.escape || file.header.sectionNameTableIndex == ExtendedNumbering.escape {
                    sectionHeaders[0].link = link
                }
            }
        }
        if programHeaders.count != file.programHeaders.count {
            let (field, info) = try ExtendedNumbering.programHeaderCount(programHeaders.count)
            if let info {
                guard !sectionHeaders.isEmpty else {
                    throw EditError.refused(EditRefusal(.noRoomForProgramHeaders, "the edit needs \(programHeaders.count) program headers: that many need PN_XNUM, "
                                            + "whose count lives in section header 0, and the file has no section headers"))
                }
                sectionHeaders[0].info = info
                log.append("program header count \(programHeaders.count): e_phnum PN_XNUM, sh_info of section 0 \(info)")
            } else if file.header.programHeaderCount == ExtendedNumbering.escape, !sectionHeaders.isEmpty {
                sectionHeaders[0].info = 0
            }
            header.programHeaderCount = field
        }
        var encoded = tables
        encoded.header = header
        encoded.sectionHeaders = sectionHeaders
        return encoded
    }
}
