import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// The Go build information reader against `go version -m` (the Go toolchain's own
/// reader), on the Go subjects, on a copy without section headers, on a program built
/// here with a replaced dependency, build tags and a quoted -ldflags, and on damaged
/// copies (which must throw or return nil, never trap).
@Suite struct GoBuildInfoTests {
    static let goSubjects = ["x86_64/go-nocgo", "x86_64/go-cgo"]

    static func subject(_ path: String) -> URL { Repo.testBinaries.appendingPathComponent(path) }

    // MARK: Against go version -m

    @Test(arguments: goSubjects)
    func matchesGoVersionM(path: String) throws {
        let url = Self.subject(path)
        let file = try ELFFile(path: url.path)
        let info = try #require(try GoBuildInfo.read(from: file), "no Go build info found in \(path)")
        try GoVersionListing(file: url.path).expectMatches(info)

        let cgo = path.hasSuffix("go-cgo")
        #expect(info.cgoEnabled == cgo)
        #expect(info.setting("CGO_ENABLED") == (cgo ? "1" : "0"))
        #expect(info.goos == "linux")
        #expect(info.goarch == "amd64")
        #expect(info.tags == [])
        #expect(info.encoding == .inline)
        #expect(info.setting("-trimpath") == "true")
        #expect(info.setting("no such key") == nil)
        // A cgo program is dynamically linked against libc; a pure-Go one is static.
        #expect((try file.interpreter() != nil) == cgo)
        // The header is where readelf puts .go.buildinfo.
        let section = try #require(file.section(named: ".go.buildinfo"))
        #expect(info.headerOffset == section.header.offset)
    }

    /// Without section headers the header is found by scanning the first writable,
    /// non-executable PT_LOAD, and the result is the same.
    @Test(arguments: goSubjects)
    func withoutSectionHeaders(path: String) throws {
        guard ChildProcess.path("go") != nil else { throw ChildProcess.NotFound(name: "go") }
        let directory = try GoTemporaryDirectory()
        let stripped = directory.path + "/noshdr"
        let script = Repo.root.appendingPathComponent("scripts/strip-section-headers").path
        let run = try ChildProcess.run(script, [Self.subject(path).path, stripped])
        try #require(run.status == 0, "strip-section-headers failed: \(run.stderr)")

        let strippedFile = try ELFFile(path: stripped)
        #expect(strippedFile.sectionHeaders.isEmpty)
        let viaSegment = try #require(try GoBuildInfo.read(from: strippedFile))
        let viaSection = try #require(try GoBuildInfo.read(from: ELFFile(path: Self.subject(path).path)))
        #expect(viaSegment == viaSection)
        try GoVersionListing(file: stripped).expectMatches(viaSegment)
    }

    /// A program built here: a dependency replaced by a local directory (`dep` and `=>`
    /// lines), build tags, and an -ldflags value that Go must quote.
    @Test func builtProgramWithReplacementTagsAndQuotedFlags() throws {
        guard ChildProcess.path("go") != nil else { throw ChildProcess.NotFound(name: "go") }
        let directory = try GoTemporaryDirectory()
        let root = directory.path
        let files: [String: String] = [
            "dep/go.mod": "module example.com/dep\n\ngo 1.18\n",
            "dep/dep.go": "package dep\n\nfunc Hello() string { return \"hello\" }\n",
            "app/go.mod": """
                module example.com/app

                go 1.18

                require example.com/dep v1.2.3

                replace example.com/dep v1.2.3 => ../dep

                """,
            "app/main.go": """
                package main

                import "example.com/dep"

                var suffix string

                func main() { println(dep.Hello(), suffix) }

                """,
        ]
        for (name, text) in files {
            let url = URL(fileURLWithPath: root + "/" + name)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        let output = root + "/app.bin"
        let ldflags = "-X \"main.suffix=a b\" -s"
        let build = try ChildProcess.run("env", [
            "-C", root + "/app",
            "GOCACHE=\(root)/gocache", "GOPATH=\(root)/gopath", "GOFLAGS=-buildvcs=false", "GO111MODULE=on",
            "GOPROXY=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0",
            "go", "build", "-tags", "netgo osusergo", "-ldflags", ldflags, "-o", output, ".",
        ])
        try #require(build.status == 0, "go build failed: \(build.stderr)")

        let info = try #require(try GoBuildInfo.read(from: ELFFile(path: output)))
        try GoVersionListing(file: output).expectMatches(info)
        #expect(info.path == "example.com/app")
        #expect(info.mainModule == GoBuildInfo.Module(path: "example.com/app", version: "(devel)"))
        #expect(info.dependencies == [
            GoBuildInfo.Module(path: "example.com/dep", version: "v1.2.3",
                               replacement: GoBuildInfo.Module(path: "../dep", version: "(devel)")),
        ])
        #expect(info.setting("-ldflags") == ldflags)
        #expect(info.tags == ["netgo", "osusergo"])
        #expect(info.cgoEnabled == false)
        #expect(info.description.contains("build\t-ldflags=\"-X \\\"main.suffix=a b\\\" -s\""))
    }

    // MARK: Not Go

    /// Every other subject, of every architecture, is not a Go program: nil, no error.
    @Test func otherSubjectsAreNotGo() throws {
        let subjects = Subject.all.filter { !Self.goSubjects.contains($0.path) }
        try #require(subjects.count >= 80, "TestBinaries/manifest.tsv missing or short")
        for subject in subjects {
            let file = try ELFFile(path: subject.url.path)
            #expect(try GoBuildInfo.read(from: file) == nil, "\(subject)")
        }
        let hello = try ELFFile(path: Self.subject("x86_64/hello").path)
        #expect(try GoBuildInfo.read(from: hello) == nil)
    }

    // MARK: The pre-1.18 layout

    /// The same strings laid out as Go before 1.18 did (pointers to string headers), in
    /// both pointer widths and byte orders, read back to the same information.
    @Test(arguments: [(8, false), (8, true), (4, false), (4, true)])
    func pointerLayout(pointerSize: Int, bigEndian: Bool) throws {
        let blob = try GoBlob(Self.subject("x86_64/go-nocgo"))
        let expected = try #require(try GoBuildInfo.read(from: blob.file()))
        let bytes = blob.withPointerLayout(pointerSize: pointerSize, bigEndian: bigEndian)
        let info = try #require(try GoBuildInfo.read(from: ELFFile(source: MemoryByteSource(bytes))))
        var adjusted = expected
        adjusted.encoding = .pointers(size: pointerSize, bigEndian: bigEndian)
        #expect(info == adjusted)
    }

    // MARK: Module information text

    @Test func parsesEveryLineKind() throws {
        let blob = try GoBuildInfoTests.blob()
        let text = """
            path\texample.com/cmd/tool
            mod\texample.com/tool\tv1.0.0\th1:main=
            dep\tgolang.org/x/sys\tv0.1.0\th1:sys=
            dep\texample.com/old\tv0.0.1\th1:old=
            =>\texample.com/new\tv0.0.2\th1:new=
            dep\texample.com/twocolumns\tv3.0.0
            unknown\tline is ignored
            build\t-buildmode=exe
            build\t-ldflags="-s -w -X \\"main.v=1 2\\""
            build\t-tags=netgo,osusergo
            build\tCGO_ENABLED=1
            build\tempty=
            build\t"odd key"=`raw value`
            build\tGOOS=linux

            """
        let info = try #require(try GoBuildInfo.read(from: blob.file(moduleInfo: text)))
        #expect(info.goVersion == "go1.19.8")
        #expect(info.path == "example.com/cmd/tool")
        #expect(info.mainModule == GoBuildInfo.Module(path: "example.com/tool", version: "v1.0.0", sum: "h1:main="))
        #expect(info.dependencies == [
            GoBuildInfo.Module(path: "golang.org/x/sys", version: "v0.1.0", sum: "h1:sys="),
            GoBuildInfo.Module(path: "example.com/old", version: "v0.0.1", sum: "h1:old=",
                               replacement: GoBuildInfo.Module(path: "example.com/new", version: "v0.0.2", sum: "h1:new=")),
            GoBuildInfo.Module(path: "example.com/twocolumns", version: "v3.0.0"),
        ])
        let settings = info.settings.map { "\($0.key)|\($0.value)" }
        #expect(settings == [
            "-buildmode|exe", "-ldflags|-s -w -X \"main.v=1 2\"", "-tags|netgo,osusergo", "CGO_ENABLED|1",
            "empty|", "odd key|raw value", "GOOS|linux",
        ])
        #expect(info.buildMode == "exe")
        #expect(info.cgoEnabled == true)
        #expect(info.tags == ["netgo", "osusergo"])
        #expect(info.goarch == nil)
        // Printed back as go version -m would, quoting re-applied.
        #expect(info.description == """
            go1.19.8
            \tpath\texample.com/cmd/tool
            \tmod\texample.com/tool\tv1.0.0\th1:main=
            \tdep\tgolang.org/x/sys\tv0.1.0\th1:sys=
            \tdep\texample.com/old\tv0.0.1
            \t=>\texample.com/new\tv0.0.2\th1:new=
            \t
            \tdep\texample.com/twocolumns\tv3.0.0\t
            \tbuild\t-buildmode=exe
            \tbuild\t-ldflags="-s -w -X \\"main.v=1 2\\""
            \tbuild\t-tags=netgo,osusergo
            \tbuild\tCGO_ENABLED=1
            \tbuild\tempty=
            \tbuild\t"odd key"="raw value"
            \tbuild\tGOOS=linux
            """)
    }

    /// Go takes the module text to be framed only when a newline precedes the 16-byte
    /// end sentinel; otherwise (text not ending in a newline, too short, a binary built
    /// outside module mode) there is no module information, which is not an error.
    @Test func unterminatedAndUnframedText() throws {
        let blob = try GoBuildInfoTests.blob()
        let unterminated = try #require(try GoBuildInfo.read(from: blob.file(moduleInfo: "path\ta/b\nbuild\tGOOS=linux")))
        #expect(unterminated.path == nil && unterminated.settings.isEmpty)
        #expect(unterminated.goVersion == "go1.19.8")

        let unframed = try #require(try GoBuildInfo.read(from: blob.file(rawModuleInfo: Array("path\tx\n".utf8))))
        #expect(unframed.path == nil && unframed.mainModule == nil && unframed.settings.isEmpty)
        #expect(unframed.goVersion == "go1.19.8")

        let empty = try #require(try GoBuildInfo.read(from: blob.file(rawModuleInfo: [])))
        #expect(empty.description == "go1.19.8")
    }

    /// Malformed lines are errors that name the line and its byte.
    @Test(arguments: [
        ("mod\tonly-one-column\n", "expected 2 or 3 columns; got 1"),
        ("dep\ta\tb\tc\td\n", "expected 2 or 3 columns; got 4"),
        ("=>\ta\tb\tc\n", "replacement with no module on previous line"),
        ("dep\ta\tv1\n=>\ta\tb\n", "expected 3 columns for replacement; got 2"),
        ("build\t\n", "build line missing '='"),
        ("build\t=x\n", "build line with missing key"),
        ("build\tnoequals\n", "build line missing '=' after key"),
        ("build\tkey=two words\n", "must be quoted"),
        ("build\tkey=\"unterminated\n", "invalid quoted value"),
        ("build\tkey=\"bad\\q\"\n", "invalid quoted value"),
        ("build\tkey=\"a\"b\n", "invalid quoted value"),
        ("build\t\"key\"x=1\n", "unexpected character after quoted key"),
        ("build\t\"key\"\n", "missing '=' after quoted key"),
        ("build\t\"key\n", "invalid quoted key"),
        ("build\tk ey=1\n", "must be quoted"),
    ])
    func malformedLine(badLine: String, message: String) throws {
        let blob = try GoBuildInfoTests.blob()
        let good = "path\tp\nbuild\tGOOS=linux\n"
        let file = try blob.file(moduleInfo: good + badLine)
        let error = try #require(throws: ELFError.self) { try GoBuildInfo.read(from: file) }
        // The last of the new lines is the bad one.
        let lines = badLine.split(separator: "\n")
        let bad = Array(lines.last!.utf8) + [UInt8(ascii: "\n")]
        #expect(error.kind == .invalid)
        #expect(error.message.contains("line \(2 + lines.count):"), "\(error)")
        #expect(error.message.contains(message), "\(error)")
        // The offset is the bad line's first byte in the file.
        let offset = try #require(error.offset)
        #expect(try file.source.bytes(at: offset, count: UInt64(bad.count), "line") == bad)
    }

    @Test func goQuoting() {
        func unquote(_ text: String) -> String? {
            GoQuoting.unquotePrefix(ArraySlice(Array(text.utf8))).map { String(decoding: $0.value, as: UTF8.self) }
        }
        #expect(unquote("\"-s -w\"") == "-s -w")
        #expect(unquote(#""\a\b\f\n\r\t\v\\\"""#) == "\u{7}\u{8}\u{c}\n\r\t\u{b}\\\"")
        #expect(unquote(#""\x41\101\u00e9\U0001F600""#) == "AAé😀")
        #expect(unquote("`raw \\n\r`") == "raw \\n")
        #expect(unquote("\"x\" trailing")?.count == 1)
        for bad in ["\"", "\"abc", "\"a\nb\"", #""\q""#, #""\'""#, #""\ud800""#, #""\U00110000""#, #""\400""#,
                    #""\x4""#, #""\xg0""#, "`abc", "'a'", ""] {
            #expect(unquote(bad) == nil, "\(bad)")
        }
        #expect(GoQuoting.quote("-X \"a b\"\t\u{1}\u{7f}é\u{200b}") == #""-X \"a b\"\t\x01\x7fé\u200b""#)
        #expect(GoQuoting.keyNeedsQuotes([]) && GoQuoting.keyNeedsQuotes(Array("a=b".utf8)))
        #expect(!GoQuoting.valueNeedsQuotes(Array("a=b".utf8)) && GoQuoting.valueNeedsQuotes(Array("a`".utf8)))
    }

    // MARK: Damaged blobs

    @Test func damagedHeaders() throws {
        let blob = try GoBuildInfoTests.blob()
        let header = blob.headerOffset
        func read(_ bytes: [UInt8]) throws(ELFError) -> GoBuildInfo? {
            try GoBuildInfo.read(from: ELFFile(source: MemoryByteSource(bytes)))
        }

        // A version length varint that never ends within 10 bytes.
        var runaway = blob.bytes
        runaway.replaceSubrange(Int(header) + 32 ..< Int(header) + 42, with: repeatElement(0xff, count: 10))
        var error = try #require(throws: ELFError.self) { try read(runaway) }
        #expect(error.kind == .overflow && error.offset == header + 32, "\(error)")

        // A tenth varint byte above 1 overflows 64 bits too.
        runaway.replaceSubrange(Int(header) + 32 ..< Int(header) + 42, with: repeatElement(0x80, count: 9) + [0x02])
        error = try #require(throws: ELFError.self) { try read(runaway) }
        #expect(error.kind == .overflow, "\(error)")

        // A version string longer than the segment's file image.
        var long = blob.bytes
        long.replaceSubrange(Int(header) + 32 ..< Int(header) + 35, with: GoBlob.uvarint(0x10_0000))
        error = try #require(throws: ELFError.self) { try read(long) }
        #expect(error.kind == .truncated && error.offset == header + 32, "\(error)")

        // An absurd length is refused before anything is read.
        long.replaceSubrange(Int(header) + 32 ..< Int(header) + 37, with: GoBlob.uvarint(0x7fff_ffff))
        error = try #require(throws: ELFError.self) { try read(long) }
        #expect(error.kind == .invalid && error.value == 0x7fff_ffff, "\(error)")

        // An empty version: Go calls that "not a Go executable".
        var noVersion = blob.bytes
        noVersion[Int(header) + 32] = 0
        #expect(try read(noVersion) == nil)

        // Pre-1.18 layout with an impossible pointer size, or pointers to nowhere.
        var pointers = blob.bytes
        pointers[Int(header) + 14] = 3
        pointers[Int(header) + 15] = 0
        error = try #require(throws: ELFError.self) { try read(pointers) }
        #expect(error.kind == .invalid && error.offset == header + 14 && error.value == 3, "\(error)")
        pointers[Int(header) + 14] = 8
        pointers.replaceSubrange(Int(header) + 16 ..< Int(header) + 32, with: repeatElement(0xee, count: 16))
        error = try #require(throws: ELFError.self) { try read(pointers) }
        #expect(error.message.contains("Go version string header"), "\(error)")

        // The magic off its 16-byte alignment is not a header.
        var unaligned = blob.bytes
        unaligned.replaceSubrange(Int(header) ..< Int(header) + 15, with: [0] + GoBuildInfo.magic)
        #expect(try read(unaligned) == nil)

        // A header whose 32 bytes would run past the end of .go.buildinfo.
        var cut = blob.bytes
        cut[Int(header)] = 0
        let last = Int(header) + Int(blob.sectionSize) - 16
        cut.replaceSubrange(last ..< last + 14, with: GoBuildInfo.magic)
        error = try #require(throws: ELFError.self) { try read(cut) }
        #expect(error.kind == .truncated && error.offset == UInt64(last), "\(error)")
    }

    /// The file cut short anywhere in or after the blob, and every byte of the blob set to
    /// boundary and random values: each must return or throw, never trap.
    @Test(arguments: [false, true])
    func truncatedAndMutatedBlobs(withoutSectionHeaders: Bool) throws {
        let blob = try GoBuildInfoTests.blob()
        var original = blob.bytes
        if withoutSectionHeaders {
            // The same effect as strip-section-headers for the reader: e_shoff = 0.
            original.replaceSubrange(0x28 ..< 0x30, with: repeatElement(0, count: 8))
        }
        let expected = try GoBuildInfo.read(from: ELFFile(source: MemoryByteSource(original)))
        #expect(expected != nil)
        let start = Int(blob.headerOffset)
        var outcomes = (parsed: 0, notGo: 0, threw: 0)
        func attempt(_ bytes: [UInt8]) {
            do {
                if try GoBuildInfo.read(from: ELFFile(source: MemoryByteSource(bytes))) == nil {
                    outcomes.notGo += 1
                } else {
                    outcomes.parsed += 1
                }
            } catch {
                outcomes.threw += 1
            }
        }
        for length in start ..< start + Int(blob.sectionSize) + 16 {
            attempt(Array(original[..<length]))
        }
        var generator = SplitMix64(seed: 0x474f_4255_494c_4431)  // "GOBUILD1"
        for position in start ..< start + Int(blob.sectionSize) {
            for value in [0x00, 0x01, 0x7f, 0x80, 0xff, UInt8.random(in: 0 ... 255, using: &generator)] as [UInt8] {
                var mutated = original
                mutated[position] = value
                attempt(mutated)
            }
        }
        // Each kind of outcome happens: damaged blobs are told apart from good ones.
        #expect(outcomes.parsed > 0 && outcomes.notGo > 0 && outcomes.threw > 0, "\(outcomes)")
    }

    // MARK: Helpers

    static func blob() throws -> GoBlob { try GoBlob(subject("x86_64/go-nocgo")) }
}
