import ELFKit

/// `swelf relocate` options.
struct RelocateCommandOptions {
    var map: RelocationMap!
    var paths: [String] = []
    var dryRun = false
    var json = false
    var keepGoing = false
    var allowReadOnly = false
    /// Run-path entries sent into the moved tree become `$ORIGIN`-relative.
    var origin = false
    var jobs: Int?
}

extension ArgumentParser {
    /// `relocate [--map OLD=NEW]... [--origin] [--dry-run] [--json] [--keep-going] [-j N] [OLD NEW] PATH...`:
    /// without `--map` the first two plain values are OLD and NEW. nil means `--help`. A
    /// bad map (OLD empty or `/`, NEW with a NUL, one OLD a path prefix of another) is a
    /// usage error of one line.
    func parseRelocate(_ arguments: [[UInt8]]) throws -> RelocateCommandOptions? {
        var options = RelocateCommandOptions()
        var plain: [String] = []
        var pairs: [(old: [UInt8], new: [UInt8])] = []
        var tokens = TokenStream(arguments) { ["--map", "-j", "--jobs"].contains($0) }
        let help = try tokens.readLoaderOptions(command: "relocate", input: { plain.append($0) }) { option, position, tokens in
            switch option {
            case "--map":
                let text = try tokens.textValue(of: option, at: position, command: "relocate", allowsEmpty: false)
                guard let equals = text.firstIndex(of: "=") else {
                    throw UsageError(message: "relocate: --map expects OLD=NEW, got '\(text)'")
                }
                pairs.append((ByteText.bytes(String(text[..<equals])), ByteText.bytes(String(text[text.index(after: equals)...]))))
            case "--dry-run", "-n": options.dryRun = true
            case "--json": options.json = true
            case "--keep-going": options.keepGoing = true
            case "--origin": options.origin = true
            case "--allow-read-only": options.allowReadOnly = true
            case "-j", "--jobs":
                let text = try tokens.textValue(of: option, at: position, command: "relocate", allowsEmpty: false)
                guard let jobs = Int(text), jobs > 0, jobs <= 1024 else {
                    throw UsageError(message: "relocate: invalid number of jobs '\(text)': expected 1 to 1024")
                }
                options.jobs = jobs
            case let option where verbosity.take(option): break
            default: return false
            }
            return true
        }
        if help { return nil }
        if pairs.isEmpty {
            guard plain.count >= 2 else { throw UsageError(message: "relocate: expected OLD NEW PATH... (or --map OLD=NEW PATH...)") }
            pairs.append((ByteText.bytes(plain[0]), ByteText.bytes(plain[1])))
            plain.removeFirst(2)
        }
        if plain.isEmpty { throw UsageError(message: "relocate: no paths given") }
        do {
            options.map = try RelocationMap(pairs)
        } catch {
            throw UsageError(message: error.description, hint: false)
        }
        options.paths = plain
        return options
    }
}
