import ELFKit

/// One command-line argument, classified before anything interprets it.
enum Token: Equatable {
    /// `--name`; `position` is the index in the argument list, for messages.
    case option(name: String, position: Int)
    /// Anything else: an option's value or a file.
    case value(String, position: Int)
    /// `--`: everything after it is a file.
    case terminator(position: Int)

    static func tokenize(_ arguments: [String]) -> [Token] {
        var tokens: [Token] = []
        var afterTerminator = false
        for (position, argument) in arguments.enumerated() {
            if afterTerminator {
                tokens.append(.value(argument, position: position))
            } else if argument == "--" {
                afterTerminator = true
                tokens.append(.terminator(position: position))
            } else if argument.hasPrefix("-") && argument.count > 1 {
                tokens.append(.option(name: argument, position: position))
            } else {
                tokens.append(.value(argument, position: position))
            }
        }
        return tokens
    }
}

/// What a print option asks for. The order of the cases is the order patchelf prints in,
/// whatever order the options were given in.
enum PrintRequest: Int, CaseIterable, Comparable {
    case interpreter, osABI, soname, rpath, execstack, needed
    static func < (a: PrintRequest, b: PrintRequest) -> Bool { a.rawValue < b.rawValue }
}

/// A patchelf-style invocation: print and edit options applied to each file.
struct PatchInvocation {
    var prints: Set<PrintRequest> = []
    var edits = EditRequest()
    /// `--output` values in order: none; one, for a single file (the last one wins, as in
    /// patchelf); or one per file, the n-th naming the n-th file's result.
    var outputs: [String] = []
    /// Where file `index` is written: nil means in place.
    func output(for index: Int) -> String? {
        if outputs.isEmpty { return nil }
        return files.count == 1 ? outputs.last : outputs[index]
    }
    var debug = false
    var files: [String] = []
}

/// A parsed command line.
enum Command {
    case help
    case version
    case patch(PatchInvocation)
    case show(files: [String], json: Bool)
    case verify(files: [String], json: Bool)
    case doctor(DoctorOptions)
    case ldd(DoctorOptions)
}

/// Reads an option value the way patchelf does: `@FILE` stands for the contents of FILE.
typealias ArgumentFileReader = (String) throws -> String

struct ArgumentParser {
    let readArgumentFile: ArgumentFileReader

    /// Options that take values, and how many.
    static let valueCounts: [String: Int] = [
        "--set-interpreter": 1, "--interpreter": 1, "--page-size": 1, "--set-os-abi": 1, "--set-soname": 1,
        "--set-rpath": 1, "--add-rpath": 1, "--allowed-rpath-prefixes": 1, "--add-needed": 1,
        "--remove-needed": 1, "--replace-needed": 2, "--clear-symbol-version": 1,
        "--rename-dynamic-symbols": 1, "--output": 1,
    ]

    static let flags: Set<String> = [
        "--print-interpreter", "--print-os-abi", "--print-soname", "--print-rpath", "--print-needed",
        "--print-execstack", "--remove-rpath", "--shrink-rpath", "--force-rpath", "--no-default-lib", "--no-sort",
        "--add-debug-tag", "--clear-execstack", "--set-execstack", "--no-clobber-old-sections", "--debug",
        "--version", "--help", "-h", "--build-resolution-cache",
    ]

    func parse(_ arguments: [String]) throws -> Command {
        if let first = arguments.first {
            switch first {
            case "show": return try parseFileCommand(Array(arguments.dropFirst()), name: "show") { .show(files: $0, json: $1) }
            case "verify": return try parseFileCommand(Array(arguments.dropFirst()), name: "verify") { .verify(files: $0, json: $1) }
            case "doctor":
                let options = try parseDoctor(Array(arguments.dropFirst()), name: "doctor", allowsJSON: true)
                return options.map(Command.doctor) ?? .help
            case "ldd":
                let options = try parseDoctor(Array(arguments.dropFirst()), name: "ldd", allowsJSON: false)
                return options.map(Command.ldd) ?? .help
            default: break
            }
        }
        return try parsePatch(arguments)
    }

    private func parseFileCommand(_ arguments: [String], name: String,
                                  make: ([String], Bool) -> Command) throws -> Command {
        var files: [String] = []
        var json = false
        for token in Token.tokenize(arguments) {
            switch token {
            case .option(let option, _) where option == "--json": json = true
            case .option(let option, _) where option == "--help" || option == "-h": return .help
            case .option(let option, let position):
                throw UsageError(message: "\(name): unknown option '\(option)' (argument \(position + 2))")
            case .value(let file, _): files.append(file)
            case .terminator: break
            }
        }
        if files.isEmpty { throw UsageError(message: "\(name): no input files") }
        return make(files, json)
    }

    /// `doctor FILE [--root DIR] [--env NAME=VALUE]... [--json]` and `ldd FILE...` with the
    /// same options but no `--json`. nil means `--help`.
    private func parseDoctor(_ arguments: [String], name: String, allowsJSON: Bool) throws -> DoctorOptions? {
        var options = DoctorOptions()
        var tokens = Token.tokenize(arguments)[...]
        func value(for option: String, at position: Int) throws -> String {
            guard case .value(let value, _)? = tokens.first else {
                throw UsageError(message: "\(name): option '\(option)' (argument \(position + 2)) needs a value")
            }
            tokens.removeFirst()
            return value
        }
        while let token = tokens.popFirst() {
            switch token {
            case .terminator: continue
            case .value(let file, _): options.files.append(file)
            case .option(let option, let position):
                switch option {
                case "--help", "-h": return nil
                case "--json" where allowsJSON: options.json = true
                case "--root":
                    let root = try value(for: option, at: position)
                    guard !root.isEmpty else { throw UsageError(message: "\(name): --root needs a directory") }
                    options.root = root
                case "--env":
                    let assignment = try value(for: option, at: position)
                    guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
                        throw UsageError(message: "\(name): --env expects NAME=VALUE, got '\(assignment)' (argument \(position + 3))")
                    }
                    options.environment.append((String(assignment[..<equals]), String(assignment[assignment.index(after: equals)...])))
                default:
                    throw UsageError(message: "\(name): unknown option '\(option)' (argument \(position + 2))")
                }
            }
        }
        if options.files.isEmpty { throw UsageError(message: "\(name): no input file") }
        if name == "doctor" && options.files.count > 1 {
            throw UsageError(message: "doctor: one file at a time (its exit status is that file's verdict)")
        }
        return options
    }

    private func parsePatch(_ arguments: [String]) throws -> Command {
        var invocation = PatchInvocation()
        var allowedPrefixes: [String]?
        var shrink = false
        var tokens = Token.tokenize(arguments)[...]

        func values(for option: String, at position: Int) throws -> [String] {
            let count = ArgumentParser.valueCounts[option] ?? 0
            var result: [String] = []
            for _ in 0 ..< count {
                guard case .value(let value, _)? = tokens.first else {
                    throw UsageError(message: "option '\(option)' (argument \(position + 1)) needs \(count == 1 ? "a value" : "\(count) values")")
                }
                tokens.removeFirst()
                result.append(value)
            }
            return result
        }

        while let token = tokens.popFirst() {
            switch token {
            case .terminator: continue
            case .value(let file, _): invocation.files.append(file)
            case .option(let option, let position):
                guard ArgumentParser.flags.contains(option) || ArgumentParser.valueCounts[option] != nil else {
                    throw UsageError(message: "unknown option '\(option)' (argument \(position + 1))")
                }
                let arguments = try values(for: option, at: position)
                switch option {
                case "--help", "-h": return .help
                case "--version": return .version
                case "--print-interpreter": invocation.prints.insert(.interpreter)
                case "--print-os-abi": invocation.prints.insert(.osABI)
                case "--print-soname": invocation.prints.insert(.soname)
                case "--print-rpath": invocation.prints.insert(.rpath)
                case "--print-needed": invocation.prints.insert(.needed)
                case "--print-execstack": invocation.prints.insert(.execstack)
                case "--set-interpreter", "--interpreter": invocation.edits.interpreter = try resolve(arguments[0])
                case "--set-soname": invocation.edits.soname = try resolve(arguments[0])
                case "--set-rpath": invocation.edits.runPath = .set(try resolve(arguments[0]))
                case "--add-rpath": invocation.edits.runPath = .add(try resolve(arguments[0]))
                case "--remove-rpath": invocation.edits.runPath = .remove
                case "--shrink-rpath": shrink = true
                case "--allowed-rpath-prefixes": allowedPrefixes = try resolve(arguments[0]).split(separator: ":").map(String.init)
                case "--force-rpath": invocation.edits.forceRPath = true
                case "--add-needed": invocation.edits.addNeeded.append(try resolve(arguments[0]))
                case "--remove-needed": invocation.edits.removeNeeded.append(try resolve(arguments[0]))
                case "--replace-needed": invocation.edits.replaceNeeded.append((arguments[0], arguments[1]))
                case "--no-default-lib": invocation.edits.noDefaultLib = true
                case "--set-os-abi":
                    let name = try resolve(arguments[0]).trimmingWhitespace()
                    guard let abi = OSABINames.parse(name) else {
                        throw UsageError(message: "unrecognized OS ABI '\(name)'")
                    }
                    invocation.edits.osABI = abi
                case "--set-execstack": invocation.edits.executableStack = true
                case "--clear-execstack": invocation.edits.executableStack = false
                case "--add-debug-tag": invocation.edits.addDebugTag = true
                case "--clear-symbol-version": invocation.edits.clearSymbolVersions.append(try resolve(arguments[0]))
                case "--rename-dynamic-symbols": invocation.edits.renameSymbols.merge(try readSymbolMap(arguments[0])) { $1 }
                case "--page-size":
                    guard let size = UInt64(arguments[0]), size > 0, size & (size - 1) == 0 else {
                        throw UsageError(message: "invalid page size '\(arguments[0])': expected a power of two")
                    }
                    invocation.edits.pageSize = size
                case "--output": invocation.outputs.append(try resolve(arguments[0]))
                case "--debug": invocation.debug = true
                default: break  // accepted for compatibility: --no-sort, --no-clobber-old-sections, …
                }
            }
        }
        if shrink, invocation.edits.runPath == nil {
            invocation.edits.runPath = .shrink(allowedPrefixes: allowedPrefixes ?? [])
        }
        if invocation.files.isEmpty {
            throw UsageError(message: "missing filename")
        }
        if !invocation.outputs.isEmpty && invocation.files.count > 1 && invocation.outputs.count != invocation.files.count {
            throw UsageError(message: "--output option only allowed with single input file, or once per input file")
        }
        return .patch(invocation)
    }

    /// patchelf uses the file's contents exactly, trailing newline included; so does swelf,
    /// so that scripts written for patchelf give the same result.
    private func resolve(_ value: String) throws -> String {
        guard value.hasPrefix("@") else { return value }
        return try readArgumentFile(String(value.dropFirst()))
    }

    /// A map file: one `old new` pair per line.
    private func readSymbolMap(_ path: String) throws -> [String: String] {
        var map: [String: String] = [:]
        for (number, line) in try readArgumentFile(path).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            guard words.count == 2 else {
                throw UsageError(message: "\(path):\(number + 1): expected 'OLD_NAME NEW_NAME'")
            }
            map[String(words[0])] = String(words[1])
        }
        return map
    }
}

/// The names `--print-os-abi` prints and `--set-os-abi` accepts.
enum OSABINames {
    static let table: [(abi: UInt8, name: String, aliases: [String])] = [
        (0, "System V", ["system v", "system-v", "sysv"]),
        (1, "HP-UX", ["hp-ux"]),
        (2, "NetBSD", ["netbsd"]),
        (3, "Linux", ["linux", "gnu"]),
        (4, "GNU Hurd", ["gnu hurd", "gnu-hurd", "hurd"]),
        (6, "Solaris", ["solaris"]),
        (7, "AIX", ["aix"]),
        (8, "IRIX", ["irix"]),
        (9, "FreeBSD", ["freebsd"]),
        (10, "Tru64", ["tru64"]),
        (12, "OpenBSD", ["openbsd"]),
        (13, "OpenVMS", ["openvms"]),
    ]

    static func name(of abi: OSABI) -> String? { table.first { $0.abi == abi.rawValue }?.name }

    static func parse(_ text: String) -> OSABI? {
        let key = text.lowercased()
        return table.first { $0.aliases.contains(key) }.map { OSABI(rawValue: $0.abi) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }
}
