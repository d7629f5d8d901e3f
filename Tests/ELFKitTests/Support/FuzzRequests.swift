import ELFKit

/// The edit requests of the libFuzzer target. One list for both users: scripts/fuzz
/// compiles this file into Tests/Fuzz/SwelfFuzz.swift's program, and FixtureTests replays
/// every kept crash input with the same requests on each test run. String literals stand
/// for their UTF-8 bytes here (ByteLiterals.swift in the test target, SwelfFuzz.swift in
/// the fuzzer).
enum FuzzRequests {
    static let all: [EditRequest] = {
        var list: [EditRequest] = []
        func make(_ body: (inout EditRequest) -> Void) { var request = EditRequest(); body(&request); list.append(request) }
        make { $0.runPath = .set("/opt/fuzz/lib:$ORIGIN") }
        make { $0.runPath = .add("/opt/fuzz/lib") }
        make { $0.runPath = .remove }
        make { $0.runPath = .shrink(allowedPrefixes: []) }
        make { $0.interpreter = "/lib/ld-fuzz-with-a-much-longer-name-than-any-real-loader.so.1" }
        make { $0.soname = "libfuzz.so.7" }
        make { $0.addNeeded = ["libfuzz.so.1"] }
        make { $0.removeNeeded = ["libc.so.6"] }
        make { $0.replaceNeeded = [("libc.so.6", "libfuzz-c.so.6")] }
        make { $0.noDefaultLib = true }
        make { $0.osABI = OSABI(rawValue: 3) }
        make { $0.executableStack = true }
        make { $0.executableStack = false }
        make { $0.addDebugTag = true }
        make { $0.clearSymbolVersions = ["puts", "ver_new"] }
        make { $0.renameSymbols = ["puts": "fuzz_puts", "greet": "greet2", "ver_new": "ver_fuzz"] }
        make { $0.runPath = .set("/a"); $0.forceRPath = true; $0.addNeeded = ["libx.so"]; $0.pageSize = 0x10000 }
        return list
    }()
}
