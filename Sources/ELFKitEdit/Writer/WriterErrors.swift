#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// A failure of the file system while producing the output, or a file that changed under
/// swelf so that it left it alone.
public struct WriteError: Error, CustomStringConvertible, Sendable {
    /// What swelf was doing or found, without the system's reason: "cannot open /x".
    public let message: String
    /// The `errno` of the system call that failed (`EACCES`, `ENOSPC`, …); nil when no
    /// call failed (the file changed kind, a name kept being replaced, …).
    public let code: Int32?
    /// Words that follow the system's reason in `description` ("; left alone").
    public let trailer: String

    /// - Parameters:
    ///   - message: what failed, without the system's reason.
    ///   - code: the `errno` of the failed call, if one failed.
    ///   - trailer: words printed after the system's reason.
    public init(_ message: String, code: Int32? = nil, trailer: String = "") {
        self.message = message
        self.code = code
        self.trailer = trailer
    }

    /// The message, the system's reason for `code` after a colon, then the trailer.
    public var description: String {
        message + (code.map { ": " + systemErrorMessage($0) } ?? "") + trailer
    }
}

/// The path no longer names the file that was read and locked: someone renamed another
/// file over it. The edit starts again on the new file.
package struct TargetReplaced: Error {}

/// Another process (or this one, for a file named twice) holds the lock, and the caller
/// asked not to wait (`withLockedFile(…, wait: false)`).
package struct LockBusy: Error {}

/// The file to be replaced is one the caller could not open for writing (`access(W_OK)`
/// says no): left alone, as patchelf leaves it. A `Rewriter` made with `allowReadOnly`
/// replaces it anyway.
public struct NotWritable: Error, CustomStringConvertible, Sendable {
    /// The file as the caller named it.
    public let path: BytePath
    /// `errno`: `EACCES`, `EROFS`, ….
    public let code: Int32
    /// The message `swelf` prints: the path, the system's reason, and how to override it.
    public var description: String {
        "cannot open \(path) for writing: \(systemErrorMessage(code)); a file its user may not write is left alone (--allow-read-only replaces it)"
    }
}
