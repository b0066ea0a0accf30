//! Real-kernel tests of `kernel::{netns, Kernel}`: they run as root, only inside namespaces they
//! create (named `nptest-<pid>-<n>...`), and remove them in Drop guards even on failure. The
//! machine's root namespace is never touched: the target's host namespace is a fresh one too.
//! `ip`/`bridge` are used only to check the kernel independently of our own observe().

use netplan_rs::kernel::{Kernel, KernelError, Target, netns};
use netplan_rs::plan::{Action, Step};
use netplan_rs::state::{
    Address, Fdb, Link, LinkKind, Mac, Namespace, Neighbour, Ns, Object, Route, State, Sysctl,
    VethPeer, Vxlan,
};
use serde_json::Value;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Deletes every namespace whose name starts with `base` when dropped.
struct Lab {
    base: String,
    host: String,
    prefix: String,
}

impl Lab {
    fn new() -> Lab {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let base = format!("nptest-{}-{n}", std::process::id());
        let lab = Lab {
            host: format!("{base}-h"),
            prefix: format!("{base}-c-"),
            base,
        };
        netns::create(&lab.host).expect("create host netns");
        lab
    }

    fn target(&self) -> Target {
        Target {
            host_netns: Some(self.host.clone()),
            container_prefix: self.prefix.clone(),
            ..Target::local()
        }
    }

    fn container(&self, c: &str) -> String {
        format!("{}{c}", self.prefix)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in netns::list().unwrap_or_default() {
            if name.starts_with(&self.base) {
                let _ = netns::delete(&name);
            }
        }
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j -d -n NS <args>` parsed.
fn ip(ns: &str, args: &[&str]) -> Value {
    let mut full = vec!["-j", "-d", "-n", ns];
    full.extend_from_slice(args);
    serde_json::from_str(&run("ip", &full)).expect("ip json")
}

fn link_json(ns: &str, name: &str) -> Value {
    ip(ns, &["link", "show", "dev", name])[0].clone()
}

fn has_flag(link: &Value, flag: &str) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == flag))
}

/// A create or delete step of `object`.
fn step(action: Action, object: impl Into<Object>) -> Step {
    match action {
        Action::Delete => Step::delete(object.into(), None),
        _ => Step::create(object.into(), None),
    }
}

/// Create a veth pair: `end` and its `peer`.
fn pair(end: impl Into<Object>, peer: impl Into<Object>) -> Step {
    Step::create(end.into(), Some(peer.into()))
}

/// Update `current` to `desired` in place.
fn update_step(current: impl Into<Object>, desired: impl Into<Object>) -> Step {
    Step::update(current.into(), desired.into(), vec![])
}

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

/// The scene every test builds: a container namespace, bridge + vxlan on an underlay, a veth into
/// the container with address and default route, neighbour, FDB, onlink route, sysctl.
struct Scene {
    ns: Namespace,
    bridge: Link,
    vxlan: Link,
    veth_host: Link,
    veth_cont: Link,
    br_addr: Address,
    c_addr: Address,
    c_route: Route,
    neigh: Neighbour,
    fdb: Fdb,
    onlink: Route,
    forward: Sysctl,
}

fn scene() -> Scene {
    let c1 = Ns::Container("c1".into());
    Scene {
        ns: Namespace {
            name: "c1".into(),
            owned: true,
            ipv6_default: None,
        },
        bridge: Link {
            ns: Ns::Host,
            name: "br-t".into(),
            kind: LinkKind::Bridge,
            mac: Some(mac("06:11:22:33:44:01")),
            mtu: Some(1450),
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        },
        vxlan: Link {
            ns: Ns::Host,
            name: "vx-t".into(),
            kind: LinkKind::Vxlan(Vxlan {
                vni: 100,
                local: Some("192.168.31.10".parse().unwrap()),
                dev: Some("ul0".into()),
                port: 4789,
                learning: false,
                proxy: true,
            }),
            mac: Some(mac("06:11:22:33:44:02")),
            mtu: Some(1450),
            master: Some("br-t".into()),
            up: true,
            ipv6: None,
            owned: true,
        },
        veth_host: Link {
            ns: Ns::Host,
            name: "vethc1".into(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: c1.clone(),
                    name: "eth0".into(),
                }),
            },
            mac: Some(mac("06:11:22:33:44:03")),
            mtu: Some(1450),
            master: Some("br-t".into()),
            up: true,
            ipv6: None,
            owned: true,
        },
        veth_cont: Link {
            ns: c1.clone(),
            name: "eth0".into(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: Ns::Host,
                    name: "vethc1".into(),
                }),
            },
            mac: Some(mac("02:42:ac:12:0a:02")),
            mtu: Some(1450),
            master: None,
            up: true,
            // Created with IPv6 off (the kernel's default is on): see the create and update checks.
            ipv6: Some(false),
            owned: true,
        },
        br_addr: Address {
            ns: Ns::Host,
            link: "br-t".into(),
            cidr: "172.18.0.1/16".parse().unwrap(),
            owned: true,
        },
        c_addr: Address {
            ns: c1.clone(),
            link: "eth0".into(),
            cidr: "172.18.10.2/16".parse().unwrap(),
            owned: true,
        },
        c_route: Route {
            ns: c1,
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("172.18.0.1".parse().unwrap()),
            dev: "eth0".into(),
            onlink: false,
            owned: true,
        },
        neigh: Neighbour {
            ns: Ns::Host,
            link: "vx-t".into(),
            ip: "172.18.20.2".parse().unwrap(),
            mac: mac("02:42:ac:12:14:02"),
            owned: true,
        },
        fdb: Fdb {
            ns: Ns::Host,
            link: "vx-t".into(),
            mac: mac("02:42:ac:12:14:02"),
            dst: "192.168.31.20".parse().unwrap(),
            owned: true,
        },
        onlink: Route {
            ns: Ns::Host,
            dst: "10.244.20.0/24".parse().unwrap(),
            gateway: Some("10.244.20.0".parse().unwrap()),
            dev: "vx-t".into(),
            onlink: true,
            owned: true,
        },
        forward: Sysctl {
            ns: Ns::Host,
            key: "net.ipv4.ip_forward".into(),
            value: "1".into(),
        },
    }
}

/// An unowned underlay made with `ip`: veth ul0/ul1 in the host namespace, 192.168.31.10/24.
fn underlay(lab: &Lab) {
    let h = lab.host.as_str();
    run(
        "ip",
        &[
            "-n", h, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1",
        ],
    );
    run("ip", &["-n", h, "link", "set", "ul0", "up"]);
    run("ip", &["-n", h, "link", "set", "ul1", "up"]);
    run(
        "ip",
        &["-n", h, "addr", "add", "192.168.31.10/24", "dev", "ul0"],
    );
    run(
        "ip",
        &["-n", h, "route", "add", "10.99.0.0/16", "dev", "ul0"],
    );
}

/// Create the whole scene through `execute`, in plan order.
async fn build(kernel: &mut Kernel, s: &Scene) {
    let veth = pair(s.veth_host.clone(), s.veth_cont.clone());
    let steps = vec![
        step(Action::Create, s.ns.clone()),
        step(Action::Create, s.forward.clone()),
        step(Action::Create, s.bridge.clone()),
        step(Action::Create, s.vxlan.clone()),
        veth,
        step(Action::Create, s.br_addr.clone()),
        step(Action::Create, s.c_addr.clone()),
        step(Action::Create, s.c_route.clone()),
        step(Action::Create, s.neigh.clone()),
        step(Action::Create, s.fdb.clone()),
        step(Action::Create, s.onlink.clone()),
    ];
    for st in &steps {
        if let Err(e) = kernel.execute(st).await {
            panic!("{}: {e}", st.key());
        }
    }
}

fn all(s: &Scene) -> Vec<Object> {
    vec![
        s.ns.clone().into(),
        s.forward.clone().into(),
        s.bridge.clone().into(),
        s.vxlan.clone().into(),
        s.veth_host.clone().into(),
        s.veth_cont.clone().into(),
        s.br_addr.clone().into(),
        s.c_addr.clone().into(),
        s.c_route.clone().into(),
        s.neigh.clone().into(),
        s.fdb.clone().into(),
        s.onlink.clone().into(),
    ]
}

/// Each of `wanted` is observed as it is, apart from IPv6 on links that leave it to the kernel
/// (`ipv6: None`), which observe reports as the kernel has it.
fn assert_observed(state: &State, wanted: &[Object]) {
    for object in wanted {
        let observed = state
            .get(&object.key())
            .cloned()
            .map(|o| match (o, object) {
                (Object::Link(mut have), Object::Link(want)) if want.ipv6.is_none() => {
                    have.ipv6 = None;
                    Object::Link(have)
                }
                (o, _) => o,
            });
        assert_eq!(
            observed.as_ref(),
            Some(object),
            "observed state:\n{}",
            state.render_text()
        );
    }
}

#[test]
fn netns_create_list_delete() {
    let lab = Lab::new();
    let name = lab.container("x");
    assert!(!netns::exists(&name));
    netns::create(&name).unwrap();
    assert!(netns::exists(&name));
    assert!(netns::list().unwrap().contains(&name));
    let err = netns::create(&name).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
    // It is a real, separate network namespace: only `lo`, down.
    let links = ip(&name, &["link"]);
    assert_eq!(links.as_array().map(Vec::len), Some(1));
    netns::delete(&name).unwrap();
    assert!(!netns::exists(&name));
    assert!(netns::create("../evil").is_err());
}

#[tokio::test]
async fn create_observe_update_delete() {
    let lab = Lab::new();
    underlay(&lab);
    let s = scene();
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    build(&mut kernel, &s).await;
    let h = lab.host.as_str();
    let c = lab.container("c1");

    // --- the kernel, seen by iproute2 ---
    let lo = link_json(&c, "lo");
    assert_eq!(lo["ifalias"], "netplan-rs");
    assert!(has_flag(&lo, "UP"));

    let br = link_json(h, "br-t");
    assert_eq!(br["ifalias"], "netplan-rs");
    assert_eq!(br["linkinfo"]["info_kind"], "bridge");
    assert_eq!(br["address"], "06:11:22:33:44:01");
    assert_eq!(br["mtu"], 1450);
    assert!(has_flag(&br, "UP"));

    let vx = link_json(h, "vx-t");
    assert_eq!(vx["ifalias"], "netplan-rs");
    let data = &vx["linkinfo"]["info_data"];
    assert_eq!(vx["linkinfo"]["info_kind"], "vxlan");
    assert_eq!(data["id"], 100);
    assert_eq!(data["local"], "192.168.31.10");
    assert_eq!(data["link"], "ul0");
    assert_eq!(data["port"], 4789);
    assert_eq!(data["learning"], false);
    assert_eq!(data["proxy"], true);
    assert_eq!(vx["master"], "br-t");
    assert_eq!(vx["address"], "06:11:22:33:44:02");
    assert!(has_flag(&vx, "UP"));

    let vh = link_json(h, "vethc1");
    assert_eq!(vh["ifalias"], "netplan-rs");
    assert_eq!(vh["master"], "br-t");
    assert_eq!(vh["address"], "06:11:22:33:44:03");
    assert!(has_flag(&vh, "UP"));
    let vc = link_json(&c, "eth0");
    assert_eq!(vc["ifalias"], "netplan-rs");
    assert_eq!(vc["address"], "02:42:ac:12:0a:02");
    assert_eq!(vc["mtu"], 1450);
    assert!(has_flag(&vc, "UP"));
    assert_eq!(vc["linkinfo"]["info_kind"], "veth");
    // Both ends with one queue each way (not one per possible CPU).
    for end in [&vh, &vc] {
        assert_eq!(
            (&end["num_tx_queues"], &end["num_rx_queues"]),
            (&1.into(), &1.into())
        );
    }

    let addrs = ip(&c, &["addr", "show", "dev", "eth0"]);
    let infos = addrs[0]["addr_info"].as_array().unwrap();
    assert!(
        infos
            .iter()
            .any(|a| a["local"] == "172.18.10.2" && a["prefixlen"] == 16),
        "{addrs}"
    );
    let routes = ip(&c, &["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "172.18.0.1");
    assert_eq!(routes[0]["dev"], "eth0");
    assert_eq!(routes[0]["protocol"], "78");
    let onlink = ip(h, &["route", "show", "10.244.20.0/24"]);
    assert_eq!(onlink[0]["gateway"], "10.244.20.0");
    assert_eq!(onlink[0]["dev"], "vx-t");
    assert_eq!(onlink[0]["protocol"], "78");
    assert!(
        onlink[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "onlink")
    );

    let neigh = ip(h, &["neigh", "show", "dev", "vx-t"]);
    assert_eq!(neigh[0]["dst"], "172.18.20.2");
    assert_eq!(neigh[0]["lladdr"], "02:42:ac:12:14:02");
    assert!(
        neigh[0]["state"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "PERMANENT")
    );

    let fdb: Value = serde_json::from_str(&run(
        "bridge",
        &["-j", "-n", h, "fdb", "show", "dev", "vx-t"],
    ))
    .unwrap();
    let entry = fdb
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mac"] == "02:42:ac:12:14:02")
        .unwrap_or_else(|| panic!("{fdb}"));
    assert_eq!(entry["dst"], "192.168.31.20");
    assert!(
        entry["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "self")
    );
    assert_eq!(entry["state"], "permanent");

    let forward = run(
        "ip",
        &["netns", "exec", h, "cat", "/proc/sys/net/ipv4/ip_forward"],
    );
    assert_eq!(forward.trim(), "1");

    // --- the kernel, seen by observe() ---
    let state = kernel.observe().await.unwrap();
    assert_observed(&state, &all(&s));
    // The unowned underlay made by `ip`.
    let ul0 = state.link(&Ns::Host, "ul0").unwrap();
    assert!(!ul0.owned);
    assert_eq!(
        ul0.kind,
        LinkKind::Veth {
            peer: Some(VethPeer {
                ns: Ns::Host,
                name: "ul1".into()
            })
        }
    );
    let ul_addr = Address {
        ns: Ns::Host,
        link: "ul0".into(),
        cidr: "192.168.31.10/24".parse().unwrap(),
        owned: false,
    };
    assert_observed(&state, &[ul_addr.into()]);
    let ul_route = Route {
        ns: Ns::Host,
        dst: "10.99.0.0/16".parse().unwrap(),
        gateway: None,
        dev: "ul0".into(),
        onlink: false,
        owned: false,
    };
    assert_observed(&state, &[ul_route.into()]);
    // Kernel-made objects are not there: lo, connected routes, link-local addresses.
    for object in state.iter() {
        let line = object.describe();
        assert!(!line.contains("/lo "), "{line}");
        assert!(!line.contains("fe80:"), "{line}");
        assert!(!line.starts_with("route host/192.168.31.0/24"), "{line}");
        assert!(!line.starts_with("route c1/172.18.0.0/16"), "{line}");
    }

    // --- an error names the object and the namespace ---
    let err = kernel
        .execute(&step(Action::Create, s.bridge.clone()))
        .await
        .unwrap_err();
    assert!(matches!(err, KernelError::Netlink { .. }), "{err:?}");
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST));
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "creating link host/br-t in netns {h}: File exists"
        )),
        "{msg}"
    );

    // --- update: a downed link comes back up; mtu changes in place ---
    run("ip", &["-n", &c, "link", "set", "eth0", "down"]);
    let sysctl = |args: &[&str]| {
        let mut all = vec!["netns", "exec", &c, "sysctl"];
        all.extend_from_slice(args);
        run("ip", &all).trim().to_string()
    };
    let disable_ipv6 = || sysctl(&["-n", "net.ipv6.conf.eth0.disable_ipv6"]);
    // Created with IPv6 off; turned on by hand, the update turns it off again.
    assert_eq!(disable_ipv6(), "1");
    sysctl(&["-w", "net.ipv6.conf.eth0.disable_ipv6=0"]);
    let state = kernel.observe().await.unwrap();
    let current = state
        .link(&Ns::Container("c1".into()), "eth0")
        .unwrap()
        .clone();
    assert!(!current.up);
    assert_eq!(current.ipv6, Some(true));
    let update = update_step(current, s.veth_cont.clone());
    kernel.execute(&update).await.unwrap();
    assert!(has_flag(&link_json(&c, "eth0"), "UP"));
    assert_eq!(disable_ipv6(), "1");
    let mut bigger = s.bridge.clone();
    bigger.mtu = Some(1400);
    let update = update_step(s.bridge.clone(), bigger.clone());
    kernel.execute(&update).await.unwrap();
    assert_eq!(link_json(h, "br-t")["mtu"], 1400);
    // Gotcha worth knowing: the kernel flushed the container's default route when eth0 went
    // down, so observe reports it missing (and a plan would recreate it).
    let state = kernel.observe().await.unwrap();
    assert!(state.get(&Object::from(s.c_route.clone()).key()).is_none());
    assert_observed(&state, &[s.veth_cont.clone().into(), bigger.into()]);

    // --- delete steps remove exactly what they name ---
    for object in [
        Object::from(s.onlink.clone()),
        s.fdb.clone().into(),
        s.neigh.clone().into(),
        s.br_addr.clone().into(),
        s.veth_host.clone().into(),
        s.vxlan.clone().into(),
        s.bridge.clone().into(),
        s.ns.clone().into(),
    ] {
        let st = step(Action::Delete, object);
        if let Err(e) = kernel.execute(&st).await {
            panic!("{}: {e}", st.key());
        }
    }
    assert!(!netns::exists(&c));
    let links = ip(h, &["link"]);
    let mut names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["lo", "ul0", "ul1"]);
    let state = kernel.observe().await.unwrap();
    for object in all(&s) {
        if !matches!(object, Object::Sysctl(_)) {
            assert!(state.get(&object.key()).is_none(), "{}", object.describe());
        }
    }
    // The unowned route survived.
    assert!(
        !ip(h, &["route", "show", "10.99.0.0/16"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unowned_namespace_is_not_read() {
    let lab = Lab::new();
    let foreign = lab.container("foreign");
    netns::create(&foreign).unwrap();
    run(
        "ip",
        &[
            "-n", &foreign, "link", "add", "x0", "type", "veth", "peer", "name", "x1",
        ],
    );
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    let state = kernel.observe().await.unwrap();
    assert_eq!(
        state.get(
            &Object::from(Namespace {
                name: "foreign".into(),
                owned: false,
                ipv6_default: None,
            })
            .key()
        ),
        Some(&Object::from(Namespace {
            name: "foreign".into(),
            owned: false,
            ipv6_default: None,
        }))
    );
    assert!(state.link(&Ns::Container("foreign".into()), "x0").is_none());
    // Neither the host namespace itself nor anything outside the prefix shows up as a container.
    assert!(
        state
            .iter()
            .all(|o| !matches!(o, Object::Namespace(n) if n.name != "foreign"))
    );
}

/// The vxlan `old` with VNI 200, and the step replacing `old` with it.
fn vni_replace(old: &Link) -> (Link, Step) {
    let mut new = old.clone();
    if let LinkKind::Vxlan(v) = &mut new.kind {
        v.vni = 200;
    }
    let replace = Step::Replace(netplan_rs::plan::Replace {
        current: old.clone().into(),
        desired: new.clone().into(),
        changes: vec![],
        reason: "vni cannot change in place".into(),
        peer: None,
    });
    (new, replace)
}

#[tokio::test]
async fn replace_recreates_vxlan_with_new_vni() {
    let lab = Lab::new();
    underlay(&lab);
    let s = scene();
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    for object in [Object::from(s.bridge.clone()), s.vxlan.clone().into()] {
        kernel.execute(&step(Action::Create, object)).await.unwrap();
    }
    let (new, replace) = vni_replace(&s.vxlan);
    kernel.execute(&replace).await.unwrap();
    assert_eq!(
        link_json(&lab.host, "vx-t")["linkinfo"]["info_data"]["id"],
        200
    );
    let state = kernel.observe().await.unwrap();
    assert_observed(&state, &[new.into()]);
}

/// One kernel looks up a link's ifindex once and reuses it (`execute.rs`). A replaced VXLAN
/// device has a new ifindex: the FDB entry written after the replace, by the same kernel, must
/// land on the new device, not fail on the old one's index.
#[tokio::test]
async fn entries_follow_a_link_replaced_in_the_same_run() {
    let lab = Lab::new();
    underlay(&lab);
    let s = scene();
    let kernel = Kernel::connect(lab.target()).await.unwrap();
    for object in [
        Object::from(s.bridge.clone()),
        s.vxlan.clone().into(),
        s.fdb.clone().into(),
    ] {
        kernel.execute(&step(Action::Create, object)).await.unwrap();
    }
    let old_index = link_json(&lab.host, "vx-t")["ifindex"].clone();
    let (_, replace) = vni_replace(&s.vxlan);
    kernel.execute(&replace).await.unwrap();
    assert_ne!(link_json(&lab.host, "vx-t")["ifindex"], old_index);
    kernel
        .execute(&step(Action::Create, s.fdb.clone()))
        .await
        .expect("the FDB entry goes to the new device");
    let entries: Value = serde_json::from_str(&run(
        "bridge",
        &["-j", "-n", &lab.host, "fdb", "show", "dev", "vx-t"],
    ))
    .expect("bridge json");
    assert!(
        entries
            .as_array()
            .expect("a list")
            .iter()
            .any(|e| e["mac"] == "02:42:ac:12:14:02" && e["dst"] == "192.168.31.20"),
        "{entries:?}"
    );
}

#[tokio::test]
async fn ipv6_address_route_neighbour_roundtrip() {
    let lab = Lab::new();
    let s = scene();
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    kernel
        .execute(&step(Action::Create, s.bridge.clone()))
        .await
        .unwrap();
    let addr = Address {
        ns: Ns::Host,
        link: "br-t".into(),
        cidr: "fd00:18::1/64".parse().unwrap(),
        owned: true,
    };
    let route = Route {
        ns: Ns::Host,
        dst: "fd00:99::/48".parse().unwrap(),
        gateway: Some("fd00:18::5".parse().unwrap()),
        dev: "br-t".into(),
        onlink: false,
        owned: true,
    };
    let neigh = Neighbour {
        ns: Ns::Host,
        link: "br-t".into(),
        ip: "fd00:18::5".parse().unwrap(),
        mac: mac("02:42:00:00:00:05"),
        owned: true,
    };
    let objects: Vec<Object> = vec![addr.into(), neigh.into(), route.into()];
    for object in &objects {
        let st = step(Action::Create, object.clone());
        if let Err(e) = kernel.execute(&st).await {
            panic!("{}: {e}", st.key());
        }
    }
    let state = kernel.observe().await.unwrap();
    assert_observed(&state, &objects);
    for object in objects.iter().rev() {
        kernel
            .execute(&step(Action::Delete, object.clone()))
            .await
            .unwrap();
    }
    let state = kernel.observe().await.unwrap();
    for object in &objects {
        assert!(state.get(&object.key()).is_none(), "{}", object.describe());
    }
}

#[tokio::test]
async fn delete_route_never_touches_unowned_twin() {
    let lab = Lab::new();
    underlay(&lab);
    let kernel = Kernel::connect(lab.target()).await.unwrap();
    // `ip` made 10.99.0.0/16 (protocol boot). A delete step for the same destination carries
    // our protocol, so the kernel finds nothing to delete.
    let twin = Route {
        ns: Ns::Host,
        dst: "10.99.0.0/16".parse().unwrap(),
        gateway: None,
        dev: "ul0".into(),
        onlink: false,
        owned: true,
    };
    let err = kernel
        .execute(&step(Action::Delete, twin.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH), "{err}");
    assert!(
        !ip(&lab.host, &["route", "show", "10.99.0.0/16"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // And an exclusive create does not adopt it either.
    let err = kernel
        .execute(&step(Action::Create, twin))
        .await
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EEXIST), "{err}");
}

/// Not a benchmark, a guard against accidental per-object round trips: 40 owned container
/// namespaces with a veth each are observed well under a second.
#[tokio::test]
async fn observe_many_namespaces() {
    let lab = Lab::new();
    let kernel = Kernel::connect(lab.target()).await.unwrap();
    for i in 0..40 {
        let name = format!("c{i}");
        kernel
            .execute(&step(
                Action::Create,
                Namespace {
                    name: name.clone(),
                    owned: true,
                    ipv6_default: None,
                },
            ))
            .await
            .unwrap();
        let host_end = Link {
            ns: Ns::Host,
            name: format!("veth{i}"),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: Ns::Container(name.clone()),
                    name: "eth0".into(),
                }),
            },
            mac: None,
            mtu: None,
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        };
        let cont_end = Link {
            ns: Ns::Container(name.clone()),
            name: "eth0".into(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: Ns::Host,
                    name: format!("veth{i}"),
                }),
            },
            ..host_end.clone()
        };
        let st = pair(host_end, cont_end);
        kernel.execute(&st).await.unwrap();
    }
    // A fresh Kernel: connections are opened by observe itself.
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    let start = std::time::Instant::now();
    let state = kernel.observe().await.unwrap();
    let first = start.elapsed();
    let start = std::time::Instant::now();
    kernel.observe().await.unwrap();
    let second = start.elapsed();
    eprintln!("observe of 41 namespaces: {first:?} cold, {second:?} with open connections");
    let peer = match &state
        .link(&Ns::Container("c7".into()), "eth0")
        .unwrap()
        .kind
    {
        LinkKind::Veth { peer } => peer.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        peer,
        Some(VethPeer {
            ns: Ns::Host,
            name: "veth7".into()
        })
    );
    assert!(first < std::time::Duration::from_secs(1));
}

#[tokio::test]
async fn update_mac_master_and_container_sysctl() {
    let lab = Lab::new();
    let s = scene();
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    let veth = pair(s.veth_host.clone(), s.veth_cont.clone());
    for st in [
        step(Action::Create, s.ns.clone()),
        step(Action::Create, s.bridge.clone()),
        veth,
    ] {
        kernel.execute(&st).await.unwrap();
    }
    // New MAC on a running veth, released from its bridge, mtu changed: all in place.
    let mut changed = s.veth_host.clone();
    changed.mac = Some(mac("06:11:22:33:44:99"));
    changed.master = None;
    changed.mtu = Some(1300);
    let update = update_step(s.veth_host.clone(), changed.clone());
    kernel.execute(&update).await.unwrap();
    let vh = link_json(&lab.host, "vethc1");
    assert_eq!(vh["address"], "06:11:22:33:44:99");
    assert!(vh.get("master").is_none(), "{vh}");
    assert_eq!(vh["mtu"], 1300);
    assert!(has_flag(&vh, "UP"));
    let state = kernel.observe().await.unwrap();
    assert_observed(&state, &[changed.into()]);

    // Sysctls are written inside the namespace they name.
    let sysctl = Sysctl {
        ns: Ns::Container("c1".into()),
        key: "net.ipv4.ip_forward".into(),
        value: "1".into(),
    };
    kernel.execute(&step(Action::Create, sysctl)).await.unwrap();
    let c = lab.container("c1");
    let read = |ns: &str| {
        run(
            "ip",
            &["netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward"],
        )
    };
    assert_eq!(read(&c).trim(), "1");
    assert_eq!(read(&lab.host).trim(), "0");
}

/// Docker-overlay scheme end to end across two simulated hosts: bridge + vxlan (nolearning,
/// proxy) with static neighbour and FDB entries for the remote container. A ping between the
/// containers proves the objects execute() made actually carry traffic.
#[tokio::test]
async fn two_hosts_vxlan_overlay_ping() {
    let lab = Lab::new();
    let a = lab.host.clone();
    let b = format!("{}-b", lab.base);
    netns::create(&b).unwrap();
    run(
        "ip",
        &[
            "-n", &a, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0", "netns", &b,
        ],
    );
    for (ns, ip) in [(&a, "192.168.31.10/24"), (&b, "192.168.31.20/24")] {
        run("ip", &["-n", ns, "addr", "add", ip, "dev", "ul0"]);
        run("ip", &["-n", ns, "link", "set", "ul0", "up"]);
    }
    let hosts = [
        (a.clone(), format!("{}-ac-", lab.base), 10u8, 20u8),
        (b.clone(), format!("{}-bc-", lab.base), 20u8, 10u8),
    ];
    for (host, prefix, me, other) in &hosts {
        let target = Target {
            host_netns: Some(host.clone()),
            container_prefix: prefix.clone(),
            ..Target::local()
        };
        let kernel = Kernel::connect(target).await.unwrap();
        let mut s = scene();
        if let LinkKind::Vxlan(v) = &mut s.vxlan.kind {
            v.local = Some(format!("192.168.31.{me}").parse().unwrap());
        }
        s.vxlan.mac = Some(Mac::hashed(&["overlay", host]));
        s.bridge.mac = Some(Mac::hashed(&["bridge", host]));
        s.veth_host.mac = None;
        let my_ip = format!("172.18.{me}.2").parse().unwrap();
        s.veth_cont.mac = Some(Mac::docker(my_ip));
        s.c_addr.cidr = format!("172.18.{me}.2/16").parse().unwrap();
        let other_ip = format!("172.18.{other}.2").parse().unwrap();
        s.neigh.ip = IpAddr::V4(other_ip);
        s.neigh.mac = Mac::docker(other_ip);
        s.fdb.mac = Mac::docker(other_ip);
        s.fdb.dst = format!("192.168.31.{other}").parse().unwrap();
        let veth = pair(s.veth_host.clone(), s.veth_cont.clone());
        for st in [
            step(Action::Create, s.ns.clone()),
            step(Action::Create, s.bridge.clone()),
            step(Action::Create, s.vxlan.clone()),
            veth,
            step(Action::Create, s.c_addr.clone()),
            step(Action::Create, s.neigh.clone()),
            step(Action::Create, s.fdb.clone()),
        ] {
            if let Err(e) = kernel.execute(&st).await {
                panic!("{host}: {}: {e}", st.key());
            }
        }
    }
    let out = Command::new("ip")
        .args(["netns", "exec", &format!("{}-ac-c1", lab.base)])
        .args(["ping", "-c", "2", "-W", "2", "172.18.20.2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ping over the overlay failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `host_netns: None` means "the namespace the caller runs in". Exercised from a thread that has
/// joined a lab namespace (never the root one): a veth whose peer goes into a container, then
/// observe. A guard refuses to change anything if the namespace seen is not the fresh one.
#[test]
fn own_namespace_target_from_a_thread_in_a_lab_namespace() {
    let lab = Lab::new();
    let prefix = lab.prefix.clone();
    let host = lab.host.clone();
    netns::run_in(Some(netns::path(&lab.host)), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let target = Target {
                host_netns: None,
                container_prefix: prefix,
                ..Target::local()
            };
            let mut kernel = Kernel::connect(target).await.unwrap();
            let before = kernel.observe().await.unwrap();
            // Safety guard: a fresh namespace has no link but `lo` (which observe skips).
            assert!(
                before.iter().all(|o| !matches!(o, Object::Link(_))),
                "not in the lab namespace, refusing to continue:\n{}",
                before.render_text()
            );
            let s = scene();
            let mut host_end = s.veth_host.clone();
            host_end.master = None;
            let veth = pair(host_end.clone(), s.veth_cont.clone());
            kernel
                .execute(&step(Action::Create, s.ns.clone()))
                .await
                .unwrap();
            kernel.execute(&veth).await.unwrap();
            let state = kernel.observe().await.unwrap();
            assert_observed(&state, &[host_end.into(), s.veth_cont.clone().into()]);
        });
        Ok(())
    })
    .unwrap();
    assert_eq!(link_json(&host, "vethc1")["ifalias"], "netplan-rs");
    assert_eq!(
        link_json(&lab.container("c1"), "eth0")["ifalias"],
        "netplan-rs"
    );
}

/// Updates of routes, neighbours and FDB entries replace them in place.
#[tokio::test]
async fn update_route_neighbour_fdb_in_place() {
    let lab = Lab::new();
    underlay(&lab);
    let s = scene();
    let mut kernel = Kernel::connect(lab.target()).await.unwrap();
    for object in [
        Object::from(s.bridge.clone()),
        s.vxlan.clone().into(),
        s.neigh.clone().into(),
        s.fdb.clone().into(),
        s.onlink.clone().into(),
    ] {
        kernel.execute(&step(Action::Create, object)).await.unwrap();
    }
    let mut route = s.onlink.clone();
    route.gateway = Some("10.244.20.1".parse().unwrap());
    let mut neigh = s.neigh.clone();
    neigh.mac = mac("02:42:ac:12:14:99");
    let mut fdb = s.fdb.clone();
    fdb.dst = "192.168.31.30".parse().unwrap();
    let updates: Vec<(Object, Object)> = vec![
        (s.onlink.clone().into(), route.into()),
        (s.neigh.clone().into(), neigh.into()),
        (s.fdb.clone().into(), fdb.into()),
    ];
    for (current, desired) in &updates {
        let st = update_step(current.clone(), desired.clone());
        if let Err(e) = kernel.execute(&st).await {
            panic!("{}: {e}", st.key());
        }
    }
    let state = kernel.observe().await.unwrap();
    let desired: Vec<Object> = updates.into_iter().map(|(_, d)| d).collect();
    assert_observed(&state, &desired);
    // Replaced, not added next to the old ones.
    let routes = ip(&lab.host, &["route", "show", "10.244.20.0/24"]);
    assert_eq!(routes.as_array().map(Vec::len), Some(1), "{routes}");
    let fdb: Value = serde_json::from_str(&run(
        "bridge",
        &["-j", "-n", &lab.host, "fdb", "show", "dev", "vx-t"],
    ))
    .unwrap();
    let entries: Vec<&Value> = fdb
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["mac"] == "02:42:ac:12:14:02")
        .collect();
    assert_eq!(entries.len(), 1, "{fdb}");
    assert_eq!(entries[0]["dst"], "192.168.31.30");
}
