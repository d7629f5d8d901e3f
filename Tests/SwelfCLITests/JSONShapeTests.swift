import Foundation
import Testing

/// Issue 19's "JSON" findings, each checked where it was found: one file gave an object
/// and several an array; `show` left a failing file out; `linking` had other words in
/// each command; rules were embedded in strings; `ldd --json` and `ldd --tree` did not
/// exist.
@Suite struct JSONShapeTests {
    static func bin(_ name: String) -> String { JSONSchemaTests.bin(name) }
    static let libraryPath = Repo.testBinaries.appendingPathComponent("x86_64").path

    static func document(_ arguments: [String]) throws -> [String: Any] {
        try JSONSchemaTests.parse(try Swelf.run(arguments))
    }

    static func entries(_ arguments: [String]) throws -> [[String: Any]] {
        let document = try document(arguments)
        #expect(document["schema"] as? Int == 1)
        return try #require(document["files"] as? [[String: Any]], "no files array: \(document)")
    }

    /// `show --json` and `verify --json` of one file: the envelope, its `files` an array
    /// of one (it was the entry itself).
    @Test func oneFileIsAnArrayOfOne() throws {
        for command in ["show", "verify", "doctor", "ldd"] {
            let document = try Self.document([command, "--json", Self.bin("hello-nopie")])
            #expect(document["command"] as? String == command)
            let files = try #require(document["files"] as? [[String: Any]], "\(command): \(document.keys.sorted())")
            #expect(files.count == 1)
            #expect(files.first?["file"] as? String == Self.bin("hello-nopie"))
        }
    }

    /// `show --json` keeps a file it cannot read as an entry with `ok: false` (it left it
    /// out), and says so on stderr as before.
    @Test func failingFileIsAnEntry() throws {
        let result = try Swelf.run(["show", "--json", "/nonexistent/swelf-json", Self.bin("hello")])
        #expect(result.status == 1)
        #expect(result.stderr == "swelf: /nonexistent/swelf-json: cannot open: No such file or directory\n")
        let files = try #require(try JSONSchemaTests.parse(result)["files"] as? [[String: Any]])
        #expect(files.count == 2)
        #expect(files.first?["ok"] as? Bool == false)
        #expect(files.first?["error"] as? String == "cannot open: No such file or directory")
        #expect(files.last?["ok"] as? Bool == true)
        #expect(files.last?["error"] is NSNull)
    }

    /// A shared library is `shared_library` in show, doctor and portability ("dynamic
    /// (shared library)" in show, "shared library" in doctor and portability before);
    /// a static-pie program is `static_pie` in each.
    @Test func linkingHasOneVocabulary() throws {
        for (file, expected) in [("libgreet.so.1", "shared_library"), ("static-pie", "static_pie"), ("hello", "dynamic")] {
            let path = Self.bin(file)
            let show = try Self.entries(["show", "--json", path]).first?["linking"] as? String
            let doctor = try Self.entries(["doctor", "--json", path]).first?["linking"] as? String
            let ldd = try Self.entries(["ldd", "--json", path]).first?["linking"] as? String
            let portability = try Self.entries(["portability", "--json", path]).first?["linking"] as? String
            #expect([show, doctor, ldd, portability] == [expected, expected, expected, expected], "\(file)")
        }
    }

    /// bundle's `needed_by` is who needed the library, the search rule is its own field
    /// (`"needed_by": "bin/useaux (LD_LIBRARY_PATH)"` before), and a decision's policy
    /// rule is an object, not a bracket at the end of its reason.
    @Test func bundleRulesAreFields() throws {
        let scratch = try ScratchDirectory("json-shape")
        let policy = scratch.path("site.policy")
        try "# site rules\nexclude libver.so.*   the server has it\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let document = try Self.document(["bundle", "--json", "--policy", policy, "--env", "LD_LIBRARY_PATH=" + Self.libraryPath,
                                          "-o", scratch.path("dist"), Self.bin("useaux"), Self.bin("needver")])
        let libraries = try #require(document["libraries"] as? [[String: Any]], "\(document)")
        let aux = try #require(libraries.first { $0["name"] as? String == "lib/libaux.so" })
        #expect(aux["needed_by"] as? String == "bin/useaux")
        #expect(aux["rule"] as? String == "ld_library_path")
        #expect(aux["rule_description"] as? String == "LD_LIBRARY_PATH")
        let decisions = try #require(document["decisions"] as? [[String: Any]])
        let libc = try #require(decisions.first { $0["name"] as? String == "libc.so.6" })
        #expect(libc["reason"] as? String == "part of glibc: tied to the host's loader")
        let glibc = try #require(libc["policy"] as? [String: Any])
        #expect(glibc["source"] as? String == "glibc")
        #expect(glibc["pattern"] as? String == "libc.so.*")
        #expect(glibc["action"] as? String == "exclude")
        let libver = try #require(decisions.first { $0["name"] as? String == "libver.so.1" })
        #expect(libver["outcome"] as? String == "excluded")
        #expect(libver["reason"] as? String == "the server has it")
        let site = try #require(libver["policy"] as? [String: Any])
        #expect(site["source"] as? String == "file")
        #expect(site["file"] as? String == policy)
        #expect(site["line"] as? Int == 2)
        let bundled = try #require(decisions.first { $0["name"] as? String == "libaux.so" })
        #expect(bundled["policy"] is NSNull)
        #expect(bundled["reason"] as? String == "not part of the base system")
    }

    /// `ldd --json`: per file each needed name, the path found and the rule that found
    /// it, `reused` for one already loaded, and for a missing one every path tried.
    @Test func lddJSON() throws {
        let found = try Self.entries(["ldd", "--json", "--env", "LD_LIBRARY_PATH=" + Self.libraryPath, Self.bin("useaux")])
        let libraries = try #require(found.first?["libraries"] as? [[String: Any]])
        func library(_ name: String, neededBy: String) -> [String: Any]? {
            libraries.first { $0["name"] as? String == name && ($0["needed_by"] as? String)?.hasSuffix(neededBy) == true }
        }
        let aux = try #require(library("libaux.so", neededBy: "/useaux"))
        #expect(aux["status"] as? String == "found")
        #expect(aux["rule"] as? String == "ld_library_path")
        #expect(aux["path"] as? String == Self.libraryPath + "/libaux.so")
        let libc = try #require(library("libc.so.6", neededBy: "/libaux.so"))
        #expect(libc["status"] as? String == "reused")
        #expect(libc["path"] as? String != nil)

        let missing = try Self.entries(["ldd", "--json", "--env", "LD_LIBRARY_PATH=", Self.bin("hello-runpath")])
        let greet = try #require((missing.first?["libraries"] as? [[String: Any]])?.first { $0["name"] as? String == "libgreet.so.1" })
        #expect(greet["status"] as? String == "not_found")
        let tried = try #require(greet["tried"] as? [[String: Any]])
        #expect(tried.first?["rule"] as? String == "runpath", "\(tried)")
        #expect(tried.contains { $0["rule"] as? String == "system_directory" })
        #expect(missing.first?["ok"] as? Bool == true, "ldd lists a missing library and exits 0, as ldd does")
    }

    /// `ldd --tree`: each edge with the rule that found it, a library expanded once (under
    /// the edge that loaded it) and marked elsewhere, and the paths tried for a missing one.
    @Test func lddTree() throws {
        let useaux = Self.bin("useaux")
        let result = try Swelf.run(["ldd", "--tree", "--env", "LD_LIBRARY_PATH=" + Self.libraryPath, useaux])
        #expect(result.status == 0, "\(result.summary)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == useaux)
        #expect(lines.contains("├── libaux.so => \(Self.libraryPath)/libaux.so [LD_LIBRARY_PATH]"), "\(result.stdout)")
        let libc = lines.filter { $0.contains("libc.so.6 =>") }
        #expect(libc.count >= 2, "\(result.stdout)")
        #expect(libc.filter { $0.hasSuffix("[ld.so.cache]") || $0.hasSuffix("[system directory]") }.count == 1, "\(result.stdout)")
        #expect(libc.filter { $0.hasSuffix("(already loaded)") }.count == libc.count - 1, "\(result.stdout)")
        // libaux's own libraries are drawn below it.
        let auxIndex = try #require(lines.firstIndex { $0.contains("libaux.so =>") })
        #expect(lines[auxIndex + 1].hasPrefix("│   ├── ") || lines[auxIndex + 1].hasPrefix("│   └── "), "\(result.stdout)")

        let missing = try Swelf.run(["ldd", "--tree", "--env", "LD_LIBRARY_PATH=", Self.bin("hello-runpath")])
        let tree = missing.stdout.split(separator: "\n").map(String.init)
        let greet = try #require(tree.firstIndex { $0.hasSuffix("libgreet.so.1 not found") }, "\(missing.stdout)")
        #expect(tree[greet + 1].contains("┊ tried "), "\(missing.stdout)")
        #expect(tree[greet + 1].contains("[RUNPATH of hello-runpath]: not found"), "\(missing.stdout)")

        let static_ = try Swelf.run(["ldd", "--tree", Self.bin("static")])
        #expect(static_.status == 1)
        #expect(static_.stdout == Self.bin("static") + "\n\tnot a dynamic executable\n")
    }
}
