//! The neutral model of kernel networking state.
//!
//! Both `compile` (what the topology file wants on one host) and `kernel::observe` (what the
//! kernel has) produce a [`State`], so `plan::diff` is a plain keyed set comparison with no
//! driver or kernel knowledge. Objects live in *logical* namespaces ([`Ns`]): the target host's
//! own namespace and the container namespaces by container name; a `kernel::Target` maps them to
//! real namespaces (a real host, or a simulated host in the lab), which keeps golden files stable.

mod mac;
mod nft;
mod object;

pub use mac::Mac;
pub use nft::*;
pub use object::*;

use std::collections::BTreeMap;

/// A set of kernel objects keyed by identity. `BTreeMap` keeps every rendering deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub objects: BTreeMap<ObjectKey, Object>,
}

impl State {
    /// Insert an object under its own key, replacing any object with the same identity.
    pub fn insert(&mut self, object: impl Into<Object>) {
        let object = object.into();
        self.objects.insert(object.key(), object);
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Object> {
        self.objects.values()
    }

    /// The links of this state, looked up by namespace and name.
    pub fn link(&self, ns: &Ns, name: &str) -> Option<&Link> {
        match self.objects.get(&ObjectKey::Link {
            ns: ns.clone(),
            name: name.to_string(),
        }) {
            Some(Object::Link(link)) => Some(link),
            _ => None,
        }
    }

    /// One line per object, sorted by key: the format of golden files and of `show`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for object in self.objects.values() {
            out.push_str(&object.describe());
            out.push('\n');
        }
        out
    }
}

impl FromIterator<Object> for State {
    fn from_iter<T: IntoIterator<Item = Object>>(iter: T) -> Self {
        let mut state = State::default();
        for object in iter {
            state.insert(object);
        }
        state
    }
}

/// Marks written on what netplan-rs creates, so that the kernel itself is the state file.
///
/// Marks are scoped: a link alias (and the `lo` alias of a namespace netplan-rs created) says
/// who owns the object. On a real host that is the topology's scope (`name:`): plain
/// `netplan-rs` for the default scope, `netplan-rs scope=<name>` otherwise. In a lab it is the
/// lab and the simulated host, `netplan-rs lab=<lab> host=<host>`. Any alias starting with
/// `netplan-rs` that is not the run's own is another owner's: foreign, never touched.
pub mod ownership {
    /// IFLA_IFALIAS value on every link netplan-rs creates for the default scope (and on `lo`
    /// of namespaces it creates); the prefix of every other mark.
    pub const LINK_ALIAS: &str = "netplan-rs";
    /// Route protocol number (rtm_protocol) of routes netplan-rs installs. Not used by any
    /// routing daemon listed in /etc/iproute2/rt_protos.
    pub const ROUTE_PROTOCOL: u8 = 78;
    /// IFA_PROTO value of addresses netplan-rs assigns (kernel values are 0..=3).
    pub const ADDRESS_PROTOCOL: u8 = 78;
    /// The scope of a topology without `name:` (marked plain [`LINK_ALIAS`]).
    pub const DEFAULT_SCOPE: &str = crate::topology::DEFAULT_SCOPE;

    /// The mark of a real-host scope.
    pub fn scope_mark(scope: &str) -> String {
        if scope == DEFAULT_SCOPE {
            LINK_ALIAS.to_string()
        } else {
            format!("{LINK_ALIAS} scope={scope}")
        }
    }

    /// The mark of what netplan-rs creates on simulated host `host` of lab `lab`.
    pub fn lab_host_mark(lab: &str, host: &str) -> String {
        format!("{LINK_ALIAS} lab={lab} host={host}")
    }

    /// Whether an alias is the mark of a netplan-rs owner of container networking: any scope,
    /// any simulated host. (Not the lab's own plumbing, `netplan-rs-lab ...`: to a simulated
    /// host its underlay is what a physical NIC is to a real host.)
    pub fn is_owner_mark(alias: &str) -> bool {
        alias
            .strip_prefix(LINK_ALIAS)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
    }

    /// Whether an alias is any netplan-rs mark: an owner's, or the lab plumbing's.
    pub fn is_any_mark(alias: &str) -> bool {
        is_owner_mark(alias)
            || alias
                .strip_prefix(LINK_ALIAS)
                .is_some_and(|rest| rest.starts_with("-lab"))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn marks_name_their_owner() {
            assert_eq!(scope_mark("default"), "netplan-rs");
            assert_eq!(scope_mark("edge"), "netplan-rs scope=edge");
            assert_eq!(
                lab_host_mark("demo", "node-1"),
                "netplan-rs lab=demo host=node-1"
            );
            for mark in ["netplan-rs", "netplan-rs scope=a", "netplan-rs-lab lab=x"] {
                assert!(is_any_mark(mark), "{mark}");
            }
            for other in ["", "netplan", "netplan-rsx", "docker0", "my netplan-rs"] {
                assert!(!is_any_mark(other), "{other}");
            }
            assert!(is_owner_mark("netplan-rs lab=demo host=h"));
            assert!(!is_owner_mark("netplan-rs-lab lab=demo"));
        }
    }
}
