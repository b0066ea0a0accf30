//! Which host of the topology this run acts as, and which kernel target that maps to:
//! `--lab L --host H` is simulated host H of lab L; `--host H` is this machine acting as H;
//! neither picks the host whose underlay address sits on a local interface.

use super::HostArgs;
use crate::external;
use crate::kernel::{Target, netns};
use crate::lab;
use crate::topology::Topology;
use anyhow::{Context, bail};
use std::net::IpAddr;
use std::path::Path;

/// The resolved host: its name in the topology (when known) and the kernel target.
pub struct Resolved {
    pub host: Option<String>,
    pub lab: Option<String>,
    pub target: Target,
}

impl Resolved {
    /// "host node-1" or "simulated host node-1 of lab demo", for messages.
    pub fn describe(&self) -> String {
        match (&self.host, &self.lab) {
            (Some(h), Some(l)) => format!("simulated host {h} of lab {l}"),
            (Some(h), None) => format!("host {h}"),
            (None, _) => "this host".to_string(),
        }
    }
}

/// Resolve the host for commands that need one from the topology (plan, apply). Existing
/// namespaces its containers name (`netns:`) must all be found: wiring half a host is worse
/// than stopping with a message naming the container.
pub fn resolve(topo: &Topology, file: &Path, args: &HostArgs) -> anyhow::Result<Resolved> {
    let mut resolved = resolve_host(Some(topo), Some(file), args)?;
    let Some(host) = &resolved.host else {
        bail!("internal: host not resolved");
    };
    resolved.target.external = match &resolved.lab {
        Some(lab_name) => lab::standin::resolve(topo, lab_name, host),
        None => external::resolve(topo, host),
    }
    .map_err(anyhow::Error::msg)?;
    external::check_distinct(&resolved.target, topo, host).map_err(anyhow::Error::msg)?;
    for warning in external::leftovers(&resolved.target, topo, host) {
        super::output::errln!("warning: {warning}");
    }
    Ok(resolved)
}

/// Resolve the target; the host name may stay unknown for `destroy`/`show` on a real host
/// without a file (they need no compile). With a file, the existing namespaces its containers
/// name are read too; one that cannot be found is skipped with a warning (its end of our veth
/// went with it, and `destroy` removes the host end).
pub fn resolve_optional(
    topo: Option<&Topology>,
    file: Option<&Path>,
    args: &HostArgs,
) -> anyhow::Result<Resolved> {
    let mut resolved = resolve_host(topo, file, args)?;
    if let (Some(topo), Some(host)) = (topo, &resolved.host) {
        let (found, missing) = match &resolved.lab {
            Some(lab_name) => lab::standin::external_namespaces(topo, lab_name, host),
            None => external::resolve_all(topo, host),
        };
        for problem in missing {
            super::output::errln!("warning: {problem}; not reading that namespace");
        }
        resolved.target.external = found;
    }
    Ok(resolved)
}

/// Which host and target, before existing namespaces are looked up.
fn resolve_host(
    topo: Option<&Topology>,
    file: Option<&Path>,
    args: &HostArgs,
) -> anyhow::Result<Resolved> {
    let host_names = || {
        topo.map(|t| t.hosts.keys().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    };
    if let (Some(topo), Some(host)) = (topo, &args.host)
        && !topo.hosts.contains_key(host)
    {
        bail!(
            "host {host:?} is not in the topology (hosts: {})",
            host_names()
        );
    }
    if let Some(lab_arg) = &args.lab {
        let lab_name = if lab_arg.is_empty() {
            match file {
                Some(f) => super::default_lab_name(f)?,
                None => bail!("--lab without a name needs the topology file to name the lab"),
            }
        } else {
            lab_arg.clone()
        };
        lab::check_name(&lab_name).map_err(anyhow::Error::msg)?;
        let Some(host) = args.host.clone() else {
            bail!(
                "--lab needs --host NAME to pick a simulated host (hosts: {})",
                host_names()
            );
        };
        let ns = lab::host_netns(&lab_name, &host);
        if !netns::exists(&ns) {
            bail!(
                "simulated host {host} of lab {lab_name} does not exist (no netns {ns}); run `netplan-rs lab up FILE --lab {lab_name}` first"
            );
        }
        let mut target = lab::host_target(&lab_name, &host);
        target.claimed = topo.map(Topology::claimed_prefixes);
        return Ok(Resolved {
            target,
            host: Some(host),
            lab: Some(lab_name),
        });
    }
    // A real host: the file's scope, or the default scope without a file.
    let target = match topo {
        Some(topo) => Target::scoped(topo.scope(), Some(topo.claimed_prefixes())),
        None => Target::local(),
    };
    if let Some(host) = &args.host {
        return Ok(Resolved {
            host: Some(host.clone()),
            lab: None,
            target,
        });
    }
    let Some(topo) = topo else {
        return Ok(Resolved {
            host: None,
            lab: None,
            target,
        });
    };
    let host = detect_host(topo)?;
    Ok(Resolved {
        host: Some(host),
        lab: None,
        target,
    })
}

/// The one host whose underlay address is configured on a local interface.
fn detect_host(topo: &Topology) -> anyhow::Result<String> {
    let local: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
        .context("listing local addresses")?
        .filter_map(|ifa| {
            let addr = ifa.address?;
            addr.as_sockaddr_in()
                .map(|a| IpAddr::V4(a.ip()))
                .or_else(|| addr.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())))
        })
        .collect();
    let matching: Vec<&String> = topo
        .hosts
        .iter()
        .filter(|(_, host)| local.contains(&host.underlay.addr()))
        .map(|(name, _)| name)
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!(
            "no host of the topology has its underlay address on a local interface; pass --host NAME (hosts: {})",
            topo.hosts.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        several => bail!(
            "several hosts of the topology have their underlay address on a local interface ({}); pass --host NAME",
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
