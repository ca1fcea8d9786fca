// swift-tools-version: 6.2
// libFuzzer harnesses for relaylab's parsers and state machines (see README.md).
// Build with Fuzz/run.sh, which adds -sanitize=fuzzer,address; a plain `swift build` here makes
// nothing useful (libFuzzer supplies main()).

import PackageDescription

let harnesses: [(name: String, products: [String])] = [
    ("fuzz-cdb-reader", ["CDB"]),
    ("fuzz-cdbmake", ["CDB"]),
    ("fuzz-tcprules", ["CDB", "TCPRules"]),
    ("fuzz-scenario", ["Scenarios", "Replay"]),
    ("fuzz-capture", ["Capture"]),
    ("fuzz-reassembly", ["Capture"]),
    ("fuzz-dialogue", ["Capture"]),
    ("fuzz-engine", ["CDB", "TCPRules", "RelayEngine"]),
]

let package = Package(
    name: "relaylab-fuzz",
    dependencies: [.package(name: "relaylab", path: "../")],
    targets: [
        .target(
            name: "FuzzSupport", dependencies: [.product(name: "Capture", package: "relaylab")],
            path: "Sources/FuzzSupport"),
    ] + harnesses.map { harness in
        .executableTarget(
            name: harness.name,
            dependencies: ["FuzzSupport"] + harness.products.map { .product(name: $0, package: "relaylab") },
            path: "Sources/\(harness.name)",
            swiftSettings: []
        )
    }
)
