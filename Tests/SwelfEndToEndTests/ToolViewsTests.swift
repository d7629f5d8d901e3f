import Foundation
import XCTest

/// The shared before/after checks of ToolViews.swift, tested: they must reject files broken on
/// purpose, accept a file whose problems only moved, and read the subjects as readelf does.
final class ToolViewsTests: XCTestCase {
    override func setUpWithError() throws {
        try requireTool(E2E.readelf)
        try requireTool(ELFLint.path, hint: "install elfutils (scripts/install-test-deps)")
    }

    // MARK: normalisation (pure)

    func testNormaliseReplacesOnlyStandaloneNumbers() {
        XCTAssertEqual(ELFLint.normalise("section [ 9] '.gnu.version_r': entry 1 references unknown dependency"),
                       "section [#] '.gnu.version_r': entry # references unknown dependency")
        XCTAssertEqual(ELFLint.normalise("section [26] '.symtab': symbol 27 ($d): st_value out of bounds"),
                       "section [#] '.symtab': symbol # ($d): st_value out of bounds")
        XCTAssertEqual(ELFLint.normalise("section [ 5] '.gnu.hash': bitmask size zero or not power of 2: 100663296"),
                       "section [#] '.gnu.hash': bitmask size zero or not power of #: #")
        XCTAssertEqual(ELFLint.normalise("invalid machine flags: 0x70001007"), "invalid machine flags: #")
        // Digits inside identifiers stay: the relocation type and version names are part of the kind.
        XCTAssertEqual(ELFLint.normalise("relocation 3: R_X86_64_RELATIVE against GLIBC_2.2.5"),
                       "relocation #: R_X86_64_RELATIVE against GLIBC_2.#.#")
        // Names and wording survive, so different kinds or objects stay different.
        XCTAssertNotEqual(ELFLint.normalise("section [26] '.symtab': symbol 27 ($d): st_value out of bounds"),
                          ELFLint.normalise("section [26] '.symtab': symbol 28 (__abi_tag): st_value out of bounds"))
        XCTAssertNotEqual(ELFLint.normalise("section [ 6] '.dynamic': entry 12: unknown tag"),
                          ELFLint.normalise("section [ 6] '.dynamic': entry 12: invalid tag"))
    }

    func testNewComplaintsCountsInstancesNotJustKinds() {
        let before = ["section [ 6] '.dynamic': entry 14: unknown tag",
                      "section [ 6] '.dynamic': entry 26: unknown tag"]
        // The same two complaints at shifted entries: nothing new.
        XCTAssertTrue(ELFLint.newComplaints(input: before, output: [
            "section [ 6] '.dynamic': entry 13: unknown tag",
            "section [ 6] '.dynamic': entry 19: unknown tag"]).isEmpty)
        // A third instance of the same kind is new.
        let third = ELFLint.newComplaints(input: before, output: before + ["section [ 6] '.dynamic': entry 27: unknown tag"])
        XCTAssertEqual(third.map(\.normalised), ["section [#] '.dynamic': entry #: unknown tag"])
        // A new kind is new; a complaint that went away is not reported.
        let kind = ELFLint.newComplaints(input: before, output: ["section [ 9] '.gnu.version_r': entry 1 references unknown dependency"])
        XCTAssertEqual(kind.map(\.example), ["section [ 9] '.gnu.version_r': entry 1 references unknown dependency"])
    }

    // MARK: eu-elflint on real files

    /// Sabotage: a copy of `hello` whose .dynsym section header has sh_offset one byte off. The
    /// check must report new complaints on every architecture, and none for an untouched copy.
    func testSectionOffsetBytePatchIsCaught() throws {
        let box = try ScratchDirectory("lint-sabotage")
        forEachArch { arch in
            let dir = try box.dir(arch)
            let original = try box.copy("\(arch)/hello", into: dir)
            let same = try box.copy("\(arch)/hello", into: dir, as: "hello-copy")
            XCTAssertTrue(try ELFLint.newComplaints(input: original, output: same).isEmpty, "[\(arch)] untouched copy")

            let broken = try box.copy("\(arch)/hello", into: dir, as: "hello-broken")
            try bumpSectionHeaderField(broken, section: ".dynsym", field: .offset, by: 1)
            let fresh = try ELFLint.newComplaints(input: original, output: broken)
            XCTAssertFalse(fresh.isEmpty, "[\(arch)] eu-elflint check missed a .dynsym sh_offset moved by one byte")
            // And through what assertNoNewLintComplaints asserts on: a failure message.
            let message = try lintRegressionMessage(input: original, output: broken, "\(arch) sabotage")
            XCTAssertTrue(message?.contains("new complaint") ?? false, "[\(arch)] no failure message for the broken file")
            XCTAssertNil(try lintRegressionMessage(input: original, output: same, "\(arch) copy"))
        }
    }

    /// The MIPS dynamic section holds tags elflint does not know. Removing a DT_NEEDED before them
    /// shifts their entry numbers: the raw complaint lines differ, the normalised check must not
    /// call them new.
    func testShiftedPreexistingComplaintsAreNotNew() throws {
        try requireSwelf()
        let box = try ScratchDirectory("lint-shift")
        let dir = try box.dir("mips")
        let original = try box.copy("mips/hello", into: dir)
        let edited = try box.copy("mips/hello", into: dir, as: "hello-edited")
        let r = try swelf(["--remove-needed", "libunused.so", edited.path])
        XCTAssertEqual(r.status, 0, r.summary)
        let before = try ELFLint.complaints(original), after = try ELFLint.complaints(edited)
        XCTAssertNotEqual(Set(before), Set(after), "the raw lines were expected to differ (entry numbers shift)")
        XCTAssertTrue(before.contains { $0.contains("unknown tag") })
        let fresh = ELFLint.newComplaints(input: before, output: after)
        XCTAssertTrue(fresh.isEmpty, "shifted complaints counted as new: \(fresh.map(\.example))")
    }

    // MARK: readelf views

    func testDynamicViewShowsSharedAuxiliaryString() throws {
        forEachArch { arch in
            let url = try Subject.named("\(arch)/libaux.so").url
            let dyn = try ReadelfView.dynamic(url)
            XCTAssertTrue(dyn.contains(.init(tag: "AUXILIARY", value: "libm.so.6")), "[\(arch)] \(dyn)")
            XCTAssertTrue(dyn.contains(.init(tag: "NEEDED", value: "libm.so.6")), "[\(arch)] \(dyn)")
            XCTAssertTrue(dyn.contains(.init(tag: "SONAME", value: "libaux.so")), "[\(arch)] \(dyn)")
            let comparable = try ReadelfView.comparableDynamic(url)
            XCTAssertTrue(comparable.contains("STRTAB=<moved>"), "[\(arch)] \(comparable)")
            XCTAssertTrue(comparable.contains("AUXILIARY=libm.so.6"), "[\(arch)] \(comparable)")
        }
    }

    func testVersionViewListsTheLibmNeed() throws {
        // No powerpc/weakcos: its libm traps under qemu-ppc (scripts/build-test-binaries, case 3).
        forEachArch(E2E.architectures.filter { $0 != "powerpc" }) { arch in
            let v = try ReadelfView.versions(try Subject.named("\(arch)/weakcos").url)
            XCTAssertTrue(v.needs.contains("Version: 1 File: libm.so.6 Cnt: 1"), "[\(arch)] \(v.needs)")
            XCTAssertTrue(v.needs.contains { $0.hasPrefix("Version: 1 File: libc.so.6") }, "[\(arch)] \(v.needs)")
            XCTAssertTrue(v.symbols.contains("0 (*local*)"), "[\(arch)] \(v.symbols)")
            let dynsyms = try ReadelfView.dynamicSymbols(try Subject.named("\(arch)/weakcos").url)
            XCTAssertEqual(v.symbols.count, dynsyms.count, "[\(arch)] one versym per dynamic symbol")
            XCTAssertTrue(dynsyms.contains { $0.name.hasPrefix("cos@GLIBC_") && $0.bind == "WEAK" }, "[\(arch)] \(dynsyms)")
        }
        let defs = try ReadelfView.versions(try Subject.named("x86_64/libver.so.1").url).definitions
        XCTAssertTrue(defs.contains { $0.contains("Name: VER_2") }, "\(defs)")
    }

    /// `.symtab` values are read relative to their sections: moving a section header's sh_addr
    /// (sabotage) changes the view of the symbols in it, and nothing else.
    func testSymtabViewIsRelativeToSections() throws {
        let box = try ScratchDirectory("symtab-view")
        var sectionSymbols = 0
        forEachArch { arch in
            let dir = try box.dir(arch)
            let original = try box.copy("\(arch)/hello", into: dir)
            let before = try ReadelfView.symtab(original)
            let main = try XCTUnwrap(before.first { $0.name == "main" }, "[\(arch)] no main in \(before.prefix(5))")
            XCTAssertEqual(main.type, "FUNC", "[\(arch)]")
            XCTAssertEqual(main.bind, "GLOBAL", "[\(arch)]")
            // ppc64 ELFv1: main's symbol is its function descriptor in .opd.
            let home = arch == "ppc64" ? ".opd" : ".text"
            XCTAssertTrue(main.place.hasPrefix(home + "+0x"), "[\(arch)] main at \(main.place)")
            for s in before where s.type == "SECTION" && s.name.hasPrefix("[section ") {
                sectionSymbols += 1
                XCTAssertEqual("[section \(s.place.dropLast(4))]", s.name, "[\(arch)] \(s)")
                XCTAssertTrue(s.place.hasSuffix("+0x0"), "[\(arch)] \(s)")
            }
            let moved = try box.copy("\(arch)/hello", into: dir, as: "hello-moved")
            try bumpSectionHeaderField(moved, section: home, field: .address, by: 0x10)
            let after = try ReadelfView.symtab(moved)
            XCTAssertEqual(before.count, after.count)
            let changed = zip(before, after).filter { $0 != $1 }
            XCTAssertTrue(changed.contains { $0.0.name == "main" }, "[\(arch)] a stale main was not seen")
            XCTAssertTrue(changed.allSatisfy { $0.0.place.hasPrefix(home) }, "[\(arch)] \(changed)")
        }
        XCTAssertGreaterThan(sectionSymbols, 0, "no architecture's hello has section symbols: the check above never ran")
    }

    // MARK: helpers

    enum SectionField { case address, offset }

    /// Adds `delta` to sh_addr or sh_offset of the section named `section` (found through readelf).
    func bumpSectionHeaderField(_ url: URL, section: String, field: SectionField, by delta: UInt64) throws {
        let index = try XCTUnwrap(ReadelfView.sectionAddresses(url).firstIndex { $0.0 == section }, "no \(section)")
        var d = try Data(contentsOf: url)
        let is64 = d[4] == 2, little = d[5] == 1
        func read(_ at: Int, _ n: Int) -> UInt64 {
            (0..<n).reduce(UInt64(0)) { acc, i in
                let byte = UInt64(d[at + (little ? n - 1 - i : i)])
                return acc << 8 | byte
            }
        }
        func write(_ at: Int, _ n: Int, _ v: UInt64) {
            for i in 0..<n { d[at + (little ? i : n - 1 - i)] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
        }
        let shoff = Int(is64 ? read(0x28, 8) : read(0x20, 4))
        let shentsize = Int(is64 ? read(0x3A, 2) : read(0x2E, 2))
        let word = is64 ? 8 : 4
        let at = shoff + index * shentsize + (field == .address ? (is64 ? 16 : 12) : (is64 ? 24 : 16))
        write(at, word, read(at, word) &+ delta)
        try d.write(to: url)
    }
}

extension ToolViewsTests {
    /// A snapshot equals itself for a copy, and names the view a sabotaged header changes.
    func testSnapshotDifferences() throws {
        let box = try ScratchDirectory("snapshot")
        forEachArch { arch in
            let dir = try box.dir(arch)
            let original = try box.copy("\(arch)/needver", into: dir)
            let base = try ToolSnapshot(original)
            XCTAssertFalse(base.versions.needs.isEmpty, "[\(arch)]")
            XCTAssertEqual(try ToolSnapshot(try box.copy("\(arch)/needver", into: dir, as: "copy")).differences(from: base), [])
            let moved = try box.copy("\(arch)/needver", into: dir, as: "moved")
            try bumpSectionHeaderField(moved, section: arch == "ppc64" ? ".opd" : ".text", field: .address, by: 0x10)
            let diffs = try ToolSnapshot(moved).differences(from: base)
            XCTAssertEqual(diffs.count, 1, "[\(arch)] \(diffs)")
            XCTAssertTrue(diffs.first?.hasPrefix(".symtab[") ?? false, "[\(arch)] \(diffs)")
        }
    }
}
