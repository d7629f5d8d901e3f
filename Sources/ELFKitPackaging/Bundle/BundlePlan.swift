/// What `swelf bundle` will copy, and why: the decisions, made without running or
/// changing anything. The files are resolved with `LibraryResolver`, the model `doctor`
/// uses, so a bundle for another architecture is planned the same way as a native one.
public struct BundlePlan: Sendable {
    /// A program, copied to `location` (`bin/NAME` unless its input directory's layout
    /// puts it elsewhere), or a plugin placed where its program loads it from.
    public struct Program: Sendable {
        /// What the file is to the bundle.
        public enum Role: String, Sendable {
            /// A program: run by the user, its PT_INTERP set to the target's loader.
            case program
            /// A library the programs load with dlopen, placed by `--plugin FILE:DIR`.
            case plugin
        }
        /// The path as given (it may be a symbolic link).
        public let source: String
        /// Its file name in the bundle: the last component of ``location``.
        public let name: String
        /// Its path inside the bundle: `bin/NAME`, a path kept from its input directory
        /// (`libexec/plugins/helper`), or a plugin's `DIR/NAME`.
        public let location: String
        /// A program or a plugin.
        public let role: Role
        /// False for a static program: nothing to patch.
        public let isDynamic: Bool
        /// The PT_INTERP the source names; nil when it has none.
        public let originalInterpreter: String?
        /// The PT_INTERP the copy gets: the target's standard loader for its machine (or
        /// `--interpreter`); nil when it has none.
        public let interpreter: String?
        /// The DT_RUNPATH the copy gets: `$ORIGIN` up to the bundle's top, then `lib`
        /// (`$ORIGIN/../lib` in `bin/`); nil for a static program.
        public var runPath: String? { isDynamic ? BundlePlan.runPath(toLibraryDirectoryFrom: location) : nil }
    }

    /// The run path that leads from a file at `location` (a path inside the bundle) to
    /// the bundle's `lib/`: `$ORIGIN` in `lib/` itself, else `$ORIGIN`, one `..` per
    /// directory of `location`, and `lib`.
    ///
    /// - Parameter location: A relative path inside the bundle, `bin/app`.
    /// - Returns: The `$ORIGIN`-relative run path, `$ORIGIN/../lib` for `bin/app`.
    public static func runPath(toLibraryDirectoryFrom location: String) -> String {
        let directories = location.split(separator: "/").dropLast()
        if directories.count == 1 && directories.first == "lib" { return "$ORIGIN" }
        return "$ORIGIN/" + String(repeating: "../", count: directories.count) + "lib"
    }

    /// A library, copied once to `lib/name` (a regular file, whatever chain of symbolic
    /// links led to it).
    public struct Library: Sendable {
        /// The file the loader would open (the path it found, links not followed).
        public let source: String
        /// The file at the end of the links.
        public let canonical: String
        /// The name the loader searches for: the DT_NEEDED name that first asked for it.
        public let name: String
        /// The library's own DT_SONAME; nil when it has none.
        public let soname: String?
        /// "libb.so.1 (RUNPATH of liba.so.1)" — who needed it first and how it was found.
        public let foundBy: String
        /// Other copies of the same name that the loader would not take.
        public internal(set) var shadowed: [String]
        /// `foundBy` in fields, for the JSON: who needed it first (`bin/app`, `liba.so.1`)
        /// and the search rule that found it (`SearchRule.kind`, `resolution.describe`);
        /// empty for a library given as an argument (its description says so).
        package internal(set) var neededBy = ""
        package internal(set) var rule = ""
        package internal(set) var ruleDescription = ""
        /// `shadowed` in fields, for the JSON.
        package internal(set) var shadowedCopies: [ShadowedCopy] = []
    }

    /// A copy of a bundled library's name that the loader would not take, and the later
    /// search step that reaches it.
    package struct ShadowedCopy: Sendable {
        package let path: String
        package let rule: String
        package let ruleDescription: String
    }

    /// One library name and what the bundle does with it.
    public struct Decision: Sendable {
        /// What happens to a needed library name.
        public enum Outcome: String, Sendable {
            /// Copied into the bundle's `lib/`.
            case bundled
            /// Left to the host by a policy rule (glibc, the loader, the GPU stack, …).
            case excluded
            /// No search of the loader found it; the plan also records an error.
            case missing
        }
        /// The file name searched for: the DT_NEEDED entry's last path component.
        public let name: String
        /// The first object that needed it, as the bundle names it: `bin/PROGRAM` or a
        /// library's file name.
        public let neededBy: String
        /// Whether the library is copied, left to the host, or missing.
        public let outcome: Outcome
        /// Why, for people: the policy rule's reason followed by the rule and where it
        /// comes from (`[default policy: exclude libGL.so.*]`), or the loader's message
        /// for a missing library.
        public let reason: String
        /// Where it was found on this machine, if it was.
        public let path: String?
        /// The policy rule that decided it, when one did (`reason` then ends with it in
        /// brackets); the JSON gives it in fields.
        package internal(set) var rule: BundlePolicy.Rule?
    }

    /// The programs, in the order given; a program that could not be opened is left out
    /// (and named in `errors`).
    public internal(set) var programs: [Program] = []
    /// The libraries to copy into `lib/`, each file once, in the order the breadth-first
    /// walk from the programs first reached them.
    public internal(set) var libraries: [Library] = []
    /// What happened to each needed name, and why: one decision per bundled file, and one
    /// per excluded or missing name (the first program or library that needed it).
    public internal(set) var decisions: [Decision] = []
    /// Things static analysis cannot settle (dlopen'ed libraries, clashes); the bundle is still made.
    public internal(set) var warnings: [String] = []
    /// Things that stop the bundle (a needed library not found, an unreadable program).
    public internal(set) var errors: [String] = []

    /// Every DT_NEEDED name a file in the bundle has that contains a '/', with the file
    /// name it becomes (a build-machine path must not remain).
    public internal(set) var pathNeeded: [String: [(old: String, new: String)]] = [:]
}
