#!/bin/busybox sh
# /init of the guest-RAM initramfs (lab/guest-ram/boot.sh packs it with busybox-static alone).
#
# Writes a marker that only this guest can build (the host passes a seed, never the marker itself) over about
# 4 MiB of guest RAM (a tmpfs file), prints it on the console and powers off. The host then looks for the
# marker in the file that backed the guest's RAM.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t tmpfs -o size=64m tmpfs /tmp
seed=$(sed -n 's/.*guestseed=\([0-9A-Za-z]*\).*/\1/p' /proc/cmdline)
marker="DAXPOOL-GUEST-RAM-$seed-WRITTEN-BY-GUEST"
echo "GUEST-RAM: init up=$(cut -d' ' -f1 /proc/uptime)"
echo "$marker" > /tmp/marker
i=0
while [ $i -lt 16 ]; do
  cat /tmp/marker /tmp/marker > /tmp/next && mv /tmp/next /tmp/marker
  i=$((i + 1))
done
sync
echo "GUEST-RAM: wrote $(wc -c < /tmp/marker) bytes of $marker"
echo "GUEST-RAM: done up=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
