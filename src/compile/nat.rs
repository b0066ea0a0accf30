//! Bridge egress NAT (`nat: true`) and published ports (`ports:` on containers): the nftables
//! table `inet netplan-rs` with nat base chains and one rule per masqueraded subnet and per
//! published port, plus forwarding (NAT'd traffic is forwarded).
//!
//! Like docker0: `ip saddr <subnet> oifname != "br-<net>" masquerade` in postrouting, and
//! `ip daddr <underlay> tcp dport <host port> dnat ip to <container>:<port>` in prerouting
//! (traffic from other hosts) and output (traffic from the host itself). Chains exist only when
//! they hold a rule; the table only when there is a chain.

use super::nft::{self, rule};
use super::wiring;
use crate::state::{NatRule, NftChain, NftHook, NftRule, State};
use crate::topology::naming::bridge_name;
use crate::topology::ports::{parse, port_network};
use crate::topology::{Attachment, Container, Host, Network, Topology};
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// nft's `dstnat` and `srcnat` priorities.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

fn chain(hook: NftHook) -> NftChain {
    let priority = if hook == NftHook::Postrouting {
        SRCNAT
    } else {
        DSTNAT
    };
    nft::base_chain(hook, "nat", priority)
}

/// The rules `host` needs, in a stable order (networks, then containers, in declaration order).
/// A dual-stack bridge with `nat` masquerades both of its prefixes; a port is published on the
/// underlay address, to the container's address of the underlay's family.
fn rules(
    topo: &Topology,
    host_def: &Host,
    containers: &[(&str, &Container)],
    local: &[&Attachment],
) -> Vec<NftRule> {
    let mut out = Vec::new();
    for (network, net) in &topo.networks {
        let Network::Bridge(b) = net else { continue };
        if !b.nat || !local.iter().any(|a| a.network == *network) {
            continue;
        }
        let bridge = bridge_name(network);
        let prefixes = [
            b.subnet4().map(|s| IpNet::V4(s.trunc())),
            b.v6().map(|s| IpNet::V6(s.trunc())),
        ];
        for source in prefixes.into_iter().flatten() {
            out.push(rule(
                NftHook::Postrouting,
                format!("masquerade {source} from {bridge}"),
                NatRule::Masquerade {
                    source,
                    not_out: bridge.clone(),
                },
            ));
        }
    }
    let underlay = host_def.underlay.addr();
    for &(name, c) in containers {
        if c.ports.is_empty() {
            continue;
        }
        let Some(network) = port_network(topo, name) else {
            continue;
        };
        let Some(att) = local
            .iter()
            .find(|a| a.container == name && a.network == network)
        else {
            continue;
        };
        // Validation requires an address of the underlay's family; skip rather than fail.
        let to = match underlay {
            IpAddr::V4(_) => att.ipv4().map(IpAddr::V4),
            IpAddr::V6(_) => att.ipv6().map(IpAddr::V6),
        };
        let Some(to) = to else { continue };
        // Validation rejected bad entries; skip rather than fail if one slipped through.
        for port in c.ports.iter().filter_map(|p| parse(p).ok()) {
            // `192.168.200.2:80`, `[fd00::2]:80`.
            let target = SocketAddr::new(to, port.container_port);
            let id = format!("dnat {} {} -> {target}", port.proto.name(), port.host_port);
            let dnat = NatRule::Dnat {
                proto: port.proto,
                daddr: underlay,
                dport: port.host_port,
                to,
                to_port: port.container_port,
            };
            for hook in [NftHook::Prerouting, NftHook::Output] {
                out.push(rule(hook, id.clone(), dnat.clone()));
            }
        }
    }
    out
}

/// Add the NAT table, chains and rules `host` needs (nothing when it needs none).
/// `containers` and `local` are the host's own, in declaration order.
pub fn compile(
    topo: &Topology,
    host_def: &Host,
    containers: &[(&str, &Container)],
    local: &[&Attachment],
    state: &mut State,
) {
    let rules = rules(topo, host_def, containers, local);
    if rules.is_empty() {
        return;
    }
    state.insert(nft::table());
    for hook in [NftHook::Prerouting, NftHook::Output, NftHook::Postrouting] {
        if rules.iter().any(|r| r.chain == hook.name()) {
            state.insert(chain(hook));
        }
    }
    let (mut v4, mut v6) = (false, false);
    for r in rules {
        match &r.rule {
            NatRule::Masquerade { source, .. } => {
                v4 |= source.addr().is_ipv4();
                v6 |= source.addr().is_ipv6();
            }
            NatRule::Dnat { to, .. } => {
                v4 |= to.is_ipv4();
                v6 |= to.is_ipv6();
            }
            _ => {}
        }
        state.insert(r);
    }
    // NAT'd traffic is forwarded, in the families the rules cover.
    if v4 {
        wiring::ip_forward(state);
    }
    if v6 {
        wiring::ip6_forward(state);
    }
}

#[cfg(test)]
mod tests {
    use crate::compile::tests::test_support::{nft_lines, state};
    use crate::state::{Object, State};
    use crate::topology::tests::test_support::parse;

    fn host_state(yaml: &str, host: &str) -> State {
        state(&parse(yaml), host)
    }

    const BASE: &str = "version: 1
hosts:
  node-1: { underlay: 10.0.0.1/24 }
  node-2: { underlay: 10.0.0.2/24 }
networks:
";

    #[test]
    fn a_plain_bridge_gets_no_table_and_no_forwarding() {
        let yaml = format!(
            "{BASE}  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}
containers:
  a: {{ host: node-1, network: local }}
"
        );
        let state = host_state(&yaml, "node-1");
        assert!(nft_lines(&state).is_empty());
        assert!(!state.iter().any(|o| matches!(o, Object::Sysctl(_))));
    }

    #[test]
    fn nat_and_ports_apply_only_where_the_containers_run() {
        let yaml = format!(
            "{BASE}  local: {{ driver: bridge, subnet: 192.168.200.0/24, nat: true }}
containers:
  a: {{ host: node-1, network: local, ports: [\"53:53/udp\"] }}
"
        );
        assert!(nft_lines(&host_state(&yaml, "node-2")).is_empty());
        assert_eq!(
            nft_lines(&host_state(&yaml, "node-1")),
            vec![
                "nft_table host/inet netplan-rs",
                "nft_chain host/netplan-rs/output type=nat hook=output priority=-100",
                "nft_chain host/netplan-rs/postrouting type=nat hook=postrouting priority=100",
                "nft_chain host/netplan-rs/prerouting type=nat hook=prerouting priority=-100",
                "nft_rule host/netplan-rs/output \"dnat udp 53 -> 192.168.200.2:53\" rule=ip daddr 10.0.0.1 udp dport 53 dnat ip to 192.168.200.2:53",
                "nft_rule host/netplan-rs/postrouting \"masquerade 192.168.200.0/24 from br-local\" rule=ip saddr 192.168.200.0/24 oifname != \"br-local\" masquerade",
                "nft_rule host/netplan-rs/prerouting \"dnat udp 53 -> 192.168.200.2:53\" rule=ip daddr 10.0.0.1 udp dport 53 dnat ip to 192.168.200.2:53",
            ]
        );
    }

    #[test]
    fn ports_without_nat_make_only_prerouting_and_output() {
        let yaml = format!(
            "{BASE}  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}
containers:
  a: {{ host: node-1, network: local, ports: [\"8080:80\"] }}
"
        );
        let lines = nft_lines(&host_state(&yaml, "node-1"));
        assert_eq!(lines.len(), 5, "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("postrouting")));
    }

    #[test]
    fn a_dual_stack_bridge_masquerades_both_prefixes_and_forwards_both_families() {
        let yaml = format!(
            "{BASE}  local: {{ driver: bridge, subnet: 192.168.200.0/24, subnet6: \"fd00:200::/64\", nat: true }}
containers:
  a: {{ host: node-1, network: local }}
"
        );
        let state = host_state(&yaml, "node-1");
        let lines = nft_lines(&state);
        assert!(lines.contains(&"nft_rule host/netplan-rs/postrouting \"masquerade fd00:200::/64 from br-local\" rule=ip6 saddr fd00:200::/64 oifname != \"br-local\" masquerade".to_string()), "{lines:#?}");
        let sysctls: Vec<String> = state
            .iter()
            .filter(|o| matches!(o, Object::Sysctl(_)))
            .map(Object::describe)
            .collect();
        assert_eq!(sysctls.len(), 2, "{sysctls:?}");
    }
}
