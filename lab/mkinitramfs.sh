#!/bin/bash
# lab/mkinitramfs.sh — build the base initramfs $LAB_DIR/initramfs.cpio (uncompressed: under TCG
# an uncompressed cpio boots faster than a gzip one).
#
# Contents: busybox-static (+ applet links), kmod (modprobe & co), ndctl, daxctl, jq and their
# shared libraries (found with ldd on the host, which has the same Debian packages), the
# nvdimm/dax/9p kernel modules with their dependency closure and a fresh modules.dep,
# and /init = lab/guest-init.sh.
#
# Usage: lab/mkinitramfs.sh [--if-stale]
#   --if-stale  rebuild only when an input changed (this script, guest-init.sh, kernel
#               version, package versions); run.sh uses this.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin        # depmod lives in /sbin

HERE=$(cd "$(dirname "$0")" && pwd)
LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}
[ -f "$LAB_DIR/lab.env" ] || "$HERE/setup.sh"
# shellcheck source=/dev/null
. "$LAB_DIR/lab.env"            # KVER, MODDIR, ...

OUT=$LAB_DIR/initramfs.cpio
KEYFILE=$LAB_DIR/initramfs.key
log() { echo "mkinitramfs: $*" >&2; }

# Modules to carry (dependencies are added automatically).
WANT_MODS="libnvdimm nd_pmem nd_btt nd_e820 nfit virtio_pmem
           dax_pmem device_dax dax_hmem kmem hwpoison-inject
           virtio_pci 9pnet_virtio 9p"
# Host binaries to carry, with their ldd closure.
BINS="/usr/bin/ndctl /usr/bin/daxctl /usr/bin/jq"

# ---------------------------------------------------------------- staleness check
key=$( { cat "$HERE/mkinitramfs.sh" "$HERE/guest-init.sh"; echo "$KVER";
         dpkg-query -W busybox-static kmod ndctl daxctl jq libc6; } | sha256sum | cut -d' ' -f1 )
if [ "${1:-}" = "--if-stale" ] && [ -s "$OUT" ] && [ "$(cat "$KEYFILE" 2>/dev/null)" = "$key" ]; then
  exit 0
fi

R=$(mktemp -d "$LAB_DIR/initramfs-root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,lab/bin,lib64} \
         "$R"/lib/x86_64-linux-gnu "$R"/etc/modprobe.d

# ---------------------------------------------------------------- busybox
# must be busybox-static's binary (the dynamic "busybox" package would need its libs)
ldd /bin/busybox >/dev/null 2>&1 && { log "/bin/busybox is dynamic: apt-get install busybox-static"; exit 1; }
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  case $a in busybox|modprobe|insmod|rmmod|lsmod|depmod|modinfo) continue ;; esac  # kmod's instead
  ln -s busybox "$R/bin/$a"
done

# ---------------------------------------------------------------- kmod
cp "$(command -v kmod)" "$R/bin/kmod"
for t in modprobe insmod rmmod lsmod depmod modinfo; do ln -s ../bin/kmod "$R/sbin/$t"; done

# ---------------------------------------------------------------- ndctl, daxctl, jq + libs
for b in $BINS; do cp "$b" "$R/usr/bin/"; done
# ldd lines: "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" or "/lib64/ld-linux... (0x...)"
for lib in $(ldd $BINS "$(command -v kmod)" | awk '/=> \//{print $3} /^\t\//{print $1}' | sort -u); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done

# ---------------------------------------------------------------- modules
FULLDEP=$MODDIR/modules.dep
declare -A SEEN=()
add_mod() {   # $1 = path relative to $MODDIR, e.g. kernel/drivers/dax/device_dax.ko
  [ -n "${SEEN[$1]:-}" ] && return
  SEEN[$1]=1
  local d
  for d in $(grep -E "^$1:" "$FULLDEP" | cut -d: -f2); do add_mod "$d"; done
}
for m in $WANT_MODS; do
  # modules.dep uses the file name; '-' and '_' are interchangeable in module names
  pat=$(echo "$m" | sed 's/[-_]/[-_]/g')
  p=$(grep -E "/${pat}\.ko(\.[a-z]+)?:" "$FULLDEP" | cut -d: -f1 | head -1 || true)
  [ -n "$p" ] || { log "module $m not in $FULLDEP"; exit 1; }
  add_mod "$p"
done
RMOD=$R/lib/modules/$KVER
for p in "${!SEEN[@]}"; do
  mkdir -p "$RMOD/$(dirname "$p")"
  cp "$MODDIR/$p" "$RMOD/$p"
done
cp "$MODDIR"/modules.{order,builtin,builtin.modinfo} "$RMOD/"
depmod -b "$R" "$KVER"

# ---------------------------------------------------------------- /etc, /init
echo 'root:x:0:0:root:/root:/bin/sh' > "$R/etc/passwd"
echo 'root:x:0:'                     > "$R/etc/group"
echo 'lab'                           > "$R/etc/hostname"
install -m 0755 "$HERE/guest-init.sh" "$R/init"

# ---------------------------------------------------------------- pack
(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$key" > "$KEYFILE"
log "$OUT: $(du -h "$OUT" | cut -f1), ${#SEEN[@]} modules"
