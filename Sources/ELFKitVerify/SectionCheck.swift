import ELFKitCore

/// (d) Section headers describe the same content at its new place, and `.symtab` values
/// follow the sections that moved.
struct SectionCheck {
    let context: IndependentVerifier.Context

    func run(_ problems: inout [VerificationProblem]) throws {
        let old = context.original.sectionHeaders, new = context.edited.sectionHeaders
        // A count change is a header problem (beyond a resolution cache note's own header).
        guard !old.isEmpty, context.expectedSectionCounts.contains(new.count) else { return }
        func report(_ message: String) { problems.append(VerificationProblem(.sections, message)) }
        let names = context.original.sectionNames()
        func name(_ index: Int) -> String { "section \(index) (\(names[index] ?? "?"))" }
        let newDynamic = try context.edited.dynamic()

        let namesIndex = context.original.sectionNameTableIndex
        // The original's `pydata` (PyInstaller's archive, not loaded) when the edited file
        // has it elsewhere: its index, old end and size, and its new offset.
        let movedArchive: (index: Int, end: UInt64, size: UInt64, offset: UInt64)? = names.firstIndex { $0 == "pydata" }.flatMap { index in
            let before = old[index]
            guard index < new.count, !before.flags.contains(.alloc), before.type != .nobits, new[index].offset != before.offset,
                  let end = before.fileEnd else { return nil }
            return (index, end, before.size, new[index].offset)
        }
        for index in 1 ..< old.count {
            if index == context.droppedSectionIndex {
                // Gone with the last place, or an empty SHT_NULL header in the middle.
                let empty = SectionHeader(nameOffset: 0, type: .null, flags: [], address: 0, offset: 0, size: 0,
                                          link: 0, info: 0, alignment: 0, entrySize: 0)
                // A new note may take the last place again (judged by ResolutionCacheCheck).
                let retaken = context.resolutionCache.isNew && index == new.count - 1
                if index < new.count && new[index] != empty && !retaken { report("\(name(index)): the dropped resolution cache note's header remains") }
                continue
            }
            guard index < new.count else { report("\(name(index)) is missing"); continue }
            let (before, after) = (old[index], new[index])
            if index == namesIndex, try checkGrownNames(before, after, report) { continue }
            var expected = before
            if before.flags.contains(.alloc), before.type != .nobits, let (kind, region) = table(holding: before) {
                if let now = context.newTables[kind] {
                    expected.address = now.address + (before.address - region.address)
                    if before.address == region.address && before.size == region.size { expected.size = now.size }
                    if let load = context.newMap.fileBacked(expected.address) {
                        expected.offset = load.offset + (expected.address - load.virtualAddress)
                    }
                }
                if kind == .versionNeeds { expected.info = UInt32(truncatingIfNeeded: newDynamic?.first(.verneedNum) ?? 0) }
                if context.expected?.retiredTables.contains(kind) ?? false,
                   before.address == region.address, before.type == .gnuVerneed || before.type == .gnuVersym {
                    expected = before
                    expected.nameOffset = 0
                    expected.type = .progbits
                    expected.link = 0
                    expected.info = 0
                    expected.entrySize = 0
                }
            }
            // PyInstaller's archive may move to the end of the file (only its offset
            // changes; its bytes are compared below, its cookie by PyInstallerWindowCheck),
            // and the sections that are not loaded and followed it then move down by its size.
            if let archive = movedArchive, !before.flags.contains(.alloc), before.type != .nobits {
                if index == archive.index {
                    expected.offset = archive.offset
                } else if before.offset >= archive.end {
                    expected.offset = before.offset - archive.size
                }
            }
            if after != expected {
                report("\(name(index)) says address 0x\(hex(after.address)), offset 0x\(hex(after.offset)), size 0x\(hex(after.size)), info \(after.info); expected 0x\(hex(expected.address)), 0x\(hex(expected.offset)), 0x\(hex(expected.size)), \(expected.info)")
                continue
            }
            // Content that is not loaded is compared here; .symtab symbol by symbol.
            if before.type == .symtab {
                try checkSymbolTable(index, name(index), &problems)
            } else if !before.flags.contains(.alloc), before.type != .nobits, before.size > 0,
                      try !sameBytes(before.offset, after.offset, before.size) {
                report("the content of \(name(index)) changed")
            }
        }
    }

    /// The section-name table may move (it is not loaded; swelf moves it with the section
    /// header table) and gain one name, `.note.nixos.ldcache`, for a new resolution cache
    /// note; true when it did (and was judged here).
    private func checkGrownNames(_ before: SectionHeader, _ after: SectionHeader, _ report: (String) -> Void) throws -> Bool {
        guard after.size > before.size || after.offset != before.offset else { return false }
        var expected = before
        expected.offset = after.offset
        expected.size = after.size
        let name = ResolutionCacheNote.sectionNameBytes + [0]
        let grownBy = after.size &- before.size
        guard after == expected, after.size >= before.size,
              grownBy == 0 || context.resolutionCache.isNew && (grownBy == UInt64(name.count) || grownBy == UInt64(name.count + 1))
        else {
            report("the section-name table says offset 0x\(hex(after.offset)), size 0x\(hex(after.size)); only a new name may be added to it")
            return true
        }
        let oldBytes = try context.original.source.bytes(at: before.offset, count: before.size, "section names")
        let newBytes = try context.edited.source.bytes(at: after.offset, count: after.size, "section names")
        let tail = Array(newBytes[oldBytes.count...])
        if !newBytes.starts(with: oldBytes) || !(tail.isEmpty || tail == name || tail == [0] + name) {
            report("the section-name table changed beyond the new name .note.nixos.ldcache")
        }
        return true
    }

    /// The smallest table of the original that holds the whole section.
    private func table(holding section: SectionHeader) -> (TableMap.Kind, TableMap.Region)? {
        context.oldTables.regions
            .filter { $0.value.contains(section.address, max(section.size, 1)) }
            .min { ($0.value.size, $0.key) < ($1.value.size, $1.key) }
            .map { ($0.key, $0.value) }
    }

    /// Compares `size` bytes of the original at `a` with the edited file at `b`, a window at
    /// a time through two reused buffers (non-loaded sections can be hundreds of MiB).
    private func sameBytes(_ a: UInt64, _ b: UInt64, _ size: UInt64) throws -> Bool {
        guard Checked.fits(start: a, length: size, within: context.original.source.size),
              Checked.fits(start: b, length: size, within: context.edited.source.size) else { return false }
        return try ComparisonWindows.with(comparingAtMost: size) { before, after in
            var done: UInt64 = 0
            while done < size {
                let count = Int(min(UInt64(before.count), size - done))
                try context.original.source.read(at: a + done, into: UnsafeMutableRawBufferPointer(rebasing: before[..<count]))
                try context.edited.source.read(at: b + done, into: UnsafeMutableRawBufferPointer(rebasing: after[..<count]))
                if !ComparisonWindows.same(before, after, count) { return false }
                done += UInt64(count)
            }
            return true
        }
    }

    /// Every symbol keeps its name, type, binding, section and size; its value moves with
    /// its section when the section moved (section symbols, `__abi_tag`, `$d`, `_DYNAMIC`).
    /// Read a window of symbols at a time, and `.strtab` only for a `_DYNAMIC` candidate:
    /// an unstripped 200 MiB program has a 7 MiB `.symtab` and a 29 MiB `.strtab`.
    private func checkSymbolTable(_ index: Int, _ name: String, _ problems: inout [VerificationProblem]) throws {
        let original = context.original, edited = context.edited
        let before = original.sectionHeaders[index], after = edited.sectionHeaders[index]
        // A table whose entry size is not a small multiple of a symbol's is not readable as
        // symbols (the structure checks report it); nothing to compare here.
        guard before.entrySize >= original.format.symbolSize, before.entrySize <= 1 << 16 else { return }
        guard Checked.fits(start: before.offset, length: before.size, within: original.source.size) else {
            throw ELFError(.truncated, ".symtab of 0x\(hex(before.size)) bytes extends past the end of the original", offset: before.offset)
        }
        guard Checked.fits(start: after.offset, length: after.size, within: edited.source.size) else {
            throw ELFError(.truncated, ".symtab of 0x\(hex(after.size)) bytes extends past the end of the edited file", offset: after.offset)
        }
        let entrySize = before.entrySize
        // By section index: how far the section's address moved (0: it did not).
        let shift: [UInt64] = original.sectionHeaders.indices.map { section in
            // A dropped resolution cache note may leave the edited file one header short.
            section < edited.sectionHeaders.count ? edited.sectionHeaders[section].address &- original.sectionHeaders[section].address : 0
        }
        // _DYNAMIC is the address of .dynamic, often as an absolute symbol: it follows PT_DYNAMIC.
        let oldDynamic = original.firstSegment(.dynamic)?.virtualAddress
        let newDynamic = edited.firstSegment(.dynamic)?.virtualAddress
        let names = Int(before.link) < original.sectionHeaders.count ? original.sectionHeaders[Int(before.link)] : nil
        func isNamedDynamic(_ symbol: ELFSymbol) -> Bool {
            let wanted = Array("_DYNAMIC\0".utf8)
            guard let names, UInt64(symbol.nameOffset) < names.size, names.size - UInt64(symbol.nameOffset) >= UInt64(wanted.count),
                  let bytes = try? original.source.bytes(at: names.offset &+ UInt64(symbol.nameOffset), count: UInt64(wanted.count), ".strtab")
            else { return false }
            return bytes == wanted
        }
        let total = min(before.size, after.size) / entrySize
        let window: UInt64 = 16384
        var first: UInt64 = 0
        while first < total {
            let count = min(window, total - first)
            let oldRaw = try original.source.bytes(at: before.offset + first * entrySize, count: count * entrySize, ".symtab")
            let newRaw = try edited.source.bytes(at: after.offset + first * entrySize, count: count * entrySize, ".symtab")
            var oldDecoder = ByteDecoder(oldRaw, format: original.format, baseOffset: before.offset + first * entrySize)
            var newDecoder = ByteDecoder(newRaw, format: original.format, baseOffset: after.offset + first * entrySize)
            for position in 0 ..< Int(count) {
                oldDecoder.position = position * Int(entrySize)
                newDecoder.position = position * Int(entrySize)
                let old = try ELFSymbol.decode(&oldDecoder), new = try ELFSymbol.decode(&newDecoder)
                var expected = old
                let section = Int(old.sectionIndex)
                if section > 0, section < original.sectionHeaders.count, shift[section] != 0 {
                    let header = original.sectionHeaders[section]
                    if old.value >= header.address && old.value - header.address <= header.size { expected.value = old.value &+ shift[section] }
                }
                if let oldDynamic, let newDynamic, old.value == oldDynamic, oldDynamic != newDynamic, isNamedDynamic(old) {
                    expected.value = newDynamic
                }
                if new != expected {
                    problems.append(VerificationProblem(.sections, "\(name) symbol \(first + UInt64(position)) has value 0x\(hex(new.value)), expected 0x\(hex(expected.value))"))
                    return
                }
            }
            first += count
        }
    }
}
