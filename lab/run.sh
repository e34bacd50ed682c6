#!/bin/bash
# lab/run.sh — boot Debian's 6.1 kernel under QEMU/TCG with device-dax hardware and run one
# guest script in it. Exits with the guest script's exit status.
#
# Usage: lab/run.sh [options] [--] GUEST_SCRIPT [FILES...]
#
#   GUEST_SCRIPT   busybox-sh script, becomes /lab/test.sh (run with cwd /lab)
#   FILES          copied into /lab/bin/ (on PATH), e.g. a static daxpool binary
#
# Options:
#   --hmem               1 GiB soft-reserved memory at 5G -> dynamic dax region (dax_hmem),
#                        booted with dax_hmem.region_idle=1: empty region, all 1 GiB available
#   --hmem-full          same range, kernel default: dax0.0 already covers the whole 1 GiB
#   --pmem               1 GiB legacy e820 pmem at 4G (memmap=1G!4G) -> ndbus0/region, fsdax ns
#   --nvdimm FILE[,LABEL_SIZE[,SIZE]]
#                        emulated NVDIMM backed by FILE (created with SIZE, default 1G, if absent),
#                        label area LABEL_SIZE (default 128K) -> NFIT region, labelled namespaces
#   --share DIR          9p share of host DIR at /lab/share (survives reboots: state across boots)
#   --mem SIZE           guest RAM (default 2G; 4G with --pmem; 6G with --hmem)
#   --numa               describe the RAM as NUMA node 0 (an SRAT), so soft-reserved memory gets a
#                        target_node and kmem can take it as System RAM (daxctl --mode=system-ram)
#   --timeout S          kill QEMU after S seconds (default 300); exit status 124
#   --append ARGS        extra kernel command-line arguments
#   --log FILE           console log (default $LAB_DIR/logs/<time>-<script>.log)
#   --shell              interactive: console on this terminal, shell after the script, no timeout
#   -v, --verbose        also stream the console to stdout
#
# Environment: LAB_DIR (default /var/tmp/daxpool-lab), LAB_BZIMAGE=1 (boot the bzImage instead
# of the uncompressed PVH vmlinux).
#
# Exit status: the script's status (from the "LAB: exit N" console marker); 124 on timeout;
# 125 if the guest never reported (kernel panic, init failure, ...: see the console log).
# Only one guest runs at a time: concurrent run.sh calls queue on $LAB_DIR/qemu.lock.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
export LAB_DIR=${LAB_DIR:-/var/tmp/daxpool-lab}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit "${1:-2}"; }
die() { echo "run.sh: $*" >&2; exit 2; }

# ---------------------------------------------------------------- options
HMEM=""; PMEM=0; NUMA=0; NVDIMM=""; SHARE=""; MEM=""; TIMEOUT=300; APPEND=""; LOG=""; SHELL_MODE=0; VERBOSE=0
while [ $# -gt 0 ]; do
  case $1 in
    --hmem)      HMEM=idle ;;
    --hmem-full) HMEM=full ;;
    --pmem)      PMEM=1 ;;
    --numa)      NUMA=1 ;;
    --nvdimm)    NVDIMM=${2:?--nvdimm needs FILE[,LABEL_SIZE[,SIZE]]}; shift ;;
    --share)     SHARE=${2:?--share needs DIR}; shift ;;
    --mem)       MEM=${2:?}; shift ;;
    --timeout)   TIMEOUT=${2:?}; shift ;;
    --append)    APPEND="$APPEND ${2:?}"; shift ;;
    --log)       LOG=${2:?}; shift ;;
    --shell)     SHELL_MODE=1 ;;
    -v|--verbose) VERBOSE=1 ;;
    -h|--help)   usage 0 ;;
    --)          shift; break ;;
    -*)          die "unknown option $1 (see --help)" ;;
    *)           break ;;
  esac
  shift
done
[ $# -ge 1 ] || usage
SCRIPT=$1; shift
[ -f "$SCRIPT" ] || die "no such guest script: $SCRIPT"
for f in "$@"; do [ -e "$f" ] || die "no such file: $f"; done

# size string (QEMU style: 512M, 6G, 128K; bare number = MiB) -> MiB
to_mib() {
  local n=${1%[KkMmGgTt]} u=${1: -1}
  case $u in K|k) echo $(( n / 1024 )) ;; M|m) echo "$n" ;; G|g) echo $(( n * 1024 )) ;;
             T|t) echo $(( n * 1024 * 1024 )) ;; *) echo "$1" ;; esac
}

# ---------------------------------------------------------------- kernel command line + memory
# pc machine RAM layout when -m > 3.5G: 0-3G low RAM, the rest from 4G up. The pmem / hmem
# ranges are carved out of the RAM above 4G (never below: SeaBIOS reserves the top of low RAM
# and a range straddling that reservation gets split into unusable, misaligned pieces).
CMDLINE="console=ttyS0 loglevel=4 panic=-1"
need_mib=2048
if [ "$PMEM" = 1 ]; then
  CMDLINE="$CMDLINE memmap=1G!4G"                       # e820 type 12 -> nd_e820 region
  need_mib=4096
fi
if [ -n "$HMEM" ]; then
  CMDLINE="$CMDLINE memmap=1G%5G-1+0xefffffff"          # retype 5G..6G as E820_SOFT_RESERVED
  [ "$HMEM" = idle ] && CMDLINE="$CMDLINE dax_hmem.region_idle=1"
  need_mib=6144                                         # 5G-6G must be RAM; 6G-7G stays usable
fi
[ -n "$MEM" ] || MEM="$(( need_mib / 1024 ))G"
[ "$(to_mib "$MEM")" -ge "$need_mib" ] || echo "run.sh: warning: --mem $MEM < $((need_mib/1024))G needed by --pmem/--hmem" >&2
[ -n "$SHARE" ] && CMDLINE="$CMDLINE labshare=1"
[ "$SHELL_MODE" = 1 ] && CMDLINE="$CMDLINE labshell=1"
CMDLINE="$CMDLINE$APPEND"

QEMU_ARGS=(-accel tcg -cpu max -smp 1 -nodefaults -no-reboot -display none -vga none)
MACHINE=pc
MEMARG=$MEM
if [ -n "$NVDIMM" ]; then
  IFS=, read -r NV_FILE NV_LABEL NV_SIZE <<<"$NVDIMM"
  NV_LABEL=${NV_LABEL:-128K}
  if [ ! -e "$NV_FILE" ]; then
    mkdir -p "$(dirname "$NV_FILE")"
    truncate -s "${NV_SIZE:-1G}" "$NV_FILE"
  fi
  NV_MIB=$(( $(stat -c %s "$NV_FILE") / 1048576 ))
  MACHINE=pc,nvdimm=on
  # NVDIMMs live in the hot-plug area: maxmem must cover RAM + all DIMMs
  MEMARG="$MEM,slots=2,maxmem=$(( $(to_mib "$MEM") + NV_MIB + 1024 ))M"
  QEMU_ARGS+=(-object "memory-backend-file,id=nv0,share=on,mem-path=$NV_FILE,size=${NV_MIB}M"
              -device "nvdimm,id=nvdimm0,memdev=nv0,label-size=$NV_LABEL")
fi
if [ -n "$SHARE" ]; then
  mkdir -p "$SHARE"
  QEMU_ARGS+=(-virtfs "local,path=$(cd "$SHARE" && pwd),mount_tag=lab,security_model=none,id=lab")
fi
QEMU_ARGS+=(-machine "$MACHINE" -m "$MEMARG")
if [ "$NUMA" = 1 ]; then
  QEMU_ARGS+=(-object "memory-backend-ram,id=numa0,size=$(to_mib "$MEM")M" -numa "node,nodeid=0,memdev=numa0")
fi

# ---------------------------------------------------------------- serialize guests, build images
mkdir -p "$LAB_DIR/logs" "$LAB_DIR/tmp"
exec 9>"$LAB_DIR/qemu.lock"
if ! flock -n 9; then
  echo "run.sh: another lab guest is running; waiting for $LAB_DIR/qemu.lock" >&2
  flock 9
fi
[ -f "$LAB_DIR/lab.env" ] || "$HERE/setup.sh"
# shellcheck source=/dev/null
. "$LAB_DIR/lab.env"
"$HERE/mkinitramfs.sh" --if-stale

WORK=$(mktemp -d "$LAB_DIR/tmp/run.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# payload cpio: /lab/test.sh + /lab/bin/*; the kernel unpacks concatenated cpio archives in turn
mkdir -p "$WORK/payload/lab/bin"
install -m 0755 "$SCRIPT" "$WORK/payload/lab/test.sh"
for f in "$@"; do cp -a "$f" "$WORK/payload/lab/bin/"; done
(cd "$WORK/payload" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) > "$WORK/payload.cpio"
cat "$LAB_DIR/initramfs.cpio" "$WORK/payload.cpio" > "$WORK/initrd.cpio"

if [ -z "$LOG" ]; then
  LOG=$LAB_DIR/logs/$(date +%Y%m%d-%H%M%S)-$(basename "$SCRIPT" .sh).log
  # keep the last 200 logs
  (cd "$LAB_DIR/logs" && ls -1t | tail -n +200 | xargs -r rm -f) || true
fi
mkdir -p "$(dirname "$LOG")"
[ "${LAB_BZIMAGE:-0}" = 1 ] && KERNEL=$BZIMAGE      # compare: the xz bzImage boots slower
QEMU_ARGS+=(-kernel "$KERNEL" -initrd "$WORK/initrd.cpio" -append "$CMDLINE")

# ---------------------------------------------------------------- boot
echo "run.sh: console log: $LOG" >&2
echo "run.sh: cmdline: $CMDLINE" >&2
if [ "$SHELL_MODE" = 1 ]; then
  # interactive: serial + QEMU monitor multiplexed on this terminal (Ctrl-A X quits QEMU)
  qemu-system-x86_64 "${QEMU_ARGS[@]}" -serial mon:stdio 2>&1 | tee "$LOG"
  exit 0
fi

t0=$(date +%s.%N)
set +e
if [ "$VERBOSE" = 1 ]; then
  timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${QEMU_ARGS[@]}" -serial stdio </dev/null 2>&1 | tee "$LOG"
  qrc=${PIPESTATUS[0]}
else
  timeout -k 5 "$TIMEOUT" qemu-system-x86_64 "${QEMU_ARGS[@]}" -serial stdio </dev/null >"$LOG" 2>&1
  qrc=$?
fi
set -e
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')

# strip CRs and terminal escapes (SeaBIOS clears the screen) so the log greps cleanly;
# the guest powers off mid-line, so end the log with a newline
sed -i 's/\r$//; s/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' "$LOG"
echo >> "$LOG"
[ "$VERBOSE" = 1 ] && echo

rc=$(grep -ao 'LAB: exit [0-9]*' "$LOG" | tail -1 | awk '{print $3}' || true)
uptime_done=$(grep -ao 'LAB: init done uptime=[0-9.]*' "$LOG" | tail -1 | cut -d= -f2 || true)
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
  echo "run.sh: TIMEOUT after ${TIMEOUT}s (console log: $LOG)" >&2
  tail -n 30 "$LOG" >&2
  exit 124
fi
if [ -z "$rc" ]; then
  echo "run.sh: guest did not report an exit status (qemu rc=$qrc, ${secs}s); console log: $LOG" >&2
  tail -n 30 "$LOG" >&2
  exit 125
fi
echo "run.sh: guest exit $rc, ${secs}s wall (guest uptime ${uptime_done:-?}s); console log: $LOG" >&2
exit "$rc"
