#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Two read buffers, one for the original and one for the edited file, reused window after
/// window while the verifier compares bytes. At most 256 KiB each: large enough that
/// `FileByteSource` reads straight into them (no block cache), small enough to stay in L2
/// between the read and the compare.
struct ComparisonWindows {
    static let maximumSize = 256 << 10

    /// Runs `body` with the two buffers (original, edited), freed afterwards. They hold
    /// `min(largest, maximumSize)` bytes (at least one page): a small library needs a few
    /// KiB, and a 256 KiB allocation would cost two mmap/munmap pairs and their page faults.
    static func with<Result>(comparingAtMost largest: UInt64,
                             _ body: (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        let size = Int(min(max(largest, 4096), UInt64(maximumSize)))
        let before = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        let after = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer {
            before.deallocate()
            after.deallocate()
        }
        return try body(before, after)
    }

    /// Whether the first `count` bytes of the two buffers are the same (memcmp: the
    /// windows are compared whole before a differing byte is looked for).
    static func same(_ before: UnsafeMutableRawBufferPointer, _ after: UnsafeMutableRawBufferPointer, _ count: Int) -> Bool {
        memcmp(before.baseAddress!, after.baseAddress!, count) == 0
    }
}
