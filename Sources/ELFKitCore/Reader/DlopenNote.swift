/// The FDO ELF dlopen metadata (systemd's "dlopen() Metadata for ELF Files"): notes of
/// owner `FDO` and type 0x407c0c0a, usually in a section `.note.dlopen`, whose descriptor
/// is a NUL-terminated UTF-8 JSON array of objects, one per library the file may load
/// with `dlopen`:
///
///     [{"soname":["libfoo.so.1","libfoo.so.0"],"feature":"foo","description":"…","priority":"recommended"}]
///
/// `soname` lists alternatives (the first one found wins); `priority` is `required`,
/// `recommended` (the default) or `suggested`. Other keys are allowed and ignored.
public struct DlopenDependency: Equatable, Sendable {
    /// How much the file needs the library.
    public enum Priority: String, Sendable {
        /// The file does not work without it: not found is an error.
        case required
        /// The default: a feature is lost without it.
        case recommended
        /// Optional extras.
        case suggested
    }

    /// The names to try, in order; the first one found is the one loaded.
    public var sonames: [String]
    /// The feature the library provides (`"feature"`), when the note names one.
    public var feature: String?
    /// The note's human-readable text for it (`"description"`).
    public var description: String?
    /// How much the file needs the library.
    public var priority: Priority

    /// A dependency as a note lists it.
    /// - Parameters:
    ///   - sonames: the names to try, in order.
    ///   - feature: the feature it provides.
    ///   - description: the human-readable text.
    ///   - priority: how much the file needs it (`recommended` when the note says nothing).
    public init(sonames: [String], feature: String? = nil, description: String? = nil, priority: Priority = .recommended) {
        self.sonames = sonames
        self.feature = feature
        self.description = description
        self.priority = priority
    }

    /// The note type of the dlopen metadata (`NT_FDO_DLOPEN_METADATA` in glibc's elf.h).
    public static let noteType: UInt32 = 0x407c_0c0a
    /// The note owner.
    public static let noteOwner = "FDO"

    /// The dependencies one note's descriptor lists.
    ///
    /// - Parameter note: a note of owner `FDO` and type ``noteType``.
    /// - Returns: the objects of its array, in order.
    /// - Throws: `ELFError(.invalid)` with the offset of the note's header when the
    ///   descriptor is not a JSON array of objects, an object has no `soname` array of
    ///   strings, or a priority is none of the three. Never traps: nesting is bounded.
    public static func parse(_ note: ELFNote) throws(ELFError) -> [DlopenDependency] {
        // The descriptor is NUL-terminated and may be padded with further NULs.
        var bytes = note.descriptor[...]
        while bytes.last == 0 { bytes.removeLast() }
        var reader = JSONTextReader(bytes: Array(bytes))
        let value: JSONTextReader.Value
        do {
            value = try reader.document()
        } catch {
            throw ELFError(.invalid, "dlopen note: \(error.message) at byte \(error.position) of its JSON", offset: note.fileOffset)
        }
        guard case .array(let items) = value else {
            throw ELFError(.invalid, "dlopen note: the JSON is not an array", offset: note.fileOffset)
        }
        var dependencies: [DlopenDependency] = []
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                throw ELFError(.invalid, "dlopen note: entry \(index) is not an object", offset: note.fileOffset)
            }
            var dependency = DlopenDependency(sonames: [])
            var hasSoname = false
            for (key, member) in members {
                switch (key, member) {
                case ("soname", .array(let names)):
                    dependency.sonames = []
                    for name in names {
                        guard case .string(let text) = name, !text.isEmpty else {
                            throw ELFError(.invalid, "dlopen note: entry \(index): soname holds something other than a name",
                                           offset: note.fileOffset)
                        }
                        dependency.sonames.append(text)
                    }
                    hasSoname = true
                case ("feature", .string(let text)): dependency.feature = text
                case ("description", .string(let text)): dependency.description = text
                case ("priority", .string(let text)):
                    guard let priority = Priority(rawValue: text) else {
                        throw ELFError(.invalid, "dlopen note: entry \(index): unknown priority \"\(text)\"", offset: note.fileOffset)
                    }
                    dependency.priority = priority
                case ("soname", _), ("priority", _):
                    throw ELFError(.invalid, "dlopen note: entry \(index): \(key) has the wrong type", offset: note.fileOffset)
                default: break  // the spec: parse anything, use what is known
                }
            }
            guard hasSoname, !dependency.sonames.isEmpty else {
                throw ELFError(.invalid, "dlopen note: entry \(index) has no soname", offset: note.fileOffset)
            }
            dependencies.append(dependency)
        }
        return dependencies
    }
}

extension ELFFile {
    /// The dlopen metadata of the file (``DlopenDependency``): every FDO note of type
    /// 0x407c0c0a in its PT_NOTE segments, or, when no segment holds one, in the SHT_NOTE
    /// sections no segment covers (the usual `.note.dlopen` is allocated, in a segment).
    ///
    /// - Returns: the dependencies of every such note, in file order; empty when none.
    /// - Throws: `ELFError` when the notes cannot be read or a dlopen note is malformed.
    public func dlopenDependencies() throws(ELFError) -> [DlopenDependency] {
        func isDlopen(_ note: ELFNote) -> Bool { note.name == DlopenDependency.noteOwner && note.type == DlopenDependency.noteType }
        var notes = try self.notes().filter(isDlopen)
        // A segment covered by two PT_NOTE headers yields its notes twice: keep each once.
        var seen = Set<UInt64>()
        notes = notes.filter { seen.insert($0.fileOffset).inserted }
        // A note section no PT_NOTE segment covers (not allocated): read it too, found by
        // its type as the spec asks, not its name, so an ordinary file (every note section
        // in a segment) costs no section-name lookup.
        if notes.isEmpty && !programHeaders.isEmpty {
            let segments = programHeaders.filter { $0.type == .note }
            for section in sectionHeaders where section.type == .note && section.size > 0
                && !segments.contains(where: { section.offset >= $0.offset && section.offset - $0.offset < $0.fileSize }) {
                let bytes = try source.bytes(at: section.offset, count: section.size, "SHT_NOTE section")
                notes += try ELFNote.parseAll(bytes, format: format, baseOffset: section.offset,
                                              alignment: section.alignment == 8 ? 8 : 4).filter(isDlopen)
            }
        }
        var dependencies: [DlopenDependency] = []
        for note in notes { dependencies += try DlopenDependency.parse(note) }
        return dependencies
    }
}

/// A small JSON reader for note descriptors: strings, numbers, literals, arrays and
/// objects, nesting bounded (a hostile note must not exhaust the stack), every index
/// checked before use. Numbers are kept as their text: nothing here needs their value.
struct JSONTextReader {
    indirect enum Value {
        case string(String)
        case number(String)
        case literal(String)
        case array([Value])
        case object([(String, Value)])
    }

    struct Failure: Error {
        let message: String
        let position: Int
    }

    static let maximumDepth = 32

    let bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// One value and nothing after it but white space.
    mutating func document() throws(Failure) -> Value {
        let value = try self.value(depth: 0)
        skipSpace()
        guard position == bytes.count else { throw Failure(message: "text after the value", position: position) }
        return value
    }

    mutating func skipSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    mutating func expect(_ byte: UInt8) throws(Failure) {
        skipSpace()
        guard position < bytes.count, bytes[position] == byte else {
            throw Failure(message: "expected '\(Character(Unicode.Scalar(byte)))'", position: position)
        }
        position += 1
    }

    mutating func value(depth: Int) throws(Failure) -> Value {
        guard depth < JSONTextReader.maximumDepth else { throw Failure(message: "nested too deeply", position: position) }
        skipSpace()
        guard position < bytes.count else { throw Failure(message: "unexpected end", position: position) }
        switch bytes[position] {
        case UInt8(ascii: "["):
            position += 1
            var items: [Value] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw Failure(message: "unterminated array", position: position) }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                try expect(UInt8(ascii: ","))
            }
        case UInt8(ascii: "{"):
            position += 1
            var members: [(String, Value)] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                    throw Failure(message: "expected a member name", position: position)
                }
                let key = try string()
                try expect(UInt8(ascii: ":"))
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard position < bytes.count else { throw Failure(message: "unterminated object", position: position) }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
                try expect(UInt8(ascii: ","))
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"):
            let start = position
            while position < bytes.count, "+-.eE0123456789".utf8.contains(bytes[position]) { position += 1 }
            return .number(String(decoding: bytes[start ..< position], as: UTF8.self))
        default:
            for literal in ["true", "false", "null"] where bytes[position...].starts(with: literal.utf8) {
                position += literal.utf8.count
                return .literal(literal)
            }
            throw Failure(message: "unexpected character", position: position)
        }
    }

    /// A string at `position` (its opening quote), escapes decoded; invalid UTF-8 is
    /// refused, as a note's text must be UTF-8.
    mutating func string() throws(Failure) -> String {
        let start = position
        position += 1
        var scalars = String.UnicodeScalarView()
        var pending: [UInt8] = []
        func flush() throws(Failure) {
            guard !pending.isEmpty else { return }
            guard let text = String(validating: pending, as: UTF8.self) else { throw Failure(message: "invalid UTF-8", position: start) }
            scalars.append(contentsOf: text.unicodeScalars)
            pending.removeAll()
        }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                try flush()
                return String(scalars)
            case UInt8(ascii: "\\"):
                try flush()
                guard position < bytes.count else { break }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(Unicode.Scalar(escape))
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "u"):
                    guard bytes.count - position >= 4,
                          let code = UInt32(String(decoding: bytes[position ..< position + 4], as: UTF8.self), radix: 16) else {
                        throw Failure(message: "bad \\u escape", position: position)
                    }
                    position += 4
                    // A surrogate half on its own stands for nothing printable: U+FFFD.
                    scalars.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                default: throw Failure(message: "bad escape", position: position - 1)
                }
            case 0 ..< 0x20:
                throw Failure(message: "control character in a string", position: position - 1)
            default:
                pending.append(byte)
            }
        }
        throw Failure(message: "unterminated string", position: start)
    }
}
