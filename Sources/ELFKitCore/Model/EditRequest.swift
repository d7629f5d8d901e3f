/// A description of the changes to make to one file. Edits never touch bytes: the
/// planner turns a request into a new dynamic section, string table and layout, and
/// the writer produces the bytes.
///
/// Names and paths are bytes, as ELF strings and Linux paths are: a value reaches the
/// file byte for byte, whatever its encoding (`Array("libfoo.so".utf8)` from a String).
public struct EditRequest: Equatable, Sendable {
    /// What to do with the run path. Every change leaves at most one entry, DT_RUNPATH
    /// (or DT_RPATH with ``EditRequest/forceRPath``), in the place of the first old one.
    public enum RunPathChange: Equatable, Sendable {
        /// Replaces the run path with these bytes, a colon-separated list of directories
        /// (patchelf's `--set-rpath`).
        case set([UInt8])
        /// Appends the directories of this colon-separated list that the run path does not
        /// list yet (patchelf's `--add-rpath`).
        case add([UInt8])
        /// Removes DT_RUNPATH and DT_RPATH (patchelf's `--remove-rpath`).
        case remove
        /// Drop directories that hold none of the needed libraries; keep only those
        /// starting with one of the prefixes when any are given (patchelf's
        /// `--shrink-rpath` and `--allowed-rpath-prefixes`). Relative and `$ORIGIN`
        /// directories are kept; a file without a run path is left alone.
        case shrink(allowedPrefixes: [[UInt8]])
    }

    /// The new program interpreter (`PT_INTERP`), without its NUL; nil keeps it. A file
    /// without `PT_INTERP` (most shared libraries, a static program) refuses it.
    public var interpreter: [UInt8]?
    /// The new DT_SONAME, added when the file has none; nil keeps it.
    public var soname: [UInt8]?
    /// What to do with the run path (DT_RUNPATH or DT_RPATH); nil keeps it.
    public var runPath: RunPathChange?
    /// Write the run path as DT_RPATH instead of DT_RUNPATH (patchelf's `--force-rpath`):
    /// glibc searches DT_RPATH before `LD_LIBRARY_PATH`, and for the libraries of the
    /// libraries too. Only matters with a ``runPath`` change.
    public var forceRPath = false
    /// Libraries to add as DT_NEEDED entries, before the existing ones and in this order;
    /// a name already needed is skipped.
    public var addNeeded: [[UInt8]] = []
    /// DT_NEEDED names to remove (every entry with the name), with the library's
    /// `.gnu.version_r` entry; a name not needed is logged and skipped.
    public var removeNeeded: [[UInt8]] = []
    /// DT_NEEDED names to replace, each by its new name, in place; the library's
    /// `.gnu.version_r` entry names the new one too.
    public var replaceNeeded: [(old: [UInt8], new: [UInt8])] = []
    /// Sets DF_1_NODEFLIB in DT_FLAGS_1, so the loader does not search its default
    /// directories for this file's libraries (patchelf's `--no-default-lib`).
    public var noDefaultLib = false
    /// The new `EI_OSABI` byte of the file header (patchelf's `--set-os-abi`); nil keeps it.
    public var osABI: OSABI?
    /// true: make the stack executable; false: clear it (``SegmentFlags/execute`` of
    /// PT_GNU_STACK, added when the file has none); nil keeps it.
    public var executableStack: Bool?
    /// Adds a DT_DEBUG entry when the file has none, so debuggers can find the loader's
    /// state (patchelf's `--add-debug-tag`).
    public var addDebugTag = false
    /// Dynamic symbols whose version to clear: their `.gnu.version` entries become 1
    /// (global, unversioned) (patchelf's `--clear-symbol-version`).
    public var clearSymbolVersions: [[UInt8]] = []
    /// Dynamic symbols to rename, old name to new (patchelf's `--rename-dynamic-symbols`).
    public var renameSymbols: [[UInt8]: [UInt8]] = [:]
    /// Alignment in bytes of new segments (patchelf's `--page-size`); nil means the largest
    /// `p_align` of the file's PT_LOAD segments (at least 4 KiB), or the architecture's
    /// ``ELFMachine/maximumPageSize`` when none has a usable one. A value below that largest
    /// `p_align` is raised to it: a new segment never has less alignment than the linker chose.
    public var pageSize: UInt64?
    /// `--no-clobber-old-sections`: the old place of every table the edit moves keeps its
    /// bytes. By default that place is zero-filled (see `LayoutPlanner`), so that no stale
    /// copy of a string (a build machine's run path, a store path) stays in the file; an
    /// edit that can only be made by overwriting those bytes otherwise (the program header
    /// table growing over them) is refused with this set.
    public var keepOldBytes = false
    /// patchelf's `--build-resolution-cache`: resolve every DT_NEEDED name against the
    /// final run path and record the result in a `.note.nixos.ldcache` note
    /// (`ResolutionCacheNote`). Any run-path or DT_NEEDED change drops such a note.
    public var buildResolutionCache = false
    /// Where a growing edit leaves the bytes that follow the ELF image (an overlay: the
    /// payload of bun, Nuitka, deno, AppImage and self-extracting programs); see
    /// ``OverlayPlacement``.
    public var overlay = OverlayPlacement.followImage

    /// Where a growing edit leaves the bytes after the ELF image (docs/overlay-design.md §12).
    public enum OverlayPlacement: Equatable, Sendable {
        /// The default: new content goes between the image and the overlay, which stays
        /// the file's tail byte for byte, right after the section header table (readers
        /// that look at the end of the file, or at the image end as AppImage computes it,
        /// still find it); deno's trailer offsets are adjusted by the shift.
        case followImage
        /// `--overlay keep-offset`: new content goes after the overlay, which keeps its
        /// absolute offsets but no longer ends the file (patchelf's placement).
        case keepOffset
    }

    /// A request that changes nothing; set the fields of the changes to make.
    public init() {}

    /// Whether the request asks for no change at all. ``forceRPath``, ``pageSize``,
    /// ``keepOldBytes`` and ``overlay`` only qualify other changes, so they do not count.
    public var isEmpty: Bool {
        interpreter == nil && soname == nil && runPath == nil && addNeeded.isEmpty && removeNeeded.isEmpty
            && replaceNeeded.isEmpty && !noDefaultLib && osABI == nil && executableStack == nil && !addDebugTag
            && clearSymbolVersions.isEmpty && renameSymbols.isEmpty && !buildResolutionCache
    }

    /// Whether two requests ask for the same changes, field by field (written by hand
    /// because ``replaceNeeded``'s tuples are not `Equatable`).
    /// - Parameters:
    ///   - a: one request.
    ///   - b: the other request.
    /// - Returns: true when every field is equal.
    public static func == (a: EditRequest, b: EditRequest) -> Bool {
        a.interpreter == b.interpreter && a.soname == b.soname && a.runPath == b.runPath && a.forceRPath == b.forceRPath
            && a.addNeeded == b.addNeeded && a.removeNeeded == b.removeNeeded
            && a.replaceNeeded.map(\.old) == b.replaceNeeded.map(\.old)
            && a.replaceNeeded.map(\.new) == b.replaceNeeded.map(\.new)
            && a.noDefaultLib == b.noDefaultLib && a.osABI == b.osABI && a.executableStack == b.executableStack
            && a.addDebugTag == b.addDebugTag && a.clearSymbolVersions == b.clearSymbolVersions
            && a.renameSymbols == b.renameSymbols && a.pageSize == b.pageSize && a.keepOldBytes == b.keepOldBytes
            && a.buildResolutionCache == b.buildResolutionCache && a.overlay == b.overlay
    }
}

// Strings for the common case. ELF strings and Linux paths are bytes; these take a
// `String` and store its UTF-8 bytes, which is what a path typed by a person is.
extension EditRequest.RunPathChange {
    /// Replaces the run path with `path`, a colon-separated list of directories that may
    /// use `$ORIGIN`, `$LIB` and `$PLATFORM`: `.set("$ORIGIN/../lib")`.
    /// - Parameter path: the new run path, stored as its UTF-8 bytes.
    /// - Returns: the change.
    public static func set(_ path: String) -> Self { .set(Array(path.utf8)) }

    /// Appends `path` to the run path, unless it is already there.
    /// - Parameter path: the directories to add, stored as their UTF-8 bytes.
    /// - Returns: the change.
    public static func add(_ path: String) -> Self { .add(Array(path.utf8)) }
}

extension EditRequest {
    /// A request given as strings, stored as their UTF-8 bytes; the other fields can be
    /// set afterwards.
    ///
    ///     let request = EditRequest(runPath: .set("$ORIGIN/../lib"), addNeeded: ["libz.so.1"])
    ///
    /// - Parameters:
    ///   - interpreter: the new program interpreter (`PT_INTERP`), for programs only.
    ///   - soname: the new `DT_SONAME`, for shared libraries.
    ///   - runPath: what to do with the run path.
    ///   - forceRPath: write `DT_RPATH` instead of `DT_RUNPATH`.
    ///   - addNeeded: libraries to add to `DT_NEEDED`, in this order.
    ///   - removeNeeded: libraries to remove from `DT_NEEDED`.
    ///   - replaceNeeded: `DT_NEEDED` names to replace, each by its new name.
    public init(interpreter: String? = nil, soname: String? = nil, runPath: RunPathChange? = nil, forceRPath: Bool = false,
                addNeeded: [String] = [], removeNeeded: [String] = [], replaceNeeded: [(old: String, new: String)] = []) {
        self.init()
        self.interpreter = interpreter.map { Array($0.utf8) }
        self.soname = soname.map { Array($0.utf8) }
        self.runPath = runPath
        self.forceRPath = forceRPath
        self.addNeeded = addNeeded.map { Array($0.utf8) }
        self.removeNeeded = removeNeeded.map { Array($0.utf8) }
        self.replaceNeeded = replaceNeeded.map { (Array($0.old.utf8), Array($0.new.utf8)) }
    }
}
