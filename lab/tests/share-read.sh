#!/bin/sh
# Guest script, second boot of the share test: the first boot's state must still be there.
set -e
grep -q " /lab/share 9p " /proc/mounts
read -r tag id < /lab/share/state
echo "read: $tag $id, this boot $(cat /proc/sys/kernel/random/boot_id)"
[ "$tag" = boot1 ] && [ "$id" != "$(cat /proc/sys/kernel/random/boot_id)" ]
