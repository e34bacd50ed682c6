#!/bin/sh
# Guest side of scripts/lab-live-update's pmem boot: lab/run.sh --pmem --share DIR -- lab/tests/live-update-pmem.sh
#   /lab/bin/{daxpool,daxmmap,daxpoke,devdax-lib.sh}; /lab/share/{vmlinuz,initrd.cpio,kexec/}
#
# Legacy pmem (memmap=1G!4G, on the kexec'd kernel's command line too: the same /proc/cmdline), four kernels. The
# namespace turned devdax is a static dax region: one device over the whole region, whose last 2 MiB hold the copy
# of the layout (daxpool keeps them from VMMs: list's usable_size, qemu-args' size=).
#   0: daxpool adopts the region, hands out its one device whole, a pattern over the VMM's part (usable_size), prepare
#      (the copy in the device's tail and in the state directory, the carve memmap=1G!4G printed), kexec
#   1: restored from the state directory and the tail (equal); prepare again, delete the state directory, kexec
#   2: restored from the device's tail alone (uuid, name, owner, mode); prepare again, damage both copies of the
#      record in the tail as the tenant could (daxpoke through /dev/daxR.0), kexec
#   3: restored from the state directory alone, the damage reported (checksum)
# After each kexec: `live-update: restored 1 devices`, `daxctl list -M` == `daxpool list -M` == the layout before,
# the pattern intact over the usable size.
. /lab/bin/devdax-lib.sh

SHARE=/lab/share
STATE=$SHARE/state
PHASE=$(cat $SHARE/phase 2> /dev/null || echo 0)
echo "LAB-LIVE-UPDATE pmem phase $PHASE: uptime $(cut -d' ' -f1 /proc/uptime) s"
if [ -s $SHARE/kexec-at ]; then
  echo "LAB-LIVE-UPDATE pmem kexec boot: $(( $(date +%s) - $(cat $SHARE/kexec-at) )) s from kexec -e to this script"
fi
AREA=2097152

# prepare: the layout in the state directory and in the last 2 MiB of the region's one device
prepare() {
  run daxpool live-update prepare && cp /tmp/out.json /tmp/prepare.json && cat /tmp/prepare.json
  check "prepare lists region $R with $d" \
    [ "$(jq -r '.regions[0] | "\(.region) \(.devices | join(","))"' /tmp/prepare.json)" = "$R $d" ]
  check "prepare put the layout in the last 2 MiB of $d (holder $d, area offset size - 2 MiB)" \
    jq -e --arg d "$d" --argjson off "$(( $(cat $SHARE/size) - AREA ))" \
      '.regions[0] | .memory_copy == true and .holder == $d and .area_offset == $off' /tmp/prepare.json
  check "prepare prints the carve the next kernel needs (memmap=1G!4G)" \
    jq -e '(.kernel_arguments | index("memmap=1G!4G")) and .regions[0].carve == "memmap=1G!4G"' /tmp/prepare.json
  check "prepare wrote the layout to the state directory" [ -s $STATE/live-update/prepared.json ]
}

# kexec_next PHASE: kexec -s (kexec_file_load): the kernel places the next kernel and initramfs in its own System RAM.
# Plain kexec -l places them by /sys/firmware/memmap, where memmap=1G!4G is still RAM: measured, it loaded the
# initramfs, kernel and purgatory at 0x136beb000-0x13fffffff, inside the pmem, and the top 150 MiB of the device lost
# its pattern.
kexec_next() {
  if ! LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -s -l $SHARE/vmlinuz --initrd=$SHARE/initrd.cpio \
      --command-line="$(cat /proc/cmdline)"; then
    fail "kexec -s -l"; finish "live-update-pmem-$PHASE"; exit 1
  fi
  ok "kexec -s -l loaded the same kernel and initramfs, command line: $(cat /proc/cmdline)"
  echo "$1" > $SHARE/phase
  echo "$fails" >> $SHARE/fails
  stop_daemon
  finish "live-update-pmem-$PHASE"
  sync
  date +%s > $SHARE/kexec-at
  LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -e
  echo "kexec -e returned"
  exit 1
}

# restored SOURCE: the daemon restored the device from SOURCE, memory and layout as before the kexec
restored() {
  source=$1
  check "the kexec'd kernel kept the carve memmap=1G!4G" grep -q 'memmap=1G!4G' /proc/cmdline
  echo "--- before daxpool starts: daxctl list -D -M -i"; daxctl list -D -M -i
  : > /tmp/daxpool.log
  check "daxpool serve starts" start_daemon "$STATE"
  grep -a "live-update" /tmp/daxpool.log
  check "the daemon reports live-update: restored 1 devices" grep -q "live-update: restored 1 devices" /tmp/daxpool.log
  run daxpool live-update status && cp /tmp/out.json /tmp/status.json && cat /tmp/status.json
  check "status: restored 1 ($d in region $R), from the $source" \
    [ "$(jq -r '"\(.state) \(.restored) \(.regions[0].region) \(.regions[0].devices | join(",")) \(.regions[0].source) \(.not_restored | length)"' /tmp/status.json)" = "restored 1 $R $d $source 0" ]
  kernel_view "$R" /tmp/after.json
  if cmp -s /tmp/after.json $SHARE/before.json; then
    ok "daxctl list -M equals the layout before the kexec ($(jq -r 'map("\(.chardev):\(.size)") | join(" ")' /tmp/after.json))"
  else
    fail "daxctl list -M differs from the layout before the kexec"; cat $SHARE/before.json; cat /tmp/after.json
  fi
  agree "$R" "after the kexec ($source)"
  check "uuid, name, owner and mode are those before the kexec" \
    [ "$(daxpool list -r "$R" | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)')" = "$(cat $SHARE/identity.json)" ]
  usable=$(cat $SHARE/usable)
  daxmmap "/dev/$d" $AREA "$usable" check "$d-pattern" > /tmp/check.txt \
    && ok "$d: its pattern reads back intact over the VMM's $usable bytes" \
    || { fail "$d: pattern"; tail -3 /tmp/check.txt; }
}

case $PHASE in
0)
  rm -rf $STATE $SHARE/kexec-at $SHARE/fails
  ndctl list -N > /tmp/ns.json
  ns=$(json_or_empty /tmp/ns.json | jq -r "$ARR"'arr[0].dev // empty')
  check "a pmem namespace exists (${ns:-none})" [ -n "$ns" ]
  [ -n "$ns" ] || { finish live-update-pmem-0; exit 1; }
  R=${ns#namespace}; R=${R%%.*}
  echo "$R" > $SHARE/region
  check "daxpool serve starts" start_daemon "$STATE"
  run daxpool create-region --backend devdax --dax-region "$R" --path "/sys/bus/nd/devices/$ns" --page-size 2M
  check "ndctl shows $ns in devdax mode" [ "$(ndctl list -N -n "$ns" | jq -r "$ARR"'arr[0].mode')" = devdax ]
  dp_create -r "$R" -a 2M --name pmem-vm && d=$created
  check "the device is dax$R.0 ($d)" [ "$d" = "dax$R.0" ]
  daxpool list -d "$d" | jq -c "$ARR"'arr[0]' > /tmp/dev.json
  size=$(jq -r '.size' /tmp/dev.json); usable=$(jq -r '.usable_size // empty' /tmp/dev.json)
  echo "$size" > $SHARE/size; echo "$usable" > $SHARE/usable
  check "list keeps the kernel's size ($size) and gives a VMM all but the last 2 MiB (usable_size $usable)" \
    [ -n "$usable" ] && [ "$usable" = "$(( size - AREA ))" ]
  run daxpool qemu-args "$d" --json
  check "qemu-args hands QEMU the usable size (-m $(( usable >> 20 ))M, size=$usable)" \
    jq -e --arg m "$(( usable >> 20 ))M" --arg s "size=$usable," '.[1] == $m and (.[3] | contains($s))' /tmp/out.json
  daxmmap "/dev/$d" $AREA "$usable" fill "$d-pattern" > /dev/null && ok "$d: pattern written ($usable bytes)" \
    || fail "$d: fill"
  kernel_view "$R" $SHARE/before.json
  daxpool list -r "$R" | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)' > $SHARE/identity.json
  agree "$R" "before the kexec"
  prepare
  check "prepare's next steps say kexec -s" jq -e '.next_steps | map(select(startswith("kexec -s -l"))) | length == 1' /tmp/prepare.json
  kexec_next 1
  ;;
1)
  R=$(cat $SHARE/region); d=dax$R.0
  restored "state directory and memory (equal)"
  prepare
  stop_daemon
  rm -rf $STATE && ok "deleted the state directory: only the copy in $d's tail knows the layout"
  kexec_next 2
  ;;
2)
  R=$(cat $SHARE/region); d=dax$R.0
  restored "memory"
  prepare
  tail=$(( $(cat $SHARE/size) - AREA ))
  daxpoke "/dev/$d" $(( tail + 0x20010 )) && daxpoke "/dev/$d" $(( tail + 0x100010 )) \
    && ok "damaged both copies of the record in $d's tail, as its tenant could"
  kexec_next 3
  ;;
3)
  R=$(cat $SHARE/region); d=dax$R.0
  restored "state directory"
  check "status reports the damaged copy in the tail (checksum)" \
    jq -e '.regions[0].memory_copy == false and (.regions[0].notes | map(select(test("checksum"))) | length > 0)' /tmp/status.json
  echo "$fails" >> $SHARE/fails
  total=$(awk '{ s += $1 } END { print s + 0 }' $SHARE/fails)
  stop_daemon
  echo "--- daemon log"; cat /tmp/daxpool.log
  finish live-update-pmem-3
  [ "$total" = 0 ] && echo "LAB-LIVE-UPDATE-PMEM: PASS (4 kernels)" || { echo "LAB-LIVE-UPDATE-PMEM: FAIL ($total failed checks)"; exit 1; }
  ;;
esac
