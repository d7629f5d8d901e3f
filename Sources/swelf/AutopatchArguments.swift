import ELFKit

/// `swelf autopatch` options (docs/autopatch-design.md, Options). This first slice plans
/// only: `--dry-run` is required until the executor exists.
struct AutopatchCommandOptions {
    /// The trees or files to patch: the plain arguments and `--paths` values.
    var paths: [String] = []
    var planner = AutopatchOptions()
    var root: String?
    var dryRun = false
}

extension ArgumentParser {
    /// `autopatch [--paths PATH]... [--libs DIR]... [--interpreter PATH] [--ignore-missing
    /// PATTERN]... [--no-recurse] [--absolute] [--root DIR] --dry-run PATH...`; each
    /// multi-value option of auto-patchelf.py is taken once per value here (`--libs A
    /// --libs B`). nil means `--help`.
    func parseAutopatch(_ arguments: [[UInt8]]) throws -> AutopatchCommandOptions? {
        var options = AutopatchCommandOptions()
        let valued = ["--paths", "--libs", "--interpreter", "--ignore-missing", "--root"]
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
        if !options.dryRun {
            throw UsageError(message: "autopatch: writing is not implemented yet; use --dry-run to see the plan")
        }
        return options
    }
}
