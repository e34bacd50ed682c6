#!/bin/sh
# /init of the lab initramfs (busybox sh; installed by lab/mkinitramfs.sh).
#
# Mounts the pseudo filesystems, loads the nvdimm/dax modules, optionally mounts the 9p share,
# waits for nd/dax devices to settle, runs /lab/test.sh (carried in run.sh's payload cpio) and
# powers off. Progress goes to the serial console as "LAB: ..." lines; run.sh parses
# "LAB: exit N" for the script's exit status.
#
# Kernel command-line knobs (no dots in the names: dotted names are module parameters):
#   labmods=a,b,c   modules to load (default below)
#   labshare=1      mount 9p tag "lab" at /lab/share (run.sh --share DIR)
#   labshell=1      after the script, start a shell on the console instead of powering off
export PATH=/lab/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/shm /dev/pts && mount -t tmpfs tmpfs /dev/shm && mount -t devpts devpts /dev/pts

up() { cut -d' ' -f1 /proc/uptime; }
echo "LAB: init start uptime=$(up)"

mods="libnvdimm,nd_pmem,nd_btt,nd_e820,nfit,dax_pmem,device_dax,dax_hmem,kmem"
share=0; shell=0
for a in $(cat /proc/cmdline); do
  case $a in
    labmods=*)  mods=${a#labmods=} ;;
    labshare=*) share=${a#labshare=} ;;
    labshell=*) shell=${a#labshell=} ;;
  esac
done

# one modprobe process for all (fork+exec is slow under TCG); fall back to one by one
mods=$(echo "$mods" | tr ',' ' ')
if [ -n "$mods" ] && ! modprobe -a $mods 2>/dev/null; then
  for m in $mods; do modprobe "$m" || echo "LAB: modprobe $m failed"; done
fi

if [ "$share" = 1 ]; then
  modprobe -a virtio_pci 9pnet_virtio 9p
  mkdir -p /lab/share
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 lab /lab/share \
    || echo "LAB: 9p mount failed"
fi

# No udev: nd/dax probing is asynchronous, so wait until the device and driver-binding
# listing stops changing (3 equal samples 50 ms apart, at most ~3 s). Skipped when
# /proc/iomem has no pmem / soft-reserved ranges.
if grep -q -E 'Persistent Memory|Soft Reserved' /proc/iomem; then
  prev=""; same=0; i=0
  while [ $i -lt 60 ] && [ $same -lt 3 ]; do
    cur=$(ls /sys/bus/nd/devices /sys/bus/dax/devices /sys/bus/nd/drivers/*/ \
              /sys/bus/dax/drivers/*/ 2>/dev/null | tr '\n' ' ')
    if [ -n "$cur" ] && [ "$cur" = "$prev" ]; then same=$((same + 1)); else same=0; fi
    prev=$cur; i=$((i + 1)); sleep 0.05
  done
fi
echo "LAB: modules loaded uptime=$(up)"

rc=0
if [ -f /lab/test.sh ]; then
  echo "LAB: running /lab/test.sh"
  (cd /lab && exec sh /lab/test.sh) 2>&1
  rc=$?
else
  echo "LAB: no /lab/test.sh"
fi
echo "LAB: exit $rc"
echo "LAB: init done uptime=$(up)"

if [ "$shell" = 1 ]; then
  echo "LAB: shell (type 'poweroff -f' to quit)"
  setsid cttyhack sh -l
fi
sync
[ "$share" = 1 ] && umount /lab/share 2>/dev/null
poweroff -f
