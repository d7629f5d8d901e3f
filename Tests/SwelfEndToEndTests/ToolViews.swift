import Foundation
import XCTest

/// What the independent tools (eu-elflint, readelf) say about a file, in forms that can be compared
/// between an input and its patched copy. The issue-7 regression tests use these to check that an
/// edit changed only what it was asked to change.

// MARK: - eu-elflint

enum ELFLint {
    static let path = "/usr/bin/eu-elflint"

    /// `eu-elflint --gnu-ld --quiet FILE`, one complaint per line, the file's path removed.
    static func complaints(_ url: URL) throws -> [String] {
        try requireTool(path, hint: "install elfutils (scripts/install-test-deps)")
        let r = try runTool(path, ["--gnu-ld", "--quiet", url.path])
        if r.timedOut { throw ToolFailure(message: "eu-elflint timed out on \(url.path)") }
        // elflint exits 1 when it complains; stdout holds the complaints. Anything on stderr
        // (it could not read the file at all) is a complaint too.
        return (r.stdout + r.stderr).split(separator: "\n").map {
            String($0).replacingOccurrences(of: url.path, with: "FILE")
        }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    /// The complaint with every number that stands alone replaced by `#`, and `[ 9]`-style section
    /// indices written `[#]`.
    ///
    /// What is replaced: a maximal run of hex digits after `0x`, or of decimal digits, that has no
    /// letter, digit or `_` directly before or after it (so `R_X86_64_RELATIVE`, `GLIBC_2` keep
    /// their digits; in `GLIBC_2.2.5` the `.2` and `.5` parts become `.#`). Those numbers are
    /// section indices, entry and symbol indices, offsets, addresses and sizes: exactly what changes
    /// when an edit moves a table or inserts a dynamic entry, without the problem being a new one.
    ///
    /// Why this cannot hide a new kind of complaint: every other character survives — the wording
    /// (which names the kind), the section name in quotes, the symbol name in parentheses, tag and
    /// relocation names. Two complaints compare equal only if they differ in nothing but numbers,
    /// i.e. they are the same kind about an object with the same name. And `newComplaints` compares
    /// counts, not sets, so one more instance of a kind the input already had is reported too.
    /// The one thing it can miss: in one edit, an instance vanishing while another of exactly the
    /// same normalised text appears (e.g. two unnamed section symbols swapping which one is out of
    /// bounds) — the count per normalised text then stays the same.
    static func normalise(_ complaint: String) -> String {
        var s = complaint
        s = numberPattern.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "#")
        s = bracketPattern.stringByReplacingMatches(in: s, range: NSRange(s.startIndex..., in: s), withTemplate: "[#]")
        return s
    }

    // (?<![A-Za-z0-9_]) … (?![A-Za-z0-9_]): the number stands alone (not part of an identifier).
    private static let numberPattern = try! NSRegularExpression(
        pattern: "(?<![A-Za-z0-9_])(?:0[xX][0-9A-Fa-f]+|[0-9]+)(?![A-Za-z0-9_])")
    private static let bracketPattern = try! NSRegularExpression(pattern: "\\[\\s*#\\]")

    /// The normalised complaints of `output` that `input` did not have, counted as a multiset:
    /// if the input has a normalised complaint k times and the output n > k times, it appears
    /// n − k times (each with one of the output's raw lines for it, for the message).
    static func newComplaints(input: [String], output: [String]) -> [(normalised: String, example: String)] {
        var budget: [String: Int] = [:]
        for c in input { budget[normalise(c), default: 0] += 1 }
        var fresh: [(String, String)] = []
        for c in output {
            let n = normalise(c)
            if let left = budget[n], left > 0 { budget[n] = left - 1 } else { fresh.append((n, c)) }
        }
        return fresh
    }

    /// Runs elflint on both files; returns the complaints that are new in `output`.
    static func newComplaints(input: URL, output: URL) throws -> [(normalised: String, example: String)] {
        newComplaints(input: try complaints(input), output: try complaints(output))
    }
}

struct ToolFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// nil if eu-elflint --gnu-ld has no complaint about `output` that it did not have about `input`;
/// otherwise the failure message listing the new complaints.
func lintRegressionMessage(input: URL, output: URL, _ context: String) throws -> String? {
    let fresh = try ELFLint.newComplaints(input: input, output: output)
    guard !fresh.isEmpty else { return nil }
    return "[\(context)] eu-elflint --gnu-ld has \(fresh.count) new complaint(s) on \(output.lastPathComponent):\n"
        + fresh.map { "  \($0.example)" }.joined(separator: "\n")
}

/// Fails the test if eu-elflint --gnu-ld complains about `output` in a way it did not about `input`.
func assertNoNewLintComplaints(input: URL, output: URL, _ context: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
    if let message = try lintRegressionMessage(input: input, output: output, context) {
        XCTFail(message, file: file, line: line)
    }
}

// MARK: - readelf views

enum ReadelfView {
    /// Dynamic tags whose value is the address of a table an edit may move, or the size of
    /// `.dynstr`. `dynamic(_:).comparable` writes their value as `<moved>`.
    static let movableAddressTags: Set<String> = [
        "STRTAB", "STRSZ", "SYMTAB", "HASH", "GNU_HASH", "VERSYM", "VERNEED", "VERDEF",
    ]

    struct DynamicEntry: Equatable, CustomStringConvertible {
        let tag: String     // the name readelf prints in parentheses, e.g. "NEEDED", "MIPS_RLD_MAP_REL"
        let value: String   // "[libc.so.6]" → "libc.so.6"; otherwise readelf's text ("0x1000", "24 (bytes)")
        var description: String { "\(tag)=\(value)" }
    }

    /// `readelf -dW`: every entry up to DT_NULL, in file order.
    static func dynamic(_ url: URL) throws -> [DynamicEntry] {
        let r = try readelf(["-d", url.path])
        guard r.status == 0 else { throw ToolFailure(message: "readelf -dW failed: \(r.summary)") }
        return r.stdout.split(separator: "\n").compactMap { line -> DynamicEntry? in
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("0x"), let open = t.firstIndex(of: "("), let close = t.firstIndex(of: ")") else { return nil }
            let tag = String(t[t.index(after: open)..<close])
            var value = t[t.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if let lb = value.firstIndex(of: "["), value.hasSuffix("]") {
                value = String(value[value.index(after: lb)..<value.index(before: value.endIndex)])
            }
            return DynamicEntry(tag: tag, value: value)
        }
    }

    /// The dynamic entries with the values of `movable` tags replaced by `<moved>`: what must read
    /// the same after an edit that may move tables (compare strings, not offsets).
    static func comparableDynamic(_ url: URL, movable: Set<String> = movableAddressTags) throws -> [String] {
        try dynamic(url).map { movable.contains($0.tag) ? "\($0.tag)=<moved>" : $0.description }
    }

    struct Versions: Equatable {
        /// `.gnu.version`: per dynamic symbol index, "2 (GLIBC_2.34)" / "1 (*global*)" / "3h (VER_1)".
        var symbols: [String] = []
        /// `.gnu.version_r`: "File: libc.so.6 Cnt: 2" then "Name: GLIBC_2.34 Flags: none Version: 2" lines.
        var needs: [String] = []
        /// `.gnu.version_d`: "Rev: 1 Flags: BASE Index: 1 Cnt: 1 Name: libver.so.1" and "Parent 1: VER_1" lines.
        var definitions: [String] = []
    }

    /// `readelf -VW` without the Addr/Offset/Link lines and the entry offsets (which move with the tables).
    static func versions(_ url: URL) throws -> Versions {
        let r = try readelf(["-V", url.path])
        guard r.status == 0 else { throw ToolFailure(message: "readelf -VW failed: \(r.summary)") }
        var v = Versions()
        enum Part { case none, symbols, needs, definitions }
        var part = Part.none
        let entry = try! NSRegularExpression(pattern: "([0-9]+h?)\\s*\\(([^)]*)\\)")
        for raw in r.stdout.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("Version symbols section") { part = .symbols; continue }
            if line.hasPrefix("Version needs section") { part = .needs; continue }
            if line.hasPrefix("Version definition section") { part = .definitions; continue }
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("Addr:") || t.isEmpty { continue }
            // Drop the leading "000:" / "0x0010:" entry offset.
            let body = t.range(of: ": ").map { String(t[$0.upperBound...]) } ?? t
            let squeezed = body.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            switch part {
            case .none: continue
            case .symbols:
                let ns = NSRange(body.startIndex..., in: body)
                for m in entry.matches(in: body, range: ns) {
                    v.symbols.append("\((body as NSString).substring(with: m.range(at: 1))) (\((body as NSString).substring(with: m.range(at: 2))))")
                }
            case .needs: v.needs.append(squeezed)
            case .definitions: v.definitions.append(squeezed)
            }
        }
        return v
    }

    struct Symbol: Equatable, Hashable, CustomStringConvertible {
        let name: String    // with @VERSION / @@VERSION for dynamic symbols
        let type: String
        let bind: String
        let size: String
        /// Dynamic symbols: empty. `.symtab`: the value relative to the symbol's section, as
        /// "SECTION+0xOFF", or "ABS 0x…"/"UND"/"COM 0x…" for special indices.
        let place: String
        var description: String { "\(name) \(type) \(bind) size=\(size)" + (place.isEmpty ? "" : " @\(place)") }
    }

    /// Dynamic symbols from `readelf -sW --dyn-syms`: name (with version), type, bind, size.
    static func dynamicSymbols(_ url: URL) throws -> [Symbol] {
        try symbolRows(url, flag: "--dyn-syms", table: ".dynsym").map {
            Symbol(name: $0.name, type: $0.type, bind: $0.bind, size: $0.size, place: "")
        }
    }

    /// `.symtab` from `readelf -sW --syms` with values relative to their sections (named, from
    /// `readelf -SW`), so a table that moved together with its symbols reads the same. Empty
    /// without section headers or without `.symtab`. Section symbols are named "[section NAME]"
    /// (readelf prints the section's name for them, or nothing, depending on its version).
    static func symtab(_ url: URL) throws -> [Symbol] {
        let sections = try sectionAddresses(url)
        return try symbolRows(url, flag: "--syms", table: ".symtab").map { row in
            let place: String
            switch row.ndx {
            case "UND": place = "UND"
            case "ABS": place = "ABS 0x\(row.value)"
            case "COM": place = "COM 0x\(row.value)"
            default:
                if let i = Int(row.ndx), i < sections.count, let value = UInt64(row.value, radix: 16) {
                    let (name, addr) = sections[i]
                    place = value >= addr ? "\(name)+0x\(String(value - addr, radix: 16))"
                                          : "\(name)-0x\(String(addr - value, radix: 16))"
                } else {
                    place = "ndx \(row.ndx) 0x\(row.value)"
                }
            }
            let name = row.type == "SECTION" && Int(row.ndx) != nil
                ? "[section \(Int(row.ndx).flatMap { $0 < sections.count ? sections[$0].0 : nil } ?? row.ndx)]"
                : row.name
            return Symbol(name: name, type: row.type, bind: row.bind, size: row.size, place: place)
        }
    }

    /// (name, sh_addr) per section index from `readelf -SW`.
    static func sectionAddresses(_ url: URL) throws -> [(String, UInt64)] {
        let r = try readelf(["-S", url.path])
        guard r.status == 0 else { throw ToolFailure(message: "readelf -SW failed: \(r.summary)") }
        var out: [(String, UInt64)] = []
        // "  [ 1] .interp           PROGBITS        0000000000000318 000318 ..." ; index 0 has no name.
        for raw in r.stdout.split(separator: "\n") {
            let line = String(raw)
            guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"),
                  let index = Int(line[line.index(after: open)..<close].trimmingCharacters(in: .whitespaces)) else { continue }
            let fields = line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard index == out.count else { continue }
            if index == 0 { out.append(("", 0)); continue }
            guard fields.count >= 3, let addr = UInt64(fields[2], radix: 16) else { continue }
            out.append((fields[0], addr))
        }
        return out
    }

    private struct Row { let value: String; let size: String; let type: String; let bind: String; let ndx: String; let name: String }

    /// Rows of the symbol table named `table` in `readelf -sW FLAG` output.
    private static func symbolRows(_ url: URL, flag: String, table: String) throws -> [Row] {
        let r = try readelf(["-s", flag, url.path])
        guard r.status == 0 else { throw ToolFailure(message: "readelf -sW \(flag) failed: \(r.summary)") }
        var rows: [Row] = []
        var inTable = false
        for raw in r.stdout.split(separator: "\n") {
            let line = String(raw)
            if line.hasPrefix("Symbol table ") { inTable = line.contains("'\(table)'"); continue }
            guard inTable else { continue }
            // "    12: 0000000000001139    26 FUNC    GLOBAL DEFAULT   14 main"  (Vis may carry "[...]")
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard f.count >= 7, f[0].hasSuffix(":"), Int(f[0].dropLast()) != nil else { continue }
            var i = 5  // Vis, possibly followed by a bracketed st_other note, then Ndx
            if i + 1 < f.count, f[i + 1].hasPrefix("[") {
                i += 1
                while i < f.count, !f[i].hasSuffix("]") { i += 1 }
            }
            let ndxIndex = i + 1
            guard ndxIndex < f.count else { continue }
            var name = ndxIndex + 1 < f.count ? f[(ndxIndex + 1)...].joined(separator: " ") : ""
            // readelf appends " (N)", the .gnu.version index, to versioned dynamic symbols: the
            // index is an implementation detail (compared through `versions`), the name is not.
            if let paren = name.range(of: " (", options: .backwards), name.hasSuffix(")"),
               Int(name[paren.upperBound..<name.index(before: name.endIndex)]) != nil {
                name = String(name[..<paren.lowerBound])
            }
            rows.append(Row(value: f[1], size: f[2], type: f[3], bind: f[4], ndx: f[ndxIndex], name: name))
        }
        return rows
    }
}

/// Everything the readelf views show about one file, to compare an input with its patched copy:
/// `XCTAssertEqual(try ToolSnapshot(output).differences(from: ToolSnapshot(input)), [])`, after
/// taking out what the edit is meant to change.
struct ToolSnapshot: Equatable {
    var dynamic: [String]                  // ReadelfView.comparableDynamic
    var versions: ReadelfView.Versions
    var dynamicSymbols: [ReadelfView.Symbol]
    var symtab: [ReadelfView.Symbol]

    init(_ url: URL, movable: Set<String> = ReadelfView.movableAddressTags) throws {
        dynamic = try ReadelfView.comparableDynamic(url, movable: movable)
        versions = try ReadelfView.versions(url)
        dynamicSymbols = try ReadelfView.dynamicSymbols(url)
        symtab = try ReadelfView.symtab(url)
    }

    /// One line per view that differs, naming the first differing element.
    func differences(from before: ToolSnapshot) -> [String] {
        func first<T: Equatable & CustomStringConvertible>(_ name: String, _ a: [T], _ b: [T]) -> String? {
            guard a != b else { return nil }
            if a.count != b.count { return "\(name): \(a.count) entries before, \(b.count) after" }
            let i = a.indices.first { a[$0] != b[$0] }!
            return "\(name)[\(i)]: \(a[i]) → \(b[i])"
        }
        return [
            first("readelf -dW", before.dynamic, dynamic),
            first("readelf -V symbols", before.versions.symbols, versions.symbols),
            first("readelf -V needs", before.versions.needs, versions.needs),
            first("readelf -V definitions", before.versions.definitions, versions.definitions),
            first("dynamic symbols", before.dynamicSymbols, dynamicSymbols),
            first(".symtab", before.symtab, symtab),
        ].compactMap { $0 }
    }
}
