import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// Each system call of the edit fails in turn (through the writer's `SystemCalls` seam):
/// the edit reports an error, the original is byte-identical, and no temporary file is
/// left in the directory. Every fault must actually fire, so none of these can pass by
/// never reaching the step it names.
@Suite struct FaultInjectionTests {
    /// Counts calls and says when a fault fired.
    final class Counter: @unchecked Sendable {
        var calls = 0
        var fired = 0
    }

    struct Fault: CustomTestStringConvertible, Sendable {
        enum Temporary: Sendable { case anonymous, named, both }
        let name: String
        var temporary = Temporary.both
        let inject: @Sendable (inout SystemCalls, Counter) -> Void
        init(name: String, temporary: Temporary = .both, inject: @escaping @Sendable (inout SystemCalls, Counter) -> Void) {
            self.name = name
            self.temporary = temporary
            self.inject = inject
        }
        var testDescription: String { name }
    }

    /// A fault, with the temporary file anonymous (`O_TMPFILE`) or named (the fallback
    /// where a filesystem has no `O_TMPFILE`).
    struct Case: CustomTestStringConvertible, Sendable {
        let fault: Fault
        let anonymous: Bool
        var testDescription: String { "\(fault.name), \(anonymous ? "anonymous" : "named") temporary" }
    }

    static let cases: [Case] = faults.flatMap { fault in
        [true, false].filter { anonymous in
            fault.temporary == .both || (fault.temporary == .anonymous) == anonymous
        }.map { Case(fault: fault, anonymous: $0) }
    }

    static func failing(_ code: Int32) -> Int32 { errno = code; return -1 }

    static let faults: [Fault] = [
        Fault(name: "open") { system, counter in
            let real = system.open
            system.open = { _, _, _ in counter.fired += 1; _ = real; return failing(EACCES) }
        },
        Fault(name: "lock") { system, counter in
            system.lock = { _, operation in
                if operation == LOCK_UN { return 0 }
                counter.fired += 1; return failing(EIO)
            }
        },
        Fault(name: "create the anonymous temporary file", temporary: .anonymous) { system, counter in
            system.openAnonymous = { _ in counter.fired += 1; return failing(EACCES) }
        },
        Fault(name: "create the named temporary file", temporary: .named) { system, counter in
            system.makeTemporary = { _, _ in counter.fired += 1; return failing(EACCES) }
        },
        Fault(name: "link the anonymous file into the directory", temporary: .anonymous) { system, counter in
            system.name = { _, _, _ in counter.fired += 1; return failing(EACCES) }
        },
        Fault(name: "copy: half copied, then ENOSPC") { system, counter in
            let real = system.copyFileRange!
            system.copyFileRange = { input, inputOffset, output, outputOffset, count, flags in
                counter.calls += 1
                if counter.calls == 1 { return real(input, inputOffset, output, outputOffset, count / 2, flags) }
                counter.fired += 1; return Int(failing(ENOSPC))
            }
        },
        Fault(name: "copy through memory: read fails") { system, counter in
            system.copyFileRange = nil
            system.read = { _, _, _, _ in counter.fired += 1; return Int(failing(EIO)) }
        },
        Fault(name: "write") { system, counter in
            system.write = { _, _, _, _ in counter.fired += 1; return Int(failing(EIO)) }
        },
        Fault(name: "short writes, then ENOSPC") { system, counter in
            let real = system.write
            system.write = { descriptor, bytes, count, offset in
                counter.calls += 1
                if counter.calls < 5 { return real(descriptor, bytes, min(count, 3), offset) }
                counter.fired += 1; return Int(failing(ENOSPC))
            }
        },
        Fault(name: "a write that makes no progress") { system, counter in
            system.write = { _, _, _, _ in counter.fired += 1; return 0 }
        },
        Fault(name: "ftruncate") { system, counter in
            system.truncate = { _, _ in counter.fired += 1; return failing(EFBIG) }
        },
        Fault(name: "fchown") { system, counter in
            system.changeOwner = { _, _, _ in counter.fired += 1; return failing(EPERM) }
        },
        Fault(name: "fchmod") { system, counter in
            system.changeMode = { _, _ in counter.fired += 1; return failing(EPERM) }
        },
        Fault(name: "fchmod silently drops the set-user-id bit") { system, counter in
            let real = system.changeMode
            system.changeMode = { descriptor, mode in counter.fired += 1; return real(descriptor, mode & ~0o4000) }
        },
        Fault(name: "fstat of the new file fails") { system, counter in
            let real = system.status
            system.status = { descriptor, result in
                counter.calls += 1
                // The 1st and 2nd calls are the lock's identity check and the input's
                // stat; the next is the new file's, after fchmod.
                if counter.calls <= 2 { return real(descriptor, result) }
                counter.fired += 1; return failing(EIO)
            }
        },
        Fault(name: "fsync") { system, counter in
            system.sync = { _ in counter.fired += 1; return failing(EIO) }
        },
        Fault(name: "rename") { system, counter in
            system.rename = { _, _, _, _ in counter.fired += 1; return failing(EXDEV) }
        },
        Fault(name: "the owner cannot be kept (not root, another user's file)") { system, counter in
            system.effectiveUser = { counter.fired += 1; return 4242 }
        },
    ]

    private var growingRequest: EditRequest {
        var request = EditRequest()
        request.runPath = .set(Array(("$ORIGIN/" + String(repeating: "f", count: 200)).utf8))
        return request
    }

    static func system(anonymous: Bool) -> SystemCalls {
        var system = SystemCalls()
        if !anonymous { system.openAnonymous = { _ in failing(EOPNOTSUPP) } }
        return system
    }

    @Test(arguments: cases) func aFailedStepLeavesTheOriginalAndNoTemporary(case: Case) throws {
        let fault = `case`.fault
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o4755, purpose: "faults")
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        var system = FaultInjectionTests.system(anonymous: `case`.anonymous)
        let counter = Counter()
        fault.inject(&system, counter)
        #expect(throws: (any Error).self, "\(fault.name) failed but the edit succeeded") {
            try Rewriter(writer: AtomicFileWriter(system: system)).rewrite(path: path, request: growingRequest)
        }
        #expect(counter.fired > 0, "the fault was never reached")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "the original changed")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"], "a temporary file was left")
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o7777 == 0o4755, "the original's mode changed")
    }

    /// Writes of a few bytes at a time are completed, not mistaken for the whole write:
    /// the result is exactly the planned image.
    @Test(arguments: [true, false]) func shortWritesAreCompleted(anonymous: Bool) throws {
        let (directory, path) = try scratchCopy(of: "aarch64/hello", mode: 0o4755, purpose: "faults")
        defer { try? FileManager.default.removeItem(at: directory) }
        let source = try FileByteSource(path: path)
        let plan = try Rewriter().plan(file: try ELFFile(source: source), request: growingRequest)
        let expected = try PlannedByteSource(base: source, plan: plan).readBytes(at: 0, count: Int(plan.newSize))
        var system = FaultInjectionTests.system(anonymous: anonymous)
        let counter = Counter()
        let real = system.write
        system.write = { descriptor, bytes, count, offset in
            counter.calls += 1
            return real(descriptor, bytes, min(count, 7), offset)
        }
        let realCopy = system.copyFileRange!
        system.copyFileRange = { input, inputOffset, output, outputOffset, count, flags in
            realCopy(input, inputOffset, output, outputOffset, min(count, 4096 + 11), flags)
        }
        _ = try Rewriter(writer: AtomicFileWriter(system: system)).rewrite(path: path, request: growingRequest)
        let fromMemory = plan.patches.reduce(plan.appended.count) { $0 + $1.bytes.count }
        #expect(fromMemory > 100 && counter.calls >= fromMemory / 7, "the writes were not short")
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    /// Where the filesystem has `O_TMPFILE`, the new file has no name until just before
    /// the rename (so a killed swelf leaves nothing); the fallback's is named all along.
    @Test(arguments: [true, false]) func theTemporaryIsNamedOnlyForTheRename(anonymous: Bool) throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o4755, purpose: "faults")
        defer { try? FileManager.default.removeItem(at: directory) }
        var system = FaultInjectionTests.system(anonymous: anonymous)
        let listings = Listings()
        let realSync = system.sync
        system.sync = { descriptor in
            listings.seen.append((try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? [])
            return realSync(descriptor)
        }
        let realRename = system.rename
        system.rename = { fromDirectory, from, toDirectory, to in
            listings.seen.append((try? FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()) ?? [])
            return realRename(fromDirectory, from, toDirectory, to)
        }
        _ = try Rewriter(writer: AtomicFileWriter(system: system)).rewrite(path: path, request: growingRequest)
        #expect(listings.seen.count == 3, "fsync of the file, rename, fsync of the directory")
        let named = listings.seen.map { $0.contains { $0.hasPrefix(".swelf-") } }
        #expect(named == (anonymous ? [false, true, false] : [true, true, false]), "\(listings.seen)")
    }

    final class Listings: @unchecked Sendable { var seen: [[String]] = [] }

    /// Another program renames a file over the input while it is being patched (after
    /// the lock, before the rename): the writer notices, leaves the newcomer alone, and
    /// edits the newcomer instead. Nothing is lost: the result is the newcomer's content
    /// with the edit.
    @Test func aFileReplacedWhilePatchedIsNoticedAndEditedAfresh() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o4755, purpose: "faults")
        defer { try? FileManager.default.removeItem(at: directory) }
        let newcomer = directory.appendingPathComponent("newcomer").path
        try Data(try #require(Subject.all.first { $0.path == "x86_64/libgreet.so.1" }).contents())
            .write(to: URL(fileURLWithPath: newcomer))
        var system = SystemCalls()
        let counter = Counter()
        let realSync = system.sync
        system.sync = { descriptor in
            counter.calls += 1
            if counter.calls == 1 {
                counter.fired += 1
                #expect(rename(newcomer, path) == 0)
            }
            return realSync(descriptor)
        }
        _ = try Rewriter(writer: AtomicFileWriter(system: system)).rewrite(path: path, request: growingRequest)
        #expect(counter.fired == 1)
        let dynamic = try #require(try ELFFile(path: path).dynamic())
        // libgreet.so.1 names itself; hello has no DT_SONAME.
        #expect(try dynamic.first(.soname).map { try dynamic.string(at: $0) } == "libgreet.so.1",
                "the newcomer was overwritten by the patched original")
        let runPath = try dynamic.first(.runpath).map { try dynamic.string(at: $0) }
        #expect(runPath == "$ORIGIN/" + String(repeating: "f", count: 200), "the newcomer was not edited")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }

    /// A failed fsync of the directory comes after the rename: the new file is in place,
    /// and the error says so instead of claiming the file was left alone.
    @Test func aFailedDirectoryFsyncSaysTheFileWasReplaced() throws {
        let (directory, path) = try scratchCopy(of: "x86_64/hello", mode: 0o4755, purpose: "faults")
        defer { try? FileManager.default.removeItem(at: directory) }
        var system = SystemCalls()
        let counter = Counter()
        let realSync = system.sync
        system.sync = { descriptor in
            counter.calls += 1
            if counter.calls == 2 { counter.fired += 1; return FaultInjectionTests.failing(EIO) }
            return realSync(descriptor)
        }
        do {
            _ = try Rewriter(writer: AtomicFileWriter(system: system)).rewrite(path: path, request: growingRequest)
            Issue.record("a failed directory fsync was not reported")
        } catch {
            #expect("\(error)".contains("was replaced, but fsync of its directory failed"), "\(error)")
        }
        #expect(counter.fired == 1)
        #expect(try ELFFile(path: path).dynamic()?.has(.runpath) == true, "the new file is not in place")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["subject"])
    }
}
