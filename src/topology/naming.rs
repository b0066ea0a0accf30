//! Derived identities: interface names and MACs computed from the file alone, so every host can
//! name and address its peers' objects without asking them (docs/architecture.md, "Identities are derived").

use super::model::Host;
use crate::state::Mac;

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// Underlay interface used when a host does not name one. The lab names every simulated host's
/// underlay `eth0`; on a real host, set `interface` explicitly.
pub const DEFAULT_UNDERLAY_INTERFACE: &str = "eth0";

pub fn bridge_name(network: &str) -> String {
    format!("br-{network}")
}

pub fn vxlan_name(network: &str) -> String {
    format!("vx-{network}")
}

/// FNV-1a over the parts, each followed by a 0 byte so ("ab","c") and ("a","bc") differ.
/// Hand-rolled because `DefaultHasher` is not stable across Rust releases.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Host-side veth of `container` on `network`: `veth` + 7 hex digits (11 characters), stable
/// for the pair whatever the user's names are.
pub fn host_veth_name(container: &str, network: &str) -> String {
    format!("veth{:07x}", fnv1a(&[container, network]) & 0x0fff_ffff)
}

pub fn underlay_interface(host: &Host) -> &str {
    host.interface
        .as_deref()
        .unwrap_or(DEFAULT_UNDERLAY_INTERFACE)
}

/// MAC of the VXLAN device (VTEP) of `network` on `host`; remote hosts program it in their FDB.
pub fn vtep_mac(network: &str, host: &str) -> Mac {
    Mac::hashed(&[network, host])
}

pub fn bridge_mac(network: &str, host: &str) -> Mac {
    Mac::hashed(&[network, host, "bridge"])
}

pub fn host_veth_mac(container: &str, network: &str) -> Mac {
    Mac::hashed(&[container, network, "host-end"])
}

/// MAC of a container's interface on `network`: Docker's `02:42:<IPv4>` when it has an IPv4
/// address; on an IPv6-only network (no IPv4 to embed) a locally administered MAC hashed from
/// (container, network). The hash never starts with `02:42`, so it cannot collide with a
/// Docker-style MAC, and it does not change when the IPv6 address changes.
pub fn container_mac(container: &str, network: &str, ipv4: Option<std::net::Ipv4Addr>) -> Mac {
    match ipv4 {
        Some(ip) => Mac::docker(ip),
        None => Mac::hashed(&[container, network, "ipv6-only"]),
    }
}

/// Why `name` is not a usable interface name, if it is not.
pub fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("interface name is empty".to_string())
    } else if name.len() > MAX_IFNAME {
        Some(format!(
            "interface name {name:?} is {} characters, the kernel allows at most {MAX_IFNAME}",
            name.len()
        ))
    } else if name == "." || name == ".." {
        Some(format!("{name:?} is not a valid interface name"))
    } else {
        name.chars()
            .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
            .map(|c| {
                format!(
                    "interface name {name:?} contains {c:?} (not allowed: '/', ':', whitespace)"
                )
            })
    }
}

/// Longest container name: it is a namespace name (a file in /run/netns).
pub const MAX_NAMESPACE_NAME: usize = 64;

/// Why `name` is not usable as a namespace (container) name, if it is not.
pub fn namespace_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAMESPACE_NAME {
        Some(format!(
            "name {name:?} must be 1 to {MAX_NAMESPACE_NAME} characters"
        ))
    } else if name == "." || name == ".." {
        Some(format!("{name:?} is not a valid name"))
    } else {
        name.chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
            .map(|c| format!("name {name:?} contains {c:?}; only A-Z a-z 0-9 _ . - are allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_name_is_stable_short_and_distinct() {
        let a = host_veth_name("docker1", "overlay");
        assert_eq!(a, host_veth_name("docker1", "overlay"));
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("veth"));
        assert_ne!(a, host_veth_name("docker1", "other"));
        // The separator byte makes the split between parts matter.
        assert_ne!(host_veth_name("ab", "c"), host_veth_name("a", "bc"));
    }

    #[test]
    fn fnv1a_known_value() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c; ours appends a 0 byte after each part.
        let mut h: u64 = 0xaf63_dc4c_8601_ec8c;
        h = h.wrapping_mul(0x0100_0000_01b3);
        assert_eq!(fnv1a(&["a"]), h);
    }

    #[test]
    fn interface_names() {
        assert!(interface_name_problem("br-overlay").is_none());
        assert!(interface_name_problem("br-123456789012").is_none());
        assert!(interface_name_problem("br-1234567890123").is_some());
        assert!(interface_name_problem("a/b").is_some());
        assert!(interface_name_problem("a b").is_some());
        assert!(interface_name_problem("a:b").is_some());
        assert!(interface_name_problem("").is_some());
    }

    #[test]
    fn namespace_names() {
        assert!(namespace_name_problem("docker1.web-a_b").is_none());
        assert!(namespace_name_problem("a/b").is_some());
        assert!(namespace_name_problem("..").is_some());
        assert!(namespace_name_problem(&"x".repeat(65)).is_some());
        assert!(namespace_name_problem(&"x".repeat(64)).is_none());
    }
}
