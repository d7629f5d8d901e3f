/// Identical warnings about many files, said once: `bundle` of 300 programs that all
/// use the name service printed 300 lines differing only in the file's name.
///
/// A warning is about a file when it starts with that file's name followed by a space
/// or `": "` (the reports' two shapes: `bin/a uses …`, `bin/a: no ELF …`). Warnings
/// whose remainders are equal form a group; a group of more files than `examples` is
/// one line, `N files (a, b, c and M more): remainder`, at the place of its first
/// warning. Every other line is kept as it is, in its place. A remainder that ends in a
/// list, ` (imports a, b)`, is grouped without it, and the line gives the union of the
/// lists (one program imports `getpwnam`, the next `getpwuid`: both use the name
/// service). Pure text: the JSON reports keep every warning.
package enum RepeatedWarnings {
    /// How many files an aggregated line names.
    package static let examples = 3

    /// `lines` with each group of more than `examples` identical warnings about
    /// different `subjects` replaced by one line. The longest subject that fits wins
    /// (`bin/a` and `bin/a b` are different files).
    package static func aggregate(_ lines: [String], subjects: [String]) -> [String] {
        RepeatedWarnings.lines(lines, subjects: subjects).map { $0.line }
    }

    /// `aggregate`, with the index in `lines` of each line's first warning (a caller that
    /// keeps more per warning, such as a severity, finds it there).
    package static func lines(_ lines: [String], subjects: [String]) -> [(first: Int, line: String)] {
        // (subject, remainder without its separator) per line, nil when no subject leads it.
        let index = SubjectIndex(subjects)
        let split = lines.map { index.split($0) }
        var members: [String: [String]] = [:]
        var items: [String: Set<String>] = [:]
        for case let (subject, remainder)? in split {
            let (head, list) = RepeatedWarnings.trailingList(remainder)
            items[head, default: []].formUnion(list)
            if !(members[head]?.contains(subject) ?? false) { members[head, default: []].append(subject) }
        }
        var result: [(first: Int, line: String)] = []
        var said: Set<String> = []
        for (index, (line, parts)) in zip(lines, split).enumerated() {
            guard let (_, remainder) = parts else {
                result.append((index, line))
                continue
            }
            let head = RepeatedWarnings.trailingList(remainder).head
            guard let files = members[head], files.count > examples else {
                result.append((index, line))
                continue
            }
            guard said.insert(head).inserted else { continue }
            let shown = files.prefix(examples).joined(separator: ", ")
            let list = items[head].map { $0.isEmpty ? "" : " (\(listLabel) \($0.sorted().joined(separator: ", ")))" } ?? ""
            result.append((index, "\(files.count) files (\(shown) and \(files.count - examples) more): \(head)\(list)"))
        }
        return result
    }

    /// The subjects, looked up by the text before a separator. A line is split at its
    /// separators (` ` or `: `) from the last to the first, so the longest subject that
    /// leads it wins, with one hash lookup per separator at a subject's length: a patch of
    /// 10^5 files that all warn took minutes when every line was tried against every file
    /// name (8,000 files: 1.4 s of 2.9 s).
    struct SubjectIndex {
        let subjects: Set<Substring>
        let lengths: Set<Int>

        init(_ subjects: [String]) {
            let known = subjects.filter { !$0.isEmpty }
            self.subjects = Set(known.map { Substring($0) })
            self.lengths = Set(known.map(\.utf8.count))
        }

        func split(_ line: String) -> (subject: String, remainder: String)? {
            let bytes = line.utf8
            var position = bytes.endIndex
            while position > bytes.startIndex {
                position = bytes.index(before: position)
                guard bytes[position] == UInt8(ascii: " ") else { continue }
                // "subject remainder", or, shorter, "subject: remainder" when a colon comes
                // before the space.
                var ends = [(end: position, remainder: bytes.index(after: position))]
                if position > bytes.startIndex, bytes[bytes.index(before: position)] == UInt8(ascii: ":") {
                    ends.append((bytes.index(before: position), bytes.index(after: position)))
                }
                for (end, remainder) in ends where lengths.contains(bytes.distance(from: bytes.startIndex, to: end)) {
                    let subject = line[line.startIndex ..< end]
                    if subjects.contains(subject) { return (String(subject), String(line[remainder...])) }
                }
            }
            return nil
        }
    }

    /// The word that opens a trailing list.
    static let listLabel = "imports"

    /// `text` without a trailing ` (imports a, b)`, and the list's items.
    static func trailingList(_ text: String) -> (head: String, items: [String]) {
        let opening = " (\(listLabel) "
        guard text.hasSuffix(")"), let start = text.ranges(of: opening).last else { return (text, []) }
        let inside = text[start.upperBound ..< text.index(before: text.endIndex)]
        guard !inside.contains("("), !inside.contains(")") else { return (text, []) }
        return (String(text[..<start.lowerBound]), inside.split(separator: ",").map { String($0.trimmingPrefix(" ")) })
    }
}
