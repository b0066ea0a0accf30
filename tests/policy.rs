//! Network policy on a routed network, on the real kernel in a lab (`tests/fixtures/policy.yaml`:
//! web reachable on tcp/80 and ping, api only from web on tcp/8080, db only from api on
//! tcp/5432, api may only reach db and udp/5353-5354, db starts nothing, client open).
//!
//! Checked with `nft -j` (an independent reader) and real traffic: ICMP with `ping`, TCP and UDP
//! with listeners this test opens itself in the target namespaces (a thread that entered the
//! namespace binds std::net sockets; the sockets stay there), never with netplan-rs's own
//! probes. Allowed pairs must connect (with a few tries, to ride out a loaded machine), denied
//! ones must not (one try, which fails by timing out). `lab verify` (netplan-rs's own probes)
//! must agree. Then drift: a rule and a set element deleted by hand are reported by `lab
//! verify` (FAIL and LEAK, per protocol), named by `plan` and repaired by `apply`, and so is a
//! rule edited by hand; a file without the policies removes every rule.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const FILE: &str = "tests/fixtures/policy.yaml";

/// Addresses the file allocates (declaration order, node-1's block then node-2's).
const WEB1: &str = "10.50.0.1";
const API1: &str = "10.50.0.2";
const CLIENT: &str = "10.50.0.3";
const WEB2: &str = "10.50.0.65";
const DB1: &str = "10.50.0.66";
const WEB1_V6: &str = "fd00:50::1";
const API1_V6: &str = "fd00:50::2";

/// Run `f` on a thread inside namespace `ns` (sockets it makes stay in that namespace).
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("thread in namespace")
    })
}

/// Listeners in one container namespace: TCP ports answer "ok" and close, UDP ports echo.
/// They stop when dropped.
struct Listeners {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Listeners {
    fn open(ns: &str, tcp: &[u16], udp: &[u16]) -> Listeners {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for &port in tcp {
            // `[::]` takes IPv4 too (v6only is off by default).
            let listener = in_ns(ns, || TcpListener::bind(("::", port)).expect("tcp bind"));
            listener.set_nonblocking(true).expect("nonblocking");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.write_all(b"ok");
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            }));
        }
        for &port in udp {
            let socket = in_ns(ns, || UdpSocket::bind(("::", port)).expect("udp bind"));
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((n, from)) = socket.recv_from(&mut buf) {
                        let _ = socket.send_to(&buf[..n], from);
                    }
                }
            }));
        }
        Listeners { stop, threads }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn sockaddr(addr: &str, port: u16) -> SocketAddr {
    SocketAddr::new(addr.parse::<IpAddr>().expect("address"), port)
}

/// One TCP connection from namespace `ns` to `addr:port` that reads the listener's "ok".
fn tcp_once(ns: &str, addr: &str, port: u16) -> bool {
    let to = sockaddr(addr, port);
    in_ns(ns, || {
        let Ok(mut conn) = TcpStream::connect_timeout(&to, Duration::from_secs(1)) else {
            return false;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).is_ok() && &buf == b"ok"
    })
}

/// One UDP datagram from namespace `ns` to `addr:port` that comes back.
fn udp_once(ns: &str, addr: &str, port: u16) -> bool {
    let to = sockaddr(addr, port);
    in_ns(ns, || {
        let socket = UdpSocket::bind(("::", 0)).expect("udp bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        if socket.send_to(b"hi", to).is_err() {
            return false;
        }
        let mut buf = [0u8; 8];
        matches!(socket.recv_from(&mut buf), Ok((2, _)))
    })
}

/// Allowed traffic gets up to three tries (a loaded machine may lose a first packet to a
/// neighbour lookup); denied traffic one (that one must fail).
fn allowed(probe: impl Fn() -> bool) -> bool {
    (0..3).any(|_| probe())
}

/// The comments of the rules of `chain` in the `nft -j` listing.
fn rule_comments(table: &[Value], chain: &str) -> Vec<String> {
    table
        .iter()
        .filter_map(|o| o.get("rule"))
        .filter(|r| r["chain"] == chain)
        .filter_map(|r| r["comment"].as_str().map(str::to_string))
        .collect()
}

fn set_elements(table: &[Value], set: &str) -> Vec<String> {
    table
        .iter()
        .filter_map(|o| o.get("set"))
        .find(|s| s["name"] == set)
        .and_then(|s| s["elem"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.as_str().map(str::to_string))
        .collect()
}

fn veth_of(container: &str) -> String {
    netplan_rs::topology::naming::host_veth_name(container, "pods")
}

#[test]
fn web_api_db_policy_in_the_lab() {
    let lab = Lab::new("pl", &repo_file(FILE));
    lab.up();
    lab.wait_settled();
    let n1 = lab.host_ns("node-1");
    let ns = |host: &str, c: &str| lab.container_ns(host, c);
    let (client, web1, api1) = (
        ns("node-1", "client"),
        ns("node-1", "web1"),
        ns("node-1", "api1"),
    );
    let (web2, db1) = (ns("node-2", "web2"), ns("node-2", "db1"));

    // The rules, as nft sees them: per-direction base chains on the forward hook, the policy
    // chains, and sets holding the selected host ends and the peers' addresses.
    let table = nft_table(&n1).expect("inet netplan-rs on node-1");
    assert_eq!(
        rule_comments(&table, "policy-ingress"),
        [
            "established",
            "allowed by web",
            "allowed by api",
            "isolated"
        ]
    );
    let base = table
        .iter()
        .filter_map(|o| o.get("chain"))
        .find(|c| c["name"] == "policy-ingress")
        .expect("policy-ingress");
    assert_eq!(
        (&base["hook"], &base["prio"]),
        (&"forward".into(), &0.into())
    );
    assert_eq!(set_elements(&table, "members-web"), [veth_of("web1")]);
    let mut isolated = vec![veth_of("web1"), veth_of("api1")];
    isolated.sort();
    assert_eq!(set_elements(&table, "isolated-ingress"), isolated);
    // web's peers: web1, web2 and lb (on the bridge network, also labelled web), every host.
    let mut peers = set_elements(&table, "ingress-api-0-v4");
    peers.sort();
    assert_eq!(peers, ["10.50.0.1", "10.50.0.65", "192.168.60.2"]);
    let table2 = nft_table(&lab.host_ns("node-2")).expect("inet netplan-rs on node-2");
    assert_eq!(
        rule_comments(&table2, "policy-egress"),
        ["established", "isolated"],
        "db's `egress: []` isolates without a chain"
    );

    let listeners = [
        Listeners::open(&web1, &[80, 81], &[]),
        Listeners::open(&web2, &[80], &[]),
        Listeners::open(&api1, &[8080], &[]),
        Listeners::open(&db1, &[5432], &[]),
        Listeners::open(&client, &[80], &[5353, 5355]),
    ];

    // ICMP: web allows it from anywhere; api and db do not; api and db may not start it.
    assert!(ping(&client, WEB1), "client -> web1 ping");
    assert!(ping(&client, WEB2), "client -> web2 ping (across hosts)");
    assert!(ping(&client, WEB1_V6), "client -> web1 ping over IPv6");
    assert!(!ping_once(&client, API1), "client -> api1 ping passed");
    assert!(!ping_once(&client, DB1), "client -> db1 ping passed");
    assert!(
        !ping_once(&api1, CLIENT),
        "api1 -> client ping passed (egress)"
    );
    assert!(
        !ping_once(&db1, CLIENT),
        "db1 -> client ping passed (egress [])"
    );

    // TCP: web on 80 only; api from web only on 8080 (same host and across hosts, both
    // families); db from api only on 5432, and its replies pass its `egress: []`.
    assert!(allowed(|| tcp_once(&client, WEB1, 80)), "client -> web1:80");
    assert!(!tcp_once(&client, WEB1, 81), "client -> web1:81 passed");
    assert!(allowed(|| tcp_once(&web1, API1, 8080)), "web1 -> api1:8080");
    assert!(allowed(|| tcp_once(&web2, API1, 8080)), "web2 -> api1:8080");
    assert!(
        allowed(|| tcp_once(&web2, API1_V6, 8080)),
        "web2 -> api1:8080 v6"
    );
    assert!(!tcp_once(&client, API1, 8080), "client -> api1:8080 passed");
    assert!(allowed(|| tcp_once(&api1, DB1, 5432)), "api1 -> db1:5432");
    assert!(!tcp_once(&web1, DB1, 5432), "web1 -> db1:5432 passed");
    assert!(
        !tcp_once(&api1, WEB1, 80),
        "api1 -> web1:80 passed (api egress)"
    );
    // client is selected by nothing: open both ways.
    assert!(allowed(|| tcp_once(&web1, CLIENT, 80)), "web1 -> client:80");

    // UDP: api may send to 5353-5354 in the pods network, not 5355.
    assert!(
        allowed(|| udp_once(&api1, CLIENT, 5353)),
        "api1 -> client:5353/udp"
    );
    assert!(
        !udp_once(&api1, CLIENT, 5355),
        "api1 -> client:5355/udp passed"
    );

    lab.assert_no_changes("node-1");
    lab.assert_no_changes("node-2");
    // `lab verify` agrees: every ping and every TCP/UDP probe of the policies' ports (with its
    // own listeners: ours are closed first, a UDP port in use cannot be probed).
    drop(listeners);
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("All 30 pairs as expected: 15 reachable (5 routed), 15 isolated."),
        "{}",
        stdout(&verify)
    );

    // Drift on node-1, by hand: the jump to web's rules deleted (web1 stays isolated, with
    // nothing allowed), then api1 taken out of the isolated set (api1 becomes open).
    let _web1_ports = Listeners::open(&web1, &[80], &[]);
    let _api1_ports = Listeners::open(&api1, &[8080], &[]);
    let _db1_ports = Listeners::open(&db1, &[5432], &[]);
    let handle = table
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| r["chain"] == "policy-ingress" && r["comment"] == "allowed by web")
        .and_then(|r| r["handle"].as_u64())
        .expect("handle of the jump");
    nft(
        &n1,
        &[
            "delete",
            "rule",
            "inet",
            "netplan-rs",
            "policy-ingress",
            "handle",
            &handle.to_string(),
        ],
    );
    // Without the jump, web1 is isolated with nothing allowed.
    assert!(
        !tcp_once(&client, WEB1, 80),
        "web1:80 passed without its jump"
    );
    let elem = format!("{{ \"{}\" }}", veth_of("api1"));
    nft(
        &n1,
        &[
            "delete",
            "element",
            "inet",
            "netplan-rs",
            "isolated-ingress",
            &elem,
        ],
    );
    // Without its isolation, api1 is open.
    assert!(allowed(|| tcp_once(&client, API1, 8080)), "api1 not open");
    // `lab verify` sees both: web1's port closed (FAIL), api1's open (LEAK), per protocol.
    let verify = lab.cmd(&["lab", "verify"], &["--json"]);
    assert!(!verify.status.success());
    let doc: Value = serde_json::from_slice(&verify.stdout).expect("verify json");
    let result = |from: &str, to: &str, addr: &str, protocol: &str, port: Value| {
        doc["probes"]
            .as_array()
            .expect("probes")
            .iter()
            .find(|p| {
                p["from"] == from
                    && p["to"] == to
                    && p["address"] == addr
                    && p["protocol"] == protocol
                    && p["port"] == port
            })
            .map(|p| p["result"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(
        result("client", "web1", WEB1, "tcp", 80.into()).as_deref(),
        Some("fail")
    );
    assert_eq!(
        result("client", "api1", API1, "tcp", 8080.into()).as_deref(),
        Some("leak")
    );
    assert_eq!(
        result("client", "api1", API1, "icmp", Value::Null).as_deref(),
        Some("leak")
    );
    // And an allow rule changed by hand (db's port 5432 -> 5433 on node-2, comment kept).
    let n2 = lab.host_ns("node-2");
    let table2 = nft_table(&n2).expect("table on node-2");
    let (handle, comment) = table2
        .iter()
        .filter_map(|o| o.get("rule"))
        .find(|r| {
            r["chain"] == "ingress-db" && r["comment"].as_str().is_some_and(|c| c.contains("v4"))
        })
        .map(|r| {
            (
                r["handle"].as_u64().expect("handle"),
                r["comment"].as_str().unwrap_or("").to_string(),
            )
        })
        .expect("db's IPv4 rule");
    let edited = format!("ip saddr @ingress-db-0-v4 tcp dport 5433 accept comment \"{comment}\"");
    let mut args = vec![
        "replace",
        "rule",
        "inet",
        "netplan-rs",
        "ingress-db",
        "handle",
    ];
    let handle = handle.to_string();
    args.push(&handle);
    args.extend(edited.split(' '));
    nft(&n2, &args);
    assert!(
        !tcp_once(&api1, DB1, 5432),
        "api1 -> db1:5432 passed the edited rule"
    );
    let out = lab.on_host("plan", "node-2", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "edited rule not detected");
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "-/+ nft_rule host/netplan-rs/ingress-db \"{comment}\""
        )),
        "{text}"
    );
    let out = lab.on_host("apply", "node-2", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    assert!(
        allowed(|| tcp_once(&api1, DB1, 5432)),
        "db's rule not repaired"
    );
    lab.assert_no_changes("node-2");

    let out = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "drift not detected");
    let text = stdout(&out);
    assert!(
        text.contains("+ nft_rule host/netplan-rs/policy-ingress \"allowed by web\""),
        "{text}"
    );
    assert!(
        text.contains("~ nft_set host/netplan-rs/@isolated-ingress"),
        "{text}"
    );
    assert!(
        text.contains("Plan: 1 to add, 1 to change, 0 to destroy."),
        "{text}"
    );
    let out = lab.on_host("apply", "node-1", &["--auto-approve"]);
    assert!(out.status.success(), "apply failed: {}", stderr(&out));
    let table = nft_table(&n1).expect("table");
    // The jump is back above the drop (inserted at the top of the chain).
    assert_eq!(
        rule_comments(&table, "policy-ingress"),
        [
            "allowed by web",
            "established",
            "allowed by api",
            "isolated"
        ]
    );
    assert!(
        allowed(|| tcp_once(&client, WEB1, 80)),
        "web1:80 not repaired"
    );
    assert!(!tcp_once(&client, API1, 8080), "api1 not isolated again");
    lab.assert_no_changes("node-1");
    let verify = lab.cmd(&["lab", "verify"], &[]);
    assert!(verify.status.success(), "{}", stdout(&verify));

    // The policies removed from the file: every policy object goes (the table with them:
    // nothing else on these hosts needs it), and everything is open.
    let text = std::fs::read_to_string(&lab.file).expect("fixture");
    let open = temp_topology("pl", &text[..text.find("policies:").expect("policies")]);
    let open_lab = Lab {
        name: lab.name.clone(),
        file: open.clone(),
    };
    for host in ["node-1", "node-2"] {
        let out = open_lab.on_host("apply", host, &["--auto-approve"]);
        assert!(out.status.success(), "apply on {host} failed");
        assert!(
            nft_table(&lab.host_ns(host)).is_none(),
            "{host}: table left"
        );
    }
    assert!(allowed(|| tcp_once(&client, API1, 8080)), "api1 not open");
    assert!(allowed(|| tcp_once(&client, DB1, 5432)), "db1 not open");
    assert!(ping(&db1, CLIENT), "db1 cannot ping");
    std::mem::forget(open_lab); // `lab` tears the lab down
    let _ = std::fs::remove_file(&open);
}

/// `topologies/calico.yaml`, the README's example: `lab demo` builds it, every pair is as the
/// policies say, and `lab verify --json` probed the ports the policies name, each way round:
/// web on tcp/80 from anywhere, api on tcp/8080 from web only, db on tcp/5432 from api only.
#[test]
fn calico_example_runs_as_a_lab_demo_and_its_policies_hold() {
    must_root();
    let lab = Lab::new("plc", &repo_file("topologies/calico.yaml"));
    let out = lab.cmd(&["lab", "demo"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("All 30 pairs as expected: 21 reachable (13 routed), 9 isolated."),
        "{text}"
    );
    assert!(
        lab.namespaces().is_empty(),
        "demo left {:?}",
        lab.namespaces()
    );

    lab.up();
    let out = lab.cmd(&["lab", "verify"], &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).expect("verify --json");
    // Whether the probe got through ("reachable", or "routed" between networks).
    let passes = |from: &str, to: &str, protocol: &str, port: u64| -> bool {
        let probes = doc["probes"].as_array().expect("probes");
        let probe = probes
            .iter()
            .find(|p| {
                p["from"] == from
                    && p["to"] == to
                    && p["protocol"] == protocol
                    && p["port"].as_u64() == Some(port)
            })
            .unwrap_or_else(|| panic!("no {protocol}/{port} probe {from} -> {to}"));
        assert_eq!(probe["as_expected"], true, "{probe}");
        probe["result"] != "isolated"
    };
    assert!(passes("client", "web1", "tcp", 80));
    assert!(passes("api2", "web2", "tcp", 80));
    assert!(passes("web1", "api1", "tcp", 8080));
    assert!(!passes("client", "api1", "tcp", 8080));
    assert!(passes("api2", "db1", "tcp", 5432));
    assert!(!passes("web2", "db1", "tcp", 5432));
    assert!(!passes("client", "db1", "tcp", 5432));
}
