#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// Judges the data-string part of a relocation (`swelf relocate`) from the original bytes,
/// the edited bytes and the map alone: every byte that differs lies in a NUL-terminated
/// string of the original, in an allocated, non-executable, uncompressed PROGBITS section;
/// that string held an old prefix where a path may start; and it now reads as the string
/// with every prefix mapped, followed by NULs up to the same end. Everything else is equal.
///
/// It shares no code with the planner (`RelocationPlanner`, `RelocationMap`): the matching
/// rule is written again here, byte by byte, so a mistake in one is a disagreement the
/// other reports rather than one both make. The rule (from issue 22 and the README):
/// an old prefix counts at the start of the string or after one of `: = ; , ' "` or
/// whitespace, and when it is followed by the end of the string, `/` or one of those.
package struct RelocationDataCheck {
    /// The original file.
    let original: [UInt8]
    /// The file with its data strings rewritten (same size).
    let edited: [UInt8]
    /// (old, new) prefixes, as the request gives them.
    let pairs: [(old: [UInt8], new: [UInt8])]

    package init(original: [UInt8], edited: [UInt8], pairs: [(old: [UInt8], new: [UInt8])]) {
        self.original = original
        self.edited = edited
        self.pairs = pairs
    }

    /// One line per problem; empty when the edit is exactly the mapped strings.
    package func problems() -> [String] {
        guard original.count == edited.count else {
            return ["relocation: the edited image has \(edited.count) bytes, the original \(original.count): data strings never change the size"]
        }
        let sections: [SectionHeader]
        do { sections = try ELFFile(source: MemoryByteSource(original)).sectionHeaders } catch {
            return ["relocation: the original cannot be read as ELF: \(error)"]
        }
        var found: [String] = []
        original.withUnsafeBytes { before in
            edited.withUnsafeBytes { after in
                var offset = 0
                let block = 4096
                while offset < original.count {
                    // Equal blocks are skipped with memcmp; a differing one is walked.
                    let count = min(block, original.count - offset)
                    if memcmp(before.baseAddress! + offset, after.baseAddress! + offset, count) == 0 {
                        offset += count
                        continue
                    }
                    var index = offset
                    while index < offset + count && before[index] == after[index] { index += 1 }
                    if let problem = judgeString(containing: index, sections) {
                        found.append(problem)
                        return
                    }
                    // Go on after the string's NUL (it is equal, or the next round says so).
                    var end = index
                    while before[end] != 0 { end += 1 }
                    offset = end
                }
            }
        }
        return found
    }

    /// The string of the original holding the changed byte at `index`: nil when it was
    /// rewritten exactly as the map says, else why not.
    func judgeString(containing index: Int, _ sections: [SectionHeader]) -> String? {
        let at = "0x" + String(index, radix: 16)
        guard original[index] != 0 else { return "relocation: the byte at \(at) was a string's terminating NUL and changed" }
        // The section holding the byte: a string never starts before its section (the
        // bytes before may be another section's, code without a NUL) nor ends after it.
        let size = UInt64(original.count)
        guard let section = sections.first(where: { section in
            section.type == .progbits && section.flags.contains(.alloc) && !section.flags.contains(.execInstr)
                && section.flags.rawValue & 0x800 == 0 && section.offset <= size && section.size <= size - section.offset
                && UInt64(index) >= section.offset && UInt64(index) < section.offset + section.size
        }) else {
            return "relocation: the byte at \(at) changed, outside every allocated, non-executable, uncompressed PROGBITS section"
        }
        let low = Int(section.offset), high = Int(section.offset + section.size)
        var start = index
        while start > low && original[start - 1] != 0 { start -= 1 }
        var end = index
        while end < high && original[end] != 0 { end += 1 }
        guard end < high else { return "relocation: the byte at \(at) changed, and no NUL ends the string holding it inside its section" }
        let string = Array(original[start ..< end])
        let mapped = rewritten(string, slashes: false)
        guard mapped != string else {
            return "relocation: the string at 0x\(String(start, radix: 16)) changed, but it held no old prefix where a path starts"
        }
        guard mapped.count <= string.count else {
            return "relocation: the string at 0x\(String(start, radix: 16)) would need \(mapped.count) bytes, more than its \(string.count)"
        }
        // Two forms are allowed: the mapped string then NULs to the old end, or (a string
        // whose length the code knows) each new prefix followed by extra '/' to keep the length.
        let nulPadded = mapped + [UInt8](repeating: 0, count: string.count - mapped.count)
        let slashPadded = rewritten(string, slashes: true)
        let now = Array(edited[start ..< end])
        if now == nulPadded || (slashPadded.count == string.count && now == slashPadded) { return nil }
        let position = (0 ..< nulPadded.count).first { now[$0] != nulPadded[$0] } ?? 0
        return "relocation: the byte at 0x\(String(start + position, radix: 16)) is 0x\(String(now[position], radix: 16)), where the mapped string followed by NULs has 0x\(String(nulPadded[position], radix: 16)) (and the string is not the slash-padded form either)"
    }

    static func separates(_ byte: UInt8) -> Bool {
        // : = ; , " ' space tab newline carriage-return
        [0x3a, 0x3d, 0x3b, 0x2c, 0x22, 0x27, 0x20, 0x09, 0x0a, 0x0d].contains(byte)
    }

    /// `string` with each old prefix replaced where a path starts; with `slashes`, each new
    /// prefix shorter than its old one is followed by that many extra '/'.
    func rewritten(_ string: [UInt8], slashes: Bool) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        candidates: while i < string.count {
            if i == 0 || RelocationDataCheck.separates(string[i - 1]) {
                // The longest old prefix that matches here wins.
                for pair in pairs.sorted(by: { $0.old.count > $1.old.count }) where i + pair.old.count <= string.count {
                    guard Array(string[i ..< i + pair.old.count]) == pair.old else { continue }
                    let next = i + pair.old.count
                    guard next == string.count || string[next] == 0x2f || RelocationDataCheck.separates(string[next]) else { continue }
                    out.append(contentsOf: pair.new)
                    if slashes && pair.new.count < pair.old.count {
                        out.append(contentsOf: [UInt8](repeating: 0x2f, count: pair.old.count - pair.new.count))
                    }
                    i = next
                    continue candidates
                }
            }
            out.append(string[i])
            i += 1
        }
        return out
    }
}
