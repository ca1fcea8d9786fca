// swift-tools-version: 6.1
// relaylab's benchmarks (ordo-one/benchmark), kept out of the main package so that its
// dependencies — and tinycdb's C library, the reference the cdb lookups are measured against —
// never reach relaylab's users.
//
//   cd Benchmarks && swift package --disable-sandbox benchmark --target CDBBenchmarks

import PackageDescription

let package = Package(
    name: "relaylab-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "relaylab", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // tinycdb's C library (Debian: libcdb-dev), measured in the same run as relaylab's CDB.
        .systemLibrary(
            name: "CTinyCDB",
            path: "Sources/CTinyCDB",
            providers: [.apt(["libcdb-dev"]), .brew(["tinycdb"])]
        ),
        .executableTarget(
            name: "CDBBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CDB", package: "relaylab"),
                "CTinyCDB",
            ],
            path: "Benchmarks/CDBBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
