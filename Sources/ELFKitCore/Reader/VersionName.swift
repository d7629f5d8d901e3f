/// A symbol version name split into its family and its numbers: `GLIBC_2.2.5` is
/// family `GLIBC_` and numbers [2, 2, 5]. Versions of one family are ordered number by
/// number, so `GLIBC_2.10` is newer than `GLIBC_2.9` (a text comparison says the
/// opposite), and a missing number counts as 0 (`GCC_3.0` and `GCC_3.0.0` are equal).
/// Names with no numbers (`GLIBC_PRIVATE`, `GLIBC_ABI_DT_RELR`) have an empty list and
/// are never ranked against numbered ones.
public struct VersionName: Hashable, Sendable, CustomStringConvertible {
    /// The whole name, as `.gnu.version_r` or `.gnu.version_d` holds it (`GLIBC_2.34`).
    public let name: String
    /// Up to the first digit: `GLIBC_`, `GLIBCXX_`, `CXXABI_`, `GCC_`.
    public let family: String
    /// The dotted numbers after the family; empty when the rest is not `N(.N)*`.
    public let numbers: [Int]

    /// Splits a version name into family and numbers; never fails (an unnumbered name
    /// has empty `numbers`).
    ///
    /// - Parameter name: The version name, e.g. `GLIBCXX_3.4.29`.
    public init(_ name: String) {
        self.name = name
        let family = String(name.prefix { !$0.isNumber })
        self.family = family
        let rest = name.dropFirst(family.count)
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = parts.compactMap { part -> Int? in
            guard !part.isEmpty, part.count <= 9, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(part)
        }
        self.numbers = !rest.isEmpty && numbers.count == parts.count ? numbers : []
    }

    /// `2.34` from `GLIBC_2.34`: the numbers as text, or the whole name when unnumbered.
    public var release: String { numbers.isEmpty ? name : numbers.map(String.init).joined(separator: ".") }

    /// The whole name, unchanged.
    public var description: String { name }

    /// Compares dotted number lists component by component, a missing one counting as 0.
    ///
    /// - Parameters:
    ///   - a: One version's numbers (`[2, 9]`).
    ///   - b: The other's (`[2, 10]`).
    /// - Returns: -1 when `a` is older, 0 when equal (`[3, 0]` and `[3]`), 1 when newer.
    public static func compare(_ a: [Int], _ b: [Int]) -> Int {
        for index in 0 ..< max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            if x != y { return x < y ? -1 : 1 }
        }
        return 0
    }

    /// Parses `2.28` or `3.4.24` (digits and dots only); nil otherwise.
    ///
    /// - Parameter text: A release number without a family, e.g. a glibc release.
    /// - Returns: The numbers; nil when `text` is empty, has an empty component
    ///   (`2..3`, `2.`), a component other than ASCII digits, or one of more than 9 digits.
    public static func numbers(of text: String) -> [Int]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !parts.isEmpty else { return nil }
        var result: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 9, part.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(part) else { return nil }
            result.append(value)
        }
        return result
    }

    /// Is this a numbered version of `family` newer than `other` (same family)?
    ///
    /// - Parameter other: The version to compare with, e.g. what a system provides.
    /// - Returns: True when both have the same family, this one is numbered, and `other`
    ///   is unnumbered or has smaller numbers; false for different families, for an
    ///   unnumbered `self`, and for equal versions.
    public func isNewer(than other: VersionName) -> Bool {
        family == other.family && !numbers.isEmpty && (other.numbers.isEmpty || VersionName.compare(numbers, other.numbers) > 0)
    }
}
