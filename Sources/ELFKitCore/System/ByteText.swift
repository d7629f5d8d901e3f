/// Names that are bytes, carried in a `String` without loss.
///
/// The reader's `String` views of ELF strings (`DynamicSection.needed()`, `interpreter()`,
/// …) and the loader model work on text; a name or path that is not UTF-8 must still
/// reach `open(2)` and the output byte for byte. So bytes become text reversibly: each
/// well-formed UTF-8 sequence is its character, and every other byte 0xXY (always ≥ 0x80)
/// becomes the private-use character U+F7XY. The UTF-8 encodings of U+F780…U+F7FF
/// themselves are escaped byte by byte too, so `bytes(string(b)) == b` for every `b`,
/// and text that came from valid UTF-8 without those characters is unchanged.
/// `BytePath(String)` and the command line's output undo the mapping.
package enum ByteText {
    package static func string(_ bytes: some Collection<UInt8>) -> String {
        // Nearly every ELF name is ASCII, which is its own text and holds no escape; this
        // path skips the copy and the walk over the scalars (a third of reading a table of
        // section names).
        if !bytes.contains(where: { $0 >= 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
        let bytes = Array(bytes)
        if let text = String(validating: bytes, as: UTF8.self), !text.unicodeScalars.contains(where: isEscape) {
            return text
        }
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < bytes.count {
            let length = validSequenceLength(bytes, at: index)
            if length > 0, let scalar = String(decoding: bytes[index ..< index + length], as: UTF8.self).unicodeScalars.first,
               !isEscape(scalar) {
                scalars.append(scalar)
                index += length
            } else {
                scalars.append(Unicode.Scalar(0xF700 + UInt32(bytes[index]))!)
                index += 1
            }
        }
        return String(scalars)
    }

    package static func bytes(_ text: String) -> [UInt8] {
        guard text.unicodeScalars.contains(where: isEscape) else { return Array(text.utf8) }
        var result: [UInt8] = []
        for scalar in text.unicodeScalars {
            if isEscape(scalar) {
                result.append(UInt8(scalar.value - 0xF700))
            } else {
                result.append(contentsOf: String(scalar).utf8)
            }
        }
        return result
    }

    /// Whether `text` carries escaped bytes (it did not come from valid UTF-8).
    package static func hasEscapes(_ text: String) -> Bool { text.unicodeScalars.contains(where: isEscape) }

    static func isEscape(_ scalar: Unicode.Scalar) -> Bool { scalar.value >= 0xF780 && scalar.value <= 0xF7FF }

    /// The length of the well-formed UTF-8 sequence at `index` (RFC 3629: no overlong
    /// forms, no surrogates, nothing above U+10FFFF), or 0.
    static func validSequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xbf
        switch first {
        case 0x00 ... 0x7f: return 1
        case 0xc2 ... 0xdf: length = 2
        case 0xe0: length = 3; low = 0xa0
        case 0xe1 ... 0xec, 0xee ... 0xef: length = 3
        case 0xed: length = 3; high = 0x9f
        case 0xf0: length = 4; low = 0x90
        case 0xf1 ... 0xf3: length = 4
        case 0xf4: length = 4; high = 0x8f
        default: return 0
        }
        guard bytes.count - index >= length else { return 0 }
        for offset in 1 ..< length {
            let byte = bytes[index + offset]
            let (from, to) = offset == 1 ? (low, high) : (UInt8(0x80), UInt8(0xbf))
            guard byte >= from && byte <= to else { return 0 }
        }
        return length
    }
}
