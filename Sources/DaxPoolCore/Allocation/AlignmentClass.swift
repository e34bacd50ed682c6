/// The three alignments as indexes into per-alignment summaries.
struct AlignmentClass: Sendable {
    let index: Int
    let mask: UInt64

    init(_ alignment: Alignment) {
        mask = alignment.rawValue - 1
        switch alignment.rawValue {
        case Alignment.page4K.rawValue: index = 0
        case Alignment.page2M.rawValue: index = 1
        default: index = 2
        }
    }
}
