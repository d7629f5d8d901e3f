import Foundation
import Testing

/// Issue 17, "survive any size": every command on the large fixtures (`LargeFixtures`:
/// 70,000 sections with extended numbering and a `.note.nixos.ldcache` last, 100,000
/// dynamic symbols, 10,000 DT_NEEDED entries, a sparse file with its section tables past
/// 4 GiB) ends with a result or a one-line error, never a signal; every edit that
/// succeeds is judged by readelf, and a program still runs.
@Suite(.serialized) struct LargeInputTests {
    static let names = ["sections70k", "symbols100k", "needed10k", "sparse4G"]

    static func fixture(_ name: String) throws -> LargeFixtures.Fixture {
        switch name {
        case "sections70k": return try LargeFixtures.sections70k()
        case "symbols100k": return try LargeFixtures.symbols100k()
        case "needed10k": return try LargeFixtures.needed10k()
        default: return try LargeFixtures.sparse4G()
        }
    }

    /// The swelf these tests run: `$SWELF_LARGE_INPUT_BINARY` when set (scripts/test sets
    /// the release build there, the binary users run, which keeps Swift's overflow and
    /// bounds traps and edits these files in 0.1-0.3 s where the debug build takes 2-3 s:
    /// the whole suite waited on this one), else the one the other tests run.
    static let binary: String? = ProcessInfo.processInfo.environment["SWELF_LARGE_INPUT_BINARY"] ?? Swelf.path

    /// A debug build reads 70,000 section headers or 100,000 symbols in seconds, not
    /// milliseconds; 4 GiB of address space leaves room for the tables of all of them.
    static let seconds = 120
    static let memoryKiB = 4 << 20

    /// Edits after which a program still starts and exits 0 (not --no-default-lib: libc
    /// is then found only through a run path, and needed10k has none).
    static let harmless: Set<String> = [
        "--set-rpath /opt/mutant/lib", "--add-rpath /opt/mutant/more", "--remove-rpath", "--shrink-rpath",
        "--force-rpath --set-rpath /opt/forced", "--set-os-abi linux", "--set-execstack",
        "--clear-execstack", "--add-debug-tag", "--clear-symbol-version puts",
        "--set-rpath /lib/x86_64-linux-gnu --build-resolution-cache",
    ]

    /// readelf's view: its exit status, its warnings, the resolved section count and
    /// name-table index, and the dynamic section's lines.
    struct ReadelfView {
        let sections: Int
        let nameTable: Int
        let dynamic: String
        let sectionList: String

        init(_ path: String) throws {
            let result = try ChildProcess.run("readelf", ["-h", "-S", "-d", "-W", path])
            guard result.status == 0, !result.stderr.contains("Warning"), !result.stderr.contains("Error") else {
                throw Judgement(what: "readelf -h -S -d -W \(path): status \(result.status): \(result.stderr.prefix(400))")
            }
            // "Number of section headers: 0 (70028)" with extended numbering, else "12".
            func resolved(_ key: String) -> Int {
                guard let line = result.stdout.split(separator: "\n").first(where: { $0.contains(key) }) else { return -1 }
                let value = line.split(separator: ":", maxSplits: 1)[1]
                if let open = value.firstIndex(of: "("), let close = value.firstIndex(of: ")") {
                    return Int(value[value.index(after: open) ..< close]) ?? -1
                }
                return Int(value.trimmingCharacters(in: .whitespaces)) ?? -1
            }
            sections = resolved("Number of section headers")
            nameTable = resolved("Section header string table index")
            dynamic = result.stdout.components(separatedBy: "Dynamic section").dropFirst().joined()
            sectionList = result.stdout
        }
    }

    struct Judgement: Error, CustomStringConvertible {
        let what: String
        var description: String { what }
    }

    /// Runs a program (with the fixture's library path): nil when it exits 0.
    static func runProblem(_ path: String, _ fixture: LargeFixtures.Fixture) throws -> String? {
        var arguments = [path]
        if let libraries = fixture.libraryPath { arguments = ["LD_LIBRARY_PATH=\(libraries)", path] }
        let result = try ChildProcess.run("/usr/bin/env", arguments)
        return result.status == 0 ? nil : "\(path) exited \(result.status): \(result.stderr.prefix(300))"
    }

    @Test(arguments: names) func everyCommandEndsCleanly(_ name: String) throws {
        let fixture = try Self.fixture(name)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-large-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root")
        for directory in ["lib64", "usr/lib", "etc"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        let map = scratch.appendingPathComponent("rename.map")
        try Data("puts mutant_puts\nf99999 renamed_f99999_with_a_longer_name\nf0 g0\n".utf8).write(to: map)
        var commands = StructureMutatorTests.commands(root: root.path, map: map.path)
        commands.append(StructureMutatorTests.Command(name: "--set-rpath /lib/x86_64-linux-gnu --build-resolution-cache --output") { files, outputs in
            ["--set-rpath", "/lib/x86_64-linux-gnu", "--build-resolution-cache"] + zip(files, outputs).flatMap { ["--output", $1, $0] }
        })
        // 4 GiB per output (ext4 has no reflink: 6-90 s each in a debug build): no in-place
        // edits, no bundle, and four --output edits (a string, a needed entry, the
        // interpreter, the note), whose outputs are deleted one by one.
        let sparse = name == "sparse4G"
        if sparse {
            let kept = ["--set-rpath /opt/mutant/lib --output", "--add-needed libmutant-extra.so --output",
                        "--set-interpreter /lib/ld-mutant-with-a-longer-name.so.2 --output",
                        "--set-rpath /lib/x86_64-linux-gnu --build-resolution-cache --output"]
            commands.removeAll { $0.inPlace || $0.name.hasPrefix("bundle") || ($0.name.hasPrefix("--") && !$0.name.hasPrefix("--print") && !kept.contains($0.name)) }
        }

        let before = try ReadelfView(fixture.path)
        let originalBytes = sparse ? nil : try Data(contentsOf: URL(fileURLWithPath: fixture.path))
        var failures: [String] = []
        var judged = 0
        for (index, command) in commands.enumerated() {
            var input = fixture.path
            if command.inPlace {
                input = scratch.appendingPathComponent("\(index)-in-place").path
                try FileManager.default.copyItem(atPath: fixture.path, toPath: input)
            }
            let output = scratch.appendingPathComponent("\(index)-output").path
            let started = Date()
            let (problem, stderr) = try StructureMutatorTests.call(command.arguments([input], [output]),
                                                                   seconds: Self.seconds, memoryKiB: Self.memoryKiB,
                                                                   binary: Self.binary)
            let elapsed = Date().timeIntervalSince(started)
            if let problem { failures.append("\(command.name): \(problem)"); continue }
            print("large input: \(name): \(command.name): \(stderr.isEmpty ? "ok" : stderr.prefix(160).description) (\(String(format: "%.1f", elapsed)) s)")
            // A successful edit, judged by readelf; a program run.
            let edited = command.inPlace ? input : output
            let isEdit = command.name.hasPrefix("--") && !command.name.hasPrefix("--print")
            if isEdit, stderr.isEmpty || !stderr.contains("swelf: \(input): "), FileManager.default.fileExists(atPath: edited) {
                do {
                    let after = try ReadelfView(edited)
                    let editName = command.name.replacingOccurrences(of: " --output", with: "")
                    // The stale note goes (its section when last), a new one adds one.
                    let allowed = Set([before.sections, before.sections - 1, before.sections + 1])
                    if !allowed.contains(after.sections) { failures.append("\(command.name): readelf counts \(after.sections) sections, the input \(before.sections)") }
                    if editName.contains("--set-rpath /opt/mutant/lib"), !after.dynamic.contains("[/opt/mutant/lib]") {
                        failures.append("\(command.name): readelf -d shows no /opt/mutant/lib")
                    }
                    if editName.contains("--add-needed"), !after.dynamic.contains("[libmutant-extra.so]") {
                        failures.append("\(command.name): readelf -d shows no libmutant-extra.so")
                    }
                    if fixture.runnable, Self.harmless.contains(editName), let problem = try Self.runProblem(edited, fixture) {
                        failures.append("\(command.name): \(problem)")
                    }
                    judged += 1
                } catch {
                    failures.append("\(command.name): \(error)")
                }
            }
            if sparse {
                // The input's holes stay holes: an edit copies data extents only, so the
                // 4 GiB output takes about as much disk as the input (a few pages), not 4 GiB.
                var status = stat()
                if stat(output, &status) == 0, Int64(status.st_blocks) * 512 > 64 << 20 {
                    failures.append("\(command.name): the output takes \((Int64(status.st_blocks) * 512) >> 20) MiB of disk: the input's holes were written out")
                }
                try? FileManager.default.removeItem(atPath: output)
            }
            if let originalBytes, !command.inPlace, try Data(contentsOf: URL(fileURLWithPath: fixture.path)) != originalBytes {
                failures.append("\(command.name): changed its input")
                return
            }
        }
        print("large input: \(name): \(commands.count) commands of \(Self.binary ?? "?"), \(judged) edits judged by readelf, \(failures.count) failures")
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
        #expect(judged >= (sparse ? 4 : 5), "only \(judged) edits succeeded on \(name)")
        if fixture.runnable { #expect(try Self.runProblem(fixture.path, fixture) == nil) }
    }

    /// The issue-17 report: 70,000 sections with extended numbering, `.note.nixos.ldcache`
    /// last. `--set-rpath` drops the stale note; the count stays extended (e_shnum 0,
    /// sh_size 70,028) and the name table keeps SHN_XINDEX. Trapped in
    /// ResolutionCacheLayout (`UInt16(sectionHeaders.count)`) before.
    @Test func setRPathDropsTheLastNoteOfSeventyThousandSections() throws {
        let fixture = try LargeFixtures.sections70k()
        let before = try ReadelfView(fixture.path)
        #expect(before.sections == 70_029 && before.nameTable == 70_027)
        #expect(before.sectionList.contains("[70028] .note.nixos.ldcache NOTE"), "the note is not the last section")
        #expect(before.sectionList.contains("Number of section headers:         0 (70029)"))
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-70k-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let result = try Swelf.run(["--set-rpath", "/opt/x", "--output", output, fixture.path])
        #expect(result.status == 0, "\(result.stderr.prefix(600))")
        let after = try ReadelfView(output)
        #expect(after.sections == 70_028)
        #expect(after.nameTable == before.nameTable)
        #expect(!after.sectionList.contains(".note.nixos.ldcache"))
        #expect(after.sectionList.contains("Number of section headers:         0 (70028)"))
        #expect(after.sectionList.contains("Section header string table index: 65535 (\(before.nameTable))"))
        #expect(after.dynamic.contains("Library runpath: [/opt/x]"))
        #expect(try Self.runProblem(output, fixture) == nil)
    }

    /// A note added or dropped across SHN_LORESERVE: 65,279 sections plus the note is
    /// 65,280, which needs e_shnum 0 and sh_size; dropping it again goes back to the plain
    /// e_shnum with sh_size 0. Synthetic: hello with empty sections appended.
    @Test func resolutionCacheNoteAcrossSHNLORESERVE() throws {
        let hello = [UInt8](try Data(contentsOf: Repo.testBinaries.appendingPathComponent("x86_64/hello")))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-lore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let plain = directory.appendingPathComponent("plain").path
        try Data(try LargeFixtures.appendingEmptySections(to: hello, total: 0xff00 - 1)).write(to: URL(fileURLWithPath: plain))
        chmod(plain, 0o755)
        #expect(try ReadelfView(plain).sections == 0xff00 - 1)
        #expect(try ChildProcess.run("readelf", ["-h", plain]).stdout.contains("Number of section headers:         65279"))

        let withNote = directory.appendingPathComponent("with-note").path
        let added = try Swelf.run(["--set-rpath", "/lib/x86_64-linux-gnu", "--build-resolution-cache", "--output", withNote, plain])
        #expect(added.status == 0, "\(added.stderr.prefix(600))")
        let header = try ChildProcess.run("readelf", ["-h", withNote]).stdout
        #expect(header.contains("Number of section headers:         0 (65280)"), "\(header)")
        let view = try ReadelfView(withNote)
        #expect(view.sectionList.contains("[65279] .note.nixos.ldcache"))
        #expect(try Self.runProblem(withNote, LargeFixtures.Fixture(name: "", path: withNote, runnable: true, libraryPath: Repo.testBinaries.appendingPathComponent("x86_64").path)) == nil)

        let dropped = directory.appendingPathComponent("dropped").path
        let removed = try Swelf.run(["--set-rpath", "/opt/y", "--output", dropped, withNote])
        #expect(removed.status == 0, "\(removed.stderr.prefix(600))")
        #expect(try ChildProcess.run("readelf", ["-h", dropped]).stdout.contains("Number of section headers:         65279"))
        #expect(!(try ReadelfView(dropped).sectionList.contains(".note.nixos.ldcache")))
        // Section 0's sh_size is 0 again (the gABI: "Otherwise, the sh_size member of the
        // initial entry contains the value zero"), read from the bytes.
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dropped)))
        let shoff = Int(LargeFixtures.u64(bytes, 0x28))
        #expect(LargeFixtures.u64(bytes, shoff + 0x20) == 0)
        #expect(try Self.runProblem(dropped, LargeFixtures.Fixture(name: "", path: dropped, runnable: true, libraryPath: Repo.testBinaries.appendingPathComponent("x86_64").path)) == nil)
    }
}
