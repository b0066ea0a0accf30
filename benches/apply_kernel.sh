#!/usr/bin/env bash
# Kernel benchmark of whole `apply` and `destroy` commands on a lab host, two builds side by
# side in the same run, interleaved (A, B, A, B, ...), so that machine load hits both alike.
#
#   benches/apply_kernel.sh OLD_BINARY NEW_BINARY [ROUNDS]
#
# Order alternates per round (old first, then new first).
#
# Cases: one host with N containers on one bridge network (N = 100, 500, 1000), and host h0 of a
# 200-host bridged VXLAN fleet with 10 containers per host (10 local containers, 1990 remote
# neighbour and FDB entries each). Each round: A applies, A destroys, B applies, B destroys (each
# build removes what it made: their ownership marks may differ). Prints per-case medians and the
# ratio NEW/OLD. Run as root; uses lab names starting with `bench`.
set -euo pipefail
old=$1 new=$2 rounds=${3:-4}
work=$(mktemp -d)
labs=()
cleanup() {
  for lab in "${labs[@]}"; do "$new" lab down "$work/$lab.base.yaml" --lab "$lab" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT

bridge_topology() { # N
  local n=$1
  echo "version: 1"
  echo "hosts: { h0: { underlay: 10.200.0.1/16, interface: eth0 } }"
  echo "networks: { net: { driver: bridge, subnet: 10.100.0.0/16 } }"
  echo "containers:"
  for ((i = 0; i < n; i++)); do echo "  c$i: { host: h0, network: net }"; done
}

vxlan_topology() { # HOSTS PER_HOST
  local hosts=$1 per=$2
  echo "version: 1"
  echo "hosts:"
  for ((h = 0; h < hosts; h++)); do echo "  h$h: { underlay: 10.200.$((h / 250)).$((h % 250 + 1))/16, interface: eth0 }"; done
  echo "networks: { ov: { driver: vxlan, mode: bridged, vni: 4242, subnet: 10.64.0.0/12 } }"
  echo "containers:"
  for ((h = 0; h < hosts; h++)); do
    for ((i = 0; i < per; i++)); do echo "  h${h}c$i: { host: h$h, network: ov }"; done
  done
}

# The lab's hosts without their containers (only the plumbing): `lab up` of a copy whose
# containers are all on... nowhere; so build the lab from a file without containers.
plumbing_only() { sed '/^containers:/,$d' "$1"; echo "containers: {}"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_case() { # NAME FILE
  local name=$1 file=$2 lab=bench$1
  labs+=("$lab")
  plumbing_only "$file" > "$work/$lab.base.yaml"
  "$new" lab up "$work/$lab.base.yaml" --lab "$lab" >/dev/null
  cp "$file" "$work/$lab.yaml"
  : > "$work/$name.times"
  for ((r = 0; r < rounds; r++)); do
    # ABBA order: a destroy leaves the kernel tearing namespaces down in the background, which
    # slows whatever runs next; alternating who runs next keeps that off one side.
    order="old new"
    ((r % 2)) && order="new old"
    for which in $order; do
      bin=${!which}
      for verb in apply destroy; do
        start=$(date +%s%N)
        # A run that fails or hangs (the old netlink layer could wait forever for replies lost
        # to a socket overrun) is reported and not counted.
        if timeout 120 "$bin" "$verb" "$work/$lab.yaml" --lab "$lab" --host h0 --auto-approve >/dev/null 2>"$work/err"; then
          end=$(date +%s%N)
          echo "$which $verb $(( (end - start) / 1000000 ))" >> "$work/$name.times"
        else
          echo "$name: $which $verb failed or hung (not counted): $(tail -1 "$work/err")" >&2
        fi
      done
    done
  done
  "$new" lab down "$work/$lab.base.yaml" --lab "$lab" >/dev/null
  for verb in apply destroy; do
    o=$(awk -v v=$verb '$1=="old" && $2==v {print $3}' "$work/$name.times" | median)
    n=$(awk -v v=$verb '$1=="new" && $2==v {print $3}' "$work/$name.times" | median)
    awk -v c="$name" -v v="$verb" -v o="$o" -v n="$n" \
      'BEGIN { printf "%-18s %-8s old %6d ms  new %6d ms  new/old %.2f\n", c, v, o, n, n / o }'
  done
}

for n in 100 500 1000; do
  bridge_topology "$n" > "$work/b$n.yaml"
  run_case "bridge-$n" "$work/b$n.yaml"
done
vxlan_topology 200 10 > "$work/v200.yaml"
run_case "vxlan-200x10-h0" "$work/v200.yaml"
