import Foundation
import Testing
@testable import ELFKitPackaging

/// `swelf relocate` on trees larger than one chunk (a failure only the writes would meet
/// found before the first write), and `--origin` (run paths into the moved tree written
/// relative to each file). The tree is `RelocateTests.build`'s; the programs run after
/// every move are the oracle, with readelf.
@Suite struct RelocateTreeTests {
    /// A tree of 12 copies of the program plus its library, script, .pc file and link,
    /// written in chunks of 4 (SWELF_CHUNK, the test hook), where p10, in the third
    /// chunk, is locked by another process (this one, as another swelf editing it would):
    /// the check pass finds it busy, so no file changes although two chunks precede it;
    /// with --keep-going the others are written and p10 is left as it was.
    @Test func aBusyFileInALaterChunkLeavesEveryFileUntouched() throws {
        let tree = try RelocateTests.build(purpose: "chunks")
        let new = tree.scratch.path("n")
        let bin = tree.old + "/bin/"
        for index in 1 ... 12 { try FileManager.default.copyItem(atPath: bin + "app", toPath: bin + String(format: "p%02d", index)) }
        try FileManager.default.removeItem(atPath: bin + "cxxapp")
        let locked = bin + "p10"
        let descriptor = open(locked, O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0 && flock(descriptor, LOCK_EX) == 0)
        defer { close(descriptor) }
        let before = try RelocateTests.Tree.snapshot(tree.old)
        let chunked = ["SWELF_CHUNK": "4"]
        let swelf = try #require(Swelf.path)

        let stopped = try ChildProcess.run(swelf, ["relocate", "-j", "2", tree.old, new, tree.old], environment: chunked)
        #expect(stopped.status == 1, "\(stopped)")
        let errors = stopped.stderr.split(separator: "\n")
        #expect(errors.count == 1 && errors.first?.contains(locked) == true && errors.first?.contains("locked by another process") == true,
                "\(stopped.stderr)")
        #expect(stopped.stdout.hasSuffix("1 failed, 16 not written\n"), "\(stopped.stdout)")
        #expect(try RelocateTests.Tree.snapshot(tree.old) == before)

        let going = try ChildProcess.run(swelf, ["relocate", "--keep-going", tree.old, new, tree.old], environment: chunked)
        #expect(going.status == 1, "\(going)")
        #expect(going.stdout.contains(" 16 changed,") && going.stdout.hasSuffix("1 failed, 0 not written\n"), "\(going.stdout)")
        let after = try RelocateTests.Tree.snapshot(tree.old)
        #expect(after["bin/p10"] == before["bin/p10"])
        for index in [1, 9, 11, 12] {
            let program = bin + String(format: "p%02d", index)
            #expect(after[String(program.dropFirst(tree.old.count + 1))] != before[String(program.dropFirst(tree.old.count + 1))])
            #expect(try RelocateTests.readelfRunPath(program) == new + "/lib")
        }
        // Written from the checked plans (data strings and run path): moved, they run.
        try FileManager.default.moveItem(atPath: tree.old, toPath: new)
        for program in ["p01", "p12"] {
            let run = try tree.run(program, root: new)
            #expect(run.status == 0 && run.stdout == "\(new)/etc/greet.conf|\(new)/share/app/data|PATH=\(new)/bin:\(new)/sbin|hello data\n",
                    "\(run)")
        }
    }

    /// --origin, relocated before the move (the files under OLD) and after it (under
    /// NEW): the program's run path becomes `$ORIGIN/../lib`; moved to NEW it runs, and a
    /// copy of the tree anywhere else still finds its library (the data path, a C string,
    /// stays NEW's, so the copy reads NEW's data).
    @Test(arguments: ["gcc", "aarch64-linux-gnu-gcc"])
    func originRunPathsFollowTheTree(compiler: String) throws {
        guard RelocateTests.toolsPresent(compiler) else {
            Issue.record("\(compiler) or \(RelocateTests.qemu) missing: run scripts/install-test-deps")
            return
        }
        for movedFirst in [false, true] {
            let tree = try RelocateTests.build(compiler: compiler, purpose: "origin-\(movedFirst)")
            let new = tree.scratch.path("n")
            var root = tree.old
            if movedFirst {
                try FileManager.default.moveItem(atPath: tree.old, toPath: new)
                root = new
            }
            let result = try Swelf.run(["relocate", "--origin", tree.old, new, root])
            #expect(result.status == 0 && !result.stderr.contains("--origin"), "\(result)")
            #expect(result.stdout.contains("bin/app: run_path: \(tree.old)/lib -> $ORIGIN/../lib\n"), "\(result.stdout)")
            #expect(try RelocateTests.readelfRunPath(root + "/bin/app") == "$ORIGIN/../lib")
            if !movedFirst { try FileManager.default.moveItem(atPath: tree.old, toPath: new) }
            let expected = "\(new)/etc/greet.conf|\(new)/share/app/data|PATH=\(new)/bin:\(new)/sbin|hello data\n"
            let run = try tree.run("app", root: new)
            #expect(run.status == 0 && run.stdout == expected, "\(run)")
            // A copy elsewhere loads its own library (removed from NEW to prove it).
            let copy = tree.scratch.path("copy")
            let copied = try ChildProcess.run("/bin/cp", ["-a", new, copy])
            try #require(copied.status == 0, "\(copied)")
            try FileManager.default.removeItem(atPath: new + "/lib/libgreet.so")
            let moved = try tree.run("app", root: copy)
            #expect(moved.status == 0 && moved.stdout == expected, "\(moved)")
        }
    }

    /// A tree under neither OLD nor NEW (a staging copy): where it will be is unknown, so
    /// run paths stay absolute, with one warning for the run.
    @Test func originOutsideOldAndNewStaysAbsolute() throws {
        let tree = try RelocateTests.build(purpose: "origin-staged")
        let staged = tree.scratch.path("staging")
        try FileManager.default.moveItem(atPath: tree.old, toPath: staged)
        let result = try Swelf.run(["relocate", "--origin", tree.old, tree.scratch.path("n"), staged])
        #expect(result.status == 0, "\(result)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.contains("--origin") }
        #expect(warnings.count == 1 && warnings.first?.contains("run paths stay absolute") == true, "\(result.stderr)")
        #expect(try RelocateTests.readelfRunPath(staged + "/bin/app") == tree.scratch.path("n") + "/lib")
    }

    /// The Rust compilers here: Debian's (scripts/install-test-deps; 1.63 writes no
    /// `rustc version` comment, so it is recognised by its standard library) and a
    /// rustup one on PATH (recent: recognised by its comment).
    static var rustCompilers: [String] {
        var found: [String] = []
        for candidate in ["/usr/bin/rustc", ChildProcess.path("rustc"), "/root/.cargo/bin/rustc"].compactMap({ $0 })
            where FileManager.default.isExecutableFile(atPath: candidate) {
            let real = (try? FileManager.default.destinationOfSymbolicLink(atPath: candidate)) ?? candidate
            if !found.contains(where: { $0 == candidate || $0 == real }) { found.append(candidate) }
        }
        return found
    }

    /// A Rust program's string literals are packed like Go's (`OLD` then `OLD/share/app/data`
    /// back to back): to a shorter prefix each occurrence is slash-padded to the same
    /// length and the program, moved, reads its data; to a longer one the run is refused
    /// at the occurrence's offset and nothing is written.
    @Test func rustStringsKeepTheirLength() throws {
        let compilers = Self.rustCompilers
        guard !compilers.isEmpty else {
            Issue.record("rustc missing: run scripts/install-test-deps")
            return
        }
        for (index, rustc) in compilers.enumerated() {
            let tree = try RelocateTests.build(purpose: "rust-\(index)")
            let source = tree.scratch.path("src/rsapp.rs")
            try """
                use std::fs;
                const DATA: &str = "\(tree.old)/share/app/data";
                fn main() {
                    let prefix = "\(tree.old)";
                    let text = fs::read_to_string(DATA).unwrap_or_else(|_| "cannot open\\n".to_string());
                    print!("{} {}|{}|{}", DATA.len(), DATA, prefix, text);
                }

                """.write(toFile: source, atomically: true, encoding: .utf8)
            let built = try ChildProcess.run(rustc, ["-O", "-o", tree.old + "/bin/rsapp", source])
            try #require(built.status == 0, "\(rustc): \(built.stderr)")
            let length = (tree.old + "/share/app/data").utf8.count
            let program = try Data(contentsOf: URL(fileURLWithPath: tree.old + "/bin/rsapp"))
            // Packed: the data path follows the prefix with no NUL between them.
            let packed = try #require(program.range(of: Data((tree.old + tree.old + "/share/app/data").utf8)), "\(rustc): not packed")

            let longer = tree.scratch.path("a_much_longer_prefix_than_the_placeholder_was_when_it_was_built/x/y")
            let before = try RelocateTests.Tree.snapshot(tree.old)
            let refused = try Swelf.run(["relocate", tree.old, longer, tree.old])
            #expect(refused.status == 1, "\(refused)")
            #expect(refused.stderr.contains("\(tree.old)/bin/rsapp: .rodata at offset 0x\(String(packed.lowerBound, radix: 16)): ")
                    && refused.stderr.contains("Rust string"), "\(rustc): \(refused.stderr)")
            #expect(try RelocateTests.Tree.snapshot(tree.old) == before)

            let new = tree.scratch.path("n")
            let result = try Swelf.run(["relocate", tree.old, new, tree.old])
            #expect(result.status == 0, "\(rustc): \(result)")
            try FileManager.default.moveItem(atPath: tree.old, toPath: new)
            let padded = RelocateTests.padded(new, to: tree.old)
            let run = try ChildProcess.run(new + "/bin/rsapp", [])
            #expect(run.status == 0 && run.stdout == "\(length) \(padded)/share/app/data|\(padded)|hello data\n", "\(rustc): \(run)")
        }
    }

    /// The relative path itself, against cases worked out by hand.
    @Test(arguments: [
        ("/opt/x/lib", "/opt/x/bin", "/opt/x", "$ORIGIN/../lib"),
        ("/opt/x/lib", "/opt/x/lib", "/opt/x", "$ORIGIN"),
        ("/opt/x/lib/plugins", "/opt/x/lib", "/opt/x", "$ORIGIN/plugins"),
        ("/opt/x/lib64/../lib/", "/opt/x/libexec/a/b", "/opt/x", "$ORIGIN/../../../lib"),
        ("/opt/x", "/opt/x/bin", "/opt/x", "$ORIGIN/.."),
        ("//opt/./x/lib", "/opt/x/bin", "/opt/x", "$ORIGIN/../lib"),
    ])
    func relativePaths(entry: String, directory: String, tree: String, expected: String) {
        let result = OriginRelativePath.relative(Array(entry.utf8), from: Array(directory.utf8), tree: Array(tree.utf8))
        #expect(result.map { String(decoding: $0, as: UTF8.self) } == expected)
    }

    /// Outside the moved tree nothing is made relative: the entry or the file elsewhere.
    @Test func nothingRelativeOutsideTheTree() {
        #expect(OriginRelativePath.relative(Array("/usr/lib".utf8), from: Array("/opt/x/bin".utf8), tree: Array("/opt/x".utf8)) == nil)
        #expect(OriginRelativePath.relative(Array("/opt/x/lib".utf8), from: Array("/srv/bin".utf8), tree: Array("/opt/x".utf8)) == nil)
        #expect(OriginRelativePath.relative(Array("/opt/xy/lib".utf8), from: Array("/opt/xy/bin".utf8), tree: Array("/opt/x".utf8)) == nil)
    }
}
