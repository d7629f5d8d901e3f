import Foundation
import Testing
@testable import ELFKit
@testable import ELFKitCore
@testable import ELFKitEdit

/// The durability barrier of a batch (`AtomicFileWriter.commit`), watched through the
/// writer's `SystemCalls` seam: which calls come, in which order, and that the files are
/// replaced either way. On a filesystem whose `syncfs` commits everything (ext4 here), a
/// batch is one `syncfs` before any rename, each file's write error read without a flush
/// (`waitWriteback`), the renames, and one `syncfs` after them; no `fsync`. Elsewhere, or
/// when the first `syncfs` fails, every file and every directory is fsynced.
@Suite struct BatchCommitTests {
    final class Calls: @unchecked Sendable {
        var seen: [String] = []
    }

    /// Three copies of x86_64/hello, two in one directory and one in another, each
    /// prepared with a growing run path and committed as one batch; returns the calls
    /// seen from the first `syncfs` on, and checks that each file got its run path.
    func commitBatch(fileSystem: Int, syncfsFails: Bool = false) throws -> [String] {
        let (first, a) = try scratchCopy(of: "x86_64/hello", purpose: "batch-commit")
        let (second, c) = try scratchCopy(of: "x86_64/hello", purpose: "batch-commit")
        defer {
            try? FileManager.default.removeItem(at: first)
            try? FileManager.default.removeItem(at: second)
        }
        let b = first.appendingPathComponent("other").path
        try FileManager.default.copyItem(atPath: a, toPath: b)
        var system = SystemCalls()
        let calls = Calls()
        let realType = system.fileSystemType
        // /proc keeps its own type: the path resolution asks for it.
        system.fileSystemType = { descriptor in
            let real = realType(descriptor)
            return real == SystemCalls.procFileSystem ? real : fileSystem
        }
        let realSyncfs = system.syncFileSystem
        system.syncFileSystem = { descriptor in
            calls.seen.append("syncfs")
            return syncfsFails ? FaultInjectionTests.failing(EIO) : realSyncfs(descriptor)
        }
        let realWait = system.waitWriteback
        system.waitWriteback = { descriptor in calls.seen.append("wait"); return realWait(descriptor) }
        let realSync = system.sync
        system.sync = { descriptor in calls.seen.append("fsync"); return realSync(descriptor) }
        let realRename = system.rename
        system.rename = { fromDirectory, from, toDirectory, to in
            calls.seen.append("rename")
            return realRename(fromDirectory, from, toDirectory, to)
        }
        let rewriter = Rewriter(writer: AtomicFileWriter(system: system))
        var request = EditRequest()
        let runPath = "$ORIGIN/" + String(repeating: "f", count: 200)
        request.runPath = .set(Array(runPath.utf8))
        let batch = try [a, b, c].map { path in try rewriter.prepare(path: path, request: request) }
        #expect(calls.seen.allSatisfy { $0 != "rename" }, "a file was renamed before the commit: \(calls.seen)")
        calls.seen.removeAll()
        #expect(rewriter.commit(batch).allSatisfy { $0 == nil })
        for path in [a, b, c] {
            let dynamic = try #require(try ELFFile(path: path).dynamic())
            #expect(try dynamic.first(.runpath).map { try dynamic.string(at: $0) } == runPath, "\(path) was not replaced")
        }
        return calls.seen
    }

    @Test func onExt4ABatchIsOneSyncfsBeforeTheRenamesAndOneAfter() throws {
        #expect(try commitBatch(fileSystem: 0xEF53)
                == ["syncfs", "wait", "wait", "wait", "rename", "rename", "rename", "syncfs"])
    }

    /// A filesystem whose `syncfs` may not commit names (NFS here): an fsync of each file
    /// before the renames, and of each of the two directories after them.
    @Test func elsewhereEachFileAndDirectoryIsFsynced() throws {
        #expect(try commitBatch(fileSystem: 0x6969)
                == ["syncfs", "fsync", "fsync", "fsync", "rename", "rename", "rename", "fsync", "fsync"])
    }

    /// A failed `syncfs` is no barrier: each file is fsynced (which names the one that
    /// failed), and each directory after the renames.
    @Test func aFailedSyncfsFallsBackToAnFsyncOfEachFileAndDirectory() throws {
        #expect(try commitBatch(fileSystem: 0xEF53, syncfsFails: true)
                == ["syncfs", "fsync", "fsync", "fsync", "rename", "rename", "rename", "fsync", "fsync"])
    }
}
