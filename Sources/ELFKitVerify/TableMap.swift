import ELFKitCore

/// The verifier's own reading of where a file's dynamic tables are and how big they are.
///
/// Deliberately written apart from the layout engine's catalog: an oracle that asked the
/// planner where the tables are would agree with every planning mistake. Everything here
/// comes from program headers, `DT_*` tags and (when present) section headers, through
/// the reader alone.
struct TableMap {
    // Mirrors FileObject.Kind in ELFKitEdit/Layout/FileObject.swift because the verifier
    // depends on the core alone and must name the tables without the planner it judges.
    enum Kind: Hashable, Comparable, CustomStringConvertible {
        case interpreter
        /// The n-th PT_NOTE header (counted among PT_NOTE headers only).
        case notes(Int)
        /// The n-th header of a processor-specific type the loader reads by header (MIPS).
        case processorSegment(UInt32, Int)
        case dynamic
        case dynamicStrings
        case dynamicSymbols
        case hash
        case gnuHash
        case versionSymbols
        case versionNeeds
        case versionDefinitions

        var description: String {
            switch self {
            case .interpreter: return "the interpreter string"
            case .notes(let n): return "PT_NOTE #\(n)"
            case .processorSegment(let type, let n): return "segment 0x\(hex(UInt64(type))) #\(n)"
            case .dynamic: return ".dynamic"
            case .dynamicStrings: return ".dynstr"
            case .dynamicSymbols: return ".dynsym"
            case .hash: return ".hash"
            case .gnuHash: return ".gnu.hash"
            case .versionSymbols: return ".gnu.version"
            case .versionNeeds: return ".gnu.version_r"
            case .versionDefinitions: return ".gnu.version_d"
            }
        }
    }

    struct Region: Equatable {
        var address: UInt64
        var size: UInt64
        var end: UInt64 { address &+ size }  // checked when the region is made
        func contains(_ start: UInt64, _ length: UInt64) -> Bool {
            start >= address && length <= size && start - address <= size - length
        }
    }

    private(set) var regions: [Kind: Region] = [:]
    /// Number of dynamic symbols; the original's count is used to read the edited file too.
    private(set) var symbolCount: UInt64?

    /// Walks are bounded by this many records: a chain longer than the file has entries
    /// is garbage, not a table.
    static let walkBudget: UInt64 = 1 << 20

    /// `symbolCount`: pass the original's count when mapping the edited file, so both are
    /// read with the same number of entries.
    init(file: ELFFile, symbolCount knownCount: UInt64? = nil) throws {
        var counts: [SegmentType: Int] = [:]
        for segment in file.programHeaders {
            let ordinal = counts[segment.type, default: 0]
            counts[segment.type] = ordinal + 1
            switch segment.type {
            case .interp:
                guard ordinal == 0 else { continue }
                let raw = try file.source.bytes(at: segment.offset, count: segment.fileSize, "PT_INTERP")
                // The kernel reads PT_INTERP whole but uses only the string up to the first
                // NUL, ld.so the string alone: the rest is the interpreter's to overwrite if it
                // is only zeros and more NUL-terminated paths (glibc's
                // __invoke_dynamic_linker__ adds one). Other data a linker script put after the
                // string (a note the program reads) is not the interpreter's.
                var length = UInt64(raw.firstIndex(of: 0).map { $0 + 1 } ?? raw.count)
                let rest = raw[Int(length)...]
                let control = rest.contains { $0 != 0 && ($0 < 0x20 || $0 == 0x7f) }
                if !control && rest.last.map({ $0 == 0 }) ?? true { length = UInt64(raw.count) }
                try set(.interpreter, segment.virtualAddress, length)
            case .note:
                try set(.notes(ordinal), segment.virtualAddress, segment.fileSize)
            case .mipsReginfo where file.header.machine == .mips, .mipsABIFlags where file.header.machine == .mips:
                try set(.processorSegment(segment.type.rawValue, ordinal), segment.virtualAddress, segment.fileSize)
            default:
                continue
            }
        }
        guard let dynamic = try file.dynamic() else { return }
        let format = file.format
        try set(.dynamic, dynamic.address, UInt64(dynamic.capacity) * format.dynamicEntrySize)
        if let address = dynamic.first(.strtab) { try set(.dynamicStrings, address, dynamic.first(.strsz) ?? 0) }

        let hashWidth: UInt64 = format.is64 && file.header.machine == .s390 ? 8 : 4
        var hashChains: UInt64?
        if let address = dynamic.first(.hash) {
            let header = try TableMap.words(file, address, count: 2, width: hashWidth, ".hash header")
            let words = try Checked.add(try Checked.add(header[0], header[1], ".hash size"), 2, ".hash size")
            try set(.hash, address, try Checked.multiply(words, hashWidth, ".hash size"))
            hashChains = header[1]
        }
        var gnuCount: UInt64?
        if let address = dynamic.first(.gnuHash) {
            let (size, count) = try TableMap.gnuHashExtent(file, address)
            try set(.gnuHash, address, size)
            gnuCount = count
        }
        let entrySize = dynamic.first(.symEntrySize) ?? format.symbolSize
        var count = knownCount
        if count == nil, let address = dynamic.first(.symtab) {
            if let section = file.sectionHeaders.first(where: { $0.type == .dynsym && $0.address == address && $0.entrySize > 0 }) {
                count = section.size / section.entrySize
            } else {
                count = hashChains ?? gnuCount ?? TableMap.countUpToNextTable(file, dynamic, symtab: address, entrySize: entrySize)
            }
        }
        symbolCount = count
        if let address = dynamic.first(.symtab), let count, entrySize > 0 {
            try set(.dynamicSymbols, address, try Checked.multiply(count, entrySize, ".dynsym size"))
        }
        if let address = dynamic.first(.versym), let count {
            try set(.versionSymbols, address, try Checked.multiply(count, 2, ".gnu.version size"))
        }
        if let address = dynamic.first(.verneed) {
            let size = try TableMap.versionTableExtent(file, address, count: dynamic.first(.verneedNum) ?? 0,
                                                       entry: (16, countAt: 2, auxAt: 8, nextAt: 12), aux: (16, nextAt: 12))
            try set(.versionNeeds, address, size)
        }
        if let address = dynamic.first(.verdef) {
            let size = try TableMap.versionTableExtent(file, address, count: dynamic.first(.verdefNum) ?? 0,
                                                       entry: (20, countAt: 6, auxAt: 12, nextAt: 16), aux: (8, nextAt: 4))
            try set(.versionDefinitions, address, size)
        }
    }

    subscript(kind: Kind) -> Region? { regions[kind] }

    private mutating func set(_ kind: Kind, _ address: UInt64, _ size: UInt64) throws {
        _ = try Checked.add(address, size, "\(kind) extent")
        regions[kind] = Region(address: address, size: size)
    }

    // MARK: Extents the file does not state

    /// Size of `.gnu.hash` and the symbol count it implies (nil when it hashes nothing:
    /// an all-zero table, or one whose buckets are all empty).
    static func gnuHashExtent(_ file: ELFFile, _ address: UInt64) throws -> (UInt64, UInt64?) {
        let format = file.format
        let header = try words(file, address, count: 4, width: 4, ".gnu.hash header")
        let (bucketCount, symbolOffset, bloomCount) = (header[0], header[1], header[2])
        let bloomBytes = try Checked.multiply(bloomCount, format.wordSize, ".gnu.hash bloom")
        let bucketsAddress = try Checked.add(try Checked.add(address, 16, ".gnu.hash"), bloomBytes, ".gnu.hash")
        let bucketBytes = try Checked.multiply(bucketCount, 4, ".gnu.hash buckets")
        let headSize = try Checked.add(16 + bloomBytes, bucketBytes, ".gnu.hash size")
        guard bucketCount > 0 else { return (headSize, nil) }
        guard bucketCount <= walkBudget else { throw ELFError(.invalid, ".gnu.hash has too many buckets", value: bucketCount) }
        let buckets = try words(file, bucketsAddress, count: bucketCount, width: 4, ".gnu.hash buckets")
        let highest = buckets.max() ?? 0
        guard highest >= symbolOffset, highest > 0 else { return (headSize, nil) }
        let chains = try Checked.add(bucketsAddress, bucketBytes, ".gnu.hash chains")
        var index = highest
        while true {
            let position = try Checked.add(chains, try Checked.multiply(index - symbolOffset, 4, ".gnu.hash chain"), ".gnu.hash chain")
            if try words(file, position, count: 1, width: 4, ".gnu.hash chain")[0] & 1 != 0 { break }
            index += 1
            guard index - symbolOffset < walkBudget else { throw ELFError(.invalid, ".gnu.hash chain has no end", value: address) }
        }
        let chainBytes = try Checked.multiply(index + 1 - symbolOffset, 4, ".gnu.hash chain size")
        return (try Checked.add(headSize, chainBytes, ".gnu.hash size"), index + 1)
    }

    /// Without a hash table that counts them, the symbols run at most up to the next table
    /// the dynamic section points at (linkers put `.dynstr` right after `.dynsym`).
    static func countUpToNextTable(_ file: ELFFile, _ dynamic: DynamicSection, symtab: UInt64, entrySize: UInt64) -> UInt64? {
        guard entrySize > 0 else { return nil }
        let tags: [DynamicTag] = [.strtab, .hash, .gnuHash, .versym, .verneed, .verdef, .rela, .rel, .jmpRel, .relr]
        let load = file.programHeaders.first { $0.type == .load && $0.containsInFile(address: symtab, length: 1) }
        guard let load, let end = load.virtualAddress.addingReportingOverflow(load.fileSize).overflow ? nil : load.virtualAddress + load.fileSize
        else { return nil }
        let next = dynamic.entries.filter { tags.contains($0.tag) && $0.value > symtab }.map(\.value).min() ?? end
        return (min(next, end) - symtab) / entrySize
    }

    /// Bytes from `address` to the end of the last record of a version table.
    static func versionTableExtent(_ file: ELFFile, _ address: UInt64, count: UInt64,
                                   entry: (size: UInt64, countAt: Int, auxAt: Int, nextAt: Int),
                                   aux: (size: UInt64, nextAt: Int)) throws -> UInt64 {
        var end = address
        var position = address
        var records: UInt64 = 0
        for _ in 0 ..< min(count, walkBudget) {
            let raw = try file.bytes(atAddress: position, length: entry.size, "version entry")
            let decoder = ByteDecoder(raw, format: file.format, baseOffset: 0)
            end = max(end, try Checked.add(position, entry.size, "version entry"))
            var auxPosition = try Checked.add(position, UInt64(try decoder.getInteger(at: entry.auxAt, as: UInt32.self)), "version aux")
            for _ in 0 ..< (try decoder.getInteger(at: entry.countAt, as: UInt16.self)) {
                records += 1
                guard records < walkBudget else { throw ELFError(.invalid, "version table has too many records", value: address) }
                let auxRaw = try file.bytes(atAddress: auxPosition, length: aux.size, "version aux entry")
                end = max(end, try Checked.add(auxPosition, aux.size, "version aux entry"))
                let next: UInt32 = try ByteDecoder(auxRaw, format: file.format, baseOffset: 0).getInteger(at: aux.nextAt)
                if next == 0 { break }
                auxPosition = try Checked.add(auxPosition, UInt64(next), "version aux")
            }
            let next: UInt32 = try decoder.getInteger(at: entry.nextAt)
            if next == 0 { break }
            position = try Checked.add(position, UInt64(next), "version entry")
        }
        return end - address
    }

    /// `count` unsigned words of `width` bytes at a virtual address.
    static func words(_ file: ELFFile, _ address: UInt64, count: UInt64, width: UInt64, _ what: String) throws -> [UInt64] {
        let raw = try file.bytes(atAddress: address, length: try Checked.multiply(count, width, what), what)
        let decoder = ByteDecoder(raw, format: file.format, baseOffset: 0)
        var result: [UInt64] = []
        result.reserveCapacity(raw.count / Int(width))
        for index in stride(from: 0, to: raw.count, by: Int(width)) {
            result.append(width == 8 ? try decoder.getInteger(at: index, as: UInt64.self)
                : UInt64(try decoder.getInteger(at: index, as: UInt32.self)))
        }
        return result
    }
}
