/// A B+tree of non-overlapping extents keyed by start. Each element also stores the length of the free
/// gap after it (up to the next extent or the region end) and what of that gap is usable at 4K, 2M and 1G
/// alignment; every branch entry stores its subtree's smallest start and the largest usable gap in it at each
/// alignment. With those:
///
/// - the first gap (in address order) usable at an alignment is found by descending into the first child
///   whose summary says it has one: O(log n);
/// - inserting an extent splits the gap of its predecessor, which routing keeps in the same leaf; removing
///   one gives its bytes and gap to the predecessor, one more descent when that is in another leaf;
/// - running totals of the usable bytes per alignment tell in O(1) whether a grow can succeed;
/// - a change updates the summaries on its path from the old and new figures of what it changed, and only
///   as far up as they change; a node is rescanned only when its largest gap shrank or left it.
///
/// Storage is two flat arrays of 64-bit words, one for leaves and one for branches, each node one contiguous
/// block, so a node is a page or less however large the tree, copies are copy-on-write, and an operation
/// touches a few cache lines per level. A node under a quarter full merges with a neighbour when both fit in
/// one node, so there are O(n / capacity) nodes and the height stays logarithmic.
struct ExtentTree: Sendable {
    struct Element: Sendable, Equatable {
        var start: UInt64
        var length: UInt64
        /// Free bytes after the extent, up to the next extent or the region end.
        var gap: UInt64
        /// The device instance; meaningless when `rangeIndex` is negative (quarantine).
        var owner: Int
        /// The index of this range among its device's ranges, or -1 for a quarantined extent.
        var rangeIndex: Int

        var end: UInt64 { start &+ length }
        var gapEnd: UInt64 { start &+ length &+ gap }
    }

    /// What a gap offers at 4K, 2M and 1G alignment; for a subtree, the most any of its gaps offers.
    typealias Usable = (UInt64, UInt64, UInt64)

    /// How a child's summary changed, for its parent to update the entry that points to it.
    enum SummaryChange {
        /// Nothing the parent keeps changed.
        case unchanged
        /// Figures that were in the child before (`lowered`: the most of each that was removed or decreased)
        /// and after (`raised`: the most of each that was added or increased); `minimum` when its smallest start
        /// changed.
        case figures(lowered: Usable, raised: Usable, minimum: Bool)
        /// The child's contents were rearranged: the parent rescans it.
        case rebuilt
    }

    /// Elements per leaf.
    static let leafCapacity = 32
    /// Children per branch.
    static let branchCapacity = 32

    // Leaf block: [count], the starts (searched), then per element four words (length, gap, owner, range
    // index), then per element three (what the gap offers at 4K, 2M and 1G): an element is two or three cache
    // lines and a shift is three `memmove`s. Elements are addressed by the leaf's `first` word and a position.
    private static let payloadRun = leafCapacity
    private static let payloadWords = 4
    private static let lengthField = 0
    private static let gapField = 1
    private static let ownerField = 2
    private static let rangeField = 3
    private static let usableRun = leafCapacity * (1 + payloadWords)
    private static let leafWords = 1 + leafCapacity * (1 + payloadWords + 3)

    // Branch block: [count] then runs of `branchCapacity` words: children, minima, and the most usable below
    // each child at 4K, 2M and 1G. An *entry* is the word index of a child; its other fields at `entry + field`.
    private static let minimumField = branchCapacity
    private static let maximumField = 2 * branchCapacity
    private static let branchFields = 5
    private static let branchWords = 1 + branchFields * branchCapacity

    private static let masks: Usable = (
        Alignment.page4K.rawValue - 1, Alignment.page2M.rawValue - 1, Alignment.page1G.rawValue - 1
    )

    let regionEnd: UInt64
    private(set) var count = 0
    private var root = 0
    /// 0 when the root is a leaf.
    private var height = 0

    private var leaves: [UInt64] = []
    private var freeLeaves: [Int] = []
    private var branches: [UInt64] = []
    private var freeBranches: [Int] = []

    /// The usable bytes of all gaps after elements, per alignment class.
    private var totals: Usable = (0, 0, 0)

    init(regionEnd: UInt64) {
        self.regionEnd = regionEnd
        root = newLeaf()
    }

    /// The aligned part of `[start, end)`: its first aligned offset and its length rounded down, or `nil`
    /// when it holds no aligned unit.
    @inline(__always)
    static func usable(from start: UInt64, to end: UInt64, mask: UInt64) -> (start: UInt64, length: UInt64)? {
        let aligned = (start &+ mask) & ~mask
        guard aligned >= start, aligned < end else { return nil }
        let length = (end - aligned) & ~mask
        return length > 0 ? (aligned, length) : nil
    }

    @inline(__always)
    private static func usableLength(from start: UInt64, to end: UInt64, mask: UInt64) -> UInt64 {
        let aligned = (start &+ mask) & ~mask
        guard aligned >= start, aligned < end else { return 0 }
        return (end - aligned) & ~mask
    }

    @inline(__always)
    private static func larger(_ lhs: Usable, _ rhs: Usable) -> Usable {
        (max(lhs.0, rhs.0), max(lhs.1, rhs.1), max(lhs.2, rhs.2))
    }

    // MARK: Node layout

    /// The first word of `leaf`'s elements: the start of its first element.
    @inline(__always)
    private static func firstSlot(_ leaf: Int) -> Int { leaf * leafWords + 1 }

    /// The first entry of `branch`.
    @inline(__always)
    private static func firstEntry(_ branch: Int) -> Int { branch * branchWords + 1 }

    /// The word of the element at `position` of the leaf starting at `first` that holds field `field`.
    @inline(__always)
    private static func payload(_ first: Int, _ position: Int, _ field: Int) -> Int {
        first + payloadRun + position * payloadWords + field
    }

    /// The first of the three words that hold what the gap after the element at `position` offers.
    @inline(__always)
    private static func usables(_ first: Int, _ position: Int) -> Int { first + usableRun + position * 3 }

    @inline(__always)
    private func leafCount(_ leaf: Int) -> Int { Int(truncatingIfNeeded: leaves[leaf * Self.leafWords]) }

    @inline(__always)
    private mutating func setLeafCount(_ leaf: Int, _ count: Int) {
        leaves[leaf * Self.leafWords] = UInt64(truncatingIfNeeded: count)
    }

    @inline(__always)
    private func branchCount(_ branch: Int) -> Int { Int(truncatingIfNeeded: branches[branch * Self.branchWords]) }

    @inline(__always)
    private mutating func setBranchCount(_ branch: Int, _ count: Int) {
        branches[branch * Self.branchWords] = UInt64(truncatingIfNeeded: count)
    }

    @inline(__always)
    private func child(_ entry: Int) -> Int { Int(truncatingIfNeeded: branches[entry]) }

    @inline(__always)
    private func nodeCount(_ node: Int, level: Int) -> Int { level == 0 ? leafCount(node) : branchCount(node) }

    private func element(_ first: Int, _ position: Int) -> Element {
        let payload = Self.payload(first, position, 0)
        return Element(
            start: leaves[first + position],
            length: leaves[payload + Self.lengthField],
            gap: leaves[payload + Self.gapField],
            owner: Int(truncatingIfNeeded: leaves[payload + Self.ownerField]),
            rangeIndex: Int(truncatingIfNeeded: leaves[payload + Self.rangeField])
        )
    }

    @inline(__always)
    private func usable(_ first: Int, _ position: Int) -> Usable {
        let word = Self.usables(first, position)
        return (leaves[word], leaves[word + 1], leaves[word + 2])
    }

    @inline(__always)
    private func entryMaximum(_ entry: Int) -> Usable {
        let word = entry + Self.maximumField
        return (branches[word], branches[word + Self.branchCapacity], branches[word + 2 * Self.branchCapacity])
    }

    @inline(__always)
    private mutating func setEntryMaximum(_ entry: Int, _ value: Usable) {
        let word = entry + Self.maximumField
        branches[word] = value.0
        branches[word + Self.branchCapacity] = value.1
        branches[word + 2 * Self.branchCapacity] = value.2
    }

    // MARK: Queries

    func usableTotal(_ kind: AlignmentClass) -> UInt64 {
        switch kind.index {
        case 0: totals.0
        case 1: totals.1
        default: totals.2
        }
    }

    /// The largest gap after an element usable at `kind`.
    func largestUsable(_ kind: AlignmentClass) -> UInt64 {
        var best: UInt64 = 0
        if height == 0 {
            let first = Self.firstSlot(root)
            for position in 0..<leafCount(root) { best = max(best, leaves[Self.usables(first, position) + kind.index]) }
        } else {
            let first = Self.firstEntry(root) + Self.maximumField + kind.index * Self.branchCapacity
            for word in first..<(first + branchCount(root)) { best = max(best, branches[word]) }
        }
        return best
    }

    /// The element with the smallest start.
    var first: Element? {
        var node = root
        for _ in 0..<height { node = child(Self.firstEntry(node)) }
        return leafCount(node) > 0 ? element(Self.firstSlot(node), 0) : nil
    }

    /// The element with the largest start at or before `key`.
    func last(atOrBefore key: UInt64) -> Element? {
        var node = root
        for _ in 0..<height {
            guard let entry = lastEntry(of: node, atOrBefore: key, strictly: false) else { return nil }
            node = child(Self.firstEntry(node) + entry)
        }
        guard let position = lastSlot(of: node, atOrBefore: key, strictly: false) else { return nil }
        return element(Self.firstSlot(node), position)
    }

    /// The first element (in address order) whose gap holds an aligned unit of `kind`.
    func firstUsable(_ kind: AlignmentClass) -> Element? {
        var node = root
        for _ in 0..<height {
            let first = Self.firstEntry(node)
            let maxima = first + Self.maximumField + kind.index * Self.branchCapacity
            var found: Int?
            for position in 0..<branchCount(node) where branches[maxima + position] > 0 {
                found = position
                break
            }
            guard let found else { return nil }
            node = child(first + found)
        }
        let first = Self.firstSlot(node)
        for position in 0..<leafCount(node) where leaves[Self.usables(first, position) + kind.index] > 0 {
            return element(first, position)
        }
        return nil
    }

    /// Calls `body` with every element in address order.
    func forEach(_ body: (Element) -> Void) {
        visit(root, level: height, body)
    }

    /// Every element in address order: what the tree holds, whatever the shape of its nodes.
    var elements: [Element] {
        var result: [Element] = []
        result.reserveCapacity(count)
        forEach { result.append($0) }
        return result
    }

    private func visit(_ node: Int, level: Int, _ body: (Element) -> Void) {
        if level == 0 {
            let first = Self.firstSlot(node)
            for position in 0..<leafCount(node) { body(element(first, position)) }
            return
        }
        let first = Self.firstEntry(node)
        for entry in first..<(first + branchCount(node)) { visit(child(entry), level: level - 1, body) }
    }

    /// The last position in `branch` whose subtree minimum is at (or, `strictly`, before) `key`.
    private func lastEntry(of branch: Int, atOrBefore key: UInt64, strictly: Bool) -> Int? {
        let minima = Self.firstEntry(branch) + Self.minimumField
        var low = 0
        var high = branchCount(branch)
        while low < high {
            let middle = (low + high) / 2
            let value = branches[minima + middle]
            if value < key || (!strictly && value == key) { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? low - 1 : nil
    }

    /// The last position in `leaf` whose start is at (or, `strictly`, before) `key`.
    private func lastSlot(of leaf: Int, atOrBefore key: UInt64, strictly: Bool) -> Int? {
        let starts = Self.firstSlot(leaf)
        var low = 0
        var high = leafCount(leaf)
        while low < high {
            let middle = (low + high) / 2
            let value = leaves[starts + middle]
            if value < key || (!strictly && value == key) { low = middle + 1 } else { high = middle }
        }
        return low > 0 ? low - 1 : nil
    }

    // MARK: Changes

    /// Inserts an extent that lies inside a free gap, splitting that gap.
    mutating func insert(start: UInt64, length: UInt64, owner: Int, rangeIndex: Int) {
        let element = Element(start: start, length: length, gap: 0, owner: owner, rangeIndex: rangeIndex)
        if let sibling = insert(element, into: root, level: height).sibling {
            let newRoot = newBranch()
            let first = Self.firstEntry(newRoot)
            branches[first] = UInt64(truncatingIfNeeded: root)
            branches[first + 1] = UInt64(truncatingIfNeeded: sibling)
            setBranchCount(newRoot, 2)
            rescan(entry: first, childLevel: height)
            rescan(entry: first + 1, childLevel: height)
            root = newRoot
            height += 1
        }
        count += 1
    }

    /// Removes the extent starting at `start`; its bytes and its gap join the gap before it.
    mutating func remove(start: UInt64) {
        guard let credit = remove(start, from: root, level: height, leftmost: true)?.credit else { return }
        count -= 1
        collapseRoot()
        if credit > 0 {
            _ = modifyLast(before: start, strictly: true, in: root, level: height, .widenGap(credit))
        }
    }

    /// Grows (taking from the gap after it) or shrinks (giving to that gap) the extent starting at `start`.
    mutating func changeLength(start: UInt64, by delta: UInt64, growing: Bool) {
        _ = modifyLast(before: start, strictly: false, in: root, level: height, growing ? .grow(delta) : .shrink(delta))
    }

    // MARK: Storage

    /// Moves `count` elements from `position` of the leaf at `first` to `targetPosition` of the leaf at
    /// `targetFirst` (the ranges may overlap), as `memmove` does.
    private mutating func moveElements(
        from first: Int, _ position: Int, to targetFirst: Int, _ targetPosition: Int, count: Int
    ) {
        guard count > 0, first + position != targetFirst + targetPosition else { return }
        Self.move(&leaves, from: first + position, to: targetFirst + targetPosition, count: count)
        Self.move(
            &leaves, from: Self.payload(first, position, 0), to: Self.payload(targetFirst, targetPosition, 0),
            count: count * Self.payloadWords)
        Self.move(
            &leaves, from: Self.usables(first, position), to: Self.usables(targetFirst, targetPosition),
            count: count * 3)
    }

    /// Moves `count` branch entries from `source` to `target` (the ranges may overlap), as `memmove` does.
    private mutating func moveEntries(from source: Int, to target: Int, count: Int) {
        guard count > 0, source != target else { return }
        for field in 0..<Self.branchFields {
            Self.move(
                &branches, from: source + field * Self.branchCapacity, to: target + field * Self.branchCapacity,
                count: count
            )
        }
    }

    /// `memmove` inside one array of words.
    @inline(__always)
    private static func move(_ words: inout [UInt64], from source: Int, to target: Int, count: Int) {
        precondition(min(source, target) >= 0 && max(source, target) + count <= words.count, "slot out of range")
        words.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            UnsafeMutableRawPointer(base + target).copyMemory(
                from: base + source, byteCount: count * MemoryLayout<UInt64>.stride)
        }
    }

    /// Recomputes what the gap after the element at `position` offers and keeps the totals in step.
    /// - Returns: the figures before (zero for a `fresh` element, which has none yet) and after.
    @discardableResult
    private mutating func updateUsables(_ first: Int, _ position: Int, fresh: Bool) -> (old: Usable, new: Usable) {
        let payload = Self.payload(first, position, 0)
        let start = leaves[first + position] &+ leaves[payload + Self.lengthField]
        let end = start &+ leaves[payload + Self.gapField]
        let new: Usable = (
            Self.usableLength(from: start, to: end, mask: Self.masks.0),
            Self.usableLength(from: start, to: end, mask: Self.masks.1),
            Self.usableLength(from: start, to: end, mask: Self.masks.2)
        )
        let old = fresh ? (0, 0, 0) : dropUsables(first, position)
        totals.0 += new.0
        totals.1 += new.1
        totals.2 += new.2
        let word = Self.usables(first, position)
        leaves[word] = new.0
        leaves[word + 1] = new.1
        leaves[word + 2] = new.2
        return (old, new)
    }

    /// Takes the gap after the element at `position` out of the totals and returns its figures.
    private mutating func dropUsables(_ first: Int, _ position: Int) -> Usable {
        let old = usable(first, position)
        totals.0 -= old.0
        totals.1 -= old.1
        totals.2 -= old.2
        return old
    }

    private mutating func newLeaf() -> Int {
        if let leaf = freeLeaves.popLast() {
            setLeafCount(leaf, 0)
            return leaf
        }
        let leaf = leaves.count / Self.leafWords
        leaves.append(contentsOf: repeatElement(0, count: Self.leafWords))
        return leaf
    }

    private mutating func newBranch() -> Int {
        if let branch = freeBranches.popLast() {
            setBranchCount(branch, 0)
            return branch
        }
        let branch = branches.count / Self.branchWords
        branches.append(contentsOf: repeatElement(0, count: Self.branchWords))
        return branch
    }

    private mutating func free(_ node: Int, level: Int) {
        if level == 0 {
            setLeafCount(node, 0)
            freeLeaves.append(node)
        } else {
            setBranchCount(node, 0)
            freeBranches.append(node)
        }
    }

    // MARK: Summaries

    /// The smallest start in the child at `entry`.
    private func childMinimum(_ entry: Int, childLevel: Int) -> UInt64 {
        let node = child(entry)
        return childLevel == 0 ? leaves[Self.firstSlot(node)] : branches[Self.firstEntry(node) + Self.minimumField]
    }

    /// Recomputes the entry `entry` from the child it points to, scanning the child.
    private mutating func rescan(entry: Int, childLevel: Int) {
        let node = child(entry)
        let best: Usable
        if childLevel == 0 {
            let first = Self.firstSlot(node)
            best = Self.maxima(in: leaves, from: Self.usables(first, 0), count: leafCount(node), stride: 3, run: 1)
        } else {
            let first = Self.firstEntry(node)
            best = Self.maxima(
                in: branches, from: first + Self.maximumField, count: branchCount(node), stride: 1,
                run: Self.branchCapacity)
        }
        branches[entry + Self.minimumField] = childMinimum(entry, childLevel: childLevel)
        setEntryMaximum(entry, best)
    }

    /// The most of each of three figures kept for `count` items: item i's figures are the words at
    /// `first + i * stride`, that plus `run`, and that plus `2 * run`.
    @inline(__always)
    private static func maxima(in words: [UInt64], from first: Int, count: Int, stride: Int, run: Int) -> Usable {
        words.withUnsafeBufferPointer { buffer in
            precondition(
                count == 0 || (first >= 0 && first + (count - 1) * stride + 2 * run < buffer.count), "bad node")
            var best: Usable = (0, 0, 0)
            var index = first
            for _ in 0..<count {
                best.0 = max(best.0, buffer[index])
                best.1 = max(best.1, buffer[index + run])
                best.2 = max(best.2, buffer[index + 2 * run])
                index += stride
            }
            return best
        }
    }

    /// Brings entry `position` of `branch` up to date after its child changed as `change` says.
    /// - Returns: how `branch`'s own summary changed.
    private mutating func update(
        entryAt position: Int,
        of branch: Int,
        childLevel: Int,
        _ change: SummaryChange
    ) -> SummaryChange {
        let entry = Self.firstEntry(branch) + position
        let oldMinimum = branches[entry + Self.minimumField]
        let old = entryMaximum(entry)
        switch change {
        case .unchanged:
            return .unchanged
        case .rebuilt:
            rescan(entry: entry, childLevel: childLevel)
        case .figures(let lowered, let raised, let minimum):
            // A figure rises to what was added when that is at least the old most; it stays when what was
            // removed was below the old most; only when the most itself went does the child need a rescan.
            let needsRescan =
                (raised.0 < old.0 && lowered.0 == old.0) || (raised.1 < old.1 && lowered.1 == old.1)
                || (raised.2 < old.2 && lowered.2 == old.2)
            if needsRescan {
                rescan(entry: entry, childLevel: childLevel)
            } else {
                setEntryMaximum(entry, Self.larger(old, raised))
                if minimum { branches[entry + Self.minimumField] = childMinimum(entry, childLevel: childLevel) }
            }
        }
        let new = entryMaximum(entry)
        let minimumChanged = position == 0 && branches[entry + Self.minimumField] != oldMinimum
        if !minimumChanged && new == old { return .unchanged }
        return .figures(lowered: old, raised: new, minimum: minimumChanged)
    }

    // MARK: Insert

    /// Inserts into the subtree at `node`.
    /// - Returns: a new right sibling when `node` had to split, and how `node`'s summary changed.
    private mutating func insert(_ element: Element, into node: Int, level: Int) -> (
        sibling: Int?, change: SummaryChange
    ) {
        if level == 0 { return insertIntoLeaf(element, leaf: node) }
        let position = lastEntry(of: node, atOrBefore: element.start, strictly: false) ?? 0
        let (sibling, change) = insert(element, into: child(Self.firstEntry(node) + position), level: level - 1)
        guard let sibling else {
            return (nil, update(entryAt: position, of: node, childLevel: level - 1, change))
        }
        rescan(entry: Self.firstEntry(node) + position, childLevel: level - 1)
        return (insertEntry(child: sibling, into: node, at: position + 1, childLevel: level - 1), .rebuilt)
    }

    /// Puts `child` at `position` of `branch`, splitting the branch first when it is full.
    /// - Returns: the new right sibling when the branch split.
    private mutating func insertEntry(child: Int, into branch: Int, at position: Int, childLevel: Int) -> Int? {
        let capacity = Self.branchCapacity
        var target = branch
        var position = position
        var sibling: Int?
        if branchCount(branch) == capacity {
            let right = newBranch()
            let half = capacity / 2
            moveEntries(from: Self.firstEntry(branch) + half, to: Self.firstEntry(right), count: capacity - half)
            setBranchCount(branch, half)
            setBranchCount(right, capacity - half)
            sibling = right
            if position > half {
                target = right
                position -= half
            }
        }
        let first = Self.firstEntry(target)
        let count = branchCount(target)
        moveEntries(from: first + position, to: first + position + 1, count: count - position)
        branches[first + position] = UInt64(truncatingIfNeeded: child)
        setBranchCount(target, count + 1)
        rescan(entry: first + position, childLevel: childLevel)
        return sibling
    }

    /// Inserts into a leaf. Routing sends a key to the leaf holding its predecessor, so the predecessor is
    /// the slot before the insertion point, or there is none at all (a new first extent).
    /// - Returns: the new right sibling when the leaf split, and how the leaf's summary changed.
    private mutating func insertIntoLeaf(_ element: Element, leaf: Int) -> (sibling: Int?, change: SummaryChange) {
        let capacity = Self.leafCapacity
        var target = leaf
        var position = (lastSlot(of: leaf, atOrBefore: element.start, strictly: false) ?? -1) + 1
        var sibling: Int?
        if leafCount(leaf) == capacity {
            let right = newLeaf()
            let half = capacity / 2
            moveElements(from: Self.firstSlot(leaf), half, to: Self.firstSlot(right), 0, count: capacity - half)
            setLeafCount(leaf, half)
            setLeafCount(right, capacity - half)
            sibling = right
            if position > half {
                target = right
                position -= half
            }
        }
        let first = Self.firstSlot(target)
        let count = leafCount(target)
        let gap: UInt64
        var lowered: Usable = (0, 0, 0)
        var raised: Usable = (0, 0, 0)
        if position > 0 {
            let before = Self.payload(first, position - 1, 0)
            let beforeEnd = leaves[first + position - 1] &+ leaves[before + Self.lengthField]
            gap = beforeEnd &+ leaves[before + Self.gapField] - element.end
            leaves[before + Self.gapField] = element.start - beforeEnd
            (lowered, raised) = updateUsables(first, position - 1, fresh: false)
        } else {
            gap = (count > 0 ? leaves[first] : regionEnd) - element.end
        }
        moveElements(from: first, position, to: first, position + 1, count: count - position)
        let payload = Self.payload(first, position, 0)
        leaves[first + position] = element.start
        leaves[payload + Self.lengthField] = element.length
        leaves[payload + Self.gapField] = gap
        leaves[payload + Self.ownerField] = UInt64(bitPattern: Int64(element.owner))
        leaves[payload + Self.rangeField] = UInt64(bitPattern: Int64(element.rangeIndex))
        setLeafCount(target, count + 1)
        raised = Self.larger(raised, updateUsables(first, position, fresh: true).new)
        if sibling != nil { return (sibling, .rebuilt) }
        return (nil, .figures(lowered: lowered, raised: raised, minimum: position == 0))
    }

    // MARK: Remove

    /// Removes the element starting at `key` from the subtree at `node`.
    /// - Returns: `nil` when there is none; else the bytes (length and gap) still to be given to a predecessor
    ///   in another leaf (0 when done), and how `node`'s summary changed.
    private mutating func remove(_ key: UInt64, from node: Int, level: Int, leftmost: Bool) -> (
        credit: UInt64, change: SummaryChange
    )? {
        if level == 0 {
            guard let position = lastSlot(of: node, atOrBefore: key, strictly: false) else { return nil }
            let first = Self.firstSlot(node)
            guard leaves[first + position] == key else { return nil }
            var lowered = dropUsables(first, position)
            var raised: Usable = (0, 0, 0)
            let payload = Self.payload(first, position, 0)
            let freed = leaves[payload + Self.lengthField] + leaves[payload + Self.gapField]
            var credit: UInt64 = 0
            if position > 0 {
                leaves[Self.payload(first, position - 1, Self.gapField)] += freed
                let figures = updateUsables(first, position - 1, fresh: false)
                lowered = Self.larger(lowered, figures.old)
                raised = figures.new
            } else if !leftmost {
                credit = freed
            }
            let count = leafCount(node)
            moveElements(from: first, position + 1, to: first, position, count: count - position - 1)
            setLeafCount(node, count - 1)
            return (credit, .figures(lowered: lowered, raised: raised, minimum: position == 0))
        }
        guard let position = lastEntry(of: node, atOrBefore: key, strictly: false),
            let result = remove(
                key, from: child(Self.firstEntry(node) + position), level: level - 1,
                leftmost: leftmost && position == 0)
        else { return nil }
        let change = rebalance(branch: node, position: position, childLevel: level - 1, result.change)
        return (result.credit, change)
    }

    /// After a removal below `position` of `branch`: frees an empty child, merges a child under a quarter
    /// full into a neighbour when both fit in one node, and brings the summaries up to date.
    /// - Returns: how `branch`'s summary changed.
    private mutating func rebalance(branch: Int, position: Int, childLevel: Int, _ change: SummaryChange)
        -> SummaryChange
    {
        let first = Self.firstEntry(branch)
        let node = child(first + position)
        let nodeCount = nodeCount(node, level: childLevel)
        let capacity = childLevel == 0 ? Self.leafCapacity : Self.branchCapacity
        if nodeCount >= capacity / 4 {
            return update(entryAt: position, of: branch, childLevel: childLevel, change)
        }
        if position > 0 {
            let left = child(first + position - 1)
            if self.nodeCount(left, level: childLevel) + nodeCount <= capacity {
                merge(node, into: left, level: childLevel)
                removeEntry(at: position, of: branch)
                rescan(entry: first + position - 1, childLevel: childLevel)
                return .rebuilt
            }
        }
        if position + 1 < branchCount(branch) {
            let right = child(first + position + 1)
            if self.nodeCount(right, level: childLevel) + nodeCount <= capacity {
                merge(right, into: node, level: childLevel)
                removeEntry(at: position + 1, of: branch)
                rescan(entry: first + position, childLevel: childLevel)
                return .rebuilt
            }
        }
        if nodeCount == 0 {
            free(node, level: childLevel)
            removeEntry(at: position, of: branch)
            return .rebuilt
        }
        return update(entryAt: position, of: branch, childLevel: childLevel, change)
    }

    /// Appends the contents of `right` to `left` (its left neighbour) and frees `right`.
    private mutating func merge(_ right: Int, into left: Int, level: Int) {
        if level == 0 {
            let leftCount = leafCount(left)
            let rightCount = leafCount(right)
            moveElements(from: Self.firstSlot(right), 0, to: Self.firstSlot(left), leftCount, count: rightCount)
            setLeafCount(left, leftCount + rightCount)
        } else {
            let leftCount = branchCount(left)
            let rightCount = branchCount(right)
            moveEntries(from: Self.firstEntry(right), to: Self.firstEntry(left) + leftCount, count: rightCount)
            setBranchCount(left, leftCount + rightCount)
        }
        free(right, level: level)
    }

    private mutating func removeEntry(at position: Int, of branch: Int) {
        let first = Self.firstEntry(branch)
        let count = branchCount(branch)
        moveEntries(from: first + position + 1, to: first + position, count: count - position - 1)
        setBranchCount(branch, count - 1)
    }

    /// Replaces a root branch with a single child by that child, and an empty root branch by an empty leaf.
    private mutating func collapseRoot() {
        while height > 0 {
            let count = branchCount(root)
            if count == 1 {
                let only = child(Self.firstEntry(root))
                free(root, level: height)
                root = only
                height -= 1
            } else if count == 0 {
                free(root, level: height)
                root = newLeaf()
                height = 0
            } else {
                return
            }
        }
    }

    // MARK: Modify

    /// What `modifyLast` does to an element.
    enum Change {
        /// Moves bytes from the gap after the extent to the extent.
        case grow(UInt64)
        /// Moves bytes from the end of the extent to the gap after it.
        case shrink(UInt64)
        /// Adds freed bytes to the gap after the extent.
        case widenGap(UInt64)
    }

    /// Applies `change` to the last element starting at (or, `strictly`, before) `key`.
    /// - Returns: how `node`'s summary changed.
    private mutating func modifyLast(
        before key: UInt64,
        strictly: Bool,
        in node: Int,
        level: Int,
        _ change: Change
    ) -> SummaryChange {
        if level == 0 {
            guard let position = lastSlot(of: node, atOrBefore: key, strictly: strictly) else { return .unchanged }
            let first = Self.firstSlot(node)
            let payload = Self.payload(first, position, 0)
            switch change {
            case .grow(let bytes):
                leaves[payload + Self.lengthField] += bytes
                leaves[payload + Self.gapField] -= bytes
            case .shrink(let bytes):
                leaves[payload + Self.lengthField] -= bytes
                leaves[payload + Self.gapField] += bytes
            case .widenGap(let bytes):
                leaves[payload + Self.gapField] += bytes
            }
            let figures = updateUsables(first, position, fresh: false)
            return .figures(lowered: figures.old, raised: figures.new, minimum: false)
        }
        guard let position = lastEntry(of: node, atOrBefore: key, strictly: strictly) else { return .unchanged }
        let change = modifyLast(
            before: key, strictly: strictly, in: child(Self.firstEntry(node) + position), level: level - 1, change)
        return update(entryAt: position, of: node, childLevel: level - 1, change)
    }
}
