import ELFKitCore

/// How a library was found: the step of ld.so's search that produced it.
public enum SearchRule: Sendable, Hashable {
    /// The program itself.
    case executable
    /// The program interpreter named by PT_INTERP (mapped by the kernel, not searched).
    case interpreter
    /// The DT_NEEDED name contains a slash and is opened as it is.
    case path
    /// DT_RPATH of the object with this index (the loading object or one up its chain).
    case rpath(of: Int)
    /// The LD_LIBRARY_PATH environment variable.
    case libraryPath
    /// DT_RUNPATH of the loading object (with this index).
    case runpath(of: Int)
    /// `/etc/ld.so.cache`.
    case cache
    /// The loader's compiled-in system directories.
    case systemDirectory

    /// Short machine-readable name, used in JSON.
    public var kind: String {
        switch self {
        case .executable: "executable"
        case .interpreter: "interpreter"
        case .path: "path"
        case .rpath: "rpath"
        case .libraryPath: "ld_library_path"
        case .runpath: "runpath"
        case .cache: "ld_so_cache"
        case .systemDirectory: "system_directory"
        }
    }
}

/// Which dynamic loader's rules apply.
public enum LoaderFlavor: Sendable, Equatable {
    /// glibc's ld.so (ld-linux*.so.*).
    case glibc
    /// musl's `ld-musl-<arch>.so.1`, which is also its libc.
    case musl

    /// The flavor a PT_INTERP path names: musl when its last component starts with
    /// `ld-musl-`, glibc for any other loader.
    /// - Parameter interpreter: the PT_INTERP path; nil (no PT_INTERP) is taken as glibc.
    /// - Returns: whose search rules resolve the program's libraries.
    public static func of(interpreter: String?) -> LoaderFlavor {
        guard let interpreter else { return .glibc }
        return PathText.lastComponent(of: interpreter).hasPrefix("ld-musl-") ? .musl : .glibc
    }
}

/// One file ld.so would open while looking for a library, and what it found there.
public struct SearchAttempt: Sendable, Equatable {
    /// What the loader decided about the file (glibc's `open_verify`), and so whether
    /// the search goes on.
    public enum Result: Sendable, Equatable {
        /// No such file (or it cannot be opened): the search goes on.
        case absent(String)
        /// An ELF file of the other class: skipped ("wrong ELF class" if nothing else is found).
        case wrongClass(is64: Bool)
        /// An ELF file for another machine: skipped silently.
        case wrongMachine(ELFMachine)
        /// A file the loader refuses outright; loading stops with this message.
        case invalid(String)
        /// A cache entry in a system directory, refused because the loading object has DF_1_NODEFLIB.
        case refusedByNoDefaultLib
        /// The file that is loaded.
        case accepted
    }

    /// The path tried, on this machine (under the root with `--root`): a search
    /// directory, a hwcaps subdirectory and the name, a cache entry's path, or a
    /// DT_NEEDED name with a slash.
    public let path: String
    /// The search step that produced the path.
    public let rule: SearchRule
    /// What the loader found at the path.
    public let result: Result

    /// "skipped: wrong ELF class (ELFCLASS32)" and the like.
    public var resultDescription: String {
        switch result {
        case .absent(let reason): "not found (\(reason))"
        case .wrongClass(let is64): "skipped: wrong ELF class (\(is64 ? "ELFCLASS64" : "ELFCLASS32"))"
        case .wrongMachine(let machine): "skipped: wrong machine (\(machine.commonName))"
        case .invalid(let message): "refused: \(message)"
        case .refusedByNoDefaultLib: "skipped: in a system directory and the loading object has DF_1_NODEFLIB"
        case .accepted: "found"
        }
    }
}

/// One object in the loader's link-map list.
public struct LoadedObject {
    /// Its place in ``LibraryResolution/objects``, the number other values refer to it by.
    public let index: Int
    /// The name it was first asked for (a DT_NEEDED value, or the interpreter path).
    public let requestedName: String
    /// Where it is on this machine (under the root with `--root`).
    public let path: String
    /// Every name it answers to: names it was requested by, plus its soname once a
    /// request matched that (`_dl_name_match_p` and `l_soname_added`).
    public internal(set) var names: [String]
    /// Its DT_SONAME; nil when it has none (the program, usually).
    public let soname: String?
    /// The object whose DT_NEEDED loaded it (`l_loader`); nil for the program and the interpreter.
    public let loader: Int?
    /// The search step that found it (``SearchRule/executable`` and
    /// ``SearchRule/interpreter`` for the two objects that are not searched for).
    public let rule: SearchRule
    package let identity: FileIdentity?
    /// The directory `$ORIGIN` stands for in this object's own strings.
    public let origin: String?
    /// The parsed file, read when it was loaded.
    public let file: ELFFile

    package func answers(to name: String) -> Bool { path == name || names.contains(name) }
}

/// One DT_NEEDED entry and what the loader does with it.
public struct DependencyLookup: Sendable {
    /// What became of the name; the indices are positions in ``LibraryResolution/objects``.
    public enum Outcome: Sendable {
        /// A new object was loaded.
        case loaded(Int)
        /// An object already loaded answers to the name (by a name it was requested by,
        /// by its soname, or because the search found the same file).
        case reused(Int, reason: String)
        /// Nothing found: ld.so stops with "cannot open shared object file" (ldd says "not found").
        case notFound(message: String)
        /// A file was found that the loader refuses (not ELF, wrong byte order, …).
        case failed(message: String)
    }

    /// A copy the program would get without LD_LIBRARY_PATH, hidden by the one found there.
    public struct ShadowedCopy: Sendable {
        /// Where the hidden copy is, on this machine.
        public let path: String
        /// The later search step that would have found it (DT_RUNPATH, the cache, a
        /// system directory).
        public let rule: SearchRule
    }

    /// The object whose DT_NEEDED this is.
    public let requester: Int
    /// The DT_NEEDED value as written.
    public let name: String
    /// The name after `$ORIGIN`/`$LIB`/`$PLATFORM` substitution.
    public let searchedName: String
    /// Loaded, reused, not found or refused.
    public internal(set) var outcome: Outcome
    /// Every file tried, in order.
    public internal(set) var attempts: [SearchAttempt]
    /// Set when LD_LIBRARY_PATH supplied the library and a later step of the search
    /// would have found another file; nil otherwise (also when it is the same file).
    public internal(set) var shadowed: ShadowedCopy?
    /// An LD_PRELOAD entry rather than a DT_NEEDED one: a failure is only a warning
    /// ("cannot be preloaded … ignored") and ldd does not list it.
    public internal(set) var isPreload = false

    /// The index of the object the name resolves to, if any.
    public var object: Int? {
        switch outcome {
        case .loaded(let index), .reused(let index, _): index
        case .notFound, .failed: nil
        }
    }
}

/// The dependency tree of a program as ld.so would build it.
public struct LibraryResolution {
    /// The link-map list: the program (0), the interpreter if it exists, then every
    /// library in load order.
    public internal(set) var objects: [LoadedObject]
    /// Every DT_NEEDED lookup, in the order ld.so makes them (breadth first).
    public internal(set) var lookups: [DependencyLookup]
    /// What `ldd` lists, in its order: objects (the program excluded) and not-found names.
    /// Empty when the program has no DT_NEEDED (ldd then says "statically linked").
    public internal(set) var listing: [ListingEntry]
    /// The index of the interpreter object, when PT_INTERP names a usable file.
    public internal(set) var interpreterIndex: Int?

    /// One line of `ldd`'s output.
    public enum ListingEntry: Sendable, Equatable {
        /// A loaded object, by its index in ``LibraryResolution/objects``
        /// (`name => path`).
        case object(Int)
        /// A name that was not found, by its index in ``LibraryResolution/lookups``
        /// (`name => not found`).
        case missing(lookup: Int)
        /// An object listed under another name (musl lists itself as `libc.so`).
        case alias(name: String, object: Int)
    }

    /// "RUNPATH of app", "RPATH of libfoo.so.1", "LD_LIBRARY_PATH", …: a search step
    /// in words for a report, naming the object whose run path it is.
    /// - Parameter rule: a step of this resolution (its object index must be in ``objects``).
    /// - Returns: the step's description.
    public func describe(_ rule: SearchRule) -> String {
        switch rule {
        case .executable: "the program"
        case .interpreter: "the dynamic loader, PT_INTERP"
        case .path: "path in DT_NEEDED"
        case .rpath(let owner): "RPATH of \(shortName(owner))"
        case .libraryPath: "LD_LIBRARY_PATH"
        case .runpath(let owner): "RUNPATH of \(shortName(owner))"
        case .cache: "ld.so.cache"
        case .systemDirectory: "system directory"
        }
    }

    /// The last path component of an object's path.
    /// - Parameter index: the object's index in ``objects``; it must be a valid index.
    /// - Returns: the file name (`libfoo.so.1`).
    public func shortName(_ index: Int) -> String { PathText.lastComponent(of: objects[index].path) }
}
