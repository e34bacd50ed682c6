#!/bin/bash
# lab/setup.sh — prepare the kernel lab (idempotent; a second run takes well under a second).
#
#   * apt-installs the host tools: QEMU, busybox-static, cpio, xz, kmod (depmod/modprobe),
#     ndctl + daxctl (their binaries and shared libraries are copied into the guest), jq.
#   * downloads (does NOT install) Debian's linux-image-6.1.0-N-amd64 and extracts it under
#     $LAB_DIR/kernel/<kver>/, runs depmod on it, and unpacks the uncompressed vmlinux
#     (PVH-bootable ELF: boots about twice as fast under TCG as the xz bzImage).
#   * writes $LAB_DIR/lab.env, which mkinitramfs.sh and run.sh source.
#   * builds the initrd ($LAB_DIR/initramfs.cpio, lab/mkinitramfs.sh --if-stale) and links $LAB_DIR/vmlinuz and
#     $LAB_DIR/initrd.img to the kernel and the initrd (README's "Boot a VM from it" boots them).
#
# Environment:
#   LAB_DIR      cache/work dir            (default /var/tmp/daxpool-lab)
#   LAB_KVER     force a kernel, e.g. 6.1.0-56-amd64 (default: what linux-image-amd64 depends on,
#                else the highest linux-image-6.1.0-N-amd64 apt knows)
#   LAB_REFRESH  1 = re-resolve the kernel version through apt even if one is cached
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin        # depmod lives in /sbin

LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}
export DEBIAN_FRONTEND=noninteractive
log() { echo "setup: $*" >&2; }

mkdir -p "$LAB_DIR"

# ---------------------------------------------------------------- host packages
# qemu-system-x86 without recommends (skips the GUI, ovmf, ...); seabios + ipxe are hard deps.
HOST_PKGS="qemu-system-x86 busybox-static cpio xz-utils kmod ndctl daxctl jq util-linux"
APT_UPDATED=0
apt_update_once() {
  [ "$APT_UPDATED" = 1 ] && return
  log "apt-get update"
  apt-get update -qq
  APT_UPDATED=1
}
missing=""
for p in $HOST_PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt_update_once
  log "apt-get install$missing"
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# ---------------------------------------------------------------- kernel version
ENV_FILE=$LAB_DIR/lab.env
KVER=${LAB_KVER:-}
if [ -z "$KVER" ] && [ "${LAB_REFRESH:-0}" != 1 ] && [ -f "$ENV_FILE" ]; then
  KVER=$(sed -n 's/^KVER=//p' "$ENV_FILE")   # reuse the cached choice: no apt look-up needed
fi
resolve_kver() {
  # 1) what the meta package points at; 2) else the highest 6.1.0-N that apt lists.
  local k
  k=$(apt-cache depends linux-image-amd64 2>/dev/null \
      | grep -oE 'linux-image-6\.1\.0-[0-9]+-amd64' | head -1 | sed 's/^linux-image-//' || true)
  if [ -z "$k" ]; then
    k=$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64$' 2>/dev/null \
        | awk '{print $1}' | sed 's/^linux-image-//' | sort -V | tail -1 || true)
  fi
  echo "$k"
}
if [ -z "$KVER" ]; then
  KVER=$(resolve_kver)
  if [ -z "$KVER" ]; then apt_update_once; KVER=$(resolve_kver); fi
  [ -n "$KVER" ] || { log "cannot find linux-image-6.1.0-*-amd64 in apt"; exit 1; }
fi
KROOT=$LAB_DIR/kernel/$KVER
MODDIR=$KROOT/lib/modules/$KVER
BZIMAGE=$KROOT/boot/vmlinuz-$KVER
VMLINUX=$KROOT/vmlinux

# ---------------------------------------------------------------- kernel download + extract
if [ ! -f "$KROOT/.extracted" ]; then
  mkdir -p "$LAB_DIR/debs"
  deb=$(ls "$LAB_DIR/debs/linux-image-${KVER}_"*.deb 2>/dev/null | head -1 || true)
  if [ -z "$deb" ]; then
    log "apt-get download linux-image-$KVER (~70 MB)"
    # apt-get download as root warns about the _apt sandbox; harmless.
    (cd "$LAB_DIR/debs" && { apt-get download -qq "linux-image-$KVER" 2>/dev/null \
       || { apt_update_once; apt-get download -qq "linux-image-$KVER"; }; })
    deb=$(ls "$LAB_DIR/debs/linux-image-${KVER}_"*.deb | head -1)
  fi
  log "extracting $(basename "$deb")"
  rm -rf "$KROOT"; mkdir -p "$KROOT"
  dpkg-deb -x "$deb" "$KROOT"
  # the .deb ships no modules.dep; build it (needed to compute module closures)
  depmod -b "$KROOT" "$KVER"
  touch "$KROOT/.extracted"
  rm -f "$deb"                       # ~70 MB; re-downloaded only if the kernel changes
  # drop other cached kernels
  for d in "$LAB_DIR"/kernel/*; do [ "$d" = "$KROOT" ] || rm -rf "$d"; done
fi

# ---------------------------------------------------------------- uncompressed vmlinux (PVH)
# bzImage layout: setup_sects at 0x1f1 (1 byte), payload_offset at 0x248 (4 bytes, relative to
# the protected-mode code that starts at (setup_sects+1)*512). Debian compresses with xz;
# --single-stream stops at the end of the xz stream and ignores the trailer.
if [ ! -s "$VMLINUX" ]; then
  log "unpacking vmlinux from $(basename "$BZIMAGE")"
  setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$BZIMAGE" | tr -d ' ')
  payload_off=$(od -An -tu4 -j $((0x248)) -N4 "$BZIMAGE" | tr -d ' ')
  off=$(( (setup_sects + 1) * 512 + payload_off ))
  # (tail may die of SIGPIPE once xz stops at the end of the stream: only xz's status counts)
  { tail -c +$((off + 1)) "$BZIMAGE" || true; } | xz -dc --single-stream > "$VMLINUX.tmp" 2>/dev/null || true
  if [ "$(head -c4 "$VMLINUX.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
    mv "$VMLINUX.tmp" "$VMLINUX"
  else
    rm -f "$VMLINUX.tmp"
    log "could not unpack vmlinux; run.sh will boot the bzImage (slower)"
  fi
fi

# ---------------------------------------------------------------- env for the other scripts
KERNEL=$BZIMAGE; [ -s "$VMLINUX" ] && KERNEL=$VMLINUX
cat > "$ENV_FILE.tmp" <<EOF
# written by lab/setup.sh
KVER=$KVER
KROOT=$KROOT
MODDIR=$MODDIR
KERNEL=$KERNEL
BZIMAGE=$BZIMAGE
EOF
mv "$ENV_FILE.tmp" "$ENV_FILE"

# ---------------------------------------------------------------- the initrd, and stable names for both
# The lab initramfs (busybox-static, kmod, ndctl, daxctl and the nvdimm/dax modules from the packages above), and
# $LAB_DIR/vmlinuz and $LAB_DIR/initrd.img pointing at the kernel and it: the paths README's "Boot a VM from it"
# gives QEMU (vmlinuz is the PVH vmlinux when it could be unpacked, which QEMU boots the same way).
"$(cd "$(dirname "$0")" && pwd)/mkinitramfs.sh" --if-stale
ln -sfn "$KERNEL" "$LAB_DIR/vmlinuz"
ln -sfn "$LAB_DIR/initramfs.cpio" "$LAB_DIR/initrd.img"
log "ok: kernel $KVER, boot image $KERNEL; $LAB_DIR/vmlinuz and $LAB_DIR/initrd.img"
