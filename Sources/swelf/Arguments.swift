import ELFKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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
    var outputs: [BytePath] = []
    /// Where file `index` is written: nil means in place.
    func output(for index: Int) -> BytePath? {
        if outputs.isEmpty { return nil }
        return files.count == 1 ? outputs.last : outputs[index]
    }
    var debug = false
    var files: [BytePath] = []
    /// `-j N`, `--jobs N`: how many files are worked on at once (default: one per processor).
    var jobs: Int?
    /// False with `--no-durability`: no fsync (see `AtomicFileWriter.durable`).
    var durable = true
    /// `--allow-read-only`: replace a file its user may not write (see
    /// `AtomicFileWriter.allowReadOnly`).
    var allowReadOnly = false
}

/// A parsed command line.
enum Command {
    /// `--help`, `swelf help [COMMAND]`, `swelf COMMAND --help`: nil is the full list.
    case help(HelpTopic?)
    case version
    case patch(PatchInvocation)
    case show(files: [BytePath], json: Bool)
    case verify(files: [BytePath], json: Bool)
    case doctor(DoctorOptions)
    case ldd(DoctorOptions)
    case bundle(BundleOptions)
    case portability(DoctorOptions)
    case autopatch(AutopatchCommandOptions)
    case relocate(RelocateCommandOptions)
}

/// Reads an option value the way patchelf does: `@FILE` stands for the contents of FILE.
typealias ArgumentFileReader = (BytePath) throws -> [UInt8]

/// The `-q`/`-v` a parse found (the last one given wins); a reference, so that each
/// command's token loop can set it without the `Command` cases carrying it.
final class VerbosityChoice {
    var level = Verbosity.normal

    /// Takes `-q`, `--quiet`, `-v`, `--verbose`; false for any other option.
    func take(_ option: String) -> Bool {
        switch option {
        case "-q", "--quiet": level = .quiet
        case "-v", "--verbose": level = .verbose
        default: return false
        }
        return true
    }
}

struct ArgumentParser {
    let readArgumentFile: ArgumentFileReader
    var personality: Personality = .swelf
    /// `-q`, `-v` of swelf's own commands and of the patch mode as swelf (patchelf has neither).
    let verbosity = VerbosityChoice()

    // The option tables are switches, not a `Dictionary` and a `Set`: building those
    // costs run-time conformance lookups (`Hashable`) on every start, a large part of a
    // small call's time.

    /// How many values an option takes; nil for a name that is no option.
    static func valueCount(_ option: String) -> Int? {
        switch option {
        case "--set-interpreter", "--interpreter", "--page-size", "--set-os-abi", "--set-soname",
             "--set-rpath", "--add-rpath", "--allowed-rpath-prefixes", "--add-needed",
             "--remove-needed", "--clear-symbol-version", "--rename-dynamic-symbols", "--output", "-j", "--jobs", "--overlay":
            return 1
        case "--replace-needed":
            return 2
        case "--print-interpreter", "--print-os-abi", "--print-soname", "--print-rpath", "--print-needed",
             "--print-execstack", "--remove-rpath", "--shrink-rpath", "--force-rpath", "--no-default-lib", "--no-sort",
             "--add-debug-tag", "--clear-execstack", "--set-execstack", "--no-clobber-old-sections", "--debug",
             "--version", "--help", "-h", "--build-resolution-cache", "--no-durability", "--allow-read-only",
             "-q", "--quiet", "-v", "--verbose":
            return 0
        default:
            return nil
        }
    }

    func parse(_ arguments: [[UInt8]]) throws -> Command {
        // As patchelf there are no commands: `patchelf show` names a file called show.
        if personality == .swelf, let first = arguments.first {
            switch String(decoding: first, as: UTF8.self) {
            case "show": return try parseFileCommand(Array(arguments.dropFirst()), topic: .show) { .show(files: $0, json: $1) }
            case "verify": return try parseFileCommand(Array(arguments.dropFirst()), topic: .verify) { .verify(files: $0, json: $1) }
            case "doctor":
                let options = try parseDoctor(Array(arguments.dropFirst()), name: "doctor")
                return options.map(Command.doctor) ?? .help(.doctor)
            case "ldd":
                let options = try parseDoctor(Array(arguments.dropFirst()), name: "ldd")
                return options.map(Command.ldd) ?? .help(.ldd)
            case "bundle":
                return try parseBundle(Array(arguments.dropFirst())).map(Command.bundle) ?? .help(.bundle)
            case "autopatch":
                return try parseAutopatch(Array(arguments.dropFirst())).map(Command.autopatch) ?? .help(.autopatch)
            case "relocate":
                return try parseRelocate(Array(arguments.dropFirst())).map(Command.relocate) ?? .help(.relocate)
            case "portability":
                let options = try parseDoctor(Array(arguments.dropFirst()), name: "portability")
                return options.map(Command.portability) ?? .help(.portability)
            case "help": return try parseHelp(Array(arguments.dropFirst()))
            case let word:
                // A misspelt command would otherwise be taken for a file name and fail
                // with "cannot open". A word that names an existing file keeps its
                // meaning: the file is printed or edited, as before.
                if let command = ArgumentParser.misspeltCommand(word, exists: ArgumentParser.pathExists(first)) {
                    throw UsageError(message: "unknown command '\(word)'; did you mean '\(command)'?")
                }
            }
        }
        return try parsePatch(arguments)
    }

    /// The commands a misspelt first word is matched against.
    static let commandNames = ["show", "verify", "doctor", "ldd", "bundle", "portability", "autopatch", "relocate", "help"]

    /// The command `word` is a misspelling of: a lowercase word, not an existing file, at
    /// most two edits from a command's name (the nearest; the first listed on a tie).
    static func misspeltCommand(_ word: String, exists: Bool, among names: [String] = commandNames) -> String? {
        guard !exists, word.count >= 2, word.utf8.allSatisfy({ $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) else { return nil }
        var best: (name: String, distance: Int)?
        for name in names {
            let distance = editDistance(Array(word.utf8), Array(name.utf8))
            if distance <= 2, distance < best?.distance ?? Int.max { best = (name, distance) }
        }
        return best?.name
    }

    /// Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`.
    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0 ... a.count { table[i][0] = i }
        for j in 0 ... b.count { table[0][j] = j }
        for i in 1 ... a.count {
            for j in 1 ... b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }

    /// Whether a directory entry (of any type, a dangling link included) has this name.
    static func pathExists(_ bytes: [UInt8]) -> Bool {
        var status = stat()
        return BytePath(bytes: bytes).withCString { lstat($0, &status) } == 0
    }

    /// `swelf help [COMMAND]`: a command's page, or the full list.
    private func parseHelp(_ arguments: [[UInt8]]) throws -> Command {
        guard let first = arguments.first else { return .help(nil) }
        guard arguments.count == 1 else { throw UsageError(message: "help: one command at a time") }
        let word = String(decoding: first, as: UTF8.self)
        if word == "help" || word == "--help" || word == "-h" { return .help(nil) }
        if let topic = HelpTopic(rawValue: word) { return .help(topic) }
        let names = HelpTopic.allCases.map(\.rawValue)
        if let near = ArgumentParser.misspeltCommand(word, exists: false, among: names) {
            throw UsageError(message: "help: unknown command '\(word)'; did you mean '\(near)'?")
        }
        throw UsageError(message: "help: unknown command '\(word)' (commands: \(names.joined(separator: ", ")))")
    }

    /// `--root DIR` must name a directory: a root that is not there would otherwise be
    /// searched as an empty tree, and every library reported missing for the wrong reason.
    func checkRoot(_ root: String, command: String) throws {
        var status = stat()
        guard BytePath(bytes: ByteText.bytes(root)).withCString({ stat($0, &status) }) == 0 else {
            throw UsageError(message: "\(command): --root \(root): \(systemErrorMessage(errno))", hint: false)
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw UsageError(message: "\(command): --root \(root): not a directory", hint: false)
        }
    }

    private func parseFileCommand(_ arguments: [[UInt8]], topic: HelpTopic,
                                  make: ([BytePath], Bool) -> Command) throws -> Command {
        let name = topic.rawValue
        var files: [BytePath] = []
        var json = false
        var tokens = TokenStream(arguments)
        while let token = tokens.next() {
            switch token {
            case .option(let option, _) where option == "--json": json = true
            case .option(let option, _) where option == "--help" || option == "-h": return .help(topic)
            case .option(let option, _) where verbosity.take(option): break
            case .option(let option, let position):
                throw UsageError(message: "\(name): unknown option '\(option)' (argument \(position + 2))")
            case .value(let file, _): files.append(BytePath(bytes: file))
            case .terminator: break
            }
        }
        if files.isEmpty { throw UsageError(message: "\(name): no input files") }
        return make(files, json)
    }

    /// `doctor FILE [--root DIR] [--env NAME=VALUE]... [--json]`, and `ldd FILE...` and
    /// `portability FILE|DIR...` with the same options (`ldd --tree`, `portability
    /// --floor`). nil means `--help`.
    private func parseDoctor(_ arguments: [[UInt8]], name: String) throws -> DoctorOptions? {
        var options = DoctorOptions()
        var tokens = TokenStream(arguments) { ["--root", "--env", "--floor"].contains($0) }
        let help = try tokens.readLoaderOptions(command: name, input: { options.files.append($0) }) { option, position, tokens in
            switch option {
            case "--json": options.json = true
            case "--tree" where name == "ldd": options.tree = true
            case "--floor" where name == "portability":
                switch PortabilityReport.Limits.parse(try tokens.textValue(of: option, at: position, command: name)) {
                case .success(let limits): options.limits = limits
                case .failure(let error): throw UsageError(message: "\(name): --floor: \(error.message)")
                }
            case "--root":
                let root = try tokens.textValue(of: option, at: position, command: name)
                guard !root.isEmpty else { throw UsageError(message: "\(name): --root needs a directory") }
                try checkRoot(root, command: name)
                options.root = root
            case "--env": options.environment.append(try tokens.environmentAssignment(at: position, command: name))
            case let option where verbosity.take(option): break
            default: return false
            }
            return true
        }
        if help { return nil }
        if options.files.isEmpty { throw UsageError(message: "\(name): no input file") }
        if name == "doctor" && options.files.count > 1 {
            throw UsageError(message: "doctor: one file at a time (its exit status is that file's verdict)")
        }
        return options
    }

    private func parsePatch(_ arguments: [[UInt8]]) throws -> Command {
        var invocation = PatchInvocation()
        var allowedPrefixes: [[UInt8]] = []
        // The run-path options are collected and decided as patchelf decides them:
        // --shrink-rpath, else --remove-rpath, else --set-rpath, else --add-rpath.
        var shrink = false, remove = false
        var setRunPath: [UInt8]?, addRunPath: [UInt8]?
        var addNeeded = Set<[UInt8]>(), removeNeeded = Set<[UInt8]>(), clearVersions = Set<[UInt8]>()
        var replaceNeeded: [[UInt8]: [UInt8]] = [:]
        let asPatchelf = personality == .patchelf
        // `--jobs` is swelf's own; every other option here is patchelf's, written as
        // patchelf takes it (see TokenStream).
        var tokens = TokenStream(arguments) { !asPatchelf && $0 == "--jobs" }

        // As patchelf: an option that takes values takes the next arguments, whatever
        // they look like (`--add-needed -weird` adds `-weird`).
        func values(for option: String, at position: Int) throws -> [[UInt8]] {
            let count = ArgumentParser.valueCount(option) ?? 0
            var result: [[UInt8]] = []
            for _ in 0 ..< count {
                guard let value = tokens.nextValue() else {
                    if asPatchelf { throw UsageError(message: count == 1 ? "missing argument" : "missing argument(s)") }
                    throw UsageError(message: "option '\(option)' (argument \(position + 1)) needs \(count == 1 ? "a value" : "\(count) values")")
                }
                result.append(value)
            }
            return result
        }
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

        while let token = tokens.next() {
            switch token {
            case .terminator: continue
            case .value(let file, _): invocation.files.append(BytePath(bytes: file))
            case .option(let option, let position):
                guard ArgumentParser.valueCount(option) != nil else {
                    if !asPatchelf, let equals = option.firstIndex(of: "="),
                       let count = ArgumentParser.valueCount(String(option[..<equals])), count > 0 {
                        let name = option[..<equals]
                        throw UsageError(message: "unknown option '\(option)' (argument \(position + 1)): patchelf's options take "
                            + "their value as the next argument (\(name) \(option[option.index(after: equals)...])), as patchelf does")
                    }
                    throw UsageError(message: asPatchelf ? "unrecognized option '\(option)'"
                                                         : "unknown option '\(option)' (argument \(position + 1))")
                }
                let arguments = try values(for: option, at: position)
                switch option {
                case "--help", "-h": return .help(nil)
                case "--version": return .version
                case "--print-interpreter": invocation.prints.insert(.interpreter)
                case "--print-os-abi": invocation.prints.insert(.osABI)
                case "--print-soname": invocation.prints.insert(.soname)
                case "--print-rpath": invocation.prints.insert(.rpath)
                case "--print-needed": invocation.prints.insert(.needed)
                case "--print-execstack": invocation.prints.insert(.execstack)
                case "--set-interpreter", "--interpreter":
                    let interpreter = try resolve(arguments[0])
                    // The kernel cannot start a program whose PT_INTERP is empty (patchelf
                    // writes it all the same, e.g. from `--print-interpreter` of a static binary).
                    guard !interpreter.isEmpty else {
                        throw UsageError(message: "\(option) needs a path: with an empty interpreter the program could not start")
                    }
                    invocation.edits.interpreter = interpreter
                case "--set-soname": invocation.edits.soname = try resolve(arguments[0])
                case "--set-rpath": setRunPath = try resolve(arguments[0])
                case "--add-rpath": addRunPath = try resolve(arguments[0])
                case "--remove-rpath": remove = true
                case "--shrink-rpath": shrink = true
                // Taken literally, without @FILE, as patchelf does.
                case "--allowed-rpath-prefixes": allowedPrefixes = arguments[0].split(separator: UInt8(ascii: ":")).map { Array($0) }
                case "--force-rpath": invocation.edits.forceRPath = true
                case "--add-needed": addNeeded.insert(try resolve(arguments[0]))
                case "--remove-needed": removeNeeded.insert(try resolve(arguments[0]))
                case "--replace-needed": replaceNeeded[arguments[0]] = arguments[1]
                case "--no-default-lib": invocation.edits.noDefaultLib = true
                case "--set-os-abi":
                    let name = text(try resolve(arguments[0])).trimmingWhitespace()
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
                    guard let size = UInt64(text(arguments[0])), size > 0, size & (size - 1) == 0 else {
                        throw UsageError(message: asPatchelf ? "invalid argument to --page-size: '\(text(arguments[0]))' is not a power of two"
                                                             : "invalid page size '\(text(arguments[0]))': expected a power of two")
                    }
                    invocation.edits.pageSize = size
                case "--output": invocation.outputs.append(BytePath(bytes: try resolve(arguments[0])))
                case "-j", "--jobs":
                    // patchelf has no such option.
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    guard let jobs = Int(text(arguments[0])), jobs > 0, jobs <= 1024 else {
                        throw UsageError(message: "invalid number of jobs '\(text(arguments[0]))': expected 1 to 1024")
                    }
                    invocation.jobs = jobs
                case "--debug": invocation.debug = true
                case "-q", "--quiet", "-v", "--verbose":
                    // patchelf has neither (its --debug is kept as it is, under both names).
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    _ = verbosity.take(option)
                case "--no-durability":
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    invocation.durable = false
                case "--allow-read-only":
                    // patchelf has no such option: it refuses a file it cannot open for writing.
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    invocation.allowReadOnly = true
                case "--no-clobber-old-sections": invocation.edits.keepOldBytes = true
                case "--overlay":
                    // patchelf has no such option (it always appends after the whole file).
                    if asPatchelf { throw UsageError(message: "unrecognized option '\(option)'") }
                    switch text(arguments[0]) {
                    case "end": invocation.edits.overlay = .followImage
                    case "keep-offset": invocation.edits.overlay = .keepOffset
                    default: throw UsageError(message: "invalid --overlay '\(text(arguments[0]))': expected end or keep-offset")
                    }
                case "--no-sort": break  // swelf never sorts program or section headers: this is what it always does
                case "--build-resolution-cache": invocation.edits.buildResolutionCache = true
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
        if invocation.edits.forceRPath && invocation.edits.buildResolutionCache {
            throw UsageError(message: "--build-resolution-cache cannot be combined with --force-rpath")
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
        let byBytes: ([UInt8], [UInt8]) -> Bool = { $0.lexicographicallyPrecedes($1) }
        invocation.edits.addNeeded = addNeeded.sorted(by: byBytes)
        invocation.edits.removeNeeded = removeNeeded.sorted(by: byBytes)
        invocation.edits.clearSymbolVersions = clearVersions.sorted(by: byBytes)
        invocation.edits.replaceNeeded = replaceNeeded.keys.sorted(by: byBytes).map { ($0, replaceNeeded[$0]!) }
        return .patch(invocation)
    }

    /// patchelf uses the file's contents exactly, trailing newline included; so does swelf,
    /// so that scripts written for patchelf give the same result.
    /// The file's bytes, CR and all (patchelf 0.19.3 keeps `/x\r\n` from a CRLF file).
    private func resolve(_ value: [UInt8]) throws -> [UInt8] {
        guard value.first == UInt8(ascii: "@") else { return value }
        return try readArgumentFile(BytePath(bytes: Array(value.dropFirst())))
    }

    /// A map file: one `old new` pair per line, read as patchelf reads it (no @FILE; a
    /// name given twice, or with a version tag, is refused). Unlike patchelf, which stops
    /// at the first blank line, swelf skips blank lines and reads on.
    ///
    /// Read as bytes: lines end at LF, and words are split at C `isspace` bytes, CR
    /// included, as patchelf's `std::istream >>` splits them; so a CRLF file gives the
    /// same names as an LF file (Swift would take CR LF for one Character).
    private func readSymbolMap(_ pathBytes: [UInt8]) throws -> [[UInt8]: [UInt8]] {
        let path = BytePath(bytes: pathBytes)
        let contents: [UInt8]
        do {
            contents = try readArgumentFile(path)
        } catch {
            throw UsageError(message: "Cannot open map file \(path): \((error as? ArgumentFileError)?.reason ?? "\(error)")")
        }
        var map: [[UInt8]: [UInt8]] = [:]
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || ($0 >= 0x09 && $0 <= 0x0d) }
        for (number, line) in contents.split(separator: 0x0a, omittingEmptySubsequences: false).enumerated() {
            let words = line.split(whereSeparator: isSpace)
            if words.isEmpty { continue }
            guard words.count == 2 else {
                throw UsageError(message: words.count == 1
                    ? "\(path):\(number + 1): Map file line is missing the second element"
                    : "\(path):\(number + 1): expected 'OLD_NAME NEW_NAME'")
            }
            let (old, new) = (Array(words[0]), Array(words[1]))
            let (oldText, newText) = (String(decoding: old, as: UTF8.self), String(decoding: new, as: UTF8.self))
            guard map[old] == nil else {
                throw UsageError(message: "\(path):\(number + 1): Name '\(oldText)' appears twice in the map file")
            }
            guard !old.contains(UInt8(ascii: "@")) && !new.contains(UInt8(ascii: "@")) else {
                throw UsageError(message: "\(path):\(number + 1): Name pair contains version tag: \(oldText) \(newText)")
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
