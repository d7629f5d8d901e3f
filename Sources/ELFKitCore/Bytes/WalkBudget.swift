/// How many records one walk of a linked or hashed table may visit.
///
/// Work and memory must stay bounded by the file's size whatever its fields say. The
/// records a walk visits are laid out in the file, so a well-formed table is walked
/// visiting each record about once: a walk over records of at least `recordSize` bytes
/// visits at most `fileSize / recordSize` of them. Visiting more means entries share
/// records (every `Elf_Verneed` pointing at one chain of `Elf_Vernaux`, every
/// PT_NOTE at the same bytes, every hash bucket at one long chain): the product of
/// two counts, each harmless alone. The walk then stops with an error naming the table.
package struct WalkBudget {
    package let table: String
    package let limit: UInt64
    /// What `limit` counts, for the message: records, bytes, probes.
    package let unit: String
    package private(set) var used: UInt64 = 0

    /// At most `fileSize / recordSize` visits (plus `slack`, for tiny files).
    package init(_ table: String, fileSize: UInt64, recordSize: UInt64, slack: UInt64 = 64) {
        self.table = table
        limit = fileSize / max(recordSize, 1) + slack
        unit = "records"
    }

    package init(_ table: String, limit: UInt64, unit: String) {
        self.table = table
        self.limit = limit
        self.unit = unit
    }

    package var remaining: UInt64 { limit - used }

    @inline(__always)
    package mutating func spend(_ count: UInt64 = 1, at offset: UInt64? = nil) throws(ELFError) {
        guard count <= limit - used else {
            throw ELFError(.invalid, "\(table): the walk exceeds its budget of \(limit) \(unit), more than the file's size allows (entries share records?)",
                           offset: offset, value: limit)
        }
        used += count
    }
}
