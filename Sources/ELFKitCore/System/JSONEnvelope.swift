/// The one shape of every `--json` output (docs/json.md, docs/json-schema.json): an
/// object that names the schema version and the command, says whether the command
/// succeeded, and holds lists of files as arrays whatever their number.
///
/// `schema` is an integer. It is raised when a field is removed or renamed, changes
/// type or meaning, or an enumerated value goes; adding a field or an enumerated value
/// keeps it.
package enum JSONEnvelope {
    /// The version of the JSON shape described in docs/json.md.
    package static let schemaVersion: Int64 = 1

    /// `{"schema": 1, "command": COMMAND, "ok": OK, MEMBERS…}`.
    package static func document(command: String, ok: Bool, _ members: [(String, JSON)]) -> JSON {
        .object([("schema", .int(schemaVersion)), ("command", .string(command)), ("ok", .bool(ok))] + members)
    }

    /// The document of a command that reports on each file given (`show`, `verify`,
    /// `doctor`, `ldd`): `files` is an array of entries, one per file, in the order given.
    package static func files(command: String, ok: Bool, _ entries: [JSON]) -> JSON {
        document(command: command, ok: ok, [("files", .array(entries))])
    }

    /// One file's entry: `file`, `ok`, `error` (null when ok), then the command's own
    /// fields (none for a file that could not be read).
    package static func entry(file: JSON, ok: Bool, error: String?, _ members: [(String, JSON)] = []) -> JSON {
        .object([("file", file), ("ok", .bool(ok)), ("error", .optional(error))] + members)
    }

    /// The enumerated value of `linking` shared by every command: `dynamic`,
    /// `dynamic_no_interpreter`, `shared_library`, `static`, `static_pie` or `none`,
    /// from the words the text reports use ("shared library", "static-pie",
    /// "dynamic (shared library)", …). nil stays null.
    package static func linking(_ words: String?) -> JSON {
        guard let words else { return .null }
        switch words {
        case "dynamic": return .string("dynamic")
        case "dynamic (no interpreter)": return .string("dynamic_no_interpreter")
        case "shared library", "dynamic (shared library)": return .string("shared_library")
        case "static": return .string("static")
        case "static-pie": return .string("static_pie")
        case "none": return .string("none")
        default:
            // A new kind of linking must be added here and to docs/json-schema.json; the
            // schema test rejects a value it does not list.
            return .string(words)
        }
    }
}
