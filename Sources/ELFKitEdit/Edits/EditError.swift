import ELFKitCore

/// Why an edit could not be made.
public enum EditError: Error, CustomStringConvertible, Sendable {
    /// The input is not a valid ELF file.
    case format(ELFError)
    /// The file is valid but the edit cannot be applied to it (said why).
    case refused(String)

    public var description: String {
        switch self {
        case .format(let error): return error.description
        case .refused(let reason): return reason
        }
    }
}
