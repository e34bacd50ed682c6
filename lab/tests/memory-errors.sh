#!/bin/sh
# Guest side of scripts/lab-memory-errors: lab/run.sh --hmem -- lab/tests/memory-errors.sh
#   /lab/bin/{daxpool,poison,devdax-lib.sh}
#
# While daxpool runs, another process poisons a page of a daxpool device with madvise(MADV_HWPOISON), as the
# kernel's memory-failure handling does for an uncorrectable error: first on a devdax device (the hmem region),
# then on a hugetlb device. The kernel must tell daxpool (it maps its devices and asked for early kill), and
# daxpool must report the event for the right device and offset (rounded to the kernel's granule), quarantine the
# range, survive scrubbing the poisoned memory when the device is destroyed, and never let a device created
# afterwards cover the range.
. /lab/bin/devdax-lib.sh

# wait_event DEVICE OFFSET: waits (40 tries; a CLI call takes most of a second under TCG) until daxpool reports
# a memory error on DEVICE at device offset OFFSET; leaves the event in /tmp/event.json
wait_event() {
  i=0
  while [ $i -lt 40 ]; do
    daxpool events > /tmp/events.json 2> /dev/null
    jq -c --arg d "$1" --argjson o "$2" 'select(.device == $d and .device_offset == $o)' /tmp/events.json \
      > /tmp/event.json 2> /dev/null
    [ -s /tmp/event.json ] && return 0
    sleep 0.5; i=$((i + 1))
  done
  echo "--- events"; cat /tmp/events.json; echo "--- daemon log"; tail -n 40 /tmp/daxpool.log
  return 1
}

# poison_and_expect KIND PATH MAP_LENGTH OFFSET DEVICE DEVICE_OFFSET: poisons the page at OFFSET of PATH and
# expects daxpool to report it on DEVICE at DEVICE_OFFSET (OFFSET rounded down to the 2 MiB page), from a signal
poison_and_expect() {
  poison "$2" "$3" "$4" | tee /tmp/poison.txt
  check "$1: MADV_HWPOISON on $5 at $4 went through" grep -q 'poison: done' /tmp/poison.txt
  if wait_event "$5" "$6"; then
    ok "$1: daxpool reported the error on $5 at device offset $6"
    cat /tmp/event.json
    check "$1: the event came from the kernel's signal" jq -e '.source == "sigbus-ao" or .source == "sigbus-ar"' \
      /tmp/event.json
    check "$1: granule and length are the 2 MiB page the kernel reported" \
      jq -e '.granule == 2097152 and .length == 2097152' /tmp/event.json
  else
    fail "$1: daxpool reported the error on $5 at device offset $6"
  fi
}

# alive: the daemon still answers
alive() { daxpool list -R > /dev/null; }

# covers START END ADDRESS: whether [START, END] holds ADDRESS (hex or decimal; jq does the arithmetic)
covers() { jq -n --argjson s "$1" --argjson e "$2" --argjson a "$3" '$s <= $a and $a <= $e' | grep -q true; }

check "daxpool serve starts" start_daemon /tmp/state
echo 1 > /proc/sys/kernel/printk_ratelimit 2> /dev/null

# ------------------------------------------------------------------ devdax (hmem region 0, 2M alignment)
run daxpool create-region --backend devdax --dax-region 0 || { finish memory-errors; exit 1; }
run daxpool create-device -r 0 -s 64M -a 2M --name victim
run daxpool create-device -r 0 -s 64M -a 2M --name neighbour
victim=$(daxpool list -d victim | jq -r "$ARR"'arr[0].chardev')
daxctl list -M -d "$victim" > /tmp/victim.json
vstart=$(jq -r "$ARR"'arr[0].mappings[0].start' /tmp/victim.json)
check "devdax victim is $victim with one kernel mapping at $vstart" [ -n "$vstart" ] && [ "$vstart" != null ]

poison_and_expect devdax "/dev/$victim" 0x4000000 0x603000 "$victim" 6291456
daxpool list -d victim > /tmp/v.json
check "devdax: list shows badblock_count 1 and the range on the device" \
  jq -e "$ARR"'arr[0].badblock_count == 1 and arr[0].badblocks[0].offset == 6291456' /tmp/v.json
neighbour=$(daxpool list -d neighbour | jq -r "$ARR"'arr[0].chardev')
daxpool list -d neighbour > /tmp/n.json
check "devdax: the neighbour $neighbour has no bad blocks" jq -e "$ARR"'arr[0].badblock_count == 0' /tmp/n.json

bad=$(jq -n --argjson s "$vstart" '$s + 6291456')
run daxpool destroy-device -f victim
check "devdax: the daemon is alive after destroying the poisoned device" alive
avail=$(daxpool list -R -r 0 | jq -r "$ARR"'arr[0].available_size')
run daxpool create-device -r 0 -s "$avail" -a 2M --name after
after=$(daxpool list -d after | jq -r "$ARR"'arr[0].chardev')
daxctl list -M -d "$after" > /tmp/after.json
hits=0
for range in $(jq -r "$ARR"'arr[0].mappings[] | "\(.start):\(.end)"' /tmp/after.json); do
  covers "${range%%:*}" "${range##*:}" "$bad" && hits=$((hits + 1))
done
check "devdax: a device of all the available memory ($avail bytes) does not cover the poisoned page" [ "$hits" = 0 ]
# The kernel and daxpool hold the same devices and mappings; daxpool keeps back exactly the quarantined 2 MiB,
# which the kernel counts as available.
daxctl list -r 0 -R -D -M > /tmp/k.raw 2> /dev/null
daxpool list -r 0 -R -M > /tmp/p.raw
devview="$ARR"'[.[] | arr[]] | first | [(.devices // [])[] | {chardev, size,
  mappings: [(.mappings // [])[] | {page_offset, start, "end": .end}] | sort_by(.page_offset)}] | sort_by(.chardev)'
check "devdax: daxctl and daxpool show the same devices and mappings after the quarantine" \
  [ "$(jq -cS -s "$devview" /tmp/k.raw)" = "$(jq -cS -s "$devview" /tmp/p.raw)" ]
kav=$(jq -s "$ARR"'[.[] | arr[]] | first | .available_size // 0' /tmp/k.raw)
pav=$(jq -s "$ARR"'[.[] | arr[]] | first | .available_size // 0' /tmp/p.raw)
check "devdax: daxpool's available size ($pav) is the kernel's ($kav) less the quarantined 2 MiB" \
  [ "$((kav - pav))" = 2097152 ]
dp_destroy_all 0

# ------------------------------------------------------------------ hugetlb: a pool the kernel cannot fill
# More 2 MiB pages than the guest has memory: the kernel gives what it can, and daxpool gives those back, makes no
# region and leaves no mount. (The guest is the place for this: on a shared host it takes every free page.)
hp_total() { cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages; }
no_hugetlbfs_mount() { ! grep -q ' hugetlbfs ' /proc/mounts; }
hbefore=$(hp_total)
too_big=$(( ($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 2048 + 512) * 2097152 ))
regions_before=$(daxpool list -R | jq -c "$ARR"'[arr[] | .id]')
if daxpool create-region --backend hugetlb --page-size 2M -s "$too_big" --hvo off > /tmp/out.json 2> /tmp/err.txt; then
  fail "hugetlb: a region of $too_big bytes (more than MemTotal) was made"
else
  echo "# $(cat /tmp/err.txt)"
  check "hugetlb: $too_big bytes is refused naming the $((too_big >> 21)) pages asked and the pages got" \
    grep -q "asked the kernel for $((too_big >> 21)) pages.*got" /tmp/err.txt
fi
check "hugetlb: the pages the kernel gave went back ($hbefore -> $(hp_total))" [ "$(hp_total)" = "$hbefore" ]
check "hugetlb: no region was made" [ "$(daxpool list -R | jq -c "$ARR"'[arr[] | .id]')" = "$regions_before" ]
check "hugetlb: no hugetlbfs mount is left" no_hugetlbfs_mount
check "the daemon survives a hugetlb pool the kernel cannot fill" alive

# ------------------------------------------------------------------ hugetlb (2 MiB pages)
run daxpool create-region --backend hugetlb --page-size 2M -s 64M --hvo off || { finish memory-errors; exit 1; }
H=$(jq -r "$ARR"'arr[0].id // .id' /tmp/out.json)
run daxpool create-device -r "$H" -s 32M --name hvictim
hpath=$(daxpool list -d hvictim | jq -r "$ARR"'arr[0].path')
hdev=$(daxpool list -d hvictim | jq -r "$ARR"'arr[0].chardev')
check "hugetlb victim $hdev is a file in hugetlbfs ($hpath)" [ -f "$hpath" ]
hstart=$(daxpool list -M -d hvictim | jq -r "$ARR"'arr[0].mappings[0].start')

poison_and_expect hugetlb "$hpath" 0x2000000 0x403000 "$hdev" 4194304
hbad=$(jq -n --argjson s "$hstart" '$s + 4194304')
daxpool list -R -r "$H" > /tmp/hr.json
check "hugetlb: the region lists the bad range at region offset $hbad" \
  jq -e --argjson b "$hbad" "$ARR"'arr[0].badblocks | any(.offset == $b and .length == 2097152)' /tmp/hr.json
run daxpool destroy-device -f hvictim
check "hugetlb: the daemon survives scrubbing a device with a poisoned huge page" alive
avail=$(daxpool list -R -r "$H" | jq -r "$ARR"'arr[0].available_size')
run daxpool create-device -r "$H" -s "$avail" --name hafter
daxpool list -M -d hafter > /tmp/hafter.json
hits=0
for range in $(jq -r "$ARR"'arr[0].mappings[] | "\(.start):\(.end)"' /tmp/hafter.json); do
  covers "${range%%:*}" "${range##*:}" "$hbad" && hits=$((hits + 1))
done
check "hugetlb: a device of all the available memory ($avail bytes) does not cover the poisoned page" [ "$hits" = 0 ]

stop_daemon
check "daxpool serve starts again on the same state" start_daemon /tmp/state
daxpool list -R -r "$H" > /tmp/hr.json
check "hugetlb: the quarantine survives a restart" \
  jq -e --argjson b "$hbad" "$ARR"'arr[0].badblocks | any(.offset == $b)' /tmp/hr.json
stop_daemon
finish memory-errors
