import Foundation
import Testing

/// swelf run through a link named `patchelf`, compared with the real patchelf 0.19.3.
@Suite struct PatchelfPersonalityTests {
    let hello = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
    let notELF = Repo.testBinaries.appendingPathComponent("manifest.tsv").path

    /// A directory holding `patchelf -> swelf`, removed at the end.
    final class Link {
        let directory: URL
        let path: String
        init() throws {
            guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-personality-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            path = directory.appendingPathComponent("patchelf").path
            try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: swelf)
        }
        func run(_ arguments: [String]) throws -> ProcessResult {
            try ChildProcess.run(path, arguments)
        }
        func copy(_ file: String, as name: String) throws -> String {
            let destination = directory.appendingPathComponent(name).path
            try FileManager.default.copyItem(atPath: file, toPath: destination)
            return destination
        }
        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    @Test func versionSatisfiesAuditwheelAndMaturin() throws {
        let link = try Link()
        let result = try link.run(["--version"])
        #expect(result.status == 0)
        let line = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(line.hasPrefix("patchelf 0.19.3"))
        #expect(line.contains("swelf"))
        // auditwheel 6: re.match(r"patchelf\s+(\d+(.\d+(.\d+)?)?)", version), then ints >= (0, 14, 5).
        let python = try ChildProcess.run("python3", ["-c", """
            import re, sys
            m = re.match(r"patchelf\\s+(\\d+(.\\d+(.\\d+)?)?)", sys.argv[1])
            print(m and tuple(int(x) for x in m.group(1).split(".")) >= (0, 14, 5))
            """, result.stdout])
        #expect(python.stdout == "True\n", "auditwheel's check rejects \(line)")
        // maturin: strip the "patchelf" prefix, trim, parse as a semver version (>= 0.14.0).
        // The grammar is semver.org's official regular expression.
        let semver = #/^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/#
        let rest = line.dropFirst("patchelf".count).trimmingCharacters(in: .whitespaces)
        let match = try #require(rest.wholeMatch(of: semver), "maturin cannot parse '\(rest)' as semver")
        #expect((Int(match.1)!, Int(match.2)!) >= (0, 14))
        // Under its own name swelf keeps its own version line.
        #expect(try Swelf.run(["--version"]).stdout.hasPrefix("swelf "))
    }

    @Test func helpAndNoArgumentsAsPatchelf() throws {
        let link = try Link()
        let none = try link.run([])
        let theirs = try Patchelf.run([])
        #expect(none.status == theirs.status)
        #expect(none.stdout.isEmpty && theirs.stdout.isEmpty)
        #expect(none.stderr.hasPrefix("syntax: \(link.path)"))
        let help = try link.run(["--help"])
        #expect(help.status == 0)
        #expect(help.stderr.hasPrefix("syntax: "))
        // Every option patchelf's help lists is in ours.
        let options = Set(try Patchelf.run(["--help"]).stderr.matches(of: #/--[a-z-]+/#).map { String($0.output) })
        #expect(options.count > 25)
        for option in options { #expect(help.stderr.contains(option), "\(option)") }
    }

    /// Failures: the same exit status and the same message as patchelf.
    @Test func messagesMatchPatchelf() throws {
        let link = try Link()
        let directory = FileManager.default.temporaryDirectory.path
        let object = try #require(["/usr/lib/x86_64-linux-gnu/crt1.o"].first { FileManager.default.fileExists(atPath: $0) })
        let cases: [[String]] = [
            ["--print-rpath", "/nonexistent/swelf-file"],
            ["--print-rpath", notELF],
            ["--print-rpath", "/dev/null"],
            ["--print-rpath", directory],
            ["--print-needed", object],
            ["--set-rpath", "@/nonexistent/swelf-file", hello],
            ["--print-rpath"],
            ["--set-rpath"],
            ["--replace-needed", "a"],
            ["--set-os-abi", "nonsense", hello],
            ["--set-rpath", "a", "--add-rpath", "b", hello],
            ["--rename-dynamic-symbols", "/nonexistent/swelf-file", hello],
            ["--print-rpath", "--output", "x", hello, hello],
        ]
        for arguments in cases {
            let ours = try link.run(arguments)
            let theirs = try Patchelf.run(arguments)
            #expect(ours.status == theirs.status, "\(arguments)")
            #expect(ours.stderr == theirs.stderr, "\(arguments)")
            #expect(ours.stdout == theirs.stdout, "\(arguments)")
        }
    }

    /// --set-interpreter on a file with section headers but no .interp section (a shared
    /// library, a static program): patchelf's text, without the file name, and patchelf's
    /// output up to its failure (the interpreter, OS ABI and soname it prints before
    /// setting the interpreter; not the run path or the needed list it prints after).
    /// Each run gets its own copy, which must come back unchanged.
    @Test func setInterpreterWithoutInterpSectionMatchesPatchelf() throws {
        let link = try Link()
        let library = Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1").path
        let program = Repo.testBinaries.appendingPathComponent("x86_64/static").path
        let cases: [(file: String, arguments: [String])] = [
            (library, ["--set-interpreter", "/lib64/ld-linux-x86-64.so.2"]),
            (library, ["--print-os-abi", "--print-soname", "--print-rpath", "--print-needed", "--set-interpreter", "/x"]),
            (library, ["--set-rpath", "/opt/x", "--set-interpreter", "/x"]),
            (program, ["--set-interpreter", "/x"]),
            (program, ["--print-interpreter"]),
            (program, ["--print-rpath", "--print-interpreter"]),
        ]
        for (index, item) in cases.enumerated() {
            let original = try Data(contentsOf: URL(fileURLWithPath: item.file))
            let ours = try link.copy(item.file, as: "ours-\(index)")
            let theirs = try link.copy(item.file, as: "theirs-\(index)")
            let mine = try link.run(item.arguments + [ours])
            let reference = try Patchelf.run(item.arguments + [theirs])
            #expect(reference.status == 1, "\(item.arguments): patchelf accepted it")
            #expect(mine.status == reference.status, "\(item.arguments)")
            #expect(mine.stderr == reference.stderr, "\(item.arguments)")
            #expect(mine.stdout == reference.stdout, "\(item.arguments)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: ours)) == original, "\(item.arguments) changed the file")
        }
    }

    /// Corrupt files (as patchelf's invalid-elf test makes them, from x86_64/hello): the
    /// same status and message as patchelf, whose section-header checks swelf makes as patchelf.
    @Test func corruptFilesFailAsInPatchelf() throws {
        let link = try Link()
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: hello)))
        func read(_ offset: Int, _ size: Int) -> Int {
            (0 ..< size).reversed().reduce(0) { $0 << 8 | Int(original[offset + $1]) }
        }
        let shoff = read(40, 8), shstrndx = read(62, 2)
        func sectionField(_ index: Int, _ field: Int) -> Int { shoff + index * 64 + field }
        let sections = try Readelf.sections(of: hello)
        let dynamic = try #require(sections.firstIndex { $0.name == ".dynamic" })
        let dynstr = try #require(sections.firstIndex { $0.name == ".dynstr" })
        let dynstrEnd = Int(sections[dynstr].offset + sections[dynstr].size) - 1
        let cases: [(name: String, offset: Int, bytes: [UInt8], arguments: [String])] = [
            ("shstrndx", 62, [0xff, 0xff], ["--print-rpath"]),
            ("shentsize", 58, [0x30, 0x00], ["--print-rpath"]),
            ("shstrtab-zero", sectionField(shstrndx, 32), [UInt8](repeating: 0, count: 8), ["--print-rpath"]),
            ("section-name", sectionField(1, 0), [0xff, 0xff, 0xff, 0x7f], ["--print-rpath"]),
            ("dynamic-offset", sectionField(dynamic, 24), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], ["--print-needed"]),
            ("dynamic-unaligned", sectionField(dynamic, 24), [1, 0, 0, 0, 0, 0, 0, 0], ["--print-needed"]),
            ("dynstr-unterminated", dynstrEnd, [0x41], ["--print-needed"]),
            ("phoff", 32, [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], ["--print-rpath"]),
        ]
        for item in cases {
            var bytes = original
            bytes.replaceSubrange(item.offset ..< item.offset + item.bytes.count, with: item.bytes)
            let path = link.directory.appendingPathComponent(item.name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let ours = try link.run(item.arguments + [path])
            let theirs = try Patchelf.run(item.arguments + [path])
            #expect(theirs.status == 1, "\(item.name): patchelf accepted it")
            #expect(ours.status == theirs.status, "\(item.name)")
            #expect(ours.stderr == theirs.stderr, "\(item.name)")
        }
    }

    /// The same structural checks in every class and byte order (they read the headers,
    /// the dynamic entries and .gnu.hash through the core's decoders): corruptions of
    /// x86_64/hello (ELF64 little-endian), i386/hello (ELF32) and mips/hello (ELF32
    /// big-endian) fail with patchelf's status and message. Each case names the check it
    /// reaches in patchelf.
    @Test(arguments: ["x86_64/hello", "i386/hello", "mips/hello"])
    func corruptFilesFailAsInPatchelfInEveryClass(subject: String) throws {
        let link = try Link()
        let pristine = try ELFFieldEditor(subject: subject)
        let word = pristine.word, is64 = pristine.is64
        let sections = try Readelf.sections(of: Repo.testBinaries.appendingPathComponent(subject).path)
        let dynamic = try #require(sections.first { $0.name == ".dynamic" })
        let entries = (0 ..< Int(dynamic.size) / (2 * word)).map { Int(dynamic.offset) + $0 * 2 * word }
        let needed = try #require(entries.first { pristine.get($0, word) == 1 })  // DT_NEEDED
        let map = link.directory.appendingPathComponent("map").path
        try "puts my_puts\n".write(toFile: map, atomically: true, encoding: .utf8)
        var cases: [(name: String, offset: Int, width: Int, value: UInt64, arguments: [String])] = [
            ("e_type", 16, 2, 1, ["--print-rpath"]),  // ET_REL: wrong ELF type
            ("e_shoff", is64 ? 0x28 : 0x20, word, (UInt64(1) << (8 * word - 1)) - 16, ["--print-rpath"]),  // table out of bounds
            ("e_phentsize", is64 ? 0x36 : 0x2a, 2, 20, ["--print-rpath"]),  // program headers have wrong size
            ("DT_NEEDED", needed + word, word, 0x7fff_fff0, ["--print-needed"]),  // string table index out of bounds
        ]
        if let hash = sections.first(where: { $0.name == ".gnu.hash" }) {  // table header out of range
            cases.append(("nbuckets", Int(hash.offset), 4, 0, ["--rename-dynamic-symbols", map]))
            cases.append(("maskwords", Int(hash.offset) + 8, 4, 0x7fff_ffff, ["--rename-dynamic-symbols", map]))
        }
        // The unchanged file passes every check, as in patchelf: a check that refused
        // everything (a field read in the wrong byte order) would pass the cases below.
        let control = link.directory.appendingPathComponent("pristine").path
        try Data(pristine.bytes).write(to: URL(fileURLWithPath: control))
        let ours = try link.run(["--print-needed", control]), theirs = try Patchelf.run(["--print-needed", control])
        #expect(theirs.status == 0 && ours.status == 0, "\(subject): \(ours.stderr)")
        #expect(ours.stdout == theirs.stdout && !ours.stdout.isEmpty, "\(subject)")
        for item in cases {
            var editor = pristine
            editor.put(item.offset, item.width, item.value)
            let path = link.directory.appendingPathComponent(item.name).path
            try Data(editor.bytes).write(to: URL(fileURLWithPath: path))
            let ours = try link.run(item.arguments + [path])
            let theirs = try Patchelf.run(item.arguments + [path])
            #expect(theirs.status == 1, "\(subject) \(item.name): patchelf accepted it")
            #expect(ours.status == theirs.status, "\(subject) \(item.name)")
            #expect(ours.stderr == theirs.stderr, "\(subject) \(item.name)")
        }
    }

    /// The shape of patchelf's pht-collision test, made from x86_64/libgreet.so.1: the first
    /// PT_LOAD is extended over its zero padding and the program header table copied to its
    /// end, right before .init. There is no room to add a program header and the code after
    /// the table cannot move. patchelf moves the table past the end of the file; swelf moves
    /// it into its new read-only segment, at the first PT_LOAD's distance between address
    /// and offset (so AT_PHDR is right for every kernel and qemu-user), as swelf and as
    /// patchelf. The code after the old table is untouched and the library still works.
    @Test func programHeaderTableCollisionMovesTheTable() throws {
        let link = try Link()
        var bytes = [UInt8](try Data(contentsOf: Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1")))
        func u64(_ bytes: [UInt8], _ offset: Int) -> Int { (0 ..< 8).reversed().reduce(0) { $0 << 8 | Int(bytes[offset + $1]) } }
        func put64(_ value: Int, at offset: Int) { for index in 0 ..< 8 { bytes[offset + index] = UInt8((value >> (8 * index)) & 0xff) } }
        let phoff = u64(bytes, 32), count = Int(bytes[56]) | Int(bytes[57]) << 8, tableSize = count * 56
        let loads = (0 ..< count).map { phoff + $0 * 56 }.filter { bytes[$0] == 1 }
        let first = try #require(loads.first), second = try #require(loads.dropFirst().first)
        let end = u64(bytes, second + 8)  // the second PT_LOAD's offset: .init follows the padding
        #expect(bytes[u64(bytes, first + 32) ..< end].allSatisfy { $0 == 0 }, "the padding is not zero")
        put64(end, at: first + 32)
        put64(end, at: first + 40)
        bytes.replaceSubrange(end - tableSize ..< end, with: Array(bytes[phoff ..< phoff + tableSize]))
        put64(end - tableSize, at: 32)
        let original = link.directory.appendingPathComponent("collision.so").path
        try Data(bytes).write(to: URL(fileURLWithPath: original))

        // The fixture is sound: a program linked against libgreet runs with it.
        let run = link.directory.appendingPathComponent("run")
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        for name in ["hello", "libunused.so"] {
            try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/\(name)"), to: run.appendingPathComponent(name))
        }
        func helloRuns(with library: [UInt8]) throws -> Bool {
            try Data(library).write(to: run.appendingPathComponent("libgreet.so.1"))
            let hello = try ChildProcess.run("/usr/bin/env", ["LD_LIBRARY_PATH=\(run.path)", run.appendingPathComponent("hello").path])
            return hello.status == 0 && hello.stdout.contains("hello from libgreet")
        }
        #expect(try helloRuns(with: bytes))

        // patchelf: succeeds by moving the table past the end of the original file.
        let theirs = try link.copy(original, as: "theirs.so")
        #expect(try Patchelf.run(["--add-needed", "libfoo.so", theirs]).status == 0)
        let moved = [UInt8](try Data(contentsOf: URL(fileURLWithPath: theirs)))
        #expect(u64(moved, 32) >= bytes.count, "patchelf kept the table in place")

        for (name, runner) in [("patchelf", link.run), ("swelf", Swelf.run)] as [(String, ([String]) throws -> ProcessResult)] {
            let ours = try link.copy(original, as: "ours-\(name).so")
            let result = try runner(["--set-rpath", "/opt/" + String(repeating: "x", count: 100), ours])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            let edited = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ours)))
            let newOffset = u64(edited, 32), newCount = Int(edited[56]) | Int(edited[57]) << 8
            #expect(newOffset >= bytes.count && newCount == count + 1, "\(name): the table did not move (e_phoff 0x\(String(newOffset, radix: 16)))")
            // The PT_LOAD holding it has the first PT_LOAD's p_vaddr - p_offset.
            let editedLoads = (0 ..< newCount).map { newOffset + $0 * 56 }.filter { edited[$0] == 1 }
            let holder = editedLoads.first { u64(edited, $0 + 8) <= newOffset && newOffset < u64(edited, $0 + 8) + u64(edited, $0 + 32) }
            #expect(holder.map { u64(edited, $0 + 16) - u64(edited, $0 + 8) } == u64(edited, editedLoads[0] + 16) - u64(edited, editedLoads[0] + 8),
                    "\(name): AT_PHDR would be wrong")
            let code = end ..< end + u64(bytes, second + 32)  // the PT_LOAD right after the old table
            #expect(Array(edited[code]) == Array(bytes[code]), "\(name): the code after the old table changed")
            #expect(try helloRuns(with: edited), "\(name): the library no longer works")
        }
    }

    /// --no-sort is what swelf always does: with or without it the output is the same, the
    /// existing program headers keep their order (the new PT_LOAD is inserted among them)
    /// and the section headers keep theirs (readelf is the oracle).
    @Test func noSortIsTheDefault() throws {
        let link = try Link()
        let long = "/" + String(repeating: "long-directory/", count: 40)
        let plain = try link.copy(hello, as: "plain"), unsorted = try link.copy(hello, as: "unsorted")
        #expect(try Swelf.run(["--set-rpath", long, plain]).status == 0)
        #expect(try link.run(["--no-sort", "--set-rpath", long, unsorted]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: plain)) == Data(contentsOf: URL(fileURLWithPath: unsorted)))
        func segmentTypes(_ path: String) throws -> [String] {
            try ChildProcess.run("readelf", ["-lW", path]).stdout.split(separator: "\n")
                .compactMap { $0.firstMatch(of: #/^  ([A-Z][A-Z_]+)\s+0x/#).map { String($0.1) } }
                // A PT_NULL swelf keeps free for a later second segment (see docs/design.md, "Appended segments").
                .filter { $0 != "NULL" }
        }
        let before = try segmentTypes(hello), after = try segmentTypes(unsorted)
        #expect(after.count == before.count + 1)
        var remaining = after[...]
        for type in before {
            guard let index = remaining.firstIndex(of: type) else { Issue.record("\(type) out of order in \(after)"); break }
            remaining = remaining[(index + 1)...]
        }
        #expect(try Readelf.sections(of: unsorted).map(\.name) == Readelf.sections(of: hello).map(\.name))
    }

    /// patchelf takes an unknown option for a file name; swelf refuses it by name in both
    /// personalities.
    @Test func refusals() throws {
        let link = try Link()
        let file = try link.copy(hello, as: "hello")
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        let arguments = ["--frob", file]
        let asPatchelf = try link.run(arguments)
        #expect(asPatchelf.status == 1)
        #expect(asPatchelf.stderr == "patchelf: unrecognized option '--frob'\n")
        #expect(try Swelf.run(arguments).status == 64)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "\(arguments) changed the file")
    }

    /// --build-resolution-cache as patchelf 0.19 does it, in both personalities: the note
    /// names the library found in the run path; nothing to resolve is a warning and no
    /// change; with --force-rpath it is a usage error; a note that no longer matches is
    /// refused; a run-path change drops it. readelf is the oracle.
    @Test func buildResolutionCache() throws {
        let link = try Link()
        let libraries = link.directory.appendingPathComponent("libs")
        try FileManager.default.createDirectory(at: libraries, withIntermediateDirectories: true)
        _ = try link.copy(Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1").path, as: "libs/libgreet.so.1")
        for (name, run) in [("patchelf", link.run), ("swelf", Swelf.run)] as [(String, ([String]) throws -> ProcessResult)] {
            let file = try link.copy(hello, as: "hello-\(name)")
            let before = try Data(contentsOf: URL(fileURLWithPath: file))
            let nothing = try run(["--build-resolution-cache", file])
            #expect(nothing.status == 0, "\(name): \(nothing.stderr)")
            #expect(nothing.stderr.contains("warning: --build-resolution-cache: no DT_NEEDED entries or run path to resolve; no cache written"), "\(name): \(nothing.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "\(name): a warning changed the file")
            let forced = try run(["--force-rpath", "--build-resolution-cache", file])
            #expect(forced.status == (name == "patchelf" ? 1 : 64))
            #expect(forced.stderr.contains("--build-resolution-cache cannot be combined with --force-rpath"), "\(name): \(forced.stderr)")

            let built = try run(["--set-rpath", libraries.path, "--build-resolution-cache", file])
            #expect(built.status == 0, "\(name): \(built.stderr)")
            let dump = try ChildProcess.run("readelf", ["-p", ".note.nixos.ldcache", file]).stdout
            #expect(dump.contains("libgreet.so.1") && dump.contains("=\(libraries.path)/libgreet.so.1"), "\(name): \(dump)")
            #expect(!dump.contains("libunused.so"), "\(name): a library not in the run path was resolved: \(dump)")
            let notes = try ChildProcess.run("readelf", ["-nW", file])
            #expect(notes.stdout.contains("NixOS") && notes.stdout.contains("0x63a86cb6"), "\(name): \(notes.stdout)")
            #expect(!(notes.stdout + notes.stderr).localizedCaseInsensitiveContains("warning"), "\(name): \(notes.stderr)")
            // Again: unchanged (idempotent).
            let again = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(try run(["--build-resolution-cache", file]).status == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == again, "\(name): rebuilding an up-to-date note changed the file")
            // The library gone: the note no longer matches and is refused.
            try FileManager.default.moveItem(atPath: libraries.appendingPathComponent("libgreet.so.1").path,
                                             toPath: link.directory.appendingPathComponent("libgreet.so.1").path)
            let stale = try run(["--build-resolution-cache", file])
            try FileManager.default.moveItem(atPath: link.directory.appendingPathComponent("libgreet.so.1").path,
                                             toPath: libraries.appendingPathComponent("libgreet.so.1").path)
            #expect(stale.status == 1)
            #expect(stale.stderr.contains("--build-resolution-cache: a resolution cache note is already present; rebuild from an unpatched binary"), "\(name): \(stale.stderr)")
            #expect(!stale.stderr.contains("No such file"))
            // A run-path change drops it: no section, no PT_NOTE of NixOS, no stale path left in the file.
            #expect(try run(["--set-rpath", "/nowhere", file]).status == 0)
            #expect(try !Readelf.sections(of: file).contains { $0.name == ".note.nixos.ldcache" })
            #expect(try !ChildProcess.run("readelf", ["-nW", file]).stdout.contains("NixOS"))
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            #expect(bytes.firstRange(of: Array("=\(libraries.path)/libgreet.so.1".utf8)) == nil, "\(name): the stale path is still in the file")
        }
    }

    /// --add-needed, --remove-needed and --replace-needed as patchelf orders them: each
    /// name once, added in byte order; the last --replace-needed of a name wins.
    @Test func setSemanticsOfNeededOptions() throws {
        let link = try Link()
        let ours = try link.copy(hello, as: "ours")
        let theirs = try link.copy(hello, as: "theirs")
        let arguments = ["--add-needed", "libz.so", "--add-needed", "liba.so", "--add-needed", "libz.so",
                         "--replace-needed", "libunused.so", "libx.so", "--replace-needed", "libunused.so", "liby.so"]
        #expect(try link.run(arguments + [ours]).status == 0)
        #expect(try Patchelf.run(arguments + [theirs]).status == 0)
        let needed = try link.run(["--print-needed", ours]).stdout
        #expect(needed == (try Patchelf.run(["--print-needed", theirs])).stdout)
        #expect(needed.hasPrefix("liba.so\nlibz.so\n"))
        // The same in swelf's own personality.
        let own = try link.copy(hello, as: "own")
        #expect(try Swelf.run(arguments + [own]).status == 0)
        #expect(try Swelf.run(["--print-needed", own]).stdout == needed)
    }

    /// patchelf's precedence among run-path options: shrink, then remove, then set.
    @Test func runPathPrecedence() throws {
        let link = try Link()
        for arguments in [["--set-rpath", "/a", "--remove-rpath"], ["--remove-rpath", "--set-rpath", "/a"],
                          ["--add-rpath", "/b", "--shrink-rpath"]] {
            let ours = try link.copy(hello, as: "ours-\(UUID().uuidString)")
            let theirs = try link.copy(hello, as: "theirs-\(UUID().uuidString)")
            #expect(try link.run(["--set-rpath", "/old", ours]).status == 0)
            #expect(try Patchelf.run(["--set-rpath", "/old", theirs]).status == 0)
            #expect(try link.run(arguments + [ours]).status == 0, "\(arguments)")
            #expect(try Patchelf.run(arguments + [theirs]).status == 0, "\(arguments)")
            #expect(try link.run(["--print-rpath", ours]).stdout == (try Patchelf.run(["--print-rpath", theirs])).stdout, "\(arguments)")
        }
    }

    /// `--output` naming a FIFO (as patchelf's tests name /dev/null): the bytes go into it,
    /// the FIFO is not replaced by a regular file.
    @Test func outputIntoSpecialFile() throws {
        let link = try Link()
        let fifo = link.directory.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = link.directory.appendingPathComponent("received").path
        let reader = try ChildProcess("/bin/sh", ["-c", "cat \"$0\" > \"$1\"", fifo, received])
        let result = try link.run(["--set-rpath", "/x", "--output", fifo, hello])
        _ = reader.wait()
        #expect(result.status == 0, "\(result.stderr)")
        var status = stat()
        #expect(lstat(fifo, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO, "the FIFO was replaced")
        let regular = link.directory.appendingPathComponent("regular").path
        #expect(try link.run(["--set-rpath", "/x", "--output", regular, hello]).status == 0)
        let got = try Data(contentsOf: URL(fileURLWithPath: received))
        #expect(got == (try Data(contentsOf: URL(fileURLWithPath: regular))))
        #expect(try link.run(["--print-rpath", received]).stdout == "/x\n")
    }

    /// --no-clobber-old-sections: an edit that moves tables keeps their old bytes in place
    /// or is refused, never silently overwrites them (the planner obeys the request's
    /// keepOldBytes). On x86_64/hello the program header table grows over .interp (refused);
    /// on mips/hello there is room (done, old bytes kept). Without the option the same edits
    /// clear the old places.
    @Test(arguments: [("x86_64/hello", false), ("mips/hello", true)])
    func noClobberOldSections(subject: String, succeeds: Bool) throws {
        let link = try Link()
        let input = Repo.testBinaries.appendingPathComponent(subject).path
        let long = "/" + String(repeating: "long-directory/", count: 40)
        let file = try link.copy(input, as: "moved")
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let result = try link.run(["--no-clobber-old-sections", "--set-rpath", long, file])
        if succeeds {
            #expect(result.status == 0, "\(result.stderr)")
            let edited = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
            var moved = 0
            for (old, new) in zip(try Readelf.sections(of: input), try Readelf.sections(of: file))
            where old.offset != new.offset && old.type != "NOBITS" && old.size > 0 {
                moved += 1
                let range = Int(old.offset) ..< Int(old.offset + old.size)
                #expect(Array(edited[range]) == Array(original[range]), "old bytes of \(old.name) overwritten")
            }
            #expect(moved > 0, "the edit was meant to move tables")
            #expect(try link.run(["--print-rpath", file]).stdout == long + "\n")
            // Without the option: the old places are cleared.
            let cleared = try link.copy(input, as: "cleared")
            #expect(try link.run(["--set-rpath", long, cleared]).status == 0)
            let clearedBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: cleared)))
            for (old, new) in zip(try Readelf.sections(of: input), try Readelf.sections(of: cleared))
            where old.offset != new.offset && old.type != "NOBITS" && old.size > 0 {
                let range = Int(old.offset) ..< Int(old.offset + old.size)
                #expect(clearedBytes[range].allSatisfy { $0 == 0 }, "old place of \(old.name) not cleared")
            }
        } else {
            #expect(result.status == 1)
            #expect(result.stderr.contains("--no-clobber-old-sections"), "\(result.stderr)")
            #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) == original)
            // --debug shows the plan's reasoning even though the edit is then refused.
            let explained = try Swelf.run(["--debug", "--no-clobber-old-sections", "--set-rpath", long, file])
            #expect(explained.status == 1)
            #expect(explained.stderr.contains("placed at offset"), "\(explained.stderr)")
            #expect(explained.stderr.contains("--no-clobber-old-sections: this edit moves .interp and the program header table"), "\(explained.stderr)")
            // Without the option the same edit is made.
            #expect(try link.run(["--set-rpath", long, file]).status == 0)
        }
    }
}

/// Section headers as readelf reads them: an oracle independent of swelf's reader.
enum Readelf {
    struct Section { let name: String; let type: String; let offset: UInt64; let size: UInt64 }

    static func sections(of path: String) throws -> [Section] {
        let output = try ChildProcess.run("readelf", ["-SW", path]).stdout
        var result: [Section] = []
        for line in output.split(separator: "\n") {
            guard let match = line.firstMatch(of: #/\[\s*\d+\]\s+(\S*)\s+(\S+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/#) else { continue }
            result.append(Section(name: String(match.1), type: String(match.2),
                                  offset: UInt64(match.3, radix: 16)!, size: UInt64(match.4, radix: 16)!))
        }
        return result
    }
}
