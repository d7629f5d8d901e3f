import ELFKitCore

/// The segments an earlier swelf run appended, which this run rebuilds instead of adding
/// more, and the section header table that ends the file.
extension SegmentPlanner {
    /// The PT_LOADs an earlier swelf run appended: the last PT_LOADs, each beginning with
    /// `LayoutPlanner.appendedSegmentMark`, consecutive in the file, past every other
    /// segment and the section header table, and ending the file (or followed only by the
    /// section header table, moved there by swelf). Their shape proves nothing: a
    /// linker's last RW segment can look just like them.
    func findOwnSegments() -> [Int] {
        var own: [Int] = []
        for index in programHeaders.indices.reversed() where programHeaders[index].type == .load {
            guard isMarked(programHeaders[index]) else { break }
            own.insert(index, at: 0)
        }
        guard let first = own.first, let last = own.last, let lastEnd = programHeaders[last].fileEnd else { return [] }
        // Consecutive in the file, apart from alignment padding.
        for (a, b) in zip(own, own.dropFirst()) {
            guard let end = programHeaders[a].fileEnd, programHeaders[b].offset >= end, programHeaders[b].offset - end < 16
            else { return [] }
        }
        let start = programHeaders[first].offset
        // It ends the file, or only the section header table (moved there by swelf) follows
        // it, maybe after the section-name table (moved there with a new name).
        let tableBytes = UInt64(file.sectionHeaders.count) * format.sectionHeaderSize
        var tableMayStart = lastEnd
        if let names = file.sectionNameTableIndex.map({ file.sectionHeaders[$0] }), names.offset >= lastEnd,
           names.offset - lastEnd < 16, let end = Checked.fits(start: names.offset, length: names.size, within: file.source.size) ? names.offset + names.size : nil {
            tableMayStart = end
        }
        // A dropped last section header leaves one entry of zeros after the table.
        // The table was read from the file at this offset: the sum is at most its size.
        let tableEnd = header.sectionHeaderOffset &+ tableBytes
        let tableFollows = header.sectionHeaderOffset >= tableMayStart && header.sectionHeaderOffset - tableMayStart < 16
            && tableEnd <= file.source.size && file.source.size - tableEnd <= format.sectionHeaderSize
            && (tableEnd == file.source.size
                || (try? file.source.bytes(at: tableEnd, count: file.source.size - tableEnd, "after the section headers"))?.allSatisfy { $0 == 0 } == true)
        guard lastEnd == file.source.size || tableFollows else { return [] }
        for (other, load) in programHeaders.enumerated() where load.type == .load && !own.contains(other) {
            guard let end = load.fileEnd, end <= start else { return [] }
        }
        if !tableFollows {
            let tableEnd = header.sectionHeaderOffset + tableBytes
            guard header.sectionHeaderOffset == 0 || tableEnd <= start else { return [] }
        }
        return own
    }

    /// The segment's file bytes begin with swelf's mark.
    private func isMarked(_ segment: ProgramHeader) -> Bool {
        let mark = LayoutPlanner.appendedSegmentMark
        guard segment.fileSize >= UInt64(mark.count), segment.fileSize == segment.memorySize,
              let head = try? file.source.bytes(at: segment.offset, count: UInt64(mark.count), "segment mark")
        else { return false }
        return head == mark
    }

    /// The offset of the section header table when it is the last thing in the file: past
    /// every segment's and every section's bytes, ending exactly at the end of the file.
    var sectionTableEndingTheFile: UInt64? {
        guard !file.sectionHeaders.isEmpty else { return nil }
        let table = header.sectionHeaderOffset
        let size = UInt64(file.sectionHeaders.count) * format.sectionHeaderSize
        guard Checked.fits(start: table, length: size, within: file.source.size), table + size == file.source.size else { return nil }
        for segment in file.programHeaders where segment.fileSize > 0 {
            guard let end = segment.fileEnd, end <= table else { return nil }
        }
        for section in file.sectionHeaders where section.hasFileData && section.size > 0 {
            guard let end = section.fileEnd, end <= table else { return nil }
        }
        return table
    }
}
