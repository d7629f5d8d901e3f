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
///
/// In a Go or Rust program (`PackedStrings`: Go build information, or rustc's line in
/// `.comment`) strings are packed with no NUL between
/// them, so the rule there is per occurrence: every byte that differs lies in an old
/// prefix, in such a section, followed by `/`, a separator, a NUL or the section's end,
/// and that prefix now reads as its new one followed by as many `/` as it is shorter
/// (the same length: a Go string's length is in the code). NULs are never accepted there.
package struct RelocationDataCheck {
    /// The original file.
    let original: any ByteSource
    /// The file with its data strings rewritten (same size).
    let edited: any ByteSource
    /// (old, new) prefixes, as the request gives them.
    let pairs: [(old: [UInt8], new: [UInt8])]

    /// The check of `edited` against `original`, both read a block at a time (memory
    /// stays bounded whatever the file's size).
    package init(original: any ByteSource, edited: any ByteSource, pairs: [(old: [UInt8], new: [UInt8])]) {
        self.original = original
        self.edited = edited
        self.pairs = pairs
    }

    /// The check of two images in memory.
    package init(original: [UInt8], edited: [UInt8], pairs: [(old: [UInt8], new: [UInt8])]) {
        self.init(original: MemoryByteSource(original), edited: MemoryByteSource(edited), pairs: pairs)
    }

    /// The block compared at once.
    static let block = 64 << 10

    /// One line per problem; empty when the edit is exactly the mapped strings.
    package func problems() -> [String] {
        guard original.size == edited.size else {
            return ["relocation: the edited image has \(edited.size) bytes, the original \(original.size): data strings never change the size"]
        }
        let sections: [SectionHeader]
        let packed: Bool
        do {
            let file = try ELFFile(source: original)
            sections = file.sectionHeaders
            packed = PackedStrings.language(of: file) != nil
        } catch {
            return ["relocation: the original cannot be read as ELF: \(error)"]
        }
        let size = original.size
        var offset: UInt64 = 0
        do {
            while offset < size {
                let count = Int(min(UInt64(RelocationDataCheck.block), size - offset))
                let before = try original.readBytes(at: offset, count: count)
                let after = try edited.readBytes(at: offset, count: count)
                // Equal blocks (nearly all) are compared by memcmp at once: Array's == goes a
                // byte at a time (15 % of the CPU of relocating the Swift toolchain, perf).
                let same = before.withUnsafeBytes { b in after.withUnsafeBytes { a in memcmp(b.baseAddress!, a.baseAddress!, count) == 0 } }
                guard !same, let first = (0 ..< count).first(where: { before[$0] != after[$0] }) else {
                    offset += UInt64(count)
                    continue
                }
                let index = offset + UInt64(first)
                switch try packed ? judgeOccurrence(containing: index, sections) : judgeString(containing: index, sections) {
                case .failure(let problem): return [problem.message]
                // Go on at the string's NUL (equal, or the next round says so).
                case .success(let end): offset = end
                }
            }
        } catch {
            return ["relocation: the images cannot be read: \(error)"]
        }
        return []
    }

    struct Problem: Error { let message: String }

    /// The string of the original holding the changed byte at `index`: where it ends (its
    /// NUL) when it was rewritten exactly as the map says, else why not.
    func judgeString(containing index: UInt64, _ sections: [SectionHeader]) throws(ELFError) -> Result<UInt64, Problem> {
        let at = "0x" + String(index, radix: 16)
        func fail(_ message: String) -> Result<UInt64, Problem> { .failure(Problem(message: "relocation: " + message)) }
        guard try original.readBytes(at: index, count: 1)[0] != 0 else { return fail("the byte at \(at) was a string's terminating NUL and changed") }
        // The section holding the byte: a string never starts before its section (the
        // bytes before may be another section's, code without a NUL) nor ends after it.
        guard let section = eligibleSection(holding: index, sections) else {
            return fail("the byte at \(at) changed, outside every allocated, non-executable, uncompressed PROGBITS section")
        }
        let low = section.offset, high = section.offset + section.size
        // Back to the byte after a NUL (or the section's start), a chunk at a time.
        var start = index
        scanBack: while start > low {
            let from = max(low, start >= 4096 ? start - 4096 : 0)
            let chunk = try original.readBytes(at: from, count: Int(start - from))
            if let nul = chunk.lastIndex(of: 0) {
                start = from + UInt64(nul) + 1
                break scanBack
            }
            start = from
        }
        var end = index
        scanForward: while end < high {
            let chunk = try original.readBytes(at: end, count: Int(min(4096, high - end)))
            if let nul = chunk.firstIndex(of: 0) {
                end += UInt64(nul)
                break scanForward
            }
            end += UInt64(chunk.count)
        }
        guard end < high else { return fail("the byte at \(at) changed, and no NUL ends the string holding it inside its section") }
        let string = try original.readBytes(at: start, count: Int(end - start))
        let mapped = rewritten(string, slashes: false)
        let where_ = "0x" + String(start, radix: 16)
        guard mapped != string else { return fail("the string at \(where_) changed, but it held no old prefix where a path starts") }
        guard mapped.count <= string.count else { return fail("the string at \(where_) would need \(mapped.count) bytes, more than its \(string.count)") }
        // Two forms are allowed: the mapped string then NULs to the old end, or (a string
        // whose length the code knows) each new prefix followed by extra '/' to keep the length.
        let nulPadded = mapped + [UInt8](repeating: 0, count: string.count - mapped.count)
        let slashPadded = rewritten(string, slashes: true)
        let now = try edited.readBytes(at: start, count: string.count)
        if now == nulPadded || (slashPadded.count == string.count && now == slashPadded) { return .success(end) }
        let position = (0 ..< nulPadded.count).first { now[$0] != nulPadded[$0] } ?? 0
        return fail("the byte at 0x\(String(start + UInt64(position), radix: 16)) is 0x\(String(now[position], radix: 16)), where the mapped string followed by NULs has 0x\(String(nulPadded[position], radix: 16)) (and the string is not the slash-padded form either)")
    }

    /// The section (allocated, non-executable, uncompressed PROGBITS) holding `index`.
    func eligibleSection(holding index: UInt64, _ sections: [SectionHeader]) -> SectionHeader? {
        let size = original.size
        return sections.first { section in
            section.type == .progbits && section.flags.contains(.alloc) && !section.flags.contains(.execInstr)
                && section.flags.rawValue & 0x800 == 0 && section.offset <= size && section.size <= size - section.offset
                && index >= section.offset && index - section.offset < section.size
        }
    }

    /// A Go or Rust program: the old prefix of the original holding the changed byte at `index`
    /// (followed by a path end), when it now reads as its new prefix slash-padded to the
    /// same length: where it ends; else why not.
    func judgeOccurrence(containing index: UInt64, _ sections: [SectionHeader]) throws(ELFError) -> Result<UInt64, Problem> {
        let at = "0x" + String(index, radix: 16)
        guard let section = eligibleSection(holding: index, sections) else {
            return .failure(Problem(message: "relocation: the byte at \(at) changed, outside every allocated, non-executable, uncompressed PROGBITS section"))
        }
        let low = section.offset, high = section.offset + section.size
        for pair in pairs where !pair.old.isEmpty && pair.new.count <= pair.old.count {
            let length = UInt64(pair.old.count)
            // Every start from which this prefix would cover `index`, inside the section.
            var start = index >= low + length - 1 ? index - (length - 1) : low
            while start <= index && start + length <= high {
                defer { start += 1 }
                guard try original.readBytes(at: start, count: pair.old.count) == pair.old else { continue }
                let next = start + length
                if next < high {
                    let byte = try original.readBytes(at: next, count: 1)[0]
                    guard byte == 0 || byte == 0x2f || RelocationDataCheck.separates(byte) else { continue }
                }
                let expected = pair.new + [UInt8](repeating: 0x2f, count: pair.old.count - pair.new.count)
                if try edited.readBytes(at: start, count: pair.old.count) == expected { return .success(next) }
            }
        }
        return .failure(Problem(message: "relocation: the byte at \(at) of a Go or Rust program changed, and it is not in an old prefix (followed by '/', a separator, a NUL or the section's end) now reading as its new prefix slash-padded to the same length"))
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
