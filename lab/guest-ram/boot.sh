#!/bin/bash
# lab/guest-ram/boot.sh — boot the lab's Debian kernel under QEMU/TCG with a tiny initramfs whose /init writes a
# marker into guest RAM (lab/guest-ram/guest-init.sh), with the guest's RAM given by QEMU arguments such as the
# ones `daxpool qemu-args DEV` prints.
#
# Usage: lab/guest-ram/boot.sh --seed SEED [--timeout S] [--log FILE] -- QEMU_ARGS...
#   SEED      letters and digits; the guest writes "DAXPOOL-GUEST-RAM-<SEED>-WRITTEN-BY-GUEST"
#   QEMU_ARGS the guest's memory, e.g. -m 256M -object memory-backend-file,...,share=on -machine memory-backend=...
#
# Needs lab/setup.sh to have run (kernel under $LAB_DIR, busybox-static, cpio, qemu-system-x86).
# Holds $LAB_DIR/qemu.lock like lab/run.sh: one lab guest at a time.
# Exit status: 0 when the guest reported "GUEST-RAM: done"; 124 on timeout; 125 when it never reported; 2 when
# the lab is not set up.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}
SEED=""; TIMEOUT=90; LOG=""
while [ $# -gt 0 ]; do
  case $1 in
    --seed) SEED=${2:?}; shift ;;
    --timeout) TIMEOUT=${2:?}; shift ;;
    --log) LOG=${2:?}; shift ;;
    --) shift; break ;;
    *) echo "boot.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$SEED" =~ ^[0-9A-Za-z]+$ ]] || { echo "boot.sh: --seed must be letters and digits" >&2; exit 2; }
[ -f "$LAB_DIR/lab.env" ] || { echo "boot.sh: $LAB_DIR/lab.env is missing: run lab/setup.sh" >&2; exit 2; }
# shellcheck source=/dev/null
. "$LAB_DIR/lab.env"
[ -f "$KERNEL" ] || { echo "boot.sh: kernel $KERNEL is missing: run lab/setup.sh" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: qemu-system-x86_64 is missing: run lab/setup.sh" >&2; exit 2; }

mkdir -p "$LAB_DIR/guest-ram" "$LAB_DIR/logs"
exec 9>"$LAB_DIR/qemu.lock"
if ! flock -n 9; then
  echo "boot.sh: another lab guest is running; waiting for $LAB_DIR/qemu.lock" >&2
  flock 9
fi

# ---------------------------------------------------------------- initramfs: busybox-static + /init (cached)
INITRD=$LAB_DIR/guest-ram/initramfs.cpio
key=$( { cat "$HERE/guest-init.sh" "$0"; sha256sum /bin/busybox; } | sha256sum | cut -d' ' -f1 )
if [ ! -s "$INITRD" ] || [ "$(cat "$INITRD.key" 2>/dev/null)" != "$key" ]; then
  ldd /bin/busybox >/dev/null 2>&1 && { echo "boot.sh: /bin/busybox is dynamic: apt-get install busybox-static" >&2; exit 2; }
  root=$(mktemp -d "$LAB_DIR/guest-ram/root.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,proc,tmp,dev}
  cp /bin/busybox "$root/bin/busybox"
  install -m 0755 "$HERE/guest-init.sh" "$root/init"
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  echo "$key" > "$INITRD.key"
fi

[ -n "$LOG" ] || LOG=$LAB_DIR/logs/$(date +%Y%m%d-%H%M%S)-guest-ram.log
set +e
timeout -k 5 "$TIMEOUT" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -nodefaults -no-reboot -display none -vga none \
  -machine pc -serial stdio -kernel "$KERNEL" -initrd "$INITRD" \
  -append "console=ttyS0 loglevel=4 panic=-1 guestseed=$SEED" "$@" </dev/null >"$LOG" 2>&1
qrc=$?
set -e
sed -i 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$LOG"
cat "$LOG"
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then echo "boot.sh: TIMEOUT after ${TIMEOUT}s" >&2; exit 124; fi
grep -aq 'GUEST-RAM: done' "$LOG" || { echo "boot.sh: the guest never reported (qemu rc=$qrc)" >&2; exit 125; }
exit 0
