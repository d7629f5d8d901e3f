import ELFKit

/// One command-line argument, classified before anything interprets it. Arguments are
/// bytes, as `argv` holds them: a value or a file name reaches the file and the system
/// calls byte for byte, whatever its encoding.
enum Token: Equatable {
    /// `--name`; `position` is the index in the argument list, for messages.
    case option(name: String, position: Int)
    /// Anything else: an option's value or a file.
    case value([UInt8], position: Int)
    /// `--`: everything after it is a file.
    case terminator(position: Int)
}

/// The arguments, classified one at a time as they are read. An option that takes a
/// value takes the next argument whatever it looks like (`--add-needed -weird`, as
/// patchelf does): `nextValue` hands it over unclassified.
///
/// swelf's own options that take a value may also carry it in the same argument,
/// `--root=/srv/root` (`inlineValue` names them). patchelf's options never do:
/// patchelf 0.19.3 takes `--set-rpath=x` for a file name, so a script that relies on
/// either form must see the same outcome under both tools.
struct TokenStream {
    let arguments: [[UInt8]]
    private(set) var index = 0
    private var afterTerminator = false
    private let inlineValue: (String) -> Bool
    /// The value of the option just returned, when it came as `--name=value`.
    private var pendingValue: [UInt8]?

    init(_ arguments: [[UInt8]], inlineValue: @escaping (String) -> Bool = { _ in false }) {
        self.arguments = arguments
        self.inlineValue = inlineValue
    }

    mutating func next() -> Token? {
        guard index < arguments.count else { return nil }
        let argument = arguments[index]
        let position = index
        index += 1
        pendingValue = nil
        if afterTerminator { return .value(argument, position: position) }
        if argument == Array("--".utf8) {
            afterTerminator = true
            return .terminator(position: position)
        }
        if argument.starts(with: [UInt8(ascii: "-"), UInt8(ascii: "-")]),
           let equals = argument.firstIndex(of: UInt8(ascii: "=")), equals > 2 {
            let name = String(decoding: argument[..<equals], as: UTF8.self)
            if inlineValue(name) {
                pendingValue = Array(argument[(equals + 1)...])
                return .option(name: name, position: position)
            }
        }
        if argument.first == UInt8(ascii: "-") && argument.count > 1 {
            return .option(name: String(decoding: argument, as: UTF8.self), position: position)
        }
        return .value(argument, position: position)
    }

    /// The next argument as an option's value, whatever it looks like; nil at the end.
    mutating func nextValue() -> [UInt8]? {
        if let pendingValue {
            self.pendingValue = nil
            return pendingValue
        }
        guard index < arguments.count else { return nil }
        index += 1
        return arguments[index - 1]
    }

    /// The next argument as the text value of `command`'s `option` (at `position`), for the
    /// loader model, which works on text: bytes that are not UTF-8 are carried in it
    /// reversibly (ByteText), so paths and values reach the system calls unchanged.
    /// Missing, or empty when `allowsEmpty` is false, it is a usage error.
    mutating func textValue(of option: String, at position: Int, command: String, allowsEmpty: Bool = true) throws -> String {
        guard let value = nextValue(), allowsEmpty || !value.isEmpty else {
            throw UsageError(message: "\(command): option '\(option)' (argument \(position + 2)) needs a value")
        }
        return ByteText.string(value)
    }

    /// The token loop of the loader commands (`doctor`, `ldd`, `portability`, `bundle`):
    /// each plain value, as text, goes to `input`; every option but `--help` goes to
    /// `option`, which takes its values from the stream and returns false for an option
    /// it does not know. Returns true when `--help` was asked for.
    mutating func readLoaderOptions(command: String, input: (String) -> Void,
                                    _ option: (_ name: String, _ position: Int, _ tokens: inout TokenStream) throws -> Bool) throws -> Bool {
        while let token = next() {
            switch token {
            case .terminator: continue
            case .value(let value, _): input(ByteText.string(value))
            case .option("--help", _), .option("-h", _): return true
            case .option(let name, let position):
                guard try option(name, position, &self) else {
                    throw UsageError(message: "\(command): unknown option '\(name)' (argument \(position + 2))")
                }
            }
        }
        return false
    }

    /// `--env NAME=VALUE` of `command`: split at the first `=`; the name may not be empty.
    mutating func environmentAssignment(at position: Int, command: String, allowsEmpty: Bool = true) throws -> (name: String, value: String) {
        let assignment = try textValue(of: "--env", at: position, command: command, allowsEmpty: allowsEmpty)
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
            throw UsageError(message: "\(command): --env expects NAME=VALUE, got '\(assignment)' (argument \(position + 3))")
        }
        return (String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...]))
    }
}
