#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

// The new file's bytes: the unchanged bulk copied by the kernel (a reflink, or only the
// data extents, so a sparse file stays sparse), and the planned bytes written.
extension AtomicFileWriter {
    /// The unchanged bulk: a reflink of the whole input cut to `count` bytes where the
    /// filesystem shares blocks (no data is copied or written), else a copy.
    func copyPrefix(from input: Int32, to output: Int32, count: UInt64) throws {
        guard count > 0 else { return }
        if system.clone(input, output) == 0 {
            guard system.truncate(output, off_t(count)) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
            return
        }
        // EOPNOTSUPP, EXDEV, EINVAL, ENOTTY: this filesystem (pair) cannot. A clone is
        // all or nothing; emptied anyway, so that no input byte is left past `count`, but
        // only when it is not empty already: on ext4 a truncation to size 0 marks the file
        // as replaced-by-truncate, and its close then writes back all of it (70 ms of a
        // 256 MiB edit's 200, even with --no-durability).
        var status = stat()
        if system.status(output, &status) != 0 || status.st_size != 0 {
            guard system.truncate(output, 0) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
        }
        let extents = dataExtents(of: input, count: count)
        for extent in extents {
            try copyRange(from: input, to: output, start: extent.start, count: extent.count)
        }
        // A hole at the end of the prefix: the size says where the prefix ends.
        if extents.last.map({ $0.start + $0.count }) != count {
            guard system.truncate(output, off_t(count)) == 0 else {
                throw WriteError("cannot size the output", code: errno)
            }
        }
    }

    /// The ranges of the input's first `count` bytes that hold data. A sparse file's holes
    /// are left out: the new file gets the same holes (reading them gives zeros, as in the
    /// input) instead of gigabytes of written zeros, which `copy_file_range` without shared
    /// blocks would write (a 4 GiB sparse program took 6-90 s and 4 GiB of disk per edit).
    /// Where the filesystem cannot tell (no SEEK_DATA), the whole prefix is one range.
    func dataExtents(of input: Int32, count: UInt64) -> [(start: UInt64, count: UInt64)] {
        let seekData: Int32 = 3, seekHole: Int32 = 4   // SEEK_DATA, SEEK_HOLE (not in Swift's Glibc)
        var extents: [(start: UInt64, count: UInt64)] = []
        var position: UInt64 = 0
        while position < count {
            let data = system.seek(input, off_t(position), seekData)
            if data < 0 {
                // ENXIO: no data from here on; anything else: the filesystem cannot say.
                if errno == ENXIO { break }
                return [(0, count)]
            }
            let start = UInt64(data)
            guard start < count else { break }
            let hole = system.seek(input, data, seekHole)
            guard hole > data else { return [(0, count)] }
            let end = min(UInt64(hole), count)
            extents.append((start, end - start))
            position = end
        }
        return extents
    }

    /// Bytes copied between two starts of writeback when the copy is to be made durable.
    /// Each chunk's disk writes then run while the next chunk is copied, and the final
    /// fsync waits only for the last one: 256 MiB on ext4, copy then fsync 133 ms, copy
    /// with a writeback start every 8-32 MiB 96-112 ms (the copy alone takes 63).
    static let writebackChunk = 16 << 20

    /// Copies `count` bytes at `start` in `input` to `destination` (default: `start`) in `output`.
    func copyRange(from input: Int32, to output: Int32, start: UInt64, count: UInt64, to destination: UInt64? = nil) throws {
        var inputOffset = off_t(start)
        var outputOffset = off_t(destination ?? start)
        var remaining = count
        var kernelCopy = system.copyFileRange
        // Without durability nothing waits for the disk, and early writeback would only
        // slow the copy down (63 -> 93 ms for 256 MiB). A copy of one chunk or less has
        // nothing to overlap: the fsync (or a batch's syncfs) starts it.
        let writeback = durable && count > UInt64(AtomicFileWriter.writebackChunk)
        let chunkLimit = writeback ? AtomicFileWriter.writebackChunk : 1 << 30
        while remaining > 0 {
            let chunk = Int(min(remaining, UInt64(chunkLimit)))
            if let copy = kernelCopy {
                let start = outputOffset
                let copied = copy(input, &inputOffset, output, &outputOffset, chunk, 0)
                if copied > 0 {
                    remaining -= UInt64(copied)
                    // A hint: its failure changes nothing, and fsync reports write errors.
                    if writeback { _ = system.startWriteback(output, start, off_t(copied)) }
                    continue
                }
                if copied == 0 { throw WriteError("the input file ended early while copying") }
                let code = errno
                if code == EINTR { continue }
                // Not supported across these filesystems: copy through memory. Any other
                // failure (no space, I/O error) is an error.
                guard code == EXDEV || code == ENOSYS || code == EOPNOTSUPP || code == EINVAL || code == EBADF else {
                    throw WriteError("copy failed", code: code)
                }
                kernelCopy = nil
                continue
            }
            let size = min(chunk, 1 << 20)
            var buffer = [UInt8](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBytes { system.read(input, $0.baseAddress!, size, inputOffset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw got < 0 ? WriteError("cannot read the input", code: errno) : WriteError("cannot read the input: unexpected end") }
            try writeAll(output, Array(buffer[..<got]), at: UInt64(outputOffset))
            inputOffset += off_t(got)
            outputOffset += off_t(got)
            remaining -= UInt64(got)
        }
    }

    func writeAll(_ descriptor: Int32, _ bytes: [UInt8], at offset: UInt64) throws {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { system.write(descriptor, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if written < 0 {
                if errno == EINTR { continue }
                throw WriteError("write failed", code: errno)
            }
            guard written > 0 else { throw WriteError("write failed: no progress") }
            done += written
        }
    }
}
