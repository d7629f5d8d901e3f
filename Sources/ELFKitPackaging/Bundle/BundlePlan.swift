/// What `swelf bundle` will copy, and why: the decisions, made without running or
/// changing anything. The files are resolved with `LibraryResolver`, the model `doctor`
/// uses, so a bundle for another architecture is planned the same way as a native one.
public struct BundlePlan: Sendable {
    /// A program, copied to `bin/name`.
    public struct Program: Sendable {
        /// The path as given (it may be a symbolic link).
        public let source: String
        public let name: String
        /// False for a static program: nothing to patch.
        public let isDynamic: Bool
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
        public let soname: String?
        /// "libb.so.1 (RUNPATH of liba.so.1)" — who needed it first and how it was found.
        public let foundBy: String
        /// Other copies of the same name that the loader would not take.
        public internal(set) var shadowed: [String]
    }

    /// One library name and what the bundle does with it.
    public struct Decision: Sendable {
        public enum Outcome: String, Sendable { case bundled, excluded, missing }
        public let name: String
        public let neededBy: String
        public let outcome: Outcome
        public let reason: String
        /// Where it was found on this machine, if it was.
        public let path: String?
    }

    public internal(set) var programs: [Program] = []
    public internal(set) var libraries: [Library] = []
    public internal(set) var decisions: [Decision] = []
    /// Things static analysis cannot settle (dlopen'ed libraries, clashes); the bundle is still made.
    public internal(set) var warnings: [String] = []
    /// Things that stop the bundle (a needed library not found, an unreadable program).
    public internal(set) var errors: [String] = []

    /// Every DT_NEEDED name a file in the bundle has that contains a '/', with the file
    /// name it becomes (a build-machine path must not remain).
    public internal(set) var pathNeeded: [String: [(old: String, new: String)]] = [:]
}
