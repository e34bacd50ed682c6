#!/bin/sh
# Guest script for scripts/lab-labels (busybox sh): label storage areas between daxpool and the real
# kernel + ndctl. Boot with:
#   lab/run.sh --nvdimm IMG,128K --share DIR -- lab/tests/labels-interop.sh DAXPOOL
# where the host has written two namespaces into IMG's label area with daxpool (part a) and put what it
# expects in DIR/expect-a.txt ("uuid name dpa size" per line).
#
# (a) records what the kernel and ndctl make of the host's labels;
# (b) lets ndctl init-labels + create-namespace write labels, and records them for the host to read back.
# Each part also runs daxpool in the guest on ndctl's raw dump of the area and compares it with
# `ndctl read-labels -j`. Results go to /lab/share; the host compares them (scripts/lab-labels).
fails=0
ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
S=/lab/share
grep -q " /lab/share 9p " /proc/mounts || { echo "LAB-LABELS: no /lab/share"; exit 1; }

# One line per namespace: uuid name size dpa (dpa = resource - region resource; one DIMM, no interleave).
namespaces() {
  base=$(cat /sys/bus/nd/devices/region0/resource)
  for ns in /sys/bus/nd/devices/namespace0.*; do
    size=$(cat "$ns/size" 2>/dev/null || echo 0)
    [ "$size" -gt 0 ] || continue
    res=$(cat "$ns/resource")
    echo "$(cat "$ns/uuid") $(cat "$ns/alt_name") $size $((res - base))"
  done | sort
}

# daxpool in the guest reads ndctl's raw dump of the area; its JSON must equal ndctl's.
cross_check() {   # cross_check PART
  ndctl read-labels nmem0 -o /tmp/area-$1.bin 2>/dev/null
  daxpool read-labels --file /tmp/area-$1.bin -j > /tmp/daxpool-$1.json
  daxpool check-labels --file /tmp/area-$1.bin > $S/guest-$1-check-labels.json
  check "($1) daxpool check-labels accepts the area ndctl read" [ $? -eq 0 ]
  jq -S '.[0] | {index: .index, label: .label}' "$S/guest-$1-read-labels.json" > /tmp/ndctl-$1.norm
  jq -S '.[0] | {index: .index, label: .label}' /tmp/daxpool-$1.json > /tmp/daxpool-$1.norm
  check "($1) daxpool read-labels in the guest equals ndctl read-labels -j" cmp -s /tmp/ndctl-$1.norm /tmp/daxpool-$1.norm
}

echo "--- (a) labels written by daxpool on the host"
ndctl read-labels -j nmem0 > $S/guest-a-read-labels.json
ndctl list -N -i > $S/guest-a-list-N.json
cat $S/guest-a-list-N.json
namespaces > $S/guest-a-namespaces.txt
cat $S/guest-a-namespaces.txt
while read -r uuid name dpa size; do
  check "(a) ndctl list -N shows $name ($uuid, $size bytes)" \
    [ "$(jq -r --arg u "$uuid" '[.[] | select(.uuid == $u)][0] | "\(.name) \(.size)"' $S/guest-a-list-N.json)" = "$name $size" ]
  check "(a) the kernel placed $name at dpa $dpa" grep -q "^$uuid $name $size $dpa\$" $S/guest-a-namespaces.txt
done < $S/expect-a.txt
cross_check a

echo "--- (b) labels written by ndctl in the guest"
ndctl disable-region all
ndctl init-labels -f all
ndctl enable-region all
ndctl create-namespace -r region0 -m devdax -a 2M -s 256M -n guest-dax > /tmp/ns1.json
check "(b) create-namespace devdax guest-dax" [ $? -eq 0 ]
ndctl create-namespace -r region0 -m fsdax -s 128M -n guest-fs > /tmp/ns2.json
check "(b) create-namespace fsdax guest-fs" [ $? -eq 0 ]
ndctl read-labels -j nmem0 > $S/guest-b-read-labels.json
ndctl list -N > $S/guest-b-list-N.json
namespaces > $S/guest-b-namespaces.txt
cat $S/guest-b-namespaces.txt
check "(b) two labelled namespaces" [ "$(wc -l < $S/guest-b-namespaces.txt)" -eq 2 ]
cross_check b

# QEMU writes the label area through to the backing file; disable the region so nothing is in flight.
ndctl disable-region all
sync
if [ $fails -eq 0 ]; then echo "LAB-LABELS: PASS"; else echo "LAB-LABELS: FAIL ($fails)"; fi
exit $fails
