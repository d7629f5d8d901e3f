/// The linked records of `.gnu.version_r` or `.gnu.version_d`, walked in one place.
///
/// Each table is a list of entries (`Elf_Verneed`/`Elf_Verdef`), each with a list of
/// auxiliary entries (`Elf_Vernaux`/`Elf_Verdaux`), linked by byte distances the file
/// states. The reader's decoded lists, the planner's table extents and its positions of
/// entries all come from this walk: checked arithmetic, at most DT_VERNEEDNUM or
/// DT_VERDEFNUM entries, and a budget bounded by the file's size (entries may share one
/// chain of auxiliary entries). The verifier walks the tables again on its own, on
/// purpose: it must not share code with what it judges.
package struct VersionChain {
    /// Where the fields of one kind of table are.
    package struct Layout: Sendable {
        let table: String
        let entrySize: UInt64
        let countAt: Int, auxAt: Int, nextAt: Int
        let auxSize: UInt64
        let auxNextAt: Int
        /// What one visited record costs against the budget.
        let recordSize: UInt64
    }

    package static let needs = Layout(table: ".gnu.version_r", entrySize: 16, countAt: 2, auxAt: 8, nextAt: 12,
                                      auxSize: 16, auxNextAt: 12, recordSize: 16)
    package static let definitions = Layout(table: ".gnu.version_d", entrySize: 20, countAt: 6, auxAt: 12, nextAt: 16,
                                            auxSize: 8, auxNextAt: 4, recordSize: 8)

    package struct Record {
        package let address: UInt64
        /// The entry's bytes, decodable with `decoder`.
        package let decoder: ByteDecoder
        /// Each auxiliary entry's address and bytes.
        package let auxiliaries: [(address: UInt64, decoder: ByteDecoder)]
    }

    package let address: UInt64
    package private(set) var records: [Record] = []
    /// Bytes from the table's address to the end of the last record any entry uses.
    package private(set) var extent: UInt64 = 0

    package init(image: LoadedImage, address: UInt64, count: UInt64, layout: Layout) throws(ELFError) {
        self.address = address
        var budget = WalkBudget(layout.table, fileSize: image.source.size, recordSize: layout.recordSize)
        var end = address
        var entryAddress = address
        for _ in 0 ..< min(count, 0x10000) {
            let entryOffset = try image.fileOffset(ofAddress: entryAddress, length: layout.entrySize)
            try budget.spend(at: entryOffset)
            let decoder = ByteDecoder(try image.bytes(atAddress: entryAddress, length: layout.entrySize, layout.table),
                                      format: image.format, baseOffset: entryOffset)
            end = max(end, try Checked.add(entryAddress, layout.entrySize, layout.table))
            var auxiliaries: [(address: UInt64, decoder: ByteDecoder)] = []
            let auxCount: UInt16 = try decoder.getInteger(at: layout.countAt)
            var auxAddress = try Checked.add(entryAddress, UInt64(try decoder.getInteger(at: layout.auxAt, as: UInt32.self)),
                                             "\(layout.table) auxiliary entry", at: entryOffset)
            for _ in 0 ..< auxCount {
                try budget.spend(at: entryOffset)
                let auxOffset = try image.fileOffset(ofAddress: auxAddress, length: layout.auxSize)
                let aux = ByteDecoder(try image.bytes(atAddress: auxAddress, length: layout.auxSize, layout.table),
                                      format: image.format, baseOffset: auxOffset)
                auxiliaries.append((auxAddress, aux))
                end = max(end, try Checked.add(auxAddress, layout.auxSize, layout.table))
                let next: UInt32 = try aux.getInteger(at: layout.auxNextAt)
                if next == 0 { break }
                auxAddress = try Checked.add(auxAddress, UInt64(next), "\(layout.table) auxiliary entry", at: auxOffset)
            }
            records.append(Record(address: entryAddress, decoder: decoder, auxiliaries: auxiliaries))
            let next: UInt32 = try decoder.getInteger(at: layout.nextAt)
            if next == 0 { break }
            entryAddress = try Checked.add(entryAddress, UInt64(next), "\(layout.table) entry", at: entryOffset)
        }
        extent = end - address
    }
}
