import Foundation
import Testing
@testable import ELFKitCore
@testable import ELFKitLoader
@testable import ELFKitPackaging

/// The portability report's facts, checked against their sources' own wording (not
/// against the tables they are stored in): issue 9's glibc/distribution list, the
/// libstdc++ manual's "ABI Policy and Guidelines" list, glibc's per-port first
/// versions. Changing a table entry makes one of these fail.
@Suite struct PortabilityFactsTests {
    // MARK: Version order

    @Test func versionsCompareNumberByNumber() {
        #expect(VersionName("GLIBC_2.10").isNewer(than: VersionName("GLIBC_2.9")))
        #expect(!VersionName("GLIBC_2.9").isNewer(than: VersionName("GLIBC_2.10")))
        #expect(VersionName("GLIBC_2.3").isNewer(than: VersionName("GLIBC_2.2.5")))
        #expect(VersionName("GLIBC_2.2.5").isNewer(than: VersionName("GLIBC_2.2")))
        #expect(!VersionName("GCC_3.0").isNewer(than: VersionName("GCC_3.0.0")))
        #expect(!VersionName("GCC_3.0.0").isNewer(than: VersionName("GCC_3.0")))
        #expect(VersionName("GLIBCXX_3.4.30").isNewer(than: VersionName("GLIBCXX_3.4.4")))
        // Other families never compare.
        #expect(!VersionName("GLIBCXX_3.4.30").isNewer(than: VersionName("GLIBC_2.9")))
        #expect(VersionName("GLIBC_PRIVATE").numbers.isEmpty)
        #expect(VersionName("GLIBC_ABI_DT_RELR").numbers.isEmpty)
        #expect(VersionName("GLIBC_2.").numbers.isEmpty)
        #expect(VersionName("GLIBC_2.x").numbers.isEmpty)
        #expect(VersionName("GLIBC_2.2.5").family == "GLIBC_")
        #expect(VersionName("GLIBC_2.2.5").numbers == [2, 2, 5])
        #expect(VersionName("GLIBC_99999999999999999999.1").numbers.isEmpty)   // no trap on overflow
    }

    // MARK: The issue's facts

    /// glibc: 2.17 in CentOS 7; 2.28 in RHEL 8 and Debian 10; 2.31 in Debian 11 and
    /// Ubuntu 20.04; 2.34 in RHEL 9 and Amazon Linux 2023; 2.35 in Ubuntu 22.04; 2.36 in
    /// Debian 12; 2.39 in Ubuntu 24.04 (issue 9).
    @Test(arguments: [
        ("CentOS 7", "2.17"), ("RHEL 8", "2.28"), ("Debian 10", "2.28"), ("Debian 11", "2.31"), ("Ubuntu 20.04", "2.31"),
        ("RHEL 9", "2.34"), ("Amazon Linux 2023", "2.34"), ("Ubuntu 22.04", "2.35"), ("Debian 12", "2.36"), ("Ubuntu 24.04", "2.39"),
    ])
    func distributionShipsGlibc(name: String, glibc: String) throws {
        let entries = PortabilityFacts.distributions.filter { $0.name == name || $0.name.hasPrefix(name + " ") }
        let entry = try #require(entries.count == 1 ? entries.first : nil, "exactly one entry for \(name)")
        #expect(entry.glibc == VersionName.numbers(of: glibc), "\(name)")
        #expect(!entry.source.isEmpty)
        // It meets its own glibc, and not one just above it.
        let numbers = try #require(VersionName.numbers(of: glibc))
        #expect(PortabilityFacts.distributions(meeting: numbers).contains { $0.name == entry.name })
        #expect(!PortabilityFacts.distributions(meeting: [numbers[0], numbers[1] + 1]).contains { $0.name == entry.name })
    }

    @Test func distributionsMeetingAFloorAreOldestFirst() {
        let names = PortabilityFacts.distributions(meeting: [2, 34]).map(\.name)
        #expect(names.first == "RHEL 9")
        #expect(!names.contains("Ubuntu 20.04") && !names.contains("Debian 11") && names.contains("Debian 12"))
        let versions = PortabilityFacts.distributions.map(\.glibc)
        #expect(zip(versions, versions.dropFirst()).allSatisfy { VersionName.compare($0, $1) <= 0 })
    }

    /// The libstdc++ manual, "ABI Policy and Guidelines" (and issue 9: GLIBCXX_3.4.19
    /// came with GCC 4.8.3, 3.4.30 with GCC 12.1).
    @Test(arguments: [
        ("GLIBCXX_3.4", "3.4.0"), ("GLIBCXX_3.4.8", "4.1.1"), ("GLIBCXX_3.4.9", "4.2.0"), ("GLIBCXX_3.4.18", "4.8.0"),
        ("GLIBCXX_3.4.19", "4.8.3"), ("GLIBCXX_3.4.20", "4.9.0"), ("GLIBCXX_3.4.21", "5.1.0"), ("GLIBCXX_3.4.24", "7.2.0"),
        ("GLIBCXX_3.4.25", "8.1.0"), ("GLIBCXX_3.4.28", "9.3.0"), ("GLIBCXX_3.4.29", "11.1.0"), ("GLIBCXX_3.4.30", "12.1.0"),
        ("GLIBCXX_3.4.31", "13.1.0"), ("GLIBCXX_3.4.32", "13.2.0"), ("GLIBCXX_3.4.33", "14.1.0"),
        ("CXXABI_1.3", "3.4.0"), ("CXXABI_1.3.7", "4.8.0"), ("CXXABI_1.3.11", "7.1.0"), ("CXXABI_1.3.13", "11.1.0"),
        ("CXXABI_1.3.15", "14.1.0"),
        // libgcc_s: named after the release; from GCC 5, N.0.0 is the series whose first release is N.1.0.
        ("GCC_3.0", "3.0.0"), ("GCC_3.3.1", "3.3.1"), ("GCC_4.2.0", "4.2.0"), ("GCC_4.8.0", "4.8.0"), ("GCC_7.0.0", "7.1.0"),
        ("GCC_12.0.0", "12.1.0"),
    ])
    func gccReleaseOfVersion(version: String, gcc: String) {
        #expect(PortabilityFacts.gccRelease(for: version) == VersionName.numbers(of: gcc), "\(version)")
    }

    @Test func unknownVersionsHaveNoRelease() {
        #expect(PortabilityFacts.gccRelease(for: "GLIBCXX_3.4.99") == nil)
        #expect(PortabilityFacts.gccRelease(for: "GLIBCXX_LDBL_3.4") == nil)
        #expect(PortabilityFacts.gccRelease(for: "GLIBC_2.34") == nil)
    }

    /// glibc's first version node per port (its shlib-versions), the issue's examples
    /// first: 2.2.5 on x86_64, 2.17 on aarch64.
    @Test func baselines() {
        #expect(PortabilityFacts.glibcBaseline(machine: .x86_64, is64: true, bigEndian: false) == [2, 2, 5])
        #expect(PortabilityFacts.glibcBaseline(machine: .aarch64, is64: true, bigEndian: false) == [2, 17])
        #expect(PortabilityFacts.glibcBaseline(machine: .powerPC64, is64: true, bigEndian: false) == [2, 17])
        #expect(PortabilityFacts.glibcBaseline(machine: .powerPC64, is64: true, bigEndian: true) == [2, 3])
        #expect(PortabilityFacts.glibcBaseline(machine: .riscv, is64: true, bigEndian: false) == [2, 27])
        #expect(PortabilityFacts.markerFloors["GLIBC_ABI_DT_RELR"] == [2, 36])
    }

    @Test func libraryClasses() {
        for name in ["libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2",
                     "libnss_files.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "ld-linux-armhf.so.3",
                     "ld64.so.2", "ld.so.1", "ld-linux.so.2"] {
            #expect(PortabilityFacts.isGlibcLibrary(name), "\(name)")
        }
        for name in ["libz.so.1", "ld-musl-x86_64.so.1", "libc.musl-x86_64.so.1", "libstdc++.so.6", "libcrypt.so.1", "libgreet.so.1"] {
            #expect(!PortabilityFacts.isGlibcLibrary(name), "\(name)")
        }
        #expect(PortabilityFacts.isSystemLibrary("libstdc++.so.6") && PortabilityFacts.isSystemLibrary("libgcc_s.so.1"))
        #expect(!PortabilityFacts.isSystemLibrary("libz.so.1"))
    }

    // MARK: --floor

    @Test func limitsParse() throws {
        let limits = try PortabilityReport.Limits.parse("glibc=2.28,glibcxx=3.4.24,cxxabi=1.3.11,gcc=4.8.0").get()
        #expect(limits == PortabilityReport.Limits(glibc: [2, 28], glibcxx: [3, 4, 24], cxxabi: [1, 3, 11], gcc: [4, 8, 0]))
        for bad in ["", "glibc", "glibc=", "glibc=2.x", "glibc=2..8", "musl=1.2", "glibc=-1"] {
            if case .success = PortabilityReport.Limits.parse(bad) { Issue.record("'\(bad)' was accepted") }
        }
    }

    /// The floor check on a hand-made report: numeric order, the marker, GLIBC_PRIVATE,
    /// and a symbol-less requirement.
    @Test func violations() {
        var report = PortabilityReport()
        func use(_ library: String, _ version: String, _ symbols: [String]) -> PortabilityReport.Use {
            PortabilityReport.Use(library: library, version: VersionName(version), weak: false,
                                  symbols: symbols.map { Array($0.utf8) }, requiredBy: "/p", machine: "x86_64")
        }
        report.uses = [
            use("libc.so.6", "GLIBC_2.9", ["old"]), use("libc.so.6", "GLIBC_2.10", ["newer"]),
            use("libc.so.6", "GLIBC_2.2.5", ["base"]), use("libc.so.6", "GLIBC_ABI_DT_RELR", []),
            use("libc.so.6", "GLIBC_PRIVATE", ["_dl_private"]), use("libstdc++.so.6", "GLIBCXX_3.4.30", ["cxx"]),
            use("libgcc_s.so.1", "GCC_4.2.0", ["unwind"]), use("libz.so.1", "ZLIB_1.2.9", ["deflate"]),
        ]
        let found = report.violations(of: PortabilityReport.Limits(glibc: [2, 9])).map { ($0.symbol.map { String(decoding: $0, as: UTF8.self) } ?? "-") + "@" + $0.version.name }
        #expect(found == ["newer@GLIBC_2.10", "-@GLIBC_ABI_DT_RELR", "_dl_private@GLIBC_PRIVATE"])
        let at36 = report.violations(of: PortabilityReport.Limits(glibc: [2, 36])).map(\.version.name)
        #expect(at36 == ["GLIBC_PRIVATE"])
        let cxx = report.violations(of: PortabilityReport.Limits(glibcxx: [3, 4, 24], gcc: [4, 8, 0])).map(\.version.name)
        #expect(cxx == ["GLIBCXX_3.4.30"])
        let platform = report.platform("x86_64", baseline: [2, 2, 5], files: ["/p"])
        #expect(platform.floor(.glibc)?.release == [2, 36])   // the marker beats GLIBC_2.10
        #expect(platform.floor(.libstdcxx)?.release == [12, 1, 0])
        #expect(platform.floor(.libgcc)?.release == [4, 2, 0])
        #expect(platform.newest.first { $0.library == "libc.so.6" }?.version.name == "GLIBC_2.10")
    }

    /// A libstdc++ version newer than the table (GCC 15's GLIBCXX_3.4.34) is not
    /// dropped: the floor is "a GCC after the newest listed". An unplaceable one
    /// (GLIBCXX_LDBL_3.4) is named in a note; libgcc_s's GLIBC_2.0 says nothing.
    @Test func versionsBeyondTheTable() {
        var report = PortabilityReport()
        func use(_ library: String, _ version: String) -> PortabilityReport.Use {
            PortabilityReport.Use(library: library, version: VersionName(version), weak: false, symbols: [], requiredBy: "/p", machine: "x86_64")
        }
        report.uses = [use("libstdc++.so.6", "GLIBCXX_3.4.21"), use("libstdc++.so.6", "GLIBCXX_3.4.34"),
                       use("libstdc++.so.6", "GLIBCXX_LDBL_3.4"), use("libgcc_s.so.1", "GLIBC_2.0"), use("libgcc_s.so.1", "GCC_3.0")]
        let platform = report.platform("x86_64", baseline: [2, 2, 5], files: ["/p"])
        let floor = platform.floor(.libstdcxx)
        #expect(floor?.version?.name == "GLIBCXX_3.4.34")
        #expect(floor?.beyondTable == true)
        #expect(floor?.release == [14, 1, 0])
        #expect(platform.floor(.libgcc)?.release == [3, 0, 0])
        let notes = report.useNotes.map(\.message)
        #expect(notes.count == 1 && notes.first?.contains("GLIBCXX_LDBL_3.4") == true, "\(notes)")
        #expect(PortabilityFacts.newestKnown(like: VersionName("GLIBCXX_3.4.30")) == nil)
        #expect(PortabilityFacts.newestKnown(like: VersionName("CXXABI_1.3.16"))?.version == "CXXABI_1.3.15")
    }

    /// The newest-version list: libc first, then the loader, glibc's other libraries,
    /// libstdc++, libgcc_s, whatever order the files name them in.
    @Test func newestListOrder() {
        var report = PortabilityReport()
        for (library, version) in [("libgcc_s.so.1", "GCC_3.0"), ("libm.so.6", "GLIBC_2.29"), ("libstdc++.so.6", "GLIBCXX_3.4"),
                                   ("ld-linux-x86-64.so.2", "GLIBC_2.3"), ("libc.so.6", "GLIBC_2.34")] {
            report.uses.append(PortabilityReport.Use(library: library, version: VersionName(version), weak: false, symbols: [],
                                                     requiredBy: "/p", machine: "x86_64"))
        }
        let order = report.platform("x86_64", baseline: nil, files: ["/p"]).newest.map(\.library)
        #expect(order == ["libc.so.6", "ld-linux-x86-64.so.2", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"])
    }
}
