import Foundation
import Testing

/// Bytes are bytes (issue 8, items 8 and 9): values, `@FILE` contents and file names reach
/// the file and the system calls byte for byte, whatever their encoding; the argument
/// parser splits as patchelf 0.19.3 does. Arguments with invalid UTF-8 cannot pass
/// through Foundation's `Process` (it takes Strings), so each case is a `/bin/sh` script
/// that makes its bytes with `printf '\ooo'` and runs swelf and patchelf on copies.
@Suite struct BytesTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    /// Whether `haystack` holds `needle` followed by NUL (a string in a string table).
    static func holdsString(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        let pattern = needle + [0]
        guard haystack.count >= pattern.count else { return false }
        for start in 0 ... haystack.count - pattern.count where haystack[start] == pattern[0] {
            if Array(haystack[start ..< start + pattern.count]) == pattern { return true }
        }
        return false
    }

    /// `--set-rpath`, `--add-needed`, `--set-soname`, `--set-interpreter` with Latin-1 and
    /// stray bytes: the file holds exactly those bytes (never U+FFFD's `ef bf bd`), patchelf
    /// reads them back the same, and patchelf given the same arguments writes the same
    /// strings.
    @Test(arguments: [
        ("--set-rpath", "hello", "--print-rpath", #"/opt/caf\351:/x\377y"#),
        ("--add-needed", "hello", "--print-needed", #"lib\351\200.so"#),
        ("--set-soname", "libgreet.so.1", "--print-soname", #"libcaf\351.so.\3771"#),
        ("--set-interpreter", "hello", "--print-interpreter", #"/lib64/ld-linux-x86-64.so.2\351"#),
    ])
    func invalidUTF8ValueWrittenByteExact(option: String, subject: String, print: String, value: String) throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            cp "$T/\(subject)" "$D/ours"; cp "$T/\(subject)" "$D/theirs"; chmod u+w "$D/ours" "$D/theirs"
            "$SWELF" \(option) "$(printf '\(value)')" "$D/ours"
            "$PATCHELF" \(option) "$(printf '\(value)')" "$D/theirs"
            "$PATCHELF" \(print) "$D/ours" > "$D/ours.printed"
            "$PATCHELF" \(print) "$D/theirs" > "$D/theirs.printed"
            "$SWELF" \(print) "$D/ours" > "$D/ours.swelf-printed"
            printf '\(value)' > "$D/value"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        let value = try scratch.contents("value")
        #expect(value.contains { $0 >= 0x80 })
        let ours = try scratch.contents("ours")
        let held = BytesTests.holdsString(ours, value)
        #expect(held, "\(option): the file does not hold the value's bytes")
        #expect(try scratch.contents("ours.printed") == scratch.contents("theirs.printed"),
                "\(option): patchelf reads swelf's result differently from its own")
        #expect(try scratch.contents("ours.printed").split(separator: 0x0a).contains { Array($0) == value })
        #expect(try scratch.contents("ours.swelf-printed") == scratch.contents("ours.printed"))
        let replacement: [UInt8] = [0xef, 0xbf, 0xbd]
        let wroteReplacement = ours.indices.dropLast(2).contains { Array(ours[$0 ..< $0 + 3]) == replacement }
        #expect(!wroteReplacement, "U+FFFD was written")
    }

    /// A file whose name is not UTF-8 is opened, edited in place and via `--output`,
    /// printed, shown, and named byte for byte in an error message.
    @Test func fileNameWithInvalidUTF8() throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            name="$D/$(printf 'caf\\351')"; out="$D/$(printf 'out\\377')"
            cp "$T/hello" "$name"; chmod u+w "$name"
            "$SWELF" --set-rpath /edited "$name"
            "$SWELF" --print-rpath "$name" > "$D/rpath"
            "$SWELF" --add-needed libx.so --output "$out" "$name"
            "$PATCHELF" --print-needed "$out" > "$D/needed"
            "$SWELF" show "$name" > "$D/show"
            "$SWELF" verify "$name" > "$D/verify"
            "$SWELF" --print-rpath "$D/$(printf 'missing\\351')" 2> "$D/error" || echo failed > "$D/status"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.contents("rpath") == BytesTests.bytes("/edited\n"))
        #expect(try scratch.contents("needed").starts(with: BytesTests.bytes("libx.so\n")))
        let name = BytesTests.bytes(scratch.url.path + "/caf") + [0xe9]
        #expect(try scratch.contents("show").starts(with: name + BytesTests.bytes(":\n")))
        #expect(try scratch.contents("verify") == name + BytesTests.bytes(": ok\n"))
        #expect(try scratch.contents("status") == BytesTests.bytes("failed\n"))
        let error = try scratch.contents("error")
        #expect(BytesTests.holdsString(error + [0], BytesTests.bytes("swelf: " + scratch.url.path + "/missing") + [0xe9]
                                         + BytesTests.bytes(": cannot open: No such file or directory\n")), "\(String(decoding: error, as: UTF8.self))")
    }

    /// A CRLF map file renames `greet` to `hello`, not to `hello\r`, as patchelf does; an
    /// `@FILE` value keeps its CR LF, as patchelf does.
    @Test func crlfArgumentFiles() throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            printf 'greet hello\\r\\n\\r\\n' > "$D/map"
            printf '/x\\r\\n' > "$D/rpath"
            for who in SWELF PATCHELF; do
                eval tool=\\$$who
                cp "$T/libgreet.so.1" "$D/$who.so"; chmod u+w "$D/$who.so"
                "$tool" --rename-dynamic-symbols "$D/map" "$D/$who.so"
                readelf --dyn-syms -W "$D/$who.so" | awk '{ print $8 }' | sort > "$D/$who.symbols"
                "$tool" --set-rpath @"$D/rpath" "$D/$who.so"
                "$PATCHELF" --print-rpath "$D/$who.so" > "$D/$who.rpath"
            done
            """)
        #expect(run.status == 0, "\(run.stderr)")
        let symbols = try scratch.contents("SWELF.symbols")
        #expect(symbols.split(separator: 0x0a).contains { Array($0) == BytesTests.bytes("hello") })
        #expect(!symbols.contains(0x0d))
        #expect(try symbols == scratch.contents("PATCHELF.symbols"))
        #expect(try scratch.contents("SWELF.rpath") == BytesTests.bytes("/x\r\n\n"))
        #expect(try scratch.contents("SWELF.rpath") == scratch.contents("PATCHELF.rpath"))
    }

    /// An option that takes a value takes the next argument whatever it looks like:
    /// `--add-needed -weird`, `--add-needed --`, `--replace-needed -a -b`, as patchelf.
    @Test func valueThatLooksLikeAnOption() throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            for who in SWELF PATCHELF; do
                eval tool=\\$$who
                cp "$T/hello" "$D/$who"; chmod u+w "$D/$who"
                "$tool" --add-needed -weird --add-needed -- --set-soname --help "$D/$who" 2> "$D/$who.err" || true
                "$tool" --replace-needed -weird -b "$D/$who"
                "$PATCHELF" --print-needed "$D/$who" > "$D/$who.needed"
            done
            """)
        #expect(run.status == 0, "\(run.stderr)")
        let needed = try scratch.contents("SWELF.needed")
        #expect(needed.starts(with: BytesTests.bytes("--\n-b\n")), "\(String(decoding: needed, as: UTF8.self))")
        #expect(try needed == scratch.contents("PATCHELF.needed"))
    }

    /// `show --json` stays strict JSON and loses no byte: a name that is not UTF-8 is
    /// shown with U+FFFD and its exact bytes are in `raw_bytes` (hex); a consumer gets
    /// every name back exactly. Decoded here by Python and by Foundation's strict parser.
    @Test func jsonRawBytesRoundTrip() throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            name="$D/$(printf 'j\\351\\303\\251\\200')"
            cp "$T/hello" "$name"; chmod u+w "$name"
            "$SWELF" --set-rpath "$(printf '/caf\\351/\\342\\202\\254/\\300\\257/\\355\\240\\200/"\\\\')" --add-needed "$(printf 'lib\\377.so')" "$name"
            "$SWELF" show --json "$name" > "$D/json"
            python3 -c '
            import json, sys
            d = json.load(open(sys.argv[1]))["files"][0]
            raw = d.get("raw_bytes", {})
            def exact(key, index=None):
                text = d[key] if index is None else d[key][index]
                hexed = raw.get(key) if index is None else (raw.get(key) or [None] * len(d[key]))[index]
                return bytes.fromhex(hexed) if hexed is not None else text.encode("utf-8")
            out = open(sys.argv[2], "wb")
            for value in [exact("file"), exact("run_path")] + [exact("needed", i) for i in range(len(d["needed"]))]:
                out.write(value + b"\\n")
            ' "$D/json" "$D/decoded"
            printf '%s\\n' "$name" > "$D/expected"
            "$PATCHELF" --print-rpath --print-needed "$name" >> "$D/expected"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        let expected = try scratch.contents("expected")
        #expect(expected.contains(0xe9) && expected.contains(0xff) && expected.contains(0x80))
        #expect(try scratch.contents("decoded") == expected)
        // Strict JSON: Foundation's parser reads it, and names that are UTF-8 (€, the
        // needed libraries from the build) are plain text with no raw_bytes entry.
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(scratch.contents("json"))) as? [String: Any])
        let document = try #require((envelope["files"] as? [[String: Any]])?.first)
        let raw = try #require(document["raw_bytes"] as? [String: Any])
        #expect(Set(raw.keys) == ["file", "run_path", "needed"])
        #expect((document["run_path"] as? String)?.contains("/€/") == true)
        #expect((raw["needed"] as? [Any])?.dropFirst().allSatisfy { $0 is NSNull } == true)
    }

    /// A program and a library whose names, run-path and directory are not UTF-8: the
    /// edited program runs and finds the library; `ldd` prints the names and the path
    /// byte for byte, and `doctor --json` gives them back exactly through `raw_bytes`.
    @Test func loaderKeepsBytes() throws {
        let scratch = try ScratchDirectory("bytes")
        let run = try scratch.sh("""
            lib="$D/lib$(printf '\\351')"; app="$D/app$(printf '\\351')"; name="libgr$(printf '\\377').so"
            mkdir "$lib"; cp "$T/libgreet.so.1" "$lib/$name"; cp "$T/libunused.so" "$lib/"; cp "$T/hello" "$app"; chmod u+w "$app"
            "$SWELF" --set-rpath "$lib" --replace-needed libgreet.so.1 "$name" "$app"
            "$app" > "$D/ran"
            "$SWELF" ldd "$app" > "$D/ldd"
            printf '\\t%s => %s/%s (RUNPATH)\\n' "$name" "$lib" "$name" > "$D/ldd-expected"
            "$SWELF" doctor --json "$app" > "$D/json" || true
            python3 -c '
            import json, sys
            d = json.load(open(sys.argv[1]))["files"][0]
            out = open(sys.argv[2], "wb")
            def exact(o, key):
                raw = o.get("raw_bytes", {}).get(key)
                return bytes.fromhex(raw) if raw is not None else o[key].encode("utf-8")
            out.write(exact(d, "file") + b"\\n")
            for entry in d["libraries"]:
                if entry["status"] == "found" and entry["name"] != "libc.so.6" and "ld-linux" not in entry["name"]:
                    out.write(exact(entry, "name") + b" " + exact(entry, "path") + b"\\n")
            ' "$D/json" "$D/decoded"
            printf '%s\\n%s %s/%s\\nlibunused.so %s/libunused.so\\n' "$app" "$name" "$lib" "$name" "$lib" > "$D/expected"
            """)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try scratch.contents("ran") == BytesTests.bytes("hello from libgreet\nhello main done\n"))
        let ldd = try scratch.contents("ldd")
        let expectedLine = try scratch.contents("ldd-expected")
        let found = ldd.split(separator: 0x0a).contains { line in
            (Array(line) + [0x0a]).starts(with: expectedLine.dropLast(11)) && String(decoding: line, as: UTF8.self).contains("RUNPATH")
        }
        #expect(found, "\(String(decoding: ldd, as: UTF8.self))")
        let json = try scratch.contents("json")
        #expect(try scratch.contents("decoded") == scratch.contents("expected"), "\(String(decoding: json, as: UTF8.self))")
    }
}

/// The scratch directory of a BytesTests case, with `$SWELF`, `$PATCHELF`, `$T`
/// (TestBinaries/x86_64) and `$D` (this directory) for its scripts.
fileprivate extension ScratchDirectory {
    /// Runs `script` with `sh -c`; its stdout as bytes.
    func sh(_ script: String) throws -> (status: Int32, stdout: [UInt8], stderr: String) {
        guard let swelf = Swelf.path else { throw Swelf.NotBuilt() }
        let prelude = "SWELF='\(swelf)'; PATCHELF='\(Patchelf.path)'; T='\(Repo.testBinaries.path)/x86_64'; D='\(url.path)'; set -e\n"
        let result = try ChildProcess.run("/bin/sh", ["-c", prelude + script])
        return (result.status, result.stdoutBytes, result.stderr)
    }

    func contents(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url.appendingPathComponent(name)))
    }
}
