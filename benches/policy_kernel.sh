#!/usr/bin/env bash
# Kernel benchmark of network policy's cost on a no-op `apply` (issue 10: under 2x the no-op
# apply without policies). One lab host h0 with 500 containers on a routed network, of a 10-host
# file (the peer sets hold every host's addresses); the same file with and without 50 policies
# (p<k> selects app a<k>, allows tcp/80 and tcp/443 from app a<k+1> and tcp/22 from 10.0.0.0/8,
# and egress to tier t<k % 5> on udp/53: benches/plan_scale.rs part `policy`).
#
#   benches/policy_kernel.sh BINARY [ROUNDS]
#
# Each round converges h0 on one version (not timed), then times a no-op apply of it; versions
# alternate (without, with, with, without, ...) so machine load hits both alike. Prints the
# medians and the ratio. Run as root; uses the lab name `benchpol`.
set -euo pipefail
bin=$1 rounds=${2:-5}
hosts=10 per=500 policies=50
work=$(mktemp -d)
lab=benchpol
cleanup() {
  "$bin" lab down "$work/base.yaml" --lab "$lab" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

topology() { # POLICIES
  echo "version: 1"
  echo "hosts:"
  for ((h = 0; h < hosts; h++)); do echo "  h$h: { underlay: 10.200.$((h / 250)).$((h % 250 + 1))/16, interface: eth0 }"; done
  echo "networks: { pods: { driver: routed, subnet: 10.64.0.0/12, block_prefix: 22 } }"
  echo "containers:"
  for ((h = 0; h < hosts; h++)); do
    for ((c = 0; c < per; c++)); do
      echo "  c$h-$c: { host: h$h, network: pods, labels: { app: a$((c % 50)), tier: t$((c % 5)) } }"
    done
  done
  (($1 > 0)) && echo "policies:"
  for ((k = 0; k < $1; k++)); do
    echo "  p$k:"
    echo "    selector: { labels: { app: a$k } }"
    echo "    ingress:"
    echo "      - { from: [ { labels: { app: a$(((k + 1) % 50)) } } ], ports: [ { port: 80 }, { port: 443 } ] }"
    echo "      - { from: [ { cidr: 10.0.0.0/8 } ], ports: [ { port: 22 } ] }"
    echo "    egress:"
    echo "      - { to: [ { labels: { tier: t$((k % 5)) } } ], ports: [ { protocol: udp, port: 53 } ] }"
  done
  return 0
}

topology 0 > "$work/without.yaml"
topology "$policies" > "$work/with.yaml"
# The lab's hosts without their containers: the timed runs only ever touch h0.
{ sed '/^containers:/,$d' "$work/without.yaml"; echo "containers: {}"; } > "$work/base.yaml"
"$bin" lab up "$work/base.yaml" --lab "$lab" >/dev/null

apply() { timeout 300 "$bin" apply "$work/$1.yaml" --lab "$lab" --host h0 --auto-approve >/dev/null; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

: > "$work/times"
for ((r = 0; r < rounds; r++)); do
  order="without with"
  ((r % 2)) && order="with without"
  for version in $order; do
    apply "$version"                      # converge (not timed)
    start=$(date +%s%N)
    apply "$version"                      # the no-op apply
    end=$(date +%s%N)
    echo "$version $(((end - start) / 1000000))" >> "$work/times"
  done
done
w=$(awk '$1=="without" {print $2}' "$work/times" | median)
p=$(awk '$1=="with" {print $2}' "$work/times" | median)
echo "no-op apply of h0 ($per containers, routed), median of $rounds:"
awk -v w="$w" -v p="$p" -v n="$policies" \
  'BEGIN { printf "  without policies %5d ms\n  with %d policies %5d ms\n  ratio %.2f (target: under 2)\n", w, n, p, p / w }'
