import Foundation
import XCTest

/// Every command README.md shows runs as shown (issue 19): the shell lines of its ```sh
/// blocks are run, one `sh -c` each, with the built swelf first on PATH, in a new
/// directory per block that holds the files the block names (`app`, `dist/bin/app`,
/// `build/myapp`, `dist/`: copies of /bin/ls). A line must exit 0, or the status an
/// `<!-- exit: N -->` comment before its block gives. A block after
/// `<!-- not run: REASON -->` (installing, the release build and the whole test suite)
/// is skipped, counted and reported with its reason; a skip is never a pass, and a
/// ```sh block with neither runs.
final class ReadmeCommandsTests: EndToEndTestCase {
    struct Block {
        var lines: [String]
        /// `<!-- not run: REASON -->`.
        var skipReason: String?
        /// `<!-- exit: N -->`: every line's expected status (default 0).
        var status: Int32 = 0
        /// Its first line in README.md, for messages.
        var lineNumber: Int
    }

    /// The ```sh blocks of `text`, with the marker comment on the last non-empty line before each.
    static func shellBlocks(_ text: String) -> [Block] {
        let lines = text.components(separatedBy: "\n")
        var blocks: [Block] = []
        var index = 0
        while index < lines.count {
            guard lines[index].trimmingCharacters(in: .whitespaces) == "```sh" else {
                index += 1
                continue
            }
            let marker = lines[..<index].last { !$0.trimmingCharacters(in: .whitespaces).isEmpty } ?? ""
            var block = Block(lines: [], lineNumber: index + 2)
            if let reason = comment(marker, "not run:") { block.skipReason = reason }
            if let status = comment(marker, "exit:").flatMap({ Int32($0) }) { block.status = status }
            index += 1
            while index < lines.count && !lines[index].hasPrefix("```") {
                let line = lines[index].trimmingCharacters(in: .whitespaces)
                if !line.isEmpty && !line.hasPrefix("#") { block.lines.append(line) }
                index += 1
            }
            blocks.append(block)
            index += 1
        }
        return blocks
    }

    /// The text of `<!-- KEY text -->`, or nil.
    static func comment(_ line: String, _ key: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasPrefix("<!-- \(key)"), trimmed.hasSuffix("-->") else { return nil }
        return String(trimmed.dropFirst("<!-- \(key)".count).dropLast(3)).trimmingCharacters(in: .whitespaces)
    }

    /// The files a README command may name, made when a word of its block names them.
    static let fixtures: [(word: String, files: [String])] = [
        ("app", ["app"]), ("dist/bin/app", ["dist/bin/app"]), ("build/myapp", ["build/myapp"]), ("dist/", ["dist/bin/app"]),
    ]

    /// The README's blocks, run; returns (lines run, lines skipped with their reasons).
    static func run(readme: String) throws -> (ran: Int, skipped: [String], failures: [String]) {
        let bin = try ScratchDirectory("readme-bin")
        try FileManager.default.createSymbolicLink(atPath: bin.path("swelf"), withDestinationPath: E2E.swelf)
        let path = bin.url.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        var ran = 0
        var skipped: [String] = []
        var failures: [String] = []
        for block in shellBlocks(readme) {
            if let reason = block.skipReason {
                skipped += block.lines.map { "README.md:\(block.lineNumber): \($0)  (not run: \(reason))" }
                continue
            }
            let scratch = try ScratchDirectory("readme")
            let words = Set(block.lines.flatMap { $0.split(separator: " ").map(String.init) })
            for (word, files) in fixtures where words.contains(word) {
                for file in files {
                    try FileManager.default.createDirectory(at: scratch.url.appendingPathComponent(file).deletingLastPathComponent(),
                                                            withIntermediateDirectories: true)
                    try FileManager.default.copyItem(atPath: "/bin/ls", toPath: scratch.path(file))
                }
            }
            for line in block.lines {
                let result = try ChildProcess.run("/bin/sh", ["-c", line], cwd: scratch.url, environment: ["PATH": path], timeout: 120)
                ran += 1
                if result.status != block.status {
                    failures.append("README.md:\(block.lineNumber): `\(line)` exited \(result.status), expected \(block.status): \(result.stderr)")
                }
            }
        }
        return (ran, skipped, failures)
    }

    /// The targets of the README's relative Markdown links (`[text](docs/json.md)`), without
    /// any `#anchor`; web addresses are left out.
    static func localLinks(in readme: String) -> [String] {
        var links: [String] = []
        var rest = readme[...]
        while let open = rest.range(of: "](") {
            rest = rest[open.upperBound...]
            guard let close = rest.firstIndex(of: ")") else { break }
            let target = String(rest[..<close]).components(separatedBy: "#")[0]
            if !target.isEmpty && !target.contains("://") && !target.hasPrefix("mailto:") { links.append(target) }
            rest = rest[close...]
        }
        return links
    }

    func testEveryReadmeCommandRunsAsShown() throws {
        let readme = try String(contentsOf: Repo.root.appendingPathComponent("README.md"), encoding: .utf8)
        // The first screen says what swelf is and how to install it.
        let firstScreen = readme.components(separatedBy: "\n").prefix(40).joined(separator: "\n")
        XCTAssert(firstScreen.hasPrefix("# swelf\n") && firstScreen.contains("## Install")
                  && firstScreen.contains("Swift 6") && firstScreen.contains("scripts/install"), firstScreen)
        // Every file the README links to exists (the licence and the changelog were once missing).
        for target in ReadmeCommandsTests.localLinks(in: readme) {
            XCTAssert(FileManager.default.fileExists(atPath: Repo.root.appendingPathComponent(target).path),
                      "README.md links to \(target), which does not exist")
        }
        XCTAssert(ReadmeCommandsTests.localLinks(in: readme).contains("LICENSE"), "README.md names no licence")
        let (ran, skipped, failures) = try ReadmeCommandsTests.run(readme: readme)
        print("README commands: \(ran) run, \(skipped.count) not run:\n" + skipped.map { "  " + $0 }.joined(separator: "\n"))
        XCTAssert(failures.isEmpty, failures.joined(separator: "\n"))
        XCTAssertGreaterThanOrEqual(ran, 7, "the README's tour was not found")
        XCTAssert(skipped.allSatisfy { !$0.hasSuffix("(not run: )") }, "a block marked not run without a reason")
    }

    /// The test of the test: a README whose command is broken, or whose exit marker is
    /// wrong, fails; a skipped line is counted as skipped, not as run.
    func testABrokenReadmeCommandFails() throws {
        let readme = """
        # swelf

        ```sh
        swelf --print-needed app
        swelf --no-such-option app
        ```

        <!-- exit: 1 -->
        ```sh
        swelf doctor app
        ```

        <!-- not run: installs -->
        ```sh
        scripts/install
        ```

        """
        let (ran, skipped, failures) = try ReadmeCommandsTests.run(readme: readme)
        XCTAssertEqual(ran, 3)
        XCTAssertEqual(skipped, ["README.md:15: scripts/install  (not run: installs)"])
        XCTAssertEqual(failures.count, 2, failures.joined(separator: "\n"))
        XCTAssert(failures.first?.hasPrefix("README.md:4: `swelf --no-such-option app` exited 64, expected 0") == true, "\(failures)")
        XCTAssert(failures.last?.hasPrefix("README.md:10: `swelf doctor app` exited 0, expected 1") == true, "\(failures)")
    }
}
