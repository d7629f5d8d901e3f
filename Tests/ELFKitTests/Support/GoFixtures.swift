import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

// What GoBuildInfoTests compares with and damages: `go version -m` parsed, and the build
// information blob of a real Go program.

/// `go version -m FILE`, parsed.
struct GoVersionListing {
    let file: String
    let text: String
    let version: String
    /// Each indented line's tab-separated columns, in order.
    let lines: [[String]]

    init(file: String) throws {
        let run = try ChildProcess.run("go", ["version", "-m", file])
        try #require(run.status == 0, "go version -m \(file) failed: \(run.stderr)")
        self.file = file
        text = run.stdout
        var rows = run.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if rows.last == "" { rows.removeLast() }
        let first = try #require(rows.first, "no output from go version -m")
        let prefix = file + ": "
        try #require(first.hasPrefix(prefix), "unexpected first line: \(first)")
        version = String(first.dropFirst(prefix.count))
        lines = try rows.dropFirst().map { row in
            try #require(row.hasPrefix("\t"), "unexpected line: \(row)")
            return row.dropFirst().split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// Same version, path, main module, dependencies (with replacements), and build
    /// settings in order; then the whole text, byte for byte.
    func expectMatches(_ info: GoBuildInfo, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(info.goVersion == version, sourceLocation: sourceLocation)
        var path: String?
        var main: [String]?
        var modules: [[String]] = []
        var settings: [String] = []
        for columns in lines {
            switch columns.first {
            case "path": path = columns.dropFirst().joined(separator: "\t")
            case "mod": main = Array(columns.dropFirst())
            case "dep", "=>": modules.append(columns)
            case "build": settings.append(columns.dropFirst().joined(separator: "\t"))
            default: try #require(columns == [""], "unexpected line: \(columns)", sourceLocation: sourceLocation)
            }
        }
        #expect(info.path == path, sourceLocation: sourceLocation)
        let mine = info.mainModule.map { [$0.path, $0.version, $0.sum] }
        #expect(mine == main, sourceLocation: sourceLocation)
        var myModules: [[String]] = []
        for dependency in info.dependencies {
            if let replacement = dependency.replacement {
                myModules.append(["dep", dependency.path, dependency.version])
                myModules.append(["=>", replacement.path, replacement.version, replacement.sum])
            } else {
                myModules.append(["dep", dependency.path, dependency.version, dependency.sum])
            }
        }
        #expect(myModules == modules, sourceLocation: sourceLocation)
        // go prints a value Go would quote in quotes; compare in that printed form.
        let mySettings = info.settings.map { setting in
            let value = GoQuoting.valueNeedsQuotes(Array(setting.value.utf8)) ? GoQuoting.quote(setting.value) : setting.value
            return "\(setting.key)=\(value)"
        }
        #expect(mySettings == settings, sourceLocation: sourceLocation)
        #expect(!settings.isEmpty, sourceLocation: sourceLocation)
        #expect("\(file): \(info)\n" == text, sourceLocation: sourceLocation)
    }
}

/// A real Go program's bytes and where its build information lies, for building
/// variants in memory.
struct GoBlob {
    let bytes: [UInt8]
    /// File offset and address of the 32-byte header (the start of .go.buildinfo).
    let headerOffset: UInt64
    let headerAddress: UInt64
    let sectionSize: UInt64
    let version: [UInt8]
    /// The module information string as stored, sentinels included.
    let moduleInfo: [UInt8]

    init(_ url: URL) throws {
        bytes = [UInt8](try Data(contentsOf: url))
        let file = try ELFFile(source: MemoryByteSource(bytes))
        let section = try #require(file.section(named: ".go.buildinfo"))
        headerOffset = section.header.offset
        headerAddress = section.header.address
        sectionSize = section.header.size
        try #require(Array(bytes[Int(headerOffset) ..< Int(headerOffset) + 14]) == GoBuildInfo.magic)
        try #require(bytes[Int(headerOffset) + 15] & 2 != 0, "expected the Go 1.18+ inline layout")
        var position = Int(headerOffset) + 32
        version = try Self.inlineString(bytes, at: &position)
        moduleInfo = try Self.inlineString(bytes, at: &position)
    }

    /// A uvarint length and that many bytes (the real file is trusted here, but a
    /// surprise still fails the test rather than trapping).
    static func inlineString(_ bytes: [UInt8], at position: inout Int) throws -> [UInt8] {
        var length = 0, shift = 0
        while true {
            try #require(position < bytes.count && shift < 35)
            let byte = bytes[position]
            position += 1
            length |= Int(byte & 0x7f) << shift
            shift += 7
            if byte < 0x80 { break }
        }
        try #require(length <= bytes.count - position)
        defer { position += length }
        return Array(bytes[position ..< position + length])
    }

    func file() throws -> ELFFile { try ELFFile(source: MemoryByteSource(bytes)) }

    static func uvarint(_ value: Int) -> [UInt8] {
        var rest = value
        var result: [UInt8] = []
        while rest >= 0x80 {
            result.append(UInt8(rest & 0x7f) | 0x80)
            rest >>= 7
        }
        return result + [UInt8(rest)]
    }

    /// The program with its module text replaced (sentinels kept). The inline strings may
    /// run past .go.buildinfo into the data that follows: only the reader looks at them.
    func file(moduleInfo text: String) throws -> ELFFile {
        try file(rawModuleInfo: Array(moduleInfo.prefix(16)) + Array(text.utf8) + Array(moduleInfo.suffix(16)))
    }

    func file(rawModuleInfo: [UInt8]) throws -> ELFFile {
        var copy = bytes
        let strings = Self.uvarint(version.count) + version + Self.uvarint(rawModuleInfo.count) + rawModuleInfo
        let start = Int(headerOffset) + 32
        copy.replaceSubrange(start ..< start + strings.count, with: strings)
        return try ELFFile(source: MemoryByteSource(copy))
    }

    /// The pre-1.18 layout: the header's two pointers address Go string headers
    /// `{data, length}`, placed after the header together with the string bytes.
    func withPointerLayout(pointerSize: Int, bigEndian: Bool) -> [UInt8] {
        func word(_ value: UInt64) -> [UInt8] {
            let little = (0 ..< pointerSize).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
            return bigEndian ? little.reversed() : little
        }
        let size = UInt64(pointerSize)
        let versionHeader = headerAddress + 32
        let moduleHeader = versionHeader + 2 * size
        let versionData = moduleHeader + 2 * size
        let moduleData = versionData + UInt64(version.count)
        var header = GoBuildInfo.magic + [UInt8(pointerSize), bigEndian ? 1 : 0]
        header += word(versionHeader) + word(moduleHeader)
        header += [UInt8](repeating: 0, count: 32 - header.count)
        let body = word(versionData) + word(UInt64(version.count)) + word(moduleData) + word(UInt64(moduleInfo.count))
            + version + moduleInfo
        var copy = bytes
        let start = Int(headerOffset)
        copy.replaceSubrange(start ..< start + 32 + body.count, with: header + body)
        return copy
    }
}

/// A directory removed when the value goes away.
final class GoTemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-gobuildinfo-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
