#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs work on several files at once: `jobs` threads take the next index from a shared
/// counter until every index is done. Results come back in index order, so output
/// printed from them is in argument order whatever the threads' timing.
///
/// Plain POSIX threads: `-j N` means exactly N threads, and nothing (no thread pool, no
/// Dispatch) is started for a single file or `-j 1`, which run on the calling thread.
enum Parallel {
    static func map<Result: Sendable>(count: Int, jobs: Int, _ work: @escaping @Sendable (Int) -> Result) -> [Result] {
        let threads = max(1, min(jobs, count))
        if threads == 1 { return (0 ..< count).map(work) }
        let shared = Shared<Result>(count: count, work: work)
        var handles: [pthread_t] = []
        for _ in 1 ..< threads {
            var handle = pthread_t()
            let context = Unmanaged<Runner>.passRetained(shared).toOpaque()
            let started = pthread_create(&handle, nil, { context in
                Unmanaged<Runner>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
            if started == 0 {
                handles.append(handle)
            } else {
                Unmanaged<Runner>.fromOpaque(context).release()   // fewer threads: the others do the work
            }
        }
        shared.run()
        for handle in handles { pthread_join(handle, nil) }
        return shared.results()
    }

    /// The number of processors this process may run on.
    static var processorCount: Int {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return online > 0 ? online : 1
    }
}

/// What a started thread runs (a class, not a generic, so that the C entry point can
/// call it without a dynamic cast).
private class Runner: @unchecked Sendable {
    func run() {}
}

/// The counter and the result slots the threads share. Each slot is written by exactly
/// one thread (the one that took its index from the counter, under the lock) and read
/// only after every thread has been joined.
private final class Shared<Result: Sendable>: Runner, @unchecked Sendable {
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

    override func run() {
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
