#!/bin/sh
# Guest side of scripts/lab-elastic-carve (boot 2, after elastic-carve.sh): the kernel forgot every sub-device and
# onlines nothing by itself; daxpool rebuilds the layout from its state and lends again what it had lent.
. /lab/bin/devdax-lib.sh
DEVS='def devs: [arr[] | if has("devices") then (.devices // [])[] else . end];'
STATE=/lab/share/state
memtotal() { awk '/^MemTotal:/ {print $2}' /proc/meminfo; }
before=$(memtotal)
check "daxpool serve starts from boot 1's state" start_daemon "$STATE"
daxpool list -D > /tmp/p.json
echo "# daxpool list: $(jq -c "$ARR$DEVS"'[devs[] | {chardev, size, state, mode, online_memblocks}]' /tmp/p.json)"
lent=$(jq "$ARR$DEVS"'[devs[] | select(.state == "lent" and .mode == "system-ram" and .online_memblocks == 2)] | length' /tmp/p.json)
check "the lent device is lent again (system-ram, 2 blocks online)" [ "$lent" = 1 ]
check "MemTotal grew by 256 MiB ($before -> $(memtotal) kB)" [ $(( $(memtotal) - before )) = 262144 ]
daxctl list -D > /tmp/k.json
check "daxctl agrees: one device in system-ram mode" \
  [ "$(jq "$ARR$DEVS"'[devs[] | select(.mode == "system-ram" and .online_memblocks == 2 and .movable == true)] | length' /tmp/k.json)" = 1 ]
check "vm1 is rebuilt enabled" [ "$(jq -r "$ARR$DEVS"'[devs[] | select(.name == "vm1")][0].state' /tmp/p.json)" = enabled ]
stop_daemon
finish elastic-carve-reboot
