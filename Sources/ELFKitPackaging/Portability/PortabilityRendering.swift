import ELFKitCore
import ELFKitLoader
import ELFKitDiagnosis

/// A portability report as text and as JSON: the output of `swelf portability`, and the
/// end of `swelf bundle`'s (which has no `--floor`, so no limits). Pure rendering: it
/// prints nothing itself.
package struct PortabilityRendering {
    /// The `--floor` the violations were found against.
    package let limits: PortabilityReport.Limits?
    /// The notes on unreadable inputs are left out of the text: the caller prints them
    /// on stderr, where errors belong (`swelf portability`).
    package var unreadableInputsElsewhere = false
    /// Identical notes about more than a few files are one line in the text
    /// (`RepeatedWarnings`); false (`-v`) lists every one. The JSON keeps them all.
    package var aggregateNotes = true

    package init(limits: PortabilityReport.Limits?) { self.limits = limits }

    package static func release(_ numbers: [Int]) -> String { numbers.map(String.init).joined(separator: ".") }

    package static func releaseName(_ floor: PortabilityReport.Floor) -> String {
        floor.component == .glibc ? release(floor.release) : "GCC " + (floor.beyondTable ? "> " : "") + release(floor.release)
    }

    package func text(_ report: PortabilityReport, violations: [PortabilityReport.Violation]?) -> String {
        let inputs = report.files.filter(\.isInput).count
        let libraries = report.files.count - inputs
        var out = "portability: \(inputs) file\(inputs == 1 ? "" : "s")"
        if libraries > 0 { out += " and \(libraries) librar\(libraries == 1 ? "y" : "ies") they load" }
        out += "\n"
        for platform in report.platforms {
            out += "\(platform.machine) (\(platform.files.count) file\(platform.files.count == 1 ? "" : "s")):\n"
            if platform.newest.isEmpty {
                out += "  no versioned symbol of a system library is required\n"
            } else {
                out += "  newest version required of each system library:\n"
                let width = (platform.newest.map(\.library.count).max() ?? 0) + 2
                var previous = ""
                for newest in platform.newest {
                    let name = newest.library == previous ? "" : newest.library
                    previous = newest.library
                    out += "    " + name.padding(width) + VersionedImports.symbolAt(newest.symbol, newest.version)
                        + "  (\(newest.requiredBy))\n"
                }
            }
            if !platform.floors.isEmpty {
                out += "  oldest releases it runs on:\n"
                for floor in platform.floors {
                    var line = "    " + floor.component.rawValue.padding(11) + PortabilityRendering.releaseName(floor).padding(12)
                    if let version = floor.version {
                        line += VersionedImports.symbolAt(floor.symbol, version)
                        if let file = floor.requiredBy { line += " in \(file)" }
                    } else {
                        line += floor.reason
                    }
                    out += line + "\n"
                }
            }
            if let glibc = platform.floor(.glibc) {
                if platform.distributions.isEmpty {
                    out += "  distributions with glibc \(PortabilityRendering.release(glibc.release)) or later: none in swelf's table\n"
                } else {
                    out += "  distributions with glibc \(PortabilityRendering.release(glibc.release)) or later: "
                        + platform.distributions.map { "\($0.name) (\(PortabilityRendering.release($0.glibc)))" }.joined(separator: ", ") + "\n"
                }
            }
        }
        let notes = report.notes.filter { !(unreadableInputsElsewhere && $0.unreadableInput) }
        if !notes.isEmpty {
            out += "notes:\n"
            let messages = notes.map(\.message)
            let lines = aggregateNotes ? RepeatedWarnings.lines(messages, subjects: report.files.map(\.path))
                                       : messages.enumerated().map { ($0.offset, $0.element) }
            for (first, line) in lines {
                out += "  " + notes[first].severity.rawValue.padding(9) + line + "\n"
            }
        }
        if let violations, let limits {
            let limitText = PortabilityRendering.limitsText(limits)
            if violations.isEmpty && report.failed {
                // "met" would read as a pass, and the run fails.
                out += "floor \(limitText): met by the files that could be read; an input could not be read\n"
            } else if violations.isEmpty {
                out += "floor \(limitText): met\n"
            } else {
                out += "floor \(limitText): \(violations.count) requirement\(violations.count == 1 ? "" : "s") beyond it\n"
                for violation in violations {
                    out += "  " + VersionedImports.symbolAt(violation.symbol, violation.version)
                        + " of \(violation.library) in \(violation.requiredBy): \(violation.reason)\n"
                }
            }
        }
        return out
    }

    package static func limitsText(_ limits: PortabilityReport.Limits) -> String {
        var parts: [String] = []
        if let glibc = limits.glibc { parts.append("glibc=" + release(glibc)) }
        if let glibcxx = limits.glibcxx { parts.append("glibcxx=" + release(glibcxx)) }
        if let cxxabi = limits.cxxabi { parts.append("cxxabi=" + release(cxxabi)) }
        if let gcc = limits.gcc { parts.append("gcc=" + release(gcc)) }
        return parts.joined(separator: ",")
    }

    /// `swelf portability --json`: the report in the envelope every command's JSON has
    /// (`JSONEnvelope`); `ok` is the exit status's verdict.
    package func document(_ report: PortabilityReport, violations: [PortabilityReport.Violation]?) -> JSON {
        JSONEnvelope.document(command: "portability", ok: !report.failed && (violations?.isEmpty ?? true),
                              members(report, violations: violations))
    }

    /// The report as one object: the `portability` member of `bundle --json`.
    package func json(_ report: PortabilityReport, violations: [PortabilityReport.Violation]?) -> JSON {
        .object(members(report, violations: violations))
    }

    private func members(_ report: PortabilityReport, violations: [PortabilityReport.Violation]?) -> [(String, JSON)] {
        let release: ([Int]) -> JSON = { .string(PortabilityRendering.release($0)) }
        let symbol: ([UInt8]?) -> JSON = { $0.map(JSON.bytes) ?? .null }
        // Every file, an input that could not be read included (as a failed entry).
        let unreadable = report.notes.compactMap { note in
            note.unreadableInput ? JSONEnvelope.entry(file: .string(note.path ?? ""), ok: false, error: note.message,
                                                      [("input", .bool(true))]) : nil
        }
        var members: [(String, JSON)] = [
            ("files", .array(report.files.map { file in
                JSONEnvelope.entry(file: .string(file.path), ok: true, error: nil, [
                    ("input", .bool(file.isInput)),
                    ("machine", .optional(file.machine)),
                    ("linking", JSONEnvelope.linking(file.linking)),
                    ("libc", .optional(file.libc)),
                    ("go", .bool(file.isGo)),
                    ("cgo", file.cgo.map(JSON.bool) ?? .null),
                ])
            } + unreadable)),
            ("platforms", .array(report.platforms.map { platform in
                .object([
                    ("machine", .string(platform.machine)),
                    ("glibc_baseline", platform.glibcBaseline.map(release) ?? .null),
                    ("files", .int(Int64(platform.files.count))),
                    ("libraries", .array(platform.newest.map { newest in
                        .object([
                            ("library", .string(newest.library)),
                            ("version", .string(newest.version.name)),
                            ("symbol", symbol(newest.symbol)),
                            ("required_by", .string(newest.requiredBy)),
                        ])
                    })),
                    ("floors", .array(platform.floors.map { floor in
                        .object([
                            ("component", .string(floor.component.rawValue)),
                            ("release", release(floor.release)),
                            ("version", .optional(floor.version?.name)),
                            ("symbol", symbol(floor.symbol)),
                            ("required_by", .optional(floor.requiredBy)),
                            ("reason", .string(floor.reason)),
                            ("beyond_table", .bool(floor.beyondTable)),
                        ])
                    })),
                    ("distributions", .array(platform.distributions.map { distribution in
                        .object([
                            ("name", .string(distribution.name)),
                            ("glibc", release(distribution.glibc)),
                            ("source", .string(distribution.source)),
                        ])
                    })),
                ])
            })),
            ("requirements", .array(report.uses.map { use in
                .object([
                    ("library", .string(use.library)),
                    ("version", .string(use.version.name)),
                    ("weak", .bool(use.weak)),
                    ("symbols", .array(use.symbols.map(JSON.bytes))),
                    ("required_by", .string(use.requiredBy)),
                    ("machine", .string(use.machine)),
                ])
            })),
            ("notes", .array(report.notes.map { note in
                .object([("severity", .string(note.severity.rawValue)), ("message", .string(note.message))])
            })),
        ]
        if let violations, let limits {
            members.append(("floor", .object([
                ("limits", .string(PortabilityRendering.limitsText(limits))),
                // Met only when every input was read: as in the text, a floor checked on part
                // of the inputs is not a pass.
                ("met", .bool(violations.isEmpty && !report.failed)),
                ("violations", .array(violations.map { violation in
                    .object([
                        ("symbol", symbol(violation.symbol)),
                        ("version", .string(violation.version.name)),
                        ("library", .string(violation.library)),
                        ("required_by", .string(violation.requiredBy)),
                        ("reason", .string(violation.reason)),
                    ])
                })),
            ])))
        } else {
            members.append(("floor", .null))
        }
        return members
    }
}

extension String {
    /// The text followed by spaces up to `width` characters (at least one space).
    package func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(1, width - count)) }
}
