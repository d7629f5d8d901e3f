import Testing
@testable import ELFKitCore

/// `RepeatedWarnings`: which lines become one, and what that line says. The expected
/// lines are written out by hand.
@Suite struct RepeatedWarningsTests {
    let subjects = ["bin/a", "bin/b", "bin/c", "bin/d", "bin/a b", "lib/x.so"]

    @Test func moreThanThreeFilesBecomeOneLineAtTheFirstPlace() {
        let lines = [
            "bin/a uses the name service (imports getpwnam)",
            "lib/x.so loads code with dlopen (imports dlopen)",
            "bin/b uses the name service (imports getpwuid, getpwnam)",
            "bin/c uses the name service (imports getaddrinfo)",
            "a warning about no file",
            "bin/d uses the name service (imports getpwnam)",
        ]
        #expect(RepeatedWarnings.aggregate(lines, subjects: subjects) == [
            "4 files (bin/a, bin/b, bin/c and 1 more): uses the name service (imports getaddrinfo, getpwnam, getpwuid)",
            "lib/x.so loads code with dlopen (imports dlopen)",
            "a warning about no file",
        ])
    }

    @Test func threeFilesOrFewerKeepTheirLines() {
        let lines = ["bin/a: no ELF file under it", "bin/b: no ELF file under it", "bin/c: no ELF file under it"]
        #expect(RepeatedWarnings.aggregate(lines, subjects: subjects) == lines)
    }

    /// `bin/a b` is its own file, not `bin/a` with a message starting "b"; the same file
    /// named twice counts once; `: ` and a space are the two separators.
    @Test func longestSubjectAndDistinctFiles() {
        let lines = ["bin/a b: odd", "bin/a: odd", "bin/a: odd", "bin/b odd", "bin/c: odd"]
        #expect(RepeatedWarnings.aggregate(lines, subjects: subjects) == ["4 files (bin/a b, bin/a, bin/b and 1 more): odd"])
        let indexed = RepeatedWarnings.lines(["x", "bin/a: odd", "bin/b: odd", "bin/c: odd", "bin/d: odd"], subjects: subjects)
        #expect(indexed.map(\.first) == [0, 1])
    }

    /// A file name may hold the separators itself (`dir: x/a`, `bin/a:`): the longest
    /// name that leads the line and is followed by a separator is the subject.
    @Test func separatorsInsideFileNames() {
        let named = ["dir", "dir: x/a", "bin/a:", "c", "d"]
        let lines = ["dir: x/a: broken", "bin/a:: broken", "c: broken", "d broken"]
        #expect(RepeatedWarnings.aggregate(lines, subjects: named) == ["4 files (dir: x/a, bin/a:, c and 1 more): broken"])
        #expect(RepeatedWarnings.aggregate(["dir: x/a: one", "dir: two"], subjects: named) == ["dir: x/a: one", "dir: two"])
    }
}
