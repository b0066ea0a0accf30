//! Existing network namespaces (`containers.<c>.netns`, pipework's use case) -> the namespace
//! files the kernel layer enters instead of `/run/netns/<c>`.
//!
//! This runs each time a plan is made, not at validation: a process or Docker container may
//! come and go between runs, and only the host a container runs on can look it up. The result
//! goes into [`crate::kernel::Target::external`]; the kernel layer itself never sees a topology.

pub mod docker;
mod http;

use crate::kernel::Target;
use crate::state::Ns;
use crate::topology::{ExternalNetns, Topology};
use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One container whose namespace could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    /// YAML path of the `netns` form that failed, e.g. `containers.web.netns.pid`.
    pub path: String,
    pub container: String,
    pub message: String,
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: container {}: {}",
            self.path, self.container, self.message
        )
    }
}

/// The namespace file of every container of `host` that names an existing namespace, and the
/// containers whose namespace could not be found.
pub fn resolve_all(topo: &Topology, host: &str) -> (BTreeMap<String, PathBuf>, Vec<ResolveError>) {
    resolve_with(topo, host, std::env::var("DOCKER_HOST").ok().as_deref())
}

/// [`resolve_all`] with an explicit value of `DOCKER_HOST`.
fn resolve_with(
    topo: &Topology,
    host: &str,
    docker_host: Option<&str>,
) -> (BTreeMap<String, PathBuf>, Vec<ResolveError>) {
    let mut found = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, container) in &topo.containers {
        let Some(netns) = container.netns.as_ref().filter(|_| container.host == host) else {
            continue;
        };
        match resolve_one(netns, docker_host) {
            Ok(path) => {
                found.insert(name.clone(), path);
            }
            Err((form, message)) => errors.push(ResolveError {
                path: format!("containers.{name}.netns.{form}"),
                container: name.clone(),
                message,
            }),
        }
    }
    (found, errors)
}

/// [`resolve_all`], failing (with every problem, one per line) when any namespace is missing:
/// what `plan` and `apply` need, since wiring half a host would be worse than stopping.
pub fn resolve(topo: &Topology, host: &str) -> Result<BTreeMap<String, PathBuf>, String> {
    let (found, errors) = resolve_all(topo, host);
    if errors.is_empty() {
        return Ok(found);
    }
    Err(errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The namespace file of one `netns` form (`DOCKER_HOST` from the environment).
pub fn namespace_file(netns: &ExternalNetns) -> Result<PathBuf, String> {
    resolve_one(netns, std::env::var("DOCKER_HOST").ok().as_deref()).map_err(|(_, e)| e)
}

/// One `netns` form -> its namespace file, or (form key, message).
fn resolve_one(
    netns: &ExternalNetns,
    docker_host: Option<&str>,
) -> Result<PathBuf, (&'static str, String)> {
    if let Some(pid) = netns.pid {
        let path = pid_path(pid);
        check_netns_file(&path).map_err(|e| ("pid", format!("no usable process {pid}: {e}")))?;
        return Ok(path);
    }
    if let Some(path) = &netns.path {
        let path = PathBuf::from(path);
        check_netns_file(&path).map_err(|e| ("path", e))?;
        return Ok(path);
    }
    if let Some(name) = &netns.docker {
        let socket = docker::socket(docker_host).map_err(|e| ("docker", e))?;
        let pid = docker::container_pid(&socket, name).map_err(|e| ("docker", e))?;
        let path = pid_path(pid);
        check_netns_file(&path).map_err(|e| {
            (
                "docker",
                format!("Docker container {name} has pid {pid}, but: {e}"),
            )
        })?;
        return Ok(path);
    }
    // Validation guarantees one form; an empty `netns: {}` is reported there.
    Err(("", "no pid, path or docker given".to_string()))
}

/// Refuse a target in which an existing namespace is also the host's or another container's
/// namespace (e.g. `pid: 1` on a real host, or two containers naming the same process): observe
/// would read the same links under two names, and each name would see the other's interfaces as
/// ours but unwanted, and delete them. Namespaces are compared by their nsfs inode.
pub fn check_distinct(target: &Target, topo: &Topology, host: &str) -> Result<(), String> {
    let mut seen: Vec<((u64, u64), String)> = Vec::new();
    let mut problems = Vec::new();
    let host_file = target
        .netns_path(&Ns::Host)
        .unwrap_or_else(|| PathBuf::from("/proc/self/ns/net"));
    let local = topo
        .containers
        .iter()
        .filter(|(_, c)| c.host == host)
        .map(|(name, _)| (format!("container {name}"), Ns::Container(name.clone())));
    for (what, ns) in std::iter::once(("the host".to_string(), Ns::Host)).chain(local) {
        let file = match &ns {
            Ns::Host => host_file.clone(),
            _ => match target.netns_path(&ns) {
                Some(file) => file,
                None => continue,
            },
        };
        // A namespace not created yet (or gone) cannot be shared.
        let Ok(meta) = std::fs::metadata(&file) else {
            continue;
        };
        let id = (meta.dev(), meta.ino());
        match seen.iter().find(|(other, _)| *other == id) {
            Some((_, first)) => problems.push(format!(
                "{what} and {first} are the same network namespace ({}); give each container its own",
                file.display()
            )),
            None => seen.push((id, what)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Warnings for containers that name an existing namespace while the namespace netplan-rs made
/// for them before (`/run/netns/<prefix><c>`) is still there: the plan addresses container `c`
/// in the existing namespace only, so the old one (empty but for `lo`: our veth moved) stays
/// until deleted by hand or by `destroy` without FILE.
pub fn leftovers(target: &Target, topo: &Topology, host: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (name, container) in &topo.containers {
        if container.host != host || container.netns.is_none() {
            continue;
        }
        let ns = Ns::Container(name.clone());
        let (Some(own), Some(external)) = (target.netns_name(&ns), target.external_path(&ns))
        else {
            continue;
        };
        let own_file = crate::kernel::netns::path(&own);
        let inode = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
        if let Some(id) = inode(&own_file)
            && inode(external) != Some(id)
        {
            out.push(format!(
                "container {name} now names an existing namespace, but the namespace {} is still there; `ip netns delete {own}` removes it if netplan-rs made it",
                own_file.display()
            ));
        }
    }
    out
}

/// The network namespace of process `pid`.
fn pid_path(pid: u32) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/ns/net"))
}

/// `ioctl(NS_GET_NSTYPE)` = `_IO(0xb7, 0x3)`: which kind of namespace a namespace file is.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Check that `path` exists and is a network namespace (not, say, a mount namespace or a plain
/// file): entering anything else would fail later with a less helpful message.
fn check_netns_file(path: &Path) -> Result<(), String> {
    let at = path.display();
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("namespace file {at} does not exist"),
        _ => format!("cannot open namespace file {at}: {e}"),
    })?;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the open file descriptor.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 {
        return Err(format!("{at} is not a namespace file"));
    }
    if kind != libc::CLONE_NEWNET {
        return Err(format!("{at} is not a network namespace"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::tests::test_support::parse;

    fn topo(netns: &str) -> Topology {
        let text = format!(
            "version: 1
hosts:
  node-1: {{ underlay: 10.0.0.1/24 }}
  node-2: {{ underlay: 10.0.0.2/24 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24 }}
containers:
  mine: {{ host: node-1, network: local, netns: {netns} }}
  other: {{ host: node-2, network: local, netns: {{ pid: 4000000000 }} }}
  plain: {{ host: node-1, network: local }}
"
        );
        parse(&text)
    }

    #[test]
    fn own_process_resolves_to_its_netns() {
        let me = std::process::id();
        let (found, errors) = resolve_all(&topo(&format!("{{ pid: {me} }}")), "node-1");
        assert!(errors.is_empty(), "{errors:?}");
        // Only the local external container: `other` lives on node-2, `plain` is ours.
        assert_eq!(found, BTreeMap::from([("mine".to_string(), pid_path(me))]));
    }

    #[test]
    fn compile_wires_existing_namespaces_without_owning_them() {
        use crate::state::{Ns, ObjectKey};
        let state = crate::compile::compile(&topo("{ pid: 1234 }"), "node-1").unwrap();
        let keys: Vec<&ObjectKey> = state.objects.keys().collect();
        // `plain` gets its namespace; `mine` does not (never created, never deleted) ...
        assert!(keys.contains(&&ObjectKey::Namespace {
            name: "plain".into()
        }));
        assert!(!keys.contains(&&ObjectKey::Namespace {
            name: "mine".into()
        }));
        // ... but its interface, address and default route are wanted like any container's.
        let mine = Ns::Container("mine".into());
        let in_mine: Vec<String> = keys
            .iter()
            .filter(|k| k.ns() == mine)
            .map(|k| k.to_string())
            .collect();
        assert_eq!(
            in_mine,
            vec![
                "link mine/eth0",
                "address mine/eth0 192.168.200.2/24",
                "route mine/0.0.0.0/0",
            ],
            "{in_mine:?}"
        );
    }

    #[test]
    fn target_enters_external_namespaces_by_their_file() {
        use crate::kernel::Target;
        use crate::state::Ns;
        let mut target = Target::local();
        target.container_prefix = "lab-h-".into();
        target.external.insert("mine".into(), pid_path(42));
        assert_eq!(
            target.netns_path(&Ns::Container("mine".into())),
            Some(PathBuf::from("/proc/42/ns/net"))
        );
        assert_eq!(
            target.netns_path(&Ns::Container("plain".into())),
            Some(PathBuf::from("/run/netns/lab-h-plain"))
        );
        assert_eq!(target.netns_path(&Ns::Host), None);
    }

    #[test]
    fn shared_namespaces_are_refused() {
        let me = std::process::id();
        let topo = topo(&format!("{{ pid: {me} }}"));
        let mut target = Target::local();
        target.external = resolve(&topo, "node-1").unwrap();
        // This process's namespace is the host's (the target's host is the current namespace).
        let err = check_distinct(&target, &topo, "node-1").unwrap_err();
        assert!(
            err.starts_with("container mine and the host are the same network namespace"),
            "{err}"
        );
        // Two containers naming one namespace.
        target.host_netns = Some("netplan-rs-test-no-such-host".into());
        target
            .external
            .insert("plain".into(), PathBuf::from("/proc/self/ns/net"));
        let err = check_distinct(&target, &topo, "node-1").unwrap_err();
        assert!(
            err.starts_with("container plain and container mine are the same network namespace"),
            "{err}"
        );
        target.external.remove("plain");
        assert_eq!(check_distinct(&target, &topo, "node-1"), Ok(()));
    }

    #[test]
    fn path_form_is_checked() {
        let ok = resolve(&topo("{ path: /proc/self/ns/net }"), "node-1").unwrap();
        assert_eq!(ok.get("mine"), Some(&PathBuf::from("/proc/self/ns/net")));
        let err = resolve(&topo("{ path: /proc/self/ns/mnt }"), "node-1").unwrap_err();
        assert!(
            err.starts_with("containers.mine.netns.path: container mine:")
                && err.contains("is not a network namespace"),
            "{err}"
        );
        let err = resolve(&topo("{ path: /etc/hostname }"), "node-1").unwrap_err();
        assert!(err.contains("is not a namespace file"), "{err}");
    }

    #[test]
    fn missing_process_names_the_container() {
        let err = resolve(&topo("{ pid: 4000000000 }"), "node-1").unwrap_err();
        assert!(
            err.starts_with(
                "containers.mine.netns.pid: container mine: no usable process 4000000000"
            ) && err.contains("/proc/4000000000/ns/net does not exist"),
            "{err}"
        );
        // The remote host's container is only looked up on its own host.
        let err = resolve(&topo("{ pid: 1 }"), "node-2").unwrap_err();
        assert!(err.starts_with("containers.other.netns.pid"), "{err}");
    }

    #[test]
    fn docker_without_socket_is_a_clear_error() {
        let (_, errors) = resolve_with(
            &topo("{ docker: web }"),
            "node-1",
            Some("unix:///nonexistent/netplan-rs/docker.sock"),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            "containers.mine.netns.docker: container mine: no Docker API socket at /nonexistent/netplan-rs/docker.sock (is Docker running? set DOCKER_HOST=unix:///path to use another socket)"
        );
    }
}
