#!/usr/bin/env bash
# Kernel benchmark of netplan-rs against its peers, in one run, interleaved, on this machine's
# kernel (issue 11). Run as root:
#
#   cargo build --release && sudo benches/kernel.sh
#
# It builds its own network namespaces (every name starts with `kb<pid>_`, removed on exit, even
# on failure or ^C), installs nothing, never touches the machine's own namespace, and prints the
# machine, then one markdown table: work | netplan-rs | peer | floor | ratios (medians of ROUNDS
# rounds). Progress and per-round times go to stderr.
#
# Each round runs every contender once, in an order that rotates per round (netplan-rs, CNI,
# ip -batch; then CNI, ip -batch, netplan-rs; ...), each on a clean kernel: a contender's apply,
# then its read or destroy, and the host is back to bare (lo and eth0) before the next one starts.
#
# Work measured (whole commands, wall clock):
#   - N containers on one bridge (SIZES, default "100 500 1000"), on a host namespace with only
#     lo and its underlay eth0:
#       netplan-rs: `apply FILE --lab L --host h0` of a lab host (namespaces created by it);
#       CNI: per container, as runtimes do, `ip netns add` then one call of the bridge plugin
#         with host-local IPAM (CNI_COMMAND=ADD, isGateway, default route); the loop runs inside
#         the host namespace, like a runtime's;
#       ip -batch (the floor): the same objects as netplan-rs (namespace, veth pair created with
#         its MAC, master and up state and the peer in the container namespace, the peer's MAC,
#         lo and eth0 up, address, default route; the bridge with its MAC and address) sent by
#         `ip`: one `ip -batch` creating the namespaces, one for the host namespace, and one per
#         container namespace (the container's address, route and up state must be sent from
#         inside it; the kernel refuses IFF_UP for a veth peer created into another namespace).
#   - no-op `plan` at each size (netplan-rs), against reading the same kernel state with
#     `ip -j link/address/route`: the host namespace only, and (the floor, a comparable read)
#     the host namespace plus every container namespace, one `ip -j -batch` each. Twice:
#     right after the apply, and again once the machine is quiet (see `settle`), which is
#     the host a drift check in CI meets.
#   - `destroy` at each size, measured to completion (the container namespaces are gone and the
#     host namespace is back to lo and eth0, polled with a deadline): netplan-rs; by hand (one
#     `ip netns del` per container, then the bridge); the floor (one `ip -batch` of every
#     `netns del`, then the bridge).
#   - max RSS of netplan-rs apply at each size (`/usr/bin/time -f %M`).
#   - CPU time (user + system, with children) of every apply: how much of the wall clock is
#     work, and how much of that the kernel does in the contender's system calls.
#   - host h0 of a bridged VXLAN fleet (VXLAN_HOSTS x VXLAN_PER_HOST, default 200 x 10: 10 local
#     containers, 1990 remote ones, one neighbour and one FDB entry each): netplan-rs's first
#     apply against the floor, the same objects by `ip -batch` + `bridge -batch` (+ the
#     ip_forward sysctl and the local containers, as above).
#   - host h0 of a routed VXLAN fleet, flannel style (ROUTED_PEERS peer hosts, default 1000, one
#     container each; per peer a route, a neighbour and an FDB entry): first apply against the
#     same objects by `ip -batch` + `bridge -batch`.
# The floors are `ip` sending exactly the objects: the kernel's time for the requests plus `ip`'s
# process start-ups (1 + 1 + N processes for N containers). netplan-rs also writes its ownership
# marks (link aliases) and verifies what it applied; the peers do neither.
#
# Environment: ROUNDS (3), SIZES ("100 500 1000"), VXLAN_HOSTS (200), VXLAN_PER_HOST (10),
# ROUTED_PEERS (1000), CASES ("bridge vxlan routed": a subset runs a subset), SETTLE (60: the
# most seconds to wait for a quiet machine before the settled no-op plan), NETPLAN_RS (the
# binary; default target/release/netplan-rs of this checkout), CNI_DIR (/usr/lib/cni),
# KB_PREFIX (kb<pid>: the names of its namespaces and labs start with it and `_`; must start with `kb`).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
SIZES=${SIZES:-"100 500 1000"}
VXLAN_HOSTS=${VXLAN_HOSTS:-200}
VXLAN_PER_HOST=${VXLAN_PER_HOST:-10}
ROUTED_PEERS=${ROUTED_PEERS:-1000}
CASES=${CASES:-"bridge vxlan routed"}
SETTLE=${SETTLE:-60}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NP=${NETPLAN_RS:-$repo/target/release/netplan-rs}
CNI_DIR=${CNI_DIR:-/usr/lib/cni}
# Every name this run makes starts with the prefix and `_` (namespaces, labs, the CNI network).
P=${KB_PREFIX:-kb$$}

die() { echo "kernel.sh: $*" >&2; exit 1; }
[[ $P =~ ^kb[A-Za-z0-9]*$ ]] || die "KB_PREFIX must start with kb and hold only letters and digits: $P"
P=${P}_
[[ $(id -u) == 0 ]] || die "needs root (it creates network namespaces): sudo $0"
for tool in ip bridge nsenter; do
  command -v "$tool" >/dev/null || die "$tool not found: apt-get install iproute2 util-linux"
done
[[ -x $NP ]] || die "no netplan-rs binary at $NP: cargo build --release (or set NETPLAN_RS)"

# Optional peers and measurements: missing ones are skipped with the reason in the table.
cni_skip=""
if [[ ! -x $CNI_DIR/bridge || ! -x $CNI_DIR/host-local ]]; then
  cni_skip="skipped: no CNI bridge and host-local plugins in $CNI_DIR (apt-get install containernetworking-plugins)"
  echo "kernel.sh: $cni_skip" >&2
fi
rss_skip=""
if [[ ! -x /usr/bin/time ]]; then
  rss_skip="skipped: no /usr/bin/time (apt-get install time)"
  echo "kernel.sh: $rss_skip" >&2
fi

work=$(mktemp -d)
labs=()
cleanup() {
  local lab ns
  for lab in "${labs[@]}"; do "$NP" lab down "$work/$lab.base.yaml" --lab "$lab" >/dev/null 2>&1 || true; done
  # Whatever is left with this run's prefix (a peer's namespaces, an interrupted round).
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P" || true); do echo "netns del $ns"; done |
    ip -force -batch - >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------- helpers

now_us() { echo "${EPOCHREALTIME/./}"; }
since_ms() { echo $((($(now_us) - $1) / 1000)); }

# record KEY TOOL VALUE: one measurement (milliseconds, or KiB for rss).
record() { echo "$1 $2 $3" >> "$work/times"; }

# run_cpu OUT ERR COMMAND...: run COMMAND; its CPU time and its children's, user and system, in
# seconds, go to $work/cpu.
run_cpu() {
  local TIMEFORMAT='%3U %3S' out=$1 err=$2
  shift 2
  { time "$@" > "$out" 2> "$err"; } 2> "$work/cpu"
}
record_cpu() { # KEY TOOL
  record "$1" "u_$2" "$(awk '{printf "%d", $1 * 1000}' "$work/cpu")"
  record "$1" "s_$2" "$(awk '{printf "%d", $2 * 1000}' "$work/cpu")"
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND until it succeeds, at most SECONDS.
wait_until() {
  local secs=$1 what=$2 deadline=$(($(now_us) + $1 * 1000000))
  shift 2
  until "$@"; do
    if (($(now_us) > deadline)); then
      echo "timed out after $secs s waiting for $what" >&2
      return 1
    fi
    sleep 0.01
  done
}

# quiet: the machine's CPUs were at least 90% idle over the last second (/proc/stat).
quiet() {
  local a b
  read -ra a < /proc/stat
  sleep 1
  read -ra b < /proc/stat
  local busy=0 idle=0 i d
  for ((i = 1; i < ${#b[@]}; i++)); do
    d=$((b[i] - a[i]))
    if ((i == 4 || i == 5)); then idle=$((idle + d)); else busy=$((busy + d)); fi
  done
  ((idle * 10 >= (idle + busy) * 9))
}

# settle: wait (at most SETTLE seconds) until the kernel has finished what bringing up many interfaces
# sets off: IPv6 duplicate address detection, router solicitations and MLD reports, each
# multicast flooded by the bridge to every other port. For 1000 containers this keeps both
# cores busy for several seconds after the apply returns, and a command timed meanwhile
# measures that storm as much as itself.
settle() {
  wait_until "$SETTLE" "the kernel to settle" quiet || echo "  (not settled; measuring anyway)" >&2
}

# bare HOST_NS CONTAINER_PREFIX: the host namespace holds only lo and eth0 and no namespace of
# its containers is left.
bare() {
  [[ $(ip -n "$1" -o link show 2>/dev/null | wc -l) == 2 ]] && ! compgen -G "/run/netns/$2*" >/dev/null
}

# make_host NS: a bare host namespace for a peer: lo, and eth0 with the underlay address,
# cabled to a switch namespace as the lab's hosts are.
hosts_made=0
make_host() {
  [[ -e /run/netns/${P}sw ]] || ip netns add "${P}sw"
  hosts_made=$((hosts_made + 1))
  ip netns add "$1"
  ip -n "$1" -batch - <<EOF
link set lo up
link add eth0 type veth peer name p$hosts_made netns ${P}sw
address add 10.200.0.1/16 dev eth0
link set eth0 up
EOF
  ip -n "${P}sw" link set "p$hosts_made" up
}

# reset_host NS CONTAINER_PREFIX: back to bare (untimed): delete the container namespaces and
# every link but lo and eth0, and wait for the kernel to finish tearing them down, so that the
# next contender does not pay for it.
reset_host() {
  local ns=$1 pfx=$2 n
  for n in /run/netns/"$pfx"*; do [[ -e $n ]] && echo "netns del ${n##*/}"; done |
    ip -force -batch - >/dev/null 2>&1 || true
  ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); if ($2 != "lo" && $2 != "eth0") print "link del " $2}' |
    ip -n "$ns" -force -batch - >/dev/null 2>&1 || true
  wait_until $((120 + $(ls /run/netns | wc -l) / 5)) "$ns to be bare" bare "$ns" "$pfx"
}

median() { sort -n | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]}'; }
med() { awk -v k="$1" -v t="$2" '$1 == k && $2 == t {print $3}' "$work/times" | median; }

fmt_ms() { # MS -> "312 ms" / "7.07 s"; empty -> "failed"
  [[ -z $1 ]] && { echo "failed"; return; }
  awk -v m="$1" 'BEGIN { if (m < 1000) printf "%d ms", m; else if (m < 10000) printf "%.2f s", m / 1000; else printf "%.1f s", m / 1000 }'
}
ratio() { # A B -> A/B, or "-"
  [[ -z $1 || -z $2 || $2 == 0 ]] && { echo "-"; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; printf (r < 0.1 ? "%.3f" : "%.2f"), r }'
}

# Addresses and MACs of the generated objects.
ip16() { echo "10.100.$(($1 >> 8)).$(($1 & 255))"; }              # index in 10.100.0.0/16
ip12() { echo "10.$((64 + ($1 >> 16))).$((($1 >> 8) & 255)).$(($1 & 255))"; } # in 10.64.0.0/12
mac_of() { local IFS=.; set -- $1; printf '02:42:%02x:%02x:%02x:%02x' "$1" "$2" "$3" "$4"; }
host_mac() { printf '06:6b:62:%02x:%02x:%02x' $(($1 >> 16)) $((($1 >> 8) & 255)) $(($1 & 255)); }
underlay() { echo "10.200.$(($1 / 250)).$(($1 % 250 + 1))"; } # host h<i>'s underlay address

# -------------------------------------------------------------------------------- topologies

header() { echo "version: 1"; }
bridge_topology() { # N
  header
  echo "hosts: { h0: { underlay: 10.200.0.1/16, interface: eth0 } }"
  echo "networks: { net: { driver: bridge, subnet: 10.100.0.0/16 } }"
  echo "containers:"
  for ((i = 0; i < $1; i++)); do echo "  c$i: { host: h0, network: net }"; done
}
fleet_hosts() { # HOSTS
  echo "hosts:"
  for ((h = 0; h < $1; h++)); do echo "  h$h: { underlay: $(underlay "$h")/16, interface: eth0 }"; done
}
vxlan_topology() { # HOSTS PER_HOST
  header
  fleet_hosts "$1"
  echo "networks: { ov: { driver: vxlan, mode: bridged, vni: 4242, subnet: 10.64.0.0/12 } }"
  echo "containers:"
  for ((h = 0; h < $1; h++)); do
    for ((i = 0; i < $2; i++)); do echo "  h${h}c$i: { host: h$h, network: ov }"; done
  done
}
routed_topology() { # PEERS
  header
  fleet_hosts $(($1 + 1))
  echo "networks: { fl: { driver: vxlan, mode: routed, vni: 100, subnet: 10.0.0.0/8, host_prefix: 24 } }"
  echo "containers:"
  for ((h = 0; h <= $1; h++)); do echo "  h${h}c0: { host: h$h, network: fl }"; done
}

# ----------------------------------------------------------------------------- netplan-rs

# np_lab NAME FILE: a lab whose only host is h0, bare (the file's h0 without its networks).
np_lab() {
  labs+=("$1")
  printf 'version: 1\nhosts: { h0: { underlay: 10.200.0.1/16, interface: eth0 } }\nnetworks: {}\ncontainers: {}\n' > "$work/$1.base.yaml"
  "$NP" lab up "$work/$1.base.yaml" --lab "$1" >/dev/null
  cp "$2" "$work/$1.yaml"
}

# np_run KEY LAB VERB: one timed netplan-rs command on host h0 of LAB (apply: with its max RSS).
np_run() {
  local key=$1 lab=$2 verb=$3 t0 ms
  local cmd=("$NP" "$verb" "$work/$lab.yaml" --lab "$lab" --host h0)
  [[ $verb == plan ]] || cmd+=(--auto-approve)
  if [[ $verb == apply && -z $rss_skip ]]; then cmd=(/usr/bin/time -f %M -o "$work/rss" "${cmd[@]}"); fi
  t0=$(now_us)
  if ! run_cpu "$work/out" "$work/err" timeout 900 "${cmd[@]}"; then
    echo "  $key: netplan-rs $verb failed (not counted): $(tail -1 "$work/err")" >&2
    return 1
  fi
  if [[ $verb == destroy ]] &&
    ! wait_until $((120 + $(ls /run/netns | wc -l) / 5)) "$lab-h0 to be bare" bare "$lab-h0" "$lab-h0-"; then
    return 1
  fi
  ms=$(since_ms "$t0")
  if [[ $verb == plan ]] && ! grep -q "No changes" "$work/out"; then
    echo "  $key: netplan-rs plan is not a no-op (not counted): $(tail -1 "$work/out")" >&2
    return 1
  fi
  record "$key" np "$ms"
  if [[ $verb == apply ]]; then
    record_cpu "$key" np
    [[ -z $rss_skip ]] && record "$key" rss "$(tail -1 "$work/rss")"
  fi
  echo "  $key: netplan-rs $verb $(fmt_ms "$ms")" >&2
}

# ------------------------------------------------------------------------------ ip -batch

# Batch files for N containers on a bridge, in $work/ipb$N/: namespaces (add, del), the host
# namespace, one per container.
ip_bridge_files() { # DIR N CONTAINER_PREFIX
  local d=$1 n=$2 pfx=$3 i a
  mkdir -p "$d"
  {
    echo "link add br-net address 06:6b:62:ff:ff:ff up type bridge"
    echo "address add 10.100.0.1/16 dev br-net"
  } > "$d/host"
  : > "$d/ns.add"
  : > "$d/ns.del"
  for ((i = 0; i < n; i++)); do
    a=$(ip16 $((i + 2)))
    echo "netns add $pfx$i" >> "$d/ns.add"
    echo "netns del $pfx$i" >> "$d/ns.del"
    echo "link add v$i address $(host_mac "$i") master br-net up type veth peer name eth0 address $(mac_of "$a") netns $pfx$i" >> "$d/host"
    printf 'link set lo up\nlink set eth0 up\naddress add %s/16 dev eth0\nroute add default via 10.100.0.1 dev eth0\n' "$a" > "$d/c$i"
  done
}

# ip_apply DIR HOST_NS CONTAINER_PREFIX N: send a batch directory's objects.
ip_apply() {
  local d=$1 host=$2 pfx=$3 n=$4 i
  [[ -e $d/sysctl ]] && { nsenter --net="/run/netns/$host" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward' || return 1; }
  ip -batch "$d/ns.add" || return 1
  ip -n "$host" -batch "$d/host" || return 1
  [[ -e $d/fdb ]] && { bridge -n "$host" -batch "$d/fdb" || return 1; }
  for ((i = 0; i < n; i++)); do ip -n "$pfx$i" -batch "$d/c$i" || return 1; done
}

# timed KEY TOOL WHAT COMMAND...: run and record a peer's command.
timed() {
  local key=$1 tool=$2 what=$3 t0 ms
  shift 3
  t0=$(now_us)
  if ! run_cpu "$work/out" "$work/err" "$@"; then
    echo "  $key: $what failed (not counted): $(cat "$work/out" "$work/err" | tail -1)" >&2
    return 1
  fi
  ms=$(since_ms "$t0")
  record "$key" "$tool" "$ms"
  record_cpu "$key" "$tool"
  echo "  $key: $what $(fmt_ms "$ms")" >&2
}

# read_all HOST_NS CONTAINER_PREFIX N: `ip -j` of links, addresses and routes of the host
# namespace and of every container namespace.
read_ns() { printf 'link show\naddress show\nroute show\n' | ip -n "$1" -j -batch - > /dev/null; }
read_all() {
  local i
  read_ns "$1" || return 1
  for ((i = 0; i < $3; i++)); do read_ns "$2$i" || return 1; done
}

# destroy_by_hand HOST_NS CONTAINER_PREFIX N / destroy_floor HOST_NS CONTAINER_PREFIX DIR:
# to completion.
destroy_by_hand() {
  local i
  for ((i = 0; i < $3; i++)); do ip netns del "$2$i" || return 1; done
  ip -n "$1" link del br-net || return 1
  wait_until $((120 + $3 / 5)) "$1 to be bare" bare "$1" "$2"
}
destroy_floor() {
  ip -batch "$3/ns.del" || return 1
  ip -n "$1" link del br-net || return 1
  wait_until $((120 + $(wc -l < "$3/ns.del") / 5)) "$1 to be bare" bare "$1" "$2"
}

# ------------------------------------------------------------------------------------ CNI

# cni_add_all CONTAINER_PREFIX N CONF CNI_DIR: what a runtime does per container (runs inside
# the host namespace).
cni_add_all() {
  local pfx=$1 n=$2 conf=$3 dir=$4 i
  for ((i = 0; i < n; i++)); do
    ip netns add "$pfx$i" || return 1
    CNI_COMMAND=ADD CNI_CONTAINERID="$pfx$i" CNI_NETNS="/run/netns/$pfx$i" CNI_IFNAME=eth0 \
      CNI_PATH="$dir" "$dir/bridge" < "$conf" > "$pfx.out" || { cat "$pfx.out"; return 1; }
  done
}
cni_apply() { # HOST_NS CONTAINER_PREFIX N CONF
  nsenter --net="/run/netns/$1" "$BASH" -c "$(declare -f cni_add_all); cd $work && cni_add_all $2 $3 $4 $CNI_DIR"
}

# ---------------------------------------------------------------------------------- cases

# The order of the contenders in round R: rotated by one each round.
order() { # R TOOLS...
  local r=$1
  shift
  local tools=("$@") n=$# i
  for ((i = 0; i < n; i++)); do echo "${tools[$(((i + r) % n))]}"; done
}

bridge_case() { # N
  local n=$1 lab=${P}n$1 chost=${P}c$1h cpfx=${P}c$1- ihost=${P}i$1h ipfx=${P}i$1- r tool
  local d=$work/ipb$n
  bridge_topology "$n" > "$work/b$n.yaml"
  np_lab "$lab" "$work/b$n.yaml"
  ip_bridge_files "$d" "$n" "$ipfx"
  make_host "$ihost"
  if [[ -z $cni_skip ]]; then
    make_host "$chost"
    cat > "$work/cni$n.conf" <<EOF
{"cniVersion": "1.0.0", "name": "${P}net$n", "type": "bridge", "bridge": "br-net",
 "isGateway": true, "ipMasq": false,
 "ipam": {"type": "host-local", "subnet": "10.100.0.0/16", "dataDir": "$work/ipam$n",
          "routes": [{"dst": "0.0.0.0/0"}]}}
EOF
  fi
  for ((r = 0; r < ROUNDS; r++)); do
    echo "[bridge $n] round $((r + 1))/$ROUNDS" >&2
    for tool in $(order "$r" np cni ip); do
      case $tool in
        np)
          np_run "bridge$n" "$lab" apply && np_run "plan$n" "$lab" plan &&
            settle && np_run "quiet$n" "$lab" plan || true
          np_run "destroy$n" "$lab" destroy || true
          reset_host "$lab-h0" "$lab-h0-"
          ;;
        cni)
          [[ -n $cni_skip ]] && continue
          timed "bridge$n" cni "CNI bridge + host-local" cni_apply "$chost" "$cpfx" "$n" "$work/cni$n.conf" || true
          reset_host "$chost" "$cpfx"
          rm -rf "$work/ipam$n"
          ;;
        ip)
          timed "bridge$n" ip "ip -batch" ip_apply "$d" "$ihost" "$ipfx" "$n" &&
            timed "plan$n" readhost "ip -j read of the host namespace" read_ns "$ihost" &&
            timed "plan$n" readall "ip -j read of host + containers" read_all "$ihost" "$ipfx" "$n" &&
            settle &&
            timed "quiet$n" readhost "settled: ip -j read of the host namespace" read_ns "$ihost" &&
            timed "quiet$n" readall "settled: ip -j read of host + containers" read_all "$ihost" "$ipfx" "$n" &&
            timed "destroy$n" floor "destroy, one ip -batch" destroy_floor "$ihost" "$ipfx" "$d" || true
          reset_host "$ihost" "$ipfx"
          # By hand: the same objects again (untimed), then one `ip netns del` per container.
          ip_apply "$d" "$ihost" "$ipfx" "$n" > /dev/null 2>&1 &&
            timed "destroy$n" hand "destroy by hand" destroy_by_hand "$ihost" "$ipfx" "$n" || true
          reset_host "$ihost" "$ipfx"
          ;;
      esac
    done
  done
}

# Batch files for host h0 of the bridged VXLAN fleet.
ip_vxlan_files() { # DIR HOSTS PER_HOST CONTAINER_PREFIX
  local d=$1 hosts=$2 per=$3 pfx=$4 i k a
  mkdir -p "$d"
  : > "$d/sysctl"
  {
    echo "link add br-ov address 06:6b:62:ff:ff:ff mtu 1450 up type bridge"
    echo "link add vx-ov address 06:6b:62:ff:ff:fe mtu 1450 master br-ov up type vxlan id 4242 local 10.200.0.1 dev eth0 dstport 4789 nolearning proxy"
  } > "$d/host"
  : > "$d/ns.add"
  : > "$d/fdb"
  for ((i = 0; i < per; i++)); do
    a=$(ip12 $((i + 2)))
    echo "netns add $pfx$i" >> "$d/ns.add"
    echo "link add v$i address $(host_mac "$i") mtu 1450 master br-ov up type veth peer name eth0 address $(mac_of "$a") mtu 1450 netns $pfx$i" >> "$d/host"
    printf 'link set lo up\nlink set eth0 up\naddress add %s/12 dev eth0\n' "$a" > "$d/c$i"
  done
  for ((k = per; k < hosts * per; k++)); do
    a=$(ip12 $((k + 2)))
    echo "neigh add $a lladdr $(mac_of "$a") dev vx-ov nud permanent" >> "$d/host"
    echo "fdb add $(mac_of "$a") dev vx-ov dst $(underlay $((k / per))) self permanent" >> "$d/fdb"
  done
}

# Batch files for host h0 of the routed VXLAN fleet.
ip_routed_files() { # DIR PEERS CONTAINER_PREFIX
  local d=$1 peers=$2 pfx=$3 k s m
  mkdir -p "$d"
  : > "$d/sysctl"
  echo "netns add ${pfx}0" > "$d/ns.add"
  {
    echo "link add br-fl address 06:6b:62:ff:ff:ff mtu 1450 up type bridge"
    echo "address add 10.0.0.1/24 dev br-fl"
    echo "link add vx-fl address 06:6b:62:ff:ff:fe mtu 1450 up type vxlan id 100 local 10.200.0.1 dev eth0 dstport 4789 nolearning"
    echo "address add 10.0.0.0/32 dev vx-fl"
    echo "link add v0 address $(host_mac 0) mtu 1450 master br-fl up type veth peer name eth0 address $(mac_of 10.0.0.2) mtu 1450 netns ${pfx}0"
  } > "$d/host"
  printf 'link set lo up\nlink set eth0 up\naddress add 10.0.0.2/24 dev eth0\nroute add default via 10.0.0.1 dev eth0\n' > "$d/c0"
  : > "$d/fdb"
  for ((k = 1; k <= peers; k++)); do
    s=10.$((k >> 8)).$((k & 255)).0
    m=$(host_mac $((0x10000 + k)))
    echo "neigh add $s lladdr $m dev vx-fl nud permanent" >> "$d/host"
    echo "route add $s/24 via $s dev vx-fl onlink" >> "$d/host"
    echo "fdb add $m dev vx-fl dst $(underlay "$k") self permanent" >> "$d/fdb"
  done
}

# overlay_case KIND: first apply of host h0 of a VXLAN fleet (KIND vxlan or routed).
overlay_case() {
  local kind=$1 lab=${P}n$1 ihost=${P}i$1h ipfx=${P}i$1- r tool n d=$work/ip$1
  if [[ $kind == vxlan ]]; then
    vxlan_topology "$VXLAN_HOSTS" "$VXLAN_PER_HOST" > "$work/$kind.yaml"
    ip_vxlan_files "$d" "$VXLAN_HOSTS" "$VXLAN_PER_HOST" "$ipfx"
    n=$VXLAN_PER_HOST
  else
    routed_topology "$ROUTED_PEERS" > "$work/$kind.yaml"
    ip_routed_files "$d" "$ROUTED_PEERS" "$ipfx"
    n=1
  fi
  np_lab "$lab" "$work/$kind.yaml"
  make_host "$ihost"
  for ((r = 0; r < ROUNDS; r++)); do
    echo "[$kind] round $((r + 1))/$ROUNDS" >&2
    for tool in $(order "$r" np ip); do
      case $tool in
        np)
          np_run "$kind" "$lab" apply || true
          "$NP" destroy "$work/$lab.yaml" --lab "$lab" --host h0 --auto-approve > /dev/null 2>&1 || true
          reset_host "$lab-h0" "$lab-h0-"
          ;;
        ip)
          timed "$kind" ip "ip -batch + bridge -batch" ip_apply "$d" "$ihost" "$ipfx" "$n" || true
          reset_host "$ihost" "$ipfx"
          ;;
      esac
    done
  done
}

# ---------------------------------------------------------------------------------- table

row() { echo "| $1 | $2 | $3 | $4 | $5 | $6 |"; }
cpu() { # KEY TOOL -> "user + system s" (medians of each)
  local u s
  u=$(med "$1" "u_$2") s=$(med "$1" "s_$2")
  [[ -z $u || -z $s ]] && { echo "failed"; return; }
  awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f + %.2f s", u / 1000, s / 1000 }'
}
mb() { [[ -z $1 ]] && { echo "failed"; return; }; awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

table() {
  local n first last np peer fl
  first=${SIZES%% *}
  last=${SIZES##* }
  echo
  row "work" "netplan-rs" "peer" "floor" "netplan-rs / peer" "netplan-rs / floor"
  row "---" "---" "---" "---" "---" "---"
  if [[ " $CASES " == *" bridge "* ]]; then
    for n in $SIZES; do
      np=$(med "bridge$n" np) fl=$(med "bridge$n" ip)
      if [[ -n $cni_skip ]]; then
        row "$n containers on one bridge: apply" "$(fmt_ms "$np")" "CNI bridge + host-local: $cni_skip" "ip -batch: $(fmt_ms "$fl")" "-" "$(ratio "$np" "$fl")"
      else
        peer=$(med "bridge$n" cni)
        row "$n containers on one bridge: apply" "$(fmt_ms "$np")" "CNI bridge + host-local: $(fmt_ms "$peer")" "ip -batch: $(fmt_ms "$fl")" "$(ratio "$np" "$peer")" "$(ratio "$np" "$fl")"
      fi
    done
    if [[ $first != "$last" ]]; then
      local g="growth of apply, $first -> $last containers (x$(ratio "$last" "$first"))"
      local gn gc gi
      gn=x$(ratio "$(med "bridge$last" np)" "$(med "bridge$first" np)")
      gi=x$(ratio "$(med "bridge$last" ip)" "$(med "bridge$first" ip)")
      if [[ -n $cni_skip ]]; then gc="CNI: $cni_skip"; else gc="CNI: x$(ratio "$(med "bridge$last" cni)" "$(med "bridge$first" cni)")"; fi
      row "$g" "$gn" "$gc" "ip -batch: $gi" "-" "-"
    fi
  fi
  if [[ " $CASES " == *" vxlan "* ]]; then
    np=$(med vxlan np) fl=$(med vxlan ip)
    row "bridged VXLAN host, $VXLAN_PER_HOST local + $(((VXLAN_HOSTS - 1) * VXLAN_PER_HOST)) remote containers: first apply" "$(fmt_ms "$np")" "-" "ip -batch + bridge -batch: $(fmt_ms "$fl")" "-" "$(ratio "$np" "$fl")"
  fi
  if [[ " $CASES " == *" routed "* ]]; then
    np=$(med routed np) fl=$(med routed ip)
    row "routed VXLAN host (flannel style), $ROUTED_PEERS peer hosts: first apply" "$(fmt_ms "$np")" "-" "ip -batch + bridge -batch: $(fmt_ms "$fl")" "-" "$(ratio "$np" "$fl")"
  fi
  if [[ " $CASES " == *" bridge "* ]]; then
    for n in $SIZES; do
      np=$(med "plan$n" np) peer=$(med "plan$n" readhost) fl=$(med "plan$n" readall)
      row "$n containers: no-op plan, right after the apply" "$(fmt_ms "$np")" "ip -j read, host namespace only: $(fmt_ms "$peer")" "ip -j read, host + each container namespace: $(fmt_ms "$fl")" "$(ratio "$np" "$peer")" "$(ratio "$np" "$fl")"
      np=$(med "quiet$n" np) peer=$(med "quiet$n" readhost) fl=$(med "quiet$n" readall)
      row "$n containers: no-op plan, settled host" "$(fmt_ms "$np")" "ip -j read, host namespace only: $(fmt_ms "$peer")" "ip -j read, host + each container namespace: $(fmt_ms "$fl")" "$(ratio "$np" "$peer")" "$(ratio "$np" "$fl")"
    done
    for n in $SIZES; do
      np=$(med "destroy$n" np) peer=$(med "destroy$n" hand) fl=$(med "destroy$n" floor)
      row "$n containers: destroy, to completion" "$(fmt_ms "$np")" "by hand, one ip netns del per container: $(fmt_ms "$peer")" "one ip -batch of netns del: $(fmt_ms "$fl")" "$(ratio "$np" "$peer")" "$(ratio "$np" "$fl")"
    done
    for n in $SIZES; do
      if [[ -n $rss_skip ]]; then np=$rss_skip; else np=$(mb "$(med "bridge$n" rss)"); fi
      row "$n containers: max RSS of apply" "$np" "-" "-" "-" "-"
    done
  fi
  for kind in vxlan routed; do
    [[ " $CASES " == *" $kind "* ]] || continue
    if [[ -n $rss_skip ]]; then np=$rss_skip; else np=$(mb "$(med "$kind" rss)"); fi
    row "$kind host: max RSS of apply" "$np" "-" "-" "-" "-"
  done
  if [[ " $CASES " == *" bridge "* ]]; then
    for n in $SIZES; do
      if [[ -n $cni_skip ]]; then peer="CNI: $cni_skip"; else peer="CNI: $(cpu "bridge$n" cni)"; fi
      row "$n containers: CPU of apply, user + system" "$(cpu "bridge$n" np)" "$peer" "ip -batch: $(cpu "bridge$n" ip)" "-" "-"
    done
  fi
  for kind in vxlan routed; do
    [[ " $CASES " == *" $kind "* ]] || continue
    row "$kind host: CPU of apply, user + system" "$(cpu "$kind" np)" "-" "ip -batch + bridge -batch: $(cpu "$kind" ip)" "-" "-"
  done
  echo
  echo "Medians of $ROUNDS interleaved rounds (order rotated per round), wall clock of whole commands."
  echo "Floor: \`ip\` sending exactly the same objects (\`ip -batch\`, \`bridge -batch\`: one process for"
  echo "the namespaces, one for the host namespace, one per container namespace); for the no-op plan,"
  echo "\`ip -j\` reading links, addresses and routes of every namespace; for destroy, one \`ip -batch\`"
  echo "of every \`netns del\`, then the bridge. Destroys are timed until the namespaces are gone and"
  echo "the host is back to lo and eth0. CPU: user + system seconds of the command and its children"
  echo "(the kernel's work in a command's system calls counts; waiting for a lock or for another"
  echo "process, and the kernel's deferred teardown, do not)."
}

# ----------------------------------------------------------------------------------- main

echo "# netplan-rs kernel benchmark"
echo
echo "- machine: $(nproc) cores, kernel $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- netplan-rs: $NP ($("$NP" --version 2>/dev/null || echo unknown))"
echo "- $(ip -V); CNI plugins: ${cni_skip:-$CNI_DIR ($(dpkg-query -W -f '${Package} ${Version}' containernetworking-plugins 2>/dev/null || echo "version unknown"))}"
echo "- cases: $CASES; rounds: $ROUNDS; sizes: $SIZES; bridged VXLAN fleet: $VXLAN_HOSTS x $VXLAN_PER_HOST; routed VXLAN peers: $ROUTED_PEERS"

: > "$work/times"
for case in $CASES; do
  case $case in
    bridge) for n in $SIZES; do bridge_case "$n"; done ;;
    vxlan | routed) overlay_case "$case" ;;
    *) die "unknown case $case (bridge, vxlan, routed)" ;;
  esac
done
table
echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
