//! `driver: bridge`: on each host with containers on the network, its own bridge holding the
//! gateway address, and the containers' veths. Hosts' bridges are not joined: no cross-host
//! objects.

use super::{Ctx, wiring};
use crate::state::{Address, Ns, State};
use crate::topology::BridgeNetwork;
use crate::topology::naming::bridge_name;

pub fn compile(ctx: &Ctx, net: &BridgeNetwork, state: &mut State) {
    wiring::bridge(ctx, state);
    state.insert(Address {
        ns: Ns::Host,
        link: bridge_name(ctx.network),
        cidr: wiring::cidr(net.gateway(), net.subnet.prefix_len()),
        owned: true,
    });
    for att in ctx.local() {
        wiring::container(ctx, att, state);
    }
}
