#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Random access to the bytes of a file, without holding the whole file in memory.
///
/// Readers ask for exactly the ranges they need; a 300 MB compiler costs the same to
/// inspect as a 30 KB tool.
public protocol ByteSource: AnyObject {
    /// Total size in bytes.
    var size: UInt64 { get }
    /// Fills `buffer` with the bytes at `offset`: every byte of it is written, or the call
    /// throws (`readBytes` hands out arrays it never zeroed). Callers check the range first
    /// (see `bytes(at:count:_:)`); implementations still refuse a range outside the source.
    /// Bulk readers pass a reused buffer (the verifier compares whole files this way).
    ///
    /// - Parameters:
    ///   - offset: Byte offset in the source of the first byte to read.
    ///   - buffer: Where the bytes go; its `count` is how many are read.
    /// - Throws: `ELFError`: `.truncated` when `offset + buffer.count` exceeds `size`;
    ///   `.io` when the underlying read fails.
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError)
}

extension ByteSource {
    /// `count` bytes at `offset` as a new array, through `read(at:into:)`. Most readers
    /// want `bytes(at:count:_:)`, which checks the range first and names the structure.
    ///
    /// - Parameters:
    ///   - offset: Byte offset in the source.
    ///   - count: Number of bytes.
    /// - Returns: The `count` bytes.
    /// - Throws: What `read(at:into:)` throws.
    public func readBytes(at offset: UInt64, count: Int) throws(ELFError) -> [UInt8] {
        try uninitializedBytes(count: count) { (buffer) throws(ELFError) in try read(at: offset, into: buffer) }
    }
}

/// The largest array `uninitializedBytes` fills through a temporary buffer.
private let smallArrayLimit = 1024

/// An array of `count` bytes that `fill` writes in full, without zeroing it first (the
/// zeroing was a twentieth of a small file's edit). When `fill` throws, the array is
/// dropped as empty and nothing uninitialised is ever read.
///
/// A small array is filled in a temporary buffer on the stack and copied: the standard
/// library's uninitialised-array allocation is a generic function it does not inline, and
/// it looks up the array's type metadata at run time on every call (about 550 instructions,
/// more than copying a kilobyte). Readers make some 190 such small arrays per file of a tree
/// edit (headers, entries, strings): on the autopatch benchmark's files `readBytes` went
/// from 214 k to 125 k instructions per file (callgrind).
package func uninitializedBytes(count: Int, _ fill: (UnsafeMutableRawBufferPointer) throws(ELFError) -> Void) throws(ELFError) -> [UInt8] {
    var failure: ELFError?
    if count <= smallArrayLimit {
        let result = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer -> [UInt8] in
            do throws(ELFError) {
                try fill(UnsafeMutableRawBufferPointer(buffer))
            } catch {
                failure = error
                return []
            }
            return Array(UnsafeBufferPointer(buffer))
        }
        if let failure { throw failure }
        return result
    }
    let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        do throws(ELFError) {
            try fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        } catch {
            failure = error
            initialized = 0
        }
    }
    if let failure { throw failure }
    return result
}

extension ByteSource {
    /// Reads `count` bytes at `offset`, refusing a range that leaves the source.
    /// `what` names the structure for the error message.
    ///
    /// - Parameters:
    ///   - offset: Byte offset in the source, typically a value read from the file.
    ///   - count: Number of bytes, typically a size read from the file; 0 reads nothing.
    ///   - what: The structure being read (`"dynamic section"`), evaluated only for an
    ///     error.
    /// - Returns: The `count` bytes.
    /// - Throws: `ELFError`: `.truncated` when the range extends past `size` (or its end
    ///   overflows), with `offset` as the error's offset; `.overflow` when `count` does
    ///   not fit an `Int`; `.io` when reading fails.
    public func bytes(at offset: UInt64, count: UInt64, _ what: @autoclosure () -> String) throws(ELFError) -> [UInt8] {
        guard Checked.fits(start: offset, length: count, within: size) else {
            throw ELFError(.truncated,
                           "\(what()) of 0x\(hex(count)) bytes extends past the end of the file (size 0x\(hex(size)))",
                           offset: offset)
        }
        if count == 0 { return [] }
        return try readBytes(at: offset, count: Checked.int(count, what(), at: offset))
    }
}

/// Bytes held in memory: used for images under construction and in tests.
public final class MemoryByteSource: ByteSource {
    /// The bytes, byte 0 of the file first.
    public let storage: [UInt8]
    /// A source over a copy of `bytes` (arrays are copied on write, so no bytes are
    /// copied unless the caller changes its array later).
    ///
    /// - Parameter bytes: The whole file.
    public init(_ bytes: [UInt8]) { storage = bytes }
    /// `storage.count`, in bytes.
    public var size: UInt64 { UInt64(storage.count) }
    /// Copies the bytes at `offset` into `buffer`.
    ///
    /// - Parameters:
    ///   - offset: Byte offset in `storage`.
    ///   - buffer: Where the bytes go; its `count` is how many are copied.
    /// - Throws: `ELFError` of kind `.truncated` when the range extends past the end of
    ///   `storage`.
    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        guard Checked.fits(start: offset, length: UInt64(buffer.count), within: size) else {
            throw ELFError(.truncated, "read of \(buffer.count) bytes past the end of the data", offset: offset)
        }
        let start = Int(offset)
        storage.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start ..< start + buffer.count])) }
    }
}

/// An open file read with `pread`, so only the ranges asked for are read.
///
/// Small reads (headers, dynamic entries, strings, one symbol) go through a bounded
/// cache of 64 KiB blocks: a patch plan and its verification touch the same few
/// blocks many times, and one `pread` per block instead of one per structure is what
/// makes swelf quick on thousands of small libraries. Memory stays bounded whatever
/// the file's size; large reads bypass the cache.
package final class FileByteSource: ByteSource {
    package let path: BytePath
    package let descriptor: Int32
    package let size: UInt64
    /// At most `maximumBlocks`, oldest first. A list searched in order, not a dictionary:
    /// a `Dictionary<UInt64, [UInt8]>` costs a run-time conformance lookup (its `Hashable`
    /// requirement) the first time it is made, about a tenth of a small call's start-up.
    private var blocks: [CachedBlock] = []

    private struct CachedBlock {
        let start: UInt64
        let bytes: [UInt8]
    }

    static let blockSize: UInt64 = 64 << 10
    static let maximumBlocks = 64
    static let largeRead = 256 << 10

    /// Opens `path` read-only. Directories and unreadable files give `.io` errors.
    package convenience init(path: String) throws(ELFError) { try self.init(path: BytePath(path)) }

    /// Opens `path` read-only, its bytes as they are.
    package init(path: BytePath) throws(ELFError) {
        self.path = path
        // Non-blocking, so a FIFO (refused below) cannot hang the open waiting for a writer.
        let fd = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else { throw ELFError(.io, "cannot open: \(systemErrorMessage(errno))") }
        let status = try FileByteSource.status(closingOnFailure: fd)
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ELFError(.io, "not a regular file")
        }
        descriptor = fd
        size = UInt64(status.st_size)
    }

    /// Reads an already open file through a duplicate of `descriptor` (the writer checks
    /// the file it just wrote without opening it again).
    package init(duplicating descriptor: Int32, path: BytePath) throws(ELFError) {
        self.path = path
        let fd = dup(descriptor)
        guard fd >= 0 else { throw ELFError(.io, "cannot duplicate descriptor: \(systemErrorMessage(errno))") }
        let status = try FileByteSource.status(closingOnFailure: fd)
        self.descriptor = fd
        size = UInt64(status.st_size)
    }

    /// `fstat` of a descriptor just opened; on failure the descriptor is closed, as the
    /// initialiser that opened it throws and no `deinit` will.
    private static func status(closingOnFailure fd: Int32) throws(ELFError) -> stat {
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            throw ELFError(.io, "cannot stat: \(systemErrorMessage(code))")
        }
        return status
    }

    deinit { close(descriptor) }

    package func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        let count = buffer.count
        guard Checked.fits(start: offset, length: UInt64(count), within: size) else {
            throw ELFError(.truncated, "read of \(count) bytes past the end of the file", offset: offset)
        }
        if count >= FileByteSource.largeRead {
            try readDirectly(at: offset, into: buffer)
            return
        }
        // offset + count <= size, checked above.
        var position = offset
        let end = offset + UInt64(count)
        while position < end {
            let blockStart = position - position % FileByteSource.blockSize
            let block = try cachedBlock(at: blockStart)
            let from = Int(position - blockStart)
            let length = min(block.count - from, Int(end - position))
            block.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(rebasing: buffer[Int(position - offset) ..< Int(position - offset) + length])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from ..< from + length]))
            }
            position += UInt64(length)
        }
    }

    private func cachedBlock(at start: UInt64) throws(ELFError) -> [UInt8] {
        for cached in blocks where cached.start == start { return cached.bytes }
        let block = try uninitializedBytes(count: Int(min(FileByteSource.blockSize, size - start))) { (buffer) throws(ELFError) in
            try readDirectly(at: start, into: buffer)
        }
        if blocks.count == FileByteSource.maximumBlocks { blocks.removeFirst() }
        blocks.append(CachedBlock(start: start, bytes: block))
        return block
    }

    private func readDirectly(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(ELFError) {
        let count = buffer.count
        var done = 0
        while done < count {
            let n = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw ELFError(.io, "read failed: \(systemErrorMessage(errno))", offset: offset)
            }
            // The file shrank under us.
            if n == 0 { throw ELFError(.io, "file ended early (was it truncated while reading?)", offset: offset) }
            done += n
        }
    }
}

/// `strerror` as a Swift string.
package func systemErrorMessage(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "error \(code)" }
    return String(cString: text)
}
