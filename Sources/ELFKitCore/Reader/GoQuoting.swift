/// Go's quoted-string syntax (`strconv.Quote`, `strconv.Unquote`), as used in `build`
/// lines. Works on bytes: `\x` and octal escapes may produce bytes that are not UTF-8;
/// they become U+FFFD when the result is made a Swift string.
enum GoQuoting {
    /// Go's `quoteKey`: empty, or containing `= \t\r\n"` or a backquote.
    static func keyNeedsQuotes(_ key: [UInt8]) -> Bool {
        key.isEmpty || key.contains { $0 == UInt8(ascii: "=") || valueSpecial($0) }
    }

    /// Go's `quoteValue`: containing ` \t\r\n"` or a backquote.
    static func valueNeedsQuotes(_ value: [UInt8]) -> Bool { value.contains(where: valueSpecial) }

    private static func valueSpecial(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"), UInt8(ascii: "\n"),
             UInt8(ascii: "\""), UInt8(ascii: "`"):
            return true
        default:
            return false
        }
    }

    /// The quoted Go string literal at the start of `text` (`"…"` with escapes, or
    /// `` `…` `` raw with carriage returns dropped): its value and the number of bytes
    /// it spans, or nil when it is not a valid literal.
    static func unquotePrefix(_ text: ArraySlice<UInt8>) -> (value: [UInt8], length: Int)? {
        guard let quote = text.first else { return nil }
        var value: [UInt8] = []
        var index = text.index(after: text.startIndex)
        if quote == UInt8(ascii: "`") {
            guard let close = text[index...].firstIndex(of: quote) else { return nil }
            value = text[index ..< close].filter { $0 != UInt8(ascii: "\r") }
            return (value, close + 1 - text.startIndex)
        }
        guard quote == UInt8(ascii: "\"") else { return nil }
        while index < text.endIndex {
            let byte = text[index]
            switch byte {
            case quote:
                return (value, index + 1 - text.startIndex)
            case UInt8(ascii: "\n"):
                return nil
            case UInt8(ascii: "\\"):
                guard let next = unescape(text, at: index + 1, into: &value) else { return nil }
                index = next
            default:
                value.append(byte)
                index += 1
            }
        }
        return nil
    }

    /// Decodes the escape whose letter is at `index` (just after the backslash) inside a
    /// double-quoted literal; returns the index after it.
    private static func unescape(_ text: ArraySlice<UInt8>, at index: Int, into value: inout [UInt8]) -> Int? {
        guard index < text.endIndex else { return nil }
        let letter = text[index]
        let simple: [UInt8: UInt8] = [
            UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "f"): 12, UInt8(ascii: "n"): 10,
            UInt8(ascii: "r"): 13, UInt8(ascii: "t"): 9, UInt8(ascii: "v"): 11,
            UInt8(ascii: "\\"): UInt8(ascii: "\\"), UInt8(ascii: "\""): UInt8(ascii: "\""),
        ]
        if let byte = simple[letter] {
            value.append(byte)
            return index + 1
        }
        let digitsStart = index + 1
        switch letter {
        case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
            let width = letter == UInt8(ascii: "x") ? 2 : letter == UInt8(ascii: "u") ? 4 : 8
            guard width <= text.endIndex - digitsStart else { return nil }
            var code: UInt32 = 0
            for byte in text[digitsStart ..< digitsStart + width] {
                guard let digit = hexDigit(byte) else { return nil }
                code = code << 4 | digit  // at most 8 digits: fits 32 bits
            }
            if letter == UInt8(ascii: "x") {
                value.append(UInt8(code))  // two hex digits: at most 0xff
            } else {
                guard let scalar = Unicode.Scalar(code) else { return nil }
                value.append(contentsOf: String(Character(scalar)).utf8)
            }
            return digitsStart + width
        case UInt8(ascii: "0") ... UInt8(ascii: "7"):
            guard 2 <= text.endIndex - digitsStart else { return nil }
            var code = UInt32(letter - UInt8(ascii: "0"))
            for byte in text[digitsStart ..< digitsStart + 2] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "7") else { return nil }
                code = code << 3 | UInt32(byte - UInt8(ascii: "0"))
            }
            guard code <= 0xff else { return nil }
            value.append(UInt8(code))
            return digitsStart + 2
        default:
            return nil
        }
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    /// Go's `strconv.Quote`: exact for ASCII; a non-ASCII character is kept when Swift
    /// considers it printable (letters, marks, numbers, punctuation, symbols), else
    /// escaped as `\u`/`\U`.
    static func quote(_ text: String) -> String {
        // Mirrors JSON.escape (ELFKitCore/System/JSON.swift) on purpose: two formats that
        // escape quotes, backslashes and newlines alike and differ in the rest.
        let digits = Array("0123456789abcdef")
        func hexDigits(_ value: UInt32, width: Int) -> String {
            String((0 ..< width).reversed().map { digits[Int(value >> (4 * UInt32($0)) & 0xf)] })
        }
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\u{07}": result += "\\a"
            case "\u{08}": result += "\\b"
            case "\u{0C}": result += "\\f"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\u{0B}": result += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    result += "\\x" + hexDigits(scalar.value, width: 2)
                } else if scalar.isASCII || isPrintable(scalar) {
                    result.unicodeScalars.append(scalar)
                } else if scalar.value < 0x10000 {
                    result += "\\u" + hexDigits(scalar.value, width: 4)
                } else {
                    result += "\\U" + hexDigits(scalar.value, width: 8)
                }
            }
        }
        return result + "\""
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned,
             .spaceSeparator, .lineSeparator, .paragraphSeparator:
            return false
        default:
            return true
        }
    }
}
