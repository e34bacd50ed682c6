// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let targets: [Target] = [
    // Pure model: units, ranges, allocator, label codec. Standard library only.
    .target(name: "DaxPoolCore", swiftSettings: strictSettings),
    // Codable wire types shared by the daemon and the CLI.
    .target(name: "DaxPoolAPI", dependencies: ["DaxPoolCore"], swiftSettings: strictSettings),
    // C wrappers for what Swift cannot reach: fallocate, memfd, non-temporal stores.
    .target(name: "CLinuxShims", cSettings: [.define("_GNU_SOURCE")]),
    // Every system call, through one funnel (typed flags, Errno, EINTR retried) that tests can interpose on.
    .target(
        name: "DaxPoolSystem",
        dependencies: ["CLinuxShims", .product(name: "SystemPackage", package: "swift-system")],
        swiftSettings: strictSettings
    ),
    // Linux backends (shm, hugetlb, devdax), sysfs, state stores, signals.
    .target(
        name: "DaxPoolLinux",
        dependencies: [
            "DaxPoolCore", "CLinuxShims", "DaxPoolSystem",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ],
        swiftSettings: strictSettings
    ),
    // A small blocking HTTP/1.1 client over a Unix socket, used by the CLI, the tests and benchmarks.
    .target(
        name: "DaxPoolClient",
        dependencies: [
            "DaxPoolAPI", "DaxPoolCore", "DaxPoolSystem", .product(name: "SystemPackage", package: "swift-system"),
        ],
        swiftSettings: strictSettings
    ),
    // The daemon: state, persistence, API routes. Takes backends as protocol values.
    .target(
        name: "DaxPoolServer",
        dependencies: [
            "DaxPoolCore", "DaxPoolAPI", "CLinuxShims", "DaxPoolSystem",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ],
        swiftSettings: strictSettings
    ),
    .executableTarget(
        name: "daxpool",
        dependencies: [
            "DaxPoolCore", "DaxPoolAPI", "DaxPoolClient", "DaxPoolLinux", "DaxPoolServer", "DaxPoolSystem",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
        ],
        swiftSettings: strictSettings
    ),
    // What several test targets and the benchmarks share: throwaway users for the threat model's tenants, the seeded
    // generator, daxpool's first allocator (test oracle and benchmark baseline).
    .target(
        name: "DaxPoolTestSupport", dependencies: ["DaxPoolCore", "DaxPoolSystem"], path: "Tests/DaxPoolTestSupport",
        swiftSettings: strictSettings),
    .testTarget(
        name: "DaxPoolCoreTests",
        dependencies: [
            "DaxPoolCore", "DaxPoolAPI", "DaxPoolTestSupport",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ],
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "DaxPoolLinuxTests",
        dependencies: [
            "DaxPoolLinux", "DaxPoolCore", "CLinuxShims", "DaxPoolSystem", "DaxPoolTestSupport",
            // The routing of memory-error signals into the pool service is tested with real signals here.
            "DaxPoolServer", "DaxPoolAPI", "DaxPoolClient",
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ],
        // Captured sysfs trees and daxctl output from the real kernel, read by path.
        exclude: ["Fixtures"],
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "DaxPoolServerTests",
        dependencies: ["DaxPoolServer", "DaxPoolCore", "DaxPoolAPI", "DaxPoolClient", "DaxPoolTestSupport"],
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "DaxPoolClientTests",
        dependencies: ["DaxPoolClient", "DaxPoolAPI", "DaxPoolTestSupport"],
        swiftSettings: strictSettings
    ),
    .testTarget(
        name: "daxpoolTests",
        dependencies: ["DaxPoolAPI", "DaxPoolClient", "DaxPoolCore", "DaxPoolTestSupport"],
        swiftSettings: strictSettings
    ),
]

let package = Package(
    name: "daxpool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "daxpool", targets: ["daxpool"]),
        .library(name: "DaxPoolCore", targets: ["DaxPoolCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", exact: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", exact: "1.35.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
    ],
    targets: targets
)

// Benchmarks stay out of the default build graph: `DAXPOOL_BENCHMARKS=1 swift run -c release daxpool-bench`.
if Context.environment["DAXPOOL_BENCHMARKS"] != nil {
    package.targets.append(
        .executableTarget(
            name: "daxpool-bench",
            dependencies: [
                "DaxPoolCore", "DaxPoolAPI", "DaxPoolClient", "DaxPoolLinux", "DaxPoolServer", "CLinuxShims",
                "DaxPoolTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/daxpool-bench",
            swiftSettings: strictSettings
        )
    )
}
