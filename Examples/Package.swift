// swift-tools-version:6.0
// What a program that uses swelf as a library looks like: one executable per task of the
// DocC articles (Sources/ELFKit/ELFKit.docc), each depending on the ELFKit product by path.
// scripts/test-examples builds them, runs them on TestBinaries, and checks that a client
// cannot write a file around the verifier (the target below, added only when asked for).
import PackageDescription

let package = Package(
    name: "Examples",
    dependencies: [
        // SwiftPM names a path dependency after its directory ("swelf" in a clone, but
        // anything in a worktree or a vendored copy) unless `name:` says it.
        .package(name: "swelf", path: ".."),
    ],
    targets: [
        .executableTarget(name: "set-origin-rpath", dependencies: [.product(name: "ELFKit", package: "swelf")]),
        .executableTarget(name: "why-wont-it-start", dependencies: [.product(name: "ELFKit", package: "swelf")]),
    ]
)

// A client that writes an edited file without the verifier, by calling the planner and
// the writer itself: it must not compile. Built only by scripts/test-examples
// (ELFKIT_EXAMPLES_UNVERIFIED=1), which checks that the compiler refuses each of them.
if Context.environment["ELFKIT_EXAMPLES_UNVERIFIED"] != nil {
    package.targets.append(.executableTarget(
        name: "write-around-the-verifier", dependencies: [.product(name: "ELFKit", package: "swelf")],
        path: "Unverified/write-around-the-verifier"))
}
