import ELFKitCore
import ELFKitEdit
import ELFKitVerify

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Proves that an edited file differs from its original by exactly the requested change:
/// the requested values are what the new file says, every other dynamic entry is the
/// same, the tables that moved have the same content, and every byte outside the
/// changed tables is unchanged at its place.
public struct EditVerifier {
    let original: ELFFile
    let edited: ELFFile
    let request: EditRequest
    let plan: RewritePlan
    /// Structural problems the input already had, by kind and the object they concern
    /// (never by wording, which names offsets an edit may shift). They are not the
    /// edit's doing and do not block it; only problems the edit introduced do.
    public let preexistingProblems: Set<StructureProblem.Identity>

    public init(original: ELFFile, edited: ELFFile, request: EditRequest, plan: RewritePlan) {
        self.original = original
        self.edited = edited
        self.request = request
        self.plan = plan
        preexistingProblems = Set(StructureVerifier(file: original).problems().map(\.identity))
    }

    public func problems() -> [String] {
        var problems = StructureVerifier(file: edited).problems().filter { !preexistingProblems.contains($0.identity) }.map(\.description)
        do {
            let originalObjects = try FileObjectCatalog(file: original)
            try checkHeader(&problems)
            try checkSegments(&problems)
            try checkDynamic(&problems, originalObjects: originalObjects)
            try checkUnchangedBytes(&problems, originalObjects: originalObjects)
        } catch {
            problems.append("re-reading the result failed: \(error)")
        }
        return problems
    }

    private func checkHeader(_ problems: inout [String]) throws {
        var expected = original.header
        expected.programHeaderCount = edited.header.programHeaderCount
        // The section header table may move to the end of the file; the structural
        // checks prove the moved table still describes the file.
        if original.header.sectionHeaderOffset != 0 { expected.sectionHeaderOffset = edited.header.sectionHeaderOffset }
        if edited.sectionHeaders.count != original.sectionHeaders.count {
            problems.append("the number of section headers changed")
        }
        if let abi = request.osABI { expected.osABI = abi }
        if expected != edited.header {
            problems.append("the ELF header changed beyond the edit")
        }
        if let interpreter = request.interpreter, try edited.rawInterpreter() != interpreter {
            problems.append("PT_INTERP is '\(try edited.interpreter() ?? "")', expected '\(text(interpreter))'")
        }
        if let stack = request.executableStack, edited.executableStack != stack {
            problems.append("PT_GNU_STACK does not say the requested stack permission")
        }
    }

    /// Every original PT_LOAD is still there, unchanged and in the same order; other
    /// headers keep their order.
    private func checkSegments(_ problems: inout [String]) throws {
        let rebuilt = plan.keptPrefix < plan.originalSize
        let oldLoads = original.programHeaders.filter { $0.type == .load && !(rebuilt && $0.offset >= plan.keptPrefix) }
        let newLoads = edited.programHeaders.filter { $0.type == .load }
        if Array(newLoads.prefix(oldLoads.count)) != oldLoads {
            problems.append("an existing PT_LOAD changed or moved")
        }
        let oldTypes = original.programHeaders.map(\.type).filter { $0 != .null }
        var newTypes = edited.programHeaders.map(\.type).filter { $0 != .null }
        // Remove the headers swelf added, then the order must match.
        for added in [SegmentType.load, .gnuStack] where newTypes.filter({ $0 == added }).count > oldTypes.filter({ $0 == added }).count {
            if let index = newTypes.lastIndex(of: added) { newTypes.remove(at: index) }
        }
        if newTypes != oldTypes {
            problems.append("the program headers were reordered")
        }
    }

    private func checkDynamic(_ problems: inout [String], originalObjects oldObjects: FileObjectCatalog) throws {
        guard let old = try original.dynamic() else { return }
        guard let new = try edited.dynamic() else {
            problems.append("the dynamic section disappeared")
            return
        }
        // Requested values.
        if let soname = request.soname, try new.first(.soname).map({ try new.rawString(at: $0) }) != soname {
            problems.append("DT_SONAME is '\(try new.soname() ?? "")', expected '\(text(soname))'")
        }
        let oldRunPath = try (old.first(.runpath) ?? old.first(.rpath)).map { try old.rawString(at: $0) }
        let newRunPath = try (new.first(.runpath) ?? new.first(.rpath)).map { try new.rawString(at: $0) }
        let runPathTags = new.entries.filter { $0.tag == .rpath || $0.tag == .runpath }.map(\.tag)
        let wanted: DynamicTag = request.forceRPath ? .rpath : .runpath
        switch request.runPath {
        case .set(let value)?:
            if newRunPath != value || runPathTags != [wanted] {
                problems.append("run-path is \(runPathTags) '\(text(newRunPath ?? []))', expected \(wanted) '\(text(value))'")
            }
        case .add(let value)?:
            let expected = RunPath.adding(value, to: oldRunPath ?? [])
            if newRunPath != expected || runPathTags != [wanted] {
                problems.append("run-path is '\(text(newRunPath ?? []))', expected '\(text(expected))'")
            }
        case .remove?:
            if !runPathTags.isEmpty { problems.append("a run-path entry remains after --remove-rpath") }
        case .shrink?:
            let oldParts = (oldRunPath ?? []).split(separator: UInt8(ascii: ":"))
            let newParts = (newRunPath ?? []).split(separator: UInt8(ascii: ":"))
            if !newParts.allSatisfy({ oldParts.contains($0) }) {
                problems.append("--shrink-rpath added directories")
            }
        case nil:
            if newRunPath != oldRunPath { problems.append("the run-path changed although no run-path edit was asked for") }
        }

        var expectedNeeded = try old.all(.needed).map { try old.rawString(at: $0) }
        for name in request.removeNeeded { expectedNeeded.removeAll { $0 == name } }
        for (from, to) in request.replaceNeeded { expectedNeeded = expectedNeeded.map { $0 == from ? to : $0 } }
        let additions = request.addNeeded.filter { !expectedNeeded.contains($0) }
        var seen: Set<[UInt8]> = []
        expectedNeeded = additions.filter { seen.insert($0).inserted } + expectedNeeded
        if try new.all(.needed).map({ try new.rawString(at: $0) }) != expectedNeeded {
            problems.append("DT_NEEDED is \(try new.needed()), expected \(expectedNeeded.map(text))")
        }
        if request.noDefaultLib && !new.flags1.contains(.noDefaultLib) {
            problems.append("DF_1_NODEFLIB is not set")
        }
        if request.addDebugTag && !new.has(.debug) { problems.append("DT_DEBUG is missing") }

        // Every entry the request does not concern is unchanged, in the same order.
        let edited: Set<DynamicTag> = [.needed, .soname, .rpath, .runpath, .strtab, .strsz, .symtab, .hash, .gnuHash,
                                       .versym, .verneed, .verneedNum, .verdef, .flags1, .debug, .mipsRldMapRel, .null]
        let oldRest = old.entries.filter { !edited.contains($0.tag) }
        let newRest = new.entries.filter { !edited.contains($0.tag) }
        if oldRest != newRest {
            problems.append("dynamic entries the edit does not concern changed")
        }
        // Their strings too: an offset that stayed the same may point at bytes that were
        // overwritten for another entry (DT_AUXILIARY sharing a DT_NEEDED string).
        for (before, after) in zip(oldRest, newRest) where before.tag == after.tag && before.tag.isStringOffset {
            if (try? old.rawString(at: before.value)) != (try? new.rawString(at: after.value)) {
                problems.append("the string of \(before.tag) changed although the edit does not concern it")
            }
        }
        if !request.noDefaultLib, old.first(.flags1) != new.first(.flags1) { problems.append("DT_FLAGS_1 changed") }
        if !request.addDebugTag, old.has(.debug) != new.has(.debug) { problems.append("DT_DEBUG changed") }
        if request.soname == nil, try old.soname() != new.soname() { problems.append("DT_SONAME changed") }

        // Tables that moved hold the same bytes (version tables may carry the requested changes).
        let newObjects = try FileObjectCatalog(file: self.edited)
        let renaming = !request.renameSymbols.isEmpty
        if renaming {
            problems += try SymbolCheck(original: original, edited: self.edited, renames: request.renameSymbols).problems()
        }
        for kind in renaming ? [FileObject.Kind.versionDefinitions] : [.dynamicSymbols, .hash, .gnuHash, .versionDefinitions] {
            guard let a = oldObjects.object(kind) else { continue }
            guard let b = newObjects.object(kind) else {
                problems.append("\(kind) disappeared")
                continue
            }
            let before = try original.source.bytes(at: a.offset, count: a.size, kind.description)
            let after = try self.edited.source.bytes(at: b.offset, count: b.size, kind.description)
            if before != after {
                problems.append("\(kind) content changed")
            }
        }
        // Symbol names still read the same through the new .dynstr (renaming is checked
        // by SymbolCheck), and the version tables say what they said, less the removed
        // libraries and with the replaced names.
        if !renaming {
            let symbols = try SymbolTable(file: original, dynamic: old)
            for (symbol, name) in zip(symbols.symbols, symbols.names) where (try? new.rawString(at: UInt64(symbol.nameOffset))) != name {
                problems.append("symbol name '\(String(decoding: name, as: UTF8.self))' no longer reads the same through .dynstr")
                break
            }
        }
        if try old.versionDefinitions() != new.versionDefinitions() {
            problems.append(".gnu.version_d changed")
        }
        let renamedFiles = Dictionary(request.replaceNeeded.map { ($0.old, $0.new) }, uniquingKeysWith: { $1 })
        var expectedNeeds: [([UInt8], [String])] = []
        for need in try old.versionNeeds() {
            let file = try old.rawString(at: UInt64(need.fileOffset))
            if request.removeNeeded.contains(file) { continue }
            expectedNeeds.append((renamedFiles[file] ?? file, need.requirements.map(\.name)))
        }
        var actualNeeds: [([UInt8], [String])] = []
        for need in try new.versionNeeds() { actualNeeds.append((try new.rawString(at: UInt64(need.fileOffset)), need.requirements.map(\.name))) }
        if expectedNeeds.map(\.0) != actualNeeds.map(\.0) || expectedNeeds.map(\.1) != actualNeeds.map(\.1) {
            problems.append(".gnu.version_r lists \(actualNeeds.map { text($0.0) }), expected \(expectedNeeds.map { text($0.0) })")
        }
    }

    /// Bytes outside the headers and the tables an edit may rewrite in place are
    /// identical. The allowed ranges are derived from the files, not from the plan, so a
    /// planning mistake that touches code or data is caught. Compared in chunks, so
    /// memory stays small on big files.
    private func checkUnchangedBytes(_ problems: inout [String], originalObjects: FileObjectCatalog) throws {
        let format = original.format
        var changed: [(UInt64, UInt64)] = [
            (0, format.fileHeaderSize),
            (edited.header.programHeaderOffset,
             edited.header.programHeaderOffset + UInt64(edited.programHeaders.count) * format.programHeaderSize),
        ]
        if !original.sectionHeaders.isEmpty {
            let start = original.header.sectionHeaderOffset
            changed.append((start, start + UInt64(original.sectionHeaders.count) * format.sectionHeaderSize))
        }
        var rewritable: [FileObject.Kind] = [.dynamicStrings, .dynamic, .interpreter, .versionNeeds, .versionSymbols]
        if !request.renameSymbols.isEmpty, let dynamic = try original.dynamic() {
            rewritable += [.dynamicSymbols, .hash, .gnuHash]
            // Relocations may name moved symbols by their new index.
            for table in dynamic.relocationTables(format: format) {
                let offset = try original.fileOffset(ofAddress: table.address, length: max(table.size, 1))
                changed.append((offset, offset + table.size))
            }
        }
        // .symtab values follow the sections that moved.
        for section in original.sectionHeaders where section.type == .symtab && section.hasFileData {
            changed.append((section.offset, section.offset &+ section.size))
        }
        for object in originalObjects.objects where rewritable.contains(object.kind) {
            changed.append((object.offset, object.fileEnd))
        }
        let limit = min(plan.keptPrefix, edited.source.size)
        let chunk = 1 << 20
        let before = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        let after = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer {
            before.deallocate()
            after.deallocate()
        }
        var offset: UInt64 = 0
        while offset < limit {
            let count = Int(min(UInt64(chunk), limit - offset))
            let a = UnsafeMutableRawBufferPointer(rebasing: before[..<count])
            let b = UnsafeMutableRawBufferPointer(rebasing: after[..<count])
            try original.source.read(at: offset, into: a)
            try edited.source.read(at: offset, into: b)
            if memcmp(a.baseAddress!, b.baseAddress!, count) != 0 {
                for index in 0 ..< count where a[index] != b[index] {
                    let position = offset + UInt64(index)
                    if !changed.contains(where: { $0.0 <= position && position < $0.1 }) {
                        problems.append("byte at offset 0x\(hex(position)) changed outside the edited tables")
                        return
                    }
                }
            }
            offset += UInt64(count)
        }
    }
}

/// A name for a problem message (invalid UTF-8 shows as U+FFFD there only).
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
