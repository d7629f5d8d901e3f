import ELFKit

/// `swelf autopatch` options (docs/autopatch-design.md, Options).
struct AutopatchCommandOptions {
    /// The trees or files to patch: the plain arguments and `--paths` values.
    var paths: [String] = []
    var planner = AutopatchOptions()
    var root: String?
    var dryRun = false
    /// `--keep-going`: write every file whose needs are all found, and exit 1 at the end.
    var keepGoing = false
    /// `-j N`; nil is one thread per processor.
    var jobs: Int?
}

extension ArgumentParser {
    /// `autopatch [--paths PATH]... [--libs DIR]... [--interpreter PATH] [--ignore-missing
    /// PATTERN]... [--no-recurse] [--absolute] [--root DIR] [--dry-run] [--keep-going]
    /// [-j N] PATH...`; each
    /// multi-value option of auto-patchelf.py is taken once per value here (`--libs A
    /// --libs B`). nil means `--help`.
    func parseAutopatch(_ arguments: [[UInt8]]) throws -> AutopatchCommandOptions? {
        var options = AutopatchCommandOptions()
        let valued = ["--paths", "--libs", "--interpreter", "--ignore-missing", "--root", "-j", "--jobs"]
        var tokens = TokenStream(arguments) { valued.contains($0) }
        let help = try tokens.readLoaderOptions(command: "autopatch", input: { options.paths.append($0) }) { option, position, tokens in
            func value() throws -> String { try tokens.textValue(of: option, at: position, command: "autopatch", allowsEmpty: false) }
            switch option {
            case "--paths": options.paths.append(try value())
            case "--libs": options.planner.libraryDirectories.append(try value())
            case "--ignore-missing": options.planner.ignoreMissing.append(try value())
            case "--no-recurse": options.planner.recurse = false
            case "--absolute": options.planner.absolute = true
            case "--dry-run": options.dryRun = true
            case "--keep-going": options.keepGoing = true
            case "-j", "--jobs":
                let text = try value()
                guard let jobs = Int(text), jobs > 0, jobs <= 1024 else {
                    throw UsageError(message: "autopatch: invalid number of jobs '\(text)': expected 1 to 1024")
                }
                options.jobs = jobs
            case "--interpreter":
                let path = try value()
                guard path.hasPrefix("/") else {
                    throw UsageError(message: "autopatch: --interpreter \(path): the loader's path must be absolute (the kernel opens it as it is)")
                }
                options.planner.interpreter = path
            case "--root":
                options.root = try value()
                try checkRoot(options.root!, command: "autopatch")
            case let option where verbosity.take(option): break
            default: return false
            }
            return true
        }
        if help { return nil }
        if options.paths.isEmpty { throw UsageError(message: "autopatch: no paths given") }
        return options
    }
}
