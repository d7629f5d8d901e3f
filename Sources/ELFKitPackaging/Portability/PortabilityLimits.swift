import ELFKitCore

/// `--floor`: the oldest versions a pipeline accepts, and every required version beyond
/// them.
extension PortabilityReport {
    /// The oldest versions a pipeline accepts: `glibc=2.28,glibcxx=3.4.24,cxxabi=1.3.11,gcc=4.8.0`.
    public struct Limits: Sendable, Equatable {
        /// The newest `GLIBC_` release allowed (`[2, 28]`); nil puts no limit on glibc.
        public var glibc: [Int]?
        /// The newest `GLIBCXX_` version allowed (`[3, 4, 24]`); nil for no limit.
        public var glibcxx: [Int]?
        /// The newest `CXXABI_` version allowed (`[1, 3, 11]`); nil for no limit.
        public var cxxabi: [Int]?
        /// The newest libgcc_s `GCC_` version allowed (`[4, 8, 0]`); nil for no limit.
        public var gcc: [Int]?

        /// Limits on the given families; a nil one is not checked.
        ///
        /// - Parameters:
        ///   - glibc: The newest `GLIBC_` version numbers allowed.
        ///   - glibcxx: The newest `GLIBCXX_` version numbers allowed.
        ///   - cxxabi: The newest `CXXABI_` version numbers allowed.
        ///   - gcc: The newest `GCC_` version numbers allowed.
        public init(glibc: [Int]? = nil, glibcxx: [Int]? = nil, cxxabi: [Int]? = nil, gcc: [Int]? = nil) {
            self.glibc = glibc
            self.glibcxx = glibcxx
            self.cxxabi = cxxabi
            self.gcc = gcc
        }

        /// Parses `NAME=VERSION[,NAME=VERSION]...`; the message says what is wrong.
        ///
        /// - Parameter text: The `--floor` argument. NAME is `glibc`, `glibcxx` (or
        ///   `libstdc++`), `cxxabi`, or `gcc` (or `libgcc`, `libgcc_s`), in any case.
        /// - Returns: The limits, or a ``LimitsError`` for an item that is not
        ///   NAME=VERSION, an unknown name, or no limit at all.
        public static func parse(_ text: String) -> Result<Limits, LimitsError> {
            var limits = Limits()
            for item in text.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, let numbers = VersionName.numbers(of: String(parts[1])) else {
                    return .failure(LimitsError(message: "expected NAME=VERSION (e.g. glibc=2.28), got '\(item)'"))
                }
                switch parts[0].lowercased() {
                case "glibc": limits.glibc = numbers
                case "glibcxx", "libstdc++": limits.glibcxx = numbers
                case "cxxabi": limits.cxxabi = numbers
                case "gcc", "libgcc", "libgcc_s": limits.gcc = numbers
                default:
                    return .failure(LimitsError(message: "unknown name '\(parts[0])' (expected glibc, glibcxx, cxxabi or gcc)"))
                }
            }
            if limits == Limits() { return .failure(LimitsError(message: "no limit given")) }
            return .success(limits)
        }
    }

    /// A `--floor` argument ``Limits/parse(_:)`` cannot read.
    public struct LimitsError: Error, Sendable {
        /// What is wrong, quoting the offending item.
        public var message: String
    }

    /// A required version beyond the limits.
    public struct Violation: Sendable {
        /// The system library required (`vn_file`, e.g. `libstdc++.so.6`).
        public var library: String
        /// The version required of it, newer than the limit.
        public var version: VersionName
        /// nil when no symbol is bound to the version.
        public var symbol: [UInt8]?
        /// The path of the file that has the requirement.
        public var requiredBy: String
        /// Which limit it exceeds (`newer than glibc 2.28`, `GLIBC_PRIVATE is never portable`).
        public var reason: String
    }

    /// Every `symbol@version` (and every symbol-less requirement) beyond `limits`.
    ///
    /// - Parameter limits: The newest versions allowed, per family.
    /// - Returns: One violation per symbol bound to a version beyond its limit (one for
    ///   the version when no symbol is), in the order of ``uses``; `GLIBC_PRIVATE`
    ///   always violates a glibc limit, and a marker such as `GLIBC_ABI_DT_RELR` by the
    ///   release it needs.
    public func violations(of limits: Limits) -> [Violation] {
        var result: [Violation] = []
        func add(_ use: Use, _ reason: String) {
            if use.symbols.isEmpty {
                result.append(Violation(library: use.library, version: use.version, symbol: nil, requiredBy: use.requiredBy, reason: reason))
            }
            for symbol in use.symbols {
                result.append(Violation(library: use.library, version: use.version, symbol: symbol, requiredBy: use.requiredBy, reason: reason))
            }
        }
        func above(_ numbers: [Int], _ limit: [Int]?) -> Bool {
            guard let limit, !numbers.isEmpty else { return false }
            return VersionName.compare(numbers, limit) > 0
        }
        let text: ([Int]) -> String = { $0.map(String.init).joined(separator: ".") }
        for use in uses {
            let version = use.version
            switch use.component {
            case .glibc:
                guard let limit = limits.glibc else { continue }
                if version.name == "GLIBC_PRIVATE" {
                    add(use, "GLIBC_PRIVATE is never portable")
                } else if let marker = PortabilityFacts.markerFloors[version.name], above(marker, limit) {
                    add(use, "\(version.name) needs glibc \(text(marker)), newer than \(text(limit))")
                } else if version.family == "GLIBC_" && above(version.numbers, limit) {
                    add(use, "newer than glibc \(text(limit))")
                }
            case .libstdcxx:
                if version.family == "GLIBCXX_" && above(version.numbers, limits.glibcxx) {
                    add(use, "newer than GLIBCXX_\(text(limits.glibcxx!))")
                } else if version.family == "CXXABI_" && above(version.numbers, limits.cxxabi) {
                    add(use, "newer than CXXABI_\(text(limits.cxxabi!))")
                }
            case .libgcc:
                if version.family == "GCC_" && above(version.numbers, limits.gcc) {
                    add(use, "newer than GCC_\(text(limits.gcc!))")
                }
            case nil:
                continue
            }
        }
        return result
    }
}
