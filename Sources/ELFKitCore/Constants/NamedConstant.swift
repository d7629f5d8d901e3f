/// An ELF constant: an open set of values, of which some have names.
///
/// ELF's constant spaces are open (processor- and OS-specific ranges), so these are
/// `RawRepresentable` structs with static members rather than closed enums. They print
/// their ELF name (`DT_RUNPATH`) or, when unknown, the number.
public protocol NamedConstant: RawRepresentable, Hashable, Sendable, CustomStringConvertible
where RawValue: FixedWidthInteger & Sendable {
    /// Known values and their ELF names. Pairs searched in order, not a dictionary: a
    /// `Dictionary` costs a run-time `Hashable` conformance lookup the first time one is
    /// built, and a short call prints or logs a name or two.
    static var names: KeyValuePairs<RawValue, String> { get }
}

// Every type in Constants/ (and LoaderCache.Flags in ELFKitLoader) opens with the same
// lines, a stored `rawValue`, `init(rawValue:)` and static members, so `duplicates` pairs
// them: Swift cannot share a stored property and its initialiser through a protocol.
extension NamedConstant {
    /// The constant's ELF name (`DT_RUNPATH`, `PT_LOAD`), or nil for a value ``names``
    /// does not list (an unknown or processor-specific one).
    public var name: String? { Self.names.first { $0.key == rawValue }?.value }
    /// The ELF name, or the value in hexadecimal (`0x6ffffef5`) when it has none; what
    /// error messages and `swelf show` print.
    public var description: String { name ?? "0x" + String(rawValue, radix: 16) }
}
