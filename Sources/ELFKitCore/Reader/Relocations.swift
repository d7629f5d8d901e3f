/// One entry of a dynamic relocation table: where its `r_info` word is in the file, and
/// what it says.
package struct RelocationReference: Sendable {
    /// File offset of the entry's `r_info` field.
    package var infoOffset: UInt64
    package var info: RelocationInfo
}

extension ELFFile {
    /// Every entry of the relocation tables the dynamic section names (DT_RELA, DT_REL,
    /// DT_JMPREL), in table order; tables may overlap, so an entry can appear twice.
    ///
    /// The one checked walk for the edit side: the entry size must be the class's
    /// Elf_Rel or Elf_Rela size, the table must lie in a PT_LOAD's file image (so its size is bounded by
    /// the file), and positions are computed as `index * entsize < size` in 64 bits
    /// before anything becomes an `Int`. (The independent verifier has its own walk on
    /// purpose: it must not share code with what it judges.)
    package func dynamicRelocations(_ dynamic: DynamicSection) throws(ELFError) -> [RelocationReference] {
        let format = self.format
        let wordSize = format.wordSize
        var result: [RelocationReference] = []
        for table in dynamic.relocationTables(format: format) where table.size > 0 {
            // glibc's ld.so asserts the same (get-dynamic-info.h).
            let expected = (table.isRela ? 3 : 2) * wordSize
            guard table.entrySize == expected else {
                throw ELFError(.invalid, "\(table.isRela ? "DT_RELAENT" : "DT_RELENT") is 0x\(hex(table.entrySize)), expected \(expected)",
                               value: table.entrySize)
            }
            let offset = try fileOffset(ofAddress: table.address, length: table.size)
            let raw = try source.bytes(at: offset, count: table.size, "relocation table")
            let decoder = ByteDecoder(raw, format: format, baseOffset: offset)
            let count = table.size / table.entrySize
            // count * entrySize <= size == raw.count: neither product nor Int conversion can overflow.
            result.reserveCapacity(result.count + Int(count))
            for index in 0 ..< count {
                let position = index * table.entrySize + wordSize
                let value = format.is64 ? try decoder.getInteger(at: Int(position), as: UInt64.self)
                    : UInt64(try decoder.getInteger(at: Int(position), as: UInt32.self))
                result.append(RelocationReference(infoOffset: offset + position, info: RelocationInfo(raw: value, format: format)))
            }
        }
        return result
    }
}
