import ELFKitCore

/// `.symtab` values follow the sections that moved.
///
/// The loader never reads `.symtab`, but debuggers, `nm`, eu-elflint and `strip` do: a
/// section symbol, `__abi_tag`, a `$d` mapping symbol or `_DYNAMIC` left at the old
/// address of a table that moved points at bytes that now belong to nothing
/// (eu-elflint: "st_value out of bounds").
extension PlanInput {
    static let sectionIndexExtended: UInt16 = 0xffff   // SHN_XINDEX
    static let sectionIndexReservedStart: UInt16 = 0xff00   // SHN_LORESERVE
    static let symtabSectionIndexType = SectionType(rawValue: 18)   // SHT_SYMTAB_SHNDX

    /// A symbol whose st_shndx names a section that moved, and whose value lies in that
    /// section's old address range (its end included: end-of-section symbols), moves by
    /// the same distance. Symbols of other sections, absolute and common symbols stay.
    /// - Parameter sectionHeaders: The section headers as the edit leaves them.
    /// - Parameter placements: Where the moved objects went (`_DYNAMIC` follows `.dynamic`).
    /// - Parameter log: Collects the count of symbols changed.
    /// - Returns: Patches of the `.symtab` entries whose values change.
    /// - Throws: `EditError.refused` (`.inconsistentTable`) for a `.symtab` that cannot be walked.
    func updateStaticSymbolValues(sectionHeaders: [SectionHeader], placements: [FileObject.Kind: FileObject],
                                  log: inout [String]) throws -> [RewritePlan.Patch] {
        var patches: [RewritePlan.Patch] = []
        var moved: [Int: SectionHeader] = [:]
        for (index, old) in file.sectionHeaders.enumerated() where index < sectionHeaders.count {
            if old.flags.contains(.alloc) && sectionHeaders[index].address != old.address { moved[index] = old }
        }
        guard !moved.isEmpty else { return patches }
        // The linker defines `_DYNAMIC` as an absolute symbol on most architectures (x86_64
        // gives it .dynamic's section index): it follows a moved .dynamic by its name.
        let dynamicMove = placements[.dynamic].flatMap { placed in catalog.object(.dynamic).map { ($0.address, placed.address) } }
        var changed = 0
        for (tableIndex, table) in file.sectionHeaders.enumerated() where table.type == .symtab && table.size > 0 {
            let entrySize = table.entrySize == 0 ? format.symbolSize : table.entrySize
            guard entrySize >= format.symbolSize else {
                throw EditError.refused(EditRefusal(.inconsistentTable, ".symtab (section \(tableIndex)) has sh_entsize 0x\(hex(entrySize)), smaller than a symbol", offset: table.offset))
            }
            let extended = try extendedSectionIndices(of: tableIndex)
            let names = dynamicMove == nil || Int(table.link) >= file.sectionHeaders.count ? nil : file.sectionHeaders[Int(table.link)]
            guard Checked.fits(start: table.offset, length: table.size, within: file.source.size) else {
                throw EditError.refused(EditRefusal(.inconsistentTable, ".symtab (section \(tableIndex)) of 0x\(hex(table.size)) bytes at 0x\(hex(table.offset)) extends past the end of the file", offset: table.offset))
            }
            // A window of symbols at a time: an unstripped 200 MiB program has a 7 MiB .symtab.
            let count = table.size / entrySize
            let window: UInt64 = 16384
            var first: UInt64 = 0
            while first < count {
                let windowCount = min(window, count - first)
                let windowOffset = table.offset + first * entrySize
                let raw = try file.source.bytes(at: windowOffset, count: windowCount * entrySize, ".symtab")
                var decoder = ByteDecoder(raw, format: format, baseOffset: windowOffset)
                for slot in 0 ..< Int(windowCount) {
                    let position = Int(first) + slot
                    let start = UInt64(slot) * entrySize
                    decoder.position = Int(start)
                    var symbol = try ELFSymbol.decode(&decoder)
                    var sectionIndex = Int(symbol.sectionIndex)
                    if symbol.sectionIndex == Self.sectionIndexExtended {
                        guard let extended else {
                            throw EditError.refused(EditRefusal(.inconsistentTable, "symbol \(position) of section \(tableIndex) has st_shndx SHN_XINDEX but no SHT_SYMTAB_SHNDX section gives its section", offset: windowOffset + start))
                        }
                        guard position < extended.count else {
                            throw EditError.refused(EditRefusal(.inconsistentTable, "SHT_SYMTAB_SHNDX of section \(tableIndex) has no entry for symbol \(position)", offset: windowOffset + start))
                        }
                        sectionIndex = Int(extended[position])
                    } else if symbol.sectionIndex >= Self.sectionIndexReservedStart {
                        guard symbol.sectionIndex == Self.sectionIndexAbsolute, let (from, to) = dynamicMove, symbol.value == from,
                              let names, isDynamicName(symbol.nameOffset, in: names) else { continue }
                        symbol.value = to
                        var encoder = ByteEncoder(format: format)
                        try symbol.encode(into: &encoder)
                        patches.append(RewritePlan.Patch(offset: windowOffset + start, bytes: encoder.bytes))
                        changed += 1
                        continue
                    }
                    guard let old = moved[sectionIndex], symbol.value >= old.address, symbol.value - old.address <= old.size else { continue }
                    // An address shift, modulo the class's word: symbol.value >= old.address
                    // (checked above), and the mask keeps an ELF32 result in 32 bits.
                    symbol.value = (symbol.value &- old.address &+ sectionHeaders[sectionIndex].address) & format.maximumWord
                    var encoder = ByteEncoder(format: format)
                    try symbol.encode(into: &encoder)
                    patches.append(RewritePlan.Patch(offset: windowOffset + start, bytes: encoder.bytes))
                    changed += 1
                }
                first += windowCount
            }
        }
        if changed > 0 { log.append(".symtab: \(changed) symbol value(s) follow their moved sections") }
        return patches
    }

    static let sectionIndexAbsolute: UInt16 = 0xfff1   // SHN_ABS

    /// Whether the string at `offset` of string table `names` is `_DYNAMIC`: nine bytes read,
    /// not the whole table (29 MiB in an unstripped 200 MiB program).
    private func isDynamicName(_ offset: UInt32, in names: SectionHeader) -> Bool {
        let wanted = Array("_DYNAMIC\0".utf8)
        guard UInt64(offset) < names.size, names.size - UInt64(offset) >= UInt64(wanted.count),
              // offset < sh_size; a wrapped sum is refused by bytes(at:) as outside the file.
              let bytes = try? file.source.bytes(at: names.offset &+ UInt64(offset), count: UInt64(wanted.count), ".strtab")
        else { return false }
        return bytes == wanted
    }

    /// The section indices of SHT_SYMTAB_SHNDX linked to `.symtab` section `table`, if any.
    private func extendedSectionIndices(of table: Int) throws -> [UInt32]? {
        guard let section = file.sectionHeaders.first(where: { $0.type == Self.symtabSectionIndexType && Int($0.link) == table }),
              section.size > 0 else { return nil }
        let raw = try file.source.bytes(at: section.offset, count: section.size, "SHT_SYMTAB_SHNDX")
        let decoder = ByteDecoder(raw, format: format, baseOffset: section.offset)
        var indices: [UInt32] = []
        for position in 0 ..< raw.count / 4 { indices.append(try decoder.getInteger(at: position * 4)) }
        return indices
    }
}
