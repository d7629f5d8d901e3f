import ELFKitCore

/// The facts the portability report stands on, each with where it comes from. A fact
/// here is data, not code: a test checks each table against its source's wording
/// (PortabilityFactsTests), and the end-to-end tests check the per-architecture
/// baselines against the cross sysroots' own libc.so.6.
public enum PortabilityFacts {
    // MARK: glibc's libraries

    /// The libraries glibc itself ships (sonames), besides the loader: a program finds
    /// them on any glibc system and they are never bundled. Source: glibc's
    /// `shlib-versions` and its `Makeconfig`/`*/Makefile` `extra-libs`; auditwheel's
    /// manylinux policy lists the same set (policy.json "lib_whitelist").
    public static let glibcLibraries: Set<String> = [
        "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libresolv.so.2", "libutil.so.1",
        "libanl.so.1", "libnsl.so.1", "libBrokenLocale.so.1", "libmvec.so.1", "libthread_db.so.1", "libc_malloc_debug.so.0",
        "libmemusage.so", "libpcprofile.so", "libSegFault.so",
        // Ports whose libc has another soname (glibc's shlib-versions).
        "libc.so.6.1", "libm.so.6.1", "libdl.so.2.1", "libutil.so.1.1", "libresolv.so.2.1", "libnsl.so.1.1",
    ]

    /// Is `name` (a DT_NEEDED or `vn_file` name) one of glibc's libraries or its loader?
    ///
    /// - Parameter name: A library file name, without directories.
    /// - Returns: True for a soname in ``glibcLibraries``, an NSS module (`libnss_*.so.*`)
    ///   or glibc's loader.
    public static func isGlibcLibrary(_ name: String) -> Bool {
        if glibcLibraries.contains(name) || name.hasPrefix("libnss_") && name.contains(".so.") { return true }
        return isGlibcLoader(name)
    }

    /// glibc's loader under its per-architecture names (`ld-linux-x86-64.so.2`,
    /// `ld-linux-aarch64.so.1`, `ld.so.1`, `ld64.so.2`, …; glibc's shlib-versions).
    ///
    /// - Parameter name: A file name, such as the last component of PT_INTERP.
    /// - Returns: True for glibc's loader names; false for musl's `ld-musl-*`.
    public static func isGlibcLoader(_ name: String) -> Bool {
        (name.hasPrefix("ld-linux") || name.hasPrefix("ld.so.") || name.hasPrefix("ld64.so.")) && !name.hasPrefix("ld-musl")
    }

    /// Is `name` the GNU C++ runtime (`libstdc++.so.6`, or any other `libstdc++.so.N`)?
    ///
    /// - Parameter name: A library file name, without directories.
    /// - Returns: True when `name` starts with `libstdc++.so.`.
    public static func isLibstdcxx(_ name: String) -> Bool { name.hasPrefix("libstdc++.so.") }
    /// Is `name` GCC's support library? libgcc_s is `.so.1` on most ports, `.so.2` on
    /// m68k, `.so.4` on hppa (libstdc++ manual, "ABI Policy and Guidelines").
    ///
    /// - Parameter name: A library file name, without directories.
    /// - Returns: True when `name` starts with `libgcc_s.so.`.
    public static func isLibgcc(_ name: String) -> Bool { name.hasPrefix("libgcc_s.so.") }

    /// Libraries the target system provides, whose own requirements are the target's
    /// business (its copies are used, not the build machine's).
    ///
    /// - Parameter name: A library file name, without directories.
    /// - Returns: True for glibc's libraries and loader, libstdc++ and libgcc_s.
    public static func isSystemLibrary(_ name: String) -> Bool {
        isGlibcLibrary(name) || isLibstdcxx(name) || isLibgcc(name)
    }

    // MARK: Per-architecture facts

    /// The oldest `GLIBC_` version node of each port: the glibc release that first
    /// supported it, so every libc.so.6 of that architecture defines it. Requiring it
    /// says nothing beyond "a glibc for this architecture". Source: glibc's
    /// `sysdeps/unix/sysv/linux/**/shlib-versions` (`DEFAULT GLIBC_x.y` lines) and the
    /// ports' `libc.abilist` files; checked against the cross sysroots' libc.so.6 in
    /// PortabilityEndToEndTests (x86_64 2.2.5, i386 2.0, aarch64 2.17, armhf 2.4,
    /// riscv64 2.27, s390x 2.2, ppc64 2.3, mips 2.0).
    ///
    /// - Parameters:
    ///   - machine: The file's `e_machine`.
    ///   - is64: The file is ELFCLASS64 (x86-64 with ELFCLASS32 is x32).
    ///   - bigEndian: The file is ELFDATA2MSB (64-bit PowerPC: ppc64 against ppc64le).
    /// - Returns: The release numbers (`[2, 17]`), or nil for a port the table does not know.
    public static func glibcBaseline(machine: ELFMachine, is64: Bool, bigEndian: Bool) -> [Int]? {
        switch (machine, is64) {
        case (.x86_64, true): [2, 2, 5]
        case (.x86_64, false): [2, 16]      // x32
        case (.i386, false): [2, 0]
        case (.aarch64, true): [2, 17]
        case (.arm, false): [2, 4]          // EABI
        case (.riscv, true): [2, 27]
        case (.riscv, false): [2, 33]
        case (.s390, true): [2, 2]
        case (.s390, false): [2, 0]
        case (.powerPC64, true): bigEndian ? [2, 3] : [2, 17]
        case (.powerPC, false): [2, 0]
        case (.mips, _): [2, 0]
        case (.loongArch, true): [2, 36]
        case (.sparcV9, true): [2, 2]
        case (.ia64, true): [2, 2]
        case (.m68k, false): [2, 0]
        default: nil
        }
    }

    /// Marker versions with no symbols: a loader that lacks them refuses the object.
    /// `GLIBC_ABI_DT_RELR` is added by ld (binutils 2.38+, `-z pack-relative-relocs`) when
    /// the object uses DT_RELR, which glibc supports from 2.36 (glibc 2.36 NEWS).
    public static let markerFloors: [String: [Int]] = [
        "GLIBC_ABI_DT_RELR": [2, 36],
    ]

    // MARK: libstdc++ and libgcc_s

    /// The first GCC release whose libstdc++.so.6 defines each `GLIBCXX_3.4.N`, and each
    /// `CXXABI_1.3.N`. Source: the libstdc++ manual, "ABI Policy and Guidelines",
    /// section "Symbol versioning on the libstdc++.so binary" (libstdc++-v3/doc/xml/
    /// manual/abi.xml), up to GCC 14.1.0 (GLIBCXX_3.4.33, CXXABI_1.3.15).
    public static let libstdcxxReleases: [(version: String, gcc: String)] = [
        ("GLIBCXX_3.4", "3.4.0"), ("GLIBCXX_3.4.1", "3.4.1"), ("GLIBCXX_3.4.2", "3.4.2"), ("GLIBCXX_3.4.3", "3.4.3"),
        ("GLIBCXX_3.4.4", "4.0.0"), ("GLIBCXX_3.4.5", "4.0.1"), ("GLIBCXX_3.4.6", "4.0.2"), ("GLIBCXX_3.4.7", "4.0.3"),
        ("GLIBCXX_3.4.8", "4.1.1"), ("GLIBCXX_3.4.9", "4.2.0"), ("GLIBCXX_3.4.10", "4.3.0"), ("GLIBCXX_3.4.11", "4.4.0"),
        ("GLIBCXX_3.4.12", "4.4.1"), ("GLIBCXX_3.4.13", "4.4.2"), ("GLIBCXX_3.4.14", "4.5.0"), ("GLIBCXX_3.4.15", "4.6.0"),
        ("GLIBCXX_3.4.16", "4.6.1"), ("GLIBCXX_3.4.17", "4.7.0"), ("GLIBCXX_3.4.18", "4.8.0"), ("GLIBCXX_3.4.19", "4.8.3"),
        ("GLIBCXX_3.4.20", "4.9.0"), ("GLIBCXX_3.4.21", "5.1.0"), ("GLIBCXX_3.4.22", "6.1.0"), ("GLIBCXX_3.4.23", "7.1.0"),
        ("GLIBCXX_3.4.24", "7.2.0"), ("GLIBCXX_3.4.25", "8.1.0"), ("GLIBCXX_3.4.26", "9.1.0"), ("GLIBCXX_3.4.27", "9.2.0"),
        ("GLIBCXX_3.4.28", "9.3.0"), ("GLIBCXX_3.4.29", "11.1.0"), ("GLIBCXX_3.4.30", "12.1.0"), ("GLIBCXX_3.4.31", "13.1.0"),
        ("GLIBCXX_3.4.32", "13.2.0"), ("GLIBCXX_3.4.33", "14.1.0"),
        ("CXXABI_1.3", "3.4.0"), ("CXXABI_1.3.1", "4.0.0"), ("CXXABI_1.3.2", "4.3.0"), ("CXXABI_1.3.3", "4.4.0"),
        ("CXXABI_1.3.4", "4.5.0"), ("CXXABI_1.3.5", "4.6.0"), ("CXXABI_1.3.6", "4.7.0"), ("CXXABI_1.3.7", "4.8.0"),
        ("CXXABI_1.3.8", "4.9.0"), ("CXXABI_1.3.9", "5.1.0"), ("CXXABI_1.3.10", "6.1.0"), ("CXXABI_1.3.11", "7.1.0"),
        ("CXXABI_1.3.12", "9.1.0"), ("CXXABI_1.3.13", "11.1.0"), ("CXXABI_1.3.14", "13.1.0"), ("CXXABI_1.3.15", "14.1.0"),
    ]

    /// The GCC release that first shipped a libstdc++ or libgcc_s version node, or nil
    /// when the table does not know it (a newer release, or an arch-specific node such
    /// as `GLIBCXX_LDBL_3.4`).
    ///
    /// libgcc_s names its nodes after releases: `GCC_3.0` came with GCC 3.0.0 and
    /// `GCC_4.8.0` with GCC 4.8.0 (the same manual, "Symbol versioning on the libgcc_s.so
    /// binary", gcc/libgcc-std.ver). From GCC 5 on a major's first release is N.1.0 and
    /// N.0.0 names its development series, so `GCC_7.0.0` came with GCC 7.1.0
    /// (gcc.gnu.org/develop.html, "Version numbering scheme").
    ///
    /// - Parameter version: A version name: `GLIBCXX_3.4.30`, `CXXABI_1.3.13`, `GCC_7.0.0`.
    /// - Returns: The GCC release as three numbers (`[12, 1, 0]`), or nil when unknown.
    public static func gccRelease(for version: String) -> [Int]? {
        if let entry = libstdcxxReleases.first(where: { $0.version == version }) {
            return VersionName.numbers(of: entry.gcc)
        }
        let name = VersionName(version)
        guard name.family == "GCC_", !name.numbers.isEmpty else { return nil }
        var numbers = name.numbers
        while numbers.count < 3 { numbers.append(0) }
        if numbers[0] >= 5 && numbers[1] == 0 { numbers[1] = 1; numbers[2] = 0 }
        return numbers
    }

    /// For a numbered `GLIBCXX_`/`CXXABI_` version newer than every one of its family in
    /// the table, the newest the table knows; nil otherwise (known, older, or another family).
    ///
    /// - Parameter version: A required libstdc++ version.
    /// - Returns: The newest version of the same family in ``libstdcxxReleases`` and the
    ///   GCC release that shipped it, when `version` is newer than it; else nil.
    public static func newestKnown(like version: VersionName) -> (version: String, gcc: [Int])? {
        guard version.family == "GLIBCXX_" || version.family == "CXXABI_", !version.numbers.isEmpty else { return nil }
        let known = libstdcxxReleases.map { (VersionName($0.version), $0.gcc) }.filter { $0.0.family == version.family }
        guard let newest = known.max(by: { VersionName.compare($0.0.numbers, $1.0.numbers) < 0 }),
              VersionName.compare(version.numbers, newest.0.numbers) > 0,
              let gcc = VersionName.numbers(of: newest.1) else { return nil }
        return (newest.0.name, gcc)
    }

    // MARK: Distributions

    /// A distribution release and the glibc it ships.
    public struct Distribution: Sendable {
        /// The release, as its vendor names it (`Debian 12`, `RHEL 8 / AlmaLinux 8 / Rocky 8`).
        public let name: String
        /// The glibc release it ships (`[2, 36]`).
        public let glibc: [Int]
        /// Where the version was read.
        public let source: String
    }

    /// Sources: the distributions' own package indexes for the libc6/glibc package of
    /// each release — packages.debian.org/<suite>/libc6, packages.ubuntu.com/<series>/libc6,
    /// the CentOS 7 vault (glibc-2.17-*.el7), the RHEL 8/9/10 package manifests on
    /// docs.redhat.com (glibc-2.28, 2.34, 2.39), the Amazon Linux 2 and 2023 package
    /// lists (glibc 2.26, 2.34); PEP 599 (manylinux2014 = CentOS 7, glibc 2.17) and
    /// PEP 600 / pypa/manylinux (manylinux_2_28 = AlmaLinux 8, glibc 2.28) agree.
    public static let distributions: [Distribution] = [
        Distribution(name: "CentOS 7 / RHEL 7", glibc: [2, 17], source: "vault.centos.org 7.9.2009 glibc-2.17-317.el7; PEP 599"),
        Distribution(name: "Ubuntu 16.04", glibc: [2, 23], source: "packages.ubuntu.com/xenial/libc6 (2.23)"),
        Distribution(name: "Debian 9", glibc: [2, 24], source: "packages.debian.org/stretch/libc6 (2.24)"),
        Distribution(name: "Amazon Linux 2", glibc: [2, 26], source: "Amazon Linux 2 package list (glibc-2.26)"),
        Distribution(name: "Ubuntu 18.04", glibc: [2, 27], source: "packages.ubuntu.com/bionic/libc6 (2.27)"),
        Distribution(name: "RHEL 8 / AlmaLinux 8 / Rocky 8", glibc: [2, 28], source: "RHEL 8 package manifest (glibc-2.28); manylinux_2_28"),
        Distribution(name: "Debian 10", glibc: [2, 28], source: "packages.debian.org/buster/libc6 (2.28)"),
        Distribution(name: "Debian 11", glibc: [2, 31], source: "packages.debian.org/bullseye/libc6 (2.31)"),
        Distribution(name: "Ubuntu 20.04", glibc: [2, 31], source: "packages.ubuntu.com/focal/libc6 (2.31)"),
        Distribution(name: "RHEL 9", glibc: [2, 34], source: "RHEL 9 package manifest (glibc-2.34)"),
        Distribution(name: "Amazon Linux 2023", glibc: [2, 34], source: "Amazon Linux 2023 package list (glibc-2.34)"),
        Distribution(name: "Ubuntu 22.04", glibc: [2, 35], source: "packages.ubuntu.com/jammy/libc6 (2.35)"),
        Distribution(name: "Debian 12", glibc: [2, 36], source: "packages.debian.org/bookworm/libc6 (2.36)"),
        Distribution(name: "Ubuntu 24.04", glibc: [2, 39], source: "packages.ubuntu.com/noble/libc6 (2.39)"),
        Distribution(name: "RHEL 10", glibc: [2, 39], source: "RHEL 10 package manifest (glibc-2.39)"),
        Distribution(name: "Debian 13", glibc: [2, 41], source: "packages.debian.org/trixie/libc6 (2.41)"),
    ]

    /// The distributions whose glibc is at least `floor`, oldest first.
    ///
    /// - Parameter floor: A glibc release (`[2, 28]`).
    /// - Returns: The entries of ``distributions`` that meet it, in the table's order.
    public static func distributions(meeting floor: [Int]) -> [Distribution] {
        distributions.filter { VersionName.compare($0.glibc, floor) >= 0 }
    }
}
