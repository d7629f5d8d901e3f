
/// A JSON value with ordered object keys, so output is stable for scripts and tests.
///
/// ELF strings and paths are bytes (`.bytes`) and need not be UTF-8. Output stays
/// strict JSON (every parser reads it) and loses no byte:
/// - bytes that are valid UTF-8 are written as that text;
/// - otherwise the field holds the text with U+FFFD for each invalid sequence (for
///   display), and the object gets a `"raw_bytes"` member giving that field's exact bytes
///   in hex: `"raw_bytes": {"run_path": "2f636166e9"}`. For an array of names the entry is
///   an array of the same length, with the hex for each name that is not UTF-8 and null
///   for those that are.
/// A consumer takes `raw_bytes[field]` when present, else the UTF-8 of the text.
/// Objects whose names are all UTF-8 have no `raw_bytes`. A `.string` carrying bytes as
/// `ByteText` (the loader model's names and paths) is treated as those bytes.
package enum JSON {
    case string(String)
    case bytes([UInt8])
    case int(Int64)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    package static func optional(_ text: String?) -> JSON { text.map(JSON.string) ?? .null }
    package static func optional(bytes: [UInt8]?) -> JSON { bytes.map(JSON.bytes) ?? .null }

    package func serialized(indent: Int = 0) -> String {
        var out = ""
        write(to: &out, indent: indent)
        return out
    }

    private func write(to out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent)
        let innerPad = String(repeating: "  ", count: indent + 1)
        switch self {
        case .string(let text) where ByteText.hasEscapes(text): JSON.quote(String(decoding: ByteText.bytes(text), as: UTF8.self), into: &out)
        case .string(let text): JSON.quote(text, into: &out)
        case .bytes(let bytes): JSON.quote(String(decoding: bytes, as: UTF8.self), into: &out)
        case .int(let value): out += String(value)
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            if items.isEmpty { out += "[]"; return }
            out += "[\n"
            for (index, item) in items.enumerated() {
                out += innerPad
                item.write(to: &out, indent: indent + 1)
                out += index == items.count - 1 ? "\n" : ",\n"
            }
            out += pad + "]"
        case .object(var members):
            if let raw = JSON.rawBytes(of: members) { members.append(("raw_bytes", raw)) }
            if members.isEmpty { out += "{}"; return }
            out += "{\n"
            for (index, (key, value)) in members.enumerated() {
                out += innerPad
                JSON.quote(key, into: &out)
                out += ": "
                value.write(to: &out, indent: indent + 1)
                out += index == members.count - 1 ? "\n" : ",\n"
            }
            out += pad + "}"
        }
    }

    private static func quote(_ text: String, into out: inout String) {
        out += "\""
        escape(text.unicodeScalars, into: &out)
        out += "\""
    }

    /// The `raw_bytes` member for an object's byte fields that are not UTF-8; nil when
    /// every one is.
    package static func rawBytes(of members: [(String, JSON)]) -> JSON? {
        func hex(_ value: JSON) -> JSON? {
            let bytes: [UInt8]
            switch value {
            case .bytes(let value): bytes = value
            // Names the loader model carries as text (ByteText) are bytes too.
            case .string(let text) where ByteText.hasEscapes(text): bytes = ByteText.bytes(text)
            default: return nil
            }
            guard String(validating: bytes, as: UTF8.self) == nil else { return nil }
            return .string(bytes.map { ($0 < 0x10 ? "0" : "") + String($0, radix: 16) }.joined())
        }
        var raw: [(String, JSON)] = []
        for (key, value) in members {
            if let encoded = hex(value) {
                raw.append((key, encoded))
            } else if case .array(let items) = value, items.contains(where: { hex($0) != nil }) {
                raw.append((key, .array(items.map { hex($0) ?? .null })))
            }
        }
        return raw.isEmpty ? nil : .object(raw)
    }

    private static func escape(_ scalars: String.UnicodeScalarView, into out: inout String) {
        // Mirrors GoQuoting.quote (ELFKitCore/Reader/GoQuoting.swift) on purpose: Go's
        // quoting escapes more (\a, \b, \f, \v, \U) and keeps printable Unicode as it is.
        for scalar in scalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}
