import Foundation
import Testing

/// Every `--json` output against docs/json-schema.json (for one file, many, and a file
/// that fails), the schema against docs/json.md, and the validator against sabotaged
/// documents.
@Suite struct JSONSchemaTests {
    static let schemaURL = Repo.root.appendingPathComponent("docs/json-schema.json")
    static let docsURL = Repo.root.appendingPathComponent("docs/json.md")
    static func bin(_ name: String) -> String { Repo.testBinaries.appendingPathComponent("x86_64/" + name).path }
    static let missing = "/nonexistent/swelf-json-file"
    static let noLibraryPath = ["--env", "LD_LIBRARY_PATH="]

    static func parse(_ result: ProcessResult) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any], "\(result.summary)")
    }

    /// The document validates against the envelope (the schema's root) and against its
    /// command's schema; returns it.
    @discardableResult
    static func validated(_ arguments: [String], command: String) throws -> [String: Any] {
        let result = try Swelf.run(arguments)
        #expect(result.status == 0 || result.status == 1, "\(result.summary)")
        let document = try parse(result)
        let validator = try JSONSchemaValidator(contentsOf: schemaURL)
        #expect(validator.problems(document).isEmpty, "\(arguments): \(validator.problems(document))")
        let schema = try #require(validator.definition(command))
        let problems = validator.problems(document, schema: schema)
        #expect(problems.isEmpty, "\(arguments): \(problems)")
        #expect(document["command"] as? String == command)
        #expect((document["ok"] as? Bool) == (result.status == 0), "\(arguments): ok against exit \(result.status)")
        return document
    }

    static func files(_ document: [String: Any]) -> [[String: Any]] { document["files"] as? [[String: Any]] ?? [] }

    // MARK: Every command, one file and many

    @Test func showAndVerify() throws {
        for command in ["show", "verify"] {
            let one = try Self.validated([command, "--json", Self.bin("hello")], command: command)
            #expect(Self.files(one).count == 1)
            let many = [Self.bin("hello"), Self.bin("libgreet.so.1"), Self.bin("static-pie"), Self.missing, Self.bin("static")]
            let document = try Self.validated([command, "--json"] + many, command: command)
            #expect(Self.files(document).map { $0["file"] as? String } == many)
            #expect(Self.files(document).map { $0["ok"] as? Bool } == [true, true, true, false, true])
            let failed = try Self.validated([command, "--json", Self.missing], command: command)
            #expect(Self.files(failed).first?["error"] as? String == "cannot open: No such file or directory")
        }
    }

    /// doctor takes one file at a time (its exit status is the verdict): a program that
    /// starts, one that does not, a library, a Go program, a file that does not exist.
    @Test func doctor() throws {
        for file in ["/bin/ls", Self.bin("hello"), Self.bin("libgreet.so.1"), Self.bin("go-cgo"), Self.missing] {
            let document = try Self.validated(["doctor", "--json"] + Self.noLibraryPath + [file], command: "doctor")
            #expect(Self.files(document).count == 1)
        }
    }

    @Test func ldd() throws {
        try Self.validated(["ldd", "--json", "/bin/ls"], command: "ldd")
        let many = ["/bin/ls", Self.bin("hello"), Self.bin("static"), Self.missing, Self.bin("useaux")]
        let document = try Self.validated(["ldd", "--json", "--env", "LD_LIBRARY_PATH=" + Repo.testBinaries.appendingPathComponent("x86_64").path] + many,
                                          command: "ldd")
        #expect(Self.files(document).map { $0["ok"] as? Bool } == [true, true, false, false, true])
    }

    @Test func portability() throws {
        try Self.validated(["portability", "--json"] + Self.noLibraryPath + [Self.bin("hello")], command: "portability")
        let many = [Self.bin("hello"), Self.bin("hello-cxx"), Self.bin("static"), Self.bin("go-cgo"), Self.bin("hello-musl"), Self.missing]
        let document = try Self.validated(["portability", "--json", "--floor", "glibc=2.17"] + Self.noLibraryPath + many,
                                          command: "portability")
        let failed = Self.files(document).filter { $0["ok"] as? Bool == false }
        #expect(failed.map { $0["file"] as? String } == [Self.missing])
        #expect(document["floor"] is [String: Any])
    }

    /// A bundle of one program, of two and a library (a library found through
    /// LD_LIBRARY_PATH, a policy file's rule), and one that fails (a library is missing:
    /// nothing written).
    @Test func bundle() throws {
        let scratch = try ScratchDirectory("json-bundle")
        try Self.validated(["bundle", "--json", "-o", scratch.path("one"), "/bin/ls"], command: "bundle")
        let policy = scratch.path("site.policy")
        try "exclude libselinux.so.*   the host has it\n".write(toFile: policy, atomically: true, encoding: .utf8)
        let lib = Repo.testBinaries.appendingPathComponent("x86_64").path
        let two = try Self.validated(["bundle", "--json", "--policy", policy, "--env", "LD_LIBRARY_PATH=" + lib,
                                      "-o", scratch.path("two"), "/bin/ls", Self.bin("useaux"), Self.bin("libgreet.so.1")],
                                     command: "bundle")
        // A library given as an argument: no requester, no search rule.
        let greet = (two["libraries"] as? [[String: Any]])?.first { $0["name"] as? String == "lib/libgreet.so.1" }
        #expect(greet?["needed_by"] is NSNull && greet?["rule"] is NSNull, "\(two)")
        let failed = try Self.validated(["bundle", "--json"] + Self.noLibraryPath + ["-o", scratch.path("three"), Self.bin("hello")],
                                        command: "bundle")
        #expect(failed["written"] as? Bool == false)
        #expect(failed["portability"] is NSNull)
    }

    /// A tree with a program and its library (the test binaries hello-runpath and
    /// libgreet.so.1), planned, written, and once with a library missing.
    @Test func autopatch() throws {
        let scratch = try ScratchDirectory("json-autopatch")
        for directory in ["t/bin", "t/lib"] {
            try FileManager.default.createDirectory(atPath: scratch.path(directory), withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: Self.bin("hello-runpath"), toPath: scratch.path("t/bin/app"))
        try FileManager.default.copyItem(atPath: Self.bin("libgreet.so.1"), toPath: scratch.path("t/lib/libgreet.so.1"))
        try "#!/bin/sh\n".write(toFile: scratch.path("t/bin/wrap"), atomically: true, encoding: .utf8)
        let missing = try Self.validated(["autopatch", "--json", "--dry-run", scratch.path("t")], command: "autopatch")
        #expect(missing["ok"] as? Bool == false && (missing["errors"] as? [String])?.count == 1, "\(missing)")
        let planned = try Self.validated(["autopatch", "--json", "--dry-run", "--ignore-missing", "libunused*", scratch.path("t")],
                                         command: "autopatch")
        let app = Self.files(planned).first { ($0["file"] as? String)?.hasSuffix("/bin/app") == true }
        #expect(app?["runpath_after"] as? String == "$ORIGIN/../lib", "\(planned)")
        #expect((planned["summary"] as? [String: Any])?["other_files"] as? Int == 1)
        // A real run stopped by the missing library: the program is due a change but not written.
        let stopped = try Self.validated(["autopatch", "--json", scratch.path("t")], command: "autopatch")
        let stoppedSummary = stopped["summary"] as? [String: Any]
        #expect(stoppedSummary?["changed"] as? Int == 0 && stoppedSummary?["failed"] as? Int == 0
                && stoppedSummary?["not_written"] as? Int == 1, "\(stopped)")
        let written = try Self.validated(["autopatch", "--json", "--ignore-missing", "libunused*", scratch.path("t")], command: "autopatch")
        #expect(written["dry_run"] as? Bool == false && written["ok"] as? Bool == true, "\(written)")
        let writtenSummary = written["summary"] as? [String: Any]
        #expect((writtenSummary?["changed"] as? Int ?? 0) >= 1 && writtenSummary?["failed"] as? Int == 0
                && writtenSummary?["not_written"] as? Int == 0, "\(written)")
    }

    // MARK: The doc and the schema file

    /// Every field and every enumerated value of the schema file is named in docs/json.md
    /// (as `name`), and every command has its section: the two cannot drift apart.
    @Test func documentationNamesEverything() throws {
        let doc = try String(contentsOf: Self.docsURL, encoding: .utf8)
        let validator = try JSONSchemaValidator(contentsOf: Self.schemaURL)
        let fields = validator.fieldNames()
        #expect(fields.count > 100)
        for field in fields.sorted() {
            #expect(doc.contains("`\(field)`"), "docs/json.md does not name the field `\(field)`")
        }
        for value in validator.enumeratedStrings().sorted() {
            #expect(doc.contains("`\(value)`"), "docs/json.md does not name the value `\(value)`")
        }
        for command in ["show", "verify", "doctor", "ldd", "portability", "bundle", "autopatch"] {
            #expect(validator.definition(command) != nil)
            #expect(doc.contains("## `\(command) --json`"), "docs/json.md has no section for \(command)")
        }
        #expect(doc.contains("\"schema\": 1"))
    }

    // MARK: The validator, sabotaged

    /// A real `show --json` document passes; each sabotage of it is rejected, naming
    /// where.
    @Test func validatorRejectsSabotage() throws {
        let validator = try JSONSchemaValidator(contentsOf: Self.schemaURL)
        let schema = try #require(validator.definition("show"))
        let good = try Self.parse(try Swelf.run(["show", "--json", Self.bin("hello"), Self.missing]))
        #expect(validator.problems(good, schema: schema).isEmpty)
        func rejects(_ why: String, _ sabotage: (inout [String: Any]) -> Void, where path: String) {
            var document = good
            sabotage(&document)
            let problems = validator.problems(document, schema: schema)
            #expect(!problems.isEmpty, "\(why): accepted")
            #expect(problems.contains { $0.path == path }, "\(why): \(problems)")
        }
        func entry(_ index: Int, _ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
            { document in
                var files = document["files"] as! [[String: Any]]
                change(&files[index])
                document["files"] = files
            }
        }
        rejects("no schema", { $0["schema"] = nil }, where: "$")
        rejects("schema 2", { $0["schema"] = 2 }, where: "$.schema")
        rejects("an object instead of an array", { $0["files"] = ($0["files"] as! [Any])[0] }, where: "$.files")
        rejects("no machine in an ok entry", entry(0) { $0["machine"] = nil }, where: "$.files[0]")
        rejects("a failed entry without its error", entry(1) { $0["error"] = nil }, where: "$.files[1]")
        rejects("the old linking words", entry(0) { $0["linking"] = "dynamic (shared library)" }, where: "$.files[0].linking")
        rejects("a Boolean for an integer", entry(0) { $0["class"] = true }, where: "$.files[0].class")
        rejects("an integer for a Boolean", entry(0) { $0["pie"] = 1 }, where: "$.files[0].pie")
        rejects("a field the schema does not know", entry(0) { $0["needed_by"] = "x" }, where: "$.files[0].needed_by")
        rejects("a string in a list of strings made a number", entry(0) { $0["needed"] = [1] }, where: "$.files[0].needed[0]")
        // A failed entry needs no more than file, ok and error; raw_bytes is allowed anywhere.
        var bare = good
        bare["files"] = [["file": "x", "ok": false, "error": "cannot open", "raw_bytes": ["file": "78"]]]
        #expect(validator.problems(bare, schema: schema).isEmpty, "\(validator.problems(bare, schema: schema))")
        // anyOf and $ref: a bundle's policy must be null or a whole rule.
        let bundle = try #require(validator.definition("bundle"))
        let decisions = try #require(((bundle["properties"] as? [String: Any])?["decisions"] as? [String: Any])?["items"] as? [String: Any])
        let decision: [String: Any] = ["name": "libc.so.6", "needed_by": "bin/app", "outcome": "excluded", "reason": "glibc",
                                       "policy": NSNull(), "path": NSNull()]
        #expect(validator.problems(decision, schema: decisions).isEmpty)
        var broken = decision
        broken["policy"] = ["source": "glibc"]
        #expect(!validator.problems(broken, schema: decisions).isEmpty)
        #expect(!validator.problems([:], schema: ["$ref": "#/$defs/nothing"]).isEmpty)
    }
}
