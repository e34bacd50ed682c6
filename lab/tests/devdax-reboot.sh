#!/bin/sh
# Guest side, boot 2 of scripts/lab-devdax: lab/run.sh --hmem-full --share DIR -- lab/tests/devdax-reboot.sh
#   /lab/bin/{daxpool,daxmmap,devdax-lib.sh}
#
# The kernel has forgotten the sub-devices of boot 1 and, without dax_hmem.region_idle, has given the whole hmem
# range to dax0.0 again. daxpool starts on the state boot 1 left in /lab/share, takes the range back and rebuilds
# every device under its own instance number with exactly its persisted mappings, enabled or disabled as before:
# `daxctl list -M` must equal what boot 1 recorded, and agree with `daxpool list -M`.
. /lab/bin/devdax-lib.sh

STATE=/lab/share/state
check "boot 1 left daxpool's state and the expected layout" [ -d "$STATE" -a -s /lab/share/expected.json ]
echo "--- before daxpool starts: daxctl list -D -M"; daxctl list -D -M
R=$(jq -r '.[0].chardev | ltrimstr("dax") | split(".")[0]' /lab/share/expected.json)

check "daxpool serve starts and reconciles" start_daemon "$STATE"
echo "--- daemon log"; cat /tmp/daxpool.log
kernel_view "$R" /tmp/after.json
if [ "$(jq length /tmp/after.json)" -gt 0 ] && cmp -s /tmp/after.json /lab/share/expected.json; then
  ok "the kernel holds exactly the layout of boot 1 ($(jq -r 'map("\(.chardev):\(.mappings | length)") | join(" ")' /tmp/after.json))"
else
  fail "the kernel's layout differs from boot 1"
  echo "# boot 1:"; cat /lab/share/expected.json
  echo "# now:";    cat /tmp/after.json
fi
agree "$R" "after the reboot"
check "dax$R.0 was emptied (no mappings)" [ "$(nr_mappings "dax$R.0")" = 0 -o ! -d "/sys/bus/dax/devices/dax$R.0/mapping0" ]
for dev in $(jq -r '.[].chardev' /lab/share/expected.json); do
  state=$(jq -r ".[] | select(.chardev == \"$dev\") | .state" /lab/share/expected.json)
  if [ "$state" = enabled ]; then
    size=$(jq -r ".[] | select(.chardev == \"$dev\") | .size" /lab/share/expected.json)
    daxmmap "/dev/$dev" 2097152 "$size" && ok "rebuilt $dev maps and reads back" || fail "rebuilt $dev mmap checks"
  else
    check "$dev stays disabled" [ ! -e "/sys/bus/dax/devices/$dev/driver" ]
  fi
done
for gap in $(seq 1 8); do
  if [ -e "/sys/bus/dax/devices/dax$R.$gap" ] && ! jq -e ".[] | select(.chardev == \"dax$R.$gap\")" /lab/share/expected.json > /dev/null; then
    size=$(cat "/sys/bus/dax/devices/dax$R.$gap/size")
    check "dax$R.$gap, not a daxpool device, is only an idle seed" [ "$size" = 0 ]
  fi
done

# the rebuilt devices are ordinary daxpool devices again
dp_destroy_all "$R"
agree "$R" "destroyed after the reboot"
check "all memory is available again" [ "$kavail" = "$pavail" -a "$pavail" != 0 ]
stop_daemon
finish reboot
