import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitVerify

/// The verifier's own decoding (`VersionTables`, `SymbolHash`) against oracles outside
/// swelf: binutils readelf for the version tables, published values of the two hash
/// functions, the hashes the linker stored in the version tables, and the linker's own
/// `.hash` and `.gnu.hash` tables, through which every dynamic symbol must be found.
@Suite struct VerifierDecodingTests {
    // MARK: Version tables against readelf -V

    struct Need: Equatable, CustomStringConvertible {
        var version: Int
        var file: String
        var count: Int
        var requirements: [Requirement]
        var description: String { "\(file) v\(version) cnt \(count) \(requirements)" }
    }

    struct Requirement: Equatable, CustomStringConvertible {
        var name: String
        var flags: UInt16
        var index: Int
        var description: String { "\(name)/\(flags)/\(index)" }
    }

    struct Definition: Equatable, CustomStringConvertible {
        var version: Int
        var flags: UInt16
        var index: Int
        var count: Int
        var names: [String]
        var description: String { "\(names) v\(version) flags \(flags) index \(index) cnt \(count)" }
    }

    /// `readelf -V -W`'s version definitions and needs, field by field.
    static func readelfVersions(_ path: String) throws -> (needs: [Need], definitions: [Definition]) {
        let result = try ChildProcess.run("readelf", ["-V", "-W", path])
        try #require(result.status == 0, "readelf failed on \(path): \(result.stderr)")
        func flags(_ text: Substring) throws -> UInt16 {
            if text == "none" { return 0 }
            let bits: [Substring: UInt16] = ["BASE": 1, "WEAK": 2, "INFO": 4]
            return try text.split(separator: " | ").reduce(0) { $0 | (try #require(bits[$1], "flag '\($1)'")) }
        }
        var needs: [Need] = [], definitions: [Definition] = []
        var section = ""
        for line in result.stdout.split(separator: "\n") {
            if line.hasPrefix("Version needs section") { section = "needs"; continue }
            if line.hasPrefix("Version definition section") { section = "definitions"; continue }
            if line.hasPrefix("Version symbols section") { section = ""; continue }
            if section == "needs" {
                if let m = line.wholeMatch(of: /\s*[0-9a-fx]+: Version: (\d+)\s+File: (\S+)\s+Cnt: (\d+)/) {
                    needs.append(Need(version: Int(m.1)!, file: String(m.2), count: Int(m.3)!, requirements: []))
                } else if let m = line.wholeMatch(of: /\s*[0-9a-fx]+:\s+Name: (\S+)\s+Flags: (.+?)\s+Version: (\d+)/) {
                    let requirement = Requirement(name: String(m.1), flags: try flags(m.2), index: Int(m.3)!)
                    try #require(!needs.isEmpty, "a requirement before any need: \(line)")
                    needs[needs.count - 1].requirements.append(requirement)
                }
            } else if section == "definitions" {
                if let m = line.wholeMatch(of: /\s*[0-9a-fx]+: Rev: (\d+)\s+Flags: (.+?)\s+Index: (\d+)\s+Cnt: (\d+)\s+Name: (\S+)/) {
                    definitions.append(Definition(version: Int(m.1)!, flags: try flags(m.2), index: Int(m.3)!, count: Int(m.4)!,
                                                  names: [String(m.5)]))
                } else if let m = line.wholeMatch(of: /\s*[0-9a-fx]+: Parent \d+: (\S+)/) {
                    try #require(!definitions.isEmpty, "a parent before any definition: \(line)")
                    definitions[definitions.count - 1].names.append(String(m.1))
                }
            }
        }
        return (needs, definitions)
    }

    /// readelf finds the tables through section headers, so the subjects are the files
    /// that have them; the verifier reads the same tables through DT_VERNEED and DT_VERDEF.
    static let versionedSubjects = Subject.all.filter { $0.hasSectionHeaders }

    @Test func versionTablesMatchReadelfOnEveryArchitecture() throws {
        var needsSeen = 0, definitionsSeen = 0
        var architectures: Set<String> = []
        for subject in Self.versionedSubjects {
            let file = try ELFFile(path: subject.url.path)
            guard let dynamic = try file.dynamic() else { continue }
            let oracle = try Self.readelfVersions(subject.url.path)
            let tables = VersionTables(file: file, dynamic: dynamic)
            let needs = try tables.needs().map { need in
                Need(version: Int(need.version), file: String(decoding: need.file, as: UTF8.self), count: need.requirements.count,
                     requirements: need.requirements.map {
                         Requirement(name: String(decoding: $0.name, as: UTF8.self), flags: $0.flags, index: Int($0.index))
                     })
            }
            let definitions = try tables.definitions().map { definition in
                Definition(version: Int(definition.version), flags: definition.flags, index: Int(definition.index),
                           count: definition.names.count, names: definition.names.map { String(decoding: $0, as: UTF8.self) })
            }
            #expect(needs == oracle.needs, "\(subject): .gnu.version_r")
            #expect(definitions == oracle.definitions, "\(subject): .gnu.version_d")
            // The linker computed vna_hash and vd_hash with its own ELF hash.
            for need in try tables.needs() {
                for requirement in need.requirements {
                    #expect(requirement.hash == SymbolHash.sysv(requirement.name), "\(subject): vna_hash of \(requirement.name)")
                }
            }
            for definition in try tables.definitions() {
                #expect(definition.hash == SymbolHash.sysv(definition.names.first ?? []), "\(subject): vd_hash of \(definition.names)")
            }
            needsSeen += needs.count
            definitionsSeen += definitions.count
            if !needs.isEmpty { architectures.insert(subject.arch) }
        }
        #expect(needsSeen > 50 && definitionsSeen > 10, "too few version entries compared: \(needsSeen) needs, \(definitionsSeen) definitions")
        #expect(architectures.count >= 5, "version tables compared on \(architectures.sorted()) only")
    }

    /// Hostile version needs: each field of the first `Elf_Verneed` of x86_64/needver (and
    /// of its first `Elf_Vernaux`) set to a value that leads outside the file, past the end
    /// of .dynstr or around the address space. The walk must report an error, never trap
    /// or run away.
    @Test(arguments: [
        ("vn_aux past the end of the address space", 8, [0xff, 0xff, 0xff, 0xff] as [UInt8]),
        ("vn_next past the end of the address space", 12, [0xf0, 0xff, 0xff, 0xff]),
        ("vn_file outside .dynstr", 4, [0xff, 0xff, 0xff, 0x7f]),
        ("vn_cnt 65535 with every vna_next 16", 2, [0xff, 0xff]),
        ("vna_name outside .dynstr", 16 + 8, [0xff, 0xff, 0xff, 0xff]),
        ("vna_next past the end of the mapping", 16 + 12, [0x00, 0x00, 0x00, 0x40]),
    ])
    func hostileVersionNeedsAreErrors(what: String, field: Int, bytes: [UInt8]) throws {
        var image = try #require(Subject.all.first { $0.path == "x86_64/needver" }).contents()
        let original = try ELFFile(source: MemoryByteSource(image))
        let address = try #require(try original.dynamic()?.first(.verneed))
        let offset = Int(try original.fileOffset(ofAddress: address, length: 32))
        if field == 2 {
            // Every auxiliary entry's vna_next (at 12 in each 16-byte record) is 16 up to the end
            // of the PT_LOAD: a chain as long as vn_cnt allows, until it leaves the mapped bytes.
            let load = try #require(original.programHeaders.first {
                $0.type == .load && $0.offset <= UInt64(offset) && UInt64(offset) < $0.offset + $0.fileSize
            })
            var position = offset + 16
            while position + 16 <= Int(load.offset + load.fileSize) { image[position + 12 ..< position + 16] = [16, 0, 0, 0]; position += 16 }
        }
        image.replaceSubrange(offset + field ..< offset + field + bytes.count, with: bytes)
        let file = try ELFFile(source: MemoryByteSource(image))
        let dynamic = try #require(try file.dynamic())
        #expect(throws: ELFError.self, "\(what) was read without an error") { _ = try VersionTables(file: file, dynamic: dynamic).needs() }
    }

    // MARK: Hash functions

    /// Published values: flapenguin.me's "ELF: symbol lookup via DT_HASH" and "via
    /// DT_GNU_HASH" tables, and pyelftools' test of `elf_hash` (computed with glibc's C
    /// code), which includes bytes above 0x7f: a signed-char implementation differs there.
    @Test func hashFunctionsGiveThePublishedValues() {
        let sysv: [(String, [UInt8], UInt32)] = [
            ("", [], 0), ("printf", Array("printf".utf8), 0x0779_05a6), ("exit", Array("exit".utf8), 0x0006_cf04),
            ("syscall", Array("syscall".utf8), 0x0b09_985c), ("flapenguin.me", Array("flapenguin.me".utf8), 0x0398_7915),
            ("main", Array("main".utf8), 0x0007_37fe), ("e4 bd a0 e5 a5 bd", [0xe4, 0xbd, 0xa0, 0xe5, 0xa5, 0xbd], 0x0f07_f00d),
        ]
        for (label, name, value) in sysv { #expect(SymbolHash.sysv(name) == value, "elf_hash(\(label))") }
        let gnu: [(String, UInt32)] = [
            ("", 5381), ("printf", 0x156b_2bb8), ("exit", 0x7c96_7e3f), ("syscall", 0xbac2_12a0), ("flapenguin.me", 0x8ae9_f18e),
        ]
        for (name, value) in gnu { #expect(SymbolHash.gnu(Array(name.utf8)) == value, "gnu_hash(\(name))") }
    }

    /// Every defined global or weak dynamic symbol of every subject is found by name through
    /// each hash table the file has, looked up as ld.so does with the verifier's hash
    /// functions. The linker built those tables with its own: a wrong hash function lands
    /// in the wrong bucket (or fails the bloom filter) and the symbol is not found.
    @Test func everyDynamicSymbolIsFoundThroughTheFilesOwnHashTables() throws {
        var lookups: [String: Int] = [:]
        var failures: [String] = []
        for subject in Subject.all where !subject.path.contains("nogh") {
            let file = try ELFFile(path: subject.url.path)
            guard let dynamic = try file.dynamic(), dynamic.has(.symtab) else { continue }
            let tables = try TableMap(file: file)
            let symbols = try SymbolList(file: file, dynamic: dynamic, tables: tables)
            for index in symbols.symbols.indices where index > 0 && symbols.symbols[index].isDefined
                && !symbols.names[index].isEmpty && symbols.symbols[index].info >> 4 != 0 {
                if let table = try symbols.hashTableMissing(index) {
                    failures.append("\(subject): '\(String(decoding: symbols.names[index], as: UTF8.self))' not found through \(table)")
                    continue
                }
                if dynamic.has(.hash) { lookups[".hash", default: 0] += 1 }
                if dynamic.has(.gnuHash) { lookups[".gnu.hash", default: 0] += 1 }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) lookups failed:\n\(failures.prefix(20).joined(separator: "\n"))")
        #expect(lookups[".hash", default: 0] > 20 && lookups[".gnu.hash", default: 0] > 100, "too few lookups: \(lookups)")
    }
}
