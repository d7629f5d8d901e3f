/// Two read buffers, one for the original and one for the edited file, reused window after
/// window while the verifier compares bytes. 256 KiB each: large enough that
/// `FileByteSource` reads straight into them (no block cache), small enough to stay in L2
/// between the read and the compare.
struct ComparisonWindows {
    static let size = 256 << 10

    /// Runs `body` with the two buffers (original, edited), freed afterwards.
    static func with<Result>(_ body: (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) throws -> Result) rethrows -> Result {
        let before = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        let after = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer {
            before.deallocate()
            after.deallocate()
        }
        return try body(before, after)
    }
}
