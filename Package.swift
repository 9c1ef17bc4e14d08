// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "BranchSync",
    products: [
        .executable(name: "branchsync", targets: ["branchsync"]),
        .executable(name: "branchsync-bench", targets: ["branchsync-bench"]),
        .executable(name: "branchsync-fuzz", targets: ["branchsync-fuzz"]),
        .library(name: "BranchSyncCore", targets: ["BranchSyncCore"]),
        .library(name: "BranchSyncStore", targets: ["BranchSyncStore"]),
    ],
    targets: [
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(name: "CLinux"),
        .target(name: "BranchSyncCore"),
        .target(name: "BranchSyncCrypto", dependencies: ["COpenSSL"]),
        .target(name: "BranchSyncWire", dependencies: ["BranchSyncCore"]),
        .target(
            name: "BranchSyncNode",
            dependencies: [
                "BranchSyncCore", "BranchSyncWire", "BranchSyncStore", "BranchSyncCrypto", "COpenSSL", "CLinux",
            ]
        ),
        .target(name: "BranchSyncStore", dependencies: ["BranchSyncCore", "BranchSyncCrypto", "CSQLite"]),
        .target(
            name: "BranchSyncCommands",
            dependencies: ["BranchSyncCore", "BranchSyncStore", "BranchSyncNode", "BranchSyncWire", "BranchSyncCrypto"]
        ),
        .executableTarget(name: "branchsync", dependencies: ["BranchSyncCommands"]),
        .executableTarget(
            name: "branchsync-bench",
            dependencies: [
                "BranchSyncCore", "BranchSyncStore", "BranchSyncCommands", "BranchSyncNode", "BranchSyncWire",
                "BranchSyncFleet",
            ]
        ),
        .target(
            name: "BranchSyncFleet",
            dependencies: ["BranchSyncCore", "BranchSyncCrypto", "BranchSyncNode", "BranchSyncStore", "BranchSyncWire"]),
        .target(name: "BranchSyncFuzzing", dependencies: ["BranchSyncCore", "BranchSyncWire"]),
        .executableTarget(name: "branchsync-fuzz", dependencies: ["BranchSyncFuzzing"]),
        .target(name: "BranchSyncTestSupport", path: "Tests/BranchSyncTestSupport"),
        .testTarget(name: "BranchSyncCoreTests", dependencies: ["BranchSyncCore", "BranchSyncTestSupport"]),
        .testTarget(
            name: "BranchSyncStoreTests",
            dependencies: ["BranchSyncCore", "BranchSyncStore", "BranchSyncCrypto", "BranchSyncTestSupport"]),
        .testTarget(
            name: "BranchSyncWireTests",
            dependencies: [
                "BranchSyncCore", "BranchSyncWire", "BranchSyncCrypto", "BranchSyncFuzzing", "BranchSyncTestSupport",
            ]),
        .testTarget(
            name: "BranchSyncNodeTests",
            dependencies: [
                "BranchSyncCore", "BranchSyncWire", "BranchSyncStore", "BranchSyncNode", "BranchSyncCrypto",
                "BranchSyncTestSupport", "BranchSyncFleet",
            ]
        ),
        .testTarget(
            name: "BranchSyncCommandsTests",
            dependencies: [
                "BranchSyncCommands", "BranchSyncStore", "BranchSyncCore", "BranchSyncWire", "BranchSyncTestSupport",
                "BranchSyncFleet", "BranchSyncCrypto", "branchsync",
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
