import ELFKitCore

/// `.gnu.version_r` and `.gnu.version` after `--remove-needed`, `--replace-needed` and
/// `--clear-symbol-version`.
struct VersionTableEdits {
    /// The new `.gnu.version_r`; nil when unchanged.
    var needs: [UInt8]?
    /// The new `.gnu.version`; nil when unchanged.
    var symbols: [UInt8]?
    /// Entries and bytes of `.gnu.version_r` after entries were removed (nil: unchanged).
    var verneedCount: Int?
    var verneedSize: UInt64?
    /// The dynamic entries include DT_VERDEF.
    let definesVersions: Bool

    /// Entries that go once every `.gnu.version_r` entry is removed. glibc reads no
    /// versions without DT_VERNEED and DT_VERDEF, yet with DT_VERSYM left it takes
    /// `.gnu.version` indices into that missing list and crashes; so DT_VERSYM goes too
    /// when nothing defines versions.
    var droppedTags: Set<DynamicTag> {
        guard verneedCount == 0 else { return [] }
        return definesVersions ? [.verneed, .verneedNum] : [.verneed, .verneedNum, .versym]
    }
}

extension PlanInput {
    /// Drops the `.gnu.version_r` entries of removed libraries, points renamed ones at
    /// their new names, and clears the versions of symbols that lost theirs.
    /// - Parameter renamedFileOffsets: Where string placement put the new file names.
    /// - Parameter log: Collects the decisions.
    /// - Returns: The new tables, and what a shorter `.gnu.version_r` means for the headers.
    /// - Throws: `EditError.refused` (`.symbolVersions`) when the tables cannot be changed.
    func editVersionTables(renamedFileOffsets: [[UInt8]: UInt64], log: inout [String]) throws -> VersionTableEdits {
        var edits = VersionTableEdits(definesVersions: outcome.entries.contains { $0.tag == .verdef })
        guard let dynamic = try file.dynamic() else { return edits }
        let removed = outcome.removedVersionFiles
        let renames = outcome.renamedVersionFiles
        var removedIndices: Set<UInt16> = []

        if (!removed.isEmpty || !renames.isEmpty), let object = catalog.object(.versionNeeds) {
            var blob = try original(.versionNeeds)
            let needs = try dynamic.versionNeeds()
            // Offset of each entry in the blob, from the one walk of the table.
            let positions = (try dynamic.versionNeedChain()?.records ?? []).compactMap { record in
                record.address >= object.address ? Int(exactly: record.address - object.address) : nil
            }
            guard positions.count == needs.count, positions.allSatisfy({ $0 <= blob.count - 16 }) else {
                throw EditError.refused(EditRefusal(.symbolVersions, ".gnu.version_r: an entry lies outside the table", offset: object.offset))
            }
            var kept: [Int] = []
            var keptNeeds: [VersionNeed] = []
            for (index, need) in needs.enumerated() {
                let name = Array(need.file.utf8)
                if removed.contains(name) {
                    removedIndices.formUnion(need.requirements.map { $0.index & 0x7fff })
                    log.append(".gnu.version_r: dropped the entry for \(need.file)")
                    continue
                }
                var keptNeed = need
                if let new = renames[name], let offset = renamedFileOffsets[new] {
                    let fileOffset = try Checked.narrow(offset, to: UInt32.self, ".gnu.version_r: the .dynstr offset of \(need.file)'s new name (vn_file)")
                    blob.replaceSubrange(positions[index] + 4 ..< positions[index] + 8, with: encodeU32(fileOffset))
                    keptNeed.fileOffset = fileOffset
                    log.append(".gnu.version_r: \(need.file) renamed")
                }
                kept.append(positions[index])
                keptNeeds.append(keptNeed)
            }
            if kept.count != needs.count {
                // The kept entries are written again from the table's start, each followed
                // by its auxiliary entries, and the rest is zeroed: DT_VERNEED stays, and
                // the section header can describe exactly the new table.
                let table = try encodeVersionNeeds(keptNeeds)
                guard table.count <= blob.count else {
                    throw EditError.refused(EditRefusal(.symbolVersions, ".gnu.version_r: the kept entries need 0x\(hex(table.count)) bytes, the table has 0x\(hex(blob.count))", offset: object.offset))
                }
                blob = table + [UInt8](repeating: 0, count: blob.count - table.count)
                edits.verneedCount = kept.count
                edits.verneedSize = UInt64(table.count)
            }
            if blob != (try original(.versionNeeds)) { edits.needs = blob }
        }

        let cleared = outcome.clearedSymbolNames
        // Without section headers or a hash table that counts the dynamic symbols, the end of
        // .gnu.version is unknown: guessing could clear bytes of the table after it.
        if !removedIndices.isEmpty || !cleared.isEmpty, dynamic.has(.versym), catalog.object(.versionSymbols) == nil {
            throw EditError.refused(EditRefusal(.symbolVersions, "cannot change symbol versions: the number of dynamic symbols is unknown (no section headers, and no hash table that counts them)"))
        }
        if !removedIndices.isEmpty || !cleared.isEmpty, catalog.object(.versionSymbols) != nil {
            var versions = try original(.versionSymbols)
            let names = cleared.isEmpty ? [] : try symbolNames(dynamic: dynamic)
            let decoder = ByteDecoder(versions, format: format, baseOffset: 0)
            var clearedCount = 0
            for index in 0 ..< versions.count / 2 {
                let value: UInt16 = try decoder.getInteger(at: index * 2)
                let byName = index < names.count && cleared.contains(names[index])
                if (removedIndices.contains(value & 0x7fff) && value & 0x7fff > 1) || byName {
                    versions.replaceSubrange(index * 2 ..< index * 2 + 2, with: encodeU16(1))
                    clearedCount += 1
                }
            }
            if clearedCount > 0 {
                edits.symbols = versions
                log.append(".gnu.version: \(clearedCount) symbol versions cleared")
            }
        }
        return edits
    }

    /// `Elf_Verneed` entries laid out one after the other, each followed by its
    /// `Elf_Vernaux` entries, linked by relative offsets.
    private func encodeVersionNeeds(_ needs: [VersionNeed]) throws -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        for (number, need) in needs.enumerated() {
            let count = try Checked.narrow(need.requirements.count, to: UInt16.self, ".gnu.version_r: requirements of \(need.file) (vn_cnt)")
            // At most 16 + 16 * 0xffff bytes: a 32-bit vn_next always holds it.
            let size = UInt32(16 + 16 * Int(count))
            encoder.writeU16(need.version)
            encoder.writeU16(count)
            encoder.writeU32(need.fileOffset)
            encoder.writeU32(need.requirements.isEmpty ? 0 : 16)
            encoder.writeU32(number + 1 < needs.count ? size : 0)
            for (position, requirement) in need.requirements.enumerated() {
                encoder.writeU32(requirement.hash)
                encoder.writeU16(requirement.flags)
                encoder.writeU16(requirement.index)
                encoder.writeU32(requirement.nameOffset)
                encoder.writeU32(position + 1 < need.requirements.count ? 16 : 0)
            }
        }
        return encoder.bytes
    }

    private func encodeU32(_ value: UInt32) -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        encoder.writeU32(value)
        return encoder.bytes
    }

    private func encodeU16(_ value: UInt16) -> [UInt8] {
        var encoder = ByteEncoder(format: format)
        encoder.writeU16(value)
        return encoder.bytes
    }
}
