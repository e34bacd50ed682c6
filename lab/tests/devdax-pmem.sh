#!/bin/sh
# Guest side, boot 3 of scripts/lab-devdax: lab/run.sh --mem 8G --append 'memmap=4G!4G' -- lab/tests/devdax-pmem.sh
#   /lab/bin/{daxpool,daxmmap,devdax-lib.sh}
#
# Legacy pmem (a 4 GiB e820 region; 1G alignment needs more than 1 GiB): daxpool turns the namespace into a devdax
# namespace with align 1G, 2M and 4K in turn, as `ndctl create-namespace -f -e NS -m devdax -a A` does, adopts the
# static dax region it makes, hands out its one device whole, and maps it at that alignment. ndctl and daxctl must
# see what daxpool reports.
. /lab/bin/devdax-lib.sh

ndctl list -N > /tmp/ns.json
ns=$(json_or_empty /tmp/ns.json | jq -r "$ARR"'arr[0].dev // empty')
check "a pmem namespace exists (${ns:-none})" [ -n "$ns" ]
[ -n "$ns" ] || { finish pmem; exit 1; }
R=${ns#namespace}; R=${R%%.*}
check "daxpool serve starts" start_daemon /tmp/state

for align in 1G 2M 4K; do
  case $align in 1G) bytes=1073741824 probe=1073741824 ;; 2M) bytes=2097152 probe=67108864 ;;
                 4K) bytes=4096 probe=16777216 ;; esac
  if ! run daxpool create-region --backend devdax --dax-region "$R" --path "/sys/bus/nd/devices/$ns" \
        --page-size "$align"; then
    continue
  fi
  cat /tmp/out.json
  size=$(jq -r "$ARR"'arr[0].size' /tmp/out.json)
  ndctl list -N -n "$ns" > /tmp/nd.json
  check "$align: ndctl shows $ns in devdax mode" [ "$(jq -r "$ARR"'arr[0].mode' /tmp/nd.json)" = devdax ]
  check "$align: ndctl shows align $bytes" [ "$(jq -r "$ARR"'arr[0].align' /tmp/nd.json)" = "$bytes" ]
  daxctl list -r "$R" -R > /tmp/kr.json
  check "$align: daxctl region $R has daxpool's size ($size)" [ "$(jq -r "$ARR"'arr[0].size' /tmp/kr.json)" = "$size" ]
  check "$align: daxctl region $R has align $bytes" [ "$(jq -r "$ARR"'arr[0].align' /tmp/kr.json)" = "$bytes" ]

  if daxpool create-device -r "$R" -s "$align" -a "$align" > /dev/null 2> /tmp/err.txt; then
    fail "$align: a partial device of a static region is refused"
    dp_destroy_all "$R"
  else
    grep -q static /tmp/err.txt && ok "$align: a partial device of a static region is refused, saying why" \
      || fail "$align: refusal message: $(cat /tmp/err.txt)"
  fi
  if dp_create -r "$R" -a "$align"; then
    d=$created
    check "$align: the device is dax$R.0 ($d)" [ "$d" = "dax$R.0" ]
    agree "$R" "$align device"
    [ "$probe" -gt "$size" ] && probe=$size
    daxmmap "/dev/$d" "$bytes" "$probe" && ok "$align: $d maps at $align and reads back" || fail "$align: $d mmap checks"
    dp_destroy "$d"
    check "$align: destroyed $d is disabled in the kernel" [ ! -e "/sys/bus/dax/devices/$d/driver" ]
  fi
  run daxpool destroy-region "$R"
done

echo "--- ndctl list -N"; ndctl list -N
stop_daemon
echo "--- daemon log"; cat /tmp/daxpool.log
finish pmem
