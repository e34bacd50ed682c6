#!/bin/sh
# Guest side of scripts/lab-elastic-carve (boot 1): lab/run.sh --hmem --numa --mem 6G --share DIR
#   /lab/bin/{daxpool,daxmmap,memfill,devdax-lib.sh}
#
# Lending carved memory to the host and taking it back, on the real kernel (issue 16): daxpool lends 512 MiB of the
# hmem dax region through kmem (blocks online movable, MemTotal grows), survives a daemon restart, a host process
# fills memory so pages land in the lent blocks, a reclaim with a time limit too short for the offline is reported
# and leaves the device fully lent, the real reclaim migrates the pages out (the process's memory intact), MemTotal
# shrinks back, daxctl and daxpool agree, and a new device over that memory reads zero. Then the time to lend and
# to reclaim 1 GiB beside daxctl reconfigure-device, the --lend-idle policy (a big create takes lent memory back),
# and a lent device left in the state for boot 2 (elastic-carve-reboot.sh).
. /lab/bin/devdax-lib.sh
DEVS='def devs: [arr[] | if has("devices") then (.devices // [])[] else . end];'

STATE=/lab/share/state
rm -rf "$STATE"; mkdir -p "$STATE"
now() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
memtotal() { awk '/^MemTotal:/ {print $2}' /proc/meminfo; }
movable_used() { awk '/^Node .* zone +Movable/ {z=1; next} /^Node/ {z=0} z && /^ +pages free/ {f=$3} z && /^ +present/ {p=$2} END {if (p) printf "%d of %d", p - f, p; else print "none"}' /proc/zoneinfo; }

echo "# block_size_bytes=$(cat /sys/devices/system/memory/block_size_bytes) auto_online_blocks=$(cat /sys/devices/system/memory/auto_online_blocks) memmap_on_memory=$(cat /sys/module/memory_hotplug/parameters/memmap_on_memory 2>/dev/null)"
daxctl list -R -i > /tmp/regions.json
set -- $(jq -r "$ARR"'[arr[] | select(.path | test("hmem"))][0] | "\(.id) \(.size)"' /tmp/regions.json)
R=$1; RSIZE=$2
check "an hmem dax region exists (id ${R:-none}, $RSIZE bytes)" [ -n "$R" -a "$R" != null ]
echo "# target_node of the region's seed: $(cat /sys/bus/dax/devices/dax$R.0/target_node 2>/dev/null || echo none)"
check "daxpool serve starts" start_daemon "$STATE"
run daxpool create-region --backend devdax --dax-region "$R"

# ---------------------------------------------------------------- bad input: clear 4xx, nothing changes
if daxpool lend -r "$R" 100M > /dev/null 2> /tmp/err.txt; then fail "lend 100M (not whole blocks) is refused"
else
  check "lend 100M is refused naming the block size: $(tr -d '\n' < /tmp/err.txt)" grep -q '134217728' /tmp/err.txt
fi
if daxpool lend -r "$R" 2G > /dev/null 2> /tmp/err.txt; then fail "lend 2G (more than the region) is refused"
else ok "lend 2G is refused: $(tr -d '\n' < /tmp/err.txt)"; fi
if daxpool reclaim dax$R.9 > /dev/null 2> /tmp/err.txt; then fail "reclaim of an unknown device is refused"
else ok "reclaim of an unknown device is refused: $(tr -d '\n' < /tmp/err.txt)"; fi
daxpool list -r "$R" -R > /tmp/out.json
check "the refusals changed nothing (available_size $RSIZE)" [ "$(jq -r "$ARR"'[arr[]][0].available_size' /tmp/out.json)" = "$RSIZE" ]

# ---------------------------------------------------------------- lend 512 MiB
before=$(memtotal)
t0=$(now)
if run daxpool lend -r "$R" 512M --name lent1; then
  t1=$(now)
  D=$(jq -r .chardev /tmp/out.json)
  echo "# lend 512M: $D in $((t1 - t0)) ms"; cat /tmp/out.json
  after=$(memtotal)
  check "MemTotal grew by 512 MiB ($before kB -> $after kB)" [ $((after - before)) = 524288 ]
  daxctl list -d "$D" > /tmp/k.json
  echo "# daxctl list -d $D: $(cat /tmp/k.json)"
  check "daxctl list: $D is system-ram, 4 of 4 blocks online, movable" \
    [ "$(jq -r "$ARR"'[arr[]][0] | "\(.mode) \(.online_memblocks) \(.total_memblocks) \(.movable)"' /tmp/k.json)" = "system-ram 4 4 true" ]
  daxpool list -d "$D" > /tmp/p.json
  check "daxpool list: $D is system-ram, 4 of 4 blocks online, movable, lent" \
    [ "$(jq -r "$ARR"'[arr[]][0] | "\(.mode) \(.online_memblocks) \(.total_memblocks) \(.movable) \(.state)"' /tmp/p.json)" = "system-ram 4 4 true lent" ]
  for b in $(ls -d /sys/devices/system/memory/memory* | sed 's/.*memory//'); do
    z=$(cat /sys/devices/system/memory/memory$b/valid_zones 2>/dev/null)
    [ "$z" = Movable ] && echo "# memory$b: $(cat /sys/devices/system/memory/memory$b/state) $z"
  done
  daxpool list -r "$R" -R > /tmp/out.json
  check "available_size no longer counts it" [ "$(jq -r "$ARR"'[arr[]][0].available_size' /tmp/out.json)" = $((RSIZE - 536870912)) ]
else
  D=
fi
stop_daemon
check "daxpool serve starts again with the device lent" start_daemon "$STATE"
daxpool list -d "$D" > /tmp/p.json 2>&1
check "after a restart $D is still lent (4 of 4 online)" \
  [ "$(jq -r "$ARR"'[arr[]][0] | "\(.mode) \(.online_memblocks) \(.state)"' /tmp/p.json)" = "system-ram 4 lent" ]

# ---------------------------------------------------------------- a host process fills memory
echo "# Movable zone pages used before the fill: $(movable_used)"
rm -f /tmp/ready
memfill 1200 /tmp/ready > /tmp/memfill.out 2>&1 &
filler=$!
i=0; while [ ! -e /tmp/ready ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
check "memfill holds 1200 MiB" [ -e /tmp/ready ]
used=$(movable_used)
echo "# Movable zone pages used after the fill: $used"
check "host pages landed in the lent blocks ($used)" [ "${used%% *}" -gt 16384 ]

# ---------------------------------------------------------------- a reclaim that cannot finish in its time limit
t0=$(now)
if daxpool reclaim --time-limit 0.02 "$D" > /tmp/out.json 2> /tmp/err.txt; then
  fail "a reclaim with a 20 ms limit fails (it finished: $(cat /tmp/out.json))"
else
  t1=$(now)
  ok "a reclaim with a 20 ms limit is reported after $((t1 - t0)) ms: $(tr -d '\n' < /tmp/err.txt)"
  check "the report says the device stays lent" grep -q 'stays lent' /tmp/err.txt
fi
daxctl list -d "$D" > /tmp/k.json; daxpool list -d "$D" > /tmp/p.json
check "after it: daxctl shows $D fully lent (system-ram 4 of 4)" \
  [ "$(jq -r "$ARR"'[arr[]][0] | "\(.mode) \(.online_memblocks) \(.total_memblocks)"' /tmp/k.json)" = "system-ram 4 4" ]
check "after it: daxpool shows $D fully lent" \
  [ "$(jq -r "$ARR"'[arr[]][0] | "\(.mode) \(.online_memblocks) \(.state)"' /tmp/p.json)" = "system-ram 4 lent" ]
check "after it: MemTotal still counts the lent memory" [ "$(memtotal)" = "$after" ]

# ---------------------------------------------------------------- reclaim
t0=$(now)
if run daxpool reclaim "$D"; then
  t1=$(now)
  echo "# reclaim 512M with host pages in it: $((t1 - t0)) ms: $(cat /tmp/out.json)"
  check "MemTotal is back ($(memtotal) kB)" [ "$(memtotal)" = "$before" ]
  check "memfill still runs" kill -0 "$filler"
  kill -USR1 "$filler"; sleep 2
  check "memfill's pages were migrated intact: $(cat /tmp/memfill.out)" grep -q intact /tmp/memfill.out
fi
echo "# Movable zone after reclaim: $(movable_used)"
daxctl list -r "$R" -R -D -i > /tmp/k.json; daxpool list -r "$R" -R > /tmp/p.json
check "daxctl and daxpool agree: no device holds memory, available_size $RSIZE" \
  [ "$(jq -r "$ARR"'[arr[]][0] | "\(.available_size) \([(.devices // [])[] | select(.size > 0)] | length)"' /tmp/k.json)" = "$RSIZE 0" \
    -a "$(jq -r "$ARR"'[arr[]][0] | "\(.available_size) \((.devices // []) | length)"' /tmp/p.json)" = "$RSIZE 0" ]
kill "$filler" 2>/dev/null

if dp_create -r "$R" -s "$RSIZE"; then
  daxmmap "/dev/$created" 2097152 "$RSIZE" zero && ok "a new device over all of that memory reads zero everywhere" \
    || fail "a new device over the reclaimed memory reads zero"
  dp_destroy "$created"
fi

# ---------------------------------------------------------------- 1 GiB: daxpool against daxctl reconfigure-device
# Each tool lends 1 GiB, a host process then fills memory (so the host's pages sit in the lent blocks), and the
# tool takes it back: daxpool's reclaim also zeroes the 1 GiB, daxctl's does not.
fill() {
  rm -f /tmp/ready; memfill 1200 /tmp/ready > /dev/null 2>&1 & filler=$!
  i=0; while [ ! -e /tmp/ready ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
}
t0=$(now); run daxpool lend -r "$R" 1G; t1=$(now); D=$(jq -r .chardev /tmp/out.json)
fill; echo "# daxpool 1G lent, Movable zone used: $(movable_used)"
t2=$(now); run daxpool reclaim "$D"; t3=$(now); kill "$filler"
echo "BENCH lend-1G daxpool_ms=$((t1 - t0)) reclaim-1G daxpool_ms=$((t3 - t2)) (reclaim includes zeroing 1 GiB)"
stop_daemon
daxctl create-device -r "$R" -s 1G > /tmp/k.json 2>/dev/null; K=$(jq -r "$ARR"'[arr[]][0].chardev' /tmp/k.json)
t0=$(now); daxctl reconfigure-device --mode=system-ram "$K" > /dev/null 2>&1; t1=$(now)
check "daxctl lent $K" [ "$(daxctl list -d "$K" | jq -r "$ARR"'[arr[]][0].mode')" = system-ram ]
fill; echo "# daxctl 1G lent, Movable zone used: $(movable_used)"
t2=$(now); daxctl reconfigure-device --mode=devdax -f "$K" > /dev/null 2>&1; t3=$(now); kill "$filler"
echo "BENCH lend-1G daxctl_ms=$((t1 - t0)) reclaim-1G daxctl_ms=$((t3 - t2)) (no zeroing)"
daxctl disable-device "$K" > /dev/null 2>&1; daxctl destroy-device "$K" > /dev/null 2>&1
# daxctl gave the host's data back with the memory: zero it (a daxpool device's destroy scrubs) before the policy.
check "daxpool serve starts" start_daemon "$STATE"
dp_create -r "$R" -s "$RSIZE" && dp_destroy "$created"
stop_daemon

# ---------------------------------------------------------------- the policy: --lend-idle --keep-free 256M
before=$(memtotal)
daxpool serve --state-dir "$STATE" --default-region-size 0 --socket "$DAXPOOL_SOCKET" --log-level info \
  --lend-idle --keep-free 256M --lend-chunk 256M >> /tmp/daxpool.log 2>&1 &
daemon=$!
i=0; lent=0
while [ $i -lt 60 ]; do
  lent=$(daxpool list -r "$R" -D 2>/dev/null | jq "$ARR$DEVS"'[devs[] | select(.state == "lent")] | length' 2>/dev/null)
  [ "${lent:-0}" -ge 3 ] && break
  sleep 1; i=$((i + 1))
done
check "--lend-idle lent 768 MiB as 3 devices, keeping 256 MiB free (lent ${lent:-0}, MemTotal +$(( $(memtotal) - before )) kB)" \
  [ "${lent:-0}" = 3 -a $(( $(memtotal) - before )) = 786432 ]
t0=$(now)
if run daxpool create-device -r "$R" -s 768M --name vm1; then
  t1=$(now)
  ok "a 768M create-device took lent memory back and succeeded in $((t1 - t0)) ms"
  daxpool list -r "$R" -D > /tmp/p.json
  check "one lent device is left, MemTotal +256 MiB" \
    [ "$(jq "$ARR$DEVS"'[devs[] | select(.state == "lent")] | length' /tmp/p.json)" = 1 \
      -a $(( $(memtotal) - before )) = 262144 ]
  daxmmap "/dev/$created" 2097152 805306368 zero && ok "vm1 (over memory the host used) reads zero" || fail "vm1 reads zero"
fi
grep -a -E 'lent idle|reclaiming|reclaimed' /tmp/daxpool.log | tail -n 8 | sed 's/^/# /'
stop_daemon
echo "# left for boot 2: $(daxpool list -r "$R" -D 2>/dev/null | head -c 0)$(daxctl list -r "$R" -D | jq -c "$ARR"'[arr[] | {chardev, size, mode}]')"
finish elastic-carve
