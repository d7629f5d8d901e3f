/// A Linux path: bytes, not text. The kernel takes any bytes but NUL and `/` in a name,
/// so a path is carried as `[UInt8]` from `argv` to `open(2)` and is never decoded on
/// the way; only messages show it, through `description`, and the command line prints
/// `bytes` as they are.
public struct BytePath: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The path without a terminating NUL (a NUL inside ends the path for the kernel, as
    /// it would end a C string).
    public var bytes: [UInt8]

    /// A path made of these bytes, as they are.
    ///
    /// - Parameter bytes: The path, without a terminating NUL.
    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The bytes of `string`: its UTF-8, with each private-use character U+F7XY (how this
    /// library's `String` results carry a byte 0xXY that is not UTF-8) turned back into
    /// that byte, so a name read as text from a file opens that file.
    ///
    /// - Parameter string: The path as text.
    public init(_ string: String) { bytes = ByteText.bytes(string) }
    /// A path written as a literal, read as ``init(_:)`` reads text.
    ///
    /// - Parameter value: The literal.
    public init(stringLiteral value: String) { self.init(value) }

    /// The path as text, reversibly: each byte 0xXY that is not UTF-8 becomes U+F7XY,
    /// which ``init(_:)`` turns back; the command line prints it byte for byte.
    public var description: String { ByteText.string(bytes) }

    /// True for the empty path (no bytes), which names no file.
    public var isEmpty: Bool { bytes.isEmpty }

    /// Calls `body` with the path as a NUL-terminated C string.
    ///
    /// - Parameter body: Called once with a pointer valid only during the call (for
    ///   `open(2)`, `stat(2)`, ...).
    /// - Returns: What `body` returns.
    /// - Throws: What `body` throws.
    public func withCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        var terminated = bytes.map { CChar(bitPattern: $0) }
        terminated.append(0)
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// `self + "/" + name`.
    ///
    /// - Parameter name: A file name (normally without `/`), as bytes.
    /// - Returns: The joined path; no separator is removed or collapsed, so `/` and
    ///   `lib` give `//lib`.
    public func appending(_ name: [UInt8]) -> BytePath {
        BytePath(bytes: bytes + [UInt8(ascii: "/")] + name)
    }

    /// The directory part, as `dirname` gives it: `.` without a slash, `/` for a file in /.
    public var directory: BytePath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return slash == 0 ? "/" : BytePath(bytes: Array(bytes[..<slash]))
    }

    /// A path from a C string (a `realpath` or `mkdtemp` result).
    ///
    /// - Parameter cString: A NUL-terminated string; its bytes up to the NUL are copied.
    public init(cString: UnsafePointer<CChar>) {
        var result: [UInt8] = []
        var pointer = cString
        while pointer.pointee != 0 {
            result.append(UInt8(bitPattern: pointer.pointee))
            pointer += 1
        }
        bytes = result
    }
}
