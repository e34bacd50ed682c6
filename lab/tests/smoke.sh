#!/bin/sh
# Guest-side smoke test (busybox sh). Boot with: lab/run.sh --hmem --pmem -- lab/tests/smoke.sh [daxprobe]
#
# Checks: the hmem dynamic dax region exists with available_size, the legacy pmem namespace is
# listed, a 256M sub-device can be created (one mapping), optionally probed with
# /lab/bin/daxprobe (mmap MAP_SHARED + write/read), and destroyed again.
fails=0
ok()   { echo "ok - $*"; }
fail() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }

echo "--- daxctl list -R -D"; daxctl list -R -D | tee /tmp/regions.json
echo "--- ndctl list -N";     ndctl list -N     | tee /tmp/ns.json

# the dynamic (hmem) region: the one whose path is /platform/hmem.N
region=$(jq -r '[.[] | select(.path | test("hmem"))][0].id // empty' /tmp/regions.json)
avail=$(jq -r "[.[] | select(.id == ${region:--1})][0].available_size // 0" /tmp/regions.json)
check "hmem dax region present (id=${region:-none})" [ -n "$region" ]
check "hmem region has available_size ($avail)" [ "$avail" -ge 268435456 ]
check "legacy pmem namespace listed" [ "$(jq 'length' /tmp/ns.json)" -ge 1 ]
[ -n "$region" ] || { echo "LAB-SMOKE: FAIL"; exit 1; }

echo "--- daxctl create-device -r $region -s 256M"
daxctl create-device -r "$region" -s 256M > /tmp/created.json
cat /tmp/created.json
dev=$(jq -r '.[0].chardev // empty' /tmp/created.json)
check "created a device ($dev)" [ -n "$dev" ]
check "/dev/$dev exists" [ -c "/dev/$dev" ]

echo "--- daxctl list -M -d $dev"
daxctl list -M -d "$dev" | tee /tmp/map.json
maps=$(jq -c '[.[0].mappings[].size]' /tmp/map.json)
check "one mapping of 256M ($maps)" [ "$maps" = "[268435456]" ]

if [ -x /lab/bin/daxprobe ]; then
  echo "--- daxprobe /dev/$dev"
  check "daxprobe on /dev/$dev" /lab/bin/daxprobe "/dev/$dev"
fi

echo "--- destroy $dev"
check "disable-device $dev" daxctl disable-device "$dev"
check "destroy-device $dev" daxctl destroy-device "$dev"
after=$(daxctl list -R | jq -r ".[] | select(.id == $region) | .available_size")
check "region fully available again ($after)" [ "$after" = "$avail" ]

if [ $fails = 0 ]; then echo "LAB-SMOKE: PASS"; else echo "LAB-SMOKE: FAIL ($fails)"; fi
[ $fails = 0 ]
