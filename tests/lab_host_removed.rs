//! A simulated host that leaves the file: `lab up` removes it together with its containers (their
//! namespaces are /run/netns entries of their own), leaves the other hosts as they are, and
//! `lab down` then leaves nothing of the lab. Before, the switch's plan paired the leaving host's
//! container veth with another host's underlay end (ifindexes repeat across namespaces), planned
//! to re-create that host's cabling and failed with "File exists", and the leaving host's
//! containers were orphaned.

mod common;

use common::*;

const TWO_HOSTS: &str = "version: 1
hosts:
  node-1: { underlay: 192.168.31.183/24, interface: enp0s5 }
  node-2: { underlay: 192.168.31.192/24, interface: enp0s5 }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }
containers:
  docker1: { host: node-1, network: overlay, address: 172.18.10.2 }
  docker2: { host: node-2, network: overlay, address: 172.18.20.2 }
";

#[test]
fn a_host_leaving_the_file_goes_with_its_containers() {
    let file = temp_topology("hostgone", TWO_HOSTS);
    let lab = Lab::new("hostgone", &file);
    lab.up();
    assert!(netns_exists(&lab.container_ns("node-2", "docker2")));
    let underlay_before = link(&lab.host_ns("node-1"), "enp0s5").expect("node-1 underlay");

    let one_host: String = TWO_HOSTS
        .lines()
        .filter(|l| !l.contains("node-2"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&lab.file, one_host).expect("writing topology");
    let out = lab.cmd(&["lab", "up"], &[]);
    assert_eq!(out.status.code(), Some(0), "lab up without node-2");
    assert!(!netns_exists(&lab.host_ns("node-2")));
    assert!(
        lab.container_namespaces("node-2").is_empty(),
        "node-2's containers were orphaned"
    );
    // node-1's cabling was not re-created: same underlay interface (ifindex and MAC).
    let underlay_after = link(&lab.host_ns("node-1"), "enp0s5").expect("node-1 underlay");
    assert_eq!(underlay_after["ifindex"], underlay_before["ifindex"]);
    assert_eq!(underlay_after["address"], underlay_before["address"]);
    lab.assert_no_changes("node-1");

    let out = lab.cmd(&["lab", "down"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let prefix = format!("{}-", lab.name);
    let left: Vec<String> = netns_list()
        .into_iter()
        .filter(|n| n.starts_with(&prefix) || n.starts_with(&format!("{}.", lab.name)))
        .collect();
    assert!(left.is_empty(), "lab down left {left:?}");
}
