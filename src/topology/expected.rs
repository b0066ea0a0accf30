//! What each key of a topology takes, in the user's words, for diagnostics that say what was
//! expected ("expected an integer 1..16777215" rather than serde's "expected u32").

/// What the key at `path` expects (`networks.overlay.vni` → "an integer 1..16777215"), for the
/// keys whose values have a form or range worth stating.
pub fn for_path(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path.split('.').collect();
    let section = parts.first().copied().unwrap_or_default();
    let last = parts.last().copied().unwrap_or_default();
    let parent = if parts.len() >= 2 {
        parts[parts.len() - 2]
    } else {
        ""
    };
    if section == "policies" {
        return match last {
            "port" => Some("a port 1..65535 or a range like \"8000-8080\""),
            "protocol" => Some("tcp, udp or icmp"),
            "cidr" => Some("an address block like 10.0.0.0/8 or fd00::/8"),
            _ if last.starts_with("ports[") => {
                Some("a mapping with `protocol` (tcp, udp or icmp) and optionally `port`")
            }
            _ => None,
        };
    }
    // A list item: `ports[2]`.
    if last.starts_with("ports[") {
        return Some("\"HOST:CONTAINER\" or \"HOST:CONTAINER/tcp|udp\", ports 1..65535");
    }
    Some(match (section, parent, last) {
        ("networks", _, "slices") | ("networks", _, "slices6") => {
            "a map of host name to that host's slice of the subnet"
        }
        ("networks", "slices", _) => "an IPv4 network inside the subnet, like 10.244.1.0/24",
        ("networks", "slices6", _) => "an IPv6 network inside subnet6, like fd00:244:0:1::/64",
        ("containers", "networks", _) if parts.len() == 4 => {
            "a network defined under `networks:` with its settings (address, address6, interface)"
        }
        (_, _, "version") => "1",
        (_, _, "vni") => "an integer 1..16777215",
        (_, _, "vlan") => "a VLAN id, an integer 1..4094",
        (_, _, "mtu") => "an integer 68..65535",
        (_, _, "port") => "a UDP port, an integer 1..65535",
        (_, _, "host_prefix") => "a prefix length, an integer longer than the subnet's, up to 30",
        (_, _, "host_prefix6") => "a prefix length, an integer longer than subnet6's, up to 126",
        ("hosts", _, "underlay") => "the host's address with prefix, like 192.168.1.10/24",
        (_, _, "subnet") => "an IPv4 network in CIDR form, like 10.0.0.0/24",
        (_, _, "subnet6") => "an IPv6 network in CIDR form, like fd00:1::/64",
        (_, _, "address") | (_, _, "gateway") => {
            "an IPv4 address inside the network's subnet, like 10.0.0.2"
        }
        (_, _, "address6") | (_, _, "gateway6") => {
            "an IPv6 address inside the network's subnet6, like fd00:1::2"
        }
        (_, _, "driver") => "vxlan, bridge, host-gw or macvlan",
        ("containers", _, "host") => "the name of a host defined under `hosts:`",
        ("containers", _, "network") => "the name of a network defined under `networks:`",
        ("containers", _, "default_route") => "one of this container's networks, or false",
        (_, _, "nat") | (_, _, "host_interface") => "true or false",
        _ => return None,
    })
}

/// serde's words for what it expected, in the user's: a Rust type name ("u32") says nothing to
/// someone writing YAML.
pub fn humanize(serde_expected: &str) -> String {
    match serde_expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_string(),
        "a boolean" | "bool" => "true or false".to_string(),
        other => other.to_string(),
    }
}

/// The candidate closest to `word` when it is close enough to be a typo (at most a third of its
/// letters changed, at least one allowed): the "did you mean" of an unknown key or name.
pub fn similar<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The names in serde's "one of `a`, `b`, `c`" list.
pub fn listed(serde_expected: &str) -> Vec<&str> {
    serde_expected.split('`').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word_and_strangers_find_none() {
        let keys = ["subnet", "gateway", "mtu", "nat"];
        assert_eq!(similar("gatway", keys), Some("gateway"));
        assert_eq!(similar("mut", keys), None);
        assert_eq!(similar("subnte", keys), Some("subnet"));
        assert_eq!(similar("node-9", ["node-1", "node-2"]), Some("node-1"));
        assert_eq!(similar("frontend", ["local", "backend"]), None);
        assert_eq!(edit_distance("κόμβος", "κομβος"), 1);
        assert_eq!(
            listed("one of `subnet`, `gateway`, `mtu`"),
            ["subnet", "gateway", "mtu"]
        );
    }

    #[test]
    fn keys_name_their_form_and_range() {
        assert_eq!(
            for_path("networks.overlay.vni"),
            Some("an integer 1..16777215")
        );
        assert_eq!(
            for_path("containers.web.ports[3]"),
            Some("\"HOST:CONTAINER\" or \"HOST:CONTAINER/tcp|udp\", ports 1..65535")
        );
        assert_eq!(
            for_path("networks.overlay.slices.node-1"),
            Some("an IPv4 network inside the subnet, like 10.244.1.0/24")
        );
        assert_eq!(
            for_path("containers.web.host"),
            Some("the name of a host defined under `hosts:`")
        );
        assert_eq!(for_path("hosts.node-1"), None);
        assert_eq!(humanize("u32"), "a non-negative integer");
        assert_eq!(humanize("a sequence"), "a sequence");
    }
}
