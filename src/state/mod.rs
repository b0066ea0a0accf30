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
pub mod ownership {
    /// IFLA_IFALIAS value on every link netplan-rs creates (and on `lo` of namespaces it creates).
    pub const LINK_ALIAS: &str = "netplan-rs";
    /// Route protocol number (rtm_protocol) of routes netplan-rs installs. Not used by any
    /// routing daemon listed in /etc/iproute2/rt_protos.
    pub const ROUTE_PROTOCOL: u8 = 78;
    /// IFA_PROTO value of addresses netplan-rs assigns (kernel values are 0..=3).
    pub const ADDRESS_PROTOCOL: u8 = 78;
}
