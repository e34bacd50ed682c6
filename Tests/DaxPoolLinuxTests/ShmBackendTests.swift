import CLinuxShims
import DaxPoolCore
import DaxPoolLinux
import Foundation
import Glibc
import Testing

@Suite("shm backend", .timeLimit(.minutes(20)))
struct ShmBackendTests {
    let backend = ShmBackend()

    @Test("creating a region makes a 0700 directory on tmpfs and clears the target node")
    func createRegionMakesDirectory() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        var request = Scratch.region("\(root)/nested/region0")
        request.targetNode = 1
        let config = try backend.createRegion(request)
        #expect(config.targetNode == nil)
        #expect(config.path == request.path)
        #expect(config.pageSize == .page4K && config.align == .page2M && config.size == request.size)
        let status = try #require(Scratch.status(request.path))
        #expect(status.st_mode & S_IFMT == S_IFDIR)
        #expect(status.st_mode & 0o777 == 0o700)
    }

    @Test("provisioning creates a 0600 file of the exact size with every page committed")
    func provisionCommitsPages() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let device = DeviceID(region: 0, instance: 3)
        let size = ByteCount.mebibytes(6)
        try backend.provisionDevice(device, size: size, extents: [Scratch.extent(0, size)], in: region)

        let path = try #require(backend.devicePath(device, in: region))
        #expect(path == "\(root)/dax0.3")
        let status = try #require(Scratch.status(path))
        #expect(status.st_mode & S_IFMT == S_IFREG)
        #expect(status.st_mode & 0o777 == 0o600)
        #expect(UInt64(status.st_size) == size.rawValue)
        #expect(UInt64(status.st_blocks) * 512 >= size.rawValue, "fallocate must commit every page")
    }

    @Test("growing and shrinking change the size and the committed pages and keep the data")
    func growAndShrink() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let device = DeviceID(region: 0, instance: 0)
        let path = "\(root)/dax0.0"
        try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
        Scratch.write(Array("marker".utf8), to: path, at: 4096)

        try backend.provisionDevice(device, size: .mebibytes(12), extents: [], in: region)
        var status = try #require(Scratch.status(path))
        #expect(status.st_size == 12 << 20)
        #expect(status.st_blocks * 512 >= 12 << 20)
        #expect(Scratch.read(6, from: path, at: 4096) == Array("marker".utf8))

        try backend.provisionDevice(device, size: .mebibytes(2), extents: [], in: region)
        status = try #require(Scratch.status(path))
        #expect(status.st_size == 2 << 20)
        #expect(status.st_blocks * 512 >= 2 << 20)
        #expect(status.st_blocks * 512 < 4 << 20, "the freed tail must give its pages back")
        #expect(Scratch.read(6, from: path, at: 4096) == Array("marker".utf8))
    }

    @Test("disabling hides the device path and enabling brings it back with the same memory")
    func disableAndEnable() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let device = DeviceID(region: 0, instance: 1)
        let path = "\(root)/dax0.1"
        let hidden = "\(root)/.dax0.1.disabled"
        try backend.provisionDevice(device, size: .mebibytes(1), extents: [], in: region)
        Scratch.write(Array("kept".utf8), to: path)

        try backend.setDeviceEnabled(device, enabled: false, in: region)
        #expect(!Scratch.exists(path))
        #expect(Scratch.exists(hidden))
        try backend.setDeviceEnabled(device, enabled: false, in: region)
        #expect(!Scratch.exists(path) && Scratch.exists(hidden))

        // A resize while disabled finds the hidden file instead of making a new one.
        try backend.provisionDevice(device, size: .mebibytes(2), extents: [], in: region)
        #expect(!Scratch.exists(path))
        #expect(Scratch.status(hidden)?.st_size == 2 << 20)

        try backend.setDeviceEnabled(device, enabled: true, in: region)
        try backend.setDeviceEnabled(device, enabled: true, in: region)
        #expect(Scratch.exists(path))
        #expect(!Scratch.exists(hidden))
        #expect(Scratch.read(4, from: path) == Array("kept".utf8))
    }

    @Test("enabling a device whose file is gone says so")
    func enableMissingFileFails() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let error = try #require(throws: BackendError.self) {
            try backend.setDeviceEnabled(DeviceID(region: 0, instance: 7), enabled: true, in: region)
        }
        #expect(error.errno.rawValue == ENOENT)
        #expect(error.message.contains("dax0.7"))
    }

    @Test("destroying a device scrubs its file (from 2 MiB), under either name, into the pool; again is harmless")
    func destroyRemovesFile() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        let enabled = DeviceID(region: 0, instance: 0)
        let disabled = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(enabled, size: .mebibytes(2), extents: [], in: region)
        try backend.provisionDevice(disabled, size: .mebibytes(2), extents: [], in: region)
        try backend.setDeviceEnabled(disabled, enabled: false, in: region)
        let small = DeviceID(region: 0, instance: 2)
        try backend.provisionDevice(small, size: .mebibytes(1), extents: [], in: region)

        Scratch.write(Array(repeating: 0xA5, count: 4096), to: "\(root)/dax0.0")
        try backend.destroyDevice(enabled, in: region)
        try backend.destroyDevice(disabled, in: region)
        try backend.destroyDevice(disabled, in: region)
        try backend.destroyDevice(small, in: region)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == [".pool"])
        let pooled = try FileManager.default.contentsOfDirectory(atPath: "\(root)/.pool").sorted()
        #expect(pooled.count == 2 && pooled.allSatisfy { $0.hasPrefix("clean.\(2 << 20).") }, "\(pooled)")
        for name in pooled {
            #expect(Scratch.read(2 << 20, from: "\(root)/.pool/\(name)").allSatisfy { $0 == 0 }, "\(name) is zero")
        }
        #expect(backend.readyFiles(in: region) == [.mebibytes(2), .mebibytes(2)], "the 1 MiB file went to the kernel")
    }

    @Test("reconcile recreates missing files, fixes sizes and names, keeps orphans in lost+found, leaves other files")
    func reconcileRepairs() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region(root))
        // dax0.0: file missing. dax0.1: 2 MiB on disk, 8 MiB in state. dax0.2: disabled in state, enabled on disk.
        try backend.provisionDevice(DeviceID(region: 0, instance: 1), size: .mebibytes(2), extents: [], in: region)
        try backend.provisionDevice(DeviceID(region: 0, instance: 2), size: .mebibytes(4), extents: [], in: region)
        Scratch.write(Array("two".utf8), to: "\(root)/dax0.2")
        Scratch.makeFile("\(root)/dax0.9", byteCount: 4096)
        Scratch.makeFile("\(root)/.dax0.8.disabled", byteCount: 4096)
        Scratch.makeFile("\(root)/notes.txt", byteCount: 10)

        try backend.reconcile(
            region,
            devices: [
                (Scratch.record(0), [Scratch.extent(0, .mebibytes(4))]),
                (Scratch.record(1), [Scratch.extent(4 << 20, .mebibytes(6)), Scratch.extent(16 << 20, .mebibytes(2))]),
                (Scratch.record(2, state: .disabled), [Scratch.extent(32 << 20, .mebibytes(4))]),
            ]
        )

        let names = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        #expect(names == [".dax0.2.disabled", "dax0.0", "dax0.1", "lost+found", "notes.txt"])
        #expect(backend.lostFiles(in: region).map(\.name) == [".dax0.8.disabled", "dax0.9"], "orphans are kept")
        #expect(backend.readyFiles(in: region).isEmpty, "orphans never reach the pool")
        let expected: [(String, Int)] = [("dax0.0", 4 << 20), ("dax0.1", 8 << 20), (".dax0.2.disabled", 4 << 20)]
        for (name, size) in expected {
            let status = try #require(Scratch.status("\(root)/\(name)"))
            #expect(status.st_size == size, "\(name)")
            #expect(status.st_blocks * 512 >= size, "\(name) must be committed")
            #expect(status.st_mode & 0o777 == 0o600, "\(name)")
        }
        #expect(Scratch.read(3, from: "\(root)/.dax0.2.disabled") == Array("two".utf8))
        #expect(Scratch.status("\(root)/notes.txt")?.st_size == 10)
    }

    @Test("reconcile after a reboot rebuilds a region directory that tmpfs lost")
    func reconcileRebuildsDirectory() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = Scratch.region("\(root)/daxpool-0/region0")
        try backend.reconcile(
            region,
            devices: [(Scratch.record(0, state: .disabled), [Scratch.extent(0, .mebibytes(2))])]
        )
        let status = try #require(Scratch.status("\(root)/daxpool-0/region0/.dax0.0.disabled"))
        #expect(status.st_size == 2 << 20 && status.st_blocks * 512 >= 2 << 20)
        #expect(!Scratch.exists("\(root)/daxpool-0/region0/dax0.0"))
    }

    @Test(
        "a region path that is not on tmpfs is refused and nothing is left behind",
        .enabled(if: Scratch.fileSystemType("/tmp") != cshim_TMPFS_MAGIC, "/tmp is tmpfs on this host")
    )
    func nonTmpfsRefused() throws {
        let root = try Scratch.makeDirectory(under: "/tmp")
        defer { Scratch.remove(root) }
        let error = try #require(throws: BackendError.self) {
            try backend.createRegion(Scratch.region("\(root)/a/b"))
        }
        #expect(error.errno.rawValue == EINVAL)
        #expect(error.message.contains("not tmpfs"))
        #expect(!Scratch.exists("\(root)/a"))
    }

    @Test("a relative region path is refused")
    func relativePathRefused() throws {
        let error = try #require(throws: BackendError.self) {
            try backend.createRegion(Scratch.region("region0"))
        }
        #expect(error.errno.rawValue == EINVAL)
    }

    @Test("a region larger than the free tmpfs space is refused with the free space in the message")
    func oversizedRegionRefused() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let error = try #require(throws: BackendError.self) {
            try backend.createRegion(Scratch.region("\(root)/big", size: .gibibytes(1 << 20)))
        }
        #expect(error.errno.rawValue == ENOSPC)
        #expect(error.message.contains("free"))
        #expect(!Scratch.exists("\(root)/big"))
    }

    @Test(
        "provisioning more than the tmpfs holds fails cleanly and leaves no file behind",
        .enabled(if: getuid() == 0, "needs root to mount a small tmpfs")
    )
    func fullTmpfsFailsCleanly() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        guard mount("tmpfs", root, "tmpfs", 0, "size=8m,mode=0700") == 0 else {
            try Test.cancel("cannot mount a tmpfs here: \(String(cString: strerror(errno)))")
        }
        defer { umount2(root, CInt(MNT_DETACH)) }
        let region = Scratch.region(root, size: .mebibytes(8))
        _ = try backend.createRegion(region)

        let tooBig = try #require(throws: BackendError.self) {
            try backend.provisionDevice(DeviceID(region: 0, instance: 0), size: .mebibytes(16), extents: [], in: region)
        }
        #expect(tooBig.errno.rawValue == ENOSPC)
        #expect(tooBig.message.contains("16.00 MiB") && tooBig.message.contains("full"))
        #expect(!Scratch.exists("\(root)/dax0.0"))

        let device = DeviceID(region: 0, instance: 1)
        try backend.provisionDevice(device, size: .mebibytes(4), extents: [], in: region)
        #expect(throws: BackendError.self) {
            try backend.provisionDevice(device, size: .mebibytes(16), extents: [], in: region)
        }
        let status = try #require(Scratch.status("\(root)/dax0.1"))
        #expect(status.st_size == 4 << 20, "a failed grow keeps the old size")
        #expect(try FileManager.default.contentsOfDirectory(atPath: root) == ["dax0.1"])
    }

    @Test("destroying a region refuses while device files remain, names foreign files, and removes an empty one")
    func destroyRegion() throws {
        let root = try Scratch.makeDirectory()
        defer { Scratch.remove(root) }
        let region = try backend.createRegion(Scratch.region("\(root)/region0"))
        let device = DeviceID(region: 0, instance: 0)
        try backend.provisionDevice(device, size: .mebibytes(1), extents: [], in: region)
        let busy = try #require(throws: BackendError.self) { try backend.destroyRegion(region) }
        #expect(busy.errno.rawValue == ENOTEMPTY && busy.message.contains("dax0.0"))

        try backend.destroyDevice(device, in: region)
        Scratch.makeFile("\(root)/region0/notes.txt")
        let foreign = try #require(throws: BackendError.self) { try backend.destroyRegion(region) }
        #expect(foreign.errno.rawValue == ENOTEMPTY && foreign.message.contains("notes.txt"))

        Scratch.remove("\(root)/region0/notes.txt")
        try backend.destroyRegion(region)
        #expect(!Scratch.exists("\(root)/region0"))
        try backend.destroyRegion(region)
    }
}
