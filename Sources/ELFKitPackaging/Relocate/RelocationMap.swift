#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The prefixes `swelf relocate` moves: each OLD to its NEW, checked once, before any
/// file is read.
///
/// A prefix matches as a *path* prefix: OLD, then the end of the string, a `/` or a
/// separator (so `/opt/a` matches `/opt/a/lib` and `/opt/a:` but never `/opt/ab`). It
/// starts a string or follows a separator (`:` `=` `;` whitespace, a quote), so a path in
/// a search list (`/opt/a/lib:/opt/a/lib64`) or an assignment (`PREFIX=/opt/a`) is found
/// but a path that merely ends with OLD (`/x/opt/a`) is not.
package struct RelocationMap: Sendable {
    /// One prefix and its replacement, as bytes (paths need not be UTF-8).
    package struct Pair: Sendable, Equatable {
        package let old: [UInt8]
        package let new: [UInt8]
    }

    /// The pairs, longest OLD first (no OLD is a path prefix of another: `init` refuses it).
    package let pairs: [Pair]

    /// A bad map: one line saying what is wrong.
    package struct Invalid: Error, CustomStringConvertible {
        package let description: String
    }

    /// Checks `pairs` (OLD, NEW):
    /// - OLD must be absolute and not `/` (every absolute path would match), NEW not empty;
    /// - neither may hold a NUL byte (it would end the C string early: the file would
    ///   say a shorter path than the one asked for);
    /// - a trailing `/` is dropped from both (`/opt/x/` means `/opt/x`);
    /// - no OLD may be a path prefix of another, nor appear twice: which one applies
    ///   would depend on the order of the map.
    package init(_ given: [(old: [UInt8], new: [UInt8])]) throws(Invalid) {
        guard !given.isEmpty else { throw Invalid(description: "relocate: no OLD=NEW pair given") }
        var pairs: [Pair] = []
        for (old, new) in given {
            let oldText = String(decoding: old, as: UTF8.self), newText = String(decoding: new, as: UTF8.self)
            if old.contains(0) { throw Invalid(description: "relocate: OLD '\(oldText)' contains a NUL byte") }
            if new.contains(0) { throw Invalid(description: "relocate: NEW '\(newText)' contains a NUL byte: it would end the C string early") }
            let oldTrimmed = RelocationMap.trimmed(old), newTrimmed = RelocationMap.trimmed(new)
            if old.isEmpty { throw Invalid(description: "relocate: OLD is empty: it would match every string") }
            if oldTrimmed.isEmpty { throw Invalid(description: "relocate: OLD is '/': it would match every absolute path") }
            if oldTrimmed.first != UInt8(ascii: "/") { throw Invalid(description: "relocate: OLD '\(oldText)' is not an absolute path") }
            if new.isEmpty { throw Invalid(description: "relocate: NEW for '\(oldText)' is empty") }
            // NEW "/" trims to nothing: `/opt/x/lib` -> `/lib` is what moving to `/` means.
            pairs.append(Pair(old: oldTrimmed, new: newTrimmed))
        }
        for (i, a) in pairs.enumerated() {
            for b in pairs[(i + 1)...] {
                let (short, long) = a.old.count <= b.old.count ? (a, b) : (b, a)
                if long.old == short.old || (long.old.starts(with: short.old) && long.old[short.old.count] == UInt8(ascii: "/")) {
                    throw Invalid(description: "relocate: the map is ambiguous: '\(String(decoding: short.old, as: UTF8.self))' is a path prefix of '\(String(decoding: long.old, as: UTF8.self))'")
                }
            }
        }
        self.pairs = pairs.sorted { $0.old.count > $1.old.count }
    }

    static func trimmed(_ path: [UInt8]) -> [UInt8] {
        var path = path
        while path.last == UInt8(ascii: "/") { path.removeLast() }
        return path
    }

    /// Bytes that may come before OLD in a data or text string.
    static func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: ";"), UInt8(ascii: " "), UInt8(ascii: "\t"),
             UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ","): return true
        default: return false
        }
    }

    /// Bytes that may come after OLD: a path goes on (`/`) or ends.
    static func endsPrefix(_ byte: UInt8) -> Bool { byte == UInt8(ascii: "/") || isSeparator(byte) }

    /// The pair whose OLD matches at `position` of `string` (with its boundaries), if any.
    func match(in string: ArraySlice<UInt8>, at position: Int, anywhere: Bool) -> Pair? {
        if !anywhere && position != string.startIndex { return nil }
        if position != string.startIndex && !RelocationMap.isSeparator(string[position - 1]) { return nil }
        for pair in pairs where string[position...].starts(with: pair.old) {
            let after = position + pair.old.count
            if after == string.endIndex || RelocationMap.endsPrefix(string[after]) { return pair }
        }
        return nil
    }

    /// `string` with every matching OLD replaced: only at its start when `anywhere` is
    /// false (a run-path entry, an interpreter), else also after each separator (a data
    /// or text string). nil when nothing matched; else the new string and where (indices
    /// of `string`) each OLD was found.
    ///
    /// `padWithSlashes`: a NEW shorter than its OLD is followed by as many extra `/` as it
    /// is shorter (`/opt/x` for `/build/xyz`: `/opt/x////`), so that the string keeps its
    /// length: the kernel and every path function read repeated slashes as one, and a
    /// string whose length is compiled into the code (a C++ `std::string` literal, a Go
    /// string) stays whole (see `RelocationPlanner`).
    package func apply(to string: ArraySlice<UInt8>, anywhere: Bool, padWithSlashes: Bool = false) -> (result: [UInt8], offsets: [Int])? {
        var result: [UInt8] = []
        var position = string.startIndex
        var offsets: [Int] = []
        var copiedUpTo = string.startIndex
        while position < string.endIndex {
            if string[position] == UInt8(ascii: "/"), let pair = match(in: string, at: position, anywhere: anywhere) {
                result += string[copiedUpTo ..< position]
                result += pair.new
                if padWithSlashes && pair.new.count < pair.old.count {
                    result += [UInt8](repeating: UInt8(ascii: "/"), count: pair.old.count - pair.new.count)
                }
                offsets.append(position)
                position += pair.old.count
                copiedUpTo = position
                if !anywhere { break }
                continue
            }
            if !anywhere { break }
            position += 1
        }
        guard !offsets.isEmpty else { return nil }
        result += string[copiedUpTo...]
        return (result, offsets)
    }

    /// How many times any OLD occurs in `bytes`.
    package func count(in bytes: UnsafeRawBufferPointer) -> Int {
        pairs.reduce(0) { total, pair in
            var count = 0, from = 0
            while let hit = RelocationMap.find(pair.old, in: bytes, from: from) {
                count += 1
                from = hit + 1
            }
            return total + count
        }
    }

    /// Whether `bytes` hold any OLD at all: the fast test that lets a file be skipped.
    package func occurs(in bytes: UnsafeRawBufferPointer) -> Bool {
        pairs.contains { pair in RelocationMap.find(pair.old, in: bytes, from: 0) != nil }
    }

    /// The first offset of `needle` in `bytes` at or after `start`: `memchr` for its first
    /// byte (vectorised by glibc), then `memcmp` (Glibc's module does not import the GNU
    /// `memmem`). Paths start with `/`, which is rare enough in binaries for this to run
    /// at memory speed.
    package static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard start >= 0, start <= bytes.count, !needle.isEmpty, let base = bytes.baseAddress else { return nil }
        return needle.withUnsafeBytes { n -> Int? in
            let first = Int32(needle[0])
            var position = start
            while bytes.count - position >= needle.count {
                // Only where the whole needle still fits.
                let span = bytes.count - position - needle.count + 1
                guard let hit = memchr(base + position, first, span) else { return nil }
                let offset = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + offset, n.baseAddress!, needle.count) == 0 { return offset }
                position = offset + 1
            }
            return nil
        }
    }
}
