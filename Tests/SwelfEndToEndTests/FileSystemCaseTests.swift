import Foundation
import XCTest

/// `flock` is also a struct's name; at file level the call resolves to the function.
/// glibc's makedev for small numbers (major < 4096, minor < 256), which Swift does not import.
private func deviceNumber(_ major: UInt64, _ minor: UInt64) -> dev_t { dev_t(major << 8 | minor) }

private func lockFile(_ descriptor: Int32, _ operation: Int32) -> Int32 { flock(descriptor, operation) }

/// Hostile file systems (issue 8): non-regular outputs, set-id bits, owner and group as
/// root and as an ordinary user, concurrent edits, a file replaced while swelf waits for
/// it, hard links, a full file system. (A read-only directory, symbolic links and a
/// running executable are in FileSafetyTests.)
final class FileSystemCaseTests: EndToEndTestCase {

    func status(_ path: String) -> stat? {
        var result = stat()
        return lstat(path, &result) == 0 ? result : nil
    }

    func listing(_ url: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
    }

    // MARK: - Non-regular outputs

    /// A FIFO is written in place, start to end: what a reader gets is byte for byte what
    /// `--output` to a regular file gives, and the FIFO is still a FIFO.
    func testFIFOOutputIsWrittenInPlace() throws {
        let box = try ScratchDirectory("fifo")
        let input = try box.copy("x86_64/hello", into: box.url)
        let regular = box.url.appendingPathComponent("regular")
        let args = ["--set-rpath", "$ORIGIN/" + String(repeating: "q", count: 100)]
        XCTAssertEqual(try swelf(args + ["--output", regular.path, input.path]).status, 0)
        let fifo = box.url.appendingPathComponent("fifo"), received = box.url.appendingPathComponent("received")
        XCTAssertEqual(mkfifo(fifo.path, 0o644), 0)
        let before = try XCTUnwrap(status(fifo.path))
        let reader = try ChildProcess("/bin/sh", ["-c", "cat \"$1\" > \"$2\"", "sh", fifo.path, received.path])
        let r = try swelf(args + ["--output", fifo.path, input.path])
        _ = reader.wait()
        XCTAssertEqual(r.status, 0, r.summary)
        let after = try XCTUnwrap(status(fifo.path))
        XCTAssertEqual(after.st_mode & S_IFMT, S_IFIFO, "the FIFO was replaced by a \(String(after.st_mode & S_IFMT, radix: 8))")
        XCTAssertEqual(after.st_ino, before.st_ino, "the FIFO was replaced")
        XCTAssertEqual(try bytes(received), try bytes(regular), "the FIFO did not carry the edited file")
        XCTAssertEqual(try listing(box.url), ["fifo", "hello", "received", "regular"])
    }

    /// A character device is written in place and stays the same device node. As root the
    /// test makes its own node (mknod c 1 3, a private /dev/null) so a fault cannot hurt
    /// the system's; as a user it uses /dev/null, which a user cannot replace anyway.
    func testCharacterDeviceOutputStaysADevice() throws {
        let box = try ScratchDirectory("chardev")
        let input = try box.copy("x86_64/hello", into: box.url)
        let device: String
        if geteuid() == 0 {
            device = box.url.appendingPathComponent("null").path
            XCTAssertEqual(mknod(device, S_IFCHR | 0o666, deviceNumber(1, 3)), 0, "mknod: \(String(cString: strerror(errno)))")
        } else {
            device = "/dev/null"
        }
        let before = try XCTUnwrap(status(device))
        let r = try swelf(["--set-rpath", "$ORIGIN/lib", "--output", device, input.path])
        XCTAssertEqual(r.status, 0, r.summary)
        let after = try XCTUnwrap(status(device))
        XCTAssertEqual(after.st_mode & S_IFMT, S_IFCHR, "\(device) is no longer a character device")
        XCTAssertEqual(after.st_rdev, before.st_rdev)
        XCTAssertEqual(after.st_ino, before.st_ino, "\(device) was replaced")
        XCTAssertEqual(after.st_mode & 0o7777, before.st_mode & 0o7777, "the device's mode changed")
        XCTAssertEqual(try listing(box.url), geteuid() == 0 ? ["hello", "null"] : ["hello"])
    }

    /// A socket (and, as root, a block device) is refused with a message naming it, and
    /// left as it was.
    func testSocketAndBlockDeviceOutputsAreRefused() throws {
        let box = try ScratchDirectory("socket")
        let input = try box.copy("x86_64/hello", into: box.url)
        let socketPath = box.url.appendingPathComponent("sock").path
        let server = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(server, 0)
        defer { close(server) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(socketPath.utf8)
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(server, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0, "bind: \(String(cString: strerror(errno)))")
        var cases = [(socketPath, S_IFSOCK, "is a socket")]
        if geteuid() == 0 {
            // Major 240 is for local use: no driver, so even a broken writer could not reach a disk.
            let block = box.url.appendingPathComponent("block").path
            XCTAssertEqual(mknod(block, S_IFBLK | 0o600, deviceNumber(240, 0)), 0)
            cases.append((block, S_IFBLK, "is a block device"))
        }
        for (path, kind, message) in cases {
            let before = try XCTUnwrap(status(path)), names = try listing(box.url)
            let r = try swelf(["--set-rpath", "$ORIGIN/lib", "--output", path, input.path])
            XCTAssertEqual(r.status, 1, r.summary)
            XCTAssertTrue(r.stderr.contains(message), "the refusal does not say what \(path) is:\n\(r.summary)")
            let after = try XCTUnwrap(status(path))
            XCTAssertEqual(after.st_mode & S_IFMT, kind, "\(path) was replaced")
            XCTAssertEqual(after.st_ino, before.st_ino, "\(path) was replaced")
            XCTAssertEqual(try listing(box.url), names, "stray files left")
        }
    }

    // MARK: - Set-id bits, owner and group

    /// As root: a set-user-id and set-group-id program owned by another user keeps its
    /// owner, group and every mode bit (a chown after the chmod would clear the set-id bits).
    func testSetIDBitsOwnerAndGroupKeptAsRoot() throws {
        guard geteuid() == 0 else {
            XCTFail("this test gives files to other users and needs root (CI runs as root)")
            return
        }
        let box = try ScratchDirectory("setid")
        for (uid, gid, mode) in [(uid_t(12345), gid_t(23456), mode_t(0o6755)), (0, 0, 0o4755), (54321, 0, 0o2711), (0, 23456, 0o6750)] {
            let exe = try box.copy("x86_64/hello", into: box.url, as: "setid-\(String(mode, radix: 8))-\(uid)")
            XCTAssertEqual(chown(exe.path, uid, gid), 0)
            XCTAssertEqual(chmod(exe.path, mode), 0)
            let r = try swelf(["--set-rpath", "$ORIGIN/" + String(repeating: "s", count: 90), exe.path])
            XCTAssertEqual(r.status, 0, r.summary)
            let after = try XCTUnwrap(status(exe.path))
            XCTAssertEqual(after.st_uid, uid, "owner of \(exe.lastPathComponent)")
            XCTAssertEqual(after.st_gid, gid, "group of \(exe.lastPathComponent)")
            XCTAssertEqual(String(after.st_mode & 0o7777, radix: 8), String(mode, radix: 8), "mode of \(exe.lastPathComponent)")
            XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/" + String(repeating: "s", count: 90)])
        }
        XCTAssertEqual(try listing(box.url).filter { $0.hasPrefix(".swelf-") }, [])
    }

    /// The ordinary user the owner-and-group test runs swelf as, with a supplementary
    /// group. Created with useradd/groupadd when missing; a failure to do so fails the test.
    func ordinaryUser() throws -> (uid: uid_t, primary: gid_t, supplementary: gid_t) {
        let name = "swelftest", group = "swelftestgrp"
        if getgrnam(group) == nil {
            let r = try runTool("/usr/sbin/groupadd", [group])
            XCTAssertEqual(r.status, 0, "cannot create the test group:\n\(r.summary)")
        }
        if getpwnam(name) == nil {
            let r = try runTool("/usr/sbin/useradd", ["--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", "--groups", group, name])
            XCTAssertEqual(r.status, 0, "cannot create the test user:\n\(r.summary)")
        }
        let user = try XCTUnwrap(getpwnam(name), "no user \(name) after useradd").pointee
        let extra = try XCTUnwrap(getgrnam(group), "no group \(group) after groupadd").pointee
        let membership = try runTool("/usr/bin/id", ["-G", name])
        XCTAssertTrue(membership.stdout.split(whereSeparator: \.isWhitespace).contains(Substring(String(extra.gr_gid))),
                      "\(name) is not in \(group): \(membership.summary)")
        return (user.pw_uid, user.pw_gid, extra.gr_gid)
    }

    /// As an ordinary user (created for the test, swelf run through setpriv): a file the
    /// user owns, whose group is one of the user's supplementary groups, keeps that group
    /// and its set-group-id bit; a file another user owns is refused and left alone; a
    /// new --output file made from root's set-user-id program belongs to the user and has
    /// no set-user-id bit.
    func testOwnerAndGroupKeptAsOrdinaryUser() throws {
        guard geteuid() == 0 else {
            XCTFail("this test creates a user and files owned by others and needs root (CI runs as root)")
            return
        }
        try requireTool("/usr/bin/setpriv")
        let (uid, primary, supplementary) = try ordinaryUser()
        XCTAssertNotEqual(primary, supplementary)
        let box = try ScratchDirectory("user")
        chmod(box.url.path, 0o755)
        let dir = try box.dir("home")
        XCTAssertEqual(chown(dir.path, uid, primary), 0)
        func asUser(_ arguments: [String]) throws -> ProcessResult {
            try runTool("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(primary)", "--init-groups", E2E.swelf] + arguments)
        }

        let own = try box.copy("x86_64/hello", into: dir, as: "own")
        XCTAssertEqual(chown(own.path, uid, supplementary), 0)
        XCTAssertEqual(chmod(own.path, 0o2750), 0)
        var r = try asUser(["--set-rpath", "$ORIGIN/" + String(repeating: "u", count: 90), own.path])
        XCTAssertEqual(r.status, 0, r.summary)
        var after = try XCTUnwrap(status(own.path))
        XCTAssertEqual(after.st_uid, uid)
        XCTAssertEqual(after.st_gid, supplementary, "the file's group became \(after.st_gid)")
        XCTAssertEqual(String(after.st_mode & 0o7777, radix: 8), "2750")
        XCTAssertEqual(try dynamicValue(own, tag: "RUNPATH"), ["$ORIGIN/" + String(repeating: "u", count: 90)])

        let others = try box.copy("x86_64/hello", into: dir, as: "others")
        XCTAssertEqual(chown(others.path, 0, 0), 0)
        XCTAssertEqual(chmod(others.path, 0o666), 0)
        let before = try bytes(others), names = try listing(dir)
        r = try asUser(["--set-rpath", "$ORIGIN/lib", others.path])
        XCTAssertEqual(r.status, 1, r.summary)
        XCTAssertTrue(r.stderr.contains("cannot keep the owner"), r.summary)
        XCTAssertEqual(try bytes(others), before, "another user's file was changed")
        after = try XCTUnwrap(status(others.path))
        XCTAssertEqual(after.st_uid, 0, "another user's file changed hands")
        XCTAssertEqual(try listing(dir), names, "stray files left")

        let setuid = try box.copy("x86_64/hello", into: box.url, as: "rootsetuid")
        XCTAssertEqual(chmod(setuid.path, 0o4755), 0)
        let copy = dir.appendingPathComponent("copy")
        r = try asUser(["--set-rpath", "$ORIGIN/lib", "--output", copy.path, setuid.path])
        XCTAssertEqual(r.status, 0, r.summary)
        after = try XCTUnwrap(status(copy.path))
        XCTAssertEqual(after.st_uid, uid)
        XCTAssertEqual(String(after.st_mode & 0o7777, radix: 8), "755", "a user's copy of a set-user-id program kept the bit")
    }

    // MARK: - Concurrent edits and replacement

    /// Eight concurrent `--add-rpath /pN` on one file give all eight directories, five
    /// times over (without the lock, three of eight survived).
    func testConcurrentEditsAreAllKept() throws {
        let box = try ScratchDirectory("concurrent")
        let subject = try Subject.named("x86_64/hello")
        let (exe, _) = try box.stage(arch: "x86_64", program: "hello")
        let rounds = 5, writers = 8
        let started = Date()
        for round in 1 ... rounds {
            try? FileManager.default.removeItem(at: exe)
            try box.copy("x86_64/hello", into: exe.deletingLastPathComponent())
            XCTAssertTrue(try patch(["--set-rpath", "$ORIGIN/lib"], exe, "round \(round) start", checkOutput: false))
            let processes = try (1 ... writers).map { try ChildProcess(E2E.swelf, ["--add-rpath", "/p\($0)", exe.path]) }
            for (index, process) in processes.enumerated() {
                let result = process.wait()
                XCTAssertEqual(result.status, 0, "round \(round) writer \(index + 1): \(result.stderr)")
            }
            let runPath = try dynamicValue(exe, tag: "RUNPATH").first ?? ""
            let entries = runPath.split(separator: ":").map(String.init)
            XCTAssertEqual(entries.count, writers + 1, "round \(round): \(runPath)")
            XCTAssertEqual(Set(entries), Set(["$ORIGIN/lib"] + (1 ... writers).map { "/p\($0)" }), "round \(round): lost updates: \(runPath)")
            try assertCleanOutput(exe, "round \(round)")
            try assertRuns(exe, like: subject, "round \(round)")
        }
        XCTAssertEqual(try listing(exe.deletingLastPathComponent()), ["hello", "lib"])
        print("concurrent edits: \(rounds) rounds of \(writers) writers in \(String(format: "%.2f", Date().timeIntervalSince(started))) s")
    }

    /// swelf waits for the lock another process holds; meanwhile a new file is renamed
    /// over the path. Once the lock is released swelf sees that the path names another
    /// inode, and edits the new file: its content plus the edit, nothing of the old one.
    func testFileReplacedWhileWaitingForTheLock() throws {
        let box = try ScratchDirectory("replaced")
        let file = try box.copy("x86_64/hello", into: box.url, as: "f")
        let newcomer = box.url.appendingPathComponent("newcomer")
        XCTAssertEqual(try swelf(["--set-rpath", "/newcomer", "--output", newcomer.path, file.path]).status, 0)
        XCTAssertTrue(try patch(["--set-rpath", "/old"], file, "old", checkOutput: false))

        let descriptor = open(file.path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        XCTAssertEqual(lockFile(descriptor, LOCK_EX), 0)
        let process = try ChildProcess(E2E.swelf, ["--add-rpath", "/edit", file.path])
        usleep(400_000)
        XCTAssertTrue(process.isRunning, "swelf did not wait for the lock")
        XCTAssertEqual(rename(newcomer.path, file.path), 0)
        XCTAssertEqual(lockFile(descriptor, LOCK_UN), 0)
        close(descriptor)
        let result = process.wait()
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(try dynamicValue(file, tag: "RUNPATH"), ["/newcomer:/edit"], "the replacement was lost or not edited")
        try assertCleanOutput(file, "replaced while waiting")
        XCTAssertEqual(try listing(box.url), ["f"])
    }

    // MARK: - Hard links

    /// The edited name gets a new inode with the edit; every other hard link keeps the old
    /// inode and its content, byte for byte (documented in docs/design.md, "File safety").
    func testHardLinkOtherNamesKeepTheOldContent() throws {
        let box = try ScratchDirectory("hardlinks")
        let (subject, exe, other) = try box.stageHardLinkedHello()
        let before = try bytes(exe), inode = try XCTUnwrap(status(exe.path)).st_ino
        XCTAssertTrue(try patch(["--set-rpath", "$ORIGIN/lib"], exe, "hard link"))
        let edited = try XCTUnwrap(status(exe.path)), kept = try XCTUnwrap(status(other.path))
        XCTAssertNotEqual(edited.st_ino, inode, "the edited name kept the shared inode")
        XCTAssertEqual(kept.st_ino, inode)
        XCTAssertEqual(kept.st_nlink, 1)
        XCTAssertEqual(try bytes(other), before, "the other link's content changed")
        XCTAssertEqual(try dynamicValue(exe, tag: "RUNPATH"), ["$ORIGIN/lib"])
        try assertRuns(exe, like: subject, "edited name")
    }

    // MARK: - A full file system

    /// A tmpfs too small for the temporary copy (mounted in a private mount namespace):
    /// swelf fails with ENOSPC, the original is byte-identical, no temporary is left.
    func testNoSpaceLeftOnDevice() throws {
        try requireTool("/usr/bin/unshare")
        let box = try ScratchDirectory("enospc")
        let input = try box.copy("x86_64/hello", into: box.url)
        let small = try box.dir("small")
        // hello is 16 KB: it fits in 20 KB, its copy does not.
        let script = """
            set -e
            mount -t tmpfs -o size=20k tmpfs "$1"
            cp "$2" "$1/hello"
            set +e
            "$3" --set-rpath '$ORIGIN/lib' "$1/hello"
            echo "status=$?"
            cmp "$2" "$1/hello" && echo identical
            echo "listing=$(ls -A "$1" | tr '\\n' ' ')"
            """
        let r = try runTool("/usr/bin/unshare", ["--user", "--map-root-user", "--mount", "/bin/sh", "-c", script, "sh", small.path, input.path, E2E.swelf])
        XCTAssertTrue(r.stdout.contains("status=1"), r.summary)
        XCTAssertTrue(r.stderr.contains("No space left on device"), r.summary)
        XCTAssertTrue(r.stdout.contains("identical"), "the original changed:\n\(r.summary)")
        XCTAssertTrue(r.stdout.contains("listing=hello \n"), "stray files left:\n\(r.summary)")
    }

    // MARK: - Metadata (issue 17)

    /// `getfacl --omit-header --absolute-names` of a file: its ACL entries, one per line.
    func acl(_ url: URL) throws -> String {
        let r = try runTool("/usr/bin/getfacl", ["--omit-header", "--absolute-names", url.path])
        XCTAssertEqual(r.status, 0, r.summary)
        return r.stdout
    }

    /// A directory with a default ACL (`setfacl -d -m u:nobody:rwx`): a new file made in
    /// it inherits an access ACL. The file swelf writes must not: a 0750 file without an
    /// ACL, edited in place or written with `--output`, still has no ACL and mode 0750 (not
    /// nobody's rwx). A file with an ACL of its own keeps exactly that ACL.
    func testDefaultACLOfTheDirectoryIsNotInherited() throws {
        try requireTool("/usr/bin/setfacl", hint: "the acl package is needed; run scripts/install-test-deps")
        try requireTool("/usr/bin/getfacl", hint: "the acl package is needed; run scripts/install-test-deps")
        let box = try ScratchDirectory("acl")
        let input = try box.copy("x86_64/hello", into: box.url)
        XCTAssertEqual(chmod(input.path, 0o750), 0)
        let directory = try box.dir("inheriting")
        let set = try runTool("/usr/bin/setfacl", ["-d", "-m", "u:nobody:rwx", directory.path])
        guard set.status == 0 else { throw XCTSkip("this filesystem refuses ACLs (setfacl: \(set.stderr)); the case cannot arise here") }
        let plain = "user::rwx\ngroup::r-x\nother::---\n\n"

        let file = try box.copy("x86_64/hello", into: directory, as: "plain")
        XCTAssertEqual(try runTool("/usr/bin/setfacl", ["-b", file.path]).status, 0)   // as if it came from elsewhere
        XCTAssertEqual(chmod(file.path, 0o750), 0)
        XCTAssertEqual(try acl(file), plain)
        let output = directory.appendingPathComponent("output")
        for (args, target, tag) in [(["--set-rpath", "/acl", file.path], file, "in place"),
                                    (["--set-rpath", "/acl", "--output", output.path, input.path], output, "--output")] {
            let r = try swelf(args)
            XCTAssertEqual(r.status, 0, "[\(tag)] \(r.summary)")
            XCTAssertEqual(try acl(target), plain, "[\(tag)] the new file inherited the directory's default ACL")
            XCTAssertEqual(String(try XCTUnwrap(status(target.path)).st_mode & 0o7777, radix: 8), "750", "[\(tag)] mode")
            XCTAssertEqual(try dynamicValue(target, tag: "RUNPATH"), ["/acl"], "[\(tag)]")
        }

        let own = try box.copy("x86_64/hello", into: directory, as: "own-acl")
        XCTAssertEqual(try runTool("/usr/bin/setfacl", ["-b", own.path]).status, 0)
        XCTAssertEqual(chmod(own.path, 0o750), 0)
        XCTAssertEqual(try runTool("/usr/bin/setfacl", ["-m", "u:daemon:r-x", own.path]).status, 0)
        let before = try acl(own), mode = try XCTUnwrap(status(own.path)).st_mode & 0o7777
        XCTAssertTrue(before.contains("user:daemon:r-x"), before)
        let r = try swelf(["--set-rpath", "/acl", own.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try acl(own), before, "a file's own ACL was not kept exactly")
        XCTAssertEqual(try XCTUnwrap(status(own.path)).st_mode & 0o7777, mode)
    }

    /// `lsattr -d`'s flag letters of a file ("--S--dA--------e-------").
    func fileFlags(_ url: URL) throws -> String {
        let r = try runTool("/usr/bin/lsattr", ["-d", url.path])
        XCTAssertEqual(r.status, 0, r.summary)
        return String(r.stdout.split(separator: " ").first ?? "")
    }

    /// The chattr flags nodump (d), noatime (A) and sync (S) are kept by an edit in place
    /// and by an edit through `--output` over an existing file; immutable (i) and
    /// append-only (a) files are refused and left alone. Needs a filesystem with these
    /// flags (ext4, as /tmp is in CI); elsewhere it is skipped, saying so.
    func testFileAttributeFlagsAreKept() throws {
        try requireTool("/usr/bin/chattr", hint: "e2fsprogs is needed; run scripts/install-test-deps")
        try requireTool("/usr/bin/lsattr", hint: "e2fsprogs is needed; run scripts/install-test-deps")
        let box = try ScratchDirectory("chattr")
        let input = try box.copy("x86_64/hello", into: box.url)
        let file = try box.copy("x86_64/hello", into: box.url, as: "flagged")
        let set = try runTool("/usr/bin/chattr", ["+dAS", file.path])
        guard set.status == 0 else {
            throw XCTSkip("the filesystem of \(box.url.path) refuses FS_IOC_SETFLAGS (chattr: \(set.stderr)); this case cannot be checked here")
        }
        let flags = try fileFlags(file)
        XCTAssertTrue(flags.contains("d") && flags.contains("A") && flags.contains("S"), flags)
        var r = try swelf(["--set-rpath", "/flags", file.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try fileFlags(file), flags, "the flags were not kept by an edit in place")
        XCTAssertEqual(try dynamicValue(file, tag: "RUNPATH"), ["/flags"])
        r = try swelf(["--set-rpath", "/other", "--output", file.path, input.path])
        XCTAssertEqual(r.status, 0, r.summary)
        XCTAssertEqual(try fileFlags(file), flags, "the flags were not kept by --output over the file")

        guard geteuid() == 0 else { return }   // only root may set i and a
        for flag in ["i", "a"] {
            let locked = try box.copy("x86_64/hello", into: box.url, as: "locked-\(flag)")
            XCTAssertEqual(try runTool("/usr/bin/chattr", ["+\(flag)", locked.path]).status, 0)
            defer { _ = try? runTool("/usr/bin/chattr", ["-\(flag)", locked.path]) }
            let before = try bytes(locked), names = try listing(box.url)
            r = try swelf(["--set-rpath", "/x", locked.path])
            XCTAssertEqual(r.status, 1, r.summary)
            XCTAssertTrue(r.stderr.contains(flag == "i" ? "immutable" : "append-only"), r.summary)
            XCTAssertEqual(try bytes(locked), before)
            XCTAssertEqual(try listing(box.url), names, "stray files")
        }
    }

    /// Under a file-size limit smaller than the new file (`ulimit -f`), the write fails
    /// with EFBIG: one line of error, exit 1, the input byte-identical, no temporary.
    /// (Before, SIGXFSZ killed swelf with no message.)
    func testFileSizeLimitIsAnErrorNotASignal() throws {
        let box = try ScratchDirectory("fsize")
        let file = try box.copy("x86_64/hello", into: box.url)
        let before = try bytes(file), names = try listing(box.url)
        XCTAssertGreaterThan(before.count, 8 * 1024)
        // bash's ulimit -f counts 1024-byte blocks: 8 KiB, half of hello.
        let r = try runTool("/bin/bash", ["-c", "ulimit -f 8; exec \"$0\" --set-rpath '$ORIGIN/lib' \"$1\"", E2E.swelf, file.path])
        XCTAssertEqual(r.status, 1, "expected exit 1, not death by SIGXFSZ (Foundation reports the signal, 25):\n\(r.summary)")
        XCTAssertTrue(r.stderr.contains("File too large"), r.summary)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "expected one line:\n\(r.summary)")
        XCTAssertEqual(try bytes(file), before, "the input changed")
        XCTAssertEqual(try listing(box.url), names, "stray files")
    }
}
