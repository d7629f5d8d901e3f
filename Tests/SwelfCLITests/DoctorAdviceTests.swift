import Foundation
import Testing

/// doctor's advice (issue 19): each finding leads to the fix that fits the file, checked
/// on real programs built here with gcc, Go and the aarch64 cross tools.
@Suite struct DoctorAdviceTests {
    /// A scratch directory, removed by the caller.
    static func scratch(_ purpose: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swelf-advice-\(purpose)-\(getpid())-\(UInt32.random(in: 0 ... .max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// A cgo program with C code of its own (a function in the preamble) that also
    /// resolves host names with the net package. Its own C code makes Go link externally,
    /// through gcc and GNU ld, which shares the bytes of `getaddrinfo` in `.dynstr` with
    /// the tail of `_cgo_<hash>_C2func_getaddrinfo`.
    static func goProgramWithOwnC(in directory: URL) throws -> String {
        try """
        package main

        /*
        static int twice(int x) { return 2 * x; }
        */
        import "C"

        import (
        \t"fmt"
        \t"net"
        )

        func main() {
        \taddrs, err := net.LookupHost("localhost")
        \tfmt.Println(addrs, err, C.twice(21))
        }

        """.write(to: directory.appendingPathComponent("main.go"), atomically: true, encoding: .utf8)
        try "module example.com/owncgo\n\ngo 1.19\n".write(to: directory.appendingPathComponent("go.mod"), atomically: true, encoding: .utf8)
        let program = directory.appendingPathComponent("owncgo").path
        let go = try #require(ChildProcess.path("go"), "go not found: run scripts/install-test-deps")
        let build = try ChildProcess.run("/usr/bin/env", ["CGO_ENABLED=1", "GOFLAGS=-mod=mod", go, "build", "-o", program, "."], cwd: directory)
        #expect(build.status == 0, "go build: \(build.stderr)")
        return program
    }

    /// Name-service use is read from `.dynsym`'s undefined symbols: a Go cgo program whose
    /// `getaddrinfo` is only the tail of another `.dynstr` string is seen.
    @Test func nameServiceOfAGoProgramWithSharedStringTails() throws {
        let directory = try Self.scratch("nss")
        defer { try? FileManager.default.removeItem(at: directory) }
        let program = try Self.goProgramWithOwnC(in: directory)
        // The shape the old reading missed: no `getaddrinfo` word of its own in .dynstr,
        // but an undefined dynamic symbol of that name (readelf is the oracle).
        let strings = try ChildProcess.run("readelf", ["-p", ".dynstr", program]).stdout
        let words = strings.split(separator: "\n").compactMap { $0.split(separator: "]", maxSplits: 1).last?.trimmingCharacters(in: .whitespaces) }
        #expect(!words.contains("getaddrinfo"), "the linker kept getaddrinfo as a string of its own: \(strings)")
        let symbols = try ChildProcess.run("readelf", ["--dyn-syms", "-W", program]).stdout
        #expect(symbols.contains("UND getaddrinfo@"), "\(symbols)")

        let result = try Swelf.run(["doctor", "--env", "LD_LIBRARY_PATH=", program])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("resolves host names through the C library (getaddrinfo)"), "\(result.stdout)")
    }
}
