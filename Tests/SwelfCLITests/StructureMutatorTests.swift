import Foundation
import Testing

/// The structure-aware mutator of issue 8: for every TestBinaries subject, header and
/// table fields set to boundary values (0, 1, size−1, size, 2³¹, 2³², 2⁶³, 2⁶⁴−1, their
/// neighbours and the neighbours of the current value), and every command run on each
/// result through the real CLI: each print, `show`, `show --json`, `verify`, `ldd`,
/// `doctor`, `portability` and `bundle` with a `--root`, and every edit in place and with
/// `--output`.
///
/// Many files share one process (swelf takes several files per call and goes on after
/// an error; `--output` is given once per file), so the pairs go through the CLI code
/// paths without 100,000 process start-ups. Every call runs under `ulimit -v` 1 GiB and
/// a 10-second limit. A call that dies on a signal, hangs or runs out of memory is split
/// in halves until one file is left; that file is kept under
/// `.build/mutator-failures/` (move it to Tests/Fixtures once fixed). Afterwards every
/// input must be byte-identical to its mutant (rebuilt from subject, field and value),
/// and an in-place edit that failed must have left its copy untouched.
///
/// SWELF_MUTATOR_FILES (default 2400, about 108,000 pairs) and SWELF_MUTATOR_SEED scale
/// and vary the run.
@Suite struct StructureMutatorTests {
    /// The swelf the mutants go through: the one LargeInputTests runs, the release build
    /// users run when scripts/test names it (`$SWELF_LARGE_INPUT_BINARY`), else the debug
    /// build. Both keep Swift's overflow and bounds traps (the sources have no `assert`,
    /// the one check a release build drops), so a trap is found by either; the release
    /// build starts and reads a file 4-5 times faster, and these 8,300 calls were the
    /// Swift Testing run's largest share of the machine (435 s on two workers, and 254 s
    /// for the 171 calls on the large fixtures).
    static let binary: String? = LargeInputTests.binary
    static let defaultFiles = 2400
    static let memoryLimitKiB = 1_048_576
    static let secondsPerCall = 10
    static let batchSize = 40

    struct Mutant: Sendable {
        let subject: String
        let field: String
        let offset: Int
        let width: Int
        let value: UInt64
        let path: String
    }

    /// One command: its arguments for a batch of (input, scratch output) paths.
    struct Command: Sendable {
        let name: String
        /// One file per call (doctor: its exit status is one file's verdict).
        var single = false
        /// The edit rewrites its files: it runs on copies.
        var inPlace = false
        let arguments: @Sendable (_ files: [String], _ outputs: [String]) -> [String]
    }

    struct Failure: CustomStringConvertible {
        let command: String
        let mutant: String
        let what: String
        var description: String { "\(command) on \(mutant): \(what)" }
    }

    final class Tally: @unchecked Sendable {
        let lock = NSLock()
        var pairs = 0
        var calls = 0
        var failures: [Failure] = []
        func add(pairs: Int, calls: Int) { lock.withLock { self.pairs += pairs; self.calls += calls } }
        func fail(_ failure: Failure) { lock.withLock { failures.append(failure) } }
    }

    static func commands(root: String, map: String) -> [Command] {
        var list: [Command] = []
        for print in ["--print-interpreter", "--print-os-abi", "--print-soname", "--print-rpath", "--print-needed", "--print-execstack"] {
            list.append(Command(name: print) { files, _ in [print] + files })
        }
        list.append(Command(name: "show") { files, _ in ["show"] + files })
        list.append(Command(name: "show --json") { files, _ in ["show", "--json"] + files })
        list.append(Command(name: "verify") { files, _ in ["verify"] + files })
        list.append(Command(name: "ldd --root") { files, _ in ["ldd", "--root", root] + files })
        list.append(Command(name: "ldd --root --tree") { files, _ in ["ldd", "--root", root, "--tree"] + files })
        list.append(Command(name: "ldd --root --json") { files, _ in ["ldd", "--root", root, "--json"] + files })
        list.append(Command(name: "doctor --root", single: true) { files, _ in ["doctor", "--root", root, "--json"] + files })
        list.append(Command(name: "portability --root --json") { files, _ in ["portability", "--root", root, "--json"] + files })
        list.append(Command(name: "portability --floor") { files, _ in ["portability", "--floor", "glibc=2.17", "--root", root] + files })
        // One program per bundle: it writes the program and its libraries into a new directory.
        list.append(Command(name: "bundle --root", single: true) { files, outputs in
            ["bundle", "--output", outputs[0] + ".bundle", "--root", root, "--json"] + files
        })
        let edits: [[String]] = [
            ["--set-interpreter", "/lib/ld-mutant-with-a-longer-name.so.2"], ["--set-soname", "libmutant.so.3"],
            ["--set-rpath", "/opt/mutant/lib"], ["--add-rpath", "/opt/mutant/more"], ["--remove-rpath"], ["--shrink-rpath"],
            ["--force-rpath", "--set-rpath", "/opt/forced"], ["--add-needed", "libmutant-extra.so"],
            ["--remove-needed", "libc.so.6"], ["--replace-needed", "libc.so.6", "libc-mutant.so.6"], ["--no-default-lib"],
            ["--set-os-abi", "linux"], ["--set-execstack"], ["--clear-execstack"], ["--add-debug-tag"],
            ["--clear-symbol-version", "puts"], ["--rename-dynamic-symbols", map],
        ]
        for edit in edits {
            let name = edit.joined(separator: " ")
            list.append(Command(name: name, inPlace: true) { files, _ in edit + files })
            list.append(Command(name: name + " --output") { files, outputs in
                edit + zip(files, outputs).flatMap { ["--output", $1, $0] }
            })
        }
        return list
    }

    /// One call under the limits; nil when it stayed within them (exit 0 or 1, lines on
    /// stderr each starting with "swelf: "), else what went wrong.
    static func call(_ arguments: [String], seconds: Int = secondsPerCall, memoryKiB: Int = memoryLimitKiB,
                     binary: String? = StructureMutatorTests.binary) throws -> (problem: String?, stderr: String) {
        guard let swelf = binary else { throw Swelf.NotBuilt() }
        let script = "ulimit -v \(memoryKiB); exec timeout -s KILL \(seconds) \"$0\" \"$@\""
        let result = try ChildProcess.run("/bin/bash", ["-c", script, swelf] + arguments)
        switch result.status {
        case 0, 1: break
        case 124, 128 + 9: return ("no result within \(seconds) s (hang?)", result.stderr)
        default: return ("exit \(result.status)\(result.status > 128 ? " (signal \(result.status - 128))" : ""): \(result.stderr.suffix(600))", result.stderr)
        }
        for line in result.stderr.split(separator: "\n") where !line.hasPrefix("swelf: ") {
            return ("stderr line without 'swelf: ': \(line.prefix(300))", result.stderr)
        }
        return (nil, result.stderr)
    }

    static func mutants(target: Int, seed: UInt64, directory: URL) throws -> [Mutant] {
        let subjects = Subject.all
        #expect(subjects.count >= 100, "TestBinaries/manifest.tsv lists \(subjects.count) subjects")
        let perSubject = max(1, (target + subjects.count - 1) / subjects.count)
        var result: [Mutant] = []
        for (subjectIndex, subject) in subjects.enumerated() {
            let editor = ELFFieldEditor(try subject.contents())
            // Every (field, value) pair, grouped by kind of field (e_phoff, p_filesz, d_val, ...),
            // then taken round-robin over the kinds so that each subject's share covers them.
            var byKind: [String: [(ELFFieldEditor.Field, UInt64)]] = [:]
            for field in editor.mutableFields {
                let kind = String(field.name.prefix { $0 != "[" })
                for value in editor.boundaryValues(for: field) { byKind[kind, default: []].append((field, value)) }
            }
            var rng = SplitMix64(seed: seed ^ UInt64(subjectIndex) &* 0x9e37_79b9_7f4a_7c15)
            var kinds = byKind.keys.sorted().map { byKind[$0]!.shuffled(using: &rng) }
            var chosen: [(ELFFieldEditor.Field, UInt64)] = []
            while chosen.count < perSubject && kinds.contains(where: { !$0.isEmpty }) {
                for index in kinds.indices.shuffled(using: &rng) where chosen.count < perSubject {
                    if let pick = kinds[index].popLast() { chosen.append(pick) }
                }
            }
            for (field, value) in chosen {
                var mutant = editor
                mutant.set(field, value)
                let name = "\(result.count)-\(subject.path.replacingOccurrences(of: "/", with: "_"))-\(field.name)=\(hexString(value))"
                    .replacingOccurrences(of: "[", with: "_").replacingOccurrences(of: "]", with: "")
                let url = directory.appendingPathComponent(name)
                try Data(mutant.bytes).write(to: url)
                chmod(url.path, 0o755)
                result.append(Mutant(subject: subject.path, field: field.name, offset: field.offset, width: field.width, value: value, path: url.path))
            }
        }
        return result
    }

    /// The mutant's bytes, rebuilt from its subject: what the input file must still hold.
    static func expectedBytes(_ mutant: Mutant, cache: inout [String: ELFFieldEditor]) throws -> [UInt8] {
        if cache[mutant.subject] == nil { cache[mutant.subject] = try ELFFieldEditor(subject: mutant.subject) }
        var editor = cache[mutant.subject]!
        editor.put(mutant.offset, mutant.width, mutant.value)
        return editor.bytes
    }

    /// Runs `command` on `batch`, splitting it on failure until one file is left.
    static func run(_ command: Command, _ batch: [Mutant], scratch: URL, tally: Tally) throws {
        let work = scratch.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        var files = batch.map(\.path)
        if command.inPlace {
            files = try batch.enumerated().map { index, mutant in
                let copy = work.appendingPathComponent("\(index)-in-place").path
                try FileManager.default.copyItem(atPath: mutant.path, toPath: copy)
                return copy
            }
        }
        let outputs = batch.indices.map { work.appendingPathComponent("\($0)-output").path }
        let (problem, stderr) = try call(command.arguments(files, outputs))
        tally.add(pairs: problem == nil ? batch.count : 0, calls: 1)
        if let problem {
            if batch.count == 1 {
                keep(batch[0])
                tally.fail(Failure(command: command.name, mutant: URL(fileURLWithPath: batch[0].path).lastPathComponent, what: problem))
            } else {
                try run(command, Array(batch[..<(batch.count / 2)]), scratch: scratch, tally: tally)
                try run(command, Array(batch[(batch.count / 2)...]), scratch: scratch, tally: tally)
            }
            return
        }
        if command.inPlace {
            // A file the edit failed on is left exactly as it was.
            var cache: [String: ELFFieldEditor] = [:]
            // A failure is a line "swelf: FILE: reason"; "swelf: FILE: warning: ..." is an edit
            // that was made (a mutated e_shnum leaves bytes after the image: an overlay, kept).
            let failed = Set(stderr.split(separator: "\n").compactMap { line -> Substring? in
                guard line.hasPrefix("swelf: "), !line.contains(": warning: ") else { return nil }
                return line
            })
            for (mutant, copy) in zip(batch, files) where failed.contains(where: { $0.hasPrefix("swelf: \(copy): ") }) {
                if try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy))) != expectedBytes(mutant, cache: &cache) {
                    tally.fail(Failure(command: command.name, mutant: URL(fileURLWithPath: mutant.path).lastPathComponent,
                                       what: "the edit failed but changed the file"))
                }
            }
        }
    }

    static func keep(_ mutant: Mutant) {
        let directory = Repo.root.appendingPathComponent(".build/mutator-failures")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let target = directory.appendingPathComponent(URL(fileURLWithPath: mutant.path).lastPathComponent)
        try? FileManager.default.removeItem(at: target)
        try? FileManager.default.copyItem(atPath: mutant.path, toPath: target.path)
    }

    @Test func everyCommandOnBoundaryValues() throws {
        let environment = ProcessInfo.processInfo.environment
        let target = environment["SWELF_MUTATOR_FILES"].flatMap(Int.init) ?? StructureMutatorTests.defaultFiles
        let seed = environment["SWELF_MUTATOR_SEED"].flatMap(UInt64.init) ?? 8
        let started = Date()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-mutator-\(UUID().uuidString)")
        let inputs = scratch.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        // A root for doctor and ldd: the x86_64 libraries in its system directories.
        let root = scratch.appendingPathComponent("root")
        for directory in ["lib64", "usr/lib", "lib/x86_64-linux-gnu", "etc"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for library in ["libgreet.so.1", "libver.so.1", "libctor.so", "libunused.so"] {
            try FileManager.default.copyItem(at: Repo.testBinaries.appendingPathComponent("x86_64/\(library)"),
                                             to: root.appendingPathComponent("usr/lib/\(library)"))
        }
        let map = scratch.appendingPathComponent("rename.map")
        try Data("puts mutant_puts\ngreet mutant_greet\nver_new mutant_ver_new\n".utf8).write(to: map)

        let mutants = try StructureMutatorTests.mutants(target: target, seed: seed, directory: inputs)
        let commands = StructureMutatorTests.commands(root: root.path, map: map.path)
        let generated = Date()

        // (command, batch) jobs for two workers.
        var jobList: [(Command, [Mutant])] = []
        for command in commands {
            let size = command.single ? 1 : StructureMutatorTests.batchSize
            for start in stride(from: 0, to: mutants.count, by: size) {
                jobList.append((command, Array(mutants[start ..< min(start + size, mutants.count)])))
            }
        }
        let jobs = jobList
        let tally = Tally()
        let next = NSLock()
        nonisolated(unsafe) var position = 0
        nonisolated(unsafe) var errors: [Error] = []
        let work = scratch.appendingPathComponent("work")
        DispatchQueue.concurrentPerform(iterations: 2) { _ in
            while true {
                let index: Int = next.withLock { defer { position += 1 }; return position }
                guard index < jobs.count else { return }
                do {
                    try StructureMutatorTests.run(jobs[index].0, jobs[index].1, scratch: work, tally: tally)
                } catch {
                    next.withLock { errors.append(error) }
                }
            }
        }
        #expect(errors.isEmpty, "\(errors.prefix(3))")

        // Inputs unchanged.
        var cache: [String: ELFFieldEditor] = [:]
        var modified: [String] = []
        for mutant in mutants where try [UInt8](Data(contentsOf: URL(fileURLWithPath: mutant.path))) != StructureMutatorTests.expectedBytes(mutant, cache: &cache) {
            modified.append(URL(fileURLWithPath: mutant.path).lastPathComponent)
        }

        let seconds = Date().timeIntervalSince(started)
        print("structure mutator: \(mutants.count) files from \(Subject.all.count) subjects x \(commands.count) commands: "
              + "\(tally.pairs) (file, command) pairs in \(tally.calls) calls of \(StructureMutatorTests.binary ?? "?"), \(tally.failures.count) failures, "
              + "\(modified.count) modified inputs; \(Int(seconds)) s (\(Int(generated.timeIntervalSince(started))) s generating), seed \(seed)")
        for failure in tally.failures.prefix(40) { print("structure mutator failure: \(failure)") }
        #expect(tally.failures.isEmpty, "\(tally.failures.count) failures; first: \(tally.failures.prefix(5)); inputs kept in .build/mutator-failures")
        #expect(modified.isEmpty, "inputs modified: \(modified.prefix(10))")
        if target >= StructureMutatorTests.defaultFiles {
            #expect(tally.pairs >= 100_000, "only \(tally.pairs) pairs")
        }
    }

    /// The large fixtures of issue 17 (`LargeFixtures`, not the sparse 4 GiB one: its
    /// copies would cost 4 GiB each) through the same mutator, with few mutants and the
    /// commands that do not rewrite in place, so the run stays within minutes in a debug
    /// build: the ELF header, every program header, the dynamic entries, the hash and
    /// version counts, and section 0's fields, which carry the counts of extended
    /// numbering (sh_size, sh_link, sh_info). SWELF_MUTATOR_LARGE_FILES (default 3 per
    /// fixture) scales it. ldd, doctor and portability run once per fixture in
    /// LargeInputTests, not here: on 10,000 DT_NEEDED entries they take 45-75 s each in a
    /// debug build (every name searched for in every directory), more than two minutes on
    /// some mutants of a loaded machine.
    @Test func largeFixturesOnBoundaryValues() throws {
        let environment = ProcessInfo.processInfo.environment
        let perFixture = environment["SWELF_MUTATOR_LARGE_FILES"].flatMap(Int.init) ?? 3
        let seed = environment["SWELF_MUTATOR_SEED"].flatMap(UInt64.init) ?? 8
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-mutator-large-\(UUID().uuidString)")
        let inputs = scratch.appendingPathComponent("inputs")
        try FileManager.default.createDirectory(at: inputs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("usr/lib"), withIntermediateDirectories: true)
        let map = scratch.appendingPathComponent("rename.map")
        try Data("puts mutant_puts\nf99999 mutant_f99999\n".utf8).write(to: map)

        var mutants: [Mutant] = []
        var written: [String: [UInt8]] = [:]
        for fixture in [try LargeFixtures.sections70k(), try LargeFixtures.symbols100k(), try LargeFixtures.needed10k()] {
            let editor = ELFFieldEditor([UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture.path))))
            var fields = editor.headerFields + editor.hashCountFields + editor.versionNeedFields
            for base in editor.programHeaderOffsets {
                fields += ["p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_align"].map { editor.programHeaderField(base, $0) }
            }
            for entry in editor.dynamicEntryOffsets.prefix(64) { fields += [editor.dynamicTagField(entry), editor.dynamicValueField(entry)] }
            let section0 = Int(clamping: editor.get(editor.header("e_shoff")))
            var preferred: [ELFFieldEditor.Field] = []
            if section0 > 0 {
                // e_shnum 0: the count is in section 0 (ELFFieldEditor's own list stops at e_shnum).
                preferred = ["sh_size", "sh_link", "sh_info"].map { editor.sectionHeaderField(section0, $0) }
            }
            var rng = SplitMix64(seed: seed ^ UInt64(mutants.count))
            var pairs = fields.shuffled(using: &rng).flatMap { field in editor.boundaryValues(for: field).map { (field, $0) } }
            pairs.shuffle(using: &rng)
            let extended = editor.get(editor.header("e_shnum")) == 0
            let chosen = (extended ? preferred.map { ($0, editor.boundaryValues(for: $0).shuffled(using: &rng)[0]) } : []) + pairs
            for (field, value) in chosen.prefix(perFixture) {
                var mutant = editor
                mutant.set(field, value)
                let url = inputs.appendingPathComponent("\(mutants.count)-\(fixture.name)-\(field.name)=\(hexString(value))"
                    .replacingOccurrences(of: "[", with: "_").replacingOccurrences(of: "]", with: ""))
                try Data(mutant.bytes).write(to: url)
                chmod(url.path, 0o755)
                written[url.path] = mutant.bytes
                mutants.append(Mutant(subject: fixture.name, field: field.name, offset: field.offset, width: field.width, value: value, path: url.path))
            }
        }
        let commands = StructureMutatorTests.commands(root: root.path, map: map.path).filter { command in
            !command.inPlace && !["bundle", "ldd", "doctor", "portability"].contains { command.name.hasPrefix($0) }
                && !["--remove-rpath", "--shrink-rpath", "--no-default-lib", "--set-execstack", "--add-debug-tag", "--force-rpath", "--add-rpath"]
                    .contains { command.name.hasPrefix($0) }
        }
        let started = Date()
        var failures: [String] = []
        let work = scratch.appendingPathComponent("work")
        for command in commands {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            for mutant in mutants {
                let output = work.appendingPathComponent("output").path
                let (problem, _) = try StructureMutatorTests.call(command.arguments([mutant.path], [output]), seconds: 120, memoryKiB: 4 << 20)
                if let problem {
                    StructureMutatorTests.keep(mutant)
                    failures.append("\(command.name) on \(URL(fileURLWithPath: mutant.path).lastPathComponent): \(problem)")
                }
            }
            try? FileManager.default.removeItem(at: work)
        }
        let modified = try mutants.filter { try [UInt8](Data(contentsOf: URL(fileURLWithPath: $0.path))) != written[$0.path] }
        print("structure mutator, large fixtures: \(mutants.count) files x \(commands.count) commands of \(StructureMutatorTests.binary ?? "?"), \(failures.count) failures, "
              + "\(modified.count) modified inputs; \(Int(Date().timeIntervalSince(started))) s")
        #expect(failures.isEmpty, "\(failures.prefix(10).joined(separator: "\n"))")
        #expect(modified.isEmpty)
        #expect(mutants.count == 3 * perFixture)
    }

    /// `--output` once per input file pairs them in order; a count that matches neither
    /// one nor the number of files is a usage error.
    @Test func outputOncePerInputFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-outputs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let a = Repo.testBinaries.appendingPathComponent("x86_64/hello").path
        let b = Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1").path
        let outA = directory.appendingPathComponent("a").path, outB = directory.appendingPathComponent("b").path
        let before = try [Data(contentsOf: URL(fileURLWithPath: a)), Data(contentsOf: URL(fileURLWithPath: b))]
        let result = try Swelf.run(["--set-rpath", "/paired", "--output", outA, a, "--output", outB, b])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Swelf.run(["--print-rpath", outA, outB]).stdout == "/paired\n/paired\n")
        #expect(try Swelf.run(["--print-soname", outB]).stdout == "libgreet.so.1\n")  // b's result, not a's
        #expect(try Swelf.run(["--print-needed", outA]).stdout.contains("libgreet.so.1"))
        #expect(try [Data(contentsOf: URL(fileURLWithPath: a)), Data(contentsOf: URL(fileURLWithPath: b))] == before)
        let mismatch = try Swelf.run(["--set-rpath", "/x", "--output", outA, a, b])
        #expect(mismatch.status == 64)
    }
}
