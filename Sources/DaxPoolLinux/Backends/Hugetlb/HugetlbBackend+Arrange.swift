// Linux only.
import DaxPoolCore
import Logging
import SystemPackage

/// How a region's mounts become the layout its state says (`HugetlbBackend.arrangement`): the mounts that already
/// match it from segment 0 on stay, the others go, and the state's remaining segments are mounted.
struct HugetlbArrangement: CustomStringConvertible {
    /// The mounts as they are, in order.
    var found: [HugetlbSegment]
    /// How many of `found`, from segment 0 on, already have the layout's sizes and stay as they are.
    var kept: Int
    /// The sizes the region's mounts get, in order (`RegionConfig.segments`, or the region's size).
    var layout: [ByteCount]

    /// "segment 1 of 16777216 bytes mounted", and the like.
    var description: String {
        var steps: [String] = []
        for segment in found.dropFirst(max(kept, 1)).reversed() { steps.append("segment \(segment.index) unmounted") }
        if kept == 0, let zero = found.first, let size = layout.first, zero.size != size {
            steps.append("segment 0 mounted again with \(size.rawValue) bytes")
        }
        for index in max(kept, 1)..<max(layout.count, 1) {
            steps.append("segment \(index) of \(layout[index].rawValue) bytes mounted")
        }
        return steps.joined(separator: ", ")
    }
}

extension HugetlbBackend {
    /// Plans how the region's mounts `found` become `layout` (the state's segment sizes), or refuses: a mount that
    /// must go or change size may hold no device file, `lost+found` or memory being zeroed (the kernel cannot change
    /// a hugetlbfs mount's size, and unmounting it frees its files).
    /// - Throws: `BackendError` (`EBUSY`) naming the mount and what it holds.
    func arrangement(_ region: RegionConfig, found: [HugetlbSegment], to layout: [ByteCount], operation: String)
        throws(BackendError) -> HugetlbArrangement
    {
        var kept = 0
        while kept < found.count, kept < layout.count, found[kept].index == kept, found[kept].size == layout[kept] {
            kept += 1
        }
        for segment in found.dropFirst(kept) {
            let held = try heldNames(in: segment.directory, region: region, operation: operation)
            guard held.isEmpty else {
                throw BackendError(
                    operation, segment.directory, .resourceBusy,
                    "region \(region.id)'s mount \(segment.directory) (segment \(segment.index), "
                        + "\(segment.size.rawValue) bytes) holds \(held.joined(separator: ", ")), and bringing the "
                        + "region's mounts to its state (\(layout.map { String($0.rawValue) }.joined(separator: " + ")) "
                        + "bytes) would unmount it"
                )
            }
        }
        return HugetlbArrangement(found: found, kept: kept, layout: layout)
    }

    /// Carries out `plan`: unmounts the mounts that go (the last first), mounts segment 0 again at its new size when
    /// it changes (moving the daemon's claim along), then mounts the layout's other segments. Their pages must be in
    /// the node's pool (the unmounted ones' are).
    func arrange(_ plan: HugetlbArrangement, region: RegionConfig, operation: String) throws(BackendError) {
        let mountPoint = FilePath(region.path).lexicallyNormalized()
        for segment in plan.found.dropFirst(max(plan.kept, 1)).reversed() {
            try unmountSegment(segment, region: region, operation: operation)
        }
        if plan.kept == 0, let zero = plan.found.first, let size = plan.layout.first, zero.size != size {
            var before = region
            before.size = zero.size
            try swapMount(
                from: mount(of: zero, region: region, size: zero.size), to: mount(of: zero, region: region, size: size),
                config: before, resized: region, operation: operation)
        }
        try mountSegments(
            plan.layout, from: max(plan.kept, 1), region: region, mountPoint: mountPoint, operation: operation)
    }

    /// Mounts segments `first..<layout.count` of the region with the layout's sizes, each at `<path>/.segment<k>`.
    /// When one fails, those this call mounted are unmounted again and the error is thrown.
    func mountSegments(
        _ layout: [ByteCount], from first: Int, region: RegionConfig, mountPoint: FilePath, operation: String
    ) throws(BackendError) {
        guard first < layout.count else { return }
        var mounted: [HugetlbSegment] = []
        do throws(BackendError) {
            for index in first..<layout.count {
                let segment = HugetlbSegment(
                    index: index, directory: Self.segmentDirectory(mountPoint, index), size: layout[index])
                try mountSegment(segment, region: region, size: layout[index], operation: operation)
                mounted.append(segment)
            }
        } catch {
            for segment in mounted.reversed() { try? unmountSegment(segment, region: region, operation: operation) }
            throw error
        }
        logger.notice(
            "mounted the region's segments",
            metadata: [
                "path": "\(mountPoint)",
                "segments": "\(layout.dropFirst(first).map { String($0.rawValue) }.joined(separator: ", "))",
            ])
    }
}
