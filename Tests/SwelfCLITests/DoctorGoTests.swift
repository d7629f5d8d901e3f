import Foundation
import Testing

/// Go programs: the build information doctor reports matches `go version -m`, and the
/// consequences of cgo are explained.
@Suite struct DoctorGoTests {
    /// `go version -m FILE` as (version, [(word, rest)]): "path", "mod", "dep", "build" lines.
    static func goVersion(_ path: String) throws -> (version: String, lines: [(String, String)]) {
        let result = try ChildProcess.run("go", ["version", "-m", path])
        #expect(result.status == 0, "go version -m: \(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        let version = String(lines.first?.split(separator: " ").last ?? "")
        let rest = lines.dropFirst().map { line -> (String, String) in
            let fields = line.drop { $0 == "\t" }.split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(fields.first ?? ""), fields.count > 1 ? String(fields[1]) : "")
        }
        return (version, rest)
    }

    @Test(arguments: ["x86_64/go-cgo", "x86_64/go-nocgo"])
    func buildInfoMatchesGoVersion(subject: String) throws {
        let path = Repo.testBinaries.appendingPathComponent(subject).path
        let reference = try Self.goVersion(path)
        let result = try Swelf.run(["doctor", "--json", "--env", "LD_LIBRARY_PATH=", path])
        #expect(result.status == 0, "\(result.stdout)")
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(result.stdoutBytes)) as? [String: Any])
        let document = try #require((envelope["files"] as? [[String: Any]])?.first)
        let go = try #require(document["go"] as? [String: Any], "no go member")
        #expect(go["version"] as? String == reference.version)
        #expect(go["path"] as? String == reference.lines.first { $0.0 == "path" }?.1)
        let settings = (go["settings"] as? [[String: Any]] ?? []).map { "\($0["key"] as? String ?? "")=\($0["value"] as? String ?? "")" }
        #expect(settings == reference.lines.filter { $0.0 == "build" }.map(\.1))
        if let mod = reference.lines.first(where: { $0.0 == "mod" }) {
            let module = go["main_module"] as? [String: Any]
            #expect(mod.1.hasPrefix("\(module?["path"] as? String ?? "?")\t\(module?["version"] as? String ?? "?")"), "\(mod.1)")
        }
        let cgo = reference.lines.contains { $0 == ("build", "CGO_ENABLED=1") }
        #expect(go["cgo_enabled"] as? Bool == cgo)

        let text = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", path])
        #expect(text.stdout.contains("go build info:\n  info     \(reference.version)"), "\(text.stdout)")
        if cgo {
            #expect(text.stdout.contains("CGO_ENABLED=1 and dynamically linked"), "\(text.stdout)")
            #expect(text.stdout.contains("resolves host names through the C library (getaddrinfo)"), "\(text.stdout)")
            #expect(text.stdout.contains("libc.so.6 => "), "\(text.stdout)")
        } else {
            #expect(text.stdout.contains("CGO_ENABLED=0: pure Go, no C library needed (statically linked)"), "\(text.stdout)")
            #expect(text.stdout.contains("statically linked: no interpreter"), "\(text.stdout)")
        }
    }

    /// A Go program cross-compiled for arm64 on this x86_64 machine: exec format error,
    /// explained with the GOARCH it was built with.
    @Test func crossCompiledForAnotherArchitecture() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-doctor-goarch-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n"
            .write(to: directory.appendingPathComponent("hello.go"), atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("hello-arm64").path
        let build = try ChildProcess.run("/usr/bin/env", ["GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0", "GO111MODULE=off",
                                                  try #require(ChildProcess.path("go"), "go not found: run scripts/install-test-deps"),
                                                  "build", "-o", program, directory.appendingPathComponent("hello.go").path])
        #expect(build.status == 0, "go build: \(build.stderr)")
        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", program])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stdout.contains("aarch64 cannot run on this x86_64 machine: exec fails with \"Exec format error\""), "\(result.stdout)")
        #expect(result.stdout.contains("a Go program built with GOOS=linux GOARCH=arm64"), "\(result.stdout)")
        #expect(result.stdout.contains("fix: rebuild with GOARCH=amd64 (it was built with GOARCH=arm64)"), "\(result.stdout)")
    }

    /// A static glibc program calling getaddrinfo still loads NSS modules; one that
    /// nsswitch.conf names but the tree lacks is a warning.
    @Test func staticGlibcProgramUsingTheNameService() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-doctor-nss-\(getpid())")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = directory.appendingPathComponent("nss.c")
        try """
        #include <netdb.h>
        int main(int argc, char **argv) { struct addrinfo *r; return getaddrinfo(argc > 1 ? argv[1] : "localhost", 0, 0, &r); }

        """.write(to: source, atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("nss-static").path
        let build = try ChildProcess.run("gcc", ["-static", "-o", program, source.path])
        #expect(build.status == 0, "\(build.stderr)")

        let host = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", program])
        #expect(host.status == 0, "\(host.stdout)")
        #expect(host.stdout.contains("it is statically linked against glibc but uses the name service"), "\(host.stdout)")

        try "hosts: files nisplus-swelf-test dns\n".write(to: directory.appendingPathComponent("etc/nsswitch.conf"), atomically: true, encoding: .utf8)
        let rooted = try Swelf.run(["doctor", "--root", directory.path, "--env", "LD_LIBRARY_PATH=", program])
        #expect(rooted.status == 0, "\(rooted.stdout)")
        #expect(rooted.stdout.contains("warning  nsswitch.conf names 'nisplus-swelf-test' for hosts, but libnss_nisplus-swelf-test.so.2 is not installed"),
                "\(rooted.stdout)")
    }

    /// A cgo program needing a newer glibc than the library it gets: the loader's
    /// message and the CGO_ENABLED=0 fix (go-cgo's only C use is net's).
    @Test func glibcVersionTooNewForTheHost() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swelf-doctor-go-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // A stand-in libc.so.6 defining only GLIBC_2.2.5, found first through LD_LIBRARY_PATH.
        try StandInLibc.build(in: directory)
        let program = Repo.testBinaries.appendingPathComponent("x86_64/go-cgo").path
        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=\(directory.path)", program])
        #expect(result.status == 1, "\(result.stdout)")
        let expected = "\(program): \(directory.path)/libc.so.6: version `GLIBC_2.3.2' not found (required by \(program))"
        #expect(result.stdout.contains(expected), "\(result.stdout)")
        #expect(result.stdout.contains("newest GLIBC_* version in \(directory.path)/libc.so.6: GLIBC_2.2.5"), "\(result.stdout)")
        // Reworded for issue 19 (was "for Go, CGO_ENABLED=0 avoids libc entirely"): the
        // advice now says why it fits this program.
        #expect(result.stdout.contains("for Go, CGO_ENABLED=0 (or -tags netgo,osusergo) builds it with no C library"), "\(result.stdout)")
    }
}
