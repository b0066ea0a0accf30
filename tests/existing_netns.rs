//! Containers that already run (pipework's use case) on the real kernel, in a lab: a process
//! started in its own network namespace (`unshare --net sleep`) named by `netns: {pid: N}`, a
//! named namespace made by `ip netns add` named by `netns: {path: ...}`, and a Docker container
//! name resolved through a fake Docker Engine API on a unix socket (`DOCKER_HOST`).
//!
//! Checked with independent readers (`nsenter -t PID -n ip -j ...`, `ip -j -n NAME ...`, `ping`):
//! apply wires the interfaces (address, MAC, default route) and traffic flows; the plan is then
//! empty; drift inside the existing namespace is repaired; removing the container from the file
//! removes our veth but the process and its namespace survive; destroy and lab down never delete
//! a namespace netplan-rs did not create.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A named namespace made by hand (`ip netns add`), deleted on drop.
struct NamedNetns {
    name: String,
}

impl NamedNetns {
    fn new(name: String) -> NamedNetns {
        run("ip", &["netns", "add", &name]);
        NamedNetns { name }
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .output();
    }
}

fn names(links: &[Value]) -> Vec<String> {
    links
        .iter()
        .filter_map(|l| l.get("ifname").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The IPv4 address/prefix strings of link `dev` in an `ip -j addr` listing.
fn addresses(listing: &[Value], dev: &str) -> Vec<String> {
    listing
        .iter()
        .filter(|l| l.get("ifname").and_then(Value::as_str) == Some(dev))
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["family"] == "inet")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap_or(""), a["prefixlen"]))
        .collect()
}

fn mac(listing: &[Value], dev: &str) -> Option<String> {
    listing
        .iter()
        .find(|l| l.get("ifname").and_then(Value::as_str) == Some(dev))
        .and_then(|l| l.get("address").and_then(Value::as_str).map(str::to_string))
}

fn ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed");
}

fn topology(pid: u32, path: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 192.168.77.1/24 }}
  node-2: {{ underlay: 192.168.77.2/24 }}
networks:
  overlay: {{ driver: vxlan, mode: bridged, vni: 77, subnet: 172.30.0.0/16 }}
  local: {{ driver: bridge, subnet: 10.77.0.0/24 }}
containers:
  proc: {{ host: node-1, network: overlay, address: 172.30.1.2, netns: {{ pid: {pid} }} }}
  far: {{ host: node-2, network: overlay, address: 172.30.2.2 }}
  named: {{ host: node-1, network: local, address: 10.77.0.4, netns: {{ path: {path} }} }}
  near: {{ host: node-1, network: local, address: 10.77.0.2 }}
"
    )
}

#[test]
fn existing_namespaces_are_wired_and_never_deleted() {
    must_root();
    let mut proc = NetnsProcess::start();
    // Placeholder file first, to get a unique lab name; the real file is written below.
    let lab = Lab::new("ext", &temp_topology("ext", "version: 1\n"));
    // Outside the lab's prefix, so neither the lab nor its cleanup could mistake it for its own.
    let named = NamedNetns::new(format!("{}x", lab.name));
    let yaml = topology(proc.pid(), &named.path());
    std::fs::write(&lab.file, &yaml).expect("writing topology");

    ok(&lab.cmd(&["lab", "up"], &[]), "lab up");
    let verify = lab.cmd(&["lab", "verify"], &[]);
    ok(&verify, "lab verify");
    assert!(stdout(&verify).contains("All 12 pairs as expected: 4 reachable, 8 isolated."));

    // The process's namespace has eth0 with the address and Docker-style MAC.
    let listing = proc.ip_json(&["addr", "show"]);
    assert_eq!(addresses(&listing, "eth0"), vec!["172.30.1.2/16"]);
    assert_eq!(mac(&listing, "eth0").as_deref(), Some("02:42:ac:1e:01:02"));
    // The named namespace has its address and the default route via the bridge's gateway.
    let listing = ip_json(&named.name, &["addr", "show"]);
    assert_eq!(addresses(&listing, "eth0"), vec!["10.77.0.4/24"]);
    let routes = ip_json(&named.name, &["route", "show", "default"]);
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["gateway"], "10.77.0.1");
    assert_eq!(routes[0]["protocol"], "78");

    // Traffic, checked with the real ping: across hosts over VXLAN, and on the local bridge.
    assert!(proc.ping("172.30.2.2"), "proc cannot reach far");
    assert!(ping(&lab.container_ns("node-2", "far"), "172.30.1.2"));
    assert!(ping(&named.name, "10.77.0.2"));
    assert!(ping(&lab.container_ns("node-1", "near"), "10.77.0.4"));

    // Nothing left to do, and no namespace object for either: they are not ours.
    let plan = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "plan after apply is not empty");
    let show = stdout(&lab.on_host("show", "node-1", &[]));
    assert!(show.contains("address proc/eth0 172.30.1.2/16"), "{show}");
    assert!(show.contains("namespace near"), "{show}");
    assert!(!show.contains("namespace proc"), "{show}");
    assert!(!show.contains("namespace named"), "{show}");

    // Drift inside the existing namespace is seen and repaired.
    proc.run("ip", &["addr", "del", "172.30.1.2/16", "dev", "eth0"]);
    let plan = lab.on_host("plan", "node-1", &["--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2));
    assert!(stdout(&plan).contains("+ address proc/eth0 172.30.1.2/16"));
    assert!(stdout(&plan).contains("Plan: 1 to add, 0 to change, 0 to destroy."));
    ok(
        &lab.on_host("apply", "node-1", &["--auto-approve"]),
        "repair",
    );
    assert_eq!(
        addresses(&proc.ip_json(&["addr", "show"]), "eth0"),
        vec!["172.30.1.2/16"]
    );

    // Removed from the file: our veths go, the process and both namespaces stay.
    let without = without_container(&lab.file, "proc");
    std::fs::write(&lab.file, &without).expect("writing topology");
    let without = without_container(&lab.file, "named");
    std::fs::write(&lab.file, &without).expect("writing topology");
    let apply = lab.on_host("apply", "node-1", &["--auto-approve"]);
    ok(&apply, "apply without the existing containers");
    assert!(!stdout(&apply).contains("namespace"), "{}", stdout(&apply));
    // Left: br-local and near's veth (proc's and named's veths went, and with proc the only
    // container on overlay, its bridge and vxlan device too).
    let left = owned_links(&lab.host_ns("node-1"));
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"br-local".to_string()), "{left:?}");
    assert!(proc.alive(), "the process was killed");
    assert!(proc.ns_path().exists());
    assert_eq!(names(&proc.ip_json(&["link", "show"])), vec!["lo"]);
    assert!(netns_exists(&named.name), "the named namespace was deleted");
    assert_eq!(link_names(&named.name), vec!["lo"]);

    // Back in the file, then destroy and lab down: the namespaces survive both.
    std::fs::write(&lab.file, &yaml).expect("writing topology");
    ok(
        &lab.on_host("apply", "node-1", &["--auto-approve"]),
        "re-apply",
    );
    assert_eq!(names(&proc.ip_json(&["link", "show"])), vec!["lo", "eth0"]);
    let destroy = lab.on_host("destroy", "node-1", &["--auto-approve"]);
    ok(&destroy, "destroy");
    assert!(owned_links(&lab.host_ns("node-1")).is_empty());
    assert_eq!(names(&proc.ip_json(&["link", "show"])), vec!["lo"]);
    assert_eq!(link_names(&named.name), vec!["lo"]);
    ok(
        &lab.on_host("apply", "node-1", &["--auto-approve"]),
        "apply before down",
    );
    ok(&lab.cmd(&["lab", "down"], &[]), "lab down");
    assert!(
        !netns_exists(&lab.host_ns("node-1")),
        "lab down left the host"
    );
    assert!(proc.alive() && proc.ns_path().exists());
    assert_eq!(names(&proc.ip_json(&["link", "show"])), vec!["lo"]);
    assert!(netns_exists(&named.name));
}

#[test]
fn missing_process_is_an_error_naming_the_container() {
    must_root();
    let mut gone = Command::new("true").spawn().expect("true");
    let pid = gone.id();
    gone.wait().expect("reaping");
    let file = temp_topology("ext-missing", &topology(pid, "/proc/1/ns/net"));
    let out = np(&["plan", &file.display().to_string(), "--host", "node-1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "containers.proc.netns.pid: container proc: no usable process {pid}"
        )),
        "{err}"
    );
}

/// A fake Docker Engine API on a unix socket: `GET /containers/<name>/json` answers with the pid
/// of the named process (chunked, as the real daemon does), anything else 404. Serves until
/// dropped.
struct FakeDocker {
    dir: PathBuf,
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeDocker {
    fn start(tag: &str, containers: Vec<(String, u32)>) -> FakeDocker {
        let dir =
            std::env::temp_dir().join(format!("netplan-rs-docker-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let socket = dir.join("docker.sock");
        let listener = UnixListener::bind(&socket).expect("binding fake docker socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split(' ').nth(1).unwrap_or_default().to_string();
                let found = containers
                    .iter()
                    .find(|(name, _)| path == format!("/containers/{name}/json"));
                let response = match found {
                    Some((name, pid)) => {
                        let body = format!(
                            r#"{{"Id":"0123abcd","Name":"/{name}","State":{{"Status":"running","Running":true,"Pid":{pid}}}}}"#
                        );
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                            body.len()
                        )
                    }
                    None => {
                        let body = r#"{"message":"No such container"}"#;
                        format!(
                            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                    }
                };
                let _ = conn.write_all(response.as_bytes());
            }
        });
        FakeDocker {
            dir,
            socket,
            stop,
            thread: Some(thread),
        }
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// netplan-rs with `DOCKER_HOST` set.
fn np_docker(docker_host: &str, args: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .env("DOCKER_HOST", docker_host)
        .output()
        .expect("running netplan-rs");
    eprintln!(
        "$ DOCKER_HOST={docker_host} netplan-rs {}\n[exit {:?}]\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn docker_topology(name: &str) -> String {
    format!(
        "version: 1
hosts:
  node-1: {{ underlay: 192.168.78.1/24 }}
networks:
  local: {{ driver: bridge, subnet: 10.78.0.0/24 }}
containers:
  web: {{ host: node-1, network: local, address: 10.78.0.5, netns: {{ docker: {name} }} }}
  db: {{ host: node-1, network: local, address: 10.78.0.6 }}
"
    )
}

#[test]
fn docker_name_resolves_through_the_api() {
    must_root();
    let proc = NetnsProcess::start();
    let lab = Lab::new("dock", &temp_topology("dock", &docker_topology("my-web")));
    let docker = FakeDocker::start(&lab.name, vec![("my-web".to_string(), proc.pid())]);
    let host = docker.docker_host();
    let file = lab.file_str();

    ok(
        &np_docker(&host, &["lab", "up", &file, "--lab", &lab.name]),
        "lab up",
    );
    let listing = proc.ip_json(&["addr", "show"]);
    assert_eq!(addresses(&listing, "eth0"), vec!["10.78.0.5/24"]);
    let verify = np_docker(&host, &["lab", "verify", &file, "--lab", &lab.name]);
    ok(&verify, "lab verify");
    assert!(stdout(&verify).contains("All 2 pairs as expected: 2 reachable, 0 isolated."));
    assert!(proc.ping("10.78.0.6"));

    // A name the daemon does not know: the plan fails, naming the container and the form.
    let unknown = temp_topology("dock-unknown", &docker_topology("ghost"));
    let unknown = unknown.display().to_string();
    let out = np_docker(
        &host,
        &["plan", &unknown, "--lab", &lab.name, "--host", "node-1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("containers.web.netns.docker: container web: no Docker container ghost"),
        "{err}"
    );

    // No socket: a clear error, nothing applied.
    let missing = format!("unix://{}/absent.sock", docker.dir.display());
    let out = np_docker(
        &missing,
        &["plan", &file, "--lab", &lab.name, "--host", "node-1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Docker API socket at"), "{err}");

    ok(
        &np_docker(&host, &["lab", "down", &file, "--lab", &lab.name]),
        "lab down",
    );
    assert!(proc.ns_path().exists());
    assert_eq!(names(&proc.ip_json(&["link", "show"])), vec!["lo"]);
}

#[test]
fn switching_to_an_existing_namespace_warns_about_the_old_one() {
    must_root();
    let proc = NetnsProcess::start();
    let managed = "version: 1
hosts:
  node-1: { underlay: 192.168.79.1/24 }
networks:
  local: { driver: bridge, subnet: 10.79.0.0/24 }
containers:
  near: { host: node-1, network: local, address: 10.79.0.2 }
  other: { host: node-1, network: local, address: 10.79.0.3 }
";
    let lab = Lab::new("conv", &temp_topology("conv", managed));
    lab.up();
    let existing = managed.replace(
        "address: 10.79.0.2 }",
        &format!("address: 10.79.0.2, netns: {{ pid: {} }} }}", proc.pid()),
    );
    std::fs::write(&lab.file, existing).expect("writing topology");
    let apply = lab.on_host("apply", "node-1", &["--auto-approve"]);
    ok(&apply, "apply with near moved to the process");
    let old = lab.container_ns("node-1", "near");
    assert!(
        String::from_utf8_lossy(&apply.stderr).contains(&format!(
            "warning: container near now names an existing namespace, but the namespace /run/netns/{old} is still there"
        )),
        "no warning about {old}"
    );
    // Wired where the file now says, and reachable.
    assert_eq!(
        addresses(&proc.ip_json(&["addr", "show"]), "eth0"),
        vec!["10.79.0.2/24"]
    );
    assert!(proc.ping("10.79.0.3"));
    assert_eq!(link_names(&old), vec!["lo"]);
}

/// `topologies/existing-netns.yaml` runs with `lab demo` like every other example: the lab
/// stands in empty namespaces for the Docker container, process and namespace file it names
/// (none exist on a test machine), wires them like the real ones, and removes them with the lab.
#[test]
fn the_example_runs_in_the_lab_with_stand_ins() {
    must_root();
    if std::path::Path::new("/proc/4242").exists()
        || std::path::Path::new("/run/netns/vpn").exists()
    {
        eprintln!("skipped: pid 4242 or /run/netns/vpn exists here, so the example would wire it");
        return;
    }
    let lab = Lab::new("exdemo", &repo_file("topologies/existing-netns.yaml"));
    let out = Command::new(bin())
        .args(["lab", "demo", &lab.file_str(), "--lab", &lab.name])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("lab demo");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    for container in ["web", "batch", "vpn"] {
        assert!(
            text.contains(&format!(
                "container {container} stands in namespace {}-node-1.standin-{container}",
                lab.name
            )),
            "{text}"
        );
    }
    assert!(text.contains("All 12 pairs as expected"), "{text}");
    assert_eq!(
        lab.namespaces(),
        Vec::<String>::new(),
        "the lab left namespaces"
    );
}
