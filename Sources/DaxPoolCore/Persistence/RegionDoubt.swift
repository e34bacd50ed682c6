/// Why a region's persisted state is in doubt, so that it came up `degraded`: listed, its devices keeping their
/// memory and paths, nothing created or destroyed in it until `daxpool recover` rebuilds it.
public struct RegionDoubt: Hashable, Sendable, Codable {
    /// What the daemon found, one fact per entry (a damaged ledger record, labels that disagree with the ledger, a
    /// device file bigger than its record, ...).
    public var reasons: [String]

    /// A doubt for `reasons`.
    public init(reasons: [String]) {
        self.reasons = reasons
    }

    /// What to run to leave the degraded state.
    public static func remedy(region: Int) -> String {
        "run 'daxpool recover -r \(region)' to see how the region would be rebuilt from what survives, then "
            + "'daxpool recover -r \(region) --apply'"
    }

    /// `self` with `more` reasons added, each at most once.
    public func adding(_ more: [String]) -> RegionDoubt {
        var result = self
        for reason in more where !result.reasons.contains(reason) { result.reasons.append(reason) }
        return result
    }
}
