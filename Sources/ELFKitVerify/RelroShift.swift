import ELFKitCore

/// A PT_GNU_RELRO whose start moved up past the old bytes of a moved `.dynamic` (lld puts
/// `.dynamic` first in it; binutils `strip` rebuilds the header from the first section
/// left inside it, so the editor starts it there). The loader protects whole pages
/// (glibc's `_dl_protect_relro` rounds the start down to the page size, at least 4 KiB), so
/// the change protects the same pages when the new start is in the old start's 4 KiB page.
/// Accepted only then, and only when the original had nothing but `.dynamic` in the bytes
/// no longer covered, `.dynamic` moved away from them, and the end stayed.
enum RelroShift {
    /// The uncovered address ranges `[old start, new start)` of every accepted shift, or nil
    /// when the headers differ in any other way (the caller reports the change).
    static func gaps(original: ELFFile, edited: ELFFile) -> [(start: UInt64, end: UInt64)]? {
        let old = original.programHeaders.filter { $0.type == .gnuRelRO }
        let new = edited.programHeaders.filter { $0.type == .gnuRelRO }
        guard old.count == new.count else { return nil }
        var gaps: [(start: UInt64, end: UInt64)] = []
        for (before, after) in zip(old, new) where before != after {
            guard let gap = accepted(before, after, original: original, edited: edited) else { return nil }
            gaps.append(gap)
        }
        return gaps
    }

    /// True when a RELRO start moved up from `old` to `new` leaves the loader protecting the
    /// same pages for every page size of at least 4 KiB: `new` rounded down to 4 KiB is at
    /// or below `old`.
    static func protectsTheSamePages(from old: UInt64, from new: UInt64) -> Bool {
        new > old && new & ~0xfff <= old
    }

    private static func accepted(_ before: ProgramHeader, _ after: ProgramHeader, original: ELFFile,
                                 edited: ELFFile) -> (start: UInt64, end: UInt64)? {
        guard protectsTheSamePages(from: before.virtualAddress, from: after.virtualAddress) else { return nil }
        let delta = after.virtualAddress - before.virtualAddress
        let (oldEnd, o1) = before.virtualAddress.addingReportingOverflow(before.memorySize)
        let (newEnd, o2) = after.virtualAddress.addingReportingOverflow(after.memorySize)
        guard !o1, !o2, oldEnd == newEnd, after.type == before.type, after.flags == before.flags, after.alignment == before.alignment,
              after.offset == before.offset &+ delta, after.physicalAddress == before.physicalAddress &+ delta,
              after.fileSize == (before.fileSize > delta ? before.fileSize - delta : 0)
        else { return nil }
        // The original's .dynamic started the segment, and nothing else was in the gap.
        guard let dynamic = original.programHeaders.first(where: { $0.type == .dynamic }),
              dynamic.virtualAddress == before.virtualAddress,
              !original.sectionHeaders.dropFirst().contains(where: {
                  $0.flags.contains(.alloc) && $0.size > 0 && $0.type != .dynamic
                      && $0.address < after.virtualAddress && $0.address &+ $0.size > before.virtualAddress
              }),
              let moved = edited.programHeaders.first(where: { $0.type == .dynamic }),
              moved.virtualAddress >= oldEnd || moved.virtualAddress &+ moved.memorySize <= before.virtualAddress
        else { return nil }
        return (before.virtualAddress, after.virtualAddress)
    }
}
