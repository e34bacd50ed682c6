#!/bin/sh
# Guest side of scripts/lab-live-update's pmem boot: lab/run.sh --pmem --share DIR -- lab/tests/live-update-pmem.sh
#   /lab/bin/{daxpool,daxmmap,devdax-lib.sh}; /lab/share/{vmlinuz,initrd.cpio,kexec/}
#
# Legacy pmem (memmap=1G!4G, on the kexec'd kernel's command line too: the same /proc/cmdline), two kernels:
#   0: daxpool adopts the pmem namespace's region (the namespace turned devdax, a static dax region), hands out its
#      one device whole, a pattern through a mapping of it, prepare (a static region: the layout goes to the state
#      directory only, no copy in memory, the carve memmap=1G!4G printed), kexec into the same kernel
#   1: the namespace brings its device back by itself; daxpool restores it from the state directory: the pattern is
#      intact, `daxctl list -M` == `daxpool list -M` == the layout before, `live-update status` reports the region
. /lab/bin/devdax-lib.sh

SHARE=/lab/share
STATE=$SHARE/state
PHASE=$(cat $SHARE/phase 2> /dev/null || echo 0)
echo "LAB-LIVE-UPDATE pmem phase $PHASE: uptime $(cut -d' ' -f1 /proc/uptime) s"
if [ -s $SHARE/kexec-at ]; then
  echo "LAB-LIVE-UPDATE pmem kexec boot: $(( $(date +%s) - $(cat $SHARE/kexec-at) )) s from kexec -e to this script"
fi

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
  size=$(daxpool list -d "$d" | jq -r '.[0].size // .size')
  daxmmap "/dev/$d" 2097152 "$size" fill "$d-pattern" > /dev/null && ok "$d: pattern written ($size bytes)" \
    || fail "$d: fill"
  kernel_view "$R" $SHARE/before.json
  daxpool list -r "$R" | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)' > $SHARE/identity.json
  agree "$R" "before the kexec"
  run daxpool live-update prepare && cp /tmp/out.json /tmp/prepare.json && cat /tmp/prepare.json
  check "prepare lists region $R with $d" \
    [ "$(jq -r '.regions[0] | "\(.region) \(.devices | join(","))"' /tmp/prepare.json)" = "$R $d" ]
  check "prepare: a static region gets no copy in memory, and says why" \
    jq -e '.regions[0].memory_copy == false and (.regions[0].notes | map(select(test("static"))) | length > 0)' \
    /tmp/prepare.json
  check "prepare prints the carve the next kernel needs (memmap=1G!4G)" \
    jq -e '(.kernel_arguments | index("memmap=1G!4G")) and .regions[0].carve == "memmap=1G!4G"' /tmp/prepare.json
  check "prepare's next steps say kexec -s" jq -e '.next_steps | map(select(startswith("kexec -s -l"))) | length == 1' /tmp/prepare.json
  check "prepare wrote the layout to the state directory" [ -s $STATE/live-update/prepared.json ]
  # kexec -s (kexec_file_load): the kernel places the next kernel and initramfs in its own System RAM. Plain kexec -l
  # places them by /sys/firmware/memmap, where memmap=1G!4G is still RAM: measured, it loaded the initramfs, kernel and
  # purgatory at 0x136beb000-0x13fffffff, inside the pmem, and the top 150 MiB of the device lost its pattern.
  if ! LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -s -l $SHARE/vmlinuz --initrd=$SHARE/initrd.cpio \
      --command-line="$(cat /proc/cmdline)"; then
    fail "kexec -s -l"; finish live-update-pmem-0; exit 1
  fi
  ok "kexec -s -l loaded the same kernel and initramfs, command line: $(cat /proc/cmdline)"
  echo 1 > $SHARE/phase
  echo "$fails" >> $SHARE/fails
  stop_daemon
  finish live-update-pmem-0
  sync
  date +%s > $SHARE/kexec-at
  LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -e
  echo "kexec -e returned"
  exit 1
  ;;
1)
  R=$(cat $SHARE/region)
  d=dax$R.0
  check "the kexec'd kernel kept the carve memmap=1G!4G" grep -q 'memmap=1G!4G' /proc/cmdline
  echo "--- before daxpool starts: daxctl list -D -M -i"; daxctl list -D -M -i
  check "daxpool serve starts" start_daemon "$STATE"
  grep -a "live-update" /tmp/daxpool.log
  check "the daemon reports live-update: restored 1 devices" grep -q "live-update: restored 1 devices" /tmp/daxpool.log
  run daxpool live-update status && cp /tmp/out.json /tmp/status.json && cat /tmp/status.json
  check "status: restored 1 ($d in region $R), from the state directory" \
    [ "$(jq -r '"\(.state) \(.restored) \(.regions[0].region) \(.regions[0].devices | join(",")) \(.regions[0].source) \(.not_restored | length)"' /tmp/status.json)" = "restored 1 $R $d state directory 0" ]
  kernel_view "$R" /tmp/after.json
  if cmp -s /tmp/after.json $SHARE/before.json; then
    ok "daxctl list -M equals the layout before the kexec ($(jq -r 'map("\(.chardev):\(.size)") | join(" ")' /tmp/after.json))"
  else
    fail "daxctl list -M differs from the layout before the kexec"; cat $SHARE/before.json; cat /tmp/after.json
  fi
  agree "$R" "after the kexec (pmem)"
  check "uuid, name, owner and mode are those before the kexec" \
    [ "$(daxpool list -r "$R" | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)')" = "$(cat $SHARE/identity.json)" ]
  size=$(jq -r ".[] | select(.chardev == \"$d\") | .size" $SHARE/before.json)
  daxmmap "/dev/$d" 2097152 "$size" check "$d-pattern" > /tmp/check.txt && ok "$d: its pattern reads back intact" \
    || { fail "$d: pattern"; tail -3 /tmp/check.txt; daxmmap "/dev/$d" 2097152 "$size" zero; }
  echo "$fails" >> $SHARE/fails
  total=$(awk '{ s += $1 } END { print s + 0 }' $SHARE/fails)
  stop_daemon
  echo "--- daemon log"; cat /tmp/daxpool.log
  finish live-update-pmem-1
  [ "$total" = 0 ] && echo "LAB-LIVE-UPDATE-PMEM: PASS (2 kernels)" || { echo "LAB-LIVE-UPDATE-PMEM: FAIL ($total failed checks)"; exit 1; }
  ;;
esac
