/// What `swelf bundle` counts as the base system: libraries it leaves to the machine the
/// bundle runs on instead of copying them.
///
/// A policy is a list of rules, the first match wins. Each rule names a file-name pattern
/// (`*` any run of characters, `?` one character), matched against the name a library is
/// needed by and against its DT_SONAME, and gives a reason that the bundle report prints.
///
/// The policy file format, one rule per line, `#` starts a comment:
///
///     exclude libGL.so.*     the GPU driver's library must match the host's kernel driver
///     bundle  libGL.so.1     this program ships its own software renderer
///
/// `exclude PATTERN REASON…` leaves the library to the host; `bundle PATTERN REASON…`
/// copies it even where a built-in rule would exclude it. Rules from a policy file come
/// first, then `--include-libstdcxx`, then the built-in defaults (`defaultRules`). glibc's
/// own libraries and the loader (`glibcRules`) are checked before everything: they are
/// always excluded, because they are tied to each other and to the loader (`PT_INTERP` is
/// an absolute path on the host) and cannot be moved.
public struct BundlePolicy: Sendable {
    /// What a matching rule does with a library; the raw value is the policy file's keyword.
    public enum Action: String, Sendable {
        /// Leave the library to the host: it is not copied.
        case exclude
        /// Copy the library into the bundle, even where a later rule would exclude it.
        case bundle
    }

    /// Where a rule comes from, shown with its reason in the bundle report.
    public enum Source: Sendable, Equatable {
        /// glibc and the loader: fixed.
        case glibc
        /// swelf's built-in defaults.
        case builtIn
        /// `--include-libstdcxx`.
        case option
        /// A policy file, at this line.
        case file(path: String, line: Int)

        /// The origin as the report prints it: `glibc (fixed)`, `default policy`,
        /// `--include-libstdcxx` or `PATH:LINE`.
        public var description: String {
            switch self {
            case .glibc: "glibc (fixed)"
            case .builtIn: "default policy"
            case .option: "--include-libstdcxx"
            case .file(let path, let line): "\(path):\(line)"
            }
        }
    }

    /// One line of a policy: a file-name pattern and what to do with the libraries it matches.
    public struct Rule: Sendable {
        /// Exclude the matching libraries, or bundle them.
        public let action: Action
        /// A file-name pattern (`*` any run of characters, `?` one character; no `/`).
        public let pattern: String
        /// Why, in the words the bundle report prints.
        public let reason: String
        /// Where the rule comes from (glibc's fixed set, the defaults, an option, a file).
        public let source: Source

        /// A rule that applies `action` to names matching `pattern`.
        ///
        /// - Parameters:
        ///   - action: Whether matching libraries are excluded or bundled.
        ///   - pattern: The file-name pattern (`*` and `?`).
        ///   - reason: The explanation the report prints.
        ///   - source: Where the rule comes from.
        public init(_ action: Action, _ pattern: String, _ reason: String, source: Source) {
            self.action = action
            self.pattern = pattern
            self.reason = reason
            self.source = source
        }

        /// Whether the whole of `name` matches the pattern, byte by byte (as `fnmatch`
        /// without flags, for `*` and `?`).
        ///
        /// - Parameter name: A library file name: a DT_NEEDED name's last component or a DT_SONAME.
        /// - Returns: True when the pattern matches all of `name`.
        public func matches(_ name: String) -> Bool { BundlePolicy.glob(Array(pattern.utf8), Array(name.utf8)) }
    }

    /// A policy file line that is not a rule.
    public struct ParseError: Error, Sendable, CustomStringConvertible {
        /// The policy file, as named to ``BundlePolicy/parse(_:path:)``.
        public let path: String
        /// The line number, from 1.
        public let line: Int
        /// What is wrong with the line (an unknown keyword, no pattern, a `/` in the pattern).
        public let message: String
        /// `PATH:LINE: MESSAGE`, as compilers print errors.
        public var description: String { "\(path):\(line): \(message)" }
    }

    /// User rules (policy file, options), checked after glibc's and before the defaults.
    public var rules: [Rule]

    /// A policy with the user's `rules` between glibc's fixed rules and the defaults.
    ///
    /// - Parameter rules: Rules checked before the built-in defaults, in order; none
    ///   gives the default policy.
    public init(rules: [Rule] = []) { self.rules = rules }

    /// Every rule in the order they are checked.
    public var allRules: [Rule] { BundlePolicy.glibcRules + rules + BundlePolicy.defaultRules }

    /// The first rule matching any of `names`; nil means "bundle it" (not base system).
    ///
    /// - Parameter names: The names a library is known by: the name searched for and,
    ///   when it differs, the DT_SONAME of the file found.
    /// - Returns: The deciding rule in ``allRules`` order, or nil when none matches.
    public func decide(_ names: [String]) -> Rule? {
        allRules.first { rule in names.contains { rule.matches($0) } }
    }

    /// `--include-libstdcxx`: the GCC runtime libraries are bundled.
    public mutating func includeCxxRuntime() {
        rules.append(Rule(.bundle, "libstdc++.so.*", "the C++ runtime is bundled (--include-libstdcxx)", source: .option))
        rules.append(Rule(.bundle, "libgcc_s.so.*", "the GCC runtime is bundled (--include-libstdcxx)", source: .option))
    }

    /// Reads a policy file's text (see the type's documentation for the format) and
    /// appends its rules to ``rules``, in file order.
    ///
    /// - Parameters:
    ///   - text: The file's contents.
    ///   - path: The file's name, recorded in each rule's source and in errors.
    /// - Throws: ``ParseError`` for the first line that is not a rule; the rules of the
    ///   lines before it have been appended already.
    public mutating func parse(_ text: String, path: String) throws(ParseError) {
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = words.first else { continue }
            guard let action = Action(rawValue: String(first)) else {
                throw ParseError(path: path, line: number, message: "expected 'exclude' or 'bundle', found '\(first)'")
            }
            guard words.count >= 2 else {
                throw ParseError(path: path, line: number, message: "'\(first)' needs a file-name pattern")
            }
            let pattern = String(words[1])
            if pattern.contains("/") {
                throw ParseError(path: path, line: number, message: "a pattern matches file names; '\(pattern)' holds a '/'")
            }
            let reason = words.count > 2 ? words[2...].joined(separator: " ") : "listed in the policy file"
            rules.append(Rule(action, pattern, reason, source: .file(path: path, line: number)))
        }
    }

    /// `fnmatch` without flags, for `*` and `?` (no brackets: sonames hold none).
    static func glob(_ pattern: [UInt8], _ name: [UInt8]) -> Bool {
        var p = 0, n = 0
        var star: Int?, starName = 0
        while n < name.count {
            if p < pattern.count && (pattern[p] == UInt8(ascii: "?") || pattern[p] == name[n]) {
                p += 1
                n += 1
            } else if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
                star = p
                starName = n
                p += 1
            } else if let s = star {
                p = s + 1
                starName += 1
                n = starName
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// glibc's libraries and the loader, from glibc's `shlib-versions` and its install
    /// tree. They come and go as a set with the loader, whose path is compiled into every
    /// program; bundling one of them breaks on any host whose glibc differs.
    public static let glibcRules: [Rule] = {
        let reason = "part of glibc: tied to the host's loader"
        let loader = "the dynamic loader: PT_INTERP names the host's copy"
        let names = ["libc.so.*", "libm.so.*", "libdl.so.*", "librt.so.*", "libpthread.so.*", "libresolv.so.*",
                     "libnss_*.so.*", "libutil.so.*", "libanl.so.*", "libBrokenLocale.so.*", "libmvec.so.*",
                     "libc_malloc_debug.so.*", "libthread_db.so.*", "libnsl.so.1", "libcidn.so.*", "libmemusage.so",
                     "libpcprofile.so", "libSegFault.so"]
        let loaders = ["ld-linux*.so.*", "ld64.so.*", "ld.so.1", "ld-*.so", "ld-*.so.*"]
        return names.map { Rule(.exclude, $0, reason, source: .glibc) } + loaders.map { Rule(.exclude, $0, loader, source: .glibc) }
    }()

    /// The rule for a name the loader answers to itself (the interpreter, under whatever
    /// name a library needs it).
    public static let loaderRule = Rule(.exclude, "ld-*", "the dynamic loader: PT_INTERP names the host's copy", source: .glibc)

    /// The built-in defaults after the user's rules. The GPU stack follows linuxdeploy's
    /// exclude list (and AppImage's `excludelist`): those libraries talk to the host's
    /// kernel driver and must come from the host. libcrypt.so.1 was glibc's own up to
    /// 2.38; modern distributions ship it from libxcrypt (Debian/Ubuntu `libcrypt1`, an
    /// essential package; RHEL/Fedora `libxcrypt`, `libxcrypt-compat`) with the same
    /// GLIBC_2.x symbol versions, so every glibc system has it: excluded by default, a
    /// policy `bundle libcrypt.so.1` rule overrides it. libcrypt.so.2 (libxcrypt's own ABI)
    /// is an ordinary library and bundled. libstdc++ and libgcc_s are excluded by default,
    /// as auditwheel's manylinux policies do (every C++-capable host has them);
    /// `--include-libstdcxx` bundles them for hosts older than the build machine's GCC.
    public static let defaultRules: [Rule] = {
        let gpu = "GPU stack: must match the host's kernel driver"
        let gpuNames = ["libGL.so.*", "libEGL.so.*", "libGLX.so.*", "libGLX_*.so.*", "libGLdispatch.so.*", "libOpenGL.so.*",
                        "libGLESv1_CM.so.*", "libGLESv2.so.*", "libdrm.so.*", "libdrm_*.so.*", "libgbm.so.*",
                        "libvulkan.so.*", "libnvidia-*.so*", "libcuda.so*", "libnvcuvid.so*", "libOpenCL.so.*",
                        "libva.so.*", "libva-*.so.*", "libvdpau.so.*", "libxcb-dri2.so.*", "libxcb-dri3.so.*",
                        "libxcb-glx.so.*", "libglapi.so.*"]
        var rules = gpuNames.map { Rule(.exclude, $0, gpu, source: .builtIn) }
        rules.append(Rule(.exclude, "libcrypt.so.1",
                          "base system: glibc's libcrypt up to 2.38, libxcrypt's compatible libcrypt.so.1 since",
                          source: .builtIn))
        let runtime = "GCC runtime: on every host that runs C++ (bundle it with --include-libstdcxx)"
        rules.append(Rule(.exclude, "libstdc++.so.*", runtime, source: .builtIn))
        rules.append(Rule(.exclude, "libgcc_s.so.*", runtime, source: .builtIn))
        return rules
    }()
}
