import Foundation
import Testing
@testable import ELFKitCore

/// The one reading of a file's imports (`VersionedImports.importedNames(of:)`), which
/// doctor's name-service check and bundle's run-time loading warnings share, against
/// readelf's undefined `.dynsym` entries. It reads through DT_SYMTAB, so a copy without
/// section headers has the same imports as the original (bundle's former reader, by
/// section header, found none there).
@Suite struct ImportedNamesTests {
    /// readelf's undefined dynamic symbols of `path`, without their version.
    static func readelfImports(_ path: String) throws -> Set<String> {
        let result = try ChildProcess.run("readelf", ["--dyn-syms", "-W", path])
        #expect(result.status == 0, "\(result.stderr)")
        var names: Set<String> = []
        for line in result.stdout.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 8, fields[6] == "UND", let name = fields[7].split(separator: "@").first else { continue }
            names.insert(String(name))
        }
        return names
    }

    @Test(arguments: [("x86_64/hello", "x86_64/hello"), ("x86_64/hello", "x86_64/hello-noshdr"),
                      ("x86_64/go-cgo", "x86_64/go-cgo"), ("aarch64/hello", "aarch64/hello-noshdr"),
                      ("x86_64/usecounter", "x86_64/usecounter")])
    func importsMatchReadelf(reference: String, subject: String) throws {
        let expected = try Self.readelfImports(Repo.testBinaries.appendingPathComponent(reference).path)
        #expect(!expected.isEmpty)
        let file = try ELFFile(path: Repo.testBinaries.appendingPathComponent(subject).path)
        #expect(VersionedImports.importedNames(of: file) == expected, "\(subject)")
    }
}
