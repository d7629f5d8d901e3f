import Foundation
import XCTest

/// Issue 7, cases 2, 3, 6, 7 and 8: edits that must leave every other reference intact.
/// Each test patches a real subject on every architecture where the case applies, runs
/// it, and compares readelf and eu-elflint before and after.
final class DynamicReferenceTests: EndToEndTestCase {
    override class var requiredTools: [String] { [ELFLint.path] }

    // MARK: Oracles

    /// eu-elflint's complaints with numbers blanked, so a complaint the input already had
    /// still matches when an entry index or offset shifts.
    func elflintComplaints(_ url: URL) throws -> Set<String> {
        let r = try runTool(ELFLint.path, ["--gnu-ld", "--quiet", url.path])
        let lines = (r.stdout + r.stderr).split(separator: "\n").map { line in
            String(line).replacingOccurrences(of: url.path, with: "FILE")
                .replacingOccurrences(of: "(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*", with: "#", options: .regularExpression)
        }
        return Set(lines)
    }

    func assertNoNewComplaints(before: Set<String>, after url: URL, _ context: String,
                               file: StaticString = #filePath, line: UInt = #line) throws {
        let new = try elflintComplaints(url).subtracting(before)
        XCTAssertTrue(new.isEmpty, "[\(context)] new eu-elflint complaints:\n\(new.sorted().joined(separator: "\n"))",
                      file: file, line: line)
    }

    /// `readelf --dyn-syms`: name (with version) of every dynamic symbol, in order.
    func dynamicSymbolNames(_ url: URL) throws -> [String] {
        try readelf(["--dyn-syms", url.path]).stdout.split(separator: "\n")
            .filter { $0.contains(":") && !$0.contains("Symbol table") && !$0.contains("Num:") }
            .map { String($0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(7).joined(separator: " ")) }
    }

    /// `readelf -V`'s "File:" lines of .gnu.version_r.
    func versionNeedFiles(_ url: URL) throws -> [String] {
        try readelf(["-V", url.path]).stdout.split(separator: "\n").compactMap { line in
            guard let range = line.range(of: "File: ") else { return nil }
            return String(line[range.upperBound...].split(separator: " ").first ?? "")
        }
    }

    /// A path to the same loader that is longer than the program's interpreter.
    func longerInterpreter(_ url: URL) throws -> String {
        let current = try XCTUnwrap(try interpreter(url), "no interpreter in \(url.path)")
        let path = URL(fileURLWithPath: current)
        let directory = path.deletingLastPathComponent()
        return directory.path + "/../" + directory.lastPathComponent + "/" + path.lastPathComponent
    }

    // MARK: Case 2

    /// `--replace-needed libm.so.6 libq.so.1` on a library whose DT_AUXILIARY shares the
    /// DT_NEEDED string: the new name fits over "libm.so.6", but DT_AUXILIARY must still
    /// say libm.so.6. libq.so.1 is a copy of libunused.so, so the program still runs.
    func testReplaceNeededKeepsAuxiliaryString() throws {
        let box = try ScratchDirectory("auxiliary")
        forEachStaged(box, programs: ["useaux"], libraries: ["libaux.so"]) { staged in
            let (program, lib, subject) = (staged.program, staged.lib, staged.subject)
            let ctx = "\(staged.arch)/libaux.so --replace-needed"
            try box.copy("\(staged.arch)/libunused.so", into: lib, as: "libq.so.1")
            // DT_RPATH also serves libaux.so's own DT_NEEDED. (patchelf 0.19.3 cannot set it on mips.)
            guard try patch(["--force-rpath", "--set-rpath", "$ORIGIN/lib"], program, ctx + " setup") else { return }
            try assertRuns(program, like: subject, ctx + " (before)")
            let library = lib.appendingPathComponent("libaux.so")
            XCTAssertEqual(try dynamicValue(library, tag: "AUXILIARY"), ["libm.so.6"], "[\(ctx)] subject")
            let lint = try elflintComplaints(library)
            let symbols = try dynamicSymbolNames(library)
            let versions = try versionNeedFiles(library)
            guard try patch(["--replace-needed", "libm.so.6", "libq.so.1"], library, ctx) else { return }
            XCTAssertEqual(try dynamicValue(library, tag: "AUXILIARY"), ["libm.so.6"], "[\(ctx)] DT_AUXILIARY")
            XCTAssertEqual(try dynamicValue(library, tag: "NEEDED").first, "libq.so.1", "[\(ctx)] DT_NEEDED")
            XCTAssertEqual(try dynamicValue(library, tag: "SONAME"), ["libaux.so"], "[\(ctx)] DT_SONAME")
            XCTAssertEqual(try dynamicSymbolNames(library), symbols, "[\(ctx)] dynamic symbols")
            XCTAssertEqual(try versionNeedFiles(library), versions.map { $0 == "libm.so.6" ? "libq.so.1" : $0 }, "[\(ctx)] readelf -V")
            try assertNoNewComplaints(before: lint, after: library, ctx)
            try assertRuns(program, like: subject, ctx)
        }
    }

    // MARK: Case 3

    /// `--remove-needed libm.so.6` on a program whose only use of libm is a weak,
    /// versioned cos: readelf -V no longer lists libm, the section header describes the
    /// new table, and the program runs without libm.
    func testRemoveNeededRewritesVersionNeedSection() throws {
        // No powerpc/weakcos: its libm traps under qemu-ppc (scripts/build-test-binaries, case 3).
        forEachStaged(try ScratchDirectory("weakcos"), programs: ["weakcos"], libraries: [],
                      architectures: E2E.architectures.filter { $0 != "powerpc" }) { staged in
            let (program, subject) = (staged.program, staged.subject)
            let ctx = "\(staged.name) --remove-needed"
            try assertRuns(program, like: subject, ctx + " (before)")
            XCTAssertTrue(try versionNeedFiles(program).contains("libm.so.6"), "[\(ctx)] subject has no libm version need")
            let lint = try elflintComplaints(program)
            let symbols = try dynamicSymbolNames(program)
            let versions = try versionNeedFiles(program)
            guard try patch(["--remove-needed", "libm.so.6"], program, ctx) else { return }
            XCTAssertFalse(try dynamicValue(program, tag: "NEEDED").contains("libm.so.6"), "[\(ctx)]")
            XCTAssertEqual(try versionNeedFiles(program), versions.filter { $0 != "libm.so.6" }, "[\(ctx)] readelf -V")
            let header = try readelf(["-V", program.path]).stdout
            XCTAssertTrue(header.contains("'.gnu.version_r' contains \(versions.count - 1) entr"), "[\(ctx)] sh_info:\n\(header)")
            // Only cos loses its (libm) version.
            let expected = symbols.map { $0.hasPrefix("cos@") ? "cos" : $0 }
            XCTAssertEqual(try dynamicSymbolNames(program).map { $0.hasPrefix("cos@") ? "cos (still versioned)" : $0 }, expected,
                           "[\(ctx)] dynamic symbols")
            try assertNoNewComplaints(before: lint, after: program, ctx)
            try assertRuns(program, like: subject, expecting: "cos absent\n", ctx)
        }
    }

    /// Removing the only library a `.gnu.version_r` names (libgreet's libc.so.6; the
    /// program loads libc anyway) drops DT_VERNEED, and DT_VERSYM with it: glibc would
    /// index the missing version list through DT_VERSYM and crash. The section headers
    /// no longer claim version tables, and the program runs.
    func testRemovingEveryVersionNeed() throws {
        forEachStaged(try ScratchDirectory("allversions")) { staged in
            let (program, lib, subject) = (staged.program, staged.lib, staged.subject)
            let ctx = "\(staged.arch)/libgreet.so.1 --remove-needed libc.so.6"
            guard try patch(["--set-rpath", "$ORIGIN/lib"], program, ctx + " setup") else { return }
            let library = lib.appendingPathComponent("libgreet.so.1")
            XCTAssertEqual(try versionNeedFiles(library), ["libc.so.6"], "[\(ctx)] subject")
            let lint = try elflintComplaints(library)
            let symbols = try dynamicSymbolNames(library).map { $0.components(separatedBy: "@")[0] }
            guard try patch(["--remove-needed", "libc.so.6"], library, ctx) else { return }
            let dynamic = try readelf(["-d", library.path]).stdout
            for tag in ["(NEEDED)", "(VERNEED)", "(VERNEEDNUM)", "(VERSYM)"] {
                XCTAssertFalse(dynamic.contains(tag), "[\(ctx)] \(tag) left:\n\(dynamic)")
            }
            XCTAssertTrue(try readelf(["-V", library.path]).stdout.contains("No version information"), "[\(ctx)] readelf -V")
            XCTAssertEqual(try dynamicSymbolNames(library), symbols, "[\(ctx)] dynamic symbols (now unversioned)")
            try assertNoNewComplaints(before: lint, after: library, ctx)
            try assertRuns(program, like: subject, ctx)
        }
    }

    // MARK: Case 6

    /// A growing edit moves tables into a new segment: every .symtab symbol of a section
    /// that moved, with its value in the section's old range, moves by the section's
    /// distance (readelf -S before and after gives the distance), every other symbol
    /// keeps its value, and eu-elflint finds no symbol out of bounds.
    func testSymtabValuesFollowMovedSections() throws {
        let long = PerArchitectureTests.rpath(ofLength: 300)
        forEachStaged(try ScratchDirectory("symtab")) { staged in
            let (arch, program, subject) = (staged.arch, staged.program, staged.subject)
            let ctx = "\(staged.name) long rpath, .symtab"
            let lint = try elflintComplaints(program)
            let oldSymbols = try staticSymbols(program)
            let oldSections = try sectionExtents(program)
            guard try patch(["--set-rpath", long], program, ctx) else { return }
            let newSections = try sectionExtents(program)
            let newSymbols = try staticSymbols(program)
            XCTAssertEqual(newSymbols.map(\.name), oldSymbols.map(\.name), "[\(ctx)] .symtab names")
            var followed = 0
            for (old, new) in zip(oldSymbols, newSymbols) {
                var expected = old.value
                if let index = Int(old.section), let before = oldSections[index], let after = newSections[index],
                   before.address != after.address, old.value >= before.address, old.value - before.address <= before.size {
                    expected = old.value &- before.address &+ after.address
                    followed += 1
                }
                XCTAssertEqual(new.value, expected, "[\(ctx)] symbol '\(old.name)' (\(old.type), section \(old.section))")
            }
            XCTAssertTrue(arch == "x86_64" || followed > 0, "[\(ctx)] no symbol of a moved section: the test proves nothing")
            try assertNoNewComplaints(before: lint, after: program, ctx)
            try assertRuns(program, like: subject, ctx)
        }
    }

    struct StaticSymbol { var value: UInt64; var type: String; var section: String; var name: String }

    func staticSymbols(_ url: URL) throws -> [StaticSymbol] {
        var inSymtab = false
        var result: [StaticSymbol] = []
        for line in try readelf(["-s", url.path]).stdout.split(separator: "\n") {
            if line.hasPrefix("Symbol table") { inSymtab = line.contains("'.symtab'"); continue }
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard inSymtab, fields.count >= 7, fields[0].hasSuffix(":"), let value = UInt64(fields[1], radix: 16) else { continue }
            result.append(StaticSymbol(value: value, type: fields[3], section: fields[6],
                                       name: fields.count > 7 ? fields[7...].joined(separator: " ") : ""))
        }
        return result
    }

    /// `readelf -S`: address and size of each section by index.
    func sectionExtents(_ url: URL) throws -> [Int: (address: UInt64, size: UInt64)] {
        var result: [Int: (address: UInt64, size: UInt64)] = [:]
        for line in try readelf(["-S", url.path]).stdout.split(separator: "\n") {
            guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]"),
                  let index = Int(line[line.index(after: open) ..< close].trimmingCharacters(in: .whitespaces)) else { continue }
            let fields = Array(line[line.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true))
            // The name may be empty: the address is the first 8- or 16-digit field, then offset and size.
            guard let at = fields.firstIndex(where: { ($0.count == 8 || $0.count == 16) && UInt64($0, radix: 16) != nil }),
                  at + 2 < fields.count, let address = UInt64(fields[at], radix: 16),
                  let size = UInt64(fields[at + 2], radix: 16) else { continue }
            result[index] = (address, size)
        }
        return result
    }

    // MARK: Case 7

    /// DT_GNU_HASH points at a zeroed table (strip --remove-section=.gnu.hash): swelf
    /// edits the program and the library as patchelf does, and the program runs.
    func testZeroedGnuHash() throws {
        let box = try ScratchDirectory("nogh")
        forEachStaged(box, programs: ["hello-nogh"], libraries: ["libgreet.so.1", "libunused.so", "libctor-nogh.so"],
                      architectures: E2E.architectures.filter { !$0.hasPrefix("mips") }) { staged in
            let (arch, program, lib, subject) = (staged.arch, staged.program, staged.lib, staged.subject)
            let ctx = staged.name
            let newInterpreter = try longerInterpreter(program)
            let reference = try box.copy("\(arch)/hello-nogh", into: try box.dir("\(arch)-patchelf"))
            let patched = try patchelf(["--set-interpreter", newInterpreter, reference.path])
            XCTAssertEqual(patched.status, 0, "[\(ctx)] patchelf (the reference) fails:\n\(patched.summary)")
            let lint = try elflintComplaints(program)
            let symbols = try dynamicSymbolNames(program)
            guard try patch(["--set-interpreter", newInterpreter, "--set-rpath", "$ORIGIN/lib"], program, ctx) else { return }
            XCTAssertEqual(try interpreter(program), newInterpreter, "[\(ctx)]")
            XCTAssertEqual(try dynamicSymbolNames(program), symbols, "[\(ctx)] dynamic symbols")
            try assertNoNewComplaints(before: lint, after: program, ctx)

            let library = lib.appendingPathComponent("libctor-nogh.so")
            let libraryLint = try elflintComplaints(library)
            guard try patch(["--set-soname", "libctor-nogh-with-a-much-longer-soname.so"], library, ctx + " library") else { return }
            XCTAssertEqual(try dynamicValue(library, tag: "SONAME"), ["libctor-nogh-with-a-much-longer-soname.so"], "[\(ctx)]")
            try assertNoNewComplaints(before: libraryLint, after: library, ctx + " library")
            try assertRuns(program, like: subject, ctx)
        }
    }

    // MARK: Case 8

    /// PT_INTERP also covers a note the program prints. A shorter interpreter is written
    /// over the string alone; a longer one moves the string (PT_INTERP then describes it)
    /// or is refused when no program header can be added, leaving the file as it was.
    /// Either way the note the program prints is intact.
    func testInterpreterWiderThanItsString() throws {
        let box = try ScratchDirectory("interpnote")
        // No mips64el/interp-note: GNU ld's n64 script has no .interp line to put the note after.
        forEachStaged(box, programs: ["interp-note"], libraries: [],
                      architectures: E2E.architectures.filter { $0 != "mips64el" }) { staged in
            let (arch, program, directory, subject) = (staged.arch, staged.program, staged.directory, staged.subject)
            let ctx = staged.name
            try assertRuns(program, like: subject, ctx + " (before)")
            let loader = try XCTUnwrap(try interpreter(program))
            let longer = try longerInterpreter(program)
            let lint = try elflintComplaints(program)

            // In place: a relative path (resolved from the working directory, the program's).
            let target = subject.isNative ? loader : subject.sysroot + loader
            try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("ld.so").path,
                                                       withDestinationPath: target)
            let inPlace = try box.copy("\(arch)/interp-note", into: directory, as: "in-place")
            guard try patch(["--set-interpreter", "ld.so"], inPlace, ctx + " in place") else { return }
            XCTAssertEqual(try interpreter(inPlace), "ld.so", "[\(ctx)]")
            try assertNoNewComplaints(before: lint, after: inPlace, ctx + " in place")
            try assertRuns(inPlace, like: subject, ctx + " in place")

            // A growing edit needs a program header, which may only be added where it
            // overwrites nothing: it succeeds with the note intact or is refused.
            let grown = try box.copy("\(arch)/interp-note", into: directory, as: "grown")
            let unpatched = try bytes(grown)
            let growth = try swelf(["--set-rpath", "/" + String(repeating: "x", count: 300), grown.path])
            if growth.status == 0 {
                try assertCleanOutput(grown, ctx + " set-rpath")
                try assertRuns(grown, like: subject, ctx + " set-rpath")
            } else {
                XCTAssertTrue(growth.stderr.contains("cannot make room"), "[\(ctx)] unexpected failure:\n\(growth.summary)")
                XCTAssertEqual(try bytes(grown), unpatched, "[\(ctx)] a refused edit changed the file")
            }

            // Longer than the string, shorter than PT_INTERP.
            let moved = try box.copy("\(arch)/interp-note", into: directory, as: "moved")
            let original = try bytes(moved)
            let r = try swelf(["--set-interpreter", longer, moved.path])
            if r.status == 0 {
                try assertCleanOutput(moved, ctx)
                XCTAssertEqual(try interpreter(moved), longer, "[\(ctx)]")
                let segment = try readelf(["-l", moved.path]).stdout.split(separator: "\n").first { $0.contains("INTERP") }
                let fields = segment.map { $0.split(separator: " ", omittingEmptySubsequences: true) } ?? []
                XCTAssertEqual(fields.count > 4 ? UInt64(fields[4].dropFirst(2), radix: 16) : nil, UInt64(longer.utf8.count + 1),
                               "[\(ctx)] PT_INTERP p_filesz: \(segment ?? "none")")
                try assertNoNewComplaints(before: lint, after: moved, ctx + " moved")
                try assertRuns(moved, like: subject, ctx + " moved")
            } else {
                XCTAssertTrue(r.stderr.contains("cannot make room"), "[\(ctx)] unexpected failure:\n\(r.summary)")
                XCTAssertEqual(try bytes(moved), original, "[\(ctx)] a refused edit changed the file")
            }
        }
    }
}
