import Foundation
import Testing

/// `swelf portability` against an oracle that shares no code with it: binutils
/// `readelf -V` (version needs and definitions) and `readelf --dyn-syms` (each undefined
/// symbol's `@VERSION`), parsed here, with this file's own version order and its own
/// list of glibc's libraries.
@Suite(.serialized) struct PortabilityTests {
    // MARK: The oracle

    /// `2.10` > `2.9`: number by number, a missing number counting as 0.
    static func numbers(_ text: some StringProtocol) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        return parts.isEmpty || parts.contains(nil) ? nil : parts.map { $0! }
    }

    static func newer(_ a: [Int], than b: [Int]) -> Bool {
        for index in 0 ..< max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0, y = index < b.count ? b[index] : 0
            if x != y { return x > y }
        }
        return false
    }

    /// glibc's libraries and loaders, as this test knows them.
    static func isGlibc(_ file: String) -> Bool {
        ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1", "libanl.so.1",
         "libnsl.so.1", "libmvec.so.1", "libthread_db.so.1", "libc_malloc_debug.so.0", "libBrokenLocale.so.1"].contains(file)
            || file.hasPrefix("libnss_") || file.hasPrefix("ld-linux") || file.hasPrefix("ld64.so.") || file.hasPrefix("ld.so.")
    }

    /// `readelf -V -W`: the version needs as (file, name) and the definitions' names
    /// (BASE excluded). Empty without section headers (readelf prints nothing then).
    static func readelfVersions(_ path: String) throws -> (needs: [(file: String, name: String)], definitions: [String]) {
        let result = try ChildProcess.run("readelf", ["-V", "-W", path])
        var needs: [(String, String)] = []
        var definitions: [String] = []
        var section = "", file = ""
        for line in result.stdout.split(separator: "\n") {
            if line.hasPrefix("Version needs section") { section = "needs"; continue }
            if line.hasPrefix("Version definition section") { section = "definitions"; continue }
            if line.hasPrefix("Version symbols section") { section = ""; continue }
            if section == "needs" {
                if let match = line.firstMatch(of: /File: (\S+)\s+Cnt:/) { file = String(match.1) }
                else if let match = line.firstMatch(of: /Name: (\S+)\s+Flags:/) { needs.append((file, String(match.1))) }
            } else if section == "definitions", let match = line.firstMatch(of: /Flags: (\S+)\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)/) {
                if match.1 != "BASE" { definitions.append(String(match.2)) }
            }
        }
        return (needs, definitions)
    }

    /// The newest `GLIBC_x.y` a file needs of glibc's libraries, by readelf.
    static func newestGlibc(_ needs: [(file: String, name: String)]) -> [Int]? {
        var best: [Int]?
        for need in needs where isGlibc(need.file) && need.name.hasPrefix("GLIBC_") {
            guard let version = numbers(need.name.dropFirst(6)) else { continue }
            if best == nil || newer(version, than: best!) { best = version }
        }
        return best
    }

    static func document(_ arguments: [String]) throws -> (status: Int32, json: [String: Any], stdout: String) {
        let result = try Swelf.run(["portability", "--json", "--env", "LD_LIBRARY_PATH="] + arguments)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any], "\(result.stdout) \(result.stderr)")
        return (result.status, json, result.stdout)
    }

    static func floor(_ json: [String: Any], machine: String, component: String) -> String? {
        let platforms = json["platforms"] as? [[String: Any]] ?? []
        let platform = platforms.first { $0["machine"] as? String == machine }
        let floors = platform?["floors"] as? [[String: Any]] ?? []
        return floors.first { $0["component"] as? String == component }?["release"] as? String
    }

    // MARK: /usr/bin

    /// Every program in /usr/bin: the same files, each file's newest GLIBC_ need and
    /// every (library, version) need equal to readelf's, and the floor is the newest of
    /// them all (or x86_64's baseline).
    @Test func usrBinAgreesWithReadelf() throws {
        let (status, json, _) = try Self.document(["/usr/bin"])
        #expect(status == 0)
        let files = json["files"] as? [[String: Any]] ?? []
        let inputs = Set(files.filter { $0["input"] as? Bool == true }.compactMap { $0["file"] as? String })

        // The ELF files under /usr/bin, found here: regular files (not links) starting \x7fELF.
        var expected = Set<String>()
        let manager = FileManager.default
        for name in try manager.subpathsOfDirectory(atPath: "/usr/bin") {
            let path = "/usr/bin/" + name
            guard let type = try? manager.attributesOfItem(atPath: path)[.type] as? FileAttributeType, type == .typeRegular,
                  let handle = FileHandle(forReadingAtPath: path) else { continue }
            let magic = try handle.read(upToCount: 4) ?? Data()
            try handle.close()
            if magic == Data([0x7f, 0x45, 0x4c, 0x46]) { expected.insert(path) }
        }
        #expect(inputs == expected, "only swelf: \(inputs.subtracting(expected).sorted().prefix(5)); only here: \(expected.subtracting(inputs).sorted().prefix(5))")
        #expect(inputs.count > 100, "\(inputs.count) programs")

        // Requirements per file, as swelf reports them.
        var reported: [String: Set<String>] = [:]
        for use in json["requirements"] as? [[String: Any]] ?? [] {
            guard let file = use["required_by"] as? String, let library = use["library"] as? String,
                  let version = use["version"] as? String else { continue }
            reported[file, default: []].insert(library + " " + version)
        }
        var overall: [Int] = [2, 2, 5]
        var compared = 0
        var privateUsers = Set<String>()
        for path in files.compactMap({ $0["file"] as? String }) {
            let needs = try Self.readelfVersions(path).needs
            let system = needs.filter { Self.isGlibc($0.file) || $0.file.hasPrefix("libstdc++.so.") || $0.file.hasPrefix("libgcc_s.so.") }
            #expect(Set(system.map { $0.file + " " + $0.name }) == reported[path] ?? [], "\(path)")
            let mine = (reported[path] ?? []).compactMap { entry -> [Int]? in
                let parts = entry.split(separator: " ")
                guard Self.isGlibc(String(parts[0])), parts[1].hasPrefix("GLIBC_") else { return nil }
                return Self.numbers(parts[1].dropFirst(6))
            }.reduce(nil as [Int]?) { best, next in best.map { Self.newer(next, than: $0) ? next : $0 } ?? next }
            let theirs = Self.newestGlibc(needs)
            #expect(mine == theirs, "\(path): swelf \(mine ?? []), readelf \(theirs ?? [])")
            if let theirs, Self.newer(theirs, than: overall) { overall = theirs }
            if needs.contains(where: { $0.name == "GLIBC_PRIVATE" }) { privateUsers.insert(path) }
            compared += 1
        }
        // GLIBC_ABI_DT_RELR would lift the floor to 2.36; readelf shows it as a need too.
        let relr = files.compactMap { $0["file"] as? String }.contains { path in
            (reported[path] ?? []).contains { $0.hasSuffix(" GLIBC_ABI_DT_RELR") }
        }
        if relr && Self.newer([2, 36], than: overall) { overall = [2, 36] }
        let floor = Self.floor(json, machine: "x86_64", component: "glibc")
        #expect(floor == overall.map(String.init).joined(separator: "."), "readelf says \(overall), \(compared) files compared")
        let notes = (json["notes"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        for path in privateUsers {
            #expect(notes.contains { $0.hasPrefix(path + " requires GLIBC_PRIVATE") }, "\(path)")
        }
    }

    // MARK: Across architectures

    static let architectures: [(directory: String, machine: String, libc: String)] = [
        ("x86_64", "x86_64", "/lib/x86_64-linux-gnu/libc.so.6"),
        ("i386", "i386", "/usr/i686-linux-gnu/lib/libc.so.6"),
        ("aarch64", "aarch64", "/usr/aarch64-linux-gnu/lib/libc.so.6"),
        ("armhf", "armhf", "/usr/arm-linux-gnueabihf/lib/libc.so.6"),
        ("riscv64", "riscv64", "/usr/riscv64-linux-gnu/lib/libc.so.6"),
        ("s390x", "s390x", "/usr/s390x-linux-gnu/lib/libc.so.6"),
        ("ppc64", "ppc64", "/usr/powerpc64-linux-gnu/lib/libc.so.6"),
        ("mips", "mips", "/usr/mips-linux-gnu/lib/libc.so.6"),
    ]

    /// Each architecture's test programs: the glibc floor is the newest GLIBC_ need
    /// readelf finds, or the oldest version node of that architecture's own libc.so.6
    /// (the cross sysroot's), whichever is newer; aarch64's is at least 2.17.
    @Test(arguments: architectures.map(\.directory))
    func testBinariesFloorPerArchitecture(directory: String) throws {
        let architecture = try #require(Self.architectures.first { $0.directory == directory })
        let folder = Repo.testBinaries.appendingPathComponent(directory).path
        let (status, json, _) = try Self.document([folder])
        #expect(status == 0)
        let definitions = try Self.readelfVersions(architecture.libc).definitions
        let baseline = try #require(definitions.filter { $0.hasPrefix("GLIBC_") }.compactMap { Self.numbers($0.dropFirst(6)) }
            .min { Self.newer($1, than: $0) }, "no GLIBC_ definitions in \(architecture.libc)")
        var expected = baseline
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let needs = try Self.readelfVersions(folder + "/" + name).needs
            if let newest = Self.newestGlibc(needs), Self.newer(newest, than: expected) { expected = newest }
            // GLIBC_ABI_DT_RELR (ld's mark on a -z pack-relative-relocs output) is defined by
            // glibc from 2.36 on, the first release whose loader reads DT_RELR.
            if needs.contains(where: { Self.isGlibc($0.file) && $0.name == "GLIBC_ABI_DT_RELR" }), Self.newer([2, 36], than: expected) {
                expected = [2, 36]
            }
        }
        let platforms = json["platforms"] as? [[String: Any]] ?? []
        #expect(platforms.map { $0["machine"] as? String } == [architecture.machine])
        #expect(platforms.first?["glibc_baseline"] as? String == baseline.map(String.init).joined(separator: "."))
        let floor = try #require(Self.floor(json, machine: architecture.machine, component: "glibc"))
        #expect(floor == expected.map(String.init).joined(separator: "."), "readelf: \(expected)")
        if directory == "aarch64" { #expect(!Self.newer([2, 17], than: Self.numbers(floor) ?? [])) }
    }

    /// Static programs need no libc, a static Go program is said to be one, a cgo
    /// program is a glibc program, and a musl program has no glibc floor (the manifest
    /// gives each subject's kind).
    @Test func staticGoAndMusl() throws {
        let (_, json, _) = try Self.document([Repo.testBinaries.appendingPathComponent("x86_64").path])
        let files = json["files"] as? [[String: Any]] ?? []
        func entry(_ name: String) -> [String: Any]? { files.first { ($0["file"] as? String)?.hasSuffix("/x86_64/" + name) == true } }
        for name in ["static", "static-pie", "go-nocgo"] {
            #expect(entry(name)?["libc"] as? String == "none", "\(name)")
        }
        #expect(entry("go-nocgo")?["go"] as? Bool == true)
        #expect(entry("go-cgo")?["libc"] as? String == "glibc")
        #expect(entry("go-cgo")?["cgo"] as? Bool == true)
        #expect(entry("hello-musl")?["libc"] as? String == "musl")
        #expect(entry("hello")?["libc"] as? String == "glibc")
        let notes = (json["notes"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(notes.contains { $0.hasSuffix("/go-nocgo: a Go program built without cgo, statically linked: it needs no libc") })
        #expect(notes.contains { $0.hasSuffix("/go-cgo: a Go program using cgo: its floor comes from its libc references") })
        // go-cgo's own libc references are counted.
        let uses = (json["requirements"] as? [[String: Any]] ?? []).filter { ($0["required_by"] as? String)?.hasSuffix("/go-cgo") == true }
        #expect(!uses.isEmpty)
    }

    // MARK: Everything they load

    /// A program needing GLIBC_2.34 (its start-up code) whose private library, found
    /// through `$ORIGIN`, needs arc4random@GLIBC_2.36: the library sets the floor and is
    /// named; glibc's own libraries are loaded but not counted. Built here for x86_64
    /// and, with the cross compiler, for aarch64 (analysed under `--root` of its sysroot).
    @Test(arguments: [("gcc", "x86_64", nil), ("aarch64-linux-gnu-gcc", "aarch64", "/usr/aarch64-linux-gnu")] as [(String, String, String?)])
    func privateLibrarySetsTheFloor(compiler: String, machine: String, root: String?) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-portability-\(machine)-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let base = directory.path
        try "#include <stdlib.h>\nunsigned priv_random(void) { return arc4random(); }\n".write(toFile: base + "/priv.c", atomically: true, encoding: .utf8)
        try "#include <stdio.h>\nunsigned priv_random(void);\nint main(void) { printf(\"%u\\n\", priv_random() & 0); return 0; }\n"
            .write(toFile: base + "/main.c", atomically: true, encoding: .utf8)
        let library = try ChildProcess.run(compiler, ["-shared", "-fPIC", "-Wl,-soname,libpriv.so.1", base + "/priv.c", "-o", base + "/libpriv.so.1"])
        try #require(library.status == 0, "\(library.stderr)")
        let program = try ChildProcess.run(compiler, [base + "/main.c", "-o", base + "/app", "-L" + base, "-l:libpriv.so.1", "-Wl,-rpath,$ORIGIN"])
        try #require(program.status == 0, "\(program.stderr)")
        // The oracle: readelf's needs of each file.
        let libraryNewest = try #require(Self.newestGlibc(try Self.readelfVersions(base + "/libpriv.so.1").needs))
        let programNewest = try #require(Self.newestGlibc(try Self.readelfVersions(base + "/app").needs))
        try #require(Self.newer(libraryNewest, than: programNewest), "the library should need more than the program")

        let (status, json, _) = try Self.document((root.map { ["--root", $0] } ?? []) + [base + "/app"])
        #expect(status == 0)
        let files = json["files"] as? [[String: Any]] ?? []
        let libraryEntry = files.first { ($0["file"] as? String)?.hasSuffix("/libpriv.so.1") == true }
        #expect(libraryEntry?["input"] as? Bool == false, "\(files)")
        #expect(Self.floor(json, machine: machine, component: "glibc") == libraryNewest.map(String.init).joined(separator: "."))
        let platform = (json["platforms"] as? [[String: Any]])?.first
        let glibcFloor = (platform?["floors"] as? [[String: Any]])?.first { $0["component"] as? String == "glibc" }
        #expect((glibcFloor?["required_by"] as? String)?.hasSuffix("/libpriv.so.1") == true)
        #expect(glibcFloor?["symbol"] as? String == "arc4random")
        // Nothing counted from glibc's own files.
        let requirers = Set((json["requirements"] as? [[String: Any]] ?? []).compactMap { $0["required_by"] as? String })
        #expect(requirers.allSatisfy { $0.hasPrefix(base + "/") }, "\(requirers)")

        let gate = try Swelf.run(["portability", "--env", "LD_LIBRARY_PATH="] + (root.map { ["--root", $0] } ?? [])
                                 + ["--floor", "glibc=2.35", base + "/app"])
        #expect(gate.status == 1)
        #expect(gate.stdout.contains("  arc4random@GLIBC_2.36 of libc.so.6 in \(base)/libpriv.so.1: newer than glibc 2.35"), "\(gate.stdout)")
        if machine == "x86_64" {
            #expect(try ChildProcess.run(base + "/app", []).stdout == "0\n")   // it does run here (glibc 2.36)
        }
    }

    /// Every undefined `symbol@version` on a system library, as swelf binds them, equals
    /// readelf's `--dyn-syms` list: on `hello` and `hello-nogh` (no .gnu.hash: the count
    /// from .hash) of each architecture, and on `hello-noshdr` (no section headers: the
    /// count from the hash tables alone), judged by readelf on `hello`, which it was made
    /// from. A missing subject is a failure (run scripts/build-test-binaries), except
    /// mips/hello-nogh, which is not built: MIPS links with DT_HASH only, so mips/hello is
    /// itself the program without .gnu.hash (checked here).
    @Test(arguments: architectures.map(\.directory))
    func symbolsMatchReadelfDynSyms(directory: String) throws {
        let folder = Repo.testBinaries.appendingPathComponent(directory).path
        var compared = 0
        for (subject, judgedBy) in [("hello", "hello"), ("hello-nogh", "hello-nogh"), ("hello-noshdr", "hello")] {
            let path = folder + "/" + subject
            guard FileManager.default.fileExists(atPath: path) else {
                let byDesign = directory == "mips" && subject == "hello-nogh"
                #expect(byDesign, "\(directory)/\(subject) is missing: run scripts/build-test-binaries")
                if byDesign {
                    let dynamic = try ChildProcess.run("readelf", ["-dW", folder + "/hello"]).stdout
                    #expect(dynamic.contains("(HASH)") && !dynamic.contains("(GNU_HASH)"),
                            "mips/hello has a .gnu.hash: mips/hello-nogh is then a case of its own (scripts/build-test-binaries)")
                }
                continue
            }
            compared += 1
            let (_, json, _) = try Self.document([path])
            var mine = Set<String>()
            for use in json["requirements"] as? [[String: Any]] ?? [] where use["required_by"] as? String == path {
                for symbol in use["symbols"] as? [String] ?? [] { mine.insert(symbol + "@" + (use["version"] as? String ?? "")) }
            }
            let system = Set(try Self.readelfVersions(folder + "/" + judgedBy).needs.filter {
                Self.isGlibc($0.file) || $0.file.hasPrefix("libstdc++.so.") || $0.file.hasPrefix("libgcc_s.so.")
            }.map(\.name))
            let theirs = Set(try Self.undefinedVersioned(folder + "/" + judgedBy).filter { symbol in
                system.contains(String(symbol.split(separator: "@").last ?? ""))
            })
            #expect(!theirs.isEmpty, "\(directory)/\(judgedBy)")
            #expect(mine == theirs, "\(directory)/\(subject)")
        }
        #expect(compared == (directory == "mips" ? 2 : 3), "\(directory): \(compared) subjects compared")
    }

    /// The floor is exactly what the program needs of glibc, by the real loader: a root
    /// whose glibc lacks every version newer than the floor (renamed in copies of libc.so.6
    /// and ld.so) starts the program, under the real loader and by `doctor --root`;
    /// the same root without the floor version too fails on that version, in both. A
    /// floor reported too low or too high fails one of the two.
    @Test func aRootAtTheFloorRunsAndOneBelowFails() throws {
        let program = "/usr/bin/true"
        let (_, json, _) = try Self.document([program])
        let platform = try #require((json["platforms"] as? [[String: Any]])?.first)
        let glibcFloor = try #require((platform["floors"] as? [[String: Any]])?.first { $0["component"] as? String == "glibc" })
        let version = try #require(glibcFloor["version"] as? String)
        let floor = try #require(Self.numbers(version.dropFirst(6)))
        let libcPath = "/lib/x86_64-linux-gnu/libc.so.6"
        let loaderFile = URL(fileURLWithPath: "/lib64/ld-linux-x86-64.so.2").resolvingSymlinksInPath()
        let defined = try Self.readelfVersions(libcPath).definitions.filter { $0.hasPrefix("GLIBC_") }

        for below in [false, true] {
            // Versions to take away: those newer than the floor, and with `below` the floor too.
            let removed = defined.filter { name in
                guard let numbers = Self.numbers(name.dropFirst(6)) else { return false }
                return Self.newer(numbers, than: floor) || (below && numbers == floor)
            }
            #expect(!below || removed.contains(version))
            let root = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-oldroot-\(below)-\(getpid())")
            defer { try? FileManager.default.removeItem(at: root) }
            for directory in ["lib64", "lib/x86_64-linux-gnu", "usr/bin"] {
                try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
            }
            // Each removed name gets the same length and a distinct last letter, in both
            // libc.so.6 and ld.so (libc requires some of ld.so's versions by these names).
            func strip(_ data: Data) -> Data {
                var data = data
                for (index, name) in removed.enumerated() {
                    let old = Data([0]) + Data(name.utf8) + Data([0])
                    let new = Data([0]) + Data(name.dropLast().utf8) + Data([UInt8(ascii: "a") + UInt8(index % 26)]) + Data([0])
                    while let range = data.range(of: old) { data.replaceSubrange(range, with: new) }
                }
                return data
            }
            let loader = strip(try Data(contentsOf: loaderFile))
            for target in ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"] {
                try loader.write(to: URL(fileURLWithPath: root.path + target))
                chmod(root.path + target, 0o755)
            }
            try strip(try Data(contentsOf: URL(fileURLWithPath: libcPath))).write(to: URL(fileURLWithPath: root.path + "/lib/x86_64-linux-gnu/libc.so.6"))
            try Data(contentsOf: URL(fileURLWithPath: program)).write(to: URL(fileURLWithPath: root.path + "/usr/bin/true"))
            chmod(root.path + "/usr/bin/true", 0o755)
            let inRoot = root.path + "/usr/bin/true"

            let doctor = try Swelf.run(["doctor", "--root", root.path, "--env", "LD_LIBRARY_PATH=", inRoot])
            let run = try ChildProcess.run("env", ["-i", root.path + "/lib64/ld-linux-x86-64.so.2",
                                           "--library-path", root.path + "/lib/x86_64-linux-gnu", inRoot])
            let missing = "version `\(version)' not found"
            if below {
                #expect(doctor.status == 1)
                #expect(doctor.stdout.contains(missing), "\(doctor.stdout)")
                #expect(run.status != 0)
                #expect(run.stderr.contains(missing), "\(run.stderr)")
            } else {
                #expect(doctor.status == 0, "\(doctor.stdout)")
                #expect(run.status == 0, "removed \(removed): \(run.stderr)")
            }
        }
    }

    /// glibc's own files named as inputs are reported but not counted (their
    /// GLIBC_PRIVATE needs are glibc's business); a file named twice, or through a
    /// symbolic link to a library another input loads, is counted once.
    @Test func systemLibrariesAndDuplicatesAreNotCounted() throws {
        let libc = "/lib/x86_64-linux-gnu/libc.so.6"
        let (status, json, _) = try Self.document([libc, "/usr/bin/true", "/usr/bin/true"])
        #expect(status == 0)
        let files = json["files"] as? [[String: Any]] ?? []
        #expect(files.filter { $0["file"] as? String == "/usr/bin/true" }.count == 1)
        let requirers = Set((json["requirements"] as? [[String: Any]] ?? []).compactMap { $0["required_by"] as? String })
        #expect(requirers == ["/usr/bin/true"])
        let notes = (json["notes"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(notes.contains("\(libc): libc.so.6 is a system library: the target's own copy is used, its requirements are not counted"))
        #expect(!notes.contains { $0.contains("GLIBC_PRIVATE") })
    }

    /// A library one input loads, named again as an input through a symbolic link (as a
    /// bundle's `lib/` often is), in either order, is one file: listed once, as an input,
    /// and its requirements are counted once. Files are told apart by device and inode;
    /// by path alone the link would be a second file (sabotaged so, the report listed 4
    /// files and libgreet's GLIBC_2.2.5 twice).
    @Test(arguments: [false, true])
    func libraryNamedAgainThroughALinkIsOneFile(linkFirst: Bool) throws {
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("swelf-portability-link-\(getpid())-\(linkFirst)")
        try manager.createDirectory(at: directory.appendingPathComponent("lib"), withIntermediateDirectories: true)
        try manager.createDirectory(at: directory.appendingPathComponent("other"), withIntermediateDirectories: true)
        defer { try? manager.removeItem(at: directory) }
        for (from, to) in [("x86_64/hello-runpath", "app"), ("x86_64/libgreet.so.1", "lib/libgreet.so.1"),
                           ("x86_64/libunused.so", "lib/libunused.so")] {
            try manager.copyItem(at: Repo.testBinaries.appendingPathComponent(from), to: directory.appendingPathComponent(to))
        }
        let app = directory.appendingPathComponent("app").path
        let link = directory.appendingPathComponent("other/greet.so").path
        try manager.createSymbolicLink(atPath: link, withDestinationPath: "../lib/libgreet.so.1")
        let (status, json, _) = try Self.document(linkFirst ? [link, app] : [app, link])
        #expect(status == 0)
        let files = json["files"] as? [[String: Any]] ?? []
        let greet = files.filter { ($0["file"] as? String).map { $0 == link || $0.hasSuffix("/lib/libgreet.so.1") } ?? false }
        #expect(files.count == 3, "\(files.map { $0["file"] ?? "" })")
        #expect(greet.count == 1)
        #expect(greet.first?["input"] as? Bool == true)
        // libgreet requires GLIBC_2.2.5 of libc.so.6 (readelf -V): one use, by the one entry.
        let greetUses = (json["requirements"] as? [[String: Any]] ?? []).compactMap { $0["required_by"] as? String }
            .filter { $0 == link || $0.hasSuffix("/lib/libgreet.so.1") }
        #expect(greetUses == [greet.first?["file"] as? String ?? "?"])
    }

    // MARK: --floor

    /// `readelf --dyn-syms`: each undefined `symbol@VERSION`.
    static func undefinedVersioned(_ path: String) throws -> [String] {
        let result = try ChildProcess.run("readelf", ["--dyn-syms", "-W", path])
        return result.stdout.split(separator: "\n").compactMap { line in
            guard let match = line.firstMatch(of: /\sUND\s+(\S+@\S+)/) else { return nil }
            return String(match.1)
        }
    }

    /// The gate names exactly the undefined `symbol@version`s beyond the floor that
    /// readelf lists, and exits 1; a floor it meets exits 0.
    @Test func floorGateNamesEachOffendingSymbol() throws {
        let path = Repo.testBinaries.appendingPathComponent("x86_64/hello-cxx").path
        let (status, json, _) = try Self.document(["--floor", "glibc=2.17,glibcxx=3.4.19", path])
        #expect(status == 1)
        let floor = try #require(json["floor"] as? [String: Any])
        #expect(floor["met"] as? Bool == false)
        let named = Set((floor["violations"] as? [[String: Any]] ?? []).map { "\($0["symbol"] as? String ?? "-")@\($0["version"] as? String ?? "")" })
        let expected = Set(try Self.undefinedVersioned(path).filter { symbol in
            let version = symbol.split(separator: "@").last.map(String.init) ?? ""
            if version.hasPrefix("GLIBC_"), let numbers = Self.numbers(version.dropFirst(6)) { return Self.newer(numbers, than: [2, 17]) }
            if version.hasPrefix("GLIBCXX_"), let numbers = Self.numbers(version.dropFirst(8)) { return Self.newer(numbers, than: [3, 4, 19]) }
            return false
        })
        #expect(!expected.isEmpty)
        #expect(named == expected)

        let text = try Swelf.run(["portability", "--env", "LD_LIBRARY_PATH=", "--floor", "glibc=2.17,glibcxx=3.4.19", path])
        #expect(text.status == 1)
        for symbol in expected { #expect(text.stdout.contains("  \(symbol) of "), "\(symbol)") }

        let met = try Swelf.run(["portability", "--env", "LD_LIBRARY_PATH=", "--floor", "glibc=2.34,glibcxx=3.4.21,cxxabi=1.3,gcc=3.0", path])
        #expect(met.status == 0, "\(met.stdout)")
        #expect(met.stdout.contains("floor glibc=2.34,glibcxx=3.4.21,cxxabi=1.3,gcc=3.0: met"))
    }

    @Test(arguments: ["", "glibc", "glibc=two", "musl=1.2", "glibc=2..3"])
    func badFloorIsAUsageError(floor: String) throws {
        let result = try Swelf.run(["portability", "--floor", floor, "/usr/bin/true"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--floor"))
    }

    @Test func missingFileFails() throws {
        let result = try Swelf.run(["portability", "/nonexistent/program"])
        #expect(result.status == 1)
        // An error, on stderr, not a note in the report on stdout.
        #expect(result.stderr.contains("swelf: /nonexistent/program does not exist"), "\(result.summary)")
        #expect(!result.stdout.contains("/nonexistent/program"), "\(result.summary)")
    }

    /// A requirement no symbol uses still counts: GLIBC_ABI_DT_RELR (ld -z
    /// pack-relative-relocs) has none, and means glibc 2.36 or later. readelf shows the
    /// need; the program runs here (glibc 2.36+ loader).
    @Test func symbolLessRequirementCounts() throws {
        let scratch = try ScratchDirectory("relr")
        defer { withExtendedLifetime(scratch) {} }
        let directory = scratch.url
        let source = directory.appendingPathComponent("relr.c").path
        try "#include <stdio.h>\nstatic const char *p = \"relr ran\"; const char **q = &p;\nint main(void) { puts(*q); return 0; }\n"
            .write(toFile: source, atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("relr").path
        let built = try ChildProcess.run("gcc", ["-O2", "-fPIE", "-pie", "-Wl,-z,pack-relative-relocs", source, "-o", program])
        try #require(built.status == 0, "\(built.stderr)")
        try #require(Self.readelfVersions(program).needs.contains { $0.name == "GLIBC_ABI_DT_RELR" }, "this ld adds no GLIBC_ABI_DT_RELR")
        #expect(try ChildProcess.run(program, []).stdout == "relr ran\n")

        let (status, json, _) = try Self.document([program])
        #expect(status == 0)
        #expect(Self.floor(json, machine: "x86_64", component: "glibc") == "2.36")
        let relr = (json["requirements"] as? [[String: Any]] ?? []).first { $0["version"] as? String == "GLIBC_ABI_DT_RELR" }
        #expect((relr?["symbols"] as? [Any])?.isEmpty == true)

        let text = try Swelf.run(["portability", "--floor", "glibc=2.35", program])
        #expect(text.status == 1)
        #expect(text.stdout.contains("GLIBC_ABI_DT_RELR (no symbol uses it; the loader checks it all the same) of libc.so.6 in \(program)"), "\(text.stdout)")
    }
}
