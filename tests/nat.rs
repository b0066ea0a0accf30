//! Bridge egress NAT and published ports on the real kernel, in a two-host lab:
//! - without `nat`, a container's ping to the other host's underlay address gets no answer
//!   (node-2 has no route back to the container subnet) although node-1 forwards; with
//!   `nat: true` it is answered, which proves the masquerade;
//! - a TCP server in the container answers node-2 (and node-1 itself) on node-1's underlay
//!   address and the published port;
//! - the table is checked with `nft -j` as an independent reader; a rule deleted by hand is
//!   named by `plan --detailed-exitcode` (exit 2) and restored by apply; destroy removes the
//!   table; a table of the same name that netplan-rs did not create is a conflict and survives.

mod common;

use common::*;
use serde_json::Value;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const NODE1_UNDERLAY: &str = "192.168.31.183";
const NODE2_UNDERLAY: &str = "192.168.31.192";
const MASQ: &str = "masquerade 192.168.200.0/24 from br-local";
const DNAT: &str = "dnat tcp 8080 -> 192.168.200.2:80";

fn topology(nat: bool) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: {NODE1_UNDERLAY}/24, interface: eth0 }}
  node-2: {{ underlay: {NODE2_UNDERLAY}/24, interface: eth0 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24, nat: {nat} }}
containers:
  web: {{ host: node-1, network: local, ports: [\"8080:80/tcp\"] }}
"
    )
}

/// `netplan-rs <cmd> FILE --lab NAME --host HOST [extra]` for a file other than the lab's own.
fn on_host_with(
    lab: &Lab,
    file: &Path,
    cmd: &str,
    host: &str,
    extra: &[&str],
) -> std::process::Output {
    let file = file.display().to_string();
    let mut args = vec![cmd, file.as_str(), "--lab", &lab.name, "--host", host];
    args.extend_from_slice(extra);
    np(&args)
}

/// Run `f` on a fresh thread inside network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// A TCP server on port 80 in namespace `ns` that greets `connections` clients, then stops.
/// Returns once it listens.
fn serve(ns: &str, connections: usize) -> std::thread::JoinHandle<usize> {
    serve_on(ns, "0.0.0.0:80", connections)
}

fn serve_on(ns: &str, bind: &'static str, connections: usize) -> std::thread::JoinHandle<usize> {
    let (ready, bound) = std::sync::mpsc::channel();
    let handle = in_netns(ns, move || {
        let listener = TcpListener::bind(bind).expect("bind :80");
        listener.set_nonblocking(true).expect("nonblocking");
        ready.send(()).expect("signal");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut served = 0;
        while served < connections && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    let _ = stream.write_all(b"hello from web\n");
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        served
    });
    bound.recv().expect("server thread ended early");
    handle
}

/// Connect from namespace `ns` to `addr` and read the greeting (empty string on failure).
fn fetch(ns: &str, addr: &str) -> String {
    let addr: SocketAddr = addr.parse().expect("socket address");
    in_netns(ns, move || {
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(3)) else {
            return String::new();
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(3)));
        let mut text = String::new();
        let _ = stream.read_to_string(&mut text);
        text
    })
    .join()
    .expect("client thread")
}

/// (chain, comment) of every rule in the listing.
fn rules(listing: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = listing
        .iter()
        .filter_map(|o| o.get("rule"))
        .map(|r| {
            (
                r["chain"].as_str().unwrap_or_default().to_string(),
                r["comment"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn nat_and_published_ports_in_a_two_host_lab() {
    let without = temp_topology("nat-off", &topology(false));
    let with = temp_topology("nat-on", &topology(true));
    let lab = Lab::new("nat", &without);
    lab.up();
    let host1 = lab.host_ns("node-1");
    let host2 = lab.host_ns("node-2");
    let web = lab.container_ns("node-1", "web");

    // Without NAT: node-1 forwards (published ports need it), but node-2 cannot answer.
    let forward = run(
        "ip",
        &[
            "netns",
            "exec",
            &host1,
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
        ],
    );
    assert_eq!(forward.trim(), "1");
    assert!(
        !ping(&web, NODE2_UNDERLAY),
        "reply without masquerade: the test would prove nothing"
    );
    let listing = nft_table(&host1).expect("table after lab up");
    assert_eq!(
        rules(&listing),
        vec![
            ("output".to_string(), DNAT.to_string()),
            ("prerouting".to_string(), DNAT.to_string()),
        ]
    );

    // Published port: from the other host, and from node-1 itself (output chain).
    let server = serve(&web, 2);
    let target = format!("{NODE1_UNDERLAY}:8080");
    assert_eq!(fetch(&host2, &target), "hello from web\n");
    assert_eq!(fetch(&host1, &target), "hello from web\n");
    assert_eq!(server.join().expect("server"), 2);

    // Turning NAT on adds exactly the masquerade rule; then the ping is answered.
    let out = on_host_with(&lab, &with, "plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "+ nft_rule host/netplan-rs/postrouting \"{MASQ}\""
        )),
        "{text}"
    );
    assert!(
        text.contains("Plan: 2 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    let out = on_host_with(&lab, &with, "apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success());
    assert!(
        ping(&web, NODE2_UNDERLAY),
        "no reply through the masquerade"
    );

    // Independent reader: the chains and rules as nft sees them.
    let listing = nft_table(&host1).expect("table");
    // nft 1.0's JSON leaves table comments out; its text listing shows the ownership mark.
    let text = nft(&host1, &["list", "table", "inet", "netplan-rs"]);
    assert!(
        text.contains(&format!("comment \"{}\"", lab.mark("node-1"))),
        "ownership mark:\n{text}"
    );
    let chains: Vec<(String, String, i64)> = listing
        .iter()
        .filter_map(|o| o.get("chain"))
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["hook"].as_str().unwrap_or_default().to_string(),
                c["prio"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(chains.len(), 3, "{chains:?}");
    assert!(chains.contains(&("postrouting".into(), "postrouting".into(), 100)));
    assert!(chains.contains(&("prerouting".into(), "prerouting".into(), -100)));
    assert!(chains.contains(&("output".into(), "output".into(), -100)));
    assert_eq!(rules(&listing).len(), 3);

    // Drift: the masquerade rule deleted by hand.
    let handle = nft_rule_handle(&listing, "postrouting", MASQ);
    nft(
        &host1,
        &[
            "delete",
            "rule",
            "inet",
            "netplan-rs",
            "postrouting",
            "handle",
            &handle,
        ],
    );
    assert!(!ping(&web, NODE2_UNDERLAY), "masquerade still active");
    let out = on_host_with(&lab, &with, "plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "nft_rule host/netplan-rs/postrouting \"{MASQ}\" will be created"
        )),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to add, 0 to change, 0 to destroy."),
        "{text}"
    );
    // Drift: a rule edited by hand (same comment, extra counter) and a stranger rule.
    let handle = nft_rule_handle(&listing, "prerouting", DNAT);
    nft(
        &host1,
        &[
            "replace",
            "rule",
            "inet",
            "netplan-rs",
            "prerouting",
            "handle",
            &handle,
            "ip",
            "daddr",
            NODE1_UNDERLAY,
            "tcp",
            "dport",
            "8080",
            "counter",
            "dnat",
            "ip",
            "to",
            "192.168.200.2:80",
            "comment",
            &format!("\"{DNAT}\""),
        ],
    );
    nft(
        &host1,
        &["add", "rule", "inet", "netplan-rs", "output", "counter"],
    );
    let out = on_host_with(&lab, &with, "plan", "node-1", &["--detailed-exitcode"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "nft_rule host/netplan-rs/prerouting \"{DNAT}\" must be replaced"
        )),
        "{text}"
    );
    assert!(
        text.contains("nft_rule host/netplan-rs/output \"handle "),
        "{text}"
    );
    assert!(
        text.contains("Plan: 2 to add, 0 to change, 2 to destroy."),
        "{text}"
    );
    let out = on_host_with(&lab, &with, "apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success());
    let out = on_host_with(&lab, &with, "plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        ping(&web, NODE2_UNDERLAY),
        "repair did not restore the masquerade"
    );
    assert_eq!(rules(&nft_table(&host1).expect("table")).len(), 3);

    // Destroy removes the table with everything in it.
    let out = on_host_with(&lab, &with, "destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success());
    assert!(nft_table(&host1).is_none(), "table survived destroy");

    // A table of that name made by someone else: a conflict, and destroy leaves it alone.
    nft(&host1, &["add", "table", "inet", "netplan-rs"]);
    let out = on_host_with(&lab, &with, "plan", "node-1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nft_table host/inet netplan-rs")
            || stdout(&out).contains("nft_table host/inet netplan-rs"),
        "conflict not named"
    );
    let out = on_host_with(&lab, &with, "destroy", "node-1", &["--auto-approve"]);
    assert!(out.status.success());
    assert!(
        nft_table(&host1).is_some(),
        "destroy removed a table it does not own"
    );
}

/// Bad `ports` entries stop `validate` and `plan` with the YAML path.
#[test]
fn invalid_ports_are_rejected_with_their_yaml_path() {
    let yaml = topology(false).replace(
        "[\"8080:80/tcp\"]",
        "[\"8080:80/tcp\", \"8080:81\", \"99999:1\"]",
    );
    let file = temp_topology("nat-bad", &yaml);
    let file = file.display().to_string();
    let out = np(&["validate", &file]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        text.contains("containers.web.ports[1]: host port 8080/tcp on host node-1 is already published by container web"),
        "{text}"
    );
    assert!(
        text.contains("containers.web.ports[2]: \"99999:1\": host port 99999 is not in 1..65535"),
        "{text}"
    );
    // plan (read-only, so it is safe on this machine's namespace) stops at loading too.
    let out = np(&["plan", &file, "--host", "node-1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("containers.web.ports[1]"));
}

/// The same over an IPv6 underlay with a dual-stack bridge: the port is published on the IPv6
/// underlay address to the container's IPv6 address, and `nat` masquerades the IPv6 prefix.
#[test]
fn ipv6_masquerade_and_published_port() {
    let yaml = |nat: bool| {
        format!(
            "version: 1
hosts:
  node-1: {{ underlay: \"fd00:31::183/64\", interface: eth0 }}
  node-2: {{ underlay: \"fd00:31::192/64\", interface: eth0 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24, subnet6: \"fd00:200::/64\", nat: {nat} }}
containers:
  web: {{ host: node-1, network: local, ports: [\"8080:80\"] }}
"
        )
    };
    let without = temp_topology("nat6-off", &yaml(false));
    let with = temp_topology("nat6-on", &yaml(true));
    let lab = Lab::new("nat6", &without);
    lab.up();
    // The kernel's carrier and link-local work done before the first IPv6 connection.
    lab.wait_settled();
    let host2 = lab.host_ns("node-2");
    let web = lab.container_ns("node-1", "web");

    // The published port first: it also proves node-1 forwards IPv6 to and from the container.
    let server = serve_on(&web, "[::]:80", 1);
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut greeting = String::new();
    while greeting.is_empty() && Instant::now() < deadline {
        greeting = fetch(&host2, "[fd00:31::183]:8080");
    }
    assert_eq!(greeting, "hello from web\n");
    assert_eq!(server.join().expect("server"), 1);
    assert!(
        !ping(&web, "fd00:31::192"),
        "IPv6 reply without masquerade: the test would prove nothing"
    );

    let out = on_host_with(&lab, &with, "apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("masquerade fd00:200::/64 from br-local"),
        "{}",
        stdout(&out)
    );
    assert!(
        ping_within(&web, "fd00:31::192", 5),
        "no IPv6 reply through the masquerade"
    );
    let listing = nft_table(&lab.host_ns("node-1")).expect("table");
    assert!(rules(&listing).contains(&(
        "prerouting".to_string(),
        "dnat tcp 8080 -> [fd00:200::2]:80".to_string()
    )));
    let out = on_host_with(&lab, &with, "plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "IPv6 rules do not read back as written"
    );
}
