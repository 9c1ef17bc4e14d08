// swift-tools-version:6.0
import PackageDescription

// Release builds carry the Swift runtime and Foundation inside (a branch machine has no Swift toolchain): the plain
// `swift build -c release --product branchsync` is what `swift build --static-swift-stdlib` would give. The modules
// are compiled for it too (Foundation's ICU is then linked statically). Debug builds (the tests) link dynamically.
let staticInRelease: [SwiftSetting] = [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]
let linkStaticInRelease: [LinkerSetting] = [.unsafeFlags(["-static-stdlib"], .when(configuration: .release))]

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
        .target(name: "BranchSyncCore", swiftSettings: staticInRelease),
        .target(name: "BranchSyncCrypto", dependencies: ["COpenSSL"], swiftSettings: staticInRelease),
        .target(name: "BranchSyncWire", dependencies: ["BranchSyncCore"], swiftSettings: staticInRelease),
        .target(
            name: "BranchSyncNode",
            dependencies: [
                "BranchSyncCore", "BranchSyncWire", "BranchSyncStore", "BranchSyncCrypto", "COpenSSL", "CLinux",
            ],
            swiftSettings: staticInRelease
        ),
        .target(
            name: "BranchSyncStore", dependencies: ["BranchSyncCore", "BranchSyncCrypto", "CSQLite"],
            swiftSettings: staticInRelease),
        .target(
            name: "BranchSyncCommands",
            dependencies: [
                "BranchSyncCore", "BranchSyncStore", "BranchSyncNode", "BranchSyncWire", "BranchSyncCrypto",
            ],
            swiftSettings: staticInRelease
        ),
        .executableTarget(
            name: "branchsync", dependencies: ["BranchSyncCommands"], swiftSettings: staticInRelease,
            linkerSettings: linkStaticInRelease),
        .executableTarget(
            name: "branchsync-bench",
            dependencies: [
                "BranchSyncCore", "BranchSyncStore", "BranchSyncCommands", "BranchSyncNode", "BranchSyncWire",
                "BranchSyncFleet",
            ],
            swiftSettings: staticInRelease, linkerSettings: linkStaticInRelease
        ),
        .target(
            name: "BranchSyncFleet",
            dependencies: [
                "BranchSyncCore", "BranchSyncCrypto", "BranchSyncNode", "BranchSyncStore", "BranchSyncWire",
            ],
            swiftSettings: staticInRelease),
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
