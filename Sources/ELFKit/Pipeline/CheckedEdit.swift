#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore
import ELFKitEdit

/// What `Rewriter.check` proved about one file's edit, kept so that `Rewriter.prepare`
/// need not prove it again: the plan the verifier accepted, and the content it was
/// accepted on.
///
/// Why it exists: `swelf autopatch` checks a tree of more than one chunk whole before it
/// writes the first chunk (all-or-nothing beyond the descriptors one chunk may hold), and
/// then prepares every file. Planning and verifying each file twice was about 40 % of its
/// user time. With a checked edit, the prepare writes the plan the verifier accepted and
/// proves the written file equal, byte for byte, to the image the verifier judged; the
/// verdict then holds for the bytes that will be renamed into place. The image is the
/// plan applied to the original as read at the prepare, and that original is the one the
/// check read when its size and seeded digest match (both read whole into memory, so the
/// digested bytes are exactly the planned and verified ones). Any difference, or a file
/// too large to be read whole, and the prepare plans and verifies as it always does.
package struct CheckedEdit: Sendable {
    /// The checked plan, as `Rewriter.preview` gives it.
    package let result: Rewriter.Result
    /// The content the plan was verified on; nil when the file was too large to be read
    /// whole (the prepare then plans and verifies again).
    let original: ContentDigest?

    /// About how many bytes of memory keeping this value holds: the plan's new bytes.
    package var retainedBytes: Int {
        guard original != nil else { return 0 }
        return result.plan.appended.count + result.plan.patches.reduce(0) { $0 + $1.bytes.count + 32 } + 256
    }

    /// This edit without its plan: what a caller keeps when it cannot keep every plan.
    package var withoutPlan: CheckedEdit { CheckedEdit(result: result, original: nil) }
}

/// The size and a digest of every byte of a file's content as read into memory.
///
/// The digest is Swift's `Hasher` (SipHash-1-3 under a key chosen at random when the
/// process starts), so two digests compare only within one process, which is all a
/// checked edit needs; a file made to collide would need that key.
struct ContentDigest: Equatable, Sendable {
    let size: Int
    let digest: Int

    /// The largest file a check reads whole to digest it: beyond it a checked edit is not
    /// kept (a tree of huge files is rare, and memory per thread stays bounded).
    static let largestDigested = 64 << 20

    init(of bytes: [UInt8]) {
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        size = bytes.count
        digest = hasher.finalize()
    }

    /// The whole content of `source` when it is at most `largestDigested` bytes; nil for
    /// a larger one.
    static func wholeContent(of source: any ByteSource) throws(ELFError) -> [UInt8]? {
        guard source.size <= UInt64(largestDigested) else { return nil }
        return try source.readBytes(at: 0, count: Int(source.size))
    }
}

/// The written file against the image the verifier judged, every byte: a checked edit's
/// proof that the verifier's verdict holds for the file that will be renamed into place.
struct WrittenEqualsVerifiedImage {
    let image: any ByteSource
    let written: any ByteSource

    /// The writer's last check before a rename (`AtomicFileWriter.prepare`'s `check`): the
    /// written file must be `image`, every byte, else the differences are thrown.
    static func check(against image: any ByteSource) -> (FileByteSource) throws -> Void {
        { written in
            let failures = WrittenEqualsVerifiedImage(image: image, written: written).problems()
            if !failures.isEmpty { throw VerificationFailures(failures: failures) }
        }
    }

    func problems() -> [VerificationFailure] {
        guard written.size == image.size else {
            return [.writtenFileDiffers(offset: nil, expectedSize: image.size, actualSize: written.size)]
        }
        let block = 64 << 10
        var offset: UInt64 = 0
        while offset < image.size {
            let count = Int(min(UInt64(block), image.size - offset))
            guard let expected = try? image.readBytes(at: offset, count: count),
                  let actual = try? written.readBytes(at: offset, count: count) else {
                return [.writtenFileDiffers(offset: offset, expectedSize: image.size, actualSize: written.size)]
            }
            let same = expected.withUnsafeBytes { a in actual.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, count) == 0 } }
            if !same {
                let first = (0 ..< count).first { expected[$0] != actual[$0] } ?? 0
                return [.writtenFileDiffers(offset: offset + UInt64(first), expectedSize: image.size, actualSize: written.size)]
            }
            offset += UInt64(count)
        }
        return []
    }
}
