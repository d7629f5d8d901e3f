import ELFKitCore

/// `--rename-dynamic-symbols`: new names in `.dynsym`, and the hash tables rebuilt so
/// the loader finds the symbols under their new names.
///
/// `.gnu.hash` requires the hashed symbols to be grouped by bucket in `.dynsym` order, so
/// a renamed symbol may have to move within `.dynsym`; `.gnu.version` moves with it and
/// every relocation that names a moved symbol by index is rewritten. All tables keep
/// their sizes, so this changes bytes in place and never forces a relocation.
extension PlanInput {
    /// The names of the dynamic symbols, in table order.
    func symbolNames(dynamic: DynamicSection) throws -> [[UInt8]] {
        try readSymbols().map { try dynamic.rawString(at: UInt64($0.nameOffset)) }
    }

    func readSymbols() throws -> [ELFSymbol] {
        guard let object = catalog.object(.dynamicSymbols) else {
            throw EditError.refused(EditRefusal(.unsupportedLayout, "the dynamic symbol table's size cannot be determined (no .hash, .gnu.hash or section header)"))
        }
        let raw = try file.source.bytes(at: object.offset, count: object.size, ".dynsym")
        var decoder = ByteDecoder(raw, format: format, baseOffset: object.offset)
        var symbols: [ELFSymbol] = []
        let count = object.size / format.symbolSize
        symbols.reserveCapacity(Int(count))
        for _ in 0 ..< count { symbols.append(try ELFSymbol.decode(&decoder)) }
        return symbols
    }

    /// Gives renamed dynamic symbols their new names, reorders `.dynsym` (and
    /// `.gnu.version`, and the relocations that name moved symbols) where `.gnu.hash`
    /// needs it, and rebuilds the hash tables.
    /// - Parameter symbolNameOffsets: Where string placement put the new names.
    /// - Parameter versionSymbols: `.gnu.version` as the version step left it (nil: unchanged).
    /// - Parameter log: Collects the decisions.
    /// - Returns: The new tables, and the patches of the relocations that name moved symbols.
    /// - Throws: `EditError.refused` when the tables cannot be rebuilt.
    func renameSymbols(symbolNameOffsets: [[UInt8]: UInt64], versionSymbols: [UInt8]?,
                       log: inout [String]) throws -> RenamedSymbols {
        var result = RenamedSymbols()
        guard !outcome.renamedSymbols.isEmpty, let dynamic = try file.dynamic() else { return result }
        if let entrySize = dynamic.first(.symEntrySize), entrySize != format.symbolSize {
            throw EditError.refused(EditRefusal(.inconsistentTable, "DT_SYMENT is \(entrySize), expected \(format.symbolSize)"))
        }
        // Walked first: a relocation table the edit could not rewrite refuses it, moved
        // symbols or not.
        let relocations = try file.dynamicRelocations(dynamic)
        var symbols = try readSymbols()
        var names = try symbols.map { try dynamic.rawString(at: UInt64($0.nameOffset)) }
        var renamed = 0
        for index in symbols.indices {
            guard let new = outcome.renamedSymbols[names[index]], let offset = symbolNameOffsets[new] else { continue }
            symbols[index].nameOffset = try Checked.narrow(offset, to: UInt32.self, "new name of dynamic symbol \(index): its .dynstr offset (st_name)")
            names[index] = new
            renamed += 1
        }
        log.append("renamed \(renamed) dynamic symbol(s)")
        guard renamed > 0 else { return result }

        // New order: .gnu.hash groups hashed symbols by bucket; others keep their place.
        var order = Array(symbols.indices)
        var gnu: GNUHashLayout?
        if let object = catalog.object(.gnuHash), !(try GNUHashLayout.isEmpty(try original(.gnuHash), format: format)) {
            // Only the symbols the table hashed before are hashed again (an executable's
            // imports may follow symoffset unhashed); the table keeps its size.
            let (count, _, hashesSymbols) = try SymbolTableGeometry.walkGNUHash(file: file, address: object.address)
            var layout = try GNUHashLayout(bytes: try original(.gnuHash), format: format, offset: object.offset)
            let start = Int(layout.symbolOffset)
            let end = hashesSymbols ? Int(count) : start
            guard start <= end, end <= symbols.count else { throw EditError.refused(EditRefusal(.inconsistentTable, ".gnu.hash does not match .dynsym", offset: object.offset)) }
            layout.hashedEnd = end
            let hashed = order[start ..< end].sorted { a, b in
                let (x, y) = (gnuHash(names[a]) % layout.bucketCount, gnuHash(names[b]) % layout.bucketCount)
                return x != y ? x < y : a < b
            }
            order.replaceSubrange(start ..< end, with: hashed)
            gnu = layout
        }
        let moved = order.enumerated().contains { $0.offset != $0.element }
        if moved {
            guard file.header.machine != .mips else {
                throw EditError.refused(EditRefusal(.unsupportedLayout, "renaming would reorder .dynsym, which MIPS forbids (its GOT follows the symbol order)"))
            }
            guard !dynamic.has(.symtabShndx) else { throw EditError.refused(EditRefusal(.unsupportedLayout, "DT_SYMTAB_SHNDX is not supported")) }
            log.append(".dynsym reordered to keep .gnu.hash buckets contiguous")
        }
        var newIndex = [UInt64](repeating: 0, count: symbols.count)
        for (position, old) in order.enumerated() { newIndex[old] = UInt64(position) }
        let orderedSymbols = order.map { symbols[$0] }
        let orderedNames = order.map { names[$0] }

        var encoder = ByteEncoder(format: format)
        for symbol in orderedSymbols { try symbol.encode(into: &encoder) }
        result.contents[.dynamicSymbols] = encoder.bytes

        if moved, catalog.object(.versionSymbols) != nil {
            let versions = try versionSymbols ?? original(.versionSymbols)
            var reordered = [UInt8](repeating: 0, count: versions.count)
            for (position, old) in order.enumerated() where old * 2 + 2 <= versions.count && position * 2 + 2 <= versions.count {
                reordered[position * 2] = versions[old * 2]
                reordered[position * 2 + 1] = versions[old * 2 + 1]
            }
            result.contents[.versionSymbols] = reordered
        }
        if let layout = gnu {
            result.contents[.gnuHash] = try layout.rebuilt(names: orderedNames, format: format)
        }
        if catalog.object(.hash) != nil {
            result.contents[.hash] = try rebuildSysVHash(names: orderedNames)
        }
        if moved { result.relocationPatches = try rewriteRelocations(relocations, newIndex: newIndex, log: &log) }
        return result
    }

    /// `.hash` with the same bucket count, chains rebuilt for the new names.
    private func rebuildSysVHash(names: [[UInt8]]) throws -> [UInt8] {
        let bytes = try original(.hash)
        // s390x uses 8-byte .hash entries.
        let wide = format.is64 && file.header.machine == .s390
        let width = wide ? 8 : 4
        let decoder = ByteDecoder(bytes, format: format, baseOffset: 0)
        let rawBucketCount = wide ? try decoder.getInteger(at: 0, as: UInt64.self) : UInt64(try decoder.getInteger(at: 0, as: UInt32.self))
        // Compared by division first: (2 + nbucket + nchain) * width must not overflow.
        guard rawBucketCount > 0, rawBucketCount <= UInt64(bytes.count / width),
              case let bucketCount = Int(rawBucketCount), (2 + bucketCount + names.count) * width <= bytes.count else {
            throw EditError.refused(EditRefusal(.inconsistentTable, ".hash (nbucket 0x\(hex(rawBucketCount))) does not match the symbol count \(names.count)", offset: catalog.object(.hash)?.offset))
        }
        var buckets = [UInt64](repeating: 0, count: bucketCount)
        var chains = [UInt64](repeating: 0, count: names.count)
        for index in (1 ..< max(names.count, 1)).reversed() where index < names.count {
            let bucket = Int(elfHash(names[index]) % UInt32(rawBucketCount))  // 0 < nbucket <= 0xffffffff on every .hash read
            chains[index] = buckets[bucket]
            buckets[bucket] = UInt64(index)
        }
        var encoder = ByteEncoder(format: format)
        for value in [UInt64(bucketCount), UInt64(names.count)] + buckets + chains {
            if wide { encoder.writeU64(value) } else { encoder.writeU32(try Checked.narrow(value, to: UInt32.self, ".hash entry")) }
        }
        return encoder.bytes + bytes[encoder.bytes.count...]
    }

    /// Points every relocation at its symbol's new index: the patches of their `r_info`.
    private func rewriteRelocations(_ relocations: [RelocationReference], newIndex: [UInt64],
                                    log: inout [String]) throws -> [RewritePlan.Patch] {
        var patches: [RewritePlan.Patch] = []
        var seen: Set<UInt64> = []
        var rewritten = 0
        for relocation in relocations {
            guard seen.insert(relocation.infoOffset).inserted else { continue }  // tables may overlap
            var info = relocation.info
            guard info.symbol != 0 else { continue }
            guard info.symbol < UInt64(newIndex.count) else {
                throw EditError.refused(EditRefusal(.inconsistentTable, "relocation at offset 0x\(hex(relocation.infoOffset)) names symbol \(info.symbol), beyond .dynsym", offset: relocation.infoOffset))
            }
            let target = newIndex[Int(info.symbol)]
            guard target != info.symbol else { continue }
            info.symbol = target
            var encoder = ByteEncoder(format: format)
            try encoder.writeWord(info.raw(format: format), "r_info")
            patches.append(RewritePlan.Patch(offset: relocation.infoOffset, bytes: encoder.bytes))
            rewritten += 1
        }
        log.append("\(rewritten) relocation(s) now name their symbol's new index")
        return patches
    }
}

/// What renaming symbols produced: new tables, and patches of relocations outside them.
struct RenamedSymbols {
    /// New `.dynsym`, `.gnu.version`, `.gnu.hash`, `.hash`, where they changed.
    var contents: [FileObject.Kind: [UInt8]] = [:]
    /// `r_info` of relocations that name a symbol that moved within `.dynsym`.
    var relocationPatches: [RewritePlan.Patch] = []
}

/// The fixed geometry of a `.gnu.hash` table, and its contents rebuilt for new names.
struct GNUHashLayout {
    let bucketCount: UInt32
    let symbolOffset: UInt32
    let bloomCount: UInt32
    let bloomShift: UInt32
    let size: Int
    /// One past the last hashed symbol.
    var hashedEnd = 0

    init(bytes: [UInt8], format: ELFFormat, offset: UInt64) throws {
        let decoder = ByteDecoder(bytes, format: format, baseOffset: offset)
        bucketCount = try decoder.getInteger(at: 0)
        symbolOffset = try decoder.getInteger(at: 4)
        bloomCount = try decoder.getInteger(at: 8)
        bloomShift = try decoder.getInteger(at: 12)
        size = bytes.count
        guard bucketCount > 0, bloomCount > 0 else { throw EditError.refused(EditRefusal(.inconsistentTable, ".gnu.hash has no buckets or no bloom filter", offset: offset)) }
        // The arrays `rebuilt` allocates must lie in the table: a bloom or bucket count
        // read from the file is not an allocation size (0xffffffff words is 32 GiB).
        let fixed = 16 + UInt64(bloomCount) * format.wordSize + UInt64(bucketCount) * 4  // < 2^37: no overflow
        guard fixed <= UInt64(size) else {
            throw EditError.refused(EditRefusal(.inconsistentTable, ".gnu.hash at offset 0x\(hex(offset)): \(bloomCount) bloom words and \(bucketCount) buckets need 0x\(hex(fixed)) bytes, the table has 0x\(hex(size))", offset: offset))
        }
    }

    /// No buckets or no bloom filter: the table hashes nothing and stays as it is.
    static func isEmpty(_ bytes: [UInt8], format: ELFFormat) throws -> Bool {
        let decoder = ByteDecoder(bytes, format: format, baseOffset: 0)
        return try decoder.getInteger(at: 0, as: UInt32.self) == 0 || decoder.getInteger(at: 8, as: UInt32.self) == 0
    }

    func rebuilt(names: [[UInt8]], format: ELFFormat) throws -> [UInt8] {
        let wordBits = UInt32(format.wordSize * 8)
        var bloom = [UInt64](repeating: 0, count: Int(bloomCount))
        var buckets = [UInt32](repeating: 0, count: Int(bucketCount))
        let first = Int(symbolOffset)
        var chains = [UInt32](repeating: 0, count: max(hashedEnd - first, 0))
        for index in first ..< hashedEnd {
            let hash = gnuHash(names[index])
            let word = Int((hash / wordBits) % bloomCount)
            bloom[word] |= 1 << UInt64(hash % wordBits)
            bloom[word] |= 1 << UInt64((hash >> bloomShift) % wordBits)
            let bucket = Int(hash % bucketCount)
            if buckets[bucket] == 0 { buckets[bucket] = try Checked.narrow(index, to: UInt32.self, ".gnu.hash bucket (symbol index)") }
            let isLast = index + 1 == hashedEnd || gnuHash(names[index + 1]) % bucketCount != hash % bucketCount
            chains[index - first] = (hash & ~1) | (isLast ? 1 : 0)
        }
        var encoder = ByteEncoder(format: format)
        for value in [bucketCount, symbolOffset, bloomCount, bloomShift] { encoder.writeU32(value) }
        for word in bloom { if format.is64 { encoder.writeU64(word) } else { encoder.writeU32(UInt32(truncatingIfNeeded: word)) } }
        for bucket in buckets { encoder.writeU32(bucket) }
        for chain in chains { encoder.writeU32(chain) }
        guard encoder.bytes.count == size else {
            throw EditError.refused(EditRefusal(.internalError, "rebuilt .gnu.hash has \(encoder.bytes.count) bytes, the original \(size)"))
        }
        return encoder.bytes
    }
}
