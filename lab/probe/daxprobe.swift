// daxprobe: static-binary check for the kernel lab.
//  1. JSONEncoder/JSONDecoder round trip (FoundationEssentials, statically linked)
//  2. mmap argv[1] (a /dev/daxX.Y) MAP_SHARED, 2 MiB, check 2M alignment, write + read back
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

struct Probe: Codable, Equatable {
    var name: String
    var sizes: [UInt64]
    var ok: Bool
}

func fail(_ msg: String) -> Never {
    print("daxprobe: FAIL: \(msg)")
    exit(1)
}

let probe = Probe(name: "daxprobe", sizes: [1 << 21, 1 << 28], ok: true)
let enc = JSONEncoder()
enc.outputFormatting = [.sortedKeys]
guard let data = try? enc.encode(probe) else { fail("JSONEncoder") }
let json = String(decoding: data, as: UTF8.self)
print("daxprobe: json \(json)")
guard let back = try? JSONDecoder().decode(Probe.self, from: data), back == probe else { fail("JSONDecoder") }

// FoundationEssentials file/process APIs (what a daemon keeping state files uses)
let stateDir = URL(fileURLWithPath: "/tmp/daxprobe-state")
do {
    try FileManager.default.createDirectory(at: stateDir, withIntermediateDirectories: true)
    let f = stateDir.appendingPathComponent("state.json")
    try data.write(to: f, options: .atomic)
    guard try Data(contentsOf: f) == data else { fail("state file readback") }
    print("daxprobe: files ok \(try FileManager.default.contentsOfDirectory(atPath: stateDir.path)), user=\(ProcessInfo.processInfo.userName), pid=\(ProcessInfo.processInfo.processIdentifier), t=\(Date().timeIntervalSince1970)")
} catch { fail("file APIs: \(error)") }

guard CommandLine.arguments.count > 1 else { print("daxprobe: PASS (no device given)"); exit(0) }
let path = CommandLine.arguments[1]
let len = 2 << 20
let fd = open(path, O_RDWR)
if fd < 0 { fail("open \(path): errno \(errno)") }
guard let p = mmap(nil, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), p != MAP_FAILED else {
    fail("mmap \(path): errno \(errno)")
}
let addr = UInt(bitPattern: p)
if addr % UInt(len) != 0 { fail("mapping at \(p) not 2M aligned") }
let words = p.bindMemory(to: UInt64.self, capacity: len / 8)
for i in 0..<(len / 8) { words[i] = UInt64(i) &* 0x9E37_79B9_7F4A_7C15 }
var bad = 0
for i in 0..<(len / 8) where words[i] != UInt64(i) &* 0x9E37_79B9_7F4A_7C15 { bad += 1 }
munmap(p, len)
close(fd)
if bad != 0 { fail("\(bad) mismatched words") }
print("daxprobe: mmap \(path) MAP_SHARED at 0x\(String(addr, radix: 16)) (2M aligned), \(len) bytes written+verified")
print("daxprobe: PASS")
