import ELFKit

/// `swelf autopatch` options (docs/autopatch-design.md, Options).
struct AutopatchCommandOptions {
    /// The trees or files to patch: the plain arguments and `--paths` values.
    var paths: [String] = []
    var planner = AutopatchOptions()
    var root: String?
    var dryRun = false
    /// `--json`: the plan (and what was written) as one JSON document on stdout.
    var json = false
    /// `--keep-going`: write every file whose needs are all found, and exit 1 at the end.
    var keepGoing = false
    /// `--allow-read-only`: replace files whose mode forbids their user to write them (as
    /// `swelf --allow-read-only`); without it they are refused, as patchelf refuses them.
    var allowReadOnly = false
    /// `-j N`; nil is one thread per processor.
    var jobs: Int?
    /// `--extra-args --page-size N`: the alignment of new segments.
    var pageSize: UInt64?
    /// `--extra-args --no-clobber-old-sections`: moved tables keep their old bytes.
    var keepOldBytes = false
}

/// The patchelf options `--extra-args` may carry (auto-patchelf.py passes them to every
/// patchelf call) that mean something for a whole-file edit; anything else is refused.
let autopatchExtraArguments = "--force-rpath, --no-default-lib, --page-size N, --no-sort, --no-clobber-old-sections"

extension ArgumentParser {
    /// `autopatch [--paths PATH]... [--libs DIR]... [--interpreter PATH] [--ignore-missing
    /// PATTERN]... [--no-recurse] [--absolute] [--root DIR] [--dry-run] [--keep-going]
    /// [-j N] [--runtime-dependencies DIR]... [--append-rpaths DIR]... PATH...`. nil means
    /// `--help`.
    ///
    /// The list options (`--paths`, `--libs`, `--ignore-missing`, `--runtime-dependencies`,
    /// `--append-rpaths`) take one value each (`--libs A --libs B`), or, when `--paths` is
    /// on the command line (auto-patchelf.py's own style, which has no plain arguments),
    /// every plain value up to the next option, none included (argparse's `nargs="*"`).
    ///
    /// `--extra-args` takes every argument after it (argparse's `nargs="..."`): patchelf
    /// options, of which those in ``autopatchExtraArguments`` are mapped onto the edit.
    func parseAutopatch(_ allArguments: [[UInt8]]) throws -> AutopatchCommandOptions? {
        var options = AutopatchCommandOptions()
        var arguments = allArguments
        if let extra = allArguments.firstIndex(where: { $0 == Array("--extra-args".utf8) }),
           !allArguments[..<extra].contains(where: { $0 == Array("--".utf8) }) {
            arguments = Array(allArguments[..<extra])
            try parseExtraArguments(allArguments[(extra + 1)...].map { ByteText.string($0) }, into: &options)
        }
        let lists = ["--paths", "--libs", "--ignore-missing", "--runtime-dependencies", "--append-rpaths"]
        let listStyle = arguments.contains { $0 == Array("--paths".utf8) }
        let valued = ["--interpreter", "--root", "-j", "--jobs"] + (listStyle ? [] : lists)
        var list: String?
        func add(_ value: String, to option: String?) throws {
            switch option {
            case "--paths": options.paths.append(value)
            case "--libs": options.planner.libraryDirectories.append(value)
            case "--ignore-missing": options.planner.ignoreMissing.append(value)
            case "--runtime-dependencies": options.planner.runtimeDependencies.append(value)
            case "--append-rpaths": options.planner.appendRunPaths.append(value)
            default:
                guard !listStyle else { throw UsageError(message: "autopatch: '\(value)' follows no list option (with --paths, every path is given with it)") }
                options.paths.append(value)
            }
        }
        var inputError: (any Error)?
        var tokens = TokenStream(arguments) { valued.contains($0) }
        let help = try tokens.readLoaderOptions(command: "autopatch", input: { value in
            do { try add(value, to: list) } catch { if inputError == nil { inputError = error } }
        }) { option, position, tokens in
            func value() throws -> String { try tokens.textValue(of: option, at: position, command: "autopatch", allowsEmpty: false) }
            list = nil
            switch option {
            case let option where lists.contains(option):
                if listStyle { list = option } else { try add(try value(), to: option) }
            case "--no-recurse": options.planner.recurse = false
            case "--absolute": options.planner.absolute = true
            case "--keep-existing": options.planner.keepExisting = true
            case "--keep-libc": options.planner.keepLibc = true
            case "--ignore-existing": options.planner.ignoreExisting = true
            case "--dry-run": options.dryRun = true
            case "--json": options.json = true
            case "--keep-going": options.keepGoing = true
            case "--allow-read-only": options.allowReadOnly = true
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
        if let inputError { throw inputError }
        if options.paths.isEmpty { throw UsageError(message: "autopatch: no paths given") }
        return options
    }

    /// The values of `--extra-args`, patchelf's spelling: the options that qualify an
    /// edit are mapped; an operation (`--set-soname`, ...) or an unknown word is a usage
    /// error naming it, since autopatch decides each file's edit itself.
    func parseExtraArguments(_ words: [String], into options: inout AutopatchCommandOptions) throws {
        var index = 0
        while index < words.count {
            let word = words[index]
            index += 1
            switch word {
            case "--force-rpath": options.planner.forceRPath = true
            case "--no-default-lib": options.planner.noDefaultLib = true
            case "--no-sort": break  // swelf never sorts headers: what patchelf's flag asks for
            case "--no-clobber-old-sections": options.keepOldBytes = true
            case "--page-size":
                guard index < words.count else { throw UsageError(message: "autopatch: --extra-args --page-size: a value is needed") }
                let text = words[index]
                index += 1
                guard let size = UInt64(text), size > 0, size & (size - 1) == 0 else {
                    throw UsageError(message: "autopatch: --extra-args --page-size \(text): expected a power of two")
                }
                options.pageSize = size
            default:
                throw UsageError(message: "autopatch: --extra-args \(word): not supported (autopatch takes \(autopatchExtraArguments))")
            }
        }
    }
}
