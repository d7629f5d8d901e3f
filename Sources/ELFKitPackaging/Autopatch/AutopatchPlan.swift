import ELFKitCore

/// What `swelf autopatch` would do to a tree: per ELF file its interpreter and run path
/// before and after, and each DT_NEEDED with the provider that satisfies it and the rule
/// that found it. ``AutopatchPlanner`` makes it, reading only; `--dry-run` prints it and a
/// real run writes exactly its changed files.
package struct AutopatchPlan: Sendable {
    /// What a file is to autopatch.
    package enum Kind: String, Sendable {
        /// Has PT_INTERP: gets an interpreter and a run path.
        case program
        /// ET_DYN without PT_INTERP: gets a run path only, never an interpreter.
        case library
        /// No dynamic section, or static-pie: left alone.
        case staticProgram = "static"
        /// Another machine or class than the target's loader (`--interpreter`, else the
        /// target system's own), or an OS ABI it does not take (neither is System V and
        /// they differ): left alone, as auto-patchelf.py skips it.
        case foreign
    }

    /// Which step found a need's provider.
    package enum Rule: String, Sendable {
        /// A file of the walked tree: written `$ORIGIN`-relative (absolute with `--absolute`).
        case tree
        /// A file directly in a `--libs` directory: written as its absolute directory.
        case libraries = "libs"
        /// A file in an absolute run-path directory of a provider of the tree or `--libs`
        /// (auto-patchelf.py's `populate_cache` follows them): written as its absolute
        /// directory, as the target names it.
        case providerRunPath = "provider-runpath"
        /// The target's own libraries (cache, system directories): the loader finds them
        /// itself, so nothing is written.
        case system
        /// A DT_NEEDED with a slash: the loader opens it as it is; nothing is written.
        case path
        /// No provider, and the name matches `--ignore-missing`: reported, not an error.
        case ignored
        /// No provider: an error naming the file and the library.
        case missing
        /// A `.note.dlopen` library marked recommended or suggested that no step found:
        /// reported (a warning), no error, nothing written.
        case optional
    }

    /// One DT_NEEDED of a file and how it is satisfied.
    package struct Need: Sendable, Equatable {
        /// The name as DT_NEEDED gives it.
        package let name: String
        /// The provider's canonical path; nil for `missing`, `ignored` and `path`.
        package let provider: String?
        package let rule: Rule
        /// For a need read from `.note.dlopen`: its priority (`required` is missing as an
        /// error when not found, the others are ``Rule/optional``); nil for a DT_NEEDED.
        package var dlopen: DlopenDependency.Priority? = nil
        /// For a `.note.dlopen` need: every name the note allows, in order (`name` is the
        /// one found, or the first when none was).
        package var alternatives: [String] = []
    }

    /// The decisions for one ELF file.
    package struct FilePlan: Sendable {
        /// The path as the walk reached it.
        package let path: String
        /// Its canonical path; `$ORIGIN` is its directory.
        package let realPath: String
        package let kind: Kind
        /// PT_INTERP now; nil for a library or a static program.
        package let interpreterBefore: String?
        /// PT_INTERP after; nil for a library or a static program.
        package let interpreterAfter: String?
        /// DT_RUNPATH now (or DT_RPATH when there is no DT_RUNPATH); nil when neither.
        package let runPathBefore: String?
        /// The run path the plan writes; nil when the file needs none (and has none).
        package let runPathAfter: String?
        /// Every DT_NEEDED in order, then every `.note.dlopen` entry, with its provider.
        package let needs: [Need]
        /// The run path is DT_RPATH now (no DT_RUNPATH).
        package var runPathIsRPath = false
        /// `--extra-args --force-rpath`: the run path is written as DT_RPATH.
        package var forceRPath = false
        /// `--extra-args --no-default-lib`: DF_1_NODEFLIB is set (it is not yet).
        package var setsNoDefaultLib = false

        /// Whether autopatch edits files of this kind at all.
        package var isPatched: Bool { kind == .program || kind == .library }

        /// Whether a write is due: the interpreter or the run path differs, or an
        /// `--extra-args` change is still to make (DT_RUNPATH to become DT_RPATH,
        /// DF_1_NODEFLIB to set).
        package var changed: Bool {
            interpreterAfter != interpreterBefore || runPathAfter != runPathBefore || setsNoDefaultLib
                || (forceRPath && !runPathIsRPath && !(runPathAfter ?? "").isEmpty)
        }

        /// The needs without a provider that are errors.
        package var missing: [String] { needs.filter { $0.rule == .missing }.map(\.name) }
    }

    /// One entry per ELF file, in walk order.
    package var files: [FilePlan] = []
    /// Files of the walk that are not ELF (wrappers, data, FIFOs): left alone.
    package var otherFiles = 0
    /// One line per problem that stops the run (`FILE: message`, `FILE: LIB: not found`).
    package var errors: [String] = []
    /// One line per thing left alone that the user should know of (a link loop, a link
    /// out of the tree): no error.
    package var warnings: [String] = []
    /// The other names (hard links) of a planned file, by its `path`: after the file is
    /// written through `path`, each is linked to the new file (`AutopatchWalk.hardLinks`).
    package var hardLinks: [String: [String]] = [:]

    package init() {}

    /// The numbers of the summary line: ELF files, changed, unchanged, skipped (static or
    /// another machine),
    /// and needs missing (errors).
    package var summary: (elfFiles: Int, changed: Int, unchanged: Int, skipped: Int, missing: Int) {
        let skipped = files.filter { !$0.isPatched }.count
        let changed = files.filter { $0.isPatched && $0.changed }.count
        return (files.count, changed, files.count - skipped - changed, skipped, files.reduce(0) { $0 + $1.missing.count })
    }
}
