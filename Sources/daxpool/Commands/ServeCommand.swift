import ArgumentParser
import DaxPoolAPI
import DaxPoolClient
import DaxPoolCore
import DaxPoolLinux
import DaxPoolServer
import DaxPoolSystem
import Hummingbird
import Logging
import SystemPackage

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `daxpool serve`: the daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon: serve the JSON API on a Unix socket."
    )

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A JSON file of serve settings, administrators, device creators, the socket's group and the regions to "
                + "keep (see 'Operating daxpool' and 'Security' in the README). Options given here override it.",
            valueName: "FILE"))
    var config: String?

    @Option(name: .long, help: "The Unix socket to serve on (default: $DAXPOOL_SOCKET, else a per-user path).")
    var socket: String?

    @Option(name: .customLong("state-dir"), help: "Where state is kept (default: $DAXPOOL_STATE_DIR, else per user).")
    var stateDirectory: String?

    @Option(
        name: .customLong("default-region-size"),
        help: ArgumentHelp(
            "Size of the shm region created on first start when there is none (0: none; default 1G, 0 when the "
                + "config file names regions).")
    )
    var defaultRegionSize: String?

    @Option(name: .customLong("shm-root"), help: "Directory for shm regions (default /dev/shm/daxpool-<uid>).")
    var shmRoot: String?

    @Option(
        name: .customLong("scrub-threads"),
        help: "Threads that zero memory before it is reused (default: CPUs, at most 4).")
    var scrubThreads: Int?

    @Option(
        name: .customLong("label-area-size"),
        help: """
            Size of the label storage area of each new region (4K to 16M, a multiple of 256; 128K has 510 label slots, \
            of which a region uses at most half; default 128K).
            """
    )
    var labelAreaSize: String?

    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(
        name: .customLong("nd-region"),
        help: ArgumentHelp(
            "Watch the kernel's bad blocks of an nd region for a daxpool region: R:N[:OFFSET] (region R's offset 0 "
                + "lies OFFSET bytes, default 0, into /sys/bus/nd/devices/regionN). Repeatable.",
            valueName: "R:N[:OFFSET]"
        )
    )
    var ndRegions: [String] = []

    @Option(
        name: .customLong("badblocks-interval"), help: "Seconds between reads of the kernel's bad blocks (default 10).")
    var badblocksInterval: Int?

    @Option(name: .customLong("sysfs-root"), help: ArgumentHelp("Where sysfs is mounted.", visibility: .hidden))
    var sysfsRoot: String = "/sys"

    @Option(
        name: .customLong("max-connections-per-uid"),
        help: ArgumentHelp(
            "Connections one user may hold open at once; more are answered 503 and closed before a request is read. "
                + "Administrators are exempt; descriptors are kept back for them and the daemon (see 'Security'; "
                + "default \(ConnectionLimits.defaultMaximumPerUID)).",
            valueName: "N"
        )
    )
    var maxConnectionsPerUID: Int?

    @Option(
        name: .customLong("idle-timeout"),
        help: ArgumentHelp(
            "Seconds a connection may send nothing (before or within a request's header or body, or kept alive "
                + "between requests) before it is closed. A response being streamed (--follow) is not cut "
                + "(default \(ConnectionLimits.defaultIdleTimeoutSeconds)).",
            valueName: "SECONDS"
        )
    )
    var idleTimeout: Int?

    @Flag(
        name: .customLong("lend-idle"),
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Lend devdax memory no device uses to the host as System RAM, keeping --keep-free unlent; a "
                + "create-device that needs it takes it back first (see 'Lending memory to the host'). "
                + "--no-lend-idle turns off what the config file turns on."))
    var lendIdle: Bool?

    @Option(
        name: .customLong("keep-free"),
        help: ArgumentHelp(
            "With --lend-idle: free memory each devdax region keeps unlent (default 0).", valueName: "SIZE"))
    var keepFree: String?

    @Option(
        name: .customLong("lend-chunk"),
        help: ArgumentHelp(
            "With --lend-idle: the size of each lent device, whole memory blocks (default 256M).", valueName: "SIZE"))
    var lendChunk: String?

    func validate() throws {
        for (option, path) in [
            ("--socket", socket), ("--state-dir", stateDirectory), ("--shm-root", shmRoot), ("--config", config),
        ] {
            if let path, !path.hasPrefix("/") { throw ValidationError("\(option) must be an absolute path") }
        }
        if let scrubThreads, !ServeConfiguration.scrubThreadsRange.contains(scrubThreads) {
            throw ValidationError("--scrub-threads must be 1 to 256")
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil {
            throw ValidationError("--log-level '\(logLevel)' is not a level")
        }
        if let badblocksInterval, !ServeConfiguration.badblocksIntervalRange.contains(badblocksInterval) {
            throw ValidationError("--badblocks-interval must be 1 to 86400 seconds")
        }
        if !sysfsRoot.hasPrefix("/") { throw ValidationError("--sysfs-root must be an absolute path") }
        if let maxConnectionsPerUID, !ServeConfiguration.maxConnectionsPerUIDRange.contains(maxConnectionsPerUID) {
            throw ValidationError("--max-connections-per-uid must be 1 to 1000000")
        }
        if let idleTimeout, !ServeConfiguration.idleTimeoutRange.contains(idleTimeout) {
            throw ValidationError("--idle-timeout must be 1 to 86400 seconds")
        }
        _ = try parsedNDRegions()
        // With a config file, lend_idle may come from it: the merged settings are checked in run().
        if config == nil, lendIdle == nil, keepFree != nil || lendChunk != nil {
            throw ValidationError("--keep-free and --lend-chunk go with --lend-idle")
        }
        _ = try keepFree.map { try parseSizeOption($0, option: "--keep-free") }
        _ = try lendChunk.map { try parseSizeOption($0, option: "--lend-chunk") }
    }

    /// The settings the command line gives; `nil` for every option it leaves out.
    func flagSettings() throws -> ServeConfiguration {
        var flags = ServeConfiguration()
        flags.socketPath = socket
        flags.stateDirectory = stateDirectory
        flags.shmRoot = shmRoot
        flags.defaultRegionSize = try defaultRegionSize.map { try parseSizeOption($0, option: "--default-region-size") }
        if let labelAreaSize {
            let size = try parseSizeOption(labelAreaSize, option: "--label-area-size")
            guard ServeConfiguration.labelAreaSizeRange.contains(size.rawValue), size.rawValue % 256 == 0 else {
                throw ErrorBody(
                    code: .badLabelAreaSize,
                    message: "--label-area-size \(labelAreaSize) must be 4K to 16M and a multiple of 256 bytes")
            }
            flags.labelAreaSize = size
        }
        flags.scrubThreads = scrubThreads
        flags.logLevel = logLevel.flatMap { Logger.Level(rawValue: $0) }
        flags.badBlocksSources =
            ndRegions.isEmpty
            ? nil
            : try parsedNDRegions().map {
                ServeConfiguration.BadBlocksSource(region: $0.region, ndRegion: $0.ndRegion, offset: $0.base)
            }
        flags.badblocksInterval = badblocksInterval
        flags.maxConnectionsPerUID = maxConnectionsPerUID
        flags.idleTimeout = idleTimeout
        flags.lendIdle = lendIdle
        flags.keepFree = try keepFree.map { try parseSizeOption($0, option: "--keep-free") }
        flags.lendChunk = try lendChunk.map { try parseSizeOption($0, option: "--lend-chunk") }
        return flags
    }

    /// The `--config` file's settings with the command line's over them; the file is read strictly, and nothing
    /// has been touched when it is refused.
    func settings() throws -> ServeConfiguration {
        var file = ServeConfiguration()
        if let config {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: config))
            } catch {
                throw ErrorBody(
                    code: .badConfig, message: "cannot read --config file '\(config)': \(error)")
            }
            do {
                file = try ServeConfiguration(json: data, source: config)
            } catch {
                throw ErrorBody(code: .badConfig, message: error.message)
            }
        }
        let merged = file.overridden(by: try flagSettings())
        do {
            try merged.checkCombinations()
        } catch {
            throw ErrorBody(code: .badConfig, message: error.message)
        }
        return merged
    }

    /// `--nd-region R:N[:OFFSET]` values.
    func parsedNDRegions() throws -> [(region: Int, ndRegion: Int, base: UInt64)] {
        try ndRegions.map { text in
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 || parts.count == 3, let region = Int(parts[0]), let ndRegion = Int(parts[1]),
                (0..<(1 << 20)).contains(region), (0..<(1 << 20)).contains(ndRegion)
            else {
                throw ValidationError("--nd-region '\(text)' is not R:N[:OFFSET] with region ids R and N")
            }
            var base: UInt64 = 0
            if parts.count == 3 {
                do { base = try ByteCount(parsing: String(parts[2])).rawValue } catch {
                    throw ValidationError("--nd-region '\(text)': OFFSET: \(error)")
                }
            }
            return (region, ndRegion, base)
        }
    }

    func run() async throws {
        let settings = try settings()
        let socketPath = settings.socketPath ?? DefaultPaths.socket
        let stateDirectory = settings.stateDirectory ?? DefaultPaths.stateDirectory
        // The embedded default region stands in for regions the file names: none is made beside them.
        let defaultSize =
            try settings.defaultRegionSize
            ?? (settings.regions == nil ? parseSizeOption("1G", option: "--default-region-size") : .zero)
        let areaSize = settings.labelAreaSize?.rawValue ?? 128 << 10
        let access = try loadAccessConfiguration(settings.accessDocument)
        let othersOwnDevices =
            !access.policy.creatorUsers.isEmpty || !access.policy.creatorGroups.isEmpty
            || !access.policy.adminUsers.isEmpty || !access.policy.adminGroups.isEmpty || access.socketGroup != nil
        // A daemon that is not root cannot give device files to other users, and its directories are its user's:
        // it serves that user alone.
        let selfAndRoot: Set<UInt32> = [getuid(), 0]
        if geteuid() != 0,
            !access.policy.creatorUsers.isSubset(of: selfAndRoot) || !access.policy.adminUsers.isSubset(of: selfAndRoot)
                || !access.policy.creatorGroups.isEmpty || !access.policy.adminGroups.isEmpty
                || access.socketGroup != nil
        {
            throw ErrorBody(
                code: .badConfig,
                message: "a daemon that does not run as root serves its own user only: the --config file names "
                    + "other users or groups (device_creators, admins or socket.group); run the daemon as root, or "
                    + "leave them out")
        }
        try Syscall.setFileCreationMask([.otherReadWriteExecute, .groupReadWriteExecute])
        var logger = Logger(label: "daxpool") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = settings.logLevel ?? .info

        // Trusted or refused: each directory is made by the daemon (0700; SocketPath.setAccess later lets a socket
        // group through the socket's directory, and the shm root is 0711 when other users own device files), or
        // already belongs to the daemon's uid or root and is writable by no one else, with no symbolic link.
        let shmRootPath = settings.shmRoot ?? DefaultPaths.shmRoot
        try Directories.ensure(parentOf: socketPath, mode: 0o700, purpose: "socket directory")
        try Directories.ensure(stateDirectory, mode: 0o700, purpose: "state directory")
        let lock: InstanceLock
        do {
            lock = try InstanceLock(socketPath: socketPath)
        } catch {
            throw ErrorBody(code: .alreadyRunning, message: "\(error)")
        }
        // One daemon per state directory (a second one on another socket is refused too), and the identity that
        // region directories carry.
        let stateClaim: StateDirectoryClaim
        do throws(StateDirectoryClaimError) {
            stateClaim = try StateDirectoryClaim(directory: stateDirectory)
        } catch {
            let code: ErrorCode =
                switch error {
                case .held: .alreadyRunning
                case .untrusted: .untrustedDirectory
                case .damagedIdentity, .failed: .badState
                }
            throw ErrorBody(code: code, message: error.message)
        }
        // After the locks, so that a daemon refused as a second instance leaves no shm root behind.
        try Directories.ensure(shmRootPath, mode: othersOwnDevices ? 0o711 : 0o700, purpose: "shm root")
        try SocketPath.clearStale(socketPath)

        let store = LedgerStateStore(directory: stateDirectory, areaSize: Int(areaSize))
        let processWatcher: PidfdProcessWatcher
        do {
            processWatcher = try PidfdProcessWatcher()
        } catch {
            throw ErrorBody(code: .leasesUnavailable, message: "cannot watch lease holders: \(error)")
        }
        // Memory errors: the daemon maps every device's memory itself, asks for early notification, and turns
        // each SIGBUS with BUS_MCEERR_AO/AR in that memory into a recorded memory error.
        // A kernel without memory-failure handling reports no errors: then nothing is mapped to hear of them.
        let memoryWatcher: DeviceMemoryWatcher?
        if DeviceMemoryWatcher.kernelHandlesMemoryFailure() {
            memoryWatcher = DeviceMemoryWatcher(logger: logger)
        } else {
            memoryWatcher = nil
            logger.notice(
                """
                the kernel has no memory-failure handling (no /proc/sys/vm/memory_failure_early_kill): device \
                memory is not watched for errors; the API and kernel bad blocks still report them
                """)
        }
        let monitor: MemoryErrorMonitor?
        do {
            monitor = try MemoryErrorMonitor(earlyKill: true)
        } catch {
            logger.warning("memory-error signals will not be handled: \(error)")
            monitor = nil
        }
        let threads = settings.scrubThreads ?? min(4, Scrubber.onlineProcessorCount)
        let stateIdentity = stateClaim.identity
        logger.debug(
            "claimed the state directory", metadata: ["state": "\(stateDirectory)", "identity": "\(stateIdentity)"])
        // Each shm and hugetlb region's directory is claimed for this daemon and state directory while it serves.
        let ownership = RegionOwnership(claims: RegionClaims(), stateIdentity: stateIdentity)
        // The saved state is brought back here: a region directory another daemon holds, or one that belongs to
        // another state directory, stops the start with an error that says which.
        let service: PoolService
        do {
            service =
                try await PoolService(
                    backends: [
                        ShmBackend(
                            logger: logger, directoryMode: othersOwnDevices ? 0o711 : 0o700, watcher: memoryWatcher,
                            scrubThreads: threads, mountsRegions: geteuid() == 0, ownership: ownership),
                        SimBackend(),
                        DevDaxBackend(
                            sysfs: Sysfs(root: FilePath(sysfsRoot)), logger: logger, watcher: memoryWatcher,
                            scrubThreads: threads),
                        HugetlbBackend(
                            logger: logger, scrubThreads: threads, watcher: memoryWatcher, ownership: ownership),
                    ],
                    store: store,
                    settings: PoolSettings(
                        defaultRegionSize: defaultSize,
                        shmRoot: shmRootPath,
                        hugetlbRoot: "/run/daxpool/hugetlb"
                    ),
                    logger: logger,
                    labelAreas: { region in
                        store.labelArea(region: region).map {
                            LabelAreaInfo(
                                path: $0.path, offset: UInt64($0.offset), size: UInt64($0.size), version: $0.version,
                                nslot: $0.slotCount, free: $0.freeSlots)
                        }
                    },
                    policy: access.policy,
                    watcher: processWatcher,
                    liveUpdate: LiveUpdateState(stateDirectory: stateDirectory)
                )
        } catch let error as ErrorBody {
            throw error
        } catch {
            throw ErrorBody(code: .startFailed, message: "cannot bring back the saved state: \(error)")
        }
        // The regions the file names, made when the state does not hold them yet, before the first request.
        if let regions = settings.regions {
            do {
                _ = try await ServeConfiguration.ensureRegions(regions, in: service, logger: logger)
            } catch {
                throw ErrorBody(code: .startFailed, message: "\(config ?? "--config"): \(error.message)")
            }
        }
        let routing = MemoryErrorRouting(service: service, logger: logger) { address in
            memoryWatcher?.resolve(address: address)
        }
        monitor?.start { report in
            Task { await routing.handle(code: report.code, address: report.address, granuleShift: report.granuleShift) }
        }
        defer { monitor?.stop() }
        let badBlocks = NDBadBlocks(sysfsRoot: FilePath(sysfsRoot))
        let poller = KernelBadBlocksPoller(
            service: service,
            sources: (settings.badBlocksSources ?? []).map { source in
                KernelBadBlocksPoller.Source(region: source.region, base: source.offset) {
                    try badBlocks.ranges(ndRegion: source.ndRegion)
                }
            },
            interval: .seconds(settings.badblocksInterval ?? 10),
            logger: logger
        )
        // Bad blocks the kernel knows are quarantined before the first request is served.
        await poller.poll()
        if settings.lendIdle == true {
            await service.setLendPolicy(keepFree: settings.keepFree ?? .zero, chunk: settings.lendChunk)
        }
        let readyLogger = logger
        let limits = ConnectionLimits(
            maximumPerUID: settings.maxConnectionsPerUID ?? ConnectionLimits.defaultMaximumPerUID,
            idleTimeout: .seconds(settings.idleTimeout ?? ConnectionLimits.defaultIdleTimeoutSeconds))
        let app = buildApplication(
            service: service, socketPath: socketPath, logger: logger, limits: limits,
            services: [poller, LendIdleService(service: service, interval: .seconds(5))]
        ) {
            do {
                try SocketPath.setAccess(socketPath, mode: access.socketMode, group: access.socketGroup)
            } catch {
                readyLogger.critical("\(error)")
                Glibc.exit(2)
            }
            readyLogger.notice(
                "daxpool is serving", metadata: ["socket": "\(socketPath)", "state": "\(stateDirectory)"])
            // Under systemd (Type=notify) the unit counts as started now, with the socket listening.
            do {
                try SystemdNotifier.notify("READY=1\nSTATUS=serving on \(socketPath)")
            } catch {
                readyLogger.warning("cannot tell the service manager that the daemon is ready: \(error)")
            }
        }
        try await app.runService()
        // Label updates are merged over a few milliseconds: the last one is written before the daemon lets go.
        store.flushLabels()
        stateClaim.release()
        lock.release()
        logger.notice("daxpool stopped")
    }

    /// The access part of the `--config` file, or the defaults (root and the daemon's uid administer; the socket is
    /// 0600). Names are resolved here, when the daemon starts.
    func loadAccessConfiguration(_ document: Data?) throws -> AccessConfiguration {
        guard let document, let config else { return AccessConfiguration() }
        do {
            return try AccessConfiguration(
                json: document, source: config, daemonUID: getuid(),
                user: { UserDatabase.uid(named: $0) }, group: { UserDatabase.gid(named: $0) }
            )
        } catch {
            throw ErrorBody(code: .badConfig, message: error.message)
        }
    }
}
