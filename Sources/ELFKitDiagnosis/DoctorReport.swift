import ELFKitCore
import ELFKitLoader

/// `swelf doctor`'s report of a diagnosis: the text it prints, and the JSON document of
/// `--json`. Pure rendering: it prints nothing itself.
package struct DoctorReport {
    package let diagnosis: Diagnosis

    package init(diagnosis: Diagnosis) { self.diagnosis = diagnosis }

    package var verdict: String {
        if diagnosis.wouldStart {
            return diagnosis.isSharedLibrary ? "would load" : "would start"
        }
        return diagnosis.isSharedLibrary ? "would not load" : "would not start"
    }

    package var fatalFindings: [Diagnosis.Finding] {
        diagnosis.checks.flatMap { $0.findings.filter { $0.severity == .fatal } }
    }

    package var text: String {
        var out = "doctor: \(diagnosis.path)\n"
        for check in diagnosis.checks {
            out += check.area.title.lowercased() + ":\n"
            for finding in check.findings {
                let label: String
                switch finding.severity {
                case .ok: label = "ok"
                case .info: label = "info"
                case .warning: label = "warning"
                case .fatal: label = "FATAL"
                }
                out += "  " + label + String(repeating: " ", count: 9 - label.count) + finding.message + "\n"
                for detail in finding.details { out += "           " + detail + "\n" }
                if let fix = finding.fix { out += "           fix: " + fix + "\n" }
                if let command = finding.command, command != finding.fix { out += "           run: " + command + "\n" }
            }
        }
        let fatal = fatalFindings
        out += "verdict: \(verdict)"
        if let first = fatal.first {
            out += " (\(fatal.count) problem\(fatal.count == 1 ? "" : "s")): \(first.message)"
        }
        return out + "\n"
    }

    /// The file's entry in `doctor --json`'s `files` (`JSONEnvelope.entry`): `ok` is
    /// the verdict, `error` the first fatal finding.
    package var json: JSON {
        let environment = diagnosis.environment
        let platform = environment.platform
        var members: [(String, JSON)] = [
            ("would_start", .bool(diagnosis.wouldStart)),
            ("verdict", .string(verdict)),
            ("linking", JSONEnvelope.linking(diagnosis.linking)),
            ("secure_mode", .bool(environment.secure)),
            ("root", .optional(environment.fileSystem.root)),
            ("loader", .object([
                ("source", .string(platform.source)),
                ("machine", .string(platform.machine.commonName)),
                ("system_directories", .array(platform.systemDirectories.map(JSON.string))),
                ("lib", .string(platform.libDirectory)),
                ("platform", .optional(platform.platformName)),
                ("hwcaps_subdirectories", .array(platform.hwcapsSubdirectories.map(JSON.string))),
                ("cache", environment.cache == nil ? .null : .string(environment.cachePath)),
                ("cache_problem", .optional(environment.cacheProblem)),
            ])),
            ("checks", .array(diagnosis.checks.map { check in
                .object([
                    ("area", .string(check.area.rawValue)),
                    ("status", .string(check.severity.name)),
                    ("findings", .array(check.findings.map { finding in
                        .object([
                            ("severity", .string(finding.severity.name)),
                            ("message", .string(finding.message)),
                            ("details", .array(finding.details.map(JSON.string))),
                            ("fix", finding.fix.map { fix in
                                .object([("text", .string(fix)), ("command", .optional(finding.command))])
                            } ?? .null),
                        ])
                    })),
                ])
            })),
        ]
        if let go = diagnosis.goBuildInfo {
            members.append(("go", .object([
                ("version", .string(go.goVersion)),
                ("path", .optional(go.path)),
                ("main_module", go.mainModule.map { module in
                    .object([("path", .string(module.path)), ("version", .string(module.version)), ("sum", .string(module.sum))])
                } ?? .null),
                ("dependencies", .array(go.dependencies.map { module in
                    .object([("path", .string(module.path)), ("version", .string(module.version)), ("sum", .string(module.sum))])
                })),
                ("settings", .array(go.settings.map { setting in
                    .object([("key", .string(setting.key)), ("value", .string(setting.value))])
                })),
                ("cgo_enabled", go.cgoEnabled.map(JSON.bool) ?? .null),
                ("goos", .optional(go.goos)),
                ("goarch", .optional(go.goarch)),
                ("tags", .array(go.tags.map(JSON.string))),
            ])))
        } else {
            members.append(("go", .null))
        }
        if let resolution = diagnosis.resolution {
            members.append(("libraries", DoctorReport.librariesJSON(resolution)))
        } else {
            members.append(("libraries", .array([])))
        }
        return JSONEnvelope.entry(file: .string(diagnosis.path), ok: diagnosis.wouldStart,
                                  error: fatalFindings.first?.message, members)
    }

    /// One object per DT_NEEDED lookup in load order (LD_PRELOAD entries first): the
    /// `libraries` of `doctor --json` and `ldd --json`.
    package static func librariesJSON(_ resolution: LibraryResolution) -> JSON {
        .array(resolution.lookups.map { libraryJSON($0, resolution) })
    }

    private static func libraryJSON(_ lookup: DependencyLookup, _ resolution: LibraryResolution) -> JSON {
        var status = "found"
        var path: String?
        var rule: SearchRule?
        var message: String?
        switch lookup.outcome {
        case .loaded(let index):
            path = resolution.objects[index].path
            rule = resolution.objects[index].rule
        case .reused(let index, let reason):
            status = "reused"
            path = resolution.objects[index].path
            message = reason
        case .notFound(let text):
            status = "not_found"
            message = text
        case .failed(let text):
            status = "failed"
            message = text
        }
        return .object([
            ("name", .string(lookup.name)),
            ("needed_by", .string(resolution.objects[lookup.requester].path)),
            ("preload", .bool(lookup.isPreload)),
            ("status", .string(status)),
            ("path", .optional(path)),
            ("rule", .optional(rule?.kind)),
            ("rule_description", .optional(rule.map(resolution.describe))),
            ("message", .optional(message)),
            ("tried", .array(lookup.attempts.map { attempt in
                .object([
                    ("path", .string(attempt.path)),
                    ("rule", .string(attempt.rule.kind)),
                    ("result", .string(attempt.resultDescription)),
                ])
            })),
            ("shadowed", lookup.shadowed.map { shadowed in
                .object([("path", .string(shadowed.path)), ("rule", .string(shadowed.rule.kind))])
            } ?? .null),
        ])
    }
}
