#!/bin/sh
# Shared guest-side helpers for the devdax lab tests (busybox sh). Sourced from /lab/bin/devdax-lib.sh.
#
# Every check prints "ok - ..." or "not ok - ..."; `finish` prints the summary line and returns the status.
# The socket in a directory the daemon makes itself: it refuses to keep its socket in a world-writable /tmp.
export DAXPOOL_SOCKET=/run/daxpool/daxpool.sock
fails=0
checks=0
ok()   { checks=$((checks + 1)); echo "ok - $*"; }
fail() { checks=$((checks + 1)); fails=$((fails + 1)); echo "not ok - $*"; }
check() { desc=$1; shift; if "$@"; then ok "$desc"; else fail "$desc"; fi; }
# run a command, show it, keep its stdout in /tmp/out.json; a failure is a failed check
run() {
  echo "\$ $*" >&2
  "$@" > /tmp/out.json 2> /tmp/err.txt
  status=$?
  [ "$status" = 0 ] && return 0
  fail "$* (exit $status): $(cat /tmp/err.txt)"
  return 1
}
finish() {
  name=$1
  if [ "$fails" = 0 ]; then echo "LAB-DEVDAX $name: PASS ($checks checks)"; else echo "LAB-DEVDAX $name: FAIL ($fails of $checks)"; fi
  [ "$fails" = 0 ]
}

# ---------------------------------------------------------------- the daemon
# start_daemon STATE_DIR: daxpool serve with no embedded shm region, socket in /run/daxpool. SERVE_FLAGS (default
# --default-region-size 0) are added; devdax-hmem.sh sets it empty to show that a plain serve makes no default region
# beside the kernel's.
start_daemon() {
  daxpool serve --state-dir "$1" ${SERVE_FLAGS---default-region-size 0} --socket "$DAXPOOL_SOCKET" --log-level notice \
    >> /tmp/daxpool.log 2>&1 &
  daemon=$!
  i=0
  while [ $i -lt 300 ]; do
    daxpool list -R > /dev/null 2>&1 && return 0
    kill -0 "$daemon" 2> /dev/null || break
    sleep 0.1; i=$((i + 1))
  done
  echo "--- daemon log"; cat /tmp/daxpool.log
  return 1
}
stop_daemon() {
  [ -n "$daemon" ] || return 0
  kill "$daemon" 2> /dev/null
  i=0
  while kill -0 "$daemon" 2> /dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  daemon=
}

# ---------------------------------------------------------------- JSON helpers
# arrays or single objects (daxctl prints an object when there is one result, nothing when none) -> array
ARR='def arr: if type == "array" then . elif type == "object" then [.] else [] end;'
json_or_empty() { if [ -s "$1" ]; then cat "$1"; else echo '[]'; fi; }

# The comparison, in one jq run (jq costs seconds under TCG): the region as `daxctl list -R -D -M` (the kernel) and
# `daxpool list -R -M` show it, reduced to what both must agree on per device (chardev, size, align, target_node,
# state, mappings with start/end/page_offset/size) plus the region's available_size and align. Prints
# "AGREE <kernel available> <daxpool available> <summary> <devices> <align>" or "DISAGREE <kernel available>
# <daxpool available> ...".
AGREE="$ARR"'
def region: [.[] | arr[]] | first // null;
def view: [(.devices // [])[] | {chardev, size, align, target_node, state: (.state // "enabled"),
  mappings: ([(.mappings // [])[] | {page_offset, start, "end": .end, size}] | sort_by(.page_offset))}]
  | sort_by(.chardev);
($k | region) as $kr | ($p | region) as $pr
| ($kr.available_size // 0) as $ka | ($pr.available_size // 0) as $pa
| if $kr != null and $pr != null and ($kr | view) == ($pr | view) and $ka == $pa and $kr.align == $pr.align then
    "AGREE \($ka) \($pa) "
      + ($pr | view | map("\(.chardev):\(.mappings | length)") | join(",") | if . == "" then "-" else . end) + " "
      + ($pr | view | map({chardev, size, align, state,
          mappings: [.mappings[] | "\(.start)-\(.end)@\(.page_offset)"]}) | tojson) + " \($pr.align)"
  else
    "DISAGREE \($ka) \($pa) region align kernel=\($kr.align) daxpool=\($pr.align)"
      + " kernel=\($kr | view? | tojson) daxpool=\($pr | view? | tojson)"
  end'

# agree REGION STEP: daxctl list -M (the kernel) and daxpool list -M show the same devices, mappings and
# available_size for the region. Leaves the two available sizes in $kavail and $pavail.
agree() {
  r=$1; step=$2
  daxctl list -r "$r" -R -D -M > /tmp/k.raw 2> /dev/null
  daxpool list -r "$r" -R -M > /tmp/p.raw 2> /tmp/p.err
  verdict=$(jq -rn --slurpfile k /tmp/k.raw --slurpfile p /tmp/p.raw "$AGREE" 2>&1)
  set -- $verdict
  kavail=${2:-?}; pavail=${3:-?}
  case $verdict in
    AGREE*) ok "$step: daxctl and daxpool agree (devices:mappings $4; available $pavail; region align $6)"; echo "# $5" ;;
    *) fail "$step: daxctl and daxpool disagree"; echo "# $verdict"; cat /tmp/p.err ;;
  esac
}

# kernel_view REGION FILE: the kernel's device view of the region (for comparing across boots)
kernel_view() {
  daxctl list -r "$1" -R -D -M > /tmp/k.raw 2> /dev/null
  jq -cSn --slurpfile k /tmp/k.raw "$ARR"'[$k[] | arr[]] | first // {} | [(.devices // [])[]
    | {chardev, size, align, target_node, state: (.state // "enabled"),
       mappings: ([(.mappings // [])[] | {page_offset, start, "end": .end, size}] | sort_by(.page_offset))}]
    | sort_by(.chardev)' > "$2"
}

# dp_create ARGS...: daxpool create-device; sets $created to the new chardev (empty on failure)
dp_create() {
  created=
  run daxpool create-device "$@" || return 1
  created=$(sed -n 's/.*"chardev" *: *"\(dax[0-9]*\.[0-9]*\)".*/\1/p' /tmp/out.json | head -n 1)
  [ -n "$created" ]
}
# dp_destroy DEV: daxctl's "disable-device && destroy-device"
dp_destroy() { run daxpool disable-device "$1" && run daxpool destroy-device "$1"; }
# dp_resize DEV SIZE: disable, then reconfigure-device -s (daxctl's pattern)
dp_resize() { run daxpool disable-device "$1" && run daxpool reconfigure-device "$1" -s "$2"; }
# dp_destroy_all REGION: every daxpool device of the region
dp_destroy_all() {
  for d in $(daxpool list -r "$1" | sed -n 's/.*"chardev" *: *"\(dax[0-9]*\.[0-9]*\)".*/\1/p'); do
    dp_destroy "$d"
  done
}
# nr_mappings DEV: as daxctl-create.sh's daxctl_get_nr_mappings: the mappingN/ in sysfs, 0 unless they add up to
# the device's size (which daxctl reports from the same sysfs `size`)
nr_mappings() {
  path=$(readlink -f "/sys/bus/dax/devices/$1")
  n=0; total=0
  while [ -d "$path/mapping$n" ]; do
    s=$(($(cat "$path/mapping$n/start"))); e=$(($(cat "$path/mapping$n/end")))
    total=$((total + e - s + 1)); n=$((n + 1))
  done
  if [ "$(cat "$path/size" 2> /dev/null)" = "$total" ]; then echo "$n"; else echo 0; fi
}
# expect_mappings DEV N
expect_mappings() { m=$(nr_mappings "$1"); check "$1 has $2 mapping(s) (has $m)" [ "$m" = "$2" ]; }
# fail_if_available REGION STEP: the region is full in the kernel and in daxpool, and they agree
fail_if_available() {
  agree "$1" "$2"
  check "$2: region $1 is full in the kernel and in daxpool" [ "$kavail" = 0 -a "$pavail" = 0 ]
}
# test_pass REGION AVAILABLE STEP: everything is free again, and they agree
test_pass() {
  agree "$1" "$3"
  check "$3: region $1 has $2 available in the kernel and in daxpool" [ "$kavail" = "$2" -a "$pavail" = "$2" ]
}
