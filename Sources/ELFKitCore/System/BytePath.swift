/// A Linux path: bytes, not text. The kernel takes any bytes but NUL and `/` in a name,
/// so a path is carried as `[UInt8]` from `argv` to `open(2)` and is never decoded on
/// the way; only messages show it, through `description`, and the command line prints
/// `bytes` as they are.
public struct BytePath: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    /// The path without a terminating NUL (a NUL inside ends the path for the kernel, as
    /// it would end a C string).
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
    /// The bytes of `string`: its UTF-8, with `ByteText`'s escapes turned back into the
    /// bytes they stand for (so a name read as text from a file opens that file).
    public init(_ string: String) { bytes = ByteText.bytes(string) }
    public init(stringLiteral value: String) { self.init(value) }

    /// The path as text, reversibly (`ByteText`): the command line prints it byte for byte.
    public var description: String { ByteText.string(bytes) }

    public var isEmpty: Bool { bytes.isEmpty }

    /// Calls `body` with the path as a NUL-terminated C string.
    public func withCString<Result>(_ body: (UnsafePointer<CChar>) throws -> Result) rethrows -> Result {
        var terminated = bytes.map { CChar(bitPattern: $0) }
        terminated.append(0)
        return try terminated.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// `self + "/" + name`.
    public func appending(_ name: [UInt8]) -> BytePath {
        BytePath(bytes: bytes + [UInt8(ascii: "/")] + name)
    }

    /// The directory part, as `dirname` gives it: `.` without a slash, `/` for a file in /.
    public var directory: BytePath {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return slash == 0 ? "/" : BytePath(bytes: Array(bytes[..<slash]))
    }

    /// A path from a C string (a `realpath` or `mkdtemp` result).
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
