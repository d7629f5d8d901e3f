import ELFKitCore

/// Dynamic entries, symbols, versions, hash tables and relocations.
struct DynamicCheck {
    let context: IndependentVerifier.Context
    private var original: ELFFile { context.original }
    private var edited: ELFFile { context.edited }
    private var request: EditRequest { context.request }

    init(context: IndependentVerifier.Context) { self.context = context }

    func run(_ problems: inout [VerificationProblem]) throws {
        guard let old = try original.dynamic() else { return }
        guard let new = try edited.dynamic() else {
            problems.append(VerificationProblem(.dynamic, "the dynamic section disappeared"))
            return
        }
        guard let expected = context.expected else { return }
        try checkEntries(expected, new, &problems)
        let oldSymbols = try context.originalSymbols.get { try SymbolList(file: original, dynamic: old, tables: context.oldTables) }
        let newSymbols = try SymbolList(file: edited, dynamic: new, tables: context.newTables)
        try checkSymbols(oldSymbols, newSymbols, old, new, expected, &problems)
        try checkVersionTables(old, new, expected, &problems)
    }

    // MARK: (b) Every entry means what it meant, but for the requested changes

    private func checkEntries(_ expected: ExpectedDynamic, _ new: DynamicSection, _ problems: inout [VerificationProblem]) throws {
        func report(_ message: String) { problems.append(VerificationProblem(.dynamic, message)) }
        var actual: [ExpectedDynamic.Entry] = []
        for (index, entry) in new.entries.enumerated() {
            // Only a string entry throws: one that no longer points into .dynstr.
            guard let meaning = try? ExpectedDynamic.meaning(ofEntry: index, in: new, format: edited.format) else {
                report("\(entry.tag) 0x\(hex(entry.value)) does not point at a string in .dynstr")
                continue
            }
            actual.append(ExpectedDynamic.Entry(tag: entry.tag, meaning: meaning))
        }
        let neededNow = actual.filter { $0.tag == .needed }.map(\.meaning)
        let neededWanted = expected.entries.filter { $0.tag == .needed }.map(\.meaning)
        if neededNow != neededWanted { report("DT_NEEDED is \(neededNow), expected \(neededWanted)") }

        var rest = actual.filter { $0.tag != .needed }
        for wanted in expected.entries where wanted.added && wanted.tag != .needed {
            guard let index = rest.firstIndex(where: { $0.tag == wanted.tag && matches(wanted.meaning, $0.meaning) }) else {
                report("\(wanted.tag) \(wanted.meaning) is missing")
                continue
            }
            rest.remove(at: index)
        }
        let kept = expected.entries.filter { !$0.added && $0.tag != .needed }
        let same = kept.count == rest.count && zip(kept, rest).allSatisfy { $0.tag == $1.tag && matches($0.meaning, $1.meaning) }
        if !same {
            let first = zip(kept, rest).first { !($0.tag == $1.tag && matches($0.meaning, $1.meaning)) }
            let detail = first.map { "\($1.tag) \($1.meaning) where \($0.tag) \($0.meaning) was expected" }
                ?? "\(rest.count) entries where \(kept.count) were expected"
            report("the dynamic entries differ from what the request allows: \(detail)")
        }
    }

    private func matches(_ wanted: ExpectedDynamic.Meaning, _ actual: ExpectedDynamic.Meaning) -> Bool {
        guard case .subsequenceOf(let parts) = wanted else { return wanted == actual }
        guard case .string(let value) = actual else { return false }
        var remaining = parts[...]
        for part in value.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false) where !value.isEmpty {
            guard let index = remaining.firstIndex(where: { $0.elementsEqual(part) }) else { return false }
            remaining = remaining[(index + 1)...]
        }
        return true
    }

    // MARK: (c) Symbols, their versions, the hash tables and the relocations

    private func checkSymbols(_ old: SymbolList, _ new: SymbolList, _ oldDynamic: DynamicSection, _ newDynamic: DynamicSection,
                              _ expected: ExpectedDynamic, _ problems: inout [VerificationProblem]) throws {
        guard old.symbols.count == new.symbols.count else {
            problems.append(VerificationProblem(.symbols, ".dynsym has \(new.symbols.count) symbols, the original \(old.symbols.count)"))
            return
        }
        let symbols = try ExpectedSymbols(old: old, new: new, request: request, expected: expected,
                                          versionNeeds: VersionTables(file: original, dynamic: oldDynamic).needs())
        if request.renameSymbols.isEmpty {
            // Nothing reorders the symbols: compare them one by one, and the hash tables byte for byte.
            checkSymbolsInOrder(symbols, &problems)
            try checkHashTablesUnchanged(&problems)
        } else {
            checkRenamedSymbols(symbols, &problems)
            try checkRenamedSymbolsAreFound(symbols, &problems)
            try checkRelocations(symbols, oldDynamic, newDynamic, &problems)
        }
    }

    /// Each symbol, one by one: the same fields, name and (expected) version.
    private func checkSymbolsInOrder(_ symbols: ExpectedSymbols, _ problems: inout [VerificationProblem]) {
        for index in symbols.old.symbols.indices {
            let (wanted, actual) = (symbols.wanted(index), symbols.actual(index))
            guard wanted != actual else { continue }
            let what = wanted.version != actual.version ? "its version index" : "it"
            problems.append(VerificationProblem(wanted.version != actual.version ? .versions : .symbols,
                                                "dynamic symbol \(index) '\(String(decoding: symbols.old.names[index], as: UTF8.self))': \(what) changed"))
            return
        }
    }

    /// Hash tables hold no addresses: unmoved or moved, their bytes are the same.
    private func checkHashTablesUnchanged(_ problems: inout [VerificationProblem]) throws {
        for kind in [TableMap.Kind.hash, .gnuHash] {
            guard let before = context.oldTables[kind] else { continue }
            guard let after = context.newTables[kind], after.size == before.size,
                  try original.bytes(atAddress: before.address, length: before.size, "\(kind)")
                  == edited.bytes(atAddress: after.address, length: after.size, "\(kind)")
            else {
                problems.append(VerificationProblem(.hashTables, "\(kind) no longer holds the same table"))
                continue
            }
        }
    }

    /// Renaming may reorder .dynsym (.gnu.hash sorts by hash): the symbols compared as multisets.
    private func checkRenamedSymbols(_ symbols: ExpectedSymbols, _ problems: inout [VerificationProblem]) {
        var wanted: [ExpectedSymbols.Key: Int] = [:]
        for index in symbols.old.symbols.indices { wanted[symbols.wanted(index), default: 0] += 1 }
        var actual: [ExpectedSymbols.Key: Int] = [:]
        for index in symbols.new.symbols.indices { actual[symbols.actual(index), default: 0] += 1 }
        if wanted != actual {
            problems.append(VerificationProblem(.symbols, "the renamed .dynsym does not hold exactly the expected symbols and versions"))
        }
        let new = symbols.new
        if new.symbols.first.map({ $0.info != 0 || $0.value != 0 || !new.names[0].isEmpty }) ?? false {
            problems.append(VerificationProblem(.symbols, "dynamic symbol 0 is no longer the null symbol"))
        }
    }

    /// Every symbol the loader could find before, it finds by its (new) name. (The loader
    /// looks up named global and weak symbols; locals and section symbols are never looked
    /// up and are not in .gnu.hash. A symbol the original's tables could not find — a
    /// zeroed .gnu.hash — need not be found now.)
    private func checkRenamedSymbolsAreFound(_ symbols: ExpectedSymbols, _ problems: inout [VerificationProblem]) throws {
        let (old, new) = (symbols.old, symbols.new)
        var newIndex: [ExpectedSymbols.Key: Int] = [:]
        for index in new.symbols.indices { newIndex[symbols.actual(index)] = index }
        for index in old.symbols.indices where index > 0 && old.symbols[index].isDefined && !old.names[index].isEmpty
            && old.symbols[index].info >> 4 != 0 {
            guard try old.hashTableMissing(index) == nil else { continue }
            guard let now = newIndex[symbols.wanted(index)] else { continue }  // reported by checkRenamedSymbols
            if let table = try new.hashTableMissing(now) {
                let name = symbols.name(index)
                problems.append(VerificationProblem(.hashTables, "'\(String(decoding: name, as: UTF8.self))' cannot be found through \(table)"))
                return
            }
        }
    }

    /// Every relocation still applies at the same place, of the same type, to a symbol of the same (new) name.
    private func checkRelocations(_ symbols: ExpectedSymbols, _ oldDynamic: DynamicSection, _ newDynamic: DynamicSection,
                                  _ problems: inout [VerificationProblem]) throws {
        let before = try RelocationList(file: original, dynamic: oldDynamic, names: symbols.old.names).entries
        let after = try RelocationList(file: edited, dynamic: newDynamic, names: symbols.new.names).entries
        let mapped = before.map { entry in
            var entry = entry
            entry.name = symbols.renames[entry.name] ?? entry.name
            return entry
        }
        if mapped != after { problems.append(VerificationProblem(.relocations, "the relocations no longer say what they said")) }
    }

    private func checkVersionTables(_ old: DynamicSection, _ new: DynamicSection, _ expected: ExpectedDynamic,
                                    _ problems: inout [VerificationProblem]) throws {
        var wanted: [ComparableNeed] = []
        let (oldVersions, newVersions) = (VersionTables(file: original, dynamic: old), VersionTables(file: edited, dynamic: new))
        for need in try oldVersions.needs() {
            if expected.removedLibraries.contains(need.file) { continue }
            wanted.append(ComparableNeed(need, file: expected.renamedLibraries[need.file] ?? need.file))
        }
        var actual: [ComparableNeed] = []
        for need in try newVersions.needs() { actual.append(ComparableNeed(need, file: need.file)) }
        if wanted != actual {
            problems.append(VerificationProblem(.versions, ".gnu.version_r lists \(actual.map(\.description)), expected \(wanted.map(\.description))"))
        }
        if try oldVersions.definitions() != newVersions.definitions() {
            problems.append(VerificationProblem(.versions, ".gnu.version_d changed"))
        }
    }
}

/// One `Elf_Verneed` as the edit must keep it: the file name as bytes, the version, and
/// each requirement without its string offset (strings may move). Compared as values,
/// not as text: interpolating byte arrays costs a dynamic cast per byte.
private struct ComparableNeed: Equatable {
    let file: [UInt8]
    let version: UInt16
    let requirements: [VersionTables.Requirement]

    init(_ need: VersionTables.Need, file: [UInt8]) {
        self.file = file
        version = need.version
        requirements = need.requirements.map { requirement in
            var kept = requirement
            kept.nameOffset = 0
            return kept
        }
    }

    var description: String { "\(String(decoding: file, as: UTF8.self)) v\(version)" }
}

/// `.dynsym` with names and version indices, read through the verifier's own table map.
struct SymbolList {
    let file: ELFFile
    var symbols: [ELFSymbol] = []
    var names: [[UInt8]] = []
    var versions: [UInt16]?
    let tables: TableMap
    let dynamic: DynamicSection

    init(file: ELFFile, dynamic: DynamicSection, tables: TableMap) throws {
        self.file = file
        self.tables = tables
        self.dynamic = dynamic
        guard let region = tables[.dynamicSymbols], let count = tables.symbolCount, count > 0 else { return }
        let entrySize = region.size / count
        guard entrySize >= file.format.symbolSize else { throw ELFError(.invalid, "DT_SYMENT is smaller than a symbol", value: entrySize) }
        let raw = try file.bytes(atAddress: region.address, length: region.size, ".dynsym")
        // One decoder over the table, moved to each entry (entrySize >= symbolSize and
        // count * entrySize <= region.size: every symbol is inside `raw`), not an array per
        // symbol.
        var decoder = ByteDecoder(raw, format: file.format, baseOffset: 0)
        symbols.reserveCapacity(Int(count))
        names.reserveCapacity(Int(count))
        for index in 0 ..< Int(count) {
            decoder.position = index * Int(entrySize)
            let symbol = try ELFSymbol.decode(&decoder)
            symbols.append(symbol)
            names.append((try? dynamic.rawString(at: UInt64(symbol.nameOffset))) ?? Array("<bad name 0x\(hex(UInt64(symbol.nameOffset)))>".utf8))
        }
        if let region = tables[.versionSymbols] {
            let raw = try file.bytes(atAddress: region.address, length: region.size, ".gnu.version")
            let decoder = ByteDecoder(raw, format: file.format, baseOffset: 0)
            versions = try (0 ..< Int(count)).map { index throws in try decoder.getInteger(at: index * 2, as: UInt16.self) }
        }
    }

    /// Looks the symbol up by name as ld.so does, through each hash table the file has;
    /// names the first table that does not lead to `index`.
    func hashTableMissing(_ index: Int) throws -> String? {
        let name = names[index]
        if let address = dynamic.first(.gnuHash) {
            let header = try TableMap.words(file, address, count: 4, width: 4, ".gnu.hash header")
            let (buckets, symbolOffset, bloomCount, shift) = (header[0], header[1], header[2], header[3])
            if UInt64(index) >= symbolOffset {
                guard buckets > 0, bloomCount > 0, shift < 32 else { return ".gnu.hash" }
                let width = file.format.wordSize
                let hash = UInt64(SymbolHash.gnu(name))
                let bits = width * 8
                let bloomAddress = address + 16 + ((hash / bits) % bloomCount) * width
                let bloom = try TableMap.words(file, bloomAddress, count: 1, width: width, "bloom word")[0]
                let mask = (UInt64(1) << (hash % bits)) | (UInt64(1) << ((hash >> shift) % bits))
                guard bloom & mask == mask else { return ".gnu.hash (bloom filter)" }
                let bucketsAddress = address + 16 + bloomCount * width
                var candidate = try TableMap.words(file, bucketsAddress + (hash % buckets) * 4, count: 1, width: 4, "bucket")[0]
                let chains = bucketsAddress + buckets * 4
                var found = false
                while candidate >= symbolOffset && candidate < UInt64(symbols.count) {
                    let chain = try TableMap.words(file, chains + (candidate - symbolOffset) * 4, count: 1, width: 4, "chain")[0]
                    if chain | 1 == hash | 1 && candidate == UInt64(index) { found = true; break }
                    if chain & 1 != 0 { break }
                    candidate += 1
                }
                if !found { return ".gnu.hash" }
            }
        }
        if let address = dynamic.first(.hash) {
            let width: UInt64 = file.format.is64 && file.header.machine == .s390 ? 8 : 4
            let header = try TableMap.words(file, address, count: 2, width: width, ".hash header")
            guard header[0] > 0 else { return ".hash" }
            var candidate = try TableMap.words(file, address + (2 + UInt64(SymbolHash.sysv(name)) % header[0]) * width, count: 1, width: width, ".hash")[0]
            var steps = 0
            while candidate != 0 && candidate < UInt64(symbols.count) && steps <= symbols.count {
                if candidate == UInt64(index) { return nil }
                candidate = try TableMap.words(file, address + (2 + header[0] + candidate) * width, count: 1, width: width, ".hash")[0]
                steps += 1
            }
            return ".hash"
        }
        return nil
    }
}

/// DT_RELA, DT_REL and DT_JMPREL entries, decoded with their symbol's name.
struct RelocationList {
    struct Entry: Equatable {
        var offset: UInt64
        var type: UInt64
        var addend: UInt64?
        var name: [UInt8]
    }
    var entries: [Entry] = []

    init(file: ELFFile, dynamic: DynamicSection, names: [[UInt8]]) throws {
        let format = file.format
        let word = format.wordSize
        var tables: [(address: UInt64, size: UInt64, entrySize: UInt64, rela: Bool)] = []
        let relaEntry = dynamic.first(.relaEntrySize) ?? 3 * word
        let relEntry = dynamic.first(.relEntrySize) ?? 2 * word
        if let address = dynamic.first(.rela), let size = dynamic.first(.relaSize) { tables.append((address, size, relaEntry, true)) }
        if let address = dynamic.first(.rel), let size = dynamic.first(.relSize) { tables.append((address, size, relEntry, false)) }
        if let address = dynamic.first(.jmpRel), let size = dynamic.first(.pltRelSize) {
            let rela = dynamic.first(.pltRel) == DynamicTag.rela.rawValue
            tables.append((address, size, rela ? relaEntry : relEntry, rela))
        }
        for table in tables {
            let minimum = table.rela ? 3 * word : 2 * word
            guard table.entrySize >= minimum, table.size / table.entrySize <= TableMap.walkBudget else {
                throw ELFError(.invalid, "relocation entry size 0x\(hex(table.entrySize)) is unusable", value: table.entrySize)
            }
            let raw = try file.bytes(atAddress: table.address, length: table.size, "relocations")
            let decoder = ByteDecoder(raw, format: format, baseOffset: 0)
            var position = 0
            let step = Int(table.entrySize)
            while raw.count - position >= step {
                func field(_ n: Int) throws -> UInt64 {
                    word == 8 ? try decoder.getInteger(at: position + n * 8, as: UInt64.self)
                        : UInt64(try decoder.getInteger(at: position + n * 4, as: UInt32.self))
                }
                let info = try field(1)
                let symbol = word == 8 ? info >> 32 : info >> 8
                let type = word == 8 ? info & 0xffff_ffff : info & 0xff
                entries.append(Entry(offset: try field(0), type: type, addend: table.rela ? try field(2) : nil,
                                     name: symbol < UInt64(names.count) ? names[Int(symbol)] : Array("#\(symbol)".utf8)))
                position += step
            }
        }
    }
}

/// What the request makes of each of the original's dynamic symbols: its (new) name and
/// its version index, in the form the symbol checks compare.
private struct ExpectedSymbols {
    /// The fields of a dynamic symbol the checks compare.
    struct Key: Hashable { var name: [UInt8]; var info: UInt8; var other: UInt8; var section: UInt16; var value: UInt64; var size: UInt64; var version: UInt16? }

    let old: SymbolList
    let new: SymbolList
    let renames: [[UInt8]: [UInt8]]
    private let cleared: Set<[UInt8]>
    /// Version indices whose library is removed: they fall back to "global".
    private let removedIndices: Set<UInt16>
    private let versionSymbolsRetired: Bool

    init(old: SymbolList, new: SymbolList, request: EditRequest, expected: ExpectedDynamic, versionNeeds: [VersionTables.Need]) {
        self.old = old
        self.new = new
        renames = request.renameSymbols
        cleared = Set(request.clearSymbolVersions)
        var removed: Set<UInt16> = []
        for need in versionNeeds where expected.removedLibraries.contains(need.file) {
            for requirement in need.requirements { removed.insert(requirement.index & 0x7fff) }
        }
        removedIndices = removed
        versionSymbolsRetired = expected.retiredTables.contains(.versionSymbols)
    }

    /// The original symbol's name after the renames.
    func name(_ index: Int) -> [UInt8] { renames[old.names[index]] ?? old.names[index] }

    /// The original symbol's version index after the request: none once the table is
    /// retired, "global" (1) where its version is cleared or its library removed.
    func version(_ index: Int) -> UInt16? {
        guard !versionSymbolsRetired, let version = old.versions?[index] else { return nil }
        if cleared.contains(old.names[index]) { return 1 }
        if version & 0x7fff > 1 && removedIndices.contains(version & 0x7fff) { return 1 }
        return version
    }

    /// The original's symbol `index` as the edited file should hold it.
    func wanted(_ index: Int) -> Key { Self.key(old, index, name: name(index), version: version(index)) }

    /// The edited file's symbol `index` as it is.
    func actual(_ index: Int) -> Key { Self.key(new, index, name: new.names[index], version: new.versions?[index]) }

    private static func key(_ list: SymbolList, _ index: Int, name: [UInt8], version: UInt16?) -> Key {
        let symbol = list.symbols[index]
        return Key(name: name, info: symbol.info, other: symbol.other, section: symbol.sectionIndex,
                   value: symbol.value, size: symbol.size, version: version)
    }
}
