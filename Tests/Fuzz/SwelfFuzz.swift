// The libFuzzer target (scripts/fuzz builds it with -sanitize=fuzzer,address; SwiftPM
// does not see this directory). Each input is an ELF file: it goes through the reader
// (every table the commands read), the structure verifier, the versioned imports that
// `portability` reports, and read → edit → plan →
// verify for one edit request chosen from the input's size, as `Rewriter.rewrite` does
// before it writes. A Swift trap, an ASan report or a timeout is a crash. The requests
// are in Tests/ELFKitTests/Support/FuzzRequests.swift (FixtureTests replays them too).
import ELFKit

/// As Tests/ELFKitTests/ByteLiterals.swift: a string literal where the library takes bytes
/// (`EditRequest`'s names) stands for its UTF-8 bytes, in this test target only.
extension Array: @retroactive ExpressibleByUnicodeScalarLiteral, @retroactive ExpressibleByExtendedGraphemeClusterLiteral,
    @retroactive ExpressibleByStringLiteral where Element == UInt8 {
    public init(stringLiteral value: String) { self = Array(value.utf8) }
    public init(unicodeScalarLiteral value: String) { self = Array(value.utf8) }
    public init(extendedGraphemeClusterLiteral value: String) { self = Array(value.utf8) }
}

private func exercise(_ bytes: [UInt8]) {
    guard let file = try? ELFFile(source: MemoryByteSource(bytes)) else { return }
    _ = try? file.interpreter()
    _ = file.sectionNames()
    _ = try? file.notes()
    _ = file.isPIE
    if let dynamic = try? file.dynamic() {
        _ = try? dynamic.needed()
        _ = try? dynamic.soname()
        _ = try? dynamic.rpath()
        _ = try? dynamic.runpath()
        _ = try? dynamic.versionNeeds()
        _ = try? dynamic.versionDefinitions()
    }
    _ = StructureVerifier(file: file).problems()
    // What `swelf portability` reads of each file: every versioned import and its symbols.
    _ = try? VersionedImports(file: file)

    let request = FuzzRequests.all[bytes.count % FuzzRequests.all.count]
    guard let plan = try? Rewriter().plan(file: file, request: request), !plan.isEmpty,
          let planned = try? ELFFile(source: PlannedByteSource(base: file.source, plan: plan)) else { return }
    _ = EditCheck(original: file, request: request).problems(edited: planned)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func swelfFuzzOneInput(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    exercise(Array(UnsafeBufferPointer(start: data, count: count)))
    return 0
}
