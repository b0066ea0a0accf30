//! Published ports (`ports: ["8080:80/tcp"]` on a container): parsing and validation.
//!
//! A port is published on the host's underlay address and forwarded to the container's address
//! on its first `driver: bridge` network; the host port and protocol must be free on that host.

use super::error::Diagnostic;
use super::model::{Network, Topology};
use crate::state::L4Proto;
use std::collections::HashMap;

/// One parsed `HOST:CONTAINER[/proto]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    pub proto: L4Proto,
}

/// Parse one entry; the error explains what is wrong with it.
pub fn parse(spec: &str) -> Result<PortMapping, String> {
    let (mapping, proto) = match spec.split_once('/') {
        Some((m, p)) => (m, p),
        None => (spec, "tcp"),
    };
    let proto = match proto {
        "tcp" => L4Proto::Tcp,
        "udp" => L4Proto::Udp,
        other => return Err(format!("{spec:?}: protocol {other:?} is not tcp or udp")),
    };
    let Some((host, container)) = mapping.split_once(':') else {
        return Err(format!(
            "{spec:?} is not HOST:CONTAINER[/tcp|/udp] (e.g. \"8080:80/tcp\")"
        ));
    };
    let port = |what: &str, text: &str| -> Result<u16, String> {
        match text.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            Ok(n) => Err(format!("{spec:?}: {what} port {n} is not in 1..65535")),
            Err(_) => Err(format!(
                "{spec:?}: {what} port {text:?} is not a number (the form is HOST:CONTAINER[/tcp|/udp])"
            )),
        }
    };
    Ok(PortMapping {
        host_port: port("host", host)?,
        container_port: port("container", container)?,
        proto,
    })
}

/// The network a container's ports forward to: its first `driver: bridge` network.
pub fn port_network<'t>(topo: &'t Topology, container: &str) -> Option<&'t str> {
    let c = topo.containers.get(container)?;
    c.specs(container)
        .into_iter()
        .find(|s| matches!(topo.networks.get(s.network), Some(Network::Bridge(_))))
        .and_then(|s| {
            topo.networks
                .get_key_value(s.network)
                .map(|(k, _)| k.as_str())
        })
}

/// Every problem with `ports` in the topology.
pub fn validate(topo: &Topology) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    // (host, port, proto) -> container that published it first.
    let mut taken: HashMap<(&str, u16, L4Proto), &str> = HashMap::new();
    for (name, c) in &topo.containers {
        if c.ports.is_empty() {
            continue;
        }
        let underlay = topo.hosts.get(&c.host).map(|h| h.underlay.addr());
        if let (Some(network), Some(underlay)) = (port_network(topo, name), underlay)
            && let Some(net) = topo.networks.get(network)
        {
            let (has, family) = match underlay {
                std::net::IpAddr::V4(_) => (net.subnet4().is_some(), "IPv4"),
                std::net::IpAddr::V6(_) => (net.subnet6().is_some(), "IPv6"),
            };
            if !has {
                diags.push(Diagnostic::new(
                    format!("containers.{name}.ports"),
                    format!(
                        "ports are published on host {}'s {family} underlay address, but network {network} has no {family} subnet",
                        c.host
                    ),
                ));
            }
        }
        // An unknown network, or none at all, is reported on its own: which network the ports
        // would use is unknowable then.
        let specs = c.specs(name);
        let networks_known =
            !specs.is_empty() && specs.iter().all(|s| topo.networks.contains_key(s.network));
        if port_network(topo, name).is_none() && networks_known {
            let on: Vec<&str> = specs.iter().map(|s| s.network).collect();
            diags.push(Diagnostic::new(
                format!("containers.{name}.ports"),
                format!(
                    "published ports need the container on a `driver: bridge` network; it is on: {}",
                    if on.is_empty() { "none".to_string() } else { on.join(", ") }
                ),
            ));
        }
        for (i, spec) in c.ports.iter().enumerate() {
            let path = format!("containers.{name}.ports[{i}]");
            match parse(spec) {
                Err(message) => diags.push(Diagnostic::new(path, message).expecting_form()),
                Ok(p) => {
                    if let Some(other) = taken.insert((&c.host, p.host_port, p.proto), name) {
                        diags.push(Diagnostic::new(
                            path,
                            format!(
                                "host port {}/{} on host {} is already published by container {other}",
                                p.host_port,
                                p.proto.name(),
                                c.host
                            ),
                        ));
                    }
                }
            }
        }
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse("8080:80/tcp"),
            Ok(PortMapping {
                host_port: 8080,
                container_port: 80,
                proto: L4Proto::Tcp
            })
        );
        assert_eq!(parse("5353:53/udp").map(|p| p.proto), Ok(L4Proto::Udp));
        assert_eq!(parse("8080:80").map(|p| p.proto), Ok(L4Proto::Tcp));
    }

    #[test]
    fn rejects_bad_entries_with_a_reason() {
        let err = |s: &str| parse(s).unwrap_err();
        assert!(err("8080").contains("is not HOST:CONTAINER"));
        assert!(err("0:80").contains("host port 0 is not in 1..65535"));
        assert!(err("8080:70000").contains("container port 70000"));
        assert!(err("8080:80/sctp").contains("protocol \"sctp\""));
        assert!(err("a:80").contains("host port \"a\" is not a number"));
        assert!(err("1:2:3").contains("container port \"2:3\""));
    }

    /// `path: message` lines of loading `containers` with a bridge, an overlay and nat.
    fn problems(containers: &str) -> Vec<String> {
        let text = format!(
            "version: 1
hosts:
  node-1: {{ underlay: 192.168.31.183/24 }}
  node-2: {{ underlay: 192.168.31.192/24 }}
networks:
  local: {{ driver: bridge, subnet: 192.168.200.0/24, nat: true }}
  overlay: {{ driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16 }}
containers:
{containers}
"
        );
        crate::topology::tests::test_support::problems(&text)
    }

    #[test]
    fn valid_ports_and_nat_load() {
        let found = problems(
            "  a: { host: node-1, network: local, ports: [\"8080:80/tcp\", \"5353:53/udp\", \"8081:80\"] }
  b: { host: node-2, network: local, ports: [\"8080:80\"] }
  c: { host: node-1, network: local, ports: [\"8080:80/udp\"] }",
        );
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn bad_entries_name_their_yaml_path() {
        let found = problems("  a: { host: node-1, network: local, ports: [\"8080:80\", \"x\"] }");
        assert_eq!(
            found,
            vec![
                "containers.a.ports[1]: \"x\" is not HOST:CONTAINER[/tcp|/udp] (e.g. \"8080:80/tcp\")"
            ]
        );
    }

    #[test]
    fn a_host_port_is_published_once_per_host_and_protocol() {
        let found = problems(
            "  a: { host: node-1, network: local, ports: [\"8080:80\"] }
  b: { host: node-1, network: local, ports: [\"9090:90\", \"8080:81/tcp\"] }",
        );
        assert_eq!(
            found,
            vec![
                "containers.b.ports[1]: host port 8080/tcp on host node-1 is already published by container a"
            ]
        );
    }

    #[test]
    fn ports_need_a_bridge_network() {
        let found = problems("  a: { host: node-1, network: overlay, ports: [\"8080:80\"] }");
        assert_eq!(
            found,
            vec![
                "containers.a.ports: published ports need the container on a `driver: bridge` network; it is on: overlay"
            ]
        );
    }

    #[test]
    fn ports_need_an_address_of_the_underlay_family() {
        let text = "version: 1
hosts: { node-1: { underlay: 10.0.0.1/24 } }
networks:
  v6: { driver: bridge, subnet: \"fd00:200::/64\" }
containers:
  a: { host: node-1, network: v6, ports: [\"8080:80\"] }
";
        crate::topology::tests::test_support::assert_problem(
            text,
            "containers.a.ports",
            "ports are published on host node-1's IPv4 underlay address, but network v6 has no IPv4 subnet",
        );
    }

    #[test]
    fn nat_is_only_a_bridge_key() {
        let text = "version: 1
hosts: { node-1: { underlay: 10.0.0.1/24 } }
networks:
  overlay: { driver: vxlan, mode: bridged, vni: 100, subnet: 172.18.0.0/16, nat: true }
";
        let err = crate::topology::load_str(text, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nat"), "{err}");
    }
}
