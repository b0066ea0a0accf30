//! Builders for hand-made states in plan tests (test-only).

use crate::state::*;

pub(crate) fn ns(name: &str) -> Ns {
    if name == "host" {
        Ns::Host
    } else {
        Ns::Container(name.to_string())
    }
}

pub(crate) fn state(objects: impl IntoIterator<Item = Object>) -> State {
    objects.into_iter().collect()
}

pub(crate) fn namespace(name: &str) -> Object {
    Object::Namespace(Namespace {
        name: name.to_string(),
        owned: true,
        ipv6_default: None,
    })
}

pub(crate) fn sysctl(ns_name: &str, key: &str, value: &str) -> Object {
    Object::Sysctl(Sysctl {
        ns: ns(ns_name),
        key: key.to_string(),
        value: value.to_string(),
    })
}

fn link(ns_name: &str, name: &str, kind: LinkKind, master: Option<&str>) -> Object {
    Object::Link(Link {
        ns: ns(ns_name),
        name: name.to_string(),
        kind,
        mac: None,
        mtu: Some(1450),
        master: master.map(str::to_string),
        up: true,
        ipv6: None,
        owned: true,
    })
}

/// Host bridge, MTU 1450, up, owned.
pub(crate) fn bridge(name: &str) -> Object {
    link("host", name, LinkKind::Bridge, None)
}

/// Host vxlan on underlay `eth0`, enslaved to `master`.
pub(crate) fn vxlan(name: &str, vni: u32, master: &str) -> Object {
    let kind = LinkKind::Vxlan(Vxlan {
        vni,
        local: Some("192.168.31.183".parse().unwrap()),
        dev: Some("eth0".to_string()),
        port: 4789,
        learning: false,
        proxy: true,
    });
    link("host", name, kind, Some(master))
}

/// A veth pair: host end `host_name` in `master`, container end `eth0` in namespace `container`.
pub(crate) fn veth_pair(container: &str, host_name: &str, master: &str) -> (Object, Object) {
    let host = link(
        "host",
        host_name,
        LinkKind::Veth {
            peer: Some(VethPeer {
                ns: ns(container),
                name: "eth0".to_string(),
            }),
        },
        Some(master),
    );
    let inner = link(
        container,
        "eth0",
        LinkKind::Veth {
            peer: Some(VethPeer {
                ns: Ns::Host,
                name: host_name.to_string(),
            }),
        },
        None,
    );
    (host, inner)
}

pub(crate) fn other_link(ns_name: &str, name: &str, type_name: &str) -> Object {
    link(
        ns_name,
        name,
        LinkKind::Other {
            name: type_name.to_string(),
        },
        None,
    )
}

pub(crate) fn address(ns_name: &str, link: &str, cidr: &str) -> Object {
    Object::Address(Address {
        ns: ns(ns_name),
        link: link.to_string(),
        cidr: cidr.parse().unwrap(),
        owned: true,
    })
}

pub(crate) fn neighbour(ns_name: &str, link: &str, ip: &str, mac: &str) -> Object {
    Object::Neighbour(Neighbour {
        ns: ns(ns_name),
        link: link.to_string(),
        ip: ip.parse().unwrap(),
        mac: mac.parse().unwrap(),
        owned: true,
    })
}

pub(crate) fn fdb(ns_name: &str, link: &str, mac: &str, dst: &str) -> Object {
    Object::Fdb(Fdb {
        ns: ns(ns_name),
        link: link.to_string(),
        mac: mac.parse().unwrap(),
        dst: dst.parse().unwrap(),
        owned: true,
    })
}

pub(crate) fn route_via(ns_name: &str, dst: &str, via: &str, dev: &str) -> Object {
    Object::Route(Route {
        ns: ns(ns_name),
        dst: dst.parse().unwrap(),
        gateway: Some(via.parse().unwrap()),
        dev: dev.to_string(),
        onlink: false,
        owned: true,
    })
}

pub(crate) fn onlink(mut object: Object) -> Object {
    if let Object::Route(r) = &mut object {
        r.onlink = true;
    }
    object
}

/// The same object without netplan-rs's ownership mark.
pub(crate) fn unowned(mut object: Object) -> Object {
    match &mut object {
        Object::Namespace(n) => n.owned = false,
        Object::Link(l) => l.owned = false,
        Object::Address(a) => a.owned = false,
        Object::Neighbour(n) => n.owned = false,
        Object::Fdb(e) => e.owned = false,
        Object::Route(r) => r.owned = false,
        Object::NftTable(t) => t.owned = false,
        Object::NftChain(c) => c.owned = false,
        Object::NftSet(s) => s.owned = false,
        Object::NftRule(r) => r.owned = false,
        Object::Sysctl(_) => {}
    }
    object
}

pub(crate) fn set_mtu(object: &mut Object, mtu: u32) {
    if let Object::Link(l) = object {
        l.mtu = Some(mtu);
    }
}

pub(crate) fn set_mac(object: &mut Object, mac: &str) {
    if let Object::Link(l) = object {
        l.mac = Some(mac.parse().unwrap());
    }
}

/// As observe reports a veth end whose peer it could not find.
pub(crate) fn clear_peer(object: &mut Object) {
    if let Object::Link(l) = object
        && let LinkKind::Veth { peer } = &mut l.kind
    {
        *peer = None;
    }
}

pub(crate) fn link_key(ns_name: &str, name: &str) -> ObjectKey {
    ObjectKey::Link {
        ns: ns(ns_name),
        name: name.to_string(),
    }
}
