#!/bin/sh
# Guest side of the nested VM in scripts/lab-live-update (issue 15), sourced by lab/tests/live-update.sh after
# devdax-lib.sh. A nested QEMU (TCG) runs /lab/bin/vmguest.elf (lab/live-update/vmguest.c: a counter and a
# pattern in its RAM, "VM-COUNTER n seed s sweeps w OK|BAD" on COM1) with its RAM on a daxpool devdax device.
#   vm_start DEV      the VM on DEV with the arguments `daxpool qemu-args DEV` prints (kept in $SHARE/vm.args)
#   vm_save           QMP: x-ignore-shared, stop, migrate "exec:cat > $SHARE/vm.state", quit
#   vm_resume         the same arguments + -incoming defer; QMP: x-ignore-shared, migrate-incoming, cont;
#                     the counter continues, the seed is the same, a whole sweep of the pattern after the resume
#                     reads OK; prints the downtime from stop to the first counter after the resume, split at
#                     kexec -e ($SHARE/kexec-at-ms) and the daemon's restore ($restored_at, set by the caller)
# QEMU, its libraries and firmware come through the share ($SHARE/qemu, $SHARE/qemu/fw): vm_enabled says whether.
SHARE=${SHARE:-/lab/share}
VMQ=$SHARE/qemu
QMP=/tmp/qmp.sock
IGNORE_SHARED='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"x-ignore-shared","state":true}]}}'

# secs MS: MS milliseconds as seconds with one decimal
secs() { echo "$(($1 / 1000)).$(($1 % 1000 / 100))"; }

vm_enabled() { [ -x $VMQ/qemu-system-x86_64 ]; }

# vm_qemu SERIAL [ARGS...]: QEMU in the background with the kept arguments, its serial port in SERIAL
vm_qemu() {
  serial=$1; shift
  rm -f $QMP
  # shellcheck disable=SC2046
  QEMU_MODULE_DIR=$VMQ/modules LD_LIBRARY_PATH=$VMQ $VMQ/qemu-system-x86_64 $(cat $SHARE/vm.args) -serial "file:$serial" "$@" \
    > /tmp/vm-qemu.log 2>&1 &
  vm_pid=$!
}

# vm_line FILE AWK-CONDITION SECONDS: waits until a VM-COUNTER line of FILE meets the condition ($2 the counter,
# $4 the seed, $6 the sweeps, $7 OK/BAD); prints that line
vm_line() {
  i=0
  while [ $i -lt $(( $3 * 10 )) ]; do
    line=$(grep -a '^VM-COUNTER ' "$1" 2> /dev/null | awk "$2" | head -n 1)
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
    "-qmp unix:$QMP,server=on,wait=off $(daxpool qemu-args "$1")" > $SHARE/vm.args
  echo "$1" > $SHARE/vmdev
  echo "--- nested QEMU: $(cat $SHARE/vm.args)"
  t=$(qmp now)
  vm_qemu /tmp/vm0.serial
  if first=$(vm_line /tmp/vm0.serial '$6 >= 1' 120); then
    ok "the nested VM runs on $1 and verified its pattern once ($(( $(qmp now) - t )) ms after QEMU started): $first"
  else
    fail "the nested VM on $1 did not print a counter with a whole sweep"; cat /tmp/vm-qemu.log; tail -5 /tmp/vm0.serial
  fi
}

vm_save() {
  if qmp $QMP "$IGNORE_SHARED" '{"execute":"stop"}' '{"execute":"migrate","arguments":{"uri":"exec:cat > '$SHARE'/vm.state"}}' \
    wait-migrate '{"execute":"quit"}' > /tmp/qmp.out 2>&1; then
    ok "QMP: x-ignore-shared, stop, migrate to $SHARE/vm.state ($(wc -c < $SHARE/vm.state) bytes), quit"
  else
    fail "QMP save"; cat /tmp/qmp.out; cat /tmp/vm-qemu.log
  fi
  cat /tmp/qmp.out | cut -c1-300
  awk '/"execute":"stop"/ { print $2 }' /tmp/qmp.out > $SHARE/vm-stopped-at
  i=0
  while vm_alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  grep -a '^VM-COUNTER ' /tmp/vm0.serial | tail -n 1 > $SHARE/vm-last
  check "the VM's last line before the kexec says OK: $(cat $SHARE/vm-last)" grep -q ' OK$' $SHARE/vm-last
}

vm_resume() {
  dev=$(cat $SHARE/vmdev)
  check "daxpool qemu-args $dev prints what it printed before the kexec" \
    grep -q -F -- "$(daxpool qemu-args "$dev")" $SHARE/vm.args
  last=$(awk '{ print $2 }' $SHARE/vm-last)
  seed=$(awk '{ print $4 }' $SHARE/vm-last)
  t=$(qmp now)
  vm_qemu /tmp/vm1.serial -incoming defer
  if qmp $QMP "$IGNORE_SHARED" '{"execute":"migrate-incoming","arguments":{"uri":"exec:cat '$SHARE'/vm.state"}}' \
    wait-migrate '{"execute":"cont"}' > /tmp/qmp.out 2>&1; then
    ok "QMP: x-ignore-shared, migrate-incoming from $SHARE/vm.state, cont ($(( $(qmp now) - t )) ms after QEMU started)"
  else
    fail "QMP resume"; cat /tmp/qmp.out; cat /tmp/vm-qemu.log
  fi
  cat /tmp/qmp.out | cut -c1-300
  if first=$(vm_line /tmp/vm1.serial 1 60); then
    resumed_at=$(qmp now)
    echo "--- the VM's first lines after the resume"; head -n 3 /tmp/vm1.serial
    check "the VM's counter continues after the kexec: $first, last before: $(cat $SHARE/vm-last)" \
      [ "$(echo "$first" | awk '{ print $2 }')" -gt "$last" ]
    check "the VM was resumed, not booted afresh: the same seed $seed" [ "$(echo "$first" | awk '{ print $4 }')" = "$seed" ]
    check "the VM was resumed, not booted afresh: no VM-BOOT line" [ -z "$(grep -a VM-BOOT /tmp/vm1.serial)" ]
    w=$(echo "$first" | awk '{ print $6 }')
    if after=$(vm_line /tmp/vm1.serial "\$6 >= $w + 2" 120); then
      check "a whole sweep of the VM's pattern after the resume reads intact: $after" \
        [ -z "$(grep -a '^VM-COUNTER ' /tmp/vm1.serial | grep -v ' OK$')" ]
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
