import Foundation
import Testing

/// Large inputs, generated at test time with the real toolchain where it can make them
/// and by a small generator here where it cannot, and kept under
/// `.build/large-fixtures/<key>/`, the key a hash of everything that makes them (the
/// generated sources, this generator's version, the compiler's version), so a machine
/// pays for them once:
///
/// - `sections70k`: a program linked by GNU ld from 70,000 one-byte sections: e_shnum 0
///   with the count in section 0's sh_size, e_shstrndx SHN_XINDEX with the index in
///   sh_link; then, as in the issue-17 report, a `.note.nixos.ldcache` as the last
///   section, added by `swelf --build-resolution-cache` (the linker cannot put it last,
///   .shstrtab always is; patchelf refuses the file). Kept by the linked file's content
///   only: a swelf that made a wrong note is caught by the readelf checks of the tests;
/// - `symbols100k`: a shared library exporting 100,000 functions (with .hash and
///   .gnu.hash, so renaming rebuilds both);
/// - `needed10k`: a program with 10,000 DT_NEEDED entries (`-Wl,--no-as-needed` and
///   10,000 `-l` names, each a symbolic link to one tiny library without a soname, so
///   the loader maps that file once and the program runs);
/// - `sparse4G`: a copy of TestBinaries/x86_64/hello in a sparse file of 4 GiB + 8 KiB,
///   its section-name table and section header table moved past 4 GiB (holes cost no
///   disk).
enum LargeFixtures {
    /// Bump when the generator changes what it makes.
    static let generatorVersion = "large-fixtures-2"
    static let sectionCount = 70_000
    static let symbolCount = 100_000
    static let neededCount = 10_000
    /// The sparse file's section header table and name table start here, past 4 GiB.
    static let sparseTableOffset: UInt64 = (1 << 32) + 0x1000

    struct Fixture: Sendable, CustomStringConvertible {
        let name: String
        let path: String
        /// Runs (with this LD_LIBRARY_PATH when set): a program, not a library.
        let runnable: Bool
        let libraryPath: String?
        var description: String { name }
    }

    struct GenerationFailed: Error, CustomStringConvertible {
        let what: String
        var description: String { "generating a large fixture failed: \(what)" }
    }

    static let root = Repo.root.appendingPathComponent(".build/large-fixtures")

    /// The tool's version line, part of each key.
    static let compilerVersion: String = (try? ChildProcess.run("gcc", ["--version"]))?.stdout.split(separator: "\n").first.map(String.init) ?? "?"

    /// FNV-1a, 64 bits: a content key, not a security hash.
    static func key(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts + [generatorVersion, compilerVersion] {
            for byte in part.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x0000_0100_0000_01b3
        }
        return String(hash, radix: 16)
    }

    /// The directory for `name` under `key`, made by `make` unless a previous run left it
    /// complete (a `done` file, written last). Made under an exclusive lock on
    /// `<name>.lock` beside it: LargeInputTests and StructureMutatorTests ask for the same
    /// fixtures at the same time (and two test processes may), and without the lock the
    /// second would delete the directory the first is building.
    static func cached(_ name: String, key: String, _ make: (URL) throws -> Void) throws -> URL {
        let directory = root.appendingPathComponent("\(name)-\(key)")
        let done = directory.appendingPathComponent("done")
        if FileManager.default.fileExists(atPath: done.path) { return directory }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        // flock: a lock of the open file description, so two threads of one process, each
        // with its own descriptor, wait for each other too.
        let lock = open(root.appendingPathComponent("\(name).lock").path, O_CREAT | O_RDWR | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw GenerationFailed(what: "cannot open \(name).lock: errno \(errno)") }
        defer { close(lock) }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw GenerationFailed(what: "cannot lock \(name).lock: errno \(errno)") }
        }
        if FileManager.default.fileExists(atPath: done.path) { return directory }
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try make(directory)
        try Data().write(to: done)
        return directory
    }

    /// The cached directory for `name`: `source` written as `file`, built by gcc with
    /// `arguments`, then `finish` (nothing by default).
    static func assembled(_ name: String, source: String, as file: String, gcc arguments: [String],
                          then finish: (URL) throws -> Void = { _ in }) throws -> URL {
        try cached(name, key: key([source])) { directory in
            try Data(source.utf8).write(to: directory.appendingPathComponent(file))
            try run("gcc", arguments, in: directory)
            try finish(directory)
        }
    }

    static func run(_ tool: String, _ arguments: [String], in directory: URL) throws {
        let result = try ChildProcess.run("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory.path, tool] + arguments)
        guard result.status == 0 else { throw GenerationFailed(what: "\(tool) \(arguments.prefix(6).joined(separator: " ")): \(result.stderr.prefix(800))") }
    }

    // MARK: The fixtures

    static func sections70k() throws -> Fixture {
        var source = "\t.text\n\t.globl main\n\t.type main,@function\nmain:\n\txor %eax,%eax\n\tret\n"
        for index in 0 ..< sectionCount { source += "\t.section .s\(index),\"a\",@progbits\n\t.byte \(index & 0xff)\n" }
        source += "\t.section .note.GNU-stack,\"\",@progbits\n"
        let directory = try assembled("sections70k", source: source, as: "many.S", gcc: ["-o", "linked", "many.S", "-Wl,-s"]) { directory in
            // patchelf 0.19.3 cannot (it stops at e_shnum 0: "no section headers"), so
            // swelf adds the note, as patchelf lays it out (section last, PT_LOAD, PT_NOTE);
            // the tests check its shape with readelf before using it.
            guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
            try run(swelf, ["--set-rpath", "/lib/x86_64-linux-gnu", "--build-resolution-cache", "--output", "sections70k", "linked"],
                    in: directory)
        }
        return Fixture(name: "sections70k", path: directory.appendingPathComponent("sections70k").path, runnable: true, libraryPath: nil)
    }

    static func symbols100k() throws -> Fixture {
        var source = "\t.text\n"
        for index in 0 ..< symbolCount { source += "\t.globl f\(index)\n\t.type f\(index),@function\nf\(index):\n\tret\n" }
        source += "\t.section .note.GNU-stack,\"\",@progbits\n"
        let directory = try assembled("symbols100k", source: source, as: "syms.S",
                                      gcc: ["-shared", "-o", "libsymbols100k.so", "syms.S", "-Wl,-soname,libsymbols100k.so", "-Wl,--hash-style=both"])
        return Fixture(name: "symbols100k", path: directory.appendingPathComponent("libsymbols100k.so").path, runnable: false, libraryPath: nil)
    }

    static func needed10k() throws -> Fixture {
        let program = "#include <stdio.h>\nint main(void) { puts(\"needed10k runs\"); return 0; }\n"
        let options = (0 ..< neededCount).map { "-ln\($0)" }.joined(separator: "\n") + "\n"
        let directory = try cached("needed10k", key: key([program, options])) { directory in
            let libraries = directory.appendingPathComponent("lib")
            try FileManager.default.createDirectory(at: libraries, withIntermediateDirectories: true)
            try Data("int tiny_library_marker;\n".utf8).write(to: libraries.appendingPathComponent("tiny.c"))
            // No soname: each DT_NEEDED is the name ld was given, libnN.so.
            try run("gcc", ["-shared", "-fPIC", "-o", "libtiny.so", "tiny.c"], in: libraries)
            for index in 0 ..< neededCount {
                try FileManager.default.createSymbolicLink(atPath: libraries.appendingPathComponent("libn\(index).so").path,
                                                           withDestinationPath: "libtiny.so")
            }
            try Data(program.utf8).write(to: directory.appendingPathComponent("main.c"))
            try Data(options.utf8).write(to: directory.appendingPathComponent("libraries.rsp"))
            try run("gcc", ["-o", "needed10k", "main.c", "-Llib", "-Wl,--no-as-needed", "@libraries.rsp"], in: directory)
        }
        return Fixture(name: "needed10k", path: directory.appendingPathComponent("needed10k").path, runnable: true,
                       libraryPath: directory.appendingPathComponent("lib").path)
    }

    static func sparse4G() throws -> Fixture {
        let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello")
        let original = [UInt8](try Data(contentsOf: hello))
        let directory = try cached("sparse4G", key: key([String(decoding: original, as: UTF8.self)])) { directory in
            let url = directory.appendingPathComponent("sparse4G")
            let (prefix, tail) = try movingSectionTables(of: original, to: sparseTableOffset)
            guard FileManager.default.createFile(atPath: url.path, contents: Data(prefix)) else {
                throw GenerationFailed(what: "cannot create \(url.path)")
            }
            let handle = try FileHandle(forWritingTo: url)
            try handle.seek(toOffset: sparseTableOffset)
            try handle.write(contentsOf: Data(tail))
            try handle.close()
            chmod(url.path, 0o755)
        }
        return Fixture(name: "sparse4G", path: directory.appendingPathComponent("sparse4G").path, runnable: true,
                       libraryPath: Repo.testBinaries.appendingPathComponent("x86_64").path)  // hello needs libgreet.so.1
    }

    // MARK: Synthetic steps (ELF64 little-endian, which is all these fixtures are)

    struct Section {
        var name: UInt32, type: UInt32, flags: UInt64, address: UInt64, offset: UInt64, size: UInt64
        var link: UInt32, info: UInt32, alignment: UInt64, entrySize: UInt64
    }

    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt64 { UInt64(bytes[at]) | UInt64(bytes[at + 1]) << 8 }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt64 { u16(bytes, at) | u16(bytes, at + 2) << 16 }
    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 { u32(bytes, at) | u32(bytes, at + 4) << 32 }
    static func put(_ bytes: inout [UInt8], _ at: Int, _ width: Int, _ value: UInt64) {
        for index in 0 ..< width { bytes[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }
    static func little(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0 ..< width).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }

    /// The section headers (the count and name-table index resolved through section 0)
    /// and the name-table index.
    static func sections(of bytes: [UInt8]) throws -> (sections: [Section], names: Int) {
        guard bytes.count > 64, bytes[4] == 2, bytes[5] == 1 else { throw GenerationFailed(what: "not ELF64 little-endian") }
        let tableOffset = Int(u64(bytes, 0x28))
        let header0 = tableOffset
        var count = Int(u16(bytes, 0x3c))
        if count == 0 { count = Int(u64(bytes, header0 + 0x20)) }
        var names = Int(u16(bytes, 0x3e))
        if names == 0xffff { names = Int(u32(bytes, header0 + 0x28)) }
        let sections = (0 ..< count).map { index -> Section in
            let at = tableOffset + 64 * index
            return Section(name: UInt32(u32(bytes, at)), type: UInt32(u32(bytes, at + 4)), flags: u64(bytes, at + 8),
                           address: u64(bytes, at + 0x10), offset: u64(bytes, at + 0x18), size: u64(bytes, at + 0x20),
                           link: UInt32(u32(bytes, at + 0x28)), info: UInt32(u32(bytes, at + 0x2c)),
                           alignment: u64(bytes, at + 0x30), entrySize: u64(bytes, at + 0x38))
        }
        return (sections, names)
    }

    static func encode(_ sections: [Section]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64 * sections.count)
        for section in sections {
            bytes += little(UInt64(section.name), 4) + little(UInt64(section.type), 4) + little(section.flags, 8)
            bytes += little(section.address, 8) + little(section.offset, 8) + little(section.size, 8)
            bytes += little(UInt64(section.link), 4) + little(UInt64(section.info), 4)
            bytes += little(section.alignment, 8) + little(section.entrySize, 8)
        }
        return bytes
    }

    /// Header fields for `sections` and their table at `offset`, in the gABI's form.
    static func setCounts(_ bytes: inout [UInt8], sections: inout [Section], names: Int, tableOffset: UInt64) {
        put(&bytes, 0x28, 8, tableOffset)
        let extended = sections.count >= 0xff00
        put(&bytes, 0x3c, 2, extended ? 0 : UInt64(sections.count))
        sections[0].size = extended ? UInt64(sections.count) : 0
        put(&bytes, 0x3e, 2, names >= 0xff00 ? 0xffff : UInt64(names))
        sections[0].link = names >= 0xff00 ? UInt32(names) : 0
    }

    /// Empty unnamed SHT_PROGBITS sections appended until there are `total`: the header
    /// table moves to the end of the file.
    static func appendingEmptySections(to original: [UInt8], total: Int) throws -> [UInt8] {
        var bytes = original
        var (sections, names) = try sections(of: bytes)
        let empty = Section(name: 0, type: 1, flags: 0, address: 0, offset: 0, size: 0, link: 0, info: 0, alignment: 1, entrySize: 0)
        sections += Array(repeating: empty, count: total - sections.count)
        while bytes.count % 8 != 0 { bytes.append(0) }
        setCounts(&bytes, sections: &sections, names: names, tableOffset: UInt64(bytes.count))
        return bytes + encode(sections)
    }

    /// The file with its section-name table and section header table moved to `offset`:
    /// the bytes before it (the original, e_shoff and sh_offset changed) and the bytes
    /// from it on.
    static func movingSectionTables(of original: [UInt8], to offset: UInt64) throws -> (prefix: [UInt8], tail: [UInt8]) {
        var bytes = original
        var (sections, names) = try sections(of: bytes)
        let table = sections[names]
        var tail = Array(bytes[Int(table.offset) ..< Int(table.offset + table.size)])
        sections[names].offset = offset
        while tail.count % 8 != 0 { tail.append(0) }
        setCounts(&bytes, sections: &sections, names: names, tableOffset: offset + UInt64(tail.count))
        tail += encode(sections)
        return (bytes, tail)
    }
}
