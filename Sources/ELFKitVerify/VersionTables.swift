import ELFKitCore

/// The verifier's own reading of `.gnu.version_r` (DT_VERNEED) and `.gnu.version_d`
/// (DT_VERDEF), written from the format's description (the LSB's "Symbol Versioning"),
/// not with the reader's `VersionChain`, which the planner uses to rewrite these tables: a
/// walk both sides shared would let one mistake pass as agreement.
///
/// Both tables are lists linked by byte distances the file states (`vn_next`, `vna_next`,
/// `vd_next`, `vda_next`; `vn_aux`, `vd_aux` from an entry to its first auxiliary entry).
/// Every distance is added with an overflow check, every record read is bounds-checked
/// against the PT_LOAD that maps it, and the walk is bounded: at most DT_VERNEEDNUM or
/// DT_VERDEFNUM entries, at most `vn_cnt`/`vd_cnt` auxiliary entries each, and at most
/// one record per 8 bytes of the file in all (entries may share a chain of auxiliary
/// entries, so the file's size, not the chains, bounds the work). The distances are
/// unsigned, so a walk only moves forward.
///
/// Trusted from the core reader: the dynamic entries (tag and value), and the translation
/// of an address to file bytes through the program headers (`ELFFile.bytes(atAddress:)`).
/// docs/design.md ("How a write is verified") names the tests that check those against readelf.
struct VersionTables {
    struct Requirement: Equatable {
        var hash: UInt32
        var flags: UInt16
        /// `vna_other`: the index `.gnu.version` uses for this version.
        var index: UInt16
        var nameOffset: UInt32
        var name: [UInt8]
    }

    struct Need: Equatable {
        var version: UInt16
        var fileOffset: UInt32
        var file: [UInt8]
        var requirements: [Requirement]
    }

    struct Definition: Equatable {
        var version: UInt16
        var flags: UInt16
        var index: UInt16
        var hash: UInt32
        /// The version's name, then its parents' (one per `Elf_Verdaux`).
        var names: [[UInt8]]
    }

    let file: ELFFile
    let dynamic: DynamicSection

    init(file: ELFFile, dynamic: DynamicSection) {
        self.file = file
        self.dynamic = dynamic
    }

    /// Where a version table is and where its records keep their counts and links.
    struct Shape {
        let table: String
        let addressTag: DynamicTag
        let countTag: DynamicTag
        let entrySize: UInt64
        let auxSize: UInt64
        /// Offsets in an entry of its auxiliaries' count, the first auxiliary's distance, the next entry's distance.
        let countAt: Int, auxAt: Int, nextAt: Int
        /// Offset in an auxiliary of the next one's distance.
        let auxNextAt: Int

        /// `Elf_Verneed` (16 bytes in both classes): vn_version u16, vn_cnt u16, vn_file u32,
        /// vn_aux u32, vn_next u32; `Elf_Vernaux` (16): vna_hash u32, vna_flags u16, vna_other
        /// u16, vna_name u32, vna_next u32.
        static let needs = Shape(table: ".gnu.version_r", addressTag: .verneed, countTag: .verneedNum, entrySize: 16, auxSize: 16,
                                 countAt: 2, auxAt: 8, nextAt: 12, auxNextAt: 12)
        /// `Elf_Verdef` (20 bytes): vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16,
        /// vd_hash u32, vd_aux u32, vd_next u32; `Elf_Verdaux` (8): vda_name u32, vda_next u32.
        static let definitions = Shape(table: ".gnu.version_d", addressTag: .verdef, countTag: .verdefNum, entrySize: 20, auxSize: 8,
                                       countAt: 6, auxAt: 12, nextAt: 16, auxNextAt: 4)
    }

    /// Each entry of the table `shape` describes (none when the dynamic section names no
    /// such table), with its auxiliaries, and the string table their names are in.
    private func walk(_ shape: Shape, _ body: (Record, [Record], Strings) throws -> Void) throws {
        guard let address = dynamic.first(shape.addressTag) else { return }
        var walk = Walk(file: file, table: shape.table)
        let strings = try Strings(file: file, dynamic: dynamic)
        try walk.entries(from: address, count: dynamic.first(shape.countTag) ?? 0, shape: shape) { try body($0, $1, strings) }
    }

    func needs() throws -> [Need] {
        var result: [Need] = []
        try walk(.needs) { entry, auxiliaries, strings in
            let fileName = entry.u32(4)
            var need = Need(version: entry.u16(0), fileOffset: fileName, file: try strings.string(at: fileName), requirements: [])
            for aux in auxiliaries {
                let name = aux.u32(8)
                need.requirements.append(Requirement(hash: aux.u32(0), flags: aux.u16(4), index: aux.u16(6),
                                                     nameOffset: name, name: try strings.string(at: name)))
            }
            result.append(need)
        }
        return result
    }

    func definitions() throws -> [Definition] {
        var result: [Definition] = []
        try walk(.definitions) { entry, auxiliaries, strings in
            result.append(Definition(version: entry.u16(0), flags: entry.u16(2), index: entry.u16(4), hash: entry.u32(8),
                                     names: try auxiliaries.map { try strings.string(at: $0.u32(0)) }))
        }
        return result
    }

    /// One record's bytes, read whole and decoded in the file's byte order. The offsets
    /// given are the format's fixed field positions, inside the record by construction.
    struct Record {
        let bytes: [UInt8]
        let bigEndian: Bool

        func u16(_ at: Int) -> UInt16 {
            let (a, b) = (UInt16(bytes[at]), UInt16(bytes[at + 1]))
            return bigEndian ? a << 8 | b : b << 8 | a
        }

        func u32(_ at: Int) -> UInt32 {
            let (a, b) = (UInt32(u16(at)), UInt32(u16(at + 2)))
            return bigEndian ? a << 16 | b : b << 16 | a
        }
    }

    /// The bounded walk of one table.
    struct Walk {
        let file: ELFFile
        let table: String
        /// Records left to read: one per 8 bytes of the file (the smallest record).
        var budget: UInt64

        init(file: ELFFile, table: String) {
            self.file = file
            self.table = table
            budget = file.source.size / 8
        }

        private mutating func record(at address: UInt64, size: UInt64) throws -> Record {
            guard budget > 0 else {
                throw ELFError(.invalid, "\(table): the walk exceeds its budget (one record per 8 bytes of the file)", value: address)
            }
            budget -= 1
            return Record(bytes: try file.bytes(atAddress: address, length: size, table), bigEndian: file.format.isBigEndian)
        }

        private func advance(_ address: UInt64, by distance: UInt32) throws -> UInt64 {
            let (next, overflow) = address.addingReportingOverflow(UInt64(distance))
            guard !overflow else { throw ELFError(.overflow, "\(table): a link from 0x\(hex(address)) leaves the address space", value: UInt64(distance)) }
            return next
        }

        mutating func entries(from start: UInt64, count: UInt64, shape: Shape, _ body: (Record, [Record]) throws -> Void) throws {
            var address = start
            var remaining = count
            while remaining > 0 {
                remaining -= 1
                let entry = try record(at: address, size: shape.entrySize)
                var auxiliaries: [Record] = []
                var auxAddress = try advance(address, by: entry.u32(shape.auxAt))
                var auxLeft = entry.u16(shape.countAt)
                while auxLeft > 0 {
                    auxLeft -= 1
                    let aux = try record(at: auxAddress, size: shape.auxSize)
                    auxiliaries.append(aux)
                    let next = aux.u32(shape.auxNextAt)
                    if next == 0 { break }
                    auxAddress = try advance(auxAddress, by: next)
                }
                try body(entry, auxiliaries)
                let next = entry.u32(shape.nextAt)
                if next == 0 { break }
                address = try advance(address, by: next)
            }
        }
    }

    /// `.dynstr` as DT_STRTAB and DT_STRSZ place it (the section's size when DT_STRSZ is
    /// missing, as the reader does), read once; names are looked up inside it.
    struct Strings {
        let bytes: [UInt8]

        init(file: ELFFile, dynamic: DynamicSection) throws {
            guard let address = dynamic.first(.strtab) else {
                throw ELFError(.missing, "version tables without DT_STRTAB")
            }
            var size = dynamic.first(.strsz) ?? 0
            if size == 0, let section = file.sectionHeaders.first(where: { $0.type == .strtab && $0.address == address }) {
                size = section.size
            }
            bytes = try file.bytes(atAddress: address, length: size, ".dynstr")
        }

        /// The NUL-terminated name at `offset`; one that runs off the end of the table is an error.
        func string(at offset: UInt32) throws -> [UInt8] {
            guard Int(offset) < bytes.count else {
                throw ELFError(.invalid, "a version name at 0x\(hex(UInt64(offset))) is outside .dynstr (0x\(hex(UInt64(bytes.count))) bytes)", value: UInt64(offset))
            }
            guard let end = bytes[Int(offset)...].firstIndex(of: 0) else {
                throw ELFError(.invalid, "the version name at 0x\(hex(UInt64(offset))) runs off the end of .dynstr", value: UInt64(offset))
            }
            return Array(bytes[Int(offset) ..< end])
        }
    }
}

/// The two hash functions of dynamic symbol lookup, written from their specifications
/// rather than taken from the core (whose `elfHash`/`gnuHash` build the tables the
/// planner writes): the verifier looks symbols up with these.
enum SymbolHash {
    /// The System V ABI's `elf_hash` (gABI, "Hash Table"), as the specification states it
    /// on an `unsigned long`: shift in each byte, fold the top nibble back in at bit 4,
    /// clear it. The value never exceeds 28 bits, whatever the width it is computed in.
    static func sysv(_ name: [UInt8]) -> UInt32 {
        var h: UInt64 = 0
        for c in name {
            h = (h << 4) + UInt64(c)
            let g = h & 0xf000_0000
            if g != 0 { h ^= g >> 24 }
            h &= ~g
        }
        return UInt32(h)
    }

    /// The GNU hash (`.gnu.hash`, "dl_new_hash"): Bernstein's h * 33 + c from 5381, kept to
    /// 32 bits after each step.
    static func gnu(_ name: [UInt8]) -> UInt32 {
        var h: UInt64 = 5381
        for c in name { h = ((h << 5) + h + UInt64(c)) & 0xffff_ffff }
        return UInt32(h)
    }
}
