import ELFKitCore

/// The bytes of an edited file, described as changes to the original: patches inside
/// the original's range, and new bytes after it. The writer copies the unchanged bulk
/// with the kernel and writes only these.
package struct RewritePlan: Sendable {
    package struct Patch: Sendable {
        package var offset: UInt64
        package var bytes: [UInt8]
        package init(offset: UInt64, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    /// A table that moved, for the verifier and `--debug`.
    package struct Move: Sendable {
        package var from: FileObject
        package var to: FileObject
    }

    /// The input's size.
    package var originalSize: UInt64
    /// Changes inside `[0, keptPrefix)`, sorted by offset, non-overlapping.
    package var patches: [Patch] = []
    /// How much of the original file is kept; less than `originalSize` when a segment
    /// swelf appended earlier is being rebuilt.
    package var keptPrefix: UInt64
    /// Where `appended` starts; the gap after `keptPrefix` is zero-filled.
    package var appendOffset: UInt64
    package var appended: [UInt8] = []
    /// The bytes after the original ELF image (its overlay) when the edit moves them to
    /// follow the new image; nil when they stay where they were or there are none.
    package var tail: MovedTail?
    package var moves: [Move] = []
    package var log: [String] = []
    /// Messages for the user that do not stop the edit (patchelf's `warning: …`).
    package var warnings: [String] = []

    /// An overlay moved as a block: `length` bytes of the original from `sourceOffset`,
    /// written at `offset`, then `patches` (output offsets inside the moved bytes).
    package struct MovedTail: Sendable {
        package var sourceOffset: UInt64
        package var offset: UInt64
        package var length: UInt64
        package var patches: [Patch] = []
    }

    package init(originalSize: UInt64) {
        self.originalSize = originalSize
        keptPrefix = originalSize
        appendOffset = originalSize
    }

    package var newSize: UInt64 { tail.map { $0.offset + $0.length } ?? imageSize }

    /// Where the edited image ends: the kept prefix, or the end of the appended bytes.
    package var imageSize: UInt64 { appended.isEmpty ? keptPrefix : appendOffset + UInt64(appended.count) }

    /// True when the edit changes nothing: the file is left as it is.
    package var isEmpty: Bool { patches.isEmpty && appended.isEmpty && keptPrefix == originalSize && tail == nil }
}

/// The edited file as a `ByteSource`, read through the plan without writing anything.
/// The verifier reads the new image this way before a single byte is written.
package final class PlannedByteSource: ByteSource {
    let base: any ByteSource
    let plan: RewritePlan

    package init(base: any ByteSource, plan: RewritePlan) {
        self.base = base
        self.plan = plan
    }

    package var size: UInt64 { plan.newSize }

    package func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        let count = buffer.count
        guard Checked.fits(start: offset, length: UInt64(count), within: size) else {
            throw ELFError(.truncated, "read past the end of the planned file", offset: offset)
        }
        let end = offset + UInt64(count)
        // Original bytes, then zeros up to the appended region.
        var filled = 0
        if offset < plan.keptPrefix {
            filled = Int(min(end, plan.keptPrefix) - offset)
            try base.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<filled]))
        }
        if filled < count { UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]).initializeMemory(as: UInt8.self, repeating: 0) }
        func overlay(_ bytes: [UInt8], at start: UInt64) {
            let stop = start + UInt64(bytes.count)
            guard start < end, stop > offset else { return }
            let from = max(start, offset)
            let to = min(stop, end)
            bytes.withUnsafeBytes { source in
                let slice = UnsafeRawBufferPointer(rebasing: source[Int(from - start) ..< Int(to - start)])
                UnsafeMutableRawBufferPointer(rebasing: buffer[Int(from - offset) ..< Int(to - offset)]).copyMemory(from: slice)
            }
        }
        for patch in plan.patches { overlay(patch.bytes, at: patch.offset) }
        if !plan.appended.isEmpty { overlay(plan.appended, at: plan.appendOffset) }
        if let tail = plan.tail, tail.offset < end, tail.offset + tail.length > offset {
            // The moved overlay: original bytes read from their old place.
            let from = max(tail.offset, offset), to = min(tail.offset + tail.length, end)
            try base.read(at: tail.sourceOffset + (from - tail.offset),
                          into: UnsafeMutableRawBufferPointer(rebasing: buffer[Int(from - offset) ..< Int(to - offset)]))
            for patch in tail.patches { overlay(patch.bytes, at: patch.offset) }
        }
    }
}
