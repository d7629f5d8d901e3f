/// A problem with the bytes of an ELF file: what is wrong and where.
///
/// Every reader error names the structure being read, the byte offset in the file
/// where the problem lies and, where there is one, the offending value, so a user can
/// open the file in a hex editor and find the bad byte.
public struct ELFError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What sort of problem it is; the raw value is the case's name (`"truncated"`).
    public enum Kind: String, Sendable {
        /// The file does not start with the ELF magic number.
        case notELF
        /// A valid ELF feature swelf does not handle (e.g. an unknown class).
        case unsupported
        /// A structure extends past the end of the file or its container.
        case truncated
        /// An offset, size or count whose arithmetic overflows.
        case overflow
        /// A field whose value is impossible (zero entry size, unterminated string, …).
        case invalid
        /// Something the operation needs is not in the file (no dynamic section, …).
        case missing
        /// Reading the file itself failed.
        case io
    }

    /// What sort of problem it is.
    public let kind: Kind
    /// What is wrong, in words, naming the structure (`"PT_INTERP of 0x1c bytes extends
    /// past the end of the file (size 0x100)"`); without the offset and value, which
    /// `description` appends.
    public let message: String
    /// Byte offset in the file of the offending structure or field, when known.
    public let offset: UInt64?
    /// The offending value, when there is one.
    public let value: UInt64?

    /// An error of `kind`, saying `message`, at a byte of the file.
    ///
    /// - Parameters:
    ///   - kind: What sort of problem it is.
    ///   - message: What is wrong, naming the structure, without the offset or value.
    ///   - offset: Byte offset in the file of the offending structure or field; nil when
    ///     there is none (an I/O error opening the file).
    ///   - value: The offending value; nil when there is none.
    public init(_ kind: Kind, _ message: String, offset: UInt64? = nil, value: UInt64? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
        self.value = value
    }

    /// `message`, then ` (value 0x…)` and ` at byte 0x…` when they are known, in
    /// lower-case hexadecimal.
    public var description: String {
        var text = message
        if let value { text += " (value 0x\(hex(value)))" }
        if let offset { text += " at byte 0x\(hex(offset))" }
        return text
    }
}

/// Lower-case hexadecimal without a prefix.
@inline(__always)
package func hex<T: BinaryInteger>(_ value: T) -> String { String(value, radix: 16) }

/// `items.joined(separator:)`, for lists in the messages an edit always builds. The
/// stdlib's `joined` runs unspecialised and looks up its associated types on first use:
/// about 100,000 instructions, a twentieth of a one-file edit; this loop is compiled
/// for `[String]`.
package func listed(_ items: [String], separator: String = ", ") -> String {
    var text = ""
    for (index, item) in items.enumerated() {
        if index > 0 { text += separator }
        text += item
    }
    return text
}
