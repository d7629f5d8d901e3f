#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The package's one way of running work on more than one thread: plain POSIX threads,
/// started for the call and joined before it returns. Nothing (no pool, no Dispatch) lives
/// between calls, and work that needs one thread runs on the calling thread.
///
/// Two shapes of work use it:
/// - `run(background:foreground:)`: two different jobs at once. The writer copies a large
///   file's unchanged bulk while the verifier reads the planned image (on a 256 MiB program
///   the copy and the verification each take about half of the edit).
/// - `map(count:jobs:_:)`: the same job on many items, `jobs` threads at a time (the command
///   line's `-j N` over many files).
///
/// When a thread cannot be started, its work runs on the threads that did start (at the
/// least the calling one): fewer threads, same results.
package enum Overlap {
    /// Runs `background` on a new thread and `foreground` on the calling thread, and
    /// returns when both are done. The two must not share mutable state; each may read
    /// what the other reads.
    ///
    /// Throws the foreground's error first (it is the verdict on the edit), else the
    /// background's.
    package static func run(background: () throws -> Void, foreground: () throws -> Void) throws {
        try withoutActuallyEscaping(background) { background in
            // Set by the started thread alone, read only after it has been joined.
            let outcome = BackgroundOutcome()
            guard let thread = startThread({
                do { try background() } catch { outcome.error = error }
            }) else {
                try foreground()
                try background()
                return
            }
            var verdict: (any Error)?
            do { try foreground() } catch { verdict = error }
            pthread_join(thread, nil)
            if let verdict { throw verdict }
            if let error = outcome.error { throw error }
        }
    }

    /// `work(0) … work(count - 1)` on `jobs` threads (the calling one among them), each
    /// taking the next index from a shared counter until every index is done. Results come
    /// back in index order, so output printed from them is in argument order whatever the
    /// threads' timing. `jobs` of 1, or a single item, starts no thread.
    package static func map<Result: Sendable>(count: Int, jobs: Int,
                                              _ work: @escaping @Sendable (Int) -> Result) -> [Result] {
        let threads = max(1, min(jobs, count))
        if threads == 1 { return (0 ..< count).map(work) }
        let shared = SharedCounter<Result>(count: count, work: work)
        // A thread that cannot be started leaves its share to the others.
        let handles = (1 ..< threads).compactMap { _ in startThread { shared.run() } }
        shared.run()
        for handle in handles { pthread_join(handle, nil) }
        return shared.results()
    }

    /// The number of processors this process may run on (at least 1).
    package static var processorCount: Int {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return online > 0 ? online : 1
    }

    /// Starts `body` on a new POSIX thread: its handle to join, or nil when no thread
    /// could be started (then `body` has not run and never will). The only place in the
    /// package that calls `pthread_create`.
    private static func startThread(_ body: @escaping () -> Void) -> pthread_t? {
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { context in
            // The body is released here, before the thread ends, so a caller that joins
            // the thread knows it holds nothing of the caller's any more.
            Unmanaged<ThreadBody>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        guard started == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(context).release()
            return nil
        }
        return thread
    }
}

/// What a started thread runs. `@unchecked Sendable`: handed to exactly one new thread,
/// which alone calls it; `Overlap`'s callers guarantee what the body touches.
private final class ThreadBody: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// The background half's error. `@unchecked Sendable`: the started thread alone sets
/// `error`; the caller reads it only after joining that thread.
private final class BackgroundOutcome: @unchecked Sendable {
    var error: (any Error)?
}

/// The counter and the result slots `map`'s threads share. Each slot is written by exactly
/// one thread (the one that took its index from the counter, under the lock) and read
/// only after every thread has been joined.
private final class SharedCounter<Result: Sendable>: @unchecked Sendable {
    private var next = 0
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let count: Int
    private let slots: UnsafeMutablePointer<Result?>
    private let work: @Sendable (Int) -> Result

    init(count: Int, work: @escaping @Sendable (Int) -> Result) {
        self.count = count
        self.work = work
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    func run() {
        while true {
            pthread_mutex_lock(lock)
            let index = next
            next += 1
            pthread_mutex_unlock(lock)
            guard index < count else { return }
            slots[index] = work(index)
        }
    }

    func results() -> [Result] { (0 ..< count).map { slots[$0]! } }
}
