#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

// Character devices and FIFOs given as the destination (`--output /dev/stdout`): written
// in place, never replaced.
extension AtomicFileWriter {
    /// A character device or a FIFO: opened (never created, truncated or renamed over)
    /// and written from start to end, since neither can be read back or seeked. Its
    /// mode and owner are left alone. Other kinds are refused.
    func writeInPlace(plan: RewritePlan, input: FileByteSource, to target: ResolvedPath, kind: mode_t) throws {
        guard kind == S_IFCHR || kind == S_IFIFO else {
            let name = kind == S_IFBLK ? "a block device" : kind == S_IFSOCK ? "a socket" : kind == S_IFDIR ? "a directory" : "not a regular file"
            throw WriteError("\(target) is \(name): swelf writes regular files (replaced), character devices and FIFOs (written in place), and leaves this alone")
        }
        // Not through a link the name may have become since it was resolved.
        let follow = target.kernelLink ? 0 : O_NOFOLLOW
        let output = target.withName { system.open(target.directory, $0, O_WRONLY | O_NOCTTY | O_CLOEXEC | follow) }
        guard output >= 0 else {
            let code = errno
            if code == ELOOP { throw replacedByLink(target) }
            throw WriteError("cannot open \(target)", code: code)
        }
        defer { _ = system.close(output) }
        var opened = stat()
        guard system.status(output, &opened) == 0 else { throw WriteError("cannot stat \(target)", code: errno) }
        guard (opened.st_mode & S_IFMT) == kind else {
            throw WriteError("\(target) changed its kind while being opened; left alone")
        }
        let image = PlannedByteSource(base: input, plan: plan)
        var offset: UInt64 = 0
        while offset < plan.newSize {
            let count = Int(min(plan.newSize - offset, 1 << 20))
            let chunk = try image.readBytes(at: offset, count: count)
            var done = 0
            while done < count {
                let written = chunk.withUnsafeBytes { system.writeSequential(output, $0.baseAddress! + done, count - done) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw WriteError("write to \(target) failed", code: errno)
                }
                guard written > 0 else { throw WriteError("write to \(target) wrote nothing") }
                done += written
            }
            offset += UInt64(count)
        }
    }
}
