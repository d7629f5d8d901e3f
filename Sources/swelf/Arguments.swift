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

/// The print options given, each once (a bit per `PrintRequest`; not a `Set`, whose
/// `Hashable` requirement costs a run-time conformance lookup at start-up).
struct PrintRequests: Equatable {
    private var bits: UInt8 = 0

    mutating func insert(_ request: PrintRequest) { bits |= 1 << UInt8(request.rawValue) }
    var isEmpty: Bool { bits == 0 }
    /// In patchelf's order.
    func sorted() -> [PrintRequest] { PrintRequest.allCases.filter { bits & (1 << UInt8($0.rawValue)) != 0 } }
}

/// A patchelf-style invocation: print and edit options applied to each file.
struct PatchInvocation {
    var prints = PrintRequests()
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
    /// `--no-clobber-old-sections`: the old bytes of every moved section must stay where
    /// they were; an edit that would overwrite them is refused.
    var keepOldSections = false
    var files: [String] = []
    /// `-j N`, `--jobs N`: how many files are worked on at once (default: one per processor).
    var jobs: Int?
    /// False with `--no-durability`: no fsync (see `AtomicFileWriter.durable`).
    var durable = true
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
    var personality: Personality = .swelf

    // The option tables are switches, not a `Dictionary` and a `Set`: building those
    // costs run-time conformance lookups (`Hashable`) on every start, a large part of a
    // small call's time.

    /// How many values an option takes; nil for a name that is no option.
    static func valueCount(_ option: String) -> Int? {
        switch option {
        case "--set-interpreter", "--interpreter", "--page-size", "--set-os-abi", "--set-soname",
             "--set-rpath", "--add-rpath", "--allowed-rpath-prefixes", "--add-needed",
             "--remove-needed", "--clear-symbol-version", "--rename-dynamic-symbols", "--output", "-j", "--jobs":
            return 1
        case "--replace-needed":
            return 2
        case "--print-interpreter", "--print-os-abi", "--print-soname", "--print-rpath", "--print-needed",
             "--print-execstack", "--remove-rpath", "--shrink-rpath", "--force-rpath", "--no-default-lib", "--no-sort",
             "--add-debug-tag", "--clear-execstack", "--set-execstack", "--no-clobber-old-sections", "--debug",
             "--version", "--help", "-h", "--build-resolution-cache", "--no-durability":
            return 0
        default:
            return nil
        }
    }

    func parse(_ arguments: [String]) throws -> Command {
        // As patchelf there are no commands: `patchelf show` names a file called show.
        if personality == .swelf, let first = arguments.first {
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
        var allowedPrefixes: [String] = []
        // The run-path options are collected and decided as patchelf decides them:
        // --shrink-rpath, else --remove-rpath, else --set-rpath, else --add-rpath.
        var shrink = false, remove = false
        var setRunPath: String?, addRunPath: String?
        var addNeeded = Set<String>(), removeNeeded = Set<String>(), clearVersions = Set<String>()
        var replaceNeeded: [String: String] = [:]
        var tokens = Token.tokenize(arguments)[...]
        let asPatchelf = personality == .patchelf

        func values(for option: String, at position: Int) throws -> [String] {
            let count = ArgumentParser.valueCount(option) ?? 0
            var result: [String] = []
            for _ in 0 ..< count {
                guard case .value(let value, _)? = tokens.first else {
                    if asPatchelf { throw UsageError(message: count == 1 ? "missing argument" : "missing argument(s)") }
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
                guard ArgumentParser.valueCount(option) != nil else {
                    throw UsageError(message: asPatchelf ? "unrecognized option '\(option)'"
                                                         : "unknown option '\(option)' (argument \(position + 1))")
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
                case "--set-rpath": setRunPath = try resolve(arguments[0])
                case "--add-rpath": addRunPath = try resolve(arguments[0])
                case "--remove-rpath": remove = true
                case "--shrink-rpath": shrink = true
                // Taken literally, without @FILE, as patchelf does.
                case "--allowed-rpath-prefixes": allowedPrefixes = arguments[0].split(separator: ":").map(String.init)
                case "--force-rpath": invocation.edits.forceRPath = true
                case "--add-needed": addNeeded.insert(try resolve(arguments[0]))
                case "--remove-needed": removeNeeded.insert(try resolve(arguments[0]))
                case "--replace-needed": replaceNeeded[arguments[0]] = arguments[1]
                case "--no-default-lib": invocation.edits.noDefaultLib = true
                case "--set-os-abi":
                    let name = try resolve(arguments[0]).trimmingWhitespace()
                    guard let abi = OSABINames.parse(name) else {
                        throw UsageError(message: asPatchelf ? "unrecognized OS ABI" : "unrecognized OS ABI '\(name)'")
                    }
                    invocation.edits.osABI = abi
                case "--set-execstack": invocation.edits.executableStack = true
                case "--clear-execstack": invocation.edits.executableStack = false
                case "--add-debug-tag": invocation.edits.addDebugTag = true
                case "--clear-symbol-version": clearVersions.insert(try resolve(arguments[0]))
                case "--rename-dynamic-symbols": invocation.edits.renameSymbols.merge(try readSymbolMap(arguments[0])) { $1 }
                case "--page-size":
                    guard let size = UInt64(arguments[0]), size > 0, size & (size - 1) == 0 else {
                        throw UsageError(message: asPatchelf ? "invalid argument to --page-size: '\(arguments[0])' is not a power of two"
                                                             : "invalid page size '\(arguments[0])': expected a power of two")
                    }
                    invocation.edits.pageSize = size
                case "--output": invocation.outputs.append(try resolve(arguments[0]))
                case "-j", "--jobs":
                    // patchelf has no such option.
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    guard let jobs = Int(arguments[0]), jobs > 0, jobs <= 1024 else {
                        throw UsageError(message: "invalid number of jobs '\(arguments[0])': expected 1 to 1024")
                    }
                    invocation.jobs = jobs
                case "--debug": invocation.debug = true
                case "--no-durability":
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    invocation.durable = false
                case "--no-clobber-old-sections": invocation.keepOldSections = true
                case "--no-sort": break  // swelf never sorts program or section headers: this is what it always does
                case "--build-resolution-cache":
                    throw UsageError(message: "--build-resolution-cache is not implemented by swelf: it would write a .note.nixos.ldcache note; use patchelf for it")
                default:
                    throw UsageError(message: "internal error: option '\(option)' has no meaning")
                }
            }
        }
        if invocation.files.isEmpty {
            throw UsageError(message: "missing filename")
        }
        // patchelf takes one --output for one file; swelf also takes one per input file.
        if !invocation.outputs.isEmpty && invocation.files.count > 1
            && (asPatchelf || invocation.outputs.count != invocation.files.count) {
            throw UsageError(message: asPatchelf ? "--output option only allowed with single input file"
                : "--output option only allowed with single input file, or once per input file")
        }
        if setRunPath != nil && addRunPath != nil {
            throw UsageError(message: "--set-rpath option not allowed with --add-rpath")
        }
        if shrink {
            invocation.edits.runPath = .shrink(allowedPrefixes: allowedPrefixes)
        } else if remove {
            invocation.edits.runPath = .remove
        } else if let setRunPath {
            invocation.edits.runPath = .set(setRunPath)
        } else if let addRunPath {
            invocation.edits.runPath = .add(addRunPath)
        }
        // patchelf keeps these in ordered sets and maps: each name once, in byte order
        // (the order --add-needed entries appear in DT_NEEDED).
        let byBytes: (String, String) -> Bool = { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        invocation.edits.addNeeded = addNeeded.sorted(by: byBytes)
        invocation.edits.removeNeeded = removeNeeded.sorted(by: byBytes)
        invocation.edits.clearSymbolVersions = clearVersions.sorted(by: byBytes)
        invocation.edits.replaceNeeded = replaceNeeded.keys.sorted(by: byBytes).map { ($0, replaceNeeded[$0]!) }
        return .patch(invocation)
    }

    /// patchelf uses the file's contents exactly, trailing newline included; so does swelf,
    /// so that scripts written for patchelf give the same result.
    private func resolve(_ value: String) throws -> String {
        guard value.hasPrefix("@") else { return value }
        return try readArgumentFile(String(value.dropFirst()))
    }

    /// A map file: one `old new` pair per line, read as patchelf reads it (no @FILE; a
    /// name given twice, or with a version tag, is refused). Unlike patchelf, which stops
    /// at the first blank line, swelf skips blank lines and reads on.
    private func readSymbolMap(_ path: String) throws -> [String: String] {
        let text: String
        do {
            text = try readArgumentFile(path)
        } catch {
            throw UsageError(message: "Cannot open map file \(path): \((error as? ArgumentFileError)?.reason ?? "\(error)")")
        }
        var map: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
            if words.isEmpty { continue }
            guard words.count == 2 else {
                throw UsageError(message: words.count == 1
                    ? "\(path):\(number + 1): Map file line is missing the second element"
                    : "\(path):\(number + 1): expected 'OLD_NAME NEW_NAME'")
            }
            let (old, new) = (String(words[0]), String(words[1]))
            guard map[old] == nil else {
                throw UsageError(message: "\(path):\(number + 1): Name '\(old)' appears twice in the map file")
            }
            guard !old.contains("@") && !new.contains("@") else {
                throw UsageError(message: "\(path):\(number + 1): Name pair contains version tag: \(old) \(new)")
            }
            map[old] = new
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
