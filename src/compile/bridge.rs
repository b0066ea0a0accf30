//! `driver: bridge`: on each host with containers on the network, its own bridge holding the
//! gateway address(es) (IPv4 `gateway`, IPv6 `gateway6` on a dual-stack or IPv6-only network),
//! and the containers' veths. Hosts' bridges are not joined: no cross-host objects.

use super::{Ctx, wiring};
use crate::state::State;
use crate::topology::BridgeNetwork;

pub fn compile(ctx: &Ctx, net: &BridgeNetwork, state: &mut State) {
    wiring::bridge(ctx, state);
    if let (Some(gateway), Some(subnet)) = (net.gateway(), net.subnet4()) {
        wiring::gateway_address(ctx, wiring::cidr(gateway, subnet.prefix_len()), state);
    }
    if let (Some(gateway6), Some(prefix)) = (net.gateway6(), net.v6()) {
        wiring::gateway_address(ctx, wiring::cidr6(gateway6, prefix.prefix_len()), state);
    }
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
}
