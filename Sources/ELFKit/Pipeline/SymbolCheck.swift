import ELFKitCore
import ELFKitEdit
import ELFKitVerify

/// Checks of `--rename-dynamic-symbols` that do not trust the planner: every symbol is
/// still there with the expected name and unchanged fields, every defined symbol is found
/// through the file's own hash tables the way the loader looks it up, and every
/// relocation names the same symbol as before.
struct SymbolCheck {
    let original: ELFFile
    let edited: ELFFile
    let renames: [[UInt8]: [UInt8]]

    func problems() throws -> [String] {
        guard let oldDynamic = try original.dynamic(), let newDynamic = try edited.dynamic() else { return [] }
        let old = try SymbolTable(file: original, dynamic: oldDynamic)
        let new = try SymbolTable(file: edited, dynamic: newDynamic)
        var problems: [String] = []

        func key(_ symbol: Symbol, _ name: [UInt8]) -> String {
            "\(name)|\(symbol.info)|\(symbol.other)|\(symbol.sectionIndex)|\(symbol.value)|\(symbol.size)"
        }
        let expected = zip(old.symbols, old.names).map { symbol, name in
            key(symbol, renames[name] ?? name)
        }.sorted()
        let actual = zip(new.symbols, new.names).map { key($0, $1) }.sorted()
        if expected != actual { problems.append("the renamed .dynsym does not hold exactly the expected symbols") }

        // Every symbol the loader found through the hash tables before, it still finds,
        // under its new name.
        var newIndexByKey: [String: Int] = [:]
        for (index, (symbol, name)) in zip(new.symbols, new.names).enumerated() { newIndexByKey[key(symbol, name)] = index }
        for (index, (symbol, name)) in zip(old.symbols, old.names).enumerated() where index > 0 && symbol.isDefined {
            guard try old.hashLookupFinds(index) else { continue }
            let renamed = renames[name] ?? name
            guard let newIndex = newIndexByKey[key(symbol, renamed)], try new.hashLookupFinds(newIndex) else {
                problems.append("symbol '\(String(decoding: renamed, as: UTF8.self))' cannot be found through the hash tables")
                break
            }
        }

        let oldRelocations = try old.relocationSymbols(file: original, dynamic: oldDynamic)
        let newRelocations = try new.relocationSymbols(file: edited, dynamic: newDynamic)
        let mapped = oldRelocations.map { name -> [UInt8] in
            renames[name] ?? name
        }
        if mapped != newRelocations { problems.append("a relocation names a different symbol than before") }
        return problems
    }
}

/// `.dynsym` with names and the loader's hash lookups, read from a file.
struct SymbolTable {
    let file: ELFFile
    let symbols: [Symbol]
    let names: [[UInt8]]
    let gnuHashAddress: UInt64?
    let hashAddress: UInt64?

    init(file: ELFFile, dynamic: DynamicSection) throws {
        self.file = file
        let catalog = try FileObjectCatalog(file: file)
        guard let object = catalog.object(.dynamicSymbols) else {
            symbols = []
            names = []
            gnuHashAddress = nil
            hashAddress = nil
            return
        }
        let raw = try file.source.bytes(at: object.offset, count: object.size, ".dynsym")
        var decoder = ByteDecoder(raw, format: file.format, baseOffset: object.offset)
        var symbols: [Symbol] = []
        for _ in 0 ..< object.size / file.format.symbolSize { symbols.append(try Symbol.decode(&decoder)) }
        self.symbols = symbols
        names = try symbols.map { try dynamic.rawString(at: UInt64($0.nameOffset)) }
        gnuHashAddress = dynamic.first(.gnuHash)
        hashAddress = dynamic.first(.hash)
    }

    private func word32(_ address: UInt64) throws -> UInt32 {
        let raw = try file.bytes(atAddress: address, length: 4, "hash table")
        return try ByteDecoder(raw, format: file.format, baseOffset: 0).getInteger(at: 0)
    }

    /// Looks the symbol's name up as ld.so does and checks the search reaches `index`.
    func hashLookupFinds(_ index: Int) throws -> Bool {
        let name = names[index]
        if let base = gnuHashAddress {
            let buckets = try word32(base)
            let symbolOffset = try word32(base + 4)
            let bloomCount = try word32(base + 8)
            let shift = try word32(base + 12)
            guard buckets > 0, bloomCount > 0 else { return false }
            // Symbols below symoffset are not in .gnu.hash by design.
            if UInt64(index) < UInt64(symbolOffset) { return true }
            let wordSize = file.format.wordSize
            let wordBits = UInt32(wordSize * 8)
            let hash = gnuHash(name)
            let bloomAddress = base + 16 + UInt64((hash / wordBits) % bloomCount) * wordSize
            let bloomRaw = try file.bytes(atAddress: bloomAddress, length: wordSize, "bloom word")
            let decoder = ByteDecoder(bloomRaw, format: file.format, baseOffset: 0)
            let bloom: UInt64 = wordSize == 8 ? try decoder.getInteger(at: 0) : UInt64(try decoder.getInteger(at: 0, as: UInt32.self))
            let mask = (UInt64(1) << UInt64(hash % wordBits)) | (UInt64(1) << UInt64((hash >> shift) % wordBits))
            guard bloom & mask == mask else { return false }
            let bucketsAddress = base + 16 + UInt64(bloomCount) * wordSize
            var candidate = UInt64(try word32(bucketsAddress + UInt64(hash % buckets) * 4))
            guard candidate >= UInt64(symbolOffset) else { return false }
            let chains = bucketsAddress + UInt64(buckets) * 4
            while candidate < UInt64(symbols.count) {
                let chain = try word32(chains + (candidate - UInt64(symbolOffset)) * 4)
                // Versioned names repeat (foo@V1, foo@@V2): the chain must reach this index.
                if chain | 1 == hash | 1 && Int(candidate) == index && names[Int(candidate)] == name { return true }
                if chain & 1 != 0 { return false }
                candidate += 1
            }
            return false
        }
        if let base = hashAddress {
            let wide = file.format.is64 && file.header.machine == .s390
            let width: UInt64 = wide ? 8 : 4
            func entry(_ position: UInt64) throws -> UInt64 {
                let raw = try file.bytes(atAddress: base + position * width, length: width, ".hash")
                let decoder = ByteDecoder(raw, format: file.format, baseOffset: 0)
                return wide ? try decoder.getInteger(at: 0) : UInt64(try decoder.getInteger(at: 0, as: UInt32.self))
            }
            let buckets = try entry(0)
            guard buckets > 0 else { return false }
            var candidate = try entry(2 + UInt64(elfHash(name)) % buckets)
            var steps = 0
            while candidate != 0 && candidate < UInt64(symbols.count) && steps <= symbols.count {
                if Int(candidate) == index && names[Int(candidate)] == name { return true }
                candidate = try entry(2 + buckets + candidate)
                steps += 1
            }
            return false
        }
        return true  // no hash table: nothing to look up through
    }

    /// The symbol name each relocation refers to, in table order.
    func relocationSymbols(file: ELFFile, dynamic: DynamicSection) throws -> [[UInt8]] {
        var result: [[UInt8]] = []
        let format = file.format
        for table in dynamic.relocationTables(format: format) where table.entrySize >= 2 * format.wordSize {
            let raw = try file.bytes(atAddress: table.address, length: table.size, "relocations")
            let decoder = ByteDecoder(raw, format: format, baseOffset: 0)
            var position = 0
            while position + Int(table.entrySize) <= raw.count {
                let value = format.is64 ? try decoder.getInteger(at: position + 8, as: UInt64.self)
                    : UInt64(try decoder.getInteger(at: position + 4, as: UInt32.self))
                let symbol = RelocationInfo(raw: value, format: format).symbol
                result.append(symbol < UInt64(names.count) ? names[Int(symbol)] : [])
                position += Int(table.entrySize)
            }
        }
        return result
    }
}
