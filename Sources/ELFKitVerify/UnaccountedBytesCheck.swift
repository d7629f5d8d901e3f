import ELFKitCore

/// (g) Bytes of the edited file that nothing describes: no header table, no segment and
/// no section covers them. No loader or tool reads them, so the other checks never look
/// there; but they are bytes of the file that replaces the original. Each must be the
/// original's byte at the same offset (kept: an edit never shifts the original's content)
/// or zero (the old place of the section header table cleared, alignment padding, the gap
/// before appended content, which the writer makes by extending the file). A byte that
/// is neither is no edit's doing: a copy that went wrong, a gap that is not zero-filled.
struct UnaccountedBytesCheck {
    let context: IndependentVerifier.Context

    func run(_ problems: inout [VerificationProblem]) throws {
        let edited = context.edited, original = context.original
        let size = edited.source.size
        var used: [(UInt64, UInt64)] = []
        func cover(_ offset: UInt64, _ length: UInt64) {
            guard length > 0, offset < size else { return }
            used.append((offset, length > size - offset ? size : offset + length))
        }
        let format = edited.format
        cover(0, format.fileHeaderSize)
        cover(edited.header.programHeaderOffset, UInt64(edited.programHeaders.count) * format.programHeaderSize)
        if !edited.sectionHeaders.isEmpty {
            cover(edited.header.sectionHeaderOffset, UInt64(edited.sectionHeaders.count) * format.sectionHeaderSize)
        }
        for segment in edited.programHeaders where segment.type != .null { cover(segment.offset, segment.fileSize) }
        for section in edited.sectionHeaders where section.type != .nobits && section.type != .null {
            cover(section.offset, section.size)
        }
        // A moved overlay is judged byte for byte by OverlayCheck, against its old place.
        if let overlay = OverlayCheck.editedOverlay(context) { cover(overlay.start, overlay.end - overlay.start) }
        var gaps: [(start: UInt64, end: UInt64)] = []
        var position: UInt64 = 0
        for range in IntervalSet(used).ranges {
            if range.start > position { gaps.append((position, range.start)) }
            position = max(position, range.end)
        }
        if position < size { gaps.append((position, size)) }
        guard !gaps.isEmpty else { return }

        let largest = gaps.map { $0.end - $0.start }.max() ?? 0
        let originalSize = original.source.size
        try ComparisonWindows.with(comparingAtMost: largest) { before, after in
            for gap in gaps {
                var offset = gap.start
                while offset < gap.end {
                    let count = Int(min(UInt64(after.count), gap.end - offset))
                    try edited.source.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: after[..<count]))
                    // The original's bytes at the same offsets, where it has any; zeros beyond.
                    let kept = offset < originalSize ? Int(min(UInt64(count), originalSize - offset)) : 0
                    if kept > 0 { try original.source.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: before[..<kept])) }
                    if kept < count {
                        UnsafeMutableRawBufferPointer(rebasing: before[kept ..< count]).initializeMemory(as: UInt8.self, repeating: 0)
                    }
                    if !ComparisonWindows.same(before, after, count) {
                        for index in 0 ..< count where after[index] != 0 && after[index] != before[index] {
                            problems.append(VerificationProblem(.image, "the byte at offset 0x\(hex(offset + UInt64(index))), which no header, segment or section covers, is 0x\(hex(UInt64(after[index]))): neither the original's byte there nor zero"))
                            return
                        }
                    }
                    offset += UInt64(count)
                }
            }
        }
    }
}
