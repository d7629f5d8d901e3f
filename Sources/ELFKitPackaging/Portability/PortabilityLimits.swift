import ELFKitCore

/// `--floor`: the oldest versions a pipeline accepts, and every required version beyond
/// them.
extension PortabilityReport {
    /// The oldest versions a pipeline accepts: `glibc=2.28,glibcxx=3.4.24,cxxabi=1.3.11,gcc=4.8.0`.
    public struct Limits: Sendable, Equatable {
        public var glibc: [Int]?
        public var glibcxx: [Int]?
        public var cxxabi: [Int]?
        public var gcc: [Int]?

        public init(glibc: [Int]? = nil, glibcxx: [Int]? = nil, cxxabi: [Int]? = nil, gcc: [Int]? = nil) {
            self.glibc = glibc
            self.glibcxx = glibcxx
            self.cxxabi = cxxabi
            self.gcc = gcc
        }

        /// Parses `NAME=VERSION[,NAME=VERSION]...`; the message says what is wrong.
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

    public struct LimitsError: Error, Sendable { public var message: String }

    /// A required version beyond the limits.
    public struct Violation: Sendable {
        public var library: String
        public var version: VersionName
        /// nil when no symbol is bound to the version.
        public var symbol: [UInt8]?
        public var requiredBy: String
        public var reason: String
    }

    /// Every `symbol@version` (and every symbol-less requirement) beyond `limits`.
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
