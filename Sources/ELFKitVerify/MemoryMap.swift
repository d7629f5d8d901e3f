import ELFKitCore

/// A file's memory image as the loader builds it: which addresses are mapped, from which
/// file bytes, and with which permissions once relocation is over.
struct MemoryMap {
    struct Piece {
        var start: UInt64
        var end: UInt64
        /// Permissions after relocation: PT_GNU_RELRO takes write away.
        var flags: SegmentFlags
        /// Permissions while the loader relocates (before PT_GNU_RELRO applies).
        var loadFlags: SegmentFlags
    }

    let loads: [ProgramHeader]
    /// Sorted, non-overlapping pieces of the memory image.
    private(set) var pieces: [Piece] = []

    init(file: ELFFile) {
        // p_vaddr + p_filesz must not overflow either (p_filesz > p_memsz is a fault of its own).
        loads = file.programHeaders.filter {
            $0.type == .load && $0.memoryEnd != nil && $0.fileEnd != nil && !$0.virtualAddress.addingReportingOverflow($0.fileSize).overflow
        }
        let relro = file.programHeaders.filter { $0.type == .gnuRelRO }.compactMap { segment in
            segment.memoryEnd.map { (segment.virtualAddress, $0) }
        }
        for load in loads.sorted(by: { $0.virtualAddress < $1.virtualAddress }) where load.memorySize > 0 {
            // Cut the load at the RELRO boundaries, so each piece has one permission.
            var cuts: Set<UInt64> = [load.virtualAddress, load.memoryEnd!]
            for (start, end) in relro {
                for cut in [start, end] where cut > load.virtualAddress && cut < load.memoryEnd! { cuts.insert(cut) }
            }
            let points = cuts.sorted()
            for (start, end) in zip(points, points.dropFirst()) {
                let inRelro = relro.contains { $0.0 <= start && end <= $0.1 }
                var flags = load.flags
                if inRelro { flags.remove(.write) }
                pieces.append(Piece(start: start, end: end, flags: flags, loadFlags: load.flags))
            }
        }
    }

    /// The pieces covering `[start, end)`, clipped to it; gaps are absent.
    func pieces(from start: UInt64, to end: UInt64) -> [Piece] {
        pieces.compactMap { piece in
            let low = max(piece.start, start), high = min(piece.end, end)
            guard low < high else { return nil }
            return Piece(start: low, end: high, flags: piece.flags, loadFlags: piece.loadFlags)
        }
    }

    /// The PT_LOAD whose file image holds `address` (the first one, as the reader's lookup).
    func fileBacked(_ address: UInt64) -> ProgramHeader? {
        loads.first { $0.containsInFile(address: address, length: 1) }
    }

    /// The PT_LOAD whose memory image holds `address`.
    func mapped(_ address: UInt64) -> ProgramHeader? {
        loads.first { $0.containsInMemory(address: address, length: 1) }
    }

    /// Address of a file offset, through the PT_LOAD that maps it.
    func address(ofOffset offset: UInt64) -> UInt64? {
        guard let load = loads.first(where: { $0.offset <= offset && offset - $0.offset < $0.fileSize }) else { return nil }
        return load.virtualAddress &+ (offset - load.offset)
    }
}

/// Sorted, merged address intervals.
struct IntervalSet {
    private(set) var ranges: [(start: UInt64, end: UInt64)] = []

    init(_ input: [(UInt64, UInt64)] = []) {
        for (start, end) in input.sorted(by: { $0.0 < $1.0 }) where start < end {
            if let last = ranges.last, start <= last.end {
                ranges[ranges.count - 1].end = max(last.end, end)
            } else {
                ranges.append((start, end))
            }
        }
    }

    func contains(_ point: UInt64) -> Bool {
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].end <= point { low = middle + 1 } else { high = middle }
        }
        return low < ranges.count && ranges[low].start <= point
    }
}
