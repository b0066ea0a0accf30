//! Saved plans (`plan FILE -out PLANFILE`, `apply PLANFILE`, `show PLANFILE`): the file format,
//! and the fingerprint that tells whether the kernel is still as it was when the plan was made.
//!
//! Why: a plan reviewed in one CI job and applied after approval must do exactly what was
//! reviewed, or nothing. So the file holds the steps themselves (not the topology to plan again)
//! and, for every kernel object the plan read or would change, a hash of that object as it was
//! observed. `apply PLANFILE` observes again and refuses when any hash differs, naming the
//! objects: terraform's "saved plan is stale".
//!
//! The file format (version 1: the fields, the target, what the fingerprint covers, the
//! checksum) is documented in docs/saved-plan.md, which is the contract; a change here is a
//! change there.

use super::step::{Plan, Step};
use crate::state::{LinkKind, Object, ObjectKey, State};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

/// The `format` field of every saved plan.
pub const FORMAT: &str = "netplan-rs saved plan";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// What `observed` says of an object the kernel did not have.
pub const ABSENT: &str = "absent";

/// A saved plan: see the module documentation for the format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: u32,
    pub checksum: String,
    pub netplan_rs_version: String,
    pub created_unix: u64,
    pub topology: TopologySource,
    pub target: SavedTarget,
    pub desired: Vec<Object>,
    pub plan: Plan,
    pub fingerprint: Vec<FingerprintEntry>,
}

/// The topology file a plan was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologySource {
    pub path: String,
    pub sha256: String,
}

/// Where a saved plan applies (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTarget {
    pub machine: String,
    pub host: String,
    pub host_detected: bool,
    #[serde(default)]
    pub underlays: BTreeMap<String, IpAddr>,
    pub lab: Option<String>,
    pub scope: String,
    pub host_id: String,
    pub mark: String,
    pub netns_mark: String,
    pub route_protocol: u8,
    pub host_netns: Option<String>,
    pub container_prefix: String,
    pub nft_table: String,
    pub claimed: Option<Vec<IpNet>>,
    #[serde(default)]
    pub external: BTreeMap<String, ExternalNs>,
}

impl SavedTarget {
    /// "host node-1" or "simulated host node-1 of lab demo", like the CLI's messages.
    pub fn describe(&self) -> String {
        match &self.lab {
            Some(lab) => format!("simulated host {} of lab {lab}", self.host),
            None => format!("host {}", self.host),
        }
    }
}

/// A container's existing namespace: the file entered, and the namespace's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalNs {
    pub path: String,
    pub dev: u64,
    pub ino: u64,
}

/// One fingerprinted object: its key and `sha256:<hex>` of it as observed, or [`ABSENT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerprintEntry {
    /// The key as text (`link host/br-x`), for the reader of the file.
    pub address: String,
    pub key: ObjectKey,
    pub observed: String,
}

/// Why a saved plan file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error(
        "it is not valid JSON or not a saved plan of this format ({0}); the file may be damaged"
    )]
    Corrupt(String),
    #[error(
        "its format version is {found}, this netplan-rs ({ours_version}) reads version {ours}; make the plan again with this netplan-rs"
    )]
    Version {
        found: String,
        ours: u32,
        ours_version: &'static str,
    },
    #[error(
        "it was made by netplan-rs {found}, this is netplan-rs {ours}; make the plan again with this netplan-rs"
    )]
    Program { found: String, ours: &'static str },
    #[error("its checksum does not match its content; the file was damaged or edited")]
    Checksum,
}

impl SavedPlan {
    /// Fill in the format fields and the checksum; everything else is the caller's.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        created_unix: u64,
        topology: TopologySource,
        target: SavedTarget,
        desired: &State,
        plan: Plan,
        observed: &State,
    ) -> SavedPlan {
        let fingerprint = fingerprint(&plan, desired, observed);
        let mut saved = SavedPlan {
            format: FORMAT.to_string(),
            format_version: FORMAT_VERSION,
            checksum: String::new(),
            netplan_rs_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix,
            topology,
            target,
            desired: desired.iter().cloned().collect(),
            plan,
            fingerprint,
        };
        saved.checksum = saved.compute_checksum();
        saved
    }

    /// The desired state as a [`State`].
    pub fn desired_state(&self) -> State {
        self.desired.iter().cloned().collect()
    }

    /// sha256 of the compact JSON of the document with an empty checksum.
    fn compute_checksum(&self) -> String {
        let mut copy = self.clone();
        copy.checksum = String::new();
        // Plain data: serializing cannot fail; an empty input would only fail the check.
        let bytes = serde_json::to_vec(&copy).unwrap_or_default();
        format!("sha256:{}", sha256_hex(&bytes))
    }

    /// The file's text: pretty JSON with a trailing newline, `format` first.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".to_string());
        text.push('\n');
        text
    }

    /// Parse and check a saved plan: format, version, program version, checksum, in that order
    /// (so an old file gets the version message, not a checksum one).
    pub fn parse(text: &str) -> Result<SavedPlan, FormatError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| FormatError::Corrupt(e.to_string()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(FormatError::Corrupt(format!(
                "\"format\" is not {FORMAT:?}"
            )));
        }
        match value.get("format_version") {
            Some(v) if v.as_u64() == Some(u64::from(FORMAT_VERSION)) => {}
            other => {
                return Err(FormatError::Version {
                    found: other.map_or("missing".to_string(), |v| v.to_string()),
                    ours: FORMAT_VERSION,
                    ours_version: env!("CARGO_PKG_VERSION"),
                });
            }
        }
        let Some(program) = value.get("netplan_rs_version").and_then(|v| v.as_str()) else {
            return Err(FormatError::Corrupt(
                "\"netplan_rs_version\" is missing".to_string(),
            ));
        };
        if program != env!("CARGO_PKG_VERSION") {
            return Err(FormatError::Program {
                found: program.to_string(),
                ours: env!("CARGO_PKG_VERSION"),
            });
        }
        let saved: SavedPlan =
            serde_json::from_value(value).map_err(|e| FormatError::Corrupt(e.to_string()))?;
        if saved.checksum != saved.compute_checksum() {
            return Err(FormatError::Checksum);
        }
        Ok(saved)
    }
}

/// Whether `head` (the first bytes of a file) looks like the start of a saved plan: used to
/// call a file that does not parse a damaged saved plan rather than a topology.
pub fn looks_saved(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    text.trim_start().starts_with('{')
        && text.contains("\"format\"")
        && text.contains(&format!("\"{FORMAT}\""))
}

fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// sha256 of some bytes, as lowercase hex (the topology digest).
pub fn digest(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

/// `sha256:<hex>` of an object's compact JSON: its fingerprint.
pub fn object_hash(object: &Object) -> String {
    let bytes = serde_json::to_vec(object).unwrap_or_default();
    format!("sha256:{}", sha256_hex(&bytes))
}

/// The objects a step reads or changes: what it creates, the object it updates or deletes (a
/// replace from a veth's peer end names the other end), and the peer it creates with it or
/// that a delete takes along.
fn step_objects(step: &Step) -> Vec<&Object> {
    let mut objects: Vec<&Object> = step
        .desired()
        .into_iter()
        .chain(step.current())
        .chain(step.peer())
        .collect();
    if let Step::Delete(delete) = step {
        objects.extend(delete.peer.as_ref());
    }
    objects
}

/// Every key a plan reads or changes on this host (see the module documentation).
pub fn fingerprint_keys(plan: &Plan, desired: &State, observed: &State) -> BTreeSet<ObjectKey> {
    let mut keys: BTreeSet<ObjectKey> = BTreeSet::new();
    for step in &plan.steps {
        keys.insert(step.key());
        for object in step_objects(step) {
            keys.insert(object.key());
            keys.extend(super::dependencies(object));
            // Deleting or replacing one end of a veth pair takes the other with it.
            if let Object::Link(link) = object
                && let LinkKind::Veth { peer: Some(peer) } = &link.kind
            {
                keys.insert(ObjectKey::Link {
                    ns: peer.ns.clone(),
                    name: peer.name.clone(),
                });
            }
        }
    }
    keys.extend(plan.conflicts.iter().map(|c| c.key.clone()));
    for object in desired.iter() {
        // Wanted objects and what they stand on: a vanished underlay makes a conflict.
        keys.insert(object.key());
        keys.extend(super::dependencies(object));
    }
    keys.extend(observed.iter().filter(|o| o.owned()).map(Object::key));
    keys
}

/// The fingerprint of `observed` for `plan` (sorted by key).
pub fn fingerprint(plan: &Plan, desired: &State, observed: &State) -> Vec<FingerprintEntry> {
    fingerprint_keys(plan, desired, observed)
        .into_iter()
        .map(|key| FingerprintEntry {
            address: key.to_string(),
            observed: observed
                .get(&key)
                .map_or_else(|| ABSENT.to_string(), object_hash),
            key,
        })
        .collect()
}

/// How an object differs from its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    Changed(ObjectKey),
    Appeared(ObjectKey),
    Gone(ObjectKey),
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Drift::Changed(k) => write!(f, "{k} changed since the plan was made"),
            Drift::Appeared(k) => write!(f, "{k} appeared since the plan was made"),
            Drift::Gone(k) => write!(f, "{k} is gone"),
        }
    }
}

/// What differs between the fingerprint and the kernel now (`observed`), in key order: every
/// fingerprinted object that changed, appeared or went, and every owned object now that the
/// fingerprint does not know (it covered every owned object, so such an object is new).
pub fn drift(fingerprint: &[FingerprintEntry], observed: &State) -> Vec<Drift> {
    let mut found = Vec::new();
    let known: BTreeSet<&ObjectKey> = fingerprint.iter().map(|e| &e.key).collect();
    for entry in fingerprint {
        match (entry.observed.as_str(), observed.get(&entry.key)) {
            (ABSENT, None) => {}
            (ABSENT, Some(_)) => found.push(Drift::Appeared(entry.key.clone())),
            (_, None) => found.push(Drift::Gone(entry.key.clone())),
            (hash, Some(now)) => {
                if object_hash(now) != hash {
                    found.push(Drift::Changed(entry.key.clone()));
                }
            }
        }
    }
    for object in observed.iter().filter(|o| o.owned()) {
        let key = object.key();
        if !known.contains(&key) {
            found.push(Drift::Appeared(key));
        }
    }
    found.sort_by(|a, b| drift_key(a).cmp(drift_key(b)));
    found
}

fn drift_key(d: &Drift) -> &ObjectKey {
    match d {
        Drift::Changed(k) | Drift::Appeared(k) | Drift::Gone(k) => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::testutil::*;

    fn target() -> SavedTarget {
        SavedTarget {
            machine: "m1".into(),
            host: "node-1".into(),
            host_detected: false,
            underlays: BTreeMap::new(),
            lab: Some("lab1".into()),
            scope: "default".into(),
            host_id: "netns-lab1-node-1".into(),
            mark: "netplan-rs lab=lab1 host=node-1".into(),
            netns_mark: "netplan-rs lab=lab1 host=node-1".into(),
            route_protocol: 78,
            host_netns: Some("lab1-node-1".into()),
            container_prefix: "lab1-node-1-".into(),
            nft_table: "netplan-rs".into(),
            claimed: Some(vec!["10.1.0.0/16".parse().unwrap()]),
            external: BTreeMap::new(),
        }
    }

    /// The kernel: an underlay the vxlan needs, an owned bridge that stays, an owned stray
    /// that the plan deletes, an unowned link nobody cares about.
    fn observed() -> State {
        state([
            unowned(other_link("host", "eth0", "dummy")),
            bridge("br0"),
            bridge("stray"),
            unowned(other_link("host", "dummy9", "dummy")),
        ])
    }

    fn desired() -> State {
        // The vxlan's underlay `dev` is eth0.
        let (host_end, container_end) = veth_pair("c1", "veth1", "br0");
        state([
            bridge("br0"),
            vxlan("vx0", 42, "br0"),
            namespace("c1"),
            host_end,
            container_end,
            address("c1", "eth0", "10.1.0.2/24"),
        ])
    }

    fn saved() -> SavedPlan {
        let (desired, observed) = (desired(), observed());
        let plan = crate::plan::diff(&desired, &observed);
        assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
        let topology = TopologySource {
            path: "t.yaml".into(),
            sha256: digest(b"x"),
        };
        SavedPlan::new(1, topology, target(), &desired, plan, &observed)
    }

    #[test]
    fn the_fingerprint_covers_steps_dependencies_desired_and_owned_objects() {
        let saved = saved();
        let keys: BTreeSet<String> = saved
            .fingerprint
            .iter()
            .map(|e| e.address.clone())
            .collect();
        for want in [
            "link host/vx0",   // created
            "link host/eth0",  // the vxlan's dev: a dependency that exists
            "link host/br0",   // owned, wanted, unchanged
            "link host/stray", // owned, deleted
            "namespace c1",    // created
            "link c1/eth0",    // the veth peer
            "address c1/eth0 10.1.0.2/24",
        ] {
            assert!(keys.contains(want), "{want} not in {keys:?}");
        }
        assert!(!keys.contains("link host/dummy9"), "{keys:?}");
        let entry = |a: &str| saved.fingerprint.iter().find(|e| e.address == a).unwrap();
        assert_eq!(entry("link host/vx0").observed, ABSENT);
        assert!(entry("link host/eth0").observed.starts_with("sha256:"));
        assert!(drift(&saved.fingerprint, &observed()).is_empty());
    }

    #[test]
    fn every_kind_of_drift_is_named() {
        let saved = saved();
        let mut now = observed();
        // The underlay's MTU changed, the stray went, the vxlan appeared, an owned link came.
        if let Some(Object::Link(l)) = now.objects.get_mut(&link_key("host", "eth0")) {
            l.mtu = Some(1400);
        }
        now.objects.remove(&link_key("host", "stray"));
        now.insert(vxlan("vx0", 7, "br0"));
        now.insert(bridge("br-new"));
        // Unwatched: an unowned link nobody depends on.
        if let Some(Object::Link(l)) = now.objects.get_mut(&link_key("host", "dummy9")) {
            l.mtu = Some(1000);
        }
        let text: Vec<String> = drift(&saved.fingerprint, &now)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            vec![
                "link host/br-new appeared since the plan was made",
                "link host/eth0 changed since the plan was made",
                "link host/stray is gone",
                "link host/vx0 appeared since the plan was made",
            ]
        );
    }

    #[test]
    fn a_saved_plan_reads_back_as_written() {
        let saved = saved();
        let text = saved.to_json();
        assert!(text.starts_with(&format!("{{\n  \"format\": \"{FORMAT}\"")));
        assert!(looks_saved(text.as_bytes()));
        let back = SavedPlan::parse(&text).unwrap();
        assert_eq!(back, saved);
        // The plan survives the round trip exactly: apply compares it with a fresh diff.
        assert_eq!(back.plan, crate::plan::diff(&desired(), &observed()));
        assert_eq!(back.desired_state(), desired());
        // The ordering DAG travels with the steps, so apply runs the same waves.
        assert_eq!(back.plan.deps.len(), back.plan.steps.len());
        assert!(
            back.plan.deps.iter().any(|d| !d.is_empty()),
            "{:?}",
            back.plan.deps
        );
    }

    #[test]
    fn damaged_future_and_foreign_files_are_refused() {
        let text = saved().to_json();
        let truncated = &text[..text.len() / 2];
        assert!(matches!(
            SavedPlan::parse(truncated),
            Err(FormatError::Corrupt(_))
        ));
        assert!(looks_saved(truncated.as_bytes()));
        let edited = text.replacen("\"vni\": 42", "\"vni\": 43", 1);
        assert_ne!(edited, text);
        assert_eq!(SavedPlan::parse(&edited), Err(FormatError::Checksum));
        let future = text.replacen("\"format_version\": 1", "\"format_version\": 2", 1);
        let err = SavedPlan::parse(&future).unwrap_err();
        assert!(matches!(err, FormatError::Version { .. }));
        assert!(err.to_string().contains("format version is 2"), "{err}");
        let older = text.replacen(
            &format!("\"netplan_rs_version\": \"{}\"", env!("CARGO_PKG_VERSION")),
            "\"netplan_rs_version\": \"0.0.1\"",
            1,
        );
        assert!(
            SavedPlan::parse(&older)
                .unwrap_err()
                .to_string()
                .contains("made by netplan-rs 0.0.1")
        );
        let topology_json = r#"{"version": 1, "hosts": {}}"#;
        assert!(!looks_saved(topology_json.as_bytes()));
        assert!(matches!(
            SavedPlan::parse(topology_json),
            Err(FormatError::Corrupt(_))
        ));
    }
}
