import ELFKitCore

/// (h) The bytes after the ELF image (docs/overlay-design.md §12.6): programs such as bun,
/// Nuitka, deno, libsui and AppImage keep their payload there and find it from the end of
/// the file, from absolute offsets, or at the image end they compute from the section
/// headers. Worked out from the two files and the request alone, with this check's own
/// image-end rule (it shares no code with the planner):
/// - default placement: the original's overlay `[E, E+L)` is the edited file's tail
///   `[E', E'+L)`, byte for byte, and the file ends there; a deno `d3n0l4nd` trailer's
///   positions each read `old + (E' - E)`; an AppImage-style input whose section headers
///   ended the image (`A == E`) still has `A' == E'`;
/// - `--overlay keep-offset`: `[E, E+L)` is unchanged and every new segment, and a moved
///   section header table, starts at `E+L` or later.
/// An overlay of zeros only (at most 4 KiB: padding, no payload) is not judged.
struct OverlayCheck {
    let context: IndependentVerifier.Context

    /// Where the edited file's overlay is, when this check judged it: `UnaccountedBytesCheck`
    /// leaves that range alone (its bytes moved; they are compared here).
    static func editedOverlay(_ context: IndependentVerifier.Context) -> (start: UInt64, end: UInt64)? {
        guard context.request.overlay == .followImage, let old = Self.overlay(of: context.original),
              let newEnd = Self.imageEnd(of: context.edited) else { return nil }
        let size = context.edited.source.size
        guard newEnd <= size else { return nil }
        return newEnd == old.start && size == context.original.source.size ? nil : (newEnd, size)
    }

    /// The image end of `file`, computed on its own: the largest end of the ELF header, the
    /// program header table, any segment or section with file bytes, the section header
    /// table; nil when one of them does not fit 64 bits.
    static func imageEnd(of file: ELFFile) -> UInt64? {
        let format = file.format
        var extents: [(UInt64, UInt64)] = [(0, UInt64(file.header.headerSize))]
        extents.append((file.header.programHeaderOffset, UInt64(file.programHeaders.count) * format.programHeaderSize))
        extents += file.programHeaders.map { ($0.offset, $0.fileSize) }
        extents += file.sectionHeaders.dropFirst().filter { $0.type != .nobits }.map { ($0.offset, $0.size) }
        if file.header.sectionHeaderOffset != 0 {
            extents.append((file.header.sectionHeaderOffset, UInt64(file.sectionHeaders.count) * format.sectionHeaderSize))
        }
        var end: UInt64 = 0
        for (offset, size) in extents where size > 0 {
            let (sum, overflow) = offset.addingReportingOverflow(size)
            if overflow { return nil }
            end = max(end, sum)
        }
        return end
    }

    /// AppImage's runtime rule: the end of the section header table or of the last-indexed
    /// section, whichever is later (program headers ignored); nil without section headers.
    static func computedEnd(of file: ELFFile) -> UInt64? {
        guard file.header.sectionHeaderOffset != 0, let last = file.sectionHeaders.last else { return nil }
        let table = file.header.sectionHeaderOffset.addingReportingOverflow(UInt64(file.sectionHeaders.count) * file.format.sectionHeaderSize)
        let section = last.offset.addingReportingOverflow(last.size)
        guard !table.overflow, !section.overflow else { return nil }
        return max(table.partialValue, section.partialValue)
    }

    /// The original's overlay `(start, length)`, nil when there is none to judge.
    static func overlay(of file: ELFFile) -> (start: UInt64, length: UInt64)? {
        guard let end = imageEnd(of: file), end < file.source.size else { return nil }
        let length = file.source.size - end
        if length <= 4096, let bytes = try? file.source.bytes(at: end, count: length, "overlay"), !bytes.contains(where: { $0 != 0 }) {
            return nil
        }
        return (end, length)
    }

    func run(_ problems: inout [VerificationProblem]) throws {
        let original = context.original, edited = context.edited
        guard let old = Self.overlay(of: original) else { return }
        guard let newEnd = Self.imageEnd(of: edited) else {
            problems.append(VerificationProblem(.overlay, "the edited file's image end does not fit 64 bits"))
            return
        }
        if context.request.overlay == .keepOffset {
            try keptInPlace(old, newEnd: newEnd, &problems)
            return
        }
        let size = edited.source.size
        guard size >= newEnd, size - newEnd == old.length else {
            problems.append(VerificationProblem(.overlay, "the \(old.length) bytes after the original ELF image (from 0x\(hex(old.start))) must end the edited file right after its image (0x\(hex(newEnd))), but the edited file is 0x\(hex(size)) bytes long"))
            return
        }
        if let a = Self.computedEnd(of: original), a == old.start, Self.computedEnd(of: edited) != newEnd {
            problems.append(VerificationProblem(.overlay, "the original's section headers ended its image (AppImage's rule finds the payload at 0x\(hex(a))); the edited file's rule gives 0x\(hex(Self.computedEnd(of: edited) ?? 0)), not its image end 0x\(hex(newEnd))"))
        }
        let words = try denoPositions(old, newStart: newEnd, &problems)
        try compare(original, from: old.start, edited, at: newEnd, length: old.length, except: words, &problems)
    }

    /// deno's trailer at the original's end: the output offsets of its position words, each
    /// checked to read `old + (newStart - start)`; empty when there is no trailer.
    private func denoPositions(_ old: (start: UInt64, length: UInt64), newStart: UInt64,
                               _ problems: inout [VerificationProblem]) throws -> Set<UInt64> {
        let original = context.original, edited = context.edited
        var trailerSize: UInt64?
        for candidate: UInt64 in [24, 40] where old.length >= candidate {
            if try original.source.bytes(at: original.source.size - candidate, count: 8, "deno trailer") == Array("d3n0l4nd".utf8) {
                trailerSize = candidate
                break
            }
        }
        guard let trailerSize, newStart != old.start else { return [] }
        var skipped: Set<UInt64> = []
        let before = try original.source.bytes(at: original.source.size - trailerSize, count: trailerSize, "deno trailer")
        let after = try edited.source.bytes(at: edited.source.size - trailerSize, count: trailerSize, "deno trailer")
        for word in stride(from: 8, to: Int(trailerSize), by: 8) {
            let was = before[word ..< word + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let now = after[word ..< word + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let offset = edited.source.size - trailerSize + UInt64(word)
            // `was` lies in the overlay (else the edit had to be refused), so the sum fits.
            guard was >= old.start, was - old.start < old.length, now == was - old.start + newStart else {
                problems.append(VerificationProblem(.overlay, "deno trailer position at offset 0x\(hex(offset)) is 0x\(hex(now)); expected 0x\(hex(was)) moved with the overlay from 0x\(hex(old.start)) to 0x\(hex(newStart))"))
                continue
            }
            for byte in 0 ..< UInt64(8) { skipped.insert(offset + byte) }
        }
        return skipped
    }

    /// `--overlay keep-offset`: the overlay where it was, new content after it.
    private func keptInPlace(_ old: (start: UInt64, length: UInt64), newEnd: UInt64, _ problems: inout [VerificationProblem]) throws {
        let original = context.original, edited = context.edited
        let overlayEnd = old.start + old.length  // the original's size
        guard edited.source.size >= overlayEnd else {
            problems.append(VerificationProblem(.overlay, "--overlay keep-offset: the edited file (0x\(hex(edited.source.size)) bytes) is shorter than the original's overlay end 0x\(hex(overlayEnd))"))
            return
        }
        for segment in edited.programHeaders where segment.fileSize > 0 && !original.programHeaders.contains(segment) {
            if segment.offset < overlayEnd && (segment.fileEnd ?? .max) > old.start {
                problems.append(VerificationProblem(.overlay, "--overlay keep-offset: a new segment at offset 0x\(hex(segment.offset)) overlaps the bytes after the original image [0x\(hex(old.start)), 0x\(hex(overlayEnd)))"))
            }
        }
        if edited.header.sectionHeaderOffset != original.header.sectionHeaderOffset,
           edited.header.sectionHeaderOffset < overlayEnd, edited.header.sectionHeaderOffset >= old.start {
            problems.append(VerificationProblem(.overlay, "--overlay keep-offset: the section header table moved into the bytes after the original image, at 0x\(hex(edited.header.sectionHeaderOffset))"))
        }
        try compare(original, from: old.start, edited, at: old.start, length: old.length, except: [], &problems)
    }

    /// `length` bytes of `original` at `from` against `edited` at `at`, window by window;
    /// the first difference outside `except` is one problem naming both offsets.
    private func compare(_ original: ELFFile, from: UInt64, _ edited: ELFFile, at: UInt64, length: UInt64,
                         except: Set<UInt64>, _ problems: inout [VerificationProblem]) throws {
        try ComparisonWindows.with(comparingAtMost: length) { before, after in
            var done: UInt64 = 0
            while done < length {
                let count = Int(min(UInt64(before.count), length - done))
                try original.source.read(at: from + done, into: UnsafeMutableRawBufferPointer(rebasing: before[..<count]))
                try edited.source.read(at: at + done, into: UnsafeMutableRawBufferPointer(rebasing: after[..<count]))
                if !ComparisonWindows.same(before, after, count) {
                    for index in 0 ..< count where before[index] != after[index] && !except.contains(at + done + UInt64(index)) {
                        problems.append(VerificationProblem(.overlay, "byte 0x\(hex(done + UInt64(index))) of the \(length) bytes after the original ELF image (original offset 0x\(hex(from + done + UInt64(index)))) is 0x\(hex(UInt64(after[index]))) at offset 0x\(hex(at + done + UInt64(index))), not 0x\(hex(UInt64(before[index])))"))
                        return
                    }
                }
                done += UInt64(count)
            }
        }
    }
}
