/// A description of the changes to make to one file. Edits never touch bytes: the
/// planner turns a request into a new dynamic section, string table and layout, and
/// the writer produces the bytes.
///
/// Names and paths are bytes, as ELF strings and Linux paths are: a value reaches the
/// file byte for byte, whatever its encoding (`Array("libfoo.so".utf8)` from a String).
public struct EditRequest: Equatable, Sendable {
    /// What to do with the run-path.
    public enum RunPathChange: Equatable, Sendable {
        case set([UInt8])
        case add([UInt8])
        case remove
        /// Drop directories that hold none of the needed libraries; keep only those
        /// starting with one of the prefixes when any are given.
        case shrink(allowedPrefixes: [[UInt8]])
    }

    public var interpreter: [UInt8]?
    public var soname: [UInt8]?
    public var runPath: RunPathChange?
    /// Write DT_RPATH instead of DT_RUNPATH.
    public var forceRPath = false
    public var addNeeded: [[UInt8]] = []
    public var removeNeeded: [[UInt8]] = []
    public var replaceNeeded: [(old: [UInt8], new: [UInt8])] = []
    public var noDefaultLib = false
    public var osABI: OSABI?
    /// true: make the stack executable; false: clear it.
    public var executableStack: Bool?
    public var addDebugTag = false
    public var clearSymbolVersions: [[UInt8]] = []
    public var renameSymbols: [[UInt8]: [UInt8]] = [:]
    /// Alignment of new segments; nil means the architecture's maximum page size.
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

    public init() {}

    public var isEmpty: Bool {
        interpreter == nil && soname == nil && runPath == nil && addNeeded.isEmpty && removeNeeded.isEmpty
            && replaceNeeded.isEmpty && !noDefaultLib && osABI == nil && executableStack == nil && !addDebugTag
            && clearSymbolVersions.isEmpty && renameSymbols.isEmpty && !buildResolutionCache
    }

    public static func == (a: EditRequest, b: EditRequest) -> Bool {
        a.interpreter == b.interpreter && a.soname == b.soname && a.runPath == b.runPath && a.forceRPath == b.forceRPath
            && a.addNeeded == b.addNeeded && a.removeNeeded == b.removeNeeded
            && a.replaceNeeded.map(\.old) == b.replaceNeeded.map(\.old)
            && a.replaceNeeded.map(\.new) == b.replaceNeeded.map(\.new)
            && a.noDefaultLib == b.noDefaultLib && a.osABI == b.osABI && a.executableStack == b.executableStack
            && a.addDebugTag == b.addDebugTag && a.clearSymbolVersions == b.clearSymbolVersions
            && a.renameSymbols == b.renameSymbols && a.pageSize == b.pageSize && a.keepOldBytes == b.keepOldBytes
            && a.buildResolutionCache == b.buildResolutionCache
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
