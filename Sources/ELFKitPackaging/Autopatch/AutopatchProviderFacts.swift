#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ELFKitCore

/// What the planner learns about providers, kept for every file of one plan: a tree's
/// files mostly need the same few libraries (libc.so.6 by all of them), and each
/// candidate would otherwise be opened again for every file that needs it — its header
/// (`LibraryResolver.verify`), its version definitions, and the system search for a name.
/// Shared by the threads that plan files (`Overlap.map`), under one lock; a fact is
/// computed outside the lock, so two threads may compute one fact twice, with one result.
final class ProviderFacts: @unchecked Sendable {
    /// What `verify` and the system search depend on in the file being planned: its class,
    /// byte order, machine and flags (`LoaderEnvironment.adapted(for:)` reads the flags).
    struct Loader: Hashable {
        let is64: Bool
        let isBigEndian: Bool
        let machine: UInt16
        let flags: UInt32

        init(_ file: ELFFile) {
            is64 = file.format.is64
            isBigEndian = file.format.isBigEndian
            machine = file.header.machine.rawValue
            flags = file.header.flags
        }
    }

    struct VerifyKey: Hashable {
        let path: String
        let like: Loader
    }

    struct SystemKey: Hashable {
        let name: String
        let like: Loader
        let root: String?
    }

    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var verified: [VerifyKey: Bool] = [:]
    private var definitions: [String: Set<String>?] = [:]
    private var system: [SystemKey: String?] = [:]
    private var loaders: [String: LoaderFormat?] = [:]
    private var interpreters: [String: Bool] = [:]

    /// A loader candidate's machine, class and byte order.
    struct LoaderFormat {
        let machine: ELFMachine
        let is64: Bool
        let isBigEndian: Bool
    }

    init() {
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// Whether `verify` accepted the file for this loader, computed once.
    func remember(_ key: VerifyKey, _ compute: () -> Bool) -> Bool {
        if let known = locked({ verified[key] }) { return known }
        let value = compute()
        locked { verified[key] = value }
        return value
    }

    /// The version names the file at `path` defines (nil: it cannot be read), computed once.
    func remember(_ path: String, _ compute: () -> Set<String>?) -> Set<String>? {
        if let known = locked({ definitions[path] }) { return known }
        let value = compute()
        locked { definitions[path] = .some(value) }
        return value
    }

    /// The system library the loader finds for a name, computed once per loader.
    func remember(_ key: SystemKey, _ compute: () -> String?) -> String? {
        if let known = locked({ system[key] }) { return known }
        let value = compute()
        locked { system[key] = .some(value) }
        return value
    }

    /// A loader candidate's format (nil: not ELF), read once: 20,000 programs open a
    /// tree's loader once.
    func rememberLoader(_ path: String, _ compute: () -> LoaderFormat?) -> LoaderFormat? {
        if let known = locked({ loaders[path] }) { return known }
        let value = compute()
        locked { loaders[path] = .some(value) }
        return value
    }

    /// Whether an interpreter path exists on the target, looked at once per path.
    func rememberInterpreter(_ path: String, _ compute: () -> Bool) -> Bool {
        if let known = locked({ interpreters[path] }) { return known }
        let value = compute()
        locked { interpreters[path] = value }
        return value
    }
}
