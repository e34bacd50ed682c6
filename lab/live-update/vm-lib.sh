#!/bin/sh
# Guest side of the nested VM in scripts/lab-live-update (issue 15), sourced by lab/tests/live-update.sh after
# devdax-lib.sh. A nested QEMU (TCG) runs /lab/bin/vmguest.elf (lab/live-update/vmguest.c: a counter and a
# pattern in its RAM, "VM-COUNTER n seed s sweeps w OK|BAD" on COM1) with its RAM on a daxpool devdax device.
# Every QEMU argument about the device and every QMP command comes from `daxpool qemu-args --live-update --json DEV`
# (kept in $SHARE/vm-steps.json; its query-migrate is polled by `qmp ... wait-migrate`):
#   vm_start DEV      the VM on DEV: our own arguments ($SHARE/vm.base) + .arguments
#   vm_save           QMP .before_kexec: x-ignore-shared, stop, migrate "exec:cat > $SHARE/vm.state", quit
#   vm_resume         our own arguments + .incoming_arguments (-incoming defer); QMP .after_kexec: x-ignore-shared,
#                     migrate-incoming, cont;
#                     the counter continues, the seed is the same, a whole sweep of the pattern after the resume
#                     reads OK; prints the downtime from stop to the first counter after the resume, split at
#                     kexec -e ($SHARE/kexec-at-ms) and the daemon's restore ($restored_at, set by the caller)
# QEMU, its libraries and firmware come through the share ($SHARE/qemu, $SHARE/qemu/fw): vm_enabled says whether.
SHARE=${SHARE:-/lab/share}
VMQ=$SHARE/qemu
QMP=/tmp/qmp.sock

# secs MS: MS milliseconds as seconds with one decimal
secs() { echo "$(($1 / 1000)).$(($1 % 1000 / 100))"; }

vm_enabled() { [ -x $VMQ/qemu-system-x86_64 ]; }

# vm_qemu SERIAL KEY: QEMU in the background with our arguments and the steps' KEY (arguments or incoming_arguments),
# its serial port in SERIAL (none of these words holds a space)
vm_qemu() {
  rm -f $QMP
  # shellcheck disable=SC2046
  QEMU_MODULE_DIR=$VMQ/modules LD_LIBRARY_PATH=$VMQ $VMQ/qemu-system-x86_64 $(cat $SHARE/vm.base) \
    $(jq -r ".$2 | join(\" \")" $SHARE/vm-steps.json) -serial "file:$1" > /tmp/vm-qemu.log 2>&1 &
  vm_pid=$!
}

# vm_qmp KEY: sends the steps' KEY (before_kexec or after_kexec) to QEMU, one argument per command
vm_qmp() {
  set -f
  IFS='
'
  # shellcheck disable=SC2046
  set -- $(jq -r ".$1[] | if test(\"query-migrate\") then \"wait-migrate\" else . end" $SHARE/vm-steps.json)
  unset IFS
  set +f
  qmp $QMP "$@"
}

# vm_line FILE AWK-CONDITION SECONDS: waits until a whole VM-COUNTER line of FILE meets the condition ($2 the
# counter, $4 the seed, $6 the sweeps, $7 OK/BAD); prints that line. The last line may be half written: only lines
# that end in OK or BAD count.
vm_line() {
  i=0
  while [ $i -lt $(( $3 * 10 )) ]; do
    line=$(grep -a -E '^VM-COUNTER .* (OK|BAD)$' "$1" 2> /dev/null | awk "NF == 7 && ($2)" | head -n 1)
    [ -n "$line" ] && { echo "$line"; return 0; }
    vm_alive || break
    sleep 0.1; i=$((i + 1))
  done
  return 1
}

# vm_alive: QEMU runs (kill -0 also succeeds on a zombie, which busybox sh does not reap while it waits here)
vm_alive() { [ -r /proc/$vm_pid/status ] && ! grep -q '^State:[[:space:]]*Z' /proc/$vm_pid/status; }

vm_stop_qemu() {
  qmp $QMP '{"execute":"quit"}' > /dev/null 2>&1
  i=0
  while vm_alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$vm_pid" 2> /dev/null
}

vm_start() {
  echo "-nodefaults -no-user-config -display none -machine pc -accel tcg -L $VMQ/fw -kernel /lab/bin/vmguest.elf" \
    "-qmp unix:$QMP,server=on,wait=off" > $SHARE/vm.base
  echo "$1" > $SHARE/vmdev
  run daxpool qemu-args --live-update --json --state-file $SHARE/vm.state "$1" && cp /tmp/out.json $SHARE/vm-steps.json
  check "qemu-args --live-update says $1 survives a kexec" jq -e '.survives_kexec == true and .warning == null' \
    $SHARE/vm-steps.json
  echo "--- nested QEMU: $(cat $SHARE/vm.base) $(jq -r '.arguments | join(" ")' $SHARE/vm-steps.json)"
  t=$(qmp now)
  vm_qemu /tmp/vm0.serial arguments
  if first=$(vm_line /tmp/vm0.serial '$6 >= 1' 120); then
    ok "the nested VM runs on $1 and verified its pattern once ($(( $(qmp now) - t )) ms after QEMU started): $first"
  else
    fail "the nested VM on $1 did not print a counter with a whole sweep"; cat /tmp/vm-qemu.log; tail -5 /tmp/vm0.serial
  fi
}

vm_save() {
  if vm_qmp before_kexec > /tmp/qmp.out 2>&1; then
    ok "QMP (qemu-args --live-update: before_kexec): $(sed -n 's/.*"execute":"\([a-z-]*\)".*/\1/p; s/.*wait-migrate.*/wait-migrate/p' /tmp/qmp.out | tr '\n' ' ')($(wc -c < $SHARE/vm.state) bytes)"
  else
    fail "QMP save"; cat /tmp/qmp.out; cat /tmp/vm-qemu.log
  fi
  cat /tmp/qmp.out | cut -c1-300
  check "the saved state holds none of the VM's 32 MiB of RAM (x-ignore-shared): $(wc -c < $SHARE/vm.state) bytes" \
    [ "$(wc -c < $SHARE/vm.state)" -lt 1048576 ]
  awk '/"execute":"stop"/ { print $2 }' /tmp/qmp.out > $SHARE/vm-stopped-at
  i=0
  while vm_alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  grep -a -E '^VM-COUNTER .* (OK|BAD)$' /tmp/vm0.serial | tail -n 1 > $SHARE/vm-last
  check "the VM's last line before the kexec says OK: $(cat $SHARE/vm-last)" grep -q ' OK$' $SHARE/vm-last
}

vm_resume() {
  dev=$(cat $SHARE/vmdev)
  daxpool qemu-args --live-update --json --state-file $SHARE/vm.state "$dev" > /tmp/vm-steps.json
  check "daxpool qemu-args --live-update $dev prints what it printed before the kexec" cmp /tmp/vm-steps.json $SHARE/vm-steps.json
  last=$(awk '{ print $2 }' $SHARE/vm-last)
  seed=$(awk '{ print $4 }' $SHARE/vm-last)
  t=$(qmp now)
  vm_qemu /tmp/vm1.serial incoming_arguments
  if vm_qmp after_kexec > /tmp/qmp.out 2>&1; then
    ok "QMP (qemu-args --live-update: after_kexec, QEMU with -incoming defer): $(sed -n 's/.*"execute":"\([a-z-]*\)".*/\1/p; s/.*wait-migrate.*/wait-migrate/p' /tmp/qmp.out | tr '\n' ' ')($(( $(qmp now) - t )) ms after QEMU started)"
  else
    fail "QMP resume"; cat /tmp/qmp.out; cat /tmp/vm-qemu.log
  fi
  cat /tmp/qmp.out | cut -c1-300
  if first=$(vm_line /tmp/vm1.serial '$6 >= 0' 60); then
    resumed_at=$(qmp now)
    echo "--- the VM's first lines after the resume"; head -n 3 /tmp/vm1.serial
    check "the VM's counter continues after the kexec: $first, last before: $(cat $SHARE/vm-last)" \
      [ "$(echo "$first" | awk '{ print $2 }')" -gt "$last" ]
    check "the VM was resumed, not booted afresh: the same seed $seed" [ "$(echo "$first" | awk '{ print $4 }')" = "$seed" ]
    check "the VM was resumed, not booted afresh: no VM-BOOT line" [ -z "$(grep -a VM-BOOT /tmp/vm1.serial)" ]
    w=$(echo "$first" | awk '{ print $6 }')
    if after=$(vm_line /tmp/vm1.serial "\$6 >= $w + 2" 120); then
      check "a whole sweep of the VM's pattern after the resume reads intact: $after" \
        [ -z "$(grep -a '^VM-COUNTER .* BAD$' /tmp/vm1.serial)" ]
    else
      fail "the VM did not finish a sweep of its pattern after the resume"; tail -3 /tmp/vm1.serial
    fi
    stopped=$(cat $SHARE/vm-stopped-at)
    kexec_ms=$(cat $SHARE/kexec-at-ms)
    echo "LAB-LIVE-UPDATE VM downtime: $(secs $((resumed_at - stopped))) s from stop to the first counter after the resume" \
      "(stop to kexec -e $(secs $((kexec_ms - stopped))) s, kexec -e to daxpool restored $(secs $((restored_at - kexec_ms))) s," \
      "restored to the VM's first counter $(secs $((resumed_at - restored_at))) s); bare kexec boot: $kexec_boot s from" \
      "kexec -e to this script (the clock after a kexec comes from the RTC: +-1 s)"
  else
    fail "the VM printed no counter after the resume"; cat /tmp/vm-qemu.log; tail -5 /tmp/vm1.serial
  fi
  vm_stop_qemu
}
