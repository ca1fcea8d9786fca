// swift-tools-version: 6.2
// relaylab: replay SMTP traffic and scenarios through a byte-exact simulation of
// qmail's tcpserver -> rblsmtpd -> qmail-smtpd chain and diff every decision.

import PackageDescription

let package = Package(
    name: "relaylab",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "relaylab", targets: ["relaylab"]),
        .library(name: "CDB", targets: ["CDB"]),
        .library(name: "TCPRules", targets: ["TCPRules"]),
        .library(name: "RelayEngine", targets: ["RelayEngine"]),
        .library(name: "Capture", targets: ["Capture"]),
        .library(name: "Scenarios", targets: ["Scenarios"]),
        .library(name: "Replay", targets: ["Replay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
    ],
    targets: [
        // Layer 1: D. J. Bernstein's constant database, no dependencies.
        .target(name: "CDB"),
        // Layer 2: tcprules source, compiler and tcpserver's matcher.
        .target(name: "TCPRules", dependencies: ["CDB"]),
        // Layer 3: the relay chain simulation (tcpserver, rblsmtpd, qmail-smtpd).
        .target(name: "RelayEngine", dependencies: ["CDB", "TCPRules"]),
        // Layer 4a: packet captures through libpcap.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"]), .brew(["libpcap"])]
        ),
        // Strict memory safety: every unsafe expression is marked (they live in the `_` files).
        .target(name: "Capture", dependencies: ["CPcap"], swiftSettings: [.strictMemorySafety()]),
        // Measures the Capture layer on capture files (scripts/make-bench-capture makes one).
        .executableTarget(name: "CaptureBench", dependencies: ["Capture"], path: "Sources/CaptureBench"),
        // Layer 4b: YAML scenario files.
        .target(
            name: "Scenarios",
            dependencies: ["RelayEngine", "TCPRules", .product(name: "Yams", package: "Yams")]
        ),
        // Layer 5: replay, diff, compare, audit and reports.
        .target(
            name: "Replay",
            dependencies: [
                "CDB", "TCPRules", "RelayEngine", "Capture", "Scenarios",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // Layer 6: the thin command-line front end.
        .executableTarget(
            name: "relaylab",
            dependencies: [
                "CDB", "TCPRules", "RelayEngine", "Capture", "Scenarios", "Replay",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),

        // Shared test helpers: fixture paths, external tools, seeded randomness.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "CDBTests", dependencies: ["CDB", "TestSupport"]),
        .testTarget(name: "TCPRulesTests", dependencies: ["TCPRules", "CDB", "TestSupport"]),
        .testTarget(name: "RelayEngineTests", dependencies: ["RelayEngine", "TCPRules", "CDB", "TestSupport"]),
        .testTarget(name: "CaptureTests", dependencies: ["Capture", "TestSupport"]),
        .testTarget(name: "ScenariosTests", dependencies: ["Scenarios", "RelayEngine", "TCPRules", "CDB", "TestSupport"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "Capture", "Scenarios", "RelayEngine", "TestSupport"]),
        .testTarget(name: "RelayLabCLITests", dependencies: ["TestSupport"]),
    ]
)

// Package-wide settings, applied to every Swift target (as swift-log does).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    settings.append(.enableUpcomingFeature("InternalImportsByDefault"))
    target.swiftSettings = settings
}
