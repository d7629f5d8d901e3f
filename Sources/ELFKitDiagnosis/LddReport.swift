import ELFKitCore
import ELFKitLoader

/// What `swelf ldd` says about one file: ldd's lines on standard output, and the messages
/// ldd (or ld.so under it) gives on standard error, in the order they are printed.
/// Pure rendering: the caller prints `lines` (or `json`, for `ldd --json`) and decides
/// the exit status from `failed`.
package struct LddReport {
    package enum Line: Equatable {
        /// A line of standard output.
        case output(String)
        /// A message on standard error as it is (ld.so's own words).
        case message(String)
        /// An error on standard error, after the program's name (`swelf: …`).
        case error(String)
    }

    package private(set) var lines: [Line] = []
    /// ldd would exit with failure for this file (unreadable, or not dynamic).
    package private(set) var failed = false
    /// Why it failed, in one line (`error` in the JSON).
    package private(set) var error: String?
    /// The version requirements ldd prints (``version `X' not found``).
    package private(set) var versionProblems: [String] = []
    private let diagnosis: Diagnosis

    /// The report for `diagnosis`; paths are shown as inside `fileSystem`'s root.
    /// `tree`: the listing is drawn as a tree (`LddTree`) instead of ldd's lines.
    package init(_ diagnosis: Diagnosis, fileSystem: LoaderFileSystem, tree: Bool = false) {
        self.diagnosis = diagnosis
        guard diagnosis.file != nil else {
            let message = diagnosis.checks.first?.findings.first { $0.severity == .fatal }?.message ?? "cannot read"
            lines = [.error(message)]
            error = message
            failed = true
            return
        }
        if let foreign = diagnosis.foreign {
            // ldd's "not found" for every library of another machine's program says nothing
            // true about it: say what it is and where it can be resolved.
            let root = foreign.sysroot.map { "swelf ldd --root \($0) \(Diagnosis.shellWord(diagnosis.path))" } ?? "--root DIR (a tree for \(foreign.machine))"
            let message = "\(diagnosis.path): the file is for \(foreign.machine), this machine runs \(foreign.host): resolve it in a tree for \(foreign.machine) with \(root)"
            lines = [.error(message)]
            error = message
            failed = true
            return
        }
        // A tree starts with the file's name, also when there is no tree to draw.
        let head: [Line] = tree ? [.output(diagnosis.path)] : []
        switch diagnosis.linking {
        case "static":
            lines = head + [.output("\tnot a dynamic executable")]
            error = "not a dynamic executable"
            failed = true
            return
        case "static-pie":
            lines = head + [.output("\tstatically linked")]
            return
        default: break
        }
        guard let resolution = diagnosis.resolution else { lines = head; return }
        // Under --tree the file's name comes first, then ldd's messages, then the tree.
        if tree { lines = head }
        for check in diagnosis.checks where check.area == .versions {
            for finding in check.findings where finding.severity == .fatal || finding.severity == .warning {
                lines.append(.output("\t" + finding.message))
                versionProblems.append(finding.message)
            }
        }
        for lookup in resolution.lookups where lookup.isPreload && lookup.object == nil {
            lines.append(.message("ERROR: ld.so: object '\(lookup.name)' from LD_PRELOAD cannot be preloaded (cannot open shared object file): ignored."))
        }
        if tree {
            lines += LddTree(resolution, fileSystem: fileSystem).lines.map(Line.output)
            return
        }
        let listing = LddReport.listing(resolution, fileSystem: fileSystem)
        if listing.isEmpty && resolution.lookups.isEmpty { lines.append(.output("\tstatically linked")) }  // as ld.so says for no DT_NEEDED
        lines += listing.map(Line.output)
    }

    /// The file's entry in `ldd --json`'s `files` (`JSONEnvelope.entry`): its linking,
    /// the version requirements that fail, and every lookup as `doctor --json` gives it
    /// (the graph: who needed each name, the rule that found it, or every path tried).
    package var json: JSON {
        JSONEnvelope.entry(file: .string(diagnosis.path), ok: !failed, error: error, [
            ("linking", JSONEnvelope.linking(diagnosis.linking)),
            ("version_problems", .array(versionProblems.map(JSON.string))),
            ("libraries", diagnosis.resolution.map(DoctorReport.librariesJSON) ?? .array([])),
        ])
    }

    /// ldd's lines. Under `--root` paths are shown as inside the tree, as an ldd run
    /// there (or under qemu-user with -L) shows them.
    package static func listing(_ resolution: LibraryResolution, fileSystem: LoaderFileSystem) -> [String] {
        var lines: [String] = []
        for entry in resolution.listing {
            switch entry {
            case .object(let index):
                let object = resolution.objects[index]
                let reason = resolution.describe(object.rule)
                let path = fileSystem.pathInTarget(object.path)
                if object.requestedName == path {
                    lines.append("\t\(path) (\(reason))")
                } else {
                    lines.append("\t\(object.requestedName) => \(path) (\(reason))")
                }
            case .missing(let lookup):
                lines.append("\t\(resolution.lookups[lookup].name) => not found")
            case .alias(let name, let index):
                let object = resolution.objects[index]
                lines.append("\t\(name) => \(fileSystem.pathInTarget(object.path)) (\(resolution.describe(object.rule)))")
            }
        }
        return lines
    }
}
