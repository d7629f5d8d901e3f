import ELFKitCore

/// PyInstaller's onefile archive on Linux (docs/overlay-design.md §3, §10 "bounded scan"):
/// `objcopy --add-section pydata=PKG` puts the archive into a non-loaded section that the
/// section-name table and the section header table follow, and the archive ends with its
/// 88-byte cookie (`MEI\014\013\012\013\016`, u32 big-endian package length, …).
/// Bootloaders of PyInstaller 4.0–4.2 (`pyi_arch_find_cookie`, `pyi_archive.c @ v4.0`)
/// look for the cookie only in the last 4096 + 88 bytes of the file and find the package
/// at `cookie + 88 - length`; 4.3 and later scan the whole file. New content appended
/// after the image pushes the cookie out of that window, so a growing edit instead places
/// its content where the archive was and moves the archive, byte for byte, to the end of
/// the file: its cookie then ends the file, where every bootloader finds it. Only the
/// section's `sh_offset` changes (nothing loads it; the package's own offsets are relative
/// to the cookie).
struct TrailingArchive {
    /// The cookie's size and magic (`struct ARCHIVE_COOKIE`, `pyi_archive.h`).
    static let cookieSize: UInt64 = 88
    static let magic: [UInt8] = [0x4d, 0x45, 0x49, 0o14, 0o13, 0o12, 0o13, 0o16]
    /// The window the 4.0–4.2 bootloaders search, counted back from the end of the file.
    static let window: UInt64 = 4096 + cookieSize

    let file: ELFFile
    /// The `pydata` section's index and header.
    let index: Int
    let header: SectionHeader

    /// The archive of `file`, when it is laid out as objcopy lays it out, or as an earlier
    /// edit left it: a `pydata` section that is not loaded, ends with a cookie whose
    /// package length is the section's size, and is followed only by sections that are not
    /// loaded and possibly the section header table (no segment, program header table or
    /// loaded section after its start, nothing across it).
    init?(file: ELFFile) {
        guard let (index, header) = file.section(named: "pydata"), header.hasFileData, !header.flags.contains(.alloc),
              header.size >= Self.cookieSize, let end = header.fileEnd, end <= file.source.size,
              let cookie = try? file.source.bytes(at: end - Self.cookieSize, count: 12, "PyInstaller cookie"),
              Array(cookie[0 ..< 8]) == Self.magic,
              UInt64(cookie[8]) << 24 | UInt64(cookie[9]) << 16 | UInt64(cookie[10]) << 8 | UInt64(cookie[11]) == header.size
        else { return nil }
        let start = header.offset
        let format = file.format
        let tableEnd = file.header.programHeaderOffset.addingReportingOverflow(UInt64(file.programHeaders.count) * format.programHeaderSize)
        guard UInt64(file.header.headerSize) <= start, !tableEnd.overflow, file.programHeaders.isEmpty || tableEnd.partialValue <= start else { return nil }
        for segment in file.programHeaders where segment.fileSize > 0 {
            let (segmentEnd, overflow) = segment.offset.addingReportingOverflow(segment.fileSize)
            guard !overflow, segmentEnd <= start else { return nil }
        }
        for (other, section) in file.sectionHeaders.enumerated() where other != 0 && other != index && section.hasFileData && section.size > 0 {
            guard let sectionEnd = section.fileEnd else { return nil }
            guard sectionEnd <= start || section.offset >= end && !section.flags.contains(.alloc) else { return nil }
        }
        // The section header table after the archive (objcopy's layout) or before it (an
        // edit of swelf's moved the archive to the end earlier), never across it.
        let shoff = file.header.sectionHeaderOffset
        let tableSize = UInt64(file.sectionHeaders.count) * format.sectionHeaderSize
        guard shoff >= end || shoff <= start && tableSize <= start - shoff else { return nil }
        self.file = file
        self.index = index
        self.header = header
    }

    /// The plan of `request` with the archive moved to the end of the file: `planImage`
    /// plans the image without the archive (`SplicedByteSource`), and the archive follows
    /// that image as the plan's tail, its header pointing there. Nil when that plan appends
    /// nothing or moves a tail of its own, or its section header table is not where the
    /// archive's header can be rewritten; the caller then keeps its ordinary plan.
    func plan(planImage: (ELFFile) throws(EditError) -> RewritePlan) throws(EditError) -> RewritePlan? {
        let start = header.offset, length = header.size
        let spliced: SplicedByteSource
        let image: ELFFile
        do {
            spliced = try SplicedByteSource(cutting: file, index: index)
            image = try ELFFile(source: spliced)
        } catch { throw .format(error) }
        let inner = try planImage(image)
        guard inner.tail == nil, !inner.appended.isEmpty else { return nil }
        // The original's bytes are kept up to the archive, or up to a segment of swelf's own
        // that the edit rebuilds (the image without the archive is the original up there).
        let kept = min(inner.keptPrefix, start)
        let imageEnd = inner.imageSize
        let planned = PlannedByteSource(base: spliced, plan: inner)
        var plan = RewritePlan(originalSize: file.source.size)
        plan.keptPrefix = kept
        plan.appendOffset = kept
        plan.patches = inner.patches.compactMap { patch in
            guard patch.offset < kept else { return nil }
            let count = min(UInt64(patch.bytes.count), kept - patch.offset)
            return RewritePlan.Patch(offset: patch.offset, bytes: Array(patch.bytes[..<Int(count)]))
        }
        do {
            // What follows the archive's old place in the edited image: the section-name
            // table, the old section header table, swelf's new content and new table.
            plan.appended = try planned.readBytes(at: kept, count: Int(imageEnd - kept))
            let edited = try ELFFile(source: planned)
            let entry = edited.header.sectionHeaderOffset.addingReportingOverflow(UInt64(index) * file.format.sectionHeaderSize)
            guard edited.sectionHeaders.count == file.sectionHeaders.count, !entry.overflow, entry.partialValue >= kept,
                  Checked.fits(start: entry.partialValue, length: file.format.sectionHeaderSize, within: imageEnd)
            else { return nil }
            var moved = header
            moved.offset = imageEnd
            var encoder = ByteEncoder(format: file.format)
            try moved.encode(into: &encoder)
            let at = Int(entry.partialValue - kept)
            plan.appended.replaceSubrange(at ..< at + encoder.bytes.count, with: encoder.bytes)
            // Bytes here that nothing describes (the old section header table, padding)
            // came from `length` bytes further on in the original: zeroed, so that the
            // file holds no stale copy of a table at an offset where it never was.
            var covered: [Range<UInt64>] = []
            func cover(_ offset: UInt64, _ size: UInt64) {
                let (end, overflow) = offset.addingReportingOverflow(size)
                if !overflow { covered.append(offset ..< end) }
            }
            cover(edited.header.sectionHeaderOffset, UInt64(edited.sectionHeaders.count) * file.format.sectionHeaderSize)
            for segment in edited.programHeaders where segment.type != .null { cover(segment.offset, segment.fileSize) }
            for (other, section) in edited.sectionHeaders.enumerated() where other != index && section.hasFileData {
                cover(section.offset, section.size)
            }
            var position = kept
            for range in covered.sorted(by: { $0.lowerBound < $1.lowerBound }) + [imageEnd ..< imageEnd] {
                if range.lowerBound > position {
                    let gap = Int(position - kept) ..< Int(min(range.lowerBound, imageEnd) - kept)
                    plan.appended.replaceSubrange(gap, with: repeatElement(0, count: gap.count))
                }
                position = max(position, range.upperBound)
                if position >= imageEnd { break }
            }
        } catch { throw .format(error) }
        plan.tail = RewritePlan.MovedTail(sourceOffset: start, offset: imageEnd, length: length)
        plan.moves = inner.moves
        plan.warnings = inner.warnings
        plan.log = inner.log + ["PyInstaller archive (section pydata, 0x\(hex(length)) bytes) moved from 0x\(hex(start)) to 0x\(hex(imageEnd)), the end of the file: its cookie stays within the last \(Self.window) bytes that PyInstaller 4.0–4.2 bootloaders search"]
        return plan
    }
}

/// `file` without the bytes of section `index`, as the planner reads it: everything after
/// the section moves down by its size, the headers say so (`e_shoff` when the table
/// followed it, the `sh_offset` of the sections after it), and the section itself is
/// empty at its old start.
final class SplicedByteSource: ByteSource {
    let base: any ByteSource
    let cut: Range<UInt64>
    let length: UInt64
    let size: UInt64
    /// The changed headers, in this source's offsets.
    let patches: [RewritePlan.Patch]

    init(cutting file: ELFFile, index: Int) throws(ELFError) {
        let section = file.sectionHeaders[index]
        length = section.size
        base = file.source
        cut = section.offset ..< section.offset + length
        size = file.source.size - length
        var header = file.header
        if header.sectionHeaderOffset >= cut.upperBound { header.sectionHeaderOffset -= length }
        var patches = [RewritePlan.Patch(offset: 0, bytes: try header.encode())]
        var encoder = ByteEncoder(format: file.format)
        for (other, var entry) in file.sectionHeaders.enumerated() {
            if other == index {
                entry.size = 0
            } else if other != 0, !entry.flags.contains(.alloc), entry.offset >= cut.upperBound {
                entry.offset -= length
            }
            try entry.encode(into: &encoder)
        }
        patches.append(RewritePlan.Patch(offset: header.sectionHeaderOffset, bytes: encoder.bytes))
        self.patches = patches
    }

    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        let count = UInt64(buffer.count)
        guard Checked.fits(start: offset, length: count, within: size) else {
            throw ELFError(.truncated, "read past the end of the image without its archive", offset: offset)
        }
        let end = offset + count
        // Before the cut from the same place, after it from `length` bytes further on.
        if offset < cut.lowerBound {
            let before = min(end, cut.lowerBound) - offset
            try base.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<Int(before)]))
        }
        if end > cut.lowerBound {
            let from = max(offset, cut.lowerBound)
            try base.read(at: from + length, into: UnsafeMutableRawBufferPointer(rebasing: buffer[Int(from - offset)...]))
        }
        for patch in patches {
            let stop = patch.offset + UInt64(patch.bytes.count)
            guard patch.offset < end, stop > offset else { continue }
            let from = max(patch.offset, offset), to = min(stop, end)
            patch.bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[Int(from - offset) ..< Int(to - offset)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(from - patch.offset) ..< Int(to - patch.offset)]))
            }
        }
    }
}
