//! Bridge egress NAT (`nat: true`) and published ports (`ports:` on containers): the nftables
//! table `inet netplan-rs` with nat base chains and one rule per masqueraded subnet and per
//! published port, plus `net.ipv4.ip_forward` (NAT'd traffic is forwarded).
//!
//! Like docker0: `ip saddr <subnet> oifname != "br-<net>" masquerade` in postrouting, and
//! `ip daddr <underlay> tcp dport <host port> dnat ip to <container>:<port>` in prerouting
//! (traffic from other hosts) and output (traffic from the host itself). Chains exist only when
//! they hold a rule; the table only when there is a chain.

use super::wiring;
use crate::state::{NFT_TABLE, NatRule, NftChain, NftHook, NftRule, NftTable, Ns, State};
use crate::topology::naming::bridge_name;
use crate::topology::ports::{parse, port_network};
use crate::topology::{Attachment, Host, Network, Topology};
use std::net::IpAddr;

/// nft's `dstnat` and `srcnat` priorities.
const DSTNAT: i32 = -100;
const SRCNAT: i32 = 100;

fn chain(hook: NftHook) -> NftChain {
    NftChain {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        name: hook.name().to_string(),
        chain_type: "nat".to_string(),
        hook: Some(hook),
        priority: if hook == NftHook::Postrouting {
            SRCNAT
        } else {
            DSTNAT
        },
        owned: true,
    }
}

fn rule(hook: NftHook, id: String, rule: NatRule) -> NftRule {
    NftRule {
        ns: Ns::Host,
        table: NFT_TABLE.to_string(),
        chain: hook.name().to_string(),
        id,
        rule,
        handle: None,
        owned: true,
    }
}

/// The rules `host` needs, in a stable order (networks, then containers, in declaration order).
fn rules(topo: &Topology, host: &str, host_def: &Host, all: &[Attachment]) -> Vec<NftRule> {
    let local = |a: &&Attachment| a.host == host;
    let mut out = Vec::new();
    for (network, net) in &topo.networks {
        let Network::Bridge(b) = net else { continue };
        if !b.nat || !all.iter().filter(local).any(|a| a.network == *network) {
            continue;
        }
        let bridge = bridge_name(network);
        let source = b.subnet.trunc().into();
        out.push(rule(
            NftHook::Postrouting,
            format!("masquerade {source} from {bridge}"),
            NatRule::Masquerade {
                source,
                not_out: bridge,
            },
        ));
    }
    let underlay = IpAddr::V4(host_def.underlay.addr());
    for (name, c) in &topo.containers {
        if c.host != host || c.ports.is_empty() {
            continue;
        }
        let Some(network) = port_network(topo, name) else {
            continue;
        };
        let Some(att) = all
            .iter()
            .find(|a| a.container == *name && a.network == network)
        else {
            continue;
        };
        // Validation rejected bad entries; skip rather than fail if one slipped through.
        for port in c.ports.iter().filter_map(|p| parse(p).ok()) {
            let to = IpAddr::V4(att.address);
            let id = format!(
                "dnat {} {} -> {to}:{}",
                port.proto.name(),
                port.host_port,
                port.container_port
            );
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
pub fn compile(
    topo: &Topology,
    host: &str,
    host_def: &Host,
    all: &[Attachment],
    state: &mut State,
) {
    let rules = rules(topo, host, host_def, all);
    if rules.is_empty() {
        return;
    }
    state.insert(NftTable {
        ns: Ns::Host,
        name: NFT_TABLE.to_string(),
        owned: true,
    });
    for hook in [NftHook::Prerouting, NftHook::Output, NftHook::Postrouting] {
        if rules.iter().any(|r| r.chain == hook.name()) {
            state.insert(chain(hook));
        }
    }
    for r in rules {
        state.insert(r);
    }
    wiring::ip_forward(state);
}
