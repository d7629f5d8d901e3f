import Testing
@testable import ELFKitPackaging

/// The bundle policy: patterns, the file format, and the order rules are checked in.
/// Expected values come from fnmatch(3) semantics and the documented order, not from
/// the code.
@Suite struct BundlePolicyTests {
    @Test func globMatchesAsFnmatchDoes() {
        let cases: [(String, String, Bool)] = [
            ("libc.so.*", "libc.so.6", true),
            ("libc.so.*", "libc3.so.1", false),
            ("libc.so.*", "libc.so", false),
            ("libnss_*.so.*", "libnss_files.so.2", true),
            ("libnss_*.so.*", "libnss3.so", false),
            ("ld-linux*.so.*", "ld-linux-x86-64.so.2", true),
            ("ld-linux*.so.*", "ld-linux-aarch64.so.1", true),
            ("lib?.so", "liba.so", true),
            ("lib?.so", "libab.so", false),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("libstdc++.so.*", "libstdc++.so.6", true),
        ]
        for (pattern, name, expected) in cases {
            #expect(BundlePolicy.glob(Array(pattern.utf8), Array(name.utf8)) == expected, "\(pattern) ~ \(name)")
        }
    }

    @Test func glibcAndTheLoaderCannotBeBundledByAPolicy() throws {
        var policy = BundlePolicy()
        try policy.parse("bundle libc.so.6  we know better\nbundle ld-linux-x86-64.so.2\n", path: "p")
        #expect(policy.decide(["libc.so.6"])?.action == .exclude)
        #expect(policy.decide(["libc.so.6"])?.source == .glibc)
        #expect(policy.decide(["ld-linux-x86-64.so.2"])?.action == .exclude)
        for name in ["libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libresolv.so.2", "libutil.so.1",
                     "libanl.so.1", "libBrokenLocale.so.1", "libmvec.so.1", "libc_malloc_debug.so.0", "libthread_db.so.1"] {
            #expect(policy.decide([name])?.source == .glibc, "\(name)")
        }
    }

    @Test func fileRulesComeBeforeTheDefaultsAndTheOption() throws {
        var policy = BundlePolicy()
        #expect(policy.decide(["libGL.so.1"])?.action == .exclude)
        #expect(policy.decide(["libstdc++.so.6"])?.action == .exclude)
        #expect(policy.decide(["libcrypt.so.1"])?.action == .exclude)
        #expect(policy.decide(["libcrypt.so.2"]) == nil, "libxcrypt's own ABI is an ordinary library")
        #expect(policy.decide(["libfoo.so.1"]) == nil)
        try policy.parse("""
            # comment line
              bundle libGL.so.1   software renderer   # trailing comment
            exclude libfoo.so.*\tfrom the base image

            """, path: "site.policy")
        policy.includeCxxRuntime()
        let gl = try #require(policy.decide(["libGL.so.1"]))
        #expect(gl.action == .bundle)
        #expect(gl.reason == "software renderer")
        #expect(gl.source == .file(path: "site.policy", line: 2))
        #expect(policy.decide(["libEGL.so.1"])?.action == .exclude)
        #expect(policy.decide(["libfoo.so.1"])?.reason == "from the base image")
        #expect(policy.decide(["libstdc++.so.6"])?.action == .bundle)
        #expect(policy.decide(["libgcc_s.so.1"])?.action == .bundle)
        // Matched by soname when the needed name differs.
        #expect(policy.decide(["libfoo-dev.so", "libfoo.so.3"])?.action == .exclude)
    }

    @Test func badLinesAreRefusedWithTheirNumber() {
        let cases: [(String, Int, String)] = [
            ("include libx.so\n", 1, "expected 'exclude' or 'bundle', found 'include'"),
            ("\n\nexclude\n", 3, "'exclude' needs a file-name pattern"),
            ("bundle /usr/lib/libx.so reason\n", 1, "a pattern matches file names; '/usr/lib/libx.so' holds a '/'"),
        ]
        for (text, line, message) in cases {
            var policy = BundlePolicy()
            do {
                try policy.parse(text, path: "p")
                Issue.record("accepted \(text.debugDescription)")
            } catch {
                #expect(error.line == line)
                #expect(error.message == message)
            }
        }
    }
}
