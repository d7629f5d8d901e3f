// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "swelf",
    products: [
        .library(name: "ELFKit", targets: ["ELFKit"]),
        .executable(name: "swelf", targets: ["swelf"]),
    ],
    targets: [
        .target(name: "ELFKit"),
        .executableTarget(name: "swelf", dependencies: ["ELFKit"]),
        .testTarget(name: "ELFKitTests", dependencies: ["ELFKit"]),
        .testTarget(name: "SwelfCLITests", dependencies: ["ELFKit"]),
        .testTarget(name: "SwelfEndToEndTests", dependencies: ["ELFKit"]),
    ]
)
