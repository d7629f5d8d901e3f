/// Sizes of the dynamic symbol table and its hash tables, which the file does not state
/// directly: the symbol count comes from `.hash`'s nchain or by walking `.gnu.hash`.
/// In the core because the planner (table sizes) and the loader's portability report
/// (every undefined symbol's version) both need the count.
package struct SymbolTableGeometry {
    package var symbolCount: UInt64?
    package var hashSize: UInt64?
    package var hashEntrySize: UInt64 = 4
    package var gnuHashSize: UInt64?

    package init(file: ELFFile, dynamic: DynamicSection) throws(ELFError) {
        let format = file.format
        // s390x and Alpha use 8-byte .hash entries (their ABIs say so; binutils agrees).
        if format.is64 && file.header.machine == .s390 { hashEntrySize = 8 }

        if let address = dynamic.first(.hash) {
            let raw = try file.bytes(atAddress: address, length: 2 * hashEntrySize, ".hash header")
            let decoder = ByteDecoder(raw, format: format, baseOffset: 0)
            let buckets: UInt64
            let chains: UInt64
            if hashEntrySize == 8 {
                buckets = try decoder.getInteger(at: 0, as: UInt64.self)
                chains = try decoder.getInteger(at: 8, as: UInt64.self)
            } else {
                buckets = UInt64(try decoder.getInteger(at: 0, as: UInt32.self))
                chains = UInt64(try decoder.getInteger(at: 4, as: UInt32.self))
            }
            let words = try Checked.add(try Checked.add(buckets, chains, ".hash size"), 2, ".hash size")
            hashSize = try Checked.multiply(words, hashEntrySize, ".hash size")
            symbolCount = chains
        }
        if let address = dynamic.first(.gnuHash) {
            let (count, size, hashesSymbols) = try SymbolTableGeometry.walkGNUHash(file: file, address: address)
            gnuHashSize = size
            // The walk gives the count only when some symbol is hashed: the hashed ones
            // come last. An executable that exports nothing has empty buckets and
            // unhashed (imported) symbols after symoffset, so the walk says nothing.
            if symbolCount == nil && hashesSymbols { symbolCount = count }
        }
        if let address = dynamic.first(.symtab),
           let section = file.sectionHeaders.first(where: { $0.type == .dynsym && $0.address == address }),
           section.entrySize > 0 {
            let fromSection = section.size / section.entrySize
            if symbolCount == nil || symbolCount! < fromSection && dynamic.first(.hash) == nil { symbolCount = fromSection }
        }
    }

    /// Walks `.gnu.hash` to find the highest symbol index it covers; returns the symbol
    /// count, the table's size in bytes, and whether any symbol is hashed at all.
    package static func walkGNUHash(file: ELFFile, address: UInt64) throws(ELFError) -> (UInt64, UInt64, Bool) {
        let format = file.format
        let headerRaw = try file.bytes(atAddress: address, length: 16, ".gnu.hash header")
        let header = ByteDecoder(headerRaw, format: format, baseOffset: 0)
        let bucketCount = UInt64(try header.getInteger(at: 0, as: UInt32.self))
        let symbolOffset = UInt64(try header.getInteger(at: 4, as: UInt32.self))
        let bloomCount = UInt64(try header.getInteger(at: 8, as: UInt32.self))
        let bloomSize = try Checked.multiply(bloomCount, format.wordSize, ".gnu.hash bloom filter")
        let bucketsAddress = try Checked.add(try Checked.add(address, 16, ".gnu.hash"), bloomSize, ".gnu.hash")
        let bucketsSize = try Checked.multiply(bucketCount, 4, ".gnu.hash buckets")
        // A table without buckets or without a bloom filter hashes nothing (glibc skips an
        // object with no buckets); `strip --remove-section=.gnu.hash` leaves such a zeroed
        // table behind DT_GNU_HASH. Its "chains" would be whatever bytes follow it.
        guard bucketCount > 0, bloomCount > 0 else {
            let size = try Checked.add(16 + bloomSize, bucketsSize, ".gnu.hash size")
            return (symbolOffset, size, false)
        }
        let bucketsRaw = try file.bytes(atAddress: bucketsAddress, length: bucketsSize, ".gnu.hash buckets")
        let buckets = ByteDecoder(bucketsRaw, format: format, baseOffset: 0)
        var highest: UInt64 = 0
        for index in 0 ..< Int(bucketCount) {
            highest = max(highest, UInt64(try buckets.getInteger(at: index * 4, as: UInt32.self)))
        }
        let chainsAddress = try Checked.add(bucketsAddress, bucketsSize, ".gnu.hash chains")
        var count = symbolOffset
        // A bucket of 0 is empty (symbol 0 is never hashed), so all-zero buckets hash nothing.
        let hashesSymbols = highest != 0 && highest >= symbolOffset
        if hashesSymbols {
            // Follow the last bucket's chain to the entry with the end bit set.
            var index = highest
            while true {
                let entryAddress = try Checked.add(chainsAddress, try Checked.multiply(index - symbolOffset, 4, ".gnu.hash chain"), ".gnu.hash chain")
                let raw = try file.bytes(atAddress: entryAddress, length: 4, ".gnu.hash chain entry")
                let value = try ByteDecoder(raw, format: format, baseOffset: 0).getInteger(at: 0, as: UInt32.self)
                if value & 1 != 0 { break }
                index += 1
                guard index - symbolOffset < 1 << 28 else {
                    throw ELFError(.invalid, ".gnu.hash chain has no end", value: address)
                }
            }
            count = index + 1
        }
        let chainBytes = try Checked.multiply(count - symbolOffset, 4, ".gnu.hash chain size")
        let size = try Checked.add(try Checked.add(16 + bloomSize, bucketsSize, ".gnu.hash size"), chainBytes, ".gnu.hash size")
        return (count, size, hashesSymbols)
    }
}
