// The module information text inside Go build information: `path`, `mod`, `dep`, `=>`
// and `build` lines, the last with keys and values in Go's quoting (`GoQuoting`).

extension GoBuildInfo {
    /// Parses the module information lines as Go's `debug.ParseBuildInfo` does: unknown
    /// lines are ignored, a final line without a newline is ignored, and a malformed
    /// known line is an error naming its line number and file offset.
    mutating func parseModuleInfo(_ text: [UInt8], fileOffset: UInt64) throws(ELFError) {
        enum Last { case none, main, dependency(Int) }
        var last = Last.none
        var lineNumber = 1
        var start = 0
        while start < text.count, let newline = text[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let line = text[start ..< newline]
            // start < text.count, and the text was read from the file at fileOffset.
            let lineOffset = fileOffset &+ UInt64(start)
            func fail(_ message: String) -> ELFError {
                ELFError(.invalid, "Go module information line \(lineNumber): \(message)", offset: lineOffset)
            }
            if let rest = line.dropPrefix("path\t") {
                path = String(decoding: rest, as: UTF8.self)
            } else if let rest = line.dropPrefix("mod\t") {
                guard let module = Self.moduleLine(rest) else { throw fail(Self.columnsMessage(rest)) }
                mainModule = module
                last = .main
            } else if let rest = line.dropPrefix("dep\t") {
                guard let module = Self.moduleLine(rest) else { throw fail(Self.columnsMessage(rest)) }
                dependencies.append(module)
                last = .dependency(dependencies.count - 1)
            } else if let rest = line.dropPrefix("=>\t") {
                let columns = rest.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
                guard columns.count == 3 else {
                    throw fail("expected 3 columns for replacement; got \(columns.count)")
                }
                let replacement = Module(path: String(decoding: columns[0], as: UTF8.self),
                                         version: String(decoding: columns[1], as: UTF8.self),
                                         sum: String(decoding: columns[2], as: UTF8.self))
                switch last {
                case .none: throw fail("replacement with no module on previous line")
                case .main: mainModule?.replacement = replacement
                case .dependency(let index): dependencies[index].replacement = replacement
                }
                last = .none
            } else if let rest = line.dropPrefix("build\t") {
                let setting: (key: String, value: String)
                do {
                    setting = try Self.buildSetting(rest)
                } catch {
                    throw fail(error.message)
                }
                settings.append(setting)
            }
            lineNumber += 1
            start = newline + 1
        }
    }

    /// `path\tversion` or `path\tversion\tsum`.
    static func moduleLine(_ rest: ArraySlice<UInt8>) -> Module? {
        let columns = rest.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
        guard columns.count == 2 || columns.count == 3 else { return nil }
        return Module(path: String(decoding: columns[0], as: UTF8.self),
                      version: String(decoding: columns[1], as: UTF8.self),
                      sum: columns.count == 3 ? String(decoding: columns[2], as: UTF8.self) : "")
    }

    static func columnsMessage(_ rest: ArraySlice<UInt8>) -> String {
        let count = rest.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false).count
        return "expected 2 or 3 columns; got \(count)"
    }

    /// A message-only error for `buildSetting`, turned into an `ELFError` with the line.
    struct LineError: Error { let message: String }

    /// `key=value`, either side possibly a Go quoted string.
    static func buildSetting(_ text: ArraySlice<UInt8>) throws(LineError) -> (key: String, value: String) {
        guard let first = text.first else { throw LineError(message: "build line missing '='") }
        let key: [UInt8]
        let rawValue: ArraySlice<UInt8>
        switch first {
        case UInt8(ascii: "="):
            throw LineError(message: "build line with missing key")
        case UInt8(ascii: "`"), UInt8(ascii: "\""):
            guard let (unquoted, length) = GoQuoting.unquotePrefix(text) else {
                throw LineError(message: "invalid quoted key in build line")
            }
            let after = text.index(text.startIndex, offsetBy: length)
            guard after < text.endIndex else { throw LineError(message: "build line missing '=' after quoted key") }
            guard text[after] == UInt8(ascii: "=") else {
                throw LineError(message: "unexpected character after quoted key: \(GoQuoting.quote(String(decoding: [text[after]], as: UTF8.self)))")
            }
            key = unquoted
            rawValue = text[(after + 1)...]
        default:
            guard let equals = text.firstIndex(of: UInt8(ascii: "=")) else {
                throw LineError(message: "build line missing '=' after key")
            }
            key = Array(text[..<equals])
            guard !GoQuoting.keyNeedsQuotes(key) else {
                throw LineError(message: "unquoted key \(GoQuoting.quote(String(decoding: key, as: UTF8.self))) must be quoted")
            }
            rawValue = text[(equals + 1)...]
        }
        var value: [UInt8] = []
        if let firstValueByte = rawValue.first {
            if firstValueByte == UInt8(ascii: "`") || firstValueByte == UInt8(ascii: "\"") {
                guard let (unquoted, length) = GoQuoting.unquotePrefix(rawValue), length == rawValue.count else {
                    throw LineError(message: "invalid quoted value in build line")
                }
                value = unquoted
            } else {
                value = Array(rawValue)
                guard !GoQuoting.valueNeedsQuotes(value) else {
                    throw LineError(message: "unquoted value \(GoQuoting.quote(String(decoding: value, as: UTF8.self))) must be quoted")
                }
            }
        }
        return (String(decoding: key, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }
}

extension ArraySlice<UInt8> {
    /// The rest of the slice after an ASCII prefix, or nil when it does not start with it.
    fileprivate func dropPrefix(_ prefix: String) -> ArraySlice<UInt8>? {
        let bytes = prefix.utf8
        guard count >= bytes.count, self.prefix(bytes.count).elementsEqual(bytes) else { return nil }
        return dropFirst(bytes.count)
    }
}
