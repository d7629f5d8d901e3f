import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit
@testable import ELFKitLoader
@testable import ELFKitVerify

/// The ld.so.cache reader against glibc's own `ldconfig -p`, against caches ldconfig
/// writes for a temporary directory in all three formats, and against hostile inputs.
@Suite struct LoaderCacheTests {
    // MARK: Against ldconfig

    @Test func systemCacheMatchesLdconfig() throws {
        let cache = try LoaderCache.load()
        let listing = try LdconfigListing(cacheFile: "/etc/ld.so.cache")
        #expect(cache.entries.count == listing.count)
        #expect(cache.entries.count == listing.lines.count)
        #expect(cache.entries.count > 0)
        compare(cache, listing)
        #expect(cache.generator == listing.generator)
    }

    /// ldconfig writes a cache for a directory with glibc-hwcaps subdirectories, so the
    /// extension section is exercised with real ldconfig output, in each format ldconfig
    /// can write. (ldconfig adds the system directories too; that only adds entries.)
    @Test(arguments: ["new", "compat", "old"])
    func ldconfigWrittenCache(format: String) throws {
        let directory = try TemporaryDirectory()
        // As root, ldconfig -r treats the directory as the root: the cache then holds only
        // these libraries, and ldconfig's aux cache goes there too, not to /var/cache.
        // Otherwise ldconfig -C/-f adds the system directories and cannot write its aux cache.
        let chroot = geteuid() == 0
        let inside = chroot ? "/lib" : directory.path + "/lib"
        let lib = chroot ? directory.path + "/lib" : inside
        let library = Repo.testBinaries.appendingPathComponent("x86_64/libgreet.so.1").path
        for subdirectory in ["", "/glibc-hwcaps/x86-64-v3", "/glibc-hwcaps/x86-64-v2"] {
            try FileManager.default.createDirectory(atPath: lib + subdirectory, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: library, toPath: lib + subdirectory + "/libgreet.so.1")
        }
        // A foreign-architecture library: ldconfig leaves it out of the cache.
        try FileManager.default.copyItem(atPath: Repo.testBinaries.appendingPathComponent("aarch64/libgreet.so.1").path,
                                         toPath: lib + "/libgreetarm.so.1")
        try FileManager.default.createDirectory(atPath: directory.path + "/etc", withIntermediateDirectories: true)
        let conf = directory.path + "/etc/ld.so.conf"
        try Data((inside + "\n").utf8).write(to: URL(fileURLWithPath: conf))
        let cacheFile = directory.path + "/etc/ld.so.cache"
        let arguments = chroot ? ["-c", format, "-r", directory.path] : ["-c", format, "-C", cacheFile, "-f", conf]
        let run = try ChildProcess.run("/sbin/ldconfig", arguments)
        try #require(run.status == 0, "ldconfig failed: \(run.stderr)")

        let cache = try LoaderCache.load(path: cacheFile)
        let listing = try LdconfigListing(cacheFile: cacheFile)
        #expect(cache.entries.count == listing.count)
        let expectedFormat: LoaderCache.Format = format == "new" ? .new : format == "compat" ? .compatible : .old
        #expect(cache.format == expectedFormat)

        let greet = cache.lookup("libgreet.so.1")
        #expect(greet.map(\.path) == [inside + "/glibc-hwcaps/x86-64-v2/libgreet.so.1",
                                       inside + "/glibc-hwcaps/x86-64-v3/libgreet.so.1",
                                       inside + "/libgreet.so.1"])
        if chroot { #expect(cache.entries.count == 3) }
        #expect(greet.allSatisfy { $0.flags == LoaderCache.Flags.elfLibc6.rawValue | LoaderCache.Flags.x8664Lib64.rawValue })
        #expect(cache.lookup("libgreetarm.so.1").isEmpty)
        switch format {
        case "new":
            #expect(greet.map(\.hwcapsSubdirectory) == ["x86-64-v2", "x86-64-v3", nil])
            #expect(cache.hwcapsSubdirectories == ["x86-64-v2", "x86-64-v3"])
            #expect(greet.map(\.isaLevel) == [2, 3, nil] || greet.map(\.isaLevel) == [0, 0, nil])
            compare(cache, listing)
        case "compat":
            // ldconfig stores hwcaps names relative to the new header, as it does entry
            // strings, but `ldconfig -p` reads them from the start of the file, so it prints
            // garbage for them in this format. Everything else must match.
            #expect(greet.map(\.hwcapsSubdirectory) == ["x86-64-v2", "x86-64-v3", nil])
            compare(cache, listing, ignoringHwcapsNames: true)
        default:
            // The old format has no hwcap field: ld.so-1.7.0 entries are flags, name, path.
            #expect(greet.map(\.hwcapsSubdirectory) == [nil, nil, nil])
            #expect(cache.generator == nil)
            compare(cache, listing)
        }
        #expect(cache.generator == listing.generator)
    }

    private func compare(_ cache: LoaderCache, _ listing: LdconfigListing, ignoringHwcapsNames: Bool = false,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        var mismatches = 0
        for (entry, line) in zip(cache.entries, listing.lines) {
            var ours = Self.ldconfigLine(entry)
            var theirs = line
            if ignoringHwcapsNames, entry.hwcapsSubdirectory != nil {
                ours = ours.replacing(/, hwcap: "[^"]*"/, with: "")
                theirs = theirs.replacing(/, hwcap: "[^"]*"/, with: "")
            }
            if ours != theirs {
                mismatches += 1
                if mismatches <= 5 {
                    Issue.record("entry differs from ldconfig -p:\n  ours:     \(ours)\n  ldconfig: \(theirs)",
                                 sourceLocation: sourceLocation)
                }
            }
        }
        #expect(mismatches == 0, sourceLocation: sourceLocation)
    }

    /// One entry as glibc's `print_entry` (elf/cache.c) formats it.
    static func ldconfigLine(_ entry: LoaderCache.Entry) -> String {
        var line = "\t\(entry.name) (\(entry.flagsDescription)"
        if let subdirectory = entry.hwcapsSubdirectory {
            line += ", hwcap: \"\(subdirectory)\""
        } else if entry.hwcap != 0 {
            let digits = String(entry.hwcap, radix: 16)
            line += ", hwcap: 0x" + String(repeating: "0", count: 16 - digits.count) + digits
        }
        if entry.osVersion != 0 {
            let systems = ["Linux", "Hurd", "Solaris", "FreeBSD", "kNetBSD", "Syllable", "Unknown OS"]
            let os = Int(entry.osVersion >> 24)
            line += ", OS ABI: \(systems[min(os, systems.count - 1)]) "
                + "\((entry.osVersion >> 16) & 0xff).\((entry.osVersion >> 8) & 0xff).\(entry.osVersion & 0xff)"
        }
        return line + ") => \(entry.path)"
    }

    // MARK: Synthetic caches

    @Test(arguments: SyntheticCache.Layout.allCases, [false, true])
    func syntheticRoundTrip(layout: SyntheticCache.Layout, bigEndian: Bool) throws {
        if layout == .old && bigEndian { return }  // the old format has no byte-order mark
        let synthetic = SyntheticCache(layout: layout, bigEndian: bigEndian)
        let cache = try LoaderCache(source: MemoryByteSource(synthetic.build()))
        #expect(cache.format == layout.format)
        #expect(cache.isBigEndian == bigEndian)
        let expected = layout == .old ? synthetic.entries.filter { $0.hwcap == 0 } : synthetic.entries
        #expect(cache.entries.map(\.name) == expected.map(\.name))
        #expect(cache.entries.map(\.path) == expected.map(\.path))
        #expect(cache.entries.map(\.flags) == expected.map(\.flags))
        if layout != .old {
            #expect(cache.entries.map(\.hwcap) == expected.map(\.hwcap))
            #expect(cache.entries.map(\.hwcapsSubdirectory) == [nil, "x86-64-v3", nil, nil, nil])
            #expect(cache.entries[1].isaLevel == 3)
            #expect(cache.entries[2].isaLevel == nil)
            #expect(cache.entries[2].hwcap == 0x8000_0000_0000_0001)  // legacy hwcap mask, not an extension
            #expect(cache.generator == "swelf test generator")
            #expect(cache.hwcapsSubdirectories == ["x86-64-v2", "x86-64-v3"])
        }
    }

    @Test func flagNamesMatchLdconfig() {
        func description(_ flags: UInt32) -> String { LoaderCache.Entry(flags: flags, name: "", path: "").flagsDescription }
        #expect(description(0x0303) == "libc6,x86-64")
        #expect(description(0x0a03) == "libc6,AArch64")
        #expect(description(0x0003) == "libc6")
        #expect(description(0x0903) == "libc6,hard-float")
        #expect(description(0x1003) == "libc6,double-float")
        #expect(description(0x1203) == "libc6,double-float")
        #expect(description(0x0d03) == "libc6,N32,nan2008")
        #expect(description(0x0001) == "ELF")
        #expect(description(0x0007) == "unknown")
        #expect(description(0x7f03) == "libc6,32512")  // ldconfig prints an unknown ABI in decimal
    }

    @Test func lookupKeepsCacheOrderAndFilters() throws {
        let cache = try LoaderCache(source: MemoryByteSource(SyntheticCache(layout: .new).build()))
        let all = cache.lookup("libfoo.so.1")
        #expect(all.map(\.path) == ["/usr/lib/glibc-hwcaps/x86-64-v3/libfoo.so.1", "/lib/tls/libfoo.so.1", "/lib/libfoo.so.1"])
        let plain = cache.lookup("libfoo.so.1") { $0.hwcap == 0 }
        #expect(plain.map(\.path) == ["/lib/libfoo.so.1"])
        #expect(cache.lookup("libnone.so").isEmpty)
    }

    // MARK: ld.so's choice

    private func resolveCache(_ entries: [SyntheticCache.Entry], layout: SyntheticCache.Layout = .new) throws -> LoaderCache {
        var synthetic = SyntheticCache(layout: layout)
        synthetic.entries = entries
        return try LoaderCache(source: MemoryByteSource(synthetic.build()))
    }

    @Test func resolvePrefersBestSupportedHwcaps() throws {
        let v2: UInt64 = (1 << 62) | (2 << 32) | 0, v3: UInt64 = (1 << 62) | (3 << 32) | 1
        let cache = try resolveCache([
            .init(flags: 0x303, name: "libfoo.so.1", path: "/v2/libfoo.so.1", hwcap: v2),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/v3/libfoo.so.1", hwcap: v3),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/lib/libfoo.so.1"),
        ])
        let both = ["x86-64-v3": 1, "x86-64-v2": 2]
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303) { both[$0] }?.path == "/v3/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303) { $0 == "x86-64-v2" ? 1 : nil }?.path == "/v2/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303, hwcapsPriority: { both[$0] },
                              isaLevelSupported: { $0 <= 2 })?.path == "/v2/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303)?.path == "/lib/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0xa03) == nil)  // an aarch64 loader
        #expect(cache.resolve("libbar.so.1", defaultFlags: 0x303) == nil)
    }

    @Test func resolveSkipsOtherABIsAndLegacyHwcaps() throws {
        let cache = try resolveCache([
            .init(flags: 0xa03, name: "libfoo.so.1", path: "/aarch64/libfoo.so.1"),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/tls/libfoo.so.1", hwcap: 1),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/lib/libfoo.so.1"),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/later/libfoo.so.1"),
        ])
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303)?.path == "/lib/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0x303, legacyHwcapUsable: { _ in true })?.path
            == "/tls/libfoo.so.1")
        #expect(cache.resolve("libfoo.so.1", defaultFlags: 0xa03)?.path == "/aarch64/libfoo.so.1")
    }

    /// glibc's quirk: an entry with flags 1 does not end the search, but in the new
    /// format the next ordinary entry does, before it is considered; in the old format
    /// the later libc6 entry replaces it.
    @Test func resolvePlainELFEntry() throws {
        let entries: [SyntheticCache.Entry] = [
            .init(flags: 0x001, name: "libfoo.so.1", path: "/elf/libfoo.so.1"),
            .init(flags: 0x303, name: "libfoo.so.1", path: "/lib/libfoo.so.1"),
        ]
        #expect(try resolveCache(entries).resolve("libfoo.so.1", defaultFlags: 0x303)?.path == "/elf/libfoo.so.1")
        #expect(try resolveCache(entries, layout: .old).resolve("libfoo.so.1", defaultFlags: 0x303)?.path
            == "/lib/libfoo.so.1")
    }

    /// On this machine, every soname in the cache resolves for the host's loader to the
    /// path `ldconfig -p` lists first among the entries with the host's flags (the system
    /// cache has no glibc-hwcaps or legacy hwcap entries to reorder things).
    @Test func systemCacheResolvesToFirstHostEntry() throws {
        let cache = try LoaderCache.load()
        try #require(cache.entries.allSatisfy { $0.hwcap == 0 })
        for name in Set(cache.entries.map(\.name)) {
            let first = cache.lookup(name) { $0.flags == 0x303 || $0.flags == 1 }.first
            #expect(cache.resolve(name, defaultFlags: 0x303) == first, "\(name)")
        }
    }

    // MARK: Hostile inputs

    @Test(arguments: SyntheticCache.Layout.allCases)
    func everyTruncationThrows(layout: SyntheticCache.Layout) {
        let bytes = SyntheticCache(layout: layout).build()
        for length in 0 ..< bytes.count {
            #expect(throws: ELFError.self, "truncated to \(length) of \(bytes.count) bytes") {
                try LoaderCache(source: MemoryByteSource(Array(bytes[..<length])))
            }
        }
        #expect(throws: Never.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
    }

    @Test func hugeEntryCount() throws {
        var synthetic = SyntheticCache(layout: .new)
        synthetic.countOverride = 0xffff_ffff
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(synthetic.build())) }
        #expect(error.kind == .truncated)
        #expect(error.offset == 20)
        #expect(error.value == 0xffff_ffff)
    }

    @Test func hugeOldEntryCount() throws {
        var bytes = SyntheticCache(layout: .compatible).build()
        bytes.replaceSubrange(12 ..< 16, with: [0xff, 0xff, 0xff, 0x7f])
        #expect(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
    }

    @Test(arguments: [UInt32.max, 0x7fff_ffff, 0x10000] as [UInt32])
    func stringOffsetOutOfRange(offset: UInt32) throws {
        var synthetic = SyntheticCache(layout: .new)
        synthetic.keyOverride = (2, offset)
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(synthetic.build())) }
        #expect(error.offset == 48 + 2 * 24 + 4)  // the key field of entry 2
        #expect(error.value == UInt64(offset))
    }

    @Test func unterminatedString() throws {
        // A path that runs to the end of the file, with no NUL.
        var synthetic = SyntheticCache(layout: .new)
        synthetic.generator = nil
        synthetic.hwcaps = []
        synthetic.entries = [.init(flags: 0x303, name: "libz.so.1", path: "/lib/libz.so.1")]
        var bytes = synthetic.build()
        #expect(bytes.last == 0)
        bytes.removeLast()
        bytes.append(0x41)
        // len_strings still covers the file, so only the missing terminator is wrong.
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
        #expect(error.message.contains("NUL"))
    }

    @Test(arguments: [0xffff_fffc, 0x1_0000, 0x42, 4] as [UInt32])
    func extensionOffsetOutOfRange(offset: UInt32) throws {
        var synthetic = SyntheticCache(layout: .new)
        synthetic.extensionOffsetOverride = offset
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(synthetic.build())) }
        // Misaligned, past the end, or (at 4) no extension magic there.
        #expect(error.offset == 32 || error.offset == 4)
    }

    @Test func extensionSectionsOutOfRange() throws {
        let bytes = SyntheticCache(layout: .new).build()
        let decoder = ByteDecoder(bytes, format: ELFFormat(is64: true, isBigEndian: false), baseOffset: 0)
        let directory = Int(try decoder.getInteger(at: 32, as: UInt32.self))
        func patched(_ at: Int, _ value: UInt32) -> [UInt8] {
            var copy = bytes
            copy.replaceSubrange(at ..< at + 4, with: withUnsafeBytes(of: value.littleEndian, Array.init))
            return copy
        }
        for (what, hostile) in [("count", patched(directory + 4, 0xffff_ffff)),
                                ("count 2^28", patched(directory + 4, 0x1000_0000)),
                                ("section offset", patched(directory + 8 + 8, 0xffff_fff0)),
                                ("section size", patched(directory + 8 + 12, 0xffff_fff0)),
                                ("magic", patched(directory, 0x1234_5678))] {
            #expect(throws: ELFError.self, "\(what)") { try LoaderCache(source: MemoryByteSource(hostile)) }
        }
        // A hwcaps name offset out of range (the first section is the hwcaps array).
        let hwcapsArray = Int(try decoder.getInteger(at: directory + 8 + 8, as: UInt32.self))
        #expect(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(patched(hwcapsArray, 0xffff_0000))) }
    }

    @Test func hwcapsIndexOutOfRange() throws {
        var synthetic = SyntheticCache(layout: .new)
        synthetic.entries[1].hwcap = (1 << 62) | 7
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(synthetic.build())) }
        #expect(error.offset == 48 + 24 + 16)
        #expect(error.value == (1 << 62) | 7)
    }

    @Test func invalidEndiannessFlag() throws {
        var bytes = SyntheticCache(layout: .new).build()
        bytes[28] = 1
        let error = try #require(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
        #expect(error.offset == 28)
        bytes[28] = 0  // unset: an ldconfig older than 2.32, host order
        #expect(throws: Never.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
    }

    @Test func notACache() {
        for bytes: [UInt8] in [[], Array("glibc-ld.so.cache1.0".utf8) + [UInt8](repeating: 0, count: 40),
                               Array("\u{7f}ELF".utf8) + [UInt8](repeating: 0, count: 60)] {
            #expect(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
        }
        #expect(throws: ELFError.self) { try LoaderCache.load(path: "/nonexistent/ld.so.cache") }
        #expect(throws: ELFError.self) { try LoaderCache.load(path: "/") }
    }

    /// Many entries pointing at different places in one long unterminated run would
    /// cost quadratic time; the reader gives up instead.
    @Test func overlappingStringsAreBounded() throws {
        let count = 20_000
        let run = 200_000
        var synthetic = SyntheticCache(layout: .new)
        synthetic.generator = nil
        synthetic.hwcaps = []
        synthetic.entries = []
        var bytes = synthetic.build()
        let tableStart = 48
        let stringsStart = tableStart + count * 24
        bytes = Array(bytes[..<48])
        bytes.replaceSubrange(20 ..< 24, with: withUnsafeBytes(of: UInt32(count).littleEndian, Array.init))
        bytes.replaceSubrange(24 ..< 28, with: withUnsafeBytes(of: UInt32(run + 1).littleEndian, Array.init))
        bytes.replaceSubrange(32 ..< 36, with: [0, 0, 0, 0])
        for index in 0 ..< count {
            var record = ByteEncoder(format: ELFFormat(is64: true, isBigEndian: false))
            record.writeU32(0x303)
            record.writeU32(UInt32(stringsStart + index))  // a different suffix of the run each time
            record.writeU32(UInt32(stringsStart + index))
            record.writeU32(0)
            record.writeU64(0)
            bytes += record.bytes
        }
        bytes += [UInt8](repeating: 0x61, count: run) + [0]
        let clock = ContinuousClock()
        let start = clock.now
        #expect(throws: ELFError.self) { try LoaderCache(source: MemoryByteSource(bytes)) }
        #expect(clock.now - start < .seconds(20))
    }

    /// Random byte changes to a valid cache: every result is a cache or an error.
    @Test(arguments: SyntheticCache.Layout.allCases)
    func mutationsNeverTrap(layout: SyntheticCache.Layout) {
        let original = SyntheticCache(layout: layout, bigEndian: layout == .new).build()
        var random = SplitMix64(seed: 0x1d_50_cac4e)
        var parsed = 0
        for _ in 0 ..< 3000 {
            var bytes = original
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &random) {
                let index = Int.random(in: 0 ..< bytes.count, using: &random)
                bytes[index] = [0, 0xff, 0x80, 0x7f, UInt8.random(in: 0 ... 255, using: &random)].randomElement(using: &random)!
            }
            if (try? LoaderCache(source: MemoryByteSource(bytes))) != nil { parsed += 1 }
        }
        #expect(parsed > 0)  // some changes (to path bytes, say) leave a valid cache
    }
}
