/// Test-only convenience: a string literal where the library takes bytes (`EditRequest`'s
/// names, `BytePath`'s bytes) stands for its UTF-8 bytes. The library itself has no such
/// conversion: the command line hands it bytes and never decodes them.
extension Array: @retroactive ExpressibleByUnicodeScalarLiteral, @retroactive ExpressibleByExtendedGraphemeClusterLiteral,
    @retroactive ExpressibleByStringLiteral where Element == UInt8 {
    public init(stringLiteral value: String) { self = Array(value.utf8) }
    public init(unicodeScalarLiteral value: String) { self = Array(value.utf8) }
    public init(extendedGraphemeClusterLiteral value: String) { self = Array(value.utf8) }
}
