#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Two pieces of work at once: `background` on a new POSIX thread, `foreground` on the
/// calling thread, and back only when both are done. The writer copies a large file's
/// unchanged bulk while the verifier reads the planned image (on a 256 MiB program the
/// copy and the verification each take about half of the edit).
///
/// The two must not share mutable state; each may read what the other reads. When no
/// thread can be started, they run one after the other.
package enum Overlap {
    /// Throws the foreground's error first (it is the verdict on the edit), else the
    /// background's.
    package static func run(background: () throws -> Void, foreground: () throws -> Void) throws {
        try withoutActuallyEscaping(background) { background in
            let work = BackgroundWork(background)
            let context = Unmanaged.passRetained(work).toOpaque()
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { context in
                Unmanaged<BackgroundWork>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            }, context)
            guard started == 0 else {
                Unmanaged<BackgroundWork>.fromOpaque(context).release()
                try foreground()
                try background()
                return
            }
            var verdict: (any Error)?
            do { try foreground() } catch { verdict = error }
            pthread_join(thread, nil)
            if let verdict { throw verdict }
            if let error = work.error { throw error }
        }
    }
}

/// The background half and its outcome. `@unchecked Sendable`: the started thread alone
/// runs it and sets `error`; the caller reads `error` only after joining that thread.
private final class BackgroundWork: @unchecked Sendable {
    private let work: () throws -> Void
    private(set) var error: (any Error)?

    init(_ work: @escaping () throws -> Void) { self.work = work }

    func run() {
        do { try work() } catch { self.error = error }
    }
}
