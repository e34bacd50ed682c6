#!/bin/sh
# Guest side, boot 1 of scripts/lab-devdax: lab/run.sh --hmem --pmem --share DIR -- lab/tests/devdax-hmem.sh
#   /lab/bin/{daxpool,daxmmap,devdax-lib.sh}
#
# daxpool adopts the soft-reserved (hmem) dax region and runs ndctl's test/daxctl-create.sh scenarios test0..test7
# (linux-dax-abi.md §3.6) with daxpool doing the work; after every step `daxctl list -M` and `daxpool list -M` must
# agree exactly. Devices are mapped with daxmmap (MAP_SHARED at their alignment, read back; MAP_PRIVATE fails).
# Then it builds a discontiguous layout, checks it survives a daemon restart untouched, and leaves daxpool's state
# and the kernel's view of that layout in /lab/share for boot 2 (devdax-reboot.sh).
#
# daxctl-create.sh's "testdev" is the kernel's dax0.0, resized between 0 and a quarter of the region. daxpool never
# hands out daxR.0 (the kernel never deletes it) and has no zero-sized devices, so here testdev is a daxpool device
# that is created where daxctl grows dax0.0 from 0 and destroyed where daxctl shrinks it to 0.
. /lab/bin/devdax-lib.sh

STATE=/lab/share/state
rm -rf "$STATE" /lab/share/expected.json
mkdir -p "$STATE"

# ---------------------------------------------------------------- adopt the hmem region
daxctl list -R -i > /tmp/regions.json
set -- $(jq -r "$ARR"'[arr[] | select(.path | test("hmem"))][0] | "\(.id) \(.size)"' /tmp/regions.json)
R=$1; kernel_size=$2
check "an hmem dax region exists (id ${R:-none}, $kernel_size bytes)" [ -n "$R" -a "$R" != null ]
[ -n "$R" -a "$R" != null ] || { finish hmem; exit 1; }

# A plain `daxpool serve` (no --default-region-size 0): beside the kernel's dax regions it makes no default shm region,
# so region $R is adopted under its own id.
SERVE_FLAGS=""
check "daxpool serve starts" start_daemon "$STATE"
unset SERVE_FLAGS
check "a plain serve made no default region beside the kernel's" [ "$(daxpool list -R | jq "$ARR"'[arr[]] | length')" = 0 ]
run daxpool create-region --backend devdax --dax-region "$R" && cat /tmp/out.json
check "adopted region $R keeps the kernel's id" [ "$(jq .id /tmp/out.json)" = "$R" ]
check "adopted region $R is devdax with the kernel's size" \
  grep -q "\"size\" : $kernel_size" /tmp/out.json
if daxpool create-region --backend devdax --dax-region 7 > /dev/null 2> /tmp/err.txt; then
  fail "adopting a dax region that does not exist fails"
else
  ok "adopting a dax region that does not exist fails"; echo "# $(cat /tmp/err.txt)"
fi
available=$kernel_size
test_pass "$R" "$available" setup

# ---------------------------------------------------------------- test0: zeroed region, all available
test_pass "$R" "$available" test0

# ---------------------------------------------------------------- test1: one device with all the space
if dp_create -r "$R"; then
  d=$created
  expect_mappings "$d" 1
  fail_if_available "$R" "test1 create $d"
  daxmmap "/dev/$d" 2097152 "$available" && ok "test1 $d maps and reads back" || fail "test1 $d mmap checks"
  dp_destroy "$d"
fi
test_pass "$R" "$available" "test1 destroyed"

# ---------------------------------------------------------------- test2/test3: a hole and the tail
# daxctl_test_multi with or without testdev
multi() {
  size=$((available / 4))
  testdev=; d3=
  if [ "$1" = with-testdev ]; then dp_create -r "$R" -s "$size" && testdev=$created; fi
  dp_create -r "$R" -s "$size" && d1=$created
  dp_create -r "$R" -s "$size" && d2=$created
  [ -n "$testdev" ] || { dp_create -r "$R" -s "$size" && d3=$created; }
  agree "$R" "$2 three quarters"
  dp_destroy "$d1"   # the hole
  if dp_create -r "$R" -s $((size * 2)); then
    expect_mappings "$created" 2
    daxmmap "/dev/$created" 2097152 $((size * 2)) && ok "$2 $created (2 mappings) maps and reads back" \
      || fail "$2 $created mmap checks"
  fi
  fail_if_available "$R" "$2 hole and tail"
  dp_destroy_all "$R"
  test_pass "$R" "$available" "$2 destroyed"
}
multi with-testdev test2
multi without-testdev test3

# ---------------------------------------------------------------- test4/test7: alternate growth
# daxctl_test_multi_reconfig NCFGS NAME [DUMP]
multi_reconfig() {
  ncfgs=$1; name=$2
  size=$((available / ncfgs))
  dp_create -r "$R" -s "$size" && testdev=$created
  run daxpool disable-device "$testdev"
  dp_create -r "$R" -s "$size" && d1=$created
  run daxpool disable-device "$d1"
  i=$((size * 2))
  while [ "$i" -le $((size * ncfgs / 2)) ]; do
    dp_resize "$testdev" "$i"
    dp_resize "$d1" "$i"
    [ "$i" -lt $((size * ncfgs / 2)) ] && agree "$R" "$name grown to $i"
    i=$((i + size))
  done
  expect_mappings "$testdev" $((ncfgs / 2))
  expect_mappings "$d1" $((ncfgs / 2))
  if [ -n "$3" ]; then
    daxpool list -M -d "$d1" > /tmp/list.json
    jq "$ARR"'arr[0]' /tmp/list.json > "$3"
    jq -c '[.mappings[] | {page_offset, start, "end": .end}]' "$3" > /tmp/dumped-mappings.json
  fi
  fail_if_available "$R" "$name grown"
  dp_destroy "$d1"
}
multi_reconfig 8 test4
dp_destroy "$testdev"
test_pass "$R" "$available" "test4 destroyed"

# ---------------------------------------------------------------- test5: adjust at the start and at the end
size=$((available / 4))
for n in 1 2 3 4; do
  dp_create -r "$R" -s "$size" && expect_mappings "$created" 1
done
check "test5 devices are dax$R.1..dax$R.4" [ -e /sys/bus/dax/devices/dax$R.4 -a ! -e /sys/bus/dax/devices/dax$R.5 ]
dp_destroy "dax$R.1"
dp_destroy "dax$R.4"
dp_resize "dax$R.2" $((size * 2))
expect_mappings "dax$R.2" 2      # space at the beginning: a second mapping
dp_resize "dax$R.3" $((size * 2))
expect_mappings "dax$R.3" 1      # space right after the last mapping: extended in place
fail_if_available "$R" "test5 adjusted"
dp_destroy "dax$R.3"
dp_destroy "dax$R.2"
test_pass "$R" "$available" "test5 destroyed"

# ---------------------------------------------------------------- test6: align 1G (and 2M)
if [ "$available" -ge 1073741824 ]; then
  if dp_create -r "$R" -s 1G -a 1G; then
    d=$created
    check "test6 $d has align 1G in the kernel" [ "$(cat /sys/bus/dax/devices/$d/align)" = 1073741824 ]
    agree "$R" "test6 1G device"
    daxmmap "/dev/$d" 1073741824 1073741824 && ok "test6 $d maps at 1G and reads back" || fail "test6 $d mmap checks"
    dp_destroy "$d"
  fi
fi
if dp_create -r "$R" -s 64M -a 2M; then
  agree "$R" "test6 2M device"
  dp_destroy "$created"
fi
test_pass "$R" "$available" "test6 destroyed"

# ---------------------------------------------------------------- test7: --input round trip
multi_reconfig 8 test7 /tmp/input.json
if dp_create --input /tmp/input.json; then
  d=$created
  expect_mappings "$d" 4
  daxpool list -M -d "$d" > /tmp/list.json
  jq -c "$ARR"'[arr[0].mappings[] | {page_offset, start, "end": .end}]' /tmp/list.json > /tmp/rebuilt.json
  echo "# dumped:  $(cat /tmp/dumped-mappings.json)"
  echo "# rebuilt: $(cat /tmp/rebuilt.json)"
  same_as_dumped() { [ "$(grep -o page_offset /tmp/rebuilt.json | wc -l)" = 4 ] && cmp -s /tmp/dumped-mappings.json /tmp/rebuilt.json; }
  check "test7 $d has exactly the 4 dumped mappings" same_as_dumped
  agree "$R" "test7 rebuilt from input"
  dp_destroy "$d"
fi
dp_destroy "$testdev"
test_pass "$R" "$available" "test7 destroyed"

# ---------------------------------------------------------------- errors that say what to do
if daxpool create-device -r "$R" -s 256M -a 4K > /dev/null 2> /tmp/err.txt; then
  fail "a 4K-aligned device is refused (2 MiB subsections)"
else
  ok "a 4K-aligned device is refused (2 MiB subsections)"; echo "# $(cat /tmp/err.txt)"
fi
# a device made behind daxpool's back holds the start of the region: daxpool's first-fit choice collides
daxctl create-device -r "$R" -s 256M > /tmp/foreign.json 2> /dev/null
foreign=$(sed -n 's/.*"chardev":"\(dax[0-9]*\.[0-9]*\)".*/\1/p' /tmp/foreign.json | head -n 1)
check "daxctl made a device behind daxpool's back (${foreign:-none})" [ -n "$foreign" ]
if daxpool create-device -r "$R" -s 256M > /tmp/out.json 2> /tmp/err.txt; then
  fail "a range held by a device daxpool does not know is refused"
  dp_destroy_all "$R"
else
  grep -q "held by $foreign" /tmp/err.txt && ok "a range held by $foreign is refused, naming it" \
    || fail "the refusal names $foreign: $(cat /tmp/err.txt)"
fi
echo "# $(cat /tmp/err.txt)"
[ -n "$foreign" ] && daxctl disable-device "$foreign" > /dev/null 2>&1 && daxctl destroy-device "$foreign" > /dev/null 2>&1
test_pass "$R" "$available" "after the foreign device"

# ---------------------------------------------------------------- tenant isolation
# The dax bus gives freed ranges to the next device as they are: daxpool zeroes what a shrink or a destroy gives
# back, so the next owner reads nothing of the last one.
q=$((available / 8))
dp_create -r "$R" -s $((q * 2)) --name secret && s=$created                 # [0, 2q)
daxmmap "/dev/$s" 2097152 $((q * 2)) fill secret-tag > /dev/null && ok "wrote a secret into $s" || fail "fill $s"
dp_resize "$s" "$q" && run daxpool enable-device "$s"                        # gives back [q, 2q)
dp_create -r "$R" -s "$q" --name taker && t=$created                         # [q, 2q)
daxmmap "/dev/$t" 2097152 "$q" zero && ok "$t, on the tail $s gave up, reads zero" || fail "$t holds old data"
daxmmap "/dev/$s" 2097152 "$q" check secret-tag > /dev/null && ok "$s kept its own data when it shrank" \
  || fail "$s lost its data when it shrank"
dp_destroy "$s"                                                              # gives back [0, q)
dp_create -r "$R" -s "$q" --name taker2 && t2=$created                       # [0, q)
daxmmap "/dev/$t2" 2097152 "$q" zero && ok "$t2, on the memory of destroyed $s, reads zero" \
  || fail "$t2 holds old data"
dp_destroy "$t"
dp_destroy "$t2"
test_pass "$R" "$available" "after tenant isolation"

# ---------------------------------------------------------------- a layout to rebuild after the reboot
q=$((available / 8))
dp_create -r "$R" -s $((q * 2)) && a=$created                   # [0, 2q)
dp_create -r "$R" -s $((q * 2)) && b=$created                   # [2q, 4q)
dp_create -r "$R" -s "$q" --name keep-disabled && c=$created     # [4q, 5q)
dp_destroy "$a"
dp_create -r "$R" -s $((q * 3)) --name two-ranges && d=$created  # [0, 2q) + [5q, 6q)
dp_create -r "$R" -s $((q * 2)) && e=$created                   # [6q, 8q)
dp_destroy "$b"                                                 # a hole, and a gap in the instance numbers
run daxpool disable-device "$c"
expect_mappings "$d" 2
agree "$R" "layout for the reboot"

# a daemon restart leaves the kernel alone: a mapped device keeps its data
daxmmap "/dev/$e" 2097152 $((q * 2)) fill restart-tag > /dev/null && ok "filled $e before the restart" || fail "fill $e"
stop_daemon
check "daxpool serve starts again on the same state" start_daemon "$STATE"
daxmmap "/dev/$e" 2097152 $((q * 2)) check restart-tag && ok "$e kept its data across a daemon restart" \
  || fail "$e data after a daemon restart"
agree "$R" "after a daemon restart"
grep -q "rebuilt a dax device" /tmp/daxpool.log && fail "a restart rebuilt a device that was intact" \
  || ok "a restart rebuilt nothing"

kernel_view "$R" /lab/share/expected.json
echo "# expected after reboot: $(cat /lab/share/expected.json)"
check "the layout for the reboot has 3 devices" [ "$(grep -o '"chardev"' /lab/share/expected.json | wc -l)" = 3 ]
stop_daemon
sync
echo "--- daemon log"; cat /tmp/daxpool.log
finish hmem
