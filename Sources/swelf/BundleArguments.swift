import ELFKit

extension ArgumentParser {
    /// `bundle --output DIR [--policy FILE] [--include-libstdcxx] [--root DIR]
    /// [--env NAME=VALUE]... [--interpreter PATH] [--plugin FILE:DIR]... [--update]
    /// [--allow-broken] [--json] INPUT...`. nil means `--help`.
    func parseBundle(_ arguments: [[UInt8]]) throws -> BundleOptions? {
        var options = BundleOptions()
        var tokens = TokenStream(arguments) { ["--output", "--policy", "--root", "--env", "--interpreter", "--plugin"].contains($0) }
        let help = try tokens.readLoaderOptions(command: "bundle", input: { options.inputs.append($0) }) { option, position, tokens in
            func value() throws -> String { try tokens.textValue(of: option, at: position, command: "bundle", allowsEmpty: false) }
            switch option {
            case "--output", "-o": options.output = try value()
            case "--policy": options.policyFile = try value()
            case "--include-libstdcxx": options.includeCxxRuntime = true
            case "--json": options.json = true
            case "--update": options.update = true
            case "--allow-broken": options.allowBroken = true
            case "--interpreter":
                let path = try value()
                guard path.hasPrefix("/") else {
                    throw UsageError(message: "bundle: --interpreter \(path): the loader's path must be absolute (the kernel opens it as it is)")
                }
                options.interpreter = path
            case "--plugin":
                let text = try value()
                guard let colon = text.lastIndex(of: ":"), colon != text.startIndex else {
                    throw UsageError(message: "bundle: --plugin expects FILE:DIR, got '\(text)' (argument \(position + 3))")
                }
                let directory = String(text[text.index(after: colon)...])
                guard BundleInputs.isInsideBundle(directory) else {
                    throw UsageError(message: "bundle: --plugin \(text): DIR must be a relative path inside the bundle, without '..'")
                }
                options.plugins.append((String(text[..<colon]), directory))
            case "--root":
                options.root = try value()
                try checkRoot(options.root!, command: "bundle")
            case "--env": options.environment.append(try tokens.environmentAssignment(at: position, command: "bundle", allowsEmpty: false))
            default: return false
            }
            return true
        }
        if help { return nil }
        if options.output == nil { throw UsageError(message: "bundle: --output DIR is required") }
        if options.inputs.isEmpty { throw UsageError(message: "bundle: no programs given") }
        return options
    }
}
