import DaxPoolAPI
import DaxPoolCore
import DaxPoolServer
import Foundation
import Logging
import Testing

@Suite("the serve configuration file", .timeLimit(.minutes(20)))
struct ServeConfigurationTests {
    static let source = "/etc/daxpool/daxpool.json"

    static func parse(_ text: String) throws(ConfigurationError) -> ServeConfiguration {
        try ServeConfiguration(json: Data(text.utf8), source: source)
    }

    /// The message a document is refused with; fails the test when it is accepted.
    static func refusal(_ text: String) -> String {
        do {
            let accepted = try parse(text)
            Issue.record("accepted: \(text) as \(accepted)")
            return ""
        } catch {
            return error.message
        }
    }

    @Test("every serve setting is read from its key")
    func everyKey() throws {
        let settings = try Self.parse(
            """
            {
              "socket": { "path": "/run/x/daxpool.sock", "group": "kvm", "mode": "0660" },
              "state_dir": "/var/lib/x", "shm_root": "/dev/shm/x", "default_region_size": "2G",
              "label_area_size": "64K", "scrub_threads": 3, "log_level": "debug",
              "nd_regions": [ { "region": 1, "nd_region": 2, "offset": "0x1000" } ],
              "badblocks_interval": 20, "max_connections_per_uid": 8, "idle_timeout": 15,
              "lend_idle": true, "keep_free": "1G", "lend_chunk": 268435456,
              "regions": [
                { "backend": "hugetlb", "path": "/run/daxpool/hugetlb/node0", "size": "8G", "page_size": "1G",
                  "node": 0, "pool": "2Gx2" },
                { "backend": "devdax", "dax_region": 0 }
              ],
              "admins": { "users": ["root"] }, "device_creators": { "groups": [0] }
            }
            """)
        #expect(settings.socketPath == "/run/x/daxpool.sock")
        #expect(settings.stateDirectory == "/var/lib/x")
        #expect(settings.shmRoot == "/dev/shm/x")
        #expect(settings.defaultRegionSize == .gibibytes(2))
        #expect(settings.labelAreaSize == ByteCount(64 << 10))
        #expect(settings.scrubThreads == 3)
        #expect(settings.logLevel == .debug)
        #expect(settings.badBlocksSources == [.init(region: 1, ndRegion: 2, offset: 0x1000)])
        #expect(settings.badblocksInterval == 20)
        #expect(settings.maxConnectionsPerUID == 8)
        #expect(settings.idleTimeout == 15)
        #expect(settings.lendIdle == true)
        #expect(settings.keepFree == .gibibytes(1))
        #expect(settings.lendChunk == .mebibytes(256))
        #expect(
            settings.regions == [
                CreateRegionRequest(
                    backend: .hugetlb, size: ByteCount(8 << 30), path: "/run/daxpool/hugetlb/node0",
                    pageSize: .page1G, node: 0, pool: [ByteCount(2 << 30), ByteCount(2 << 30)]),
                CreateRegionRequest(backend: .devdax, daxRegion: 0),
            ])
        // The access part goes to AccessConfiguration as a document of its own, without the socket's path.
        let access = try #require(settings.accessDocument)
        let object = try #require(try JSONSerialization.jsonObject(with: access) as? [String: Any])
        #expect(Set(object.keys) == ["socket", "admins", "device_creators"])
        #expect((object["socket"] as? [String: Any])?.keys.sorted() == ["group", "mode"])
        let resolved = try AccessConfiguration(
            json: access, source: Self.source, daemonUID: 0, user: { $0 == "root" ? 0 : nil },
            group: { $0 == "kvm" ? 36 : nil })
        #expect(resolved.socketMode == 0o660)
        #expect(resolved.socketGroup == 36)
        #expect(resolved.policy.adminUsers == [0])
        #expect(resolved.policy.creatorGroups == [0])
    }

    @Test("an empty document changes nothing, and an access-only document (the older --config) is still read")
    func emptyAndAccessOnly() throws {
        #expect(try Self.parse("{}") == ServeConfiguration())
        let access = try Self.parse(#"{"admins": {"users": [1001]}, "socket": {"mode": "0600"}}"#)
        #expect(access.socketPath == nil)
        #expect(access.accessDocument != nil)
    }

    @Test("an unknown key is refused, naming it and where it is, at every level")
    func unknownKeys() {
        #expect(Self.refusal(#"{"state_directory": "/x"}"#).contains("unknown key 'state_directory'"))
        #expect(Self.refusal(#"{"socket": {"paht": "/x"}}"#).contains("unknown key 'socket.paht'"))
        #expect(
            Self.refusal(#"{"regions": [{"backend": "shm", "path": "/x", "size": 1, "sizee": 2}]}"#)
                .contains("unknown key 'regions[0].sizee'"))
        #expect(
            Self.refusal(#"{"nd_regions": [{"region": 0, "nd_region": 0, "base": 0}]}"#)
                .contains("unknown key 'nd_regions[0].base'"))
        #expect(Self.refusal(#"{"state_directory": "/x"}"#).hasPrefix(Self.source))
    }

    @Test("a bad size is refused naming the key")
    func badSizes() {
        for (document, key) in [
            (#"{"default_region_size": "2GB"}"#, "'default_region_size'"),
            (#"{"keep_free": " 1G", "lend_idle": true}"#, "'keep_free'"),
            (#"{"lend_chunk": "-1", "lend_idle": true}"#, "'lend_chunk'"),
            (#"{"regions": [{"backend": "shm", "path": "/x", "size": "1 G"}]}"#, "'regions[0].size'"),
            (#"{"regions": [{"backend": "shm", "path": "/x", "size": "1G", "pool": "2Gx"}]}"#, "'regions[0].pool'"),
            (#"{"nd_regions": [{"region": 0, "nd_region": 0, "offset": "0x"}]}"#, "'nd_regions[0].offset'"),
            (#"{"default_region_size": "99999999999999999999"}"#, "'default_region_size'"),
        ] {
            let message = Self.refusal(document)
            #expect(message.contains(key), "\(document): \(message)")
        }
        #expect(Self.refusal(#"{"label_area_size": "100"}"#).contains("label_area_size"))
        #expect(
            Self.refusal(#"{"regions": [{"backend": "hugetlb", "path": "/x", "size": "1G", "page_size": "3M"}]}"#)
                .contains("regions[0].page_size"))
    }

    @Test("a value of the wrong type is refused naming the key and what it must be")
    func typeMismatches() {
        for (document, expected) in [
            (#"{"scrub_threads": "4"}"#, "'scrub_threads' must be a whole number"),
            (#"{"scrub_threads": 4.5}"#, "'scrub_threads' must be a whole number"),
            (#"{"lend_idle": "yes"}"#, "'lend_idle' must be true or false"),
            (#"{"state_dir": 7}"#, "'state_dir' must be a string"),
            (#"{"socket": "/run/daxpool/daxpool.sock"}"#, "'socket' must be an object"),
            (#"{"regions": {"backend": "shm"}}"#, "'regions' must be an array"),
            (#"{"default_region_size": true}"#, "'default_region_size' must be a size"),
            (#"{"log_level": 3}"#, "'log_level' must be a string"),
        ] {
            let message = Self.refusal(document)
            #expect(message.contains(expected), "\(document): \(message)")
        }
    }

    @Test("numbers out of range, relative paths, unknown levels and backends are refused naming the key")
    func outOfRange() {
        for (document, expected) in [
            (#"{"scrub_threads": 0}"#, "'scrub_threads' must be 1 to 256"),
            (#"{"idle_timeout": 86401}"#, "'idle_timeout' must be 1 to 86400"),
            (#"{"max_connections_per_uid": -1}"#, "'max_connections_per_uid' must be 1 to 1000000"),
            (#"{"badblocks_interval": 0}"#, "'badblocks_interval'"),
            (#"{"state_dir": "var/lib/daxpool"}"#, "'state_dir' must be an absolute path"),
            (#"{"log_level": "loud"}"#, "log_level 'loud' is not a level"),
            (#"{"regions": [{"backend": "pmem", "size": "1G"}]}"#, "regions[0].backend 'pmem'"),
            (#"{"regions": [{"backend": "shm", "path": "/x", "size": "1G", "node": 5000}]}"#, "'regions[0].node'"),
        ] {
            let message = Self.refusal(document)
            #expect(message.contains(expected), "\(document): \(message)")
        }
    }

    @Test("regions name their place: shm and hugetlb need a path, devdax a dax region, and no two share one")
    func regionIdentity() {
        #expect(Self.refusal(#"{"regions": [{"backend": "shm", "size": "1G"}]}"#).contains("regions[0] needs \"path\""))
        #expect(Self.refusal(#"{"regions": [{"backend": "devdax"}]}"#).contains("needs \"dax_region\""))
        #expect(Self.refusal(#"{"regions": [{"backend": "hugetlb", "path": "/x"}]}"#).contains("needs \"size\""))
        #expect(
            Self.refusal(
                #"{"regions": [{"backend": "shm", "path": "/a", "size": 4096}, {"backend": "shm", "path": "/a", "size": 4096}]}"#
            ).contains("regions[1] has path /a, as regions[0] does"))
        #expect(
            Self.refusal(
                #"{"regions": [{"backend": "devdax", "dax_region": 0}, {"backend": "devdax", "dax_region": 0}]}"#
            )
            .contains("regions[1] adopts dax region 0"))
        #expect(
            Self.refusal(#"{"regions": [{"backend": "sim", "path": "/s", "size": "1G", "pool": "1G"}]}"#)
                .contains("pool is only for shm and hugetlb"))
    }

    @Test("a key given twice, a document that is not one object, and bad JSON are refused")
    func malformed() {
        #expect(Self.refusal(#"{"scrub_threads": 2, "scrub_threads": 3}"#).contains("duplicate key"))
        #expect(Self.refusal(#"{"socket": {"mode": "0600", "mode": "0660"}}"#).contains("duplicate key"))
        #expect(Self.refusal("[1]").contains("not a valid daxpool configuration"))
        #expect(Self.refusal("{\"state_dir\": ").contains("not a valid daxpool configuration"))
        #expect(Self.refusal(#"{"scrub_threads": 1e2}"#).contains("not a valid daxpool configuration"))
    }

    @Test("keep_free and lend_chunk without lend_idle are refused; lend_idle false turns lending off")
    func lendingCombination() throws {
        #expect(Self.refusal(#"{"keep_free": "1G"}"#).contains("go with lend_idle"))
        let off = try Self.parse(#"{"lend_idle": false, "keep_free": "1G"}"#)
        #expect(off.lendIdle == false)
    }

    @Test("options on the command line override the file's keys, and leave the others")
    func flagsOverride() throws {
        let file = try Self.parse(
            #"{"socket": {"path": "/run/file.sock"}, "state_dir": "/file/state", "scrub_threads": 2, "lend_idle": true, "keep_free": "1G", "nd_regions": [{"region": 0, "nd_region": 0}]}"#
        )
        var flags = ServeConfiguration()
        flags.socketPath = "/run/flag.sock"
        flags.scrubThreads = 7
        flags.lendIdle = false
        flags.badBlocksSources = [.init(region: 1, ndRegion: 1)]
        let merged = file.overridden(by: flags)
        #expect(merged.socketPath == "/run/flag.sock")
        #expect(merged.stateDirectory == "/file/state")
        #expect(merged.scrubThreads == 7)
        #expect(merged.lendIdle == false)
        #expect(merged.keepFree == .gibibytes(1))
        #expect(merged.badBlocksSources == [.init(region: 1, ndRegion: 1)])
        #expect(file.overridden(by: ServeConfiguration()) == file)
    }

    @Test("regions the state lacks are made at start; ones it holds are left alone, also on the next start")
    func ensureRegions() async throws {
        let store = InMemoryStateStoreFake()
        let backend = RecordingBackendFake()
        func start() async throws -> PoolService {
            try await PoolService(
                backends: [backend], store: store,
                settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
                logger: Logger(label: "test"))
        }
        let regions = try #require(
            try Self.parse(
                #"{"regions": [{"backend": "shm", "path": "/fake/a", "size": "64M"}, {"backend": "shm", "path": "/fake/b", "size": "32M"}]}"#
            ).regions)
        let first = try await start()
        #expect(
            try await ServeConfiguration.ensureRegions(regions, in: first, logger: Logger(label: "test"))
                == [.created(region: 0), .created(region: 1)])
        #expect(await first.regions().map(\.path) == ["/fake/a", "/fake/b"])
        let second = try await start()
        #expect(
            try await ServeConfiguration.ensureRegions(regions, in: second, logger: Logger(label: "test"))
                == [.present(region: 0), .present(region: 1)])
        #expect(await second.regions().count == 2)
        // A region the operator destroyed comes back at the next start when the file still names it.
        try await second.destroyRegion(1)
        let third = try await start()
        let outcomes = try await ServeConfiguration.ensureRegions(regions, in: third, logger: Logger(label: "test"))
        #expect(outcomes.first == .present(region: 0))
        guard case .created(let remade) = outcomes.last else {
            Issue.record("the destroyed region was not made again: \(outcomes)")
            return
        }
        #expect(try await third.region(remade).path == "/fake/b")
    }

    @Test("a region whose place the state holds with another backend stops the start, naming the entry")
    func ensureRegionsConflict() async throws {
        let service = try await PoolService(
            backends: [RecordingBackendFake()], store: InMemoryStateStoreFake(),
            settings: PoolSettings(defaultRegionSize: nil, shmRoot: "/fake", hugetlbRoot: "/fake"),
            logger: Logger(label: "test"))
        _ = try await service.createRegion(
            CreateRegionRequest(backend: .shm, size: ByteCount.mebibytes(64), path: "/fake/a"))
        let conflicting = [CreateRegionRequest(backend: .hugetlb, size: ByteCount.mebibytes(2), path: "/fake/a")]
        await #expect(throws: ConfigurationError.self) {
            try await ServeConfiguration.ensureRegions(conflicting, in: service, logger: Logger(label: "test"))
        }
        do {
            _ = try await ServeConfiguration.ensureRegions(conflicting, in: service, logger: Logger(label: "test"))
        } catch {
            #expect(error.message.contains("regions[0] is a hugetlb region"), "\(error.message)")
        }
    }
}
