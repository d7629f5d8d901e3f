import ELFKit

/// As patchelf, the structural checks patchelf makes through the section headers, with its
/// messages (patchelf's own test suite, invalid-elf.sh, matches them).
///
/// swelf itself reads the dynamic section through PT_DYNAMIC and needs no section header
/// to be sound, so several of these files are ones swelf can read; as patchelf it refuses
/// what patchelf refuses, for the reason patchelf gives. The records are read with the
/// core's decoders (`FileHeader`, `SectionHeader`, `ByteDecoder`) and every range is
/// checked with `Checked.fits` before it is read; what is patchelf's own here is only
/// the order of the checks and their words.
struct PatchelfStructureCheck {
    let source: FileByteSource
    private let header: FileHeader

    struct Failure: Error { let message: String }

    /// Reads the ELF header through the core. `PatchelfInputCheck` has passed, so the
    /// file holds a whole header of a known class; an unknown byte order (EI_DATA) is the
    /// core reader's error, as it is for every other swelf read of the file.
    init(path: BytePath) throws {
        source = try FileByteSource(path: path)
        header = try FileHeader.decode(try source.bytes(at: 0, count: min(source.size, 64), "ELF header"))
    }

    private var format: ELFFormat { header.format }

    /// The first problem patchelf would stop at, and the warnings it would print.
    /// `editing`: the run changes the file (patchelf rewrites the headers); `renaming`:
    /// `--rename-dynamic-symbols` (patchelf then parses .gnu.hash).
    func check(editing: Bool, renaming: Bool) throws -> [String] {
        let size = source.size
        // Raw e_phnum, e_shnum and e_shentsize, as patchelf takes them: 16-bit values,
        // whose products cannot overflow 64 bits.
        let phnum = UInt64(header.programHeaderCount), phentsize = UInt64(header.programHeaderEntrySize)
        let shnum = UInt64(header.sectionHeaderCount), shentsize = UInt64(header.sectionHeaderEntrySize)
        let shoff = header.sectionHeaderOffset

        guard Checked.fits(start: header.programHeaderOffset, length: phnum * phentsize, within: size) else {
            throw Failure(message: "program header table out of bounds")
        }
        // swelf reads files without section headers; patchelf refuses them. Nothing below
        // applies to them.
        if shnum == 0 { return [] }
        guard Checked.fits(start: shoff, length: shnum * shentsize, within: size) else {
            throw Failure(message: "section header table out of bounds")
        }
        guard phentsize == format.programHeaderSize else { throw Failure(message: "program headers have wrong size") }
        guard shentsize == format.sectionHeaderSize else { throw Failure(message: "section headers have wrong size") }

        // In the file (checked above), and every record of the core's size.
        var decoder = ByteDecoder(try source.bytes(at: shoff, count: shnum * shentsize, "section header table"),
                                  format: format, baseOffset: shoff)
        let sections = try (0 ..< shnum).map { _ in try SectionHeader.decode(&decoder) }
        let shstrndx = Int(header.sectionNameTableIndex)
        guard shstrndx < sections.count else { throw Failure(message: "string table index out of bounds") }
        let names = sections[shstrndx]
        guard names.offset <= size else { throw Failure(message: "string table offset out of bounds") }
        guard names.size <= size - names.offset else { throw Failure(message: "data region extends past file end") }
        guard names.size > 0 else { throw Failure(message: "string table size is zero") }
        let nameTable = try source.bytes(at: names.offset, count: names.size, "section names")
        guard nameTable.last == 0 else { throw Failure(message: "string table is not zero terminated") }
        var byName: [[UInt8]: SectionHeader] = [:]
        var unnamed: [Int] = []
        for (index, section) in sections.enumerated().dropFirst() {
            guard section.nameOffset < nameTable.count else { throw Failure(message: "section name offset out of bounds") }
            let name = Array(nameTable[Int(section.nameOffset)...].prefix { $0 != 0 })
            if name.isEmpty { unnamed.append(index) }
            if byName[name] == nil { byName[name] = section }
        }

        // A separate debug file keeps the headers of .dynamic and .dynstr as SHT_NOBITS
        // (no bytes in the file): nothing to check there.
        if let dynamic = byName[Array(".dynamic".utf8)], let strings = byName[Array(".dynstr".utf8)],
           dynamic.type != .nobits, strings.type != .nobits {
            var entries = try span(dynamic, alignment: format.wordSize)
            let table = try span(strings, alignment: 1).bytes
            guard table.last == 0 else { throw Failure(message: "string table is not NUL-terminated") }
            var terminated = false
            while entries.bytes.count - entries.position >= Int(format.dynamicEntrySize) {
                let entry = try DynamicEntry.decode(&entries)
                if entry.tag == .null { terminated = true; break }
                switch entry.tag {
                case .needed, .soname, .rpath, .runpath:   // the tags that name a string
                    guard entry.value < table.count else { throw Failure(message: "string table index out of bounds") }
                default: break
                }
            }
            guard terminated || !editing else {
                throw Failure(message: "the dynamic section has no DT_NULL terminator (setSubstr: write extends past end of section)")
            }
            if let needs = byName[Array(".gnu.version_r".utf8)], needs.link < sections.count,
               sections[Int(needs.link)].offset == strings.offset {
                try checkVersionNeeds(try span(needs, alignment: 4), count: needs.info, strings: table)
            }
        }
        if renaming, let hash = byName[Array(".gnu.hash".utf8)], hash.type != .nobits {
            let table = try span(hash, alignment: format.wordSize)
            guard table.bytes.count >= 16 else { throw Failure(message: ".gnu.hash section is too small") }
            let buckets = UInt64(try table.getInteger(at: 0, as: UInt32.self))
            let maskWords = UInt64(try table.getInteger(at: 8, as: UInt32.self))
            let available = UInt64(table.bytes.count - 16)
            let (bloomBytes, o1) = maskWords.multipliedReportingOverflow(by: format.wordSize)
            let (bucketBytes, o2) = buckets.multipliedReportingOverflow(by: 4)
            guard buckets != 0, maskWords != 0, !o1, !o2, bloomBytes <= available, bucketBytes <= available - bloomBytes else {
                throw Failure(message: ".gnu.hash table header out of range")
            }
        }
        if editing {
            return unnamed.map { "warning: section \($0) has no name; a symbol table entry that refers to an unnamed section (index \($0)) is left as it is" }
        }
        return []
    }

    /// A section's bytes, as patchelf's getSectionSpan checks them, ready to decode.
    private func span(_ section: SectionHeader, alignment: UInt64) throws -> ByteDecoder {
        guard Checked.fits(start: section.offset, length: section.size, within: source.size) else {
            throw Failure(message: "data offset extends past file end")
        }
        guard section.offset % alignment == 0 else { throw Failure(message: "section content is not naturally aligned") }
        return ByteDecoder(try source.bytes(at: section.offset, count: section.size, "section"), format: format,
                           baseOffset: section.offset)
    }

    /// Elf_Verneed records: vn_file and each vna_name must be inside the string table.
    /// A record or auxiliary entry that leaves the section ends the walk without a
    /// message, as it ends patchelf's.
    private func checkVersionNeeds(_ needs: ByteDecoder, count: UInt32, strings: [UInt8]) throws {
        func fits(_ position: Int) -> Bool { position >= 0 && position <= needs.bytes.count - 16 }
        var position = 0
        for _ in 0 ..< min(count, 1 << 16) {
            guard fits(position) else { return }
            guard try needs.getInteger(at: position + 4, as: UInt32.self) < strings.count else {   // vn_file
                throw Failure(message: "string table index out of bounds")
            }
            // Both offsets are 32-bit and the positions stay inside the section, so these
            // sums stay far from Int's limits.
            var auxiliary = position + Int(try needs.getInteger(at: position + 8, as: UInt32.self))   // vn_aux
            for _ in 0 ..< (try needs.getInteger(at: position + 2, as: UInt16.self)) {   // vn_cnt
                guard fits(auxiliary) else { break }
                guard try needs.getInteger(at: auxiliary + 8, as: UInt32.self) < strings.count else {   // vna_name
                    throw Failure(message: "string table index out of bounds")
                }
                let next = try needs.getInteger(at: auxiliary + 12, as: UInt32.self)   // vna_next
                if next == 0 { break }
                auxiliary += Int(next)
            }
            let next = try needs.getInteger(at: position + 12, as: UInt32.self)   // vn_next
            if next == 0 { return }
            position += Int(next)
        }
    }
}
