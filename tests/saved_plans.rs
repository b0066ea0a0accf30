//! Saved plans on the real kernel: `plan FILE -out PLANFILE`, then `apply PLANFILE` runs exactly
//! the saved steps, or refuses (exit 1, nothing applied) when the kernel drifted since the plan
//! was made, when the plan was made for another simulated host, lab or machine, or when the file
//! is damaged or of another format version; `show PLANFILE` renders it like `plan`.
//!
//! Labs and namespaces are named `nps<pid>...`; state is checked with `ip -j` / `bridge -j`.

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

static N: AtomicUsize = AtomicUsize::new(0);

fn unique(tag: &str) -> String {
    format!(
        "nps{}{tag}{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A lab named `nps<pid><tag><n>` over a copy of the vxlan-bridged example; torn down on drop
/// (by `common::Lab`).
fn lab(tag: &str) -> Lab {
    must_root();
    Lab {
        name: unique(tag),
        file: repo_file("topologies/vxlan-bridged.yaml"),
    }
}

/// A scratch directory for plan files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(unique("dir"));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example with docker1 (on node-1) moved from 172.18.10.2 to 172.18.10.9: on node-1 a
/// plan of three steps (old address out, MAC of eth0 updated, new address in).
fn moved_docker1(dir: &Scratch) -> String {
    let text = std::fs::read_to_string(repo_file("topologies/vxlan-bridged.yaml")).unwrap();
    let path = dir.path("moved.yaml");
    std::fs::write(&path, text.replace("172.18.10.2", "172.18.10.9")).unwrap();
    path
}

/// The IPv4 addresses (with prefix) on `link` in namespace `ns`, by `ip -j addr`.
fn addresses(ns: &str, link: &str) -> Vec<String> {
    ip_json(ns, &["-4", "addr", "show", "dev", link])
        .iter()
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect()
}

fn mac(ns: &str, link: &str) -> String {
    common::link(ns, link).expect("link")["address"]
        .as_str()
        .unwrap()
        .to_string()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

/// docker1 of `lab` is as `lab up` made it: old address, old MAC.
fn assert_docker1_untouched(lab: &Lab) {
    let ns = lab.container_ns("node-1", "docker1");
    assert_eq!(
        addresses(&ns, "eth0"),
        ["172.18.10.2/16"],
        "docker1 in {ns}"
    );
    assert_eq!(mac(&ns, "eth0"), "02:42:ac:12:0a:02");
}

#[test]
fn a_fresh_saved_plan_applies_exactly_its_steps_and_only_where_it_was_made() {
    let a = lab("a");
    let b = lab("b");
    a.up();
    b.up();
    let dir = Scratch::new();
    let moved = moved_docker1(&dir);
    let planfile = dir.path("p.tfplan");
    // Terraform's spelling; the file is private.
    let out = np(&[
        "plan", &moved, "--lab", &a.name, "--host", "node-1", "-out", &planfile,
    ]);
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains(&format!("Saved the plan to: {planfile}")));
    let mode = std::fs::metadata(&planfile).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Planning changed nothing.
    assert_docker1_untouched(&a);
    // apply PLANFILE needs no topology.
    std::fs::remove_file(&moved).unwrap();

    // Another simulated host, another lab: refused before anything is read or changed.
    let out = np(&["apply", &planfile, "--host", "node-2", "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "saved plan was made for simulated host node-1 of lab {0}, this is simulated host node-2 of lab {0}",
            a.name
        )),
        "{}",
        stderr(&out)
    );
    let out = np(&["apply", &planfile, "--lab", &b.name, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "saved plan was made for simulated host node-1 of lab {}, this is simulated host node-1 of lab {}",
            a.name, b.name
        )),
        "{}",
        stderr(&out)
    );
    assert_docker1_untouched(&a);
    assert_docker1_untouched(&b);

    // Its own host (the flags may name it): exactly the three saved steps, then verified.
    let out = np(&[
        "apply",
        &planfile,
        "--lab",
        &a.name,
        "--host",
        "node-1",
        "--auto-approve",
    ]);
    assert_eq!(code(&out), Some(0));
    let text = stdout(&out);
    assert!(text.contains("the kernel is as it was when the plan was made"));
    assert!(text.contains("Resources: 1 added, 1 changed, 1 destroyed. Verified"));
    let ns = a.container_ns("node-1", "docker1");
    assert_eq!(addresses(&ns, "eth0"), ["172.18.10.9/16"]);
    assert_eq!(mac(&ns, "eth0"), "02:42:ac:12:0a:09");
    assert_docker1_untouched(&b);

    // The plan is spent: applying it again finds the kernel changed, as terraform does.
    let out = np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out)
            .contains("saved plan is stale: link docker1/eth0 changed since the plan was made"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn drift_made_by_hand_makes_a_saved_plan_stale_and_nothing_is_applied() {
    let a = lab("d");
    a.up();
    let dir = Scratch::new();
    let moved = moved_docker1(&dir);
    let planfile = dir.path("p.json");
    let out = np(&[
        "plan",
        &moved,
        "--lab",
        &a.name,
        "--host",
        "node-1",
        &format!("-out={planfile}"),
    ]);
    assert_eq!(code(&out), Some(0));

    // Three kinds of drift: an attribute changed, an object appeared, an object went.
    let ns = a.container_ns("node-1", "docker1");
    let host = a.host_ns("node-1");
    run("ip", &["-n", &ns, "link", "set", "eth0", "mtu", "1400"]);
    run(
        "ip",
        &["-n", &host, "link", "add", "nps-hand", "type", "bridge"],
    );
    run(
        "ip",
        &[
            "-n",
            &host,
            "addr",
            "add",
            "10.250.0.1/24",
            "dev",
            "nps-hand",
        ],
    );
    let fdb = fdb_json(&host, "vx-overlay");
    let remote = fdb
        .iter()
        .find(|e| e["dst"] == "192.168.31.192")
        .expect("fdb entry towards node-2");
    let remote_mac = remote["mac"].as_str().unwrap().to_string();
    run(
        "bridge",
        &[
            "-n",
            &host,
            "fdb",
            "del",
            &remote_mac,
            "dev",
            "vx-overlay",
            "dst",
            "192.168.31.192",
        ],
    );
    // The address the plan would create, added by hand.
    run(
        "ip",
        &["-n", &ns, "addr", "add", "172.18.10.9/16", "dev", "eth0"],
    );

    let out = np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    let err = stderr(&out);
    for named in [
        "saved plan is stale: ",
        "link docker1/eth0 changed since the plan was made",
        "address docker1/eth0 172.18.10.9/16 appeared since the plan was made",
        &format!("fdb host/vx-overlay {remote_mac} is gone"),
    ] {
        assert!(err.contains(named), "{named:?} not in {err}");
    }
    // An unowned link nobody depends on is no part of the fingerprint.
    assert!(!err.contains("nps-hand"), "{err}");
    // Nothing applied: the old address is still there, the MAC is the old one.
    let mut now = addresses(&ns, "eth0");
    now.sort();
    assert_eq!(now, ["172.18.10.2/16", "172.18.10.9/16"]);
    assert_eq!(mac(&ns, "eth0"), "02:42:ac:12:0a:02");
    assert!(
        !fdb_json(&host, "vx-overlay")
            .iter()
            .any(|e| e["dst"] == "192.168.31.192"),
        "the refused apply recreated the FDB entry"
    );
}

#[test]
fn show_renders_a_saved_plan_and_damaged_or_future_files_are_refused() {
    let a = lab("s");
    a.up();
    let dir = Scratch::new();
    let moved = moved_docker1(&dir);
    // A saved plan is told by its content: this one is called .yaml.
    let planfile = dir.path("looks-like-a-topology.yaml");
    let host_args = ["--lab", a.name.as_str(), "--host", "node-1"];
    let mut args = vec!["plan", moved.as_str()];
    args.extend_from_slice(&host_args);
    args.extend_from_slice(&["--out", &planfile]);
    assert_eq!(code(&np(&args)), Some(0));

    // Text: the same rendering as `plan`, after a line on where it comes from.
    let plan = {
        let mut args = vec!["plan", moved.as_str()];
        args.extend_from_slice(&host_args);
        stdout(&np(&args))
    };
    let out = np(&["show", &planfile]);
    assert_eq!(code(&out), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("Saved plan {planfile}: made ")),
        "{text}"
    );
    assert!(text.contains(&format!("from {moved} (sha256 ")));
    let from = text.find("Plan for ").expect("plan header");
    assert_eq!(&text[from..], plan);

    // JSON: `plan --json` plus `saved_plan`.
    let plan_json: Value = {
        let mut args = vec!["plan", moved.as_str(), "--json"];
        args.extend_from_slice(&host_args);
        serde_json::from_str(&stdout(&np(&args))).unwrap()
    };
    let out = np(&["show", &planfile, "--json"]);
    assert_eq!(code(&out), Some(0));
    let mut shown: Value = serde_json::from_str(&stdout(&out)).expect("show --json is JSON");
    let meta = shown
        .as_object_mut()
        .unwrap()
        .remove("saved_plan")
        .expect("saved_plan");
    assert_eq!(shown, plan_json);
    assert_eq!(meta["target"]["host"], "node-1");
    assert_eq!(meta["target"]["lab"], a.name.as_str());
    assert_eq!(
        meta["target"]["host_id"],
        format!("netns-{}-node-1", a.name)
    );
    assert_eq!(meta["format_version"], 1);
    let sha = run("sha256sum", &[&moved]);
    assert_eq!(
        meta["topology"]["sha256"].as_str().unwrap(),
        sha.split_whitespace().next().unwrap()
    );

    // A damaged file and one from a future format version: refused, naming the file.
    let text = std::fs::read_to_string(&planfile).unwrap();
    let truncated = dir.path("truncated.json");
    std::fs::write(&truncated, &text[..text.len() * 2 / 3]).unwrap();
    let future = dir.path("future.json");
    std::fs::write(
        &future,
        text.replacen("\"format_version\": 1", "\"format_version\": 2", 1),
    )
    .unwrap();
    let edited = dir.path("edited.json");
    std::fs::write(
        &edited,
        text.replacen("172.18.10.9/16", "172.18.10.99/16", 1),
    )
    .unwrap();
    for (file, says) in [
        (&truncated, "it is not valid JSON"),
        (&future, "its format version is 2, this netplan-rs"),
        (&edited, "its checksum does not match its content"),
    ] {
        for cmd in ["apply", "show"] {
            let out =
                np(&[cmd, file.as_str(), "--auto-approve"][..if cmd == "apply" { 3 } else { 2 }]);
            assert_eq!(code(&out), Some(1), "{cmd} {file}");
            let err = stderr(&out);
            assert!(
                err.contains(&format!("saved plan {file} cannot be used: ")) && err.contains(says),
                "{cmd} {file}: {err}"
            );
        }
    }
    assert_docker1_untouched(&a);

    // The refusals changed nothing: the original file still applies.
    let out = np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(0));
    assert_eq!(
        addresses(&a.container_ns("node-1", "docker1"), "eth0"),
        ["172.18.10.9/16"]
    );
}

/// A namespace standing for a real machine (netplan-rs runs in it through `nsenter --net`),
/// with the container namespaces its runs create; all deleted on drop.
struct Machine {
    name: String,
    containers: Vec<String>,
}

impl Machine {
    /// A machine whose underlay address is `underlay` (on a bridge `eth0`: this kernel has no dummy links).
    fn new(underlay: &str, containers: &[&str]) -> Machine {
        must_root();
        let name = unique("m");
        run("ip", &["netns", "add", &name]);
        let machine = Machine {
            name,
            containers: containers.iter().map(|c| c.to_string()).collect(),
        };
        let ns = machine.name.as_str();
        run("ip", &["-n", ns, "link", "add", "eth0", "type", "bridge"]);
        run("ip", &["-n", ns, "addr", "add", underlay, "dev", "eth0"]);
        run("ip", &["-n", ns, "link", "set", "eth0", "up"]);
        machine
    }

    fn np(&self, args: &[&str]) -> Output {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.name))
            .arg(bin())
            .args(args)
            .output()
            .expect("nsenter");
        eprintln!(
            "$ [{}] netplan-rs {}\n[exit {:?}]\n{}{}",
            self.name,
            args.join(" "),
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        out
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("ip").args(["netns", "delete", c]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

#[test]
fn a_real_host_plan_is_refused_on_the_machine_of_another_host() {
    let (c1, c2) = (unique("c"), unique("c"));
    let node1 = Machine::new("10.97.0.1/24", &[&c1]);
    let node2 = Machine::new("10.97.0.2/24", &[&c2]);
    let dir = Scratch::new();
    let topology = dir.path("two.yaml");
    std::fs::write(
        &topology,
        format!(
            "version: 1\nname: npsscope\nhosts:\n  node-1: {{ underlay: 10.97.0.1/24 }}\n  node-2: {{ underlay: 10.97.0.2/24 }}\n\
             networks:\n  web: {{ driver: bridge, subnet: 10.96.0.0/24 }}\n\
             containers:\n  {c1}: {{ host: node-1, network: web }}\n  {c2}: {{ host: node-2, network: web }}\n"
        ),
    )
    .unwrap();
    let planfile = dir.path("node-1.plan");
    // Made on node-1's machine, which is found by its underlay address.
    let out = node1.np(&["plan", &topology, "-out", &planfile]);
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains("Plan for host node-1:"));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&planfile).unwrap()).unwrap();
    assert_eq!(saved["target"]["scope"], "npsscope");
    assert_eq!(saved["target"]["mark"], "netplan-rs scope=npsscope");

    // Carried to node-2's machine: refused, and nothing made there.
    let out = node2.np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains("saved plan was made for host node-1, this is node-2"),
        "{}",
        stderr(&out)
    );
    assert!(common::link(&node2.name, "br-web").is_none());
    assert!(!netns_exists(&c1) && !netns_exists(&c2));
    // Naming another host on the command line is refused too.
    let out = node1.np(&["apply", &planfile, "--host", "node-2", "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(stderr(&out).contains("saved plan was made for host node-1, this is host node-2"));

    // On its own machine it applies: the bridge carries the scope's mark, the container exists.
    let out = node1.np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(0));
    let bridge = common::link(&node1.name, "br-web").expect("bridge on node-1");
    assert_eq!(bridge["ifalias"], "netplan-rs scope=npsscope");
    assert!(netns_exists(&c1));
    assert!(!Path::new(&format!("/run/netns/{c2}")).exists());
    let out = node1.np(&["destroy", &topology, "--auto-approve"]);
    assert_eq!(code(&out), Some(0));
}

/// What a rollback must restore on a lab host, read with `ip -j`: per namespace (the host's and
/// its containers'), each link's name, type, MTU, master and IPv4 addresses.
fn links_dump(lab: &Lab, host: &str) -> Vec<(String, Vec<String>)> {
    let mut spaces = vec![lab.host_ns(host)];
    spaces.extend(lab.container_namespaces(host));
    spaces.sort();
    spaces
        .into_iter()
        .map(|ns| {
            let mut links: Vec<String> = ip_json(&ns, &["addr", "show"])
                .iter()
                .map(|l| {
                    let addrs: Vec<String> = l["addr_info"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|a| a["family"] == "inet")
                        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
                        .collect();
                    format!(
                        "{} {} mtu {} master {} {addrs:?}",
                        l["ifname"].as_str().unwrap(),
                        l["linkinfo"]["info_kind"],
                        l["mtu"],
                        l["master"]
                    )
                })
                .collect();
            links.sort();
            (ns, links)
        })
        .collect()
}

#[test]
fn a_saved_plan_that_fails_half_way_is_rolled_back() {
    let a = lab("r");
    a.up();
    a.wait_settled();
    let dir = Scratch::new();
    // The kernel refuses the vxlan's MTU (the lab's underlay stays at 1500) after docker3's
    // namespace and veth pair were made.
    let text = std::fs::read_to_string(repo_file("topologies/vxlan-bridged.yaml")).unwrap();
    let failing = dir.path("failing.yaml");
    std::fs::write(
        &failing,
        text.replace(
            "    interface: enp0s5\n",
            "    interface: enp0s5\n    mtu: 9000\n",
        )
        .replace(
            "  docker2:",
            "  docker3: { host: node-1, network: overlay, address: 172.18.10.3 }\n  docker2:",
        ),
    )
    .unwrap();
    let planfile = dir.path("failing.plan");
    let out = np(&[
        "plan", &failing, "--lab", &a.name, "--host", "node-1", "-out", &planfile,
    ]);
    assert_eq!(code(&out), Some(0));
    let before = links_dump(&a, "node-1");
    let out = np(&["apply", &planfile, "--auto-approve"]);
    let err = stderr(&out);
    assert_eq!(code(&out), Some(1), "{err}");
    assert!(err.contains("failed at step"), "{err}");
    assert!(err.contains("olled back: the host is as it was"), "{err}");
    assert!(stdout(&out).contains(": created"), "nothing was applied");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = links_dump(&a, "node-1");
        if now == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not as it was:\nbefore {before:?}\n   now {now:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(!netns_exists(&a.container_ns("node-1", "docker3")));
}

#[test]
fn a_container_namespace_made_again_makes_a_saved_plan_stale() {
    must_root();
    let dir = Scratch::new();
    let named = unique("x");
    run("ip", &["netns", "add", &named]);
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.0])
                .output();
        }
    }
    let _gone = Gone(named.clone());
    let yaml = |address: &str| {
        format!(
            "version: 1\nhosts:\n  node-1: {{ underlay: 192.168.78.1/24 }}\n\
             networks:\n  local: {{ driver: bridge, subnet: 10.78.0.0/24 }}\n\
             containers:\n  named: {{ host: node-1, network: local, address: {address}, netns: {{ path: /run/netns/{named} }} }}\n"
        )
    };
    let file = dir.path("ext.yaml");
    std::fs::write(&file, yaml("10.78.0.4")).unwrap();
    let lab = Lab {
        name: unique("e"),
        file: PathBuf::from(&file),
    };
    lab.up();
    assert_eq!(addresses(&named, "eth0"), ["10.78.0.4/24"]);
    let moved = dir.path("moved.yaml");
    std::fs::write(&moved, yaml("10.78.0.5")).unwrap();
    let planfile = dir.path("ext.plan");
    let out = np(&[
        "plan", &moved, "--lab", &lab.name, "--host", "node-1", "-out", &planfile,
    ]);
    assert_eq!(code(&out), Some(0));
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&planfile).unwrap()).unwrap();
    assert_eq!(
        saved["target"]["external"]["named"]["path"],
        format!("/run/netns/{named}")
    );

    // The container was restarted: same file, another namespace (without our veth end).
    run("ip", &["netns", "delete", &named]);
    run("ip", &["netns", "add", &named]);
    let out = np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "saved plan is stale: the existing netns /run/netns/{named} of container named is another namespace"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        common::link(&named, "eth0").is_none(),
        "something was applied"
    );
}

#[test]
fn a_clash_outside_the_fingerprint_is_found_by_planning_again() {
    let a = lab("v");
    a.up_hosts_only();
    let dir = Scratch::new();
    let planfile = dir.path("vx.plan");
    let file = a.file_str();
    let out = np(&[
        "plan", &file, "--lab", &a.name, "--host", "node-1", "-out", &planfile,
    ]);
    assert_eq!(code(&out), Some(0));
    assert!(stdout(&out).contains("+ link host/vx-overlay"));
    // By hand, under another name: a vxlan with the plan's VNI and port (the kernel allows one).
    let host = a.host_ns("node-1");
    run(
        "ip",
        &[
            "-n", &host, "link", "add", "npsvx", "type", "vxlan", "id", "100", "dstport", "4789",
        ],
    );
    let out = np(&["apply", &planfile, "--auto-approve"]);
    assert_eq!(code(&out), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("saved plan is stale: planning again now gives a different plan (link host/vx-overlay: vni 100 on port 4789 is already used by link host/npsvx"),
        "{err}"
    );
    assert!(
        common::link(&host, "br-overlay").is_none(),
        "something was applied"
    );
}
