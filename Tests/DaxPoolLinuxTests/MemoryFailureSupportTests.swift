import DaxPoolLinux
import DaxPoolTestSupport
import Foundation
import SystemPackage
import Testing

@Suite("whether the kernel handles memory failures", .timeLimit(.minutes(20)))
struct MemoryFailureSupportTests {
    /// A directory standing in for `/proc`, with the memory-failure knob or without it.
    func procRoot(withKnob: Bool) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("proc-\(UUID().uuidString)")
        let vm = root.appendingPathComponent("sys/vm")
        try FileManager.default.createDirectory(at: vm, withIntermediateDirectories: true)
        if withKnob {
            try Data("0\n".utf8).write(to: vm.appendingPathComponent("memory_failure_early_kill"))
        }
        return root
    }

    @Test("a kernel with the memory_failure_early_kill knob handles memory failures, so devices are watched")
    func knobPresent() throws {
        let root = try procRoot(withKnob: true)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(DeviceMemoryWatcher.kernelHandlesMemoryFailure(procRoot: FilePath(root.path)))
    }

    @Test("a kernel without the knob reports no memory errors, so nothing is mapped to hear of them")
    func knobAbsent() throws {
        let root = try procRoot(withKnob: false)
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(!DeviceMemoryWatcher.kernelHandlesMemoryFailure(procRoot: FilePath(root.path)))
    }

    @Test("the answer for this machine's own kernel matches its /proc")
    func thisKernel() {
        let present = FileManager.default.fileExists(atPath: "/proc/sys/vm/memory_failure_early_kill")
        #expect(DeviceMemoryWatcher.kernelHandlesMemoryFailure() == present)
    }
}
