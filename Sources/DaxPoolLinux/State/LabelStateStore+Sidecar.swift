// Linux only.
import DaxPoolCore

extension LabelStateStore {
    /// The contents of `regions.json`: everything about the pool that namespace labels cannot express.
    ///
    /// Device layouts (uuid, name, alignment, ranges) live only in the labels. This file holds the region
    /// configurations, which label area belongs to which region, each device's instance number, state, owner
    /// and leases keyed by its uuid, bad blocks and memory-error events. An entry for a uuid that has no labels is
    /// ignored on load; a labelled device without an entry gets the lowest free instance and is enabled.
    struct Sidecar: Hashable, Sendable, Codable {
        /// The version of this file's layout.
        static let currentFormat = 1

        /// The version of the layout the file was written with.
        var format: Int
        /// The regions, by ascending id.
        var regions: [Region]
        /// The retained memory-error events, oldest first.
        var events: [MemoryErrorEvent]
        /// The newest event sequence number ever handed out.
        var lastEventSequence: UInt64

        /// One region: its configuration, its label area, its devices' instances and states, its bad blocks.
        struct Region: Hashable, Sendable, Codable {
            var config: RegionConfig
            var labelArea: Area
            /// By ascending instance.
            var devices: [Device]
            var badBlocks: [Extent]
            /// Destroyed devices' memory not yet zeroed: it stays out of free space until the scrub service has
            /// zeroed it, also across a restart. Missing when there is none.
            var pendingScrubs: [PendingScrub]?

            enum CodingKeys: String, CodingKey {
                case config, devices
                case labelArea = "label_area"
                case badBlocks = "bad_blocks"
                case pendingScrubs = "pending_scrubs"
            }
        }

        /// Where a region's label area is: a file in the state directory, used whole.
        struct Area: Hashable, Sendable, Codable {
            /// The file name, relative to the state directory.
            var file: String
            /// The size the area was created with.
            var size: Int
        }

        /// What the labels do not say about a device.
        struct Device: Hashable, Sendable, Codable {
            var uuid: LabelUUID
            var instance: Int
            var state: DeviceState
            /// The owning uid; missing in files written before devices had owners.
            var owner: UInt32?
            /// The lease holders, re-validated by the daemon on load; missing when there are none.
            var leases: [Lease]?
        }

        enum CodingKeys: String, CodingKey {
            case format, regions, events
            case lastEventSequence = "last_event_sequence"
        }

        /// The sidecar for `snapshot`; regions already known keep their label area from `areas`.
        ///
        /// - Parameters:
        ///   - snapshot: The pool state.
        ///   - areas: The label area of every region that has one, by region id.
        ///   - newAreaSize: The size of areas that do not exist yet.
        init(_ snapshot: PoolSnapshot, areas: [Int: Area], newAreaSize: Int) {
            format = Sidecar.currentFormat
            regions = snapshot.regions.map { region in
                let id = region.config.id
                return Region(
                    config: region.config,
                    labelArea: areas[id] ?? Area(file: LabelStateStore.areaFileName(region: id), size: newAreaSize),
                    devices: region.devices.map {
                        Device(
                            uuid: $0.record.uuid, instance: $0.record.id.instance, state: $0.record.state,
                            owner: $0.record.owner, leases: $0.record.leases.isEmpty ? nil : $0.record.leases)
                    }.sorted { $0.instance < $1.instance },
                    badBlocks: region.badBlocks,
                    pendingScrubs: region.pendingScrubs.isEmpty ? nil : region.pendingScrubs
                )
            }.sorted { $0.config.id < $1.config.id }
            events = snapshot.events
            lastEventSequence = snapshot.lastEventSequence
        }

        /// The label area of every region, by region id.
        var areas: [Int: Area] {
            Dictionary(regions.map { ($0.config.id, $0.labelArea) }, uniquingKeysWith: { first, _ in first })
        }
    }
}
