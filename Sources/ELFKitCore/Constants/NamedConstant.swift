/// An ELF constant: an open set of values, of which some have names.
///
/// ELF's constant spaces are open (processor- and OS-specific ranges), so these are
/// `RawRepresentable` structs with static members rather than closed enums. They print
/// their ELF name (`DT_RUNPATH`) or, when unknown, the number.
public protocol NamedConstant: RawRepresentable, Hashable, Sendable, CustomStringConvertible
where RawValue: FixedWidthInteger & Sendable {
    /// Known values and their ELF names.
    static var names: [RawValue: String] { get }
}

extension NamedConstant {
    public var name: String? { Self.names[rawValue] }
    public var description: String { name ?? "0x" + String(rawValue, radix: 16) }
}
