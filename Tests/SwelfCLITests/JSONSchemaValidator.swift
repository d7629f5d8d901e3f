import Foundation

/// A checker for the subset of JSON Schema (2020-12) that docs/json-schema.json uses:
/// `type` (a name or a list of names), `enum`, `const`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `anyOf`, `if`/`then` and `$ref` to
/// `#/$defs/NAME`. One swelf rule on top: any object may carry `raw_bytes` (an object),
/// the hex of its names that are not UTF-8 (docs/json.md, "Bytes").
///
/// Values are as Foundation's `JSONSerialization` gives them: a Boolean is an `NSNumber`
/// whose `objCType` is `c`, and is neither an integer nor a number here.
struct JSONSchemaValidator {
    /// The whole schema file: `$ref`s are resolved in it.
    let root: [String: Any]

    init(root: [String: Any]) { self.root = root }

    init(contentsOf url: URL) throws {
        guard let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] else {
            throw Problem(path: "$", message: "the schema file is not an object")
        }
        self.root = root
    }

    struct Problem: Error, CustomStringConvertible, Equatable {
        let path: String
        let message: String
        var description: String { "\(path): \(message)" }
    }

    /// The problems of `value` against `schema` (the root when nil); none means valid.
    func problems(_ value: Any, schema: [String: Any]? = nil, path: String = "$") -> [Problem] {
        var found: [Problem] = []
        check(value, schema ?? root, path, &found)
        return found
    }

    /// The schema `#/$defs/name`.
    func definition(_ name: String) -> [String: Any]? { (root["$defs"] as? [String: Any])?[name] as? [String: Any] }

    static func typeName(_ value: Any) -> String {
        if value is NSNull { return "null" }
        if let number = value as? NSNumber {
            switch String(cString: number.objCType) {
            case "c": return "boolean"
            case "f", "d": return "number"
            default: return "integer"
            }
        }
        if value is String { return "string" }
        if value is [Any] { return "array" }
        if value is [String: Any] { return "object" }
        return "unknown"
    }

    /// Equality of JSON values as the schema means it (`true` is not `1`).
    static func same(_ a: Any, _ b: Any) -> Bool {
        let type = typeName(a)
        guard type == typeName(b) else { return false }
        switch type {
        case "null": return true
        case "boolean", "integer", "number": return (a as! NSNumber) == (b as! NSNumber)
        case "string": return (a as! String) == (b as! String)
        default: return false   // the schema compares scalars only
        }
    }

    private func check(_ value: Any, _ schema: [String: Any], _ path: String, _ found: inout [Problem]) {
        if let reference = schema["$ref"] as? String {
            let prefix = "#/$defs/"
            guard reference.hasPrefix(prefix), let target = definition(String(reference.dropFirst(prefix.count))) else {
                found.append(Problem(path: path, message: "unresolvable $ref \(reference)"))
                return
            }
            check(value, target, path, &found)
        }
        let type = Self.typeName(value)
        if let expected = schema["type"] {
            let names = (expected as? [String]) ?? [(expected as? String) ?? "?"]
            guard names.contains(type) else {
                found.append(Problem(path: path, message: "\(type) where \(names.joined(separator: " or ")) is expected"))
                return
            }
        }
        if let options = schema["enum"] as? [Any], !options.contains(where: { Self.same($0, value) }) {
            found.append(Problem(path: path, message: "\(value) is not one of the enumerated values"))
        }
        if let constant = schema["const"], !Self.same(constant, value) {
            found.append(Problem(path: path, message: "\(value) where \(constant) is expected"))
        }
        if let alternatives = schema["anyOf"] as? [[String: Any]],
           !alternatives.contains(where: { problems(value, schema: $0, path: path).isEmpty }) {
            let reasons = alternatives.map { problems(value, schema: $0, path: path).map(\.description).joined(separator: "; ") }
            found.append(Problem(path: path, message: "matches none of anyOf: " + reasons.joined(separator: " | ")))
        }
        if let condition = schema["if"] as? [String: Any], problems(value, schema: condition, path: path).isEmpty,
           let then = schema["then"] as? [String: Any] {
            check(value, then, path, &found)
        }
        if let object = value as? [String: Any] {
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                found.append(Problem(path: path, message: "required field \(key) is missing"))
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, member) in object.sorted(by: { $0.key < $1.key }) {
                if let property = properties[key] as? [String: Any] {
                    check(member, property, path + "." + key, &found)
                } else if key == "raw_bytes" {
                    if Self.typeName(member) != "object" { found.append(Problem(path: path + ".raw_bytes", message: "not an object")) }
                } else if schema["additionalProperties"] as? Bool == false {
                    found.append(Problem(path: path + "." + key, message: "field not in the schema"))
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in array.enumerated() { check(item, items, path + "[\(index)]", &found) }
        }
    }

    /// Every field name the schema defines (`properties` keys, at any depth).
    func fieldNames() -> Set<String> {
        var names: Set<String> = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let properties = object["properties"] as? [String: Any] { names.formUnion(properties.keys) }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(root)
        return names
    }

    /// Every enumerated string value the schema lists.
    func enumeratedStrings() -> Set<String> {
        var values: Set<String> = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                for (key, member) in object {
                    if key == "enum", let list = member as? [Any] { values.formUnion(list.compactMap { $0 as? String }) }
                    if key == "const", let text = member as? String { values.insert(text) }
                    walk(member)
                }
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(root)
        return values
    }
}
