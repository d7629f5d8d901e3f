// swift-tools-version:6.0
import PackageDescription

// Layers, each a target so that the compiler keeps the boundaries:
//   ELFKitCore      bytes, constants, model, reader (also Go build info and versioned imports),
//                   system calls, the one thread pool (Overlap), the JSON writer
//   ELFKitEdit      edits, layout, writer: turns a request into a plan and writes it
//   ELFKitVerify    the verifier: judges an edited file from the original and the request; it
//                   depends on the core alone, so it can never ask the planner what it meant
//   ELFKitLoader    ld.so emulation: ld.so.cache, glibc and musl resolvers, loader environment,
//                   file system view (--root), LibraryResolution, host facts and probing
//   ELFKitDiagnosis doctor's and ldd's analysis (Diagnosis, Go checks), from the loader's
//                   resolution, and their reports (text, JSON)
//   ELFKitPackaging bundle (planner, policies, executor, report) and portability (report,
//                   facts, glibc and distribution release tables); it runs Diagnosis on each input
//   ELFKit          the front door: the pipeline (read, plan, verify, write) with its typed
//                   RewriteError, and the library product, which re-exports the targets above
//                   (their internals are `package`)
//   swelf           the command-line tool: parses arguments, calls the library, prints
let package = Package(
    name: "swelf",
    products: [
        .library(name: "ELFKit", targets: ["ELFKit"]),
        .executable(name: "swelf", targets: ["swelf"]),
    ],
    targets: [
        // System calls Swift's Glibc module does not import (copy_file_range, syncfs,
        // FICLONE, xattrs), called from C; part of the core's system-call layer.
        .target(name: "CSystemCalls"),
        .target(name: "ELFKitCore", dependencies: ["CSystemCalls"]),
        .target(name: "ELFKitEdit", dependencies: ["ELFKitCore"]),
        .target(name: "ELFKitVerify", dependencies: ["ELFKitCore"]),
        .target(name: "ELFKitLoader", dependencies: ["ELFKitCore"]),
        .target(name: "ELFKitDiagnosis", dependencies: ["ELFKitCore", "ELFKitLoader"]),
        .target(name: "ELFKitPackaging", dependencies: ["ELFKitCore", "ELFKitLoader", "ELFKitDiagnosis"]),
        .target(name: "ELFKit", dependencies: ["ELFKitCore", "ELFKitEdit", "ELFKitVerify", "ELFKitLoader",
                                               "ELFKitDiagnosis", "ELFKitPackaging"]),
        // argc and argv kept from a constructor, so that the static executable does not
        // take the Swift runtime's /proc/self/maps reader (see SwelfStartup.c).
        .target(name: "SwelfStartup"),
        .executableTarget(name: "swelf", dependencies: ["ELFKit", "SwelfStartup"]),
        .testTarget(name: "ELFKitTests", dependencies: [
            "ELFKit", "ELFKitCore", "ELFKitEdit", "ELFKitVerify", "ELFKitLoader", "ELFKitDiagnosis", "ELFKitPackaging",
        ]),
        .testTarget(name: "SwelfCLITests", dependencies: [
            "ELFKit", "ELFKitCore", "ELFKitEdit", "ELFKitVerify", "ELFKitLoader", "ELFKitDiagnosis", "ELFKitPackaging",
        ]),
        .testTarget(name: "SwelfEndToEndTests", dependencies: ["ELFKit"]),
    ]
)
