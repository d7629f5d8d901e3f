import Foundation
import Testing

/// Crafted inputs from issue 8 ("Found", items 1 and 2), each built here from a
/// TestBinaries subject by setting the fields that matter, kept under Tests/Fixtures
/// (`SWELF_WRITE_FIXTURES=1` rewrites them), and run through the CLI: each must give
/// exit 1 and a one-line error, never a signal, within 10 s and 1 GiB.
@Suite struct HostileInputTests {
    struct Crafted: Sendable {
        let fixture: String
        let subject: String
        let make: @Sendable (inout ELFFieldEditor) -> Void
    }

    /// The region of shared version records: `count` identical 16-byte records that read
    /// both as Elf_Verneed (vn_cnt 0xffff, vn_aux 16, vn_next 16) and as Elf_Vernaux
    /// (vna_next 16), the last one ending both chains. Each of the n entries walks the
    /// n − i records after it: n²/2 requirements from a file of 16·n bytes.
    static func sharedVersionRecords(_ editor: inout ELFFieldEditor, count: Int) {
        let fileName = editor.dynamicValue(tag: 1)!  // a DT_NEEDED string: a valid vn_file and vna_name
        let start = (editor.bytes.count + 0xfff) & ~0xfff
        editor.bytes += [UInt8](repeating: 0, count: start - editor.bytes.count + 16 * count)
        for index in 0 ..< count {
            let at = start + 16 * index
            editor.put(at, 2, 1)
            editor.put(at + 2, 2, 0xffff)
            editor.put(at + 4, 4, fileName)
            editor.put(at + 8, 4, 16)
            editor.put(at + 12, 4, index == count - 1 ? 0 : 16)
        }
        // PT_NOTE becomes the PT_LOAD that maps the region at 0x40000000.
        let note = editor.segments(type: 4).first!
        editor.put(note, 4, 1)
        for (name, value) in [("p_offset", UInt64(start)), ("p_vaddr", 0x4000_0000), ("p_paddr", 0x4000_0000),
                              ("p_filesz", UInt64(16 * count)), ("p_memsz", UInt64(16 * count)), ("p_align", 0x1000)] {
            editor.set(editor.programHeaderField(note, name), value)
        }
        editor.setDynamic(tag: 0x6fff_fffe, 0x4000_0000)  // DT_VERNEED
        editor.setDynamic(tag: 0x6fff_ffff, 0xffff)  // DT_VERNEEDNUM
    }

    /// A new dynamic section and string table in a region mapped by the former PT_NOTE:
    /// `needed` DT_NEEDED entries all naming a library that is nowhere, and a DT_RPATH of
    /// `directories` distinct directories. Every lookup tries every directory: a product.
    static func searchProduct(_ editor: inout ELFFieldEditor, needed: Int, directories: Int) {
        let word = editor.word
        let kept = editor.dynamicEntryOffsets.map { (editor.get($0, word), editor.get($0 + word, word)) }
            .filter { ![0, 1, 5, 10, 15, 29].contains($0.0) }  // NULL, NEEDED, STRTAB, STRSZ, RPATH, RUNPATH
        let rpath = (0 ..< directories).map { "/d\($0)" }.joined(separator: ":")
        var strings: [UInt8] = [0] + Array("libnope.so".utf8) + [0] + Array(rpath.utf8) + [0]
        let stringSize = UInt64(strings.count)
        strings += [UInt8](repeating: 0, count: (word - strings.count % word) % word)
        let address: UInt64 = 0x4000_0000
        let entries = kept + [(5, address), (10, stringSize), (15, 12)] + Array(repeating: (UInt64(1), UInt64(1)), count: needed) + [(0, 0)]
        let start = (editor.bytes.count + 0xfff) & ~0xfff
        let tableStart = start + strings.count
        editor.bytes += [UInt8](repeating: 0, count: start - editor.bytes.count) + strings
            + [UInt8](repeating: 0, count: 2 * word * entries.count)
        for (index, (tag, value)) in entries.enumerated() {
            editor.put(tableStart + 2 * word * index, word, tag)
            editor.put(tableStart + 2 * word * index + word, word, value)
        }
        let regionSize = UInt64(editor.bytes.count - start)
        let note = editor.segments(type: 4).first!
        let dynamic = editor.segments(type: 2).first!
        editor.put(note, 4, 1)
        for (name, value) in [("p_offset", UInt64(start)), ("p_vaddr", address), ("p_paddr", address),
                              ("p_filesz", regionSize), ("p_memsz", regionSize), ("p_align", 0x1000)] {
            editor.set(editor.programHeaderField(note, name), value)
        }
        let tableAddress = address + UInt64(strings.count)
        for (name, value) in [("p_offset", UInt64(tableStart)), ("p_vaddr", tableAddress), ("p_paddr", tableAddress),
                              ("p_filesz", UInt64(2 * word * entries.count)), ("p_memsz", UInt64(2 * word * entries.count))] {
            editor.set(editor.programHeaderField(dynamic, name), value)
        }
    }

    static let crafted: [Crafted] = [
        // `verify`: PT_INTERP's p_offset + p_filesz overflowed in the NUL check.
        Crafted(fixture: "verify-interp-offset-overflow.elf", subject: "x86_64/hello") { editor in
            let interp = editor.segments(type: 3).first!
            editor.set(editor.programHeaderField(interp, "p_offset"), UInt64.max - 15)
        },
        // `--clear-execstack` with no program headers and e_phoff = ~0: the planner added
        // the table's size to e_phoff unchecked. (The SHT_DYNAMIC section becomes
        // SHT_PROGBITS, so the file reads as static, as x86_64/static does, in 16 KB.)
        Crafted(fixture: "clear-execstack-phoff-max.elf", subject: "x86_64/hello") { editor in
            for section in editor.sectionHeaderOffsets where editor.get(editor.sectionHeaderField(section, "sh_type")) == 6 {
                editor.set(editor.sectionHeaderField(section, "sh_type"), 1)
            }
            editor.set(editor.header("e_phnum"), 0)
            editor.set(editor.header("e_phoff"), UInt64.max)
        },
        // `--rename-dynamic-symbols` with DT_RELAENT = 2⁶³: Int(entsize) trapped, in the
        // editor's relocation walk and in the pipeline's SymbolCheck.
        Crafted(fixture: "rename-relaent-2p63.elf", subject: "x86_64/needver") { editor in
            editor.setDynamic(tag: 9, 1 << 63)
        },
        // `--replace-needed` without section headers, .gnu.hash hashing nothing (so the
        // symbol count is unknown) and DT_SYMENT = 2⁶³: Int(DT_SYMENT) trapped.
        Crafted(fixture: "replace-needed-syment-2p63.elf", subject: "x86_64/hello-noshdr") { editor in
            editor.emptyGNUHashBuckets()
            editor.setDynamic(tag: 11, 1 << 63)
        },
        // Resource exhaustion: 4096 shared version records, 8 million requirements.
        Crafted(fixture: "verneed-shared-aux.elf", subject: "x86_64/needver") { editor in
            sharedVersionRecords(&editor, count: 4096)
        },
        // Resource exhaustion in the loader's search: 300 DT_NEEDED × 300 DT_RPATH
        // directories × the hwcaps subdirectories.
        Crafted(fixture: "doctor-search-product.elf", subject: "x86_64/hello") { editor in
            searchProduct(&editor, needed: 300, directories: 300)
        },
    ]

    static func build(_ crafted: Crafted) throws -> [UInt8] {
        var editor = try ELFFieldEditor(subject: crafted.subject)
        crafted.make(&editor)
        return editor.bytes
    }

    /// The stored fixture is exactly what the generator makes (so it can be rebuilt and
    /// its provenance is known).
    @Test(arguments: crafted.map(\.fixture))
    func fixtureIsReproducible(_ name: String) throws {
        let crafted = HostileInputTests.crafted.first { $0.fixture == name }!
        let bytes = try HostileInputTests.build(crafted)
        let url = Repo.fixtures.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["SWELF_WRITE_FIXTURES"] == "1" {
            try Data(bytes).write(to: url)
        }
        let stored = try [UInt8](Data(contentsOf: url))
        #expect(stored == bytes, "\(name) differs from what its generator makes from \(crafted.subject)")
    }

    /// One call of swelf under `ulimit -v` 1 GiB and a 10-second limit.
    static func runLimited(_ arguments: [String], seconds: Int = 10) throws -> (status: Int32, stdout: String, stderr: String, elapsed: Double) {
        guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
        let start = Date()
        let result = try ChildProcess.run("/bin/bash", ["-c", "ulimit -v 1048576; exec timeout -s KILL \(seconds) \"$0\" \"$@\"", swelf] + arguments)
        return (result.status, result.stdout, result.stderr, Date().timeIntervalSince(start))
    }

    static func expectCleanRefusal(_ arguments: [String], mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try runLimited(arguments)
        #expect(result.status == 1, "\(arguments): exit \(result.status); \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("swelf: ") && lines[0].contains(text),
                "\(arguments): stderr \(result.stderr)", sourceLocation: sourceLocation)
    }

    static func fixture(_ name: String) -> String { Repo.fixtures.appendingPathComponent(name).path }

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func verifyOnInterpreterOffsetOverflow() throws {
        let result = try HostileInputTests.runLimited(["verify", HostileInputTests.fixture("verify-interp-offset-overflow.elf")])
        #expect(result.status == 1, "exit \(result.status)")
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        #expect(result.stderr.contains("PT_INTERP's p_offset + p_filesz overflows"), "\(result.stderr)")
    }

    @Test func clearExecstackWithoutProgramHeaders() throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HostileInputTests.expectCleanRefusal(["--clear-execstack", "--output", directory.appendingPathComponent("out").path,
                                                  HostileInputTests.fixture("clear-execstack-phoff-max.elf")], mentioning: "e_phoff")
    }

    @Test func renameWithHugeRelocationEntrySize() throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        let map = directory.appendingPathComponent("map")
        try Data("ver_new ver_nuevo\n".utf8).write(to: map)
        try HostileInputTests.expectCleanRefusal(["--rename-dynamic-symbols", map.path, "--output", directory.appendingPathComponent("out").path,
                                                  HostileInputTests.fixture("rename-relaent-2p63.elf")], mentioning: "DT_RELAENT is 0x8000000000000000")
        // In place too: the input is left as it was.
        let copy = directory.appendingPathComponent("copy")
        try FileManager.default.copyItem(atPath: HostileInputTests.fixture("rename-relaent-2p63.elf"), toPath: copy.path)
        try HostileInputTests.expectCleanRefusal(["--rename-dynamic-symbols", map.path, copy.path], mentioning: "DT_RELAENT")
        #expect(try Data(contentsOf: copy) == Data(contentsOf: URL(fileURLWithPath: HostileInputTests.fixture("rename-relaent-2p63.elf"))))
    }

    @Test func replaceNeededWithHugeSymbolEntrySize() throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        try HostileInputTests.expectCleanRefusal(["--replace-needed", "libc.so.6", "libd.so.6", "--output", directory.appendingPathComponent("out").path,
                                                  HostileInputTests.fixture("replace-needed-syment-2p63.elf")], mentioning: "DT_SYMENT is 0x8000000000000000")
    }

    /// Issue 8 item 2: shared Elf_Vernaux chains. Before the budget, `doctor` on the
    /// 80 KB fixture ran for more than 120 s (and on the 2 MB one past 64 s, growing);
    /// now each walk stops at a number of records the file's size allows.
    @Test func sharedVersionRecordsStayWithinBudget() throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var large = try ELFFieldEditor(subject: "x86_64/needver")
        HostileInputTests.sharedVersionRecords(&large, count: 131_072)  // 2 MB: 65536 × 65535 requirements
        let largePath = directory.appendingPathComponent("verneed-2mb.elf").path
        try Data(large.bytes).write(to: URL(fileURLWithPath: largePath))
        #expect(large.bytes.count > 2_000_000)
        chmod(largePath, 0o755)

        let smallPath = directory.appendingPathComponent("verneed-shared-aux.elf").path
        try FileManager.default.copyItem(atPath: HostileInputTests.fixture("verneed-shared-aux.elf"), toPath: smallPath)
        chmod(smallPath, 0o755)  // doctor checks versions of a program that could start

        let libraries = "LD_LIBRARY_PATH=" + Repo.testBinaries.appendingPathComponent("x86_64").path
        for path in [smallPath, largePath] {
            try HostileInputTests.expectCleanRefusal(["--remove-needed", "libc.so.6", "--output", directory.appendingPathComponent("out").path, path],
                                                      mentioning: ".gnu.version_r: the walk exceeds its budget")
            let verify = try HostileInputTests.runLimited(["verify", path])
            #expect(verify.status == 1 && verify.stderr.contains(".gnu.version_r: the walk exceeds its budget"), "\(verify)")
            let doctor = try HostileInputTests.runLimited(["doctor", "--env", libraries, path])
            #expect(doctor.status == 0 || doctor.status == 1, "doctor: exit \(doctor.status) after \(doctor.elapsed) s; \(doctor.stderr)")
            #expect(doctor.stdout.contains("version requirements cannot be read: .gnu.version_r"), "\(doctor.stdout)")
        }
    }

    /// The loader's search is a product of DT_NEEDED entries and search directories.
    /// Before its budget (and before the directory list lost its quadratic de-duplication)
    /// doctor on the 800 KB variant ran past 60 s; now it stops at a number of directories
    /// the file's size allows and says so.
    @Test func loaderSearchStaysWithinBudget() throws {
        let directory = try HostileInputTests.scratch()
        defer { try? FileManager.default.removeItem(at: directory) }
        var large = try ELFFieldEditor(subject: "x86_64/hello")
        HostileInputTests.searchProduct(&large, needed: 20000, directories: 60000)
        let largePath = directory.appendingPathComponent("search-800k.elf").path
        try Data(large.bytes).write(to: URL(fileURLWithPath: largePath))
        let smallPath = directory.appendingPathComponent("doctor-search-product.elf").path
        try FileManager.default.copyItem(atPath: HostileInputTests.fixture("doctor-search-product.elf"), toPath: smallPath)
        for path in [smallPath, largePath] {
            chmod(path, 0o755)
            let doctor = try HostileInputTests.runLimited(["doctor", path])
            #expect(doctor.status == 1, "doctor: exit \(doctor.status) after \(doctor.elapsed) s; \(doctor.stderr)")
            #expect(doctor.stdout.contains("library search: exceeds its budget"), "\(doctor.stdout.suffix(2000))")
            let ldd = try HostileInputTests.runLimited(["ldd", path])
            #expect(ldd.status == 0 || ldd.status == 1, "ldd: exit \(ldd.status) after \(ldd.elapsed) s; \(ldd.stderr)")
        }
    }
}
