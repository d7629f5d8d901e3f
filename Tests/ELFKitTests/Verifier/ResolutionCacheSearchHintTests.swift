import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitVerify

/// Run-path components that only mean something at run time become `?` search hints in
/// the resolution cache note, in run-path order (patchelf master, tests/build-resolution-
/// cache-search-hint.sh): an empty component (ld.so searches the current directory there)
/// gives a bare `?`, a relative one `?DIR`, so that a later `=` entry cannot jump ahead of
/// that search position, and neither is probed against swelf's own current directory.
///
/// The editor's note and the verifier's own expectation are each held to descriptors
/// written out here by hand, and the verifier must accept the planned file. The fake file
/// system makes every name readable in /fake/a and /fake/b and also relative to the
/// current directory ("NAME", "relative/dir/NAME"), so a builder that probed those would
/// write `=` entries for them.
@Suite struct ResolutionCacheSearchHintTests {
    /// The run path, and each searched name's entries with `=DIR` standing for `=DIR/NAME`;
    /// nil: nothing to resolve (no note, a warning).
    static let cases: [(runPath: String, entries: [String]?)] = [
        (":/fake/a", ["?", "=/fake/a"]),
        ("relative/dir:/fake/a", ["?relative/dir", "=/fake/a"]),
        ("/fake/a::/fake/b", ["=/fake/a", "?", "=/fake/b"]),
        ("./lib:/fake/b", ["?./lib", "=/fake/b"]),
        ("$ORIGIN/lib::/fake/a", ["?$ORIGIN/lib", "?", "=/fake/a"]),
        // patchelf's split leaves out an empty component after the last colon.
        ("/fake/a:", ["=/fake/a"]),
        ("/fake/a::", ["=/fake/a", "?"]),
        (":", ["?"]),
        ("::", ["?", "?"]),
        ("", nil),
    ]

    static func expected(_ entries: [String], names: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        for name in Set(names).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let value = entries.map { $0.hasPrefix("=") ? Array($0.utf8) + [UInt8(ascii: "/")] + name : Array($0.utf8) }
            bytes += name + [0] + Array(value.joined(separator: [UInt8(ascii: ":")])) + [0]
        }
        return bytes + [0]
    }

    @Test func emptyAndRelativeComponentsAreSearchHints() throws {
        let file = try ELFFile(source: MemoryByteSource(try Subject.named("x86_64/hello").contents()))
        let dynamic = try #require(try file.dynamic())
        let needed = try dynamic.all(.needed).map { try dynamic.rawString(at: $0) }.filter { !$0.contains(UInt8(ascii: "/")) }
        try #require(!needed.isEmpty && Set(needed).count == needed.count)
        var paths = FakePaths()
        for name in needed {
            for directory in ["/fake/a/", "/fake/b/", "", "relative/dir/", "./lib/"] { paths.readable.insert(Array(directory.utf8) + name) }
        }
        for (runPath, entries) in Self.cases {
            var request = EditRequest()
            request.runPath = .set(Array(runPath.utf8))
            request.buildResolutionCache = true
            let outcome = try DynamicEditor(file: file, resolutionProbe: paths).apply(request)
            let verifierView = ResolutionCacheExpectation.resolve(runPath: Array(runPath.utf8), needed: needed, probe: paths)
            guard let entries else {
                #expect(outcome.resolutionCacheNote == nil, "\(runPath.debugDescription): a note was built")
                #expect(outcome.warnings.contains { $0.contains("no DT_NEEDED entries or run path to resolve") }, "\(runPath.debugDescription): \(outcome.warnings)")
                continue
            }
            let want = Self.expected(entries, names: needed)
            #expect(verifierView == want, "\(runPath.debugDescription): the verifier expects \(String(decoding: verifierView ?? [], as: UTF8.self).debugDescription)")
            let (_, built) = try VerifierSabotageTests.planned(file, request, paths)
            let section = try #require(VerifierSabotageTests.noteSection(built), "\(runPath.debugDescription): no note")
            let note = ResolutionCacheNote.descriptor(of: section, in: built)
            #expect(note == want, "\(runPath.debugDescription): the editor wrote \(String(decoding: note ?? [], as: UTF8.self).debugDescription)")
            let problems = IndependentVerifier(original: file, edited: built, request: request, probe: paths).problems()
            #expect(problems.isEmpty, "\(runPath.debugDescription): \(problems)")
        }
    }
}
