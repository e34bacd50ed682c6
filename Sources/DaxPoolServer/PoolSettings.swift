import DaxPoolCore

/// Daemon settings that shape defaults.
public struct PoolSettings: Sendable {
    /// Size of the embedded default `shm` region created on first start; `nil` or zero: none.
    public var defaultRegionSize: ByteCount?
    /// Directory under which `shm` regions live by default (`/dev/shm/daxpool-<uid>`).
    public var shmRoot: String
    /// Directory under which `hugetlb` regions mount by default.
    public var hugetlbRoot: String

    /// Settings with every field given.
    public init(defaultRegionSize: ByteCount?, shmRoot: String, hugetlbRoot: String) {
        self.defaultRegionSize = defaultRegionSize
        self.shmRoot = shmRoot
        self.hugetlbRoot = hugetlbRoot
    }

    func defaultPath(for backend: BackendKind, region: Int) -> String {
        switch backend {
        case .shm: "\(shmRoot)/region\(region)"
        case .hugetlb: "\(hugetlbRoot)/region\(region)"
        case .devdax: "/sys/bus/dax"
        case .sim: "sim:region\(region)"
        }
    }
}

/// Rules for paths that come from clients.
enum PathRules {
    static func check(_ path: String) throws(PoolError) {
        guard path.hasPrefix("/") else { throw .invalidRequest("path '\(path)' must be absolute") }
        guard path.utf8.count < 4096 else { throw .invalidRequest("path is longer than 4095 bytes") }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw .invalidRequest("path contains a control character or NUL")
        }
        guard !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw .invalidRequest("path '\(path)' may not contain '.' or '..' components")
        }
    }
}
