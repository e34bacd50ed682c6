#!/bin/sh
# Guest script, first boot of the share test: leave state on the 9p share (/lab/share).
set -e
grep -q " /lab/share 9p " /proc/mounts
echo "boot1 $(cat /proc/sys/kernel/random/boot_id)" > /lab/share/state
sync
echo "wrote: $(cat /lab/share/state)"
