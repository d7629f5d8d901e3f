import ELFKitCore

/// `.symtab` values follow the sections that moved.
///
/// The loader never reads `.symtab`, but debuggers, `nm`, eu-elflint and `strip` do: a
/// section symbol, `__abi_tag`, a `$d` mapping symbol or `_DYNAMIC` left at the old
/// address of a table that moved points at bytes that now belong to nothing
/// (eu-elflint: "st_value out of bounds").
extension PlanState {
    static let sectionIndexExtended: UInt16 = 0xffff   // SHN_XINDEX
    static let sectionIndexReservedStart: UInt16 = 0xff00   // SHN_LORESERVE
    static let symtabSectionIndexType = SectionType(rawValue: 18)   // SHT_SYMTAB_SHNDX

    /// A symbol whose st_shndx names a section that moved, and whose value lies in that
    /// section's old address range (its end included: end-of-section symbols), moves by
    /// the same distance. Symbols of other sections, absolute and common symbols stay.
    mutating func updateStaticSymbolValues() throws {
        var moved: [Int: SectionHeader] = [:]
        for (index, old) in file.sectionHeaders.enumerated() where index < sectionHeaders.count {
            if old.flags.contains(.alloc) && sectionHeaders[index].address != old.address { moved[index] = old }
        }
        guard !moved.isEmpty else { return }
        // The linker defines `_DYNAMIC` as an absolute symbol on most architectures (x86_64
        // gives it .dynamic's section index): it follows a moved .dynamic by its name.
        let dynamicMove = placements[.dynamic].flatMap { placed in catalog.object(.dynamic).map { ($0.address, placed.address) } }
        var changed = 0
        for (tableIndex, table) in file.sectionHeaders.enumerated() where table.type == .symtab && table.size > 0 {
            let entrySize = table.entrySize == 0 ? format.symbolSize : table.entrySize
            guard entrySize >= format.symbolSize else {
                throw EditError.refused(".symtab (section \(tableIndex)) has sh_entsize 0x\(hex(entrySize)), smaller than a symbol")
            }
            let raw = try file.source.bytes(at: table.offset, count: table.size, ".symtab")
            let extended = try extendedSectionIndices(of: tableIndex)
            let names = dynamicMove == nil || Int(table.link) >= file.sectionHeaders.count ? nil
                : try? file.source.bytes(at: file.sectionHeaders[Int(table.link)].offset,
                                         count: file.sectionHeaders[Int(table.link)].size, ".strtab")
            let count = Int(table.size / entrySize)
            for position in 0 ..< count {
                let start = position * Int(entrySize)
                var decoder = ByteDecoder(Array(raw[start ..< start + Int(format.symbolSize)]), format: format,
                                          baseOffset: table.offset + UInt64(start))
                var symbol = try Symbol.decode(&decoder)
                var sectionIndex = Int(symbol.sectionIndex)
                if symbol.sectionIndex == Self.sectionIndexExtended {
                    guard let extended else {
                        throw EditError.refused("symbol \(position) of section \(tableIndex) has st_shndx SHN_XINDEX but no SHT_SYMTAB_SHNDX section gives its section")
                    }
                    guard position < extended.count else {
                        throw EditError.refused("SHT_SYMTAB_SHNDX of section \(tableIndex) has no entry for symbol \(position)")
                    }
                    sectionIndex = Int(extended[position])
                } else if symbol.sectionIndex >= Self.sectionIndexReservedStart {
                    guard symbol.sectionIndex == Self.sectionIndexAbsolute, let (from, to) = dynamicMove, symbol.value == from,
                          let names, Self.name(at: symbol.nameOffset, in: names) == Array("_DYNAMIC".utf8) else { continue }
                    symbol.value = to
                    var encoder = ByteEncoder(format: format)
                    try symbol.encode(into: &encoder)
                    extraPatches.append(RewritePlan.Patch(offset: table.offset + UInt64(start), bytes: encoder.bytes))
                    changed += 1
                    continue
                }
                guard let old = moved[sectionIndex], symbol.value >= old.address, symbol.value - old.address <= old.size else { continue }
                symbol.value = (symbol.value &- old.address &+ sectionHeaders[sectionIndex].address) & format.maximumWord
                var encoder = ByteEncoder(format: format)
                try symbol.encode(into: &encoder)
                extraPatches.append(RewritePlan.Patch(offset: table.offset + UInt64(start), bytes: encoder.bytes))
                changed += 1
            }
        }
        if changed > 0 { log.append(".symtab: \(changed) symbol value(s) follow their moved sections") }
    }

    static let sectionIndexAbsolute: UInt16 = 0xfff1   // SHN_ABS

    /// The NUL-terminated string at `offset` of a string table, without its NUL.
    static func name(at offset: UInt32, in table: [UInt8]) -> [UInt8]? {
        guard Int(offset) < table.count, let end = table[Int(offset)...].firstIndex(of: 0) else { return nil }
        return Array(table[Int(offset) ..< end])
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
