import ELFKit

/// As patchelf, the structural checks patchelf makes through the section headers, with its
/// messages (patchelf's own test suite, invalid-elf.sh, matches them).
///
/// swelf itself reads the dynamic section through PT_DYNAMIC and needs no section header
/// to be sound, so several of these files are ones swelf can read; as patchelf it refuses
/// what patchelf refuses, for the reason patchelf gives. Every offset and size from the
/// file goes through `fits` before it is read.
struct PatchelfStructureCheck {
    let source: FileByteSource
    private let is64: Bool
    private let bigEndian: Bool

    struct Failure: Error { let message: String }

    init(path: FilePath) throws {
        source = try FileByteSource(path: path)
        let ident = try source.bytes(at: 0, count: 16, "ELF identification")
        is64 = ident[4] == 2
        bigEndian = ident[5] == 2
    }

    /// The first problem patchelf would stop at, and the warnings it would print.
    /// `editing`: the run changes the file (patchelf rewrites the headers); `renaming`:
    /// `--rename-dynamic-symbols` (patchelf then parses .gnu.hash).
    func check(editing: Bool, renaming: Bool) throws -> [String] {
        let word: UInt64 = is64 ? 8 : 4
        let phoff = try field(at: is64 ? 32 : 28, size: word)
        let shoff = try field(at: is64 ? 40 : 32, size: word)
        let phentsize = try field(at: is64 ? 54 : 42, size: 2)
        let phnum = try field(at: is64 ? 56 : 44, size: 2)
        let shentsize = try field(at: is64 ? 58 : 46, size: 2)
        let shnum = try field(at: is64 ? 60 : 48, size: 2)
        let shstrndx = try field(at: is64 ? 62 : 50, size: 2)
        let size = source.size

        guard fits(phoff, phnum * phentsize, size) else { throw Failure(message: "program header table out of bounds") }
        // swelf reads files without section headers; patchelf refuses them. Nothing below
        // applies to them.
        if shnum == 0 { return [] }
        guard fits(shoff, shnum * shentsize, size) else { throw Failure(message: "section header table out of bounds") }
        guard phentsize == (is64 ? 56 : 32) else { throw Failure(message: "program headers have wrong size") }
        guard shentsize == (is64 ? 64 : 40) else { throw Failure(message: "section headers have wrong size") }

        let sections = try (0 ..< shnum).map { try section(shoff + $0 * shentsize) }
        guard shstrndx < shnum else { throw Failure(message: "string table index out of bounds") }
        let names = sections[Int(shstrndx)]
        guard names.offset <= size else { throw Failure(message: "string table offset out of bounds") }
        guard names.size <= size - names.offset else { throw Failure(message: "data region extends past file end") }
        guard names.size > 0 else { throw Failure(message: "string table size is zero") }
        let nameTable = try source.bytes(at: names.offset, count: names.size, "section names")
        guard nameTable.last == 0 else { throw Failure(message: "string table is not zero terminated") }
        var byName: [[UInt8]: Section] = [:]
        var unnamed: [Int] = []
        for (index, section) in sections.enumerated().dropFirst() {
            guard section.name < UInt64(nameTable.count) else { throw Failure(message: "section name offset out of bounds") }
            let name = Array(nameTable[Int(section.name)...].prefix { $0 != 0 })
            if name.isEmpty { unnamed.append(index) }
            if byName[name] == nil { byName[name] = section }
        }

        // A separate debug file keeps the headers of .dynamic and .dynstr as SHT_NOBITS
        // (no bytes in the file): nothing to check there.
        if let dynamic = byName[Array(".dynamic".utf8)], let strings = byName[Array(".dynstr".utf8)],
           dynamic.type != 8, strings.type != 8 {
            let entries = try span(dynamic, alignment: word)
            let table = try span(strings, alignment: 1)
            guard table.last == 0 else { throw Failure(message: "string table is not NUL-terminated") }
            var terminated = false
            var index = 0
            while index + Int(2 * word) <= entries.count {
                let tag = integer(entries, index, Int(word))
                let value = integer(entries, index + Int(word), Int(word))
                index += Int(2 * word)
                if tag == 0 { terminated = true; break }
                // DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH name strings.
                if tag == 1 || tag == 14 || tag == 15 || tag == 29 {
                    guard value < UInt64(table.count) else { throw Failure(message: "string table index out of bounds") }
                }
            }
            guard terminated || !editing else {
                throw Failure(message: "the dynamic section has no DT_NULL terminator (setSubstr: write extends past end of section)")
            }
            if let needs = byName[Array(".gnu.version_r".utf8)], needs.link < UInt64(sections.count),
               sections[Int(needs.link)].offset == strings.offset {
                try checkVersionNeeds(try span(needs, alignment: 4), count: needs.info, strings: table)
            }
        }
        if renaming, let hash = byName[Array(".gnu.hash".utf8)], hash.type != 8 {
            let table = try span(hash, alignment: word)
            guard table.count >= 16 else { throw Failure(message: ".gnu.hash section is too small") }
            let buckets = integer(table, 0, 4), maskWords = integer(table, 8, 4)
            let available = UInt64(table.count - 16)
            let (bloomBytes, o1) = maskWords.multipliedReportingOverflow(by: word)
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

    private struct Section {
        var name: UInt64, type: UInt64, offset: UInt64, size: UInt64, link: UInt64, info: UInt64
    }

    private func section(_ at: UInt64) throws -> Section {
        let word: UInt64 = is64 ? 8 : 4
        return Section(name: try field(at: at, size: 4), type: try field(at: at + 4, size: 4),
                       offset: try field(at: at + (is64 ? 24 : 16), size: word),
                       size: try field(at: at + (is64 ? 32 : 20), size: word),
                       link: try field(at: at + (is64 ? 40 : 24), size: 4),
                       info: try field(at: at + (is64 ? 44 : 28), size: 4))
    }

    /// A section's bytes, as patchelf's getSectionSpan checks them.
    private func span(_ section: Section, alignment: UInt64) throws -> [UInt8] {
        guard fits(section.offset, section.size, source.size) else { throw Failure(message: "data offset extends past file end") }
        guard section.offset % alignment == 0 else { throw Failure(message: "section content is not naturally aligned") }
        return try source.bytes(at: section.offset, count: section.size, "section")
    }

    /// Elf_Verneed records: vn_file and each vna_name must be inside the string table.
    private func checkVersionNeeds(_ bytes: [UInt8], count: UInt64, strings: [UInt8]) throws {
        var position = 0
        for _ in 0 ..< min(count, 1 << 16) {
            guard position >= 0, position + 16 <= bytes.count else { return }
            guard integer(bytes, position + 4, 4) < UInt64(strings.count) else {
                throw Failure(message: "string table index out of bounds")
            }
            var auxiliary = position + Int(integer(bytes, position + 8, 4))
            for _ in 0 ..< integer(bytes, position + 2, 2) {
                guard auxiliary >= 0, auxiliary + 16 <= bytes.count else { break }
                guard integer(bytes, auxiliary + 8, 4) < UInt64(strings.count) else {
                    throw Failure(message: "string table index out of bounds")
                }
                let next = integer(bytes, auxiliary + 12, 4)
                if next == 0 { break }
                auxiliary += Int(next)
            }
            let next = integer(bytes, position + 12, 4)
            if next == 0 { return }
            position += Int(next)
        }
    }

    private func fits(_ offset: UInt64, _ length: UInt64, _ limit: UInt64) -> Bool {
        offset <= limit && length <= limit - offset
    }

    private func field(at offset: UInt64, size: UInt64) throws -> UInt64 {
        integer(try source.bytes(at: offset, count: size, "header field"), 0, Int(size))
    }

    private func integer(_ bytes: [UInt8], _ at: Int, _ size: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in 0 ..< size {
            let byte = UInt64(bytes[at + (bigEndian ? index : size - 1 - index)])
            value = value << 8 | byte
        }
        return value
    }
}
