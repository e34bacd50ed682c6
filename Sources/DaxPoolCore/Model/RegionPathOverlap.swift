/// How two regions' directories overlap, compared on lexically normalized absolute paths, component by component
/// (so `/a/region1` and `/a/region10` do not overlap).
///
/// Two file-backed regions (shm, hugetlb) may not share a directory, and neither may lie inside the other's: each
/// daemon's reconcile would take the other's files for orphans, and two pools would hand out one file twice.
public enum RegionPathOverlap: String, Sendable, Hashable {
    /// The paths name the same directory.
    case same
    /// The new path lies inside the other region's directory.
    case inside
    /// The new path is a parent of the other region's directory.
    case around

    /// How `path` overlaps `other`, or `nil` when neither contains the other.
    public init?(_ path: String, _ other: String) {
        let mine = Self.components(path)
        let theirs = Self.components(other)
        let common = zip(mine, theirs).prefix { $0 == $1 }.count
        switch (common == mine.count, common == theirs.count) {
        case (true, true): self = .same
        case (false, true): self = .inside
        case (true, false): self = .around
        case (false, false): return nil
        }
    }

    /// The components of `path` after lexical normalization: empty and `.` components dropped, `..` removing the
    /// component before it (never going above `/`).
    public static func components(_ path: String) -> [Substring] {
        var result: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": _ = result.popLast()
            default: result.append(component)
            }
        }
        return result
    }

    /// `path` lexically normalized, as an absolute path.
    public static func normalized(_ path: String) -> String {
        "/" + components(path).joined(separator: "/")
    }

    /// Whether regions of `backend` keep their memory in a directory of their own (their paths may not overlap).
    public static func appliesTo(_ backend: BackendKind) -> Bool {
        backend == .shm || backend == .hugetlb
    }
}
