#!/bin/bash
# lab/selftest.sh — host side of the lab self-test. Prints PASS/FAIL, exits 0/1.
#
# Usage: lab/selftest.sh [--probe] [--full] [FILES...]
#   default  one boot with --hmem --pmem running tests/smoke.sh (FILES are passed to the guest;
#            if one is named "daxprobe" the smoke test mmaps the new device with it)
#   --probe  build lab/probe/daxprobe.swift statically (build-probe.sh, needs swift) and pass it
#   --full   also: 9p share state surviving a second boot (tests/share-*.sh) and the emulated
#            NVDIMM with labels (tests/nvdimm.sh); 3 more boots
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}
FULL=0; PROBE=0
while [ $# -gt 0 ]; do
  case $1 in --full) FULL=1 ;; --probe) PROBE=1 ;; *) break ;; esac
  shift
done

"$HERE/setup.sh"
if [ "$PROBE" = 1 ]; then set -- "$("$HERE/build-probe.sh")" "$@"; fi
failed=0
step() {   # step NAME run.sh-args...
  local name=$1; shift
  local t0=$SECONDS
  if "$HERE/run.sh" "$@"; then
    echo "selftest: $name ok ($((SECONDS - t0))s)"
  else
    echo "selftest: $name FAILED (rc=$?, $((SECONDS - t0))s)"
    failed=1
  fi
}

step smoke --hmem --pmem --timeout 240 -- "$HERE/tests/smoke.sh" "$@"

if [ "$FULL" = 1 ]; then
  tmp=$(mktemp -d "$LAB_DIR/tmp/selftest.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # state written by the first boot must be visible to the second
  step share-write --share "$tmp/share" --timeout 120 -- "$HERE/tests/share-write.sh"
  step share-read  --share "$tmp/share" --timeout 120 -- "$HERE/tests/share-read.sh"
  [ -f "$tmp/share/state" ] && echo "selftest: host sees share/state: $(cat "$tmp/share/state")"
  step nvdimm --nvdimm "$tmp/nvdimm.img,128K,1G" --timeout 240 -- "$HERE/tests/nvdimm.sh"
fi

if [ $failed = 0 ]; then echo "PASS"; else echo "FAIL"; fi
exit $failed
