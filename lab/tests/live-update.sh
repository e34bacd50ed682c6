#!/bin/sh
# Guest side of scripts/lab-live-update: lab/run.sh --hmem --share DIR -- lab/tests/live-update.sh
#   /lab/bin/{daxpool,daxmmap,daxpoke,devdax-lib.sh,vm-lib.sh,qmp,vmguest.elf}; /lab/share/{vmlinuz,initrd.cpio,kexec/}
#   and, unless the host left it out, /lab/share/qemu/ (QEMU, its libraries, firmware in fw/) for the nested VM
#
# One guest, four kernels: each phase ends with `kexec -e` into the same kernel with the same command line and the
# same initramfs, whose /init runs this script again; /lab/share/phase says which phase runs.
#   0: devices of several layouts (one discontiguous), a pattern in each, a nested VM (QEMU, TCG) on one more,
#      prepare, the VM saved (x-ignore-shared: its RAM stays on the device), kexec
#   1: restored from the state directory and the copy in memory (equal), the VM resumed as soon as the daemon
#      restored (lab/live-update/vm-lib.sh); prepare again, delete the state, kexec
#   2: restored from the copy in memory alone; prepare again, damage both copies of the record in memory, kexec
#   3: restored from the state directory alone, the damage reported
. /lab/bin/devdax-lib.sh
. /lab/bin/vm-lib.sh

SHARE=/lab/share
STATE=$SHARE/state
PHASE=$(cat $SHARE/phase 2> /dev/null || echo 0)
R=0
echo "LAB-LIVE-UPDATE phase $PHASE: uptime $(cut -d' ' -f1 /proc/uptime) s"
if [ -s $SHARE/kexec-at ]; then
  kexec_boot=$(( $(date +%s) - $(cat $SHARE/kexec-at) ))
  echo "LAB-LIVE-UPDATE kexec boot: $kexec_boot s from kexec -e to this script (uptime $(cut -d' ' -f1 /proc/uptime) s)"
fi

# kexec_load: kexec -s -l the same kernel, initramfs and command line (-s, kexec_file_load: the kernel places them in
# its own RAM; kexec -l alone goes by /sys/firmware/memmap, where memmap= carves are RAM). Phase 0 loads before it
# pauses the VM: an operator would, and loading the 90 MB initramfs over 9p is no downtime.
kexec_load() {
  if ! LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -s -l $SHARE/vmlinuz --initrd=$SHARE/initrd.cpio --command-line="$(cat /proc/cmdline)"; then
    fail "kexec -s -l"
    finish "live-update-$PHASE"
    exit 1
  fi
  ok "kexec -s -l loaded the same kernel and initramfs"
  kexec_loaded=1
}

kexec_next() {
  next=$1
  [ -n "$kexec_loaded" ] || kexec_load
  echo "$next" > $SHARE/phase
  echo "$fails" >> $SHARE/fails
  stop_daemon
  finish "live-update-$PHASE"
  sync
  date +%s > $SHARE/kexec-at
  qmp now > $SHARE/kexec-at-ms
  LD_LIBRARY_PATH=$SHARE/kexec $SHARE/kexec/kexec -e
  echo "kexec -e returned"
  exit 1
}

# restored SOURCE: the daemon restored every device from SOURCE, memory and layout as before the kexec
restored() {
  source=$1
  echo "--- before daxpool starts: daxctl list -D -M -i"; daxctl list -D -M -i
  check "daxpool serve starts" start_daemon "$STATE"
  restored_at=$(qmp now)
  grep -a "live-update" /tmp/daxpool.log
  n=$(jq length $SHARE/before.json)
  check "the daemon reports live-update: restored $n devices" grep -q "live-update: restored $n devices" /tmp/daxpool.log
  if [ "$PHASE" = 1 ]; then                      # the VM first, as an operator would: its downtime is the point
    if vm_enabled; then vm_resume; else echo "LAB-LIVE-UPDATE: no nested VM (no /lab/share/qemu)"; fi
  fi
  run daxpool live-update status && cp /tmp/out.json /tmp/status.json
  check "status: restored $n, from $source" \
    [ "$(jq -r '"\(.state) \(.restored) \(.regions[0].source)"' /tmp/status.json)" = "restored $n $source" ]
  kernel_view "$R" /tmp/after.json
  if cmp -s /tmp/after.json $SHARE/before.json; then
    ok "daxctl list -M equals the layout before the kexec ($(jq -r 'map("\(.chardev):\(.mappings | length)") | join(" ")' /tmp/after.json))"
  else
    fail "daxctl list -M differs from the layout before the kexec"; cat $SHARE/before.json; cat /tmp/after.json
  fi
  agree "$R" "after the kexec ($source)"
  check "uuids, names, owners and modes are those before the kexec" \
    [ "$(daxpool list -r $R | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)')" = "$(cat $SHARE/identity.json)" ]
  for dev in $(jq -r '.[] | select(.state == "enabled") | .chardev' $SHARE/before.json); do
    [ "$dev" = "$(cat $SHARE/vmdev 2> /dev/null)" ] && continue                # the VM's RAM: vm_resume checks it
    size=$(jq -r ".[] | select(.chardev == \"$dev\") | .size" $SHARE/before.json)
    daxmmap "/dev/$dev" 2097152 "$size" check "$dev-pattern" > /tmp/check.txt && ok "$dev: its pattern reads back intact" \
      || { fail "$dev: pattern"; tail -3 /tmp/check.txt; }
  done
}

prepare() {
  run daxpool live-update prepare && cp /tmp/out.json /tmp/prepare.json && cat /tmp/prepare.json
  check "prepare put the layout in region $R's memory" [ "$(jq -r '.regions[0].memory_copy' /tmp/prepare.json)" = true ]
  check "prepare prints the carve the next kernel needs" jq -e '.kernel_arguments | index("memmap=1G%5G-1+0xefffffff")' /tmp/prepare.json
  holder=$(jq -r '.regions[0].holder' /tmp/prepare.json)
}

case $PHASE in
0)
  rm -rf $STATE $SHARE/fails $SHARE/kexec-at $SHARE/kexec-at-ms $SHARE/vmdev $SHARE/vm.state $SHARE/vm-steps.json
  check "daxpool serve starts" start_daemon "$STATE"
  run daxpool create-region --backend devdax --dax-region $R
  dp_create -r $R -s 256M --name vm-a && a=$created
  dp_create -r $R -s 128M --name gap && g=$created
  dp_create -r $R -s 64M --name vm-c && c=$created
  dp_destroy "$g"
  dp_create -r $R -s 256M --name vm-split && s=$created                       # the 128M hole + the tail
  dp_create -r $R -s 32M --name parked && p=$created && run daxpool disable-device "$p"
  check "vm-split is discontiguous" [ "$(nr_mappings "$s")" = 2 ]
  vm_enabled && dp_create -r $R -s 32M --name vm-qemu && vm_start "$created"
  for dev in $a $c $s; do
    size=$(daxpool list -d $dev | jq -r '.[0].size // .size')
    daxmmap "/dev/$dev" 2097152 "$size" fill "$dev-pattern" > /dev/null && ok "$dev: pattern written" || fail "$dev: fill"
  done
  kernel_view "$R" $SHARE/before.json
  daxpool list -r $R | jq -cS '[.[] | {chardev, uuid, name, owner, state}] | sort_by(.chardev)' > $SHARE/identity.json
  agree "$R" "before the kexec"
  prepare
  vm_enabled && kexec_load && vm_save
  kexec_next 1
  ;;
1)
  restored "state directory and memory (equal)"
  prepare
  stop_daemon
  rm -rf $STATE && ok "deleted the state directory"
  kexec_next 2
  ;;
2)
  restored "memory"
  prepare
  daxpoke "/dev/$holder" 0x20010 && daxpoke "/dev/$holder" 0x100010 && ok "damaged both copies of the record in memory ($holder)"
  kexec_next 3
  ;;
3)
  restored "state directory"
  check "status reports the damaged copy" jq -e '.regions[0].notes | map(select(test("checksum"))) | length > 0' /tmp/status.json
  echo "$fails" >> $SHARE/fails
  total=$(awk '{ s += $1 } END { print s + 0 }' $SHARE/fails)
  stop_daemon
  finish "live-update-3"
  [ "$total" = 0 ] && echo "LAB-LIVE-UPDATE: PASS (4 kernels)" || { echo "LAB-LIVE-UPDATE: FAIL ($total failed checks)"; exit 1; }
  ;;
esac
