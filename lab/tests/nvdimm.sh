#!/bin/sh
# Guest script: QEMU NVDIMM with a label area (run.sh --nvdimm FILE,128K).
# Initialise labels, create a labelled 256M devdax namespace, check it, destroy it.
set -e
ndctl list -D -R
ndctl disable-region all
ndctl init-labels -f all
ndctl enable-region all
ndctl create-namespace -r region0 -m devdax -a 2M -s 256M -n lab | tee /tmp/ns.json
dev=$(jq -r '.daxregion.devices[0].chardev' /tmp/ns.json)
ns=$(jq -r '.dev' /tmp/ns.json)
[ -c "/dev/$dev" ]
ndctl read-labels -j nmem0 | jq -c '.[0].label[] | {name, uuid, dpa, rawsize}' | grep '"lab"'
ndctl destroy-namespace -f "$ns"
echo "nvdimm ok ($ns, /dev/$dev)"
