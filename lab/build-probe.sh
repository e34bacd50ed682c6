#!/bin/bash
# lab/build-probe.sh — build lab/probe/daxprobe.swift as a fully static, stripped Linux binary
# (glibc -static-executable; FoundationEssentials linked in) and print its path.
# Builds in a scratch package outside the repo so it never touches the project's .build.
#
#   OUT=$(lab/build-probe.sh)   ->  $LAB_DIR/daxprobe
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}
PKG=$LAB_DIR/probe-pkg
mkdir -p "$PKG/Sources/daxprobe"
cat > "$PKG/Package.swift" <<'SWIFT'
// swift-tools-version:5.9
import PackageDescription
let package = Package(name: "daxprobe", targets: [.executableTarget(name: "daxprobe")])
SWIFT
cmp -s "$HERE/probe/daxprobe.swift" "$PKG/Sources/daxprobe/main.swift" \
  || cp "$HERE/probe/daxprobe.swift" "$PKG/Sources/daxprobe/main.swift"
# the linker warns that getpwuid_r/dlopen "require at runtime the shared libraries": harmless here
(cd "$PKG" && swift build -c release --product daxprobe -Xswiftc -static-executable \
   --scratch-path "$PKG/.build" 2>&1 | { grep -vE "warning: (Using '|the use of)" || true; } >&2)
strip -o "$LAB_DIR/daxprobe" "$PKG/.build/release/daxprobe"
echo "$LAB_DIR/daxprobe"
