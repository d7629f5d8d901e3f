/// The bytes of an edited file, described as changes to the original: patches inside
/// the original's range, and new bytes after it. The writer copies the unchanged bulk
/// with the kernel and writes only these.
public struct RewritePlan: Sendable {
    public struct Patch: Sendable {
        public var offset: UInt64
        public var bytes: [UInt8]
    }

    /// A table that moved, for the verifier and `--debug`.
    public struct Move: Sendable {
        public var from: FileObject
        public var to: FileObject
    }

    public let originalSize: UInt64
    /// Changes inside `[0, keptPrefix)`, sorted by offset, non-overlapping.
    public var patches: [Patch] = []
    /// How much of the original file is kept; less than `originalSize` when a segment
    /// swelf appended earlier is being rebuilt.
    public var keptPrefix: UInt64
    /// Where `appended` starts; the gap after `keptPrefix` is zero-filled.
    public var appendOffset: UInt64
    public var appended: [UInt8] = []
    public var moves: [Move] = []
    public var log: [String] = []

    init(originalSize: UInt64) {
        self.originalSize = originalSize
        keptPrefix = originalSize
        appendOffset = originalSize
    }

    public var newSize: UInt64 { appended.isEmpty ? keptPrefix : appendOffset + UInt64(appended.count) }

    /// True when the edit changes nothing: the file is left as it is.
    public var isEmpty: Bool { patches.isEmpty && appended.isEmpty && keptPrefix == originalSize }
}

/// The edited file as a `ByteSource`, read through the plan without writing anything.
/// The verifier reads the new image this way before a single byte is written.
public final class PlannedByteSource: ByteSource {
    let base: any ByteSource
    let plan: RewritePlan

    public init(base: any ByteSource, plan: RewritePlan) {
        self.base = base
        self.plan = plan
    }

    public var size: UInt64 { plan.newSize }

    public func readBytes(at offset: UInt64, count: Int) throws(ELFError) -> [UInt8] {
        guard Checked.fits(start: offset, length: UInt64(count), within: size) else {
            throw ELFError(.truncated, "read past the end of the planned file", offset: offset)
        }
        let end = offset + UInt64(count)
        var result = [UInt8](repeating: 0, count: count)
        // Original bytes.
        if offset < plan.keptPrefix {
            let keptEnd = min(end, plan.keptPrefix)
            let original = try base.readBytes(at: offset, count: Int(keptEnd - offset))
            result.replaceSubrange(0 ..< original.count, with: original)
        }
        // Patches.
        for patch in plan.patches {
            let patchEnd = patch.offset + UInt64(patch.bytes.count)
            guard patch.offset < end, patchEnd > offset else { continue }
            let from = max(patch.offset, offset)
            let to = min(patchEnd, end)
            for position in from ..< to {
                result[Int(position - offset)] = patch.bytes[Int(position - patch.offset)]
            }
        }
        // Appended bytes (the gap before them stays zero).
        let appendEnd = plan.appendOffset + UInt64(plan.appended.count)
        if !plan.appended.isEmpty, plan.appendOffset < end, appendEnd > offset {
            let from = max(plan.appendOffset, offset)
            let to = min(appendEnd, end)
            let source = Int(from - plan.appendOffset)
            result.replaceSubrange(Int(from - offset) ..< Int(to - offset),
                                   with: plan.appended[source ..< source + Int(to - from)])
        }
        return result
    }
}
