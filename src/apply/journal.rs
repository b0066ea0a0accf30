//! The intent journal: which objects a run is about to create (or unmount), written before
//! each wave, so a run killed mid-way leaves enough for the next one to recognise what it made.
//!
//! Why: the kernel ignores IFLA_IFALIAS in RTM_NEWLINK, so a link is created unmarked and marked
//! by a second request; a namespace's name is a mount-point file first and a namespace bound to
//! it second (and deleting it is unmount, then unlink). A SIGKILL between the two leaves an
//! object that carries no mark, or a file that is no namespace, which every later run would
//! read as someone else's: "link host/veth0162699 exists and is not managed", forever. The
//! journal closes that window: before a wave with such steps, their keys are written here (with
//! the mark they were to carry); the next run that changes the host adopts them (writes the
//! missing marks, removes leftover mount-point files) and drops the journal, and `plan` reads
//! them as ours meanwhile.
//!
//! One journal per host and owner mark (`<run dir>/journal/<host id>.<mark>.json`), written
//! atomically (temporary file + rename), removed when an execution finishes without error.
//! Runs that change a host hold its exclusive lock, so one run writes a journal at a time.
//! Addresses, routes, nftables objects and neighbour/FDB entries need none: they carry their
//! mark in the creating request (or sit on a marked link).

use crate::kernel::Target;
use crate::plan::{Action, Step};
use crate::state::{Object, ObjectKey};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What a journal file holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Format version of this file.
    pub version: u32,
    /// The run that wrote it (for messages).
    pub pid: u32,
    pub command: String,
    /// The owner mark the objects were to carry; only a run with the same mark adopts them.
    pub mark: String,
    /// Objects that may exist without their mark.
    pub unfinished: Vec<ObjectKey>,
}

/// The journal file of `target` (its host and owner mark).
pub fn path(target: &Target) -> PathBuf {
    path_in(&crate::rundir::dir(), target)
}

fn path_in(run_dir: &Path, target: &Target) -> PathBuf {
    file_in(run_dir, target, "json")
}

/// `<run dir>/journal/<host id>.<mark>.<suffix>`: the files of one host and owner.
pub(super) fn file_in(run_dir: &Path, target: &Target, suffix: &str) -> PathBuf {
    let mark: String = target
        .marks
        .link_alias
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    run_dir
        .join("journal")
        .join(format!("{}.{mark}.{suffix}", target.host_id()))
}

/// The objects of a wave's steps that a kill could leave half-made: created namespaces and
/// links (with a veth's peer end) without their mark, and deleted namespaces as a mount-point
/// file with nothing bound to it (deleting is unmount, then unlink).
pub fn at_risk<'a>(steps: impl IntoIterator<Item = &'a Step>) -> Vec<ObjectKey> {
    let mut keys = Vec::new();
    for step in steps {
        if let Some(Object::Namespace(n)) = step.current()
            && matches!(step.action(), Action::Delete | Action::Replace)
        {
            keys.push(ObjectKey::Namespace {
                name: n.name.clone(),
            });
        }
        if !matches!(step.action(), Action::Create | Action::Replace) {
            continue;
        }
        for object in step.made() {
            if matches!(object, Object::Namespace(_) | Object::Link(_)) {
                keys.push(object.key());
            }
        }
    }
    keys.dedup();
    keys
}

/// Record that the `unfinished` objects are about to be made (or unmounted) on `target`'s host,
/// replacing what the file said before: a previous wave's objects are whole once it finished.
pub fn write(target: &Target, unfinished: Vec<ObjectKey>) -> io::Result<()> {
    write_in(&crate::rundir::dir(), target, unfinished)
}

fn write_in(run_dir: &Path, target: &Target, unfinished: Vec<ObjectKey>) -> io::Result<()> {
    let journal = Journal {
        version: 1,
        pid: std::process::id(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        mark: target.marks.link_alias.clone(),
        unfinished,
    };
    write_atomic(&path_in(run_dir, target), &journal)
}

/// Write `value` as JSON to `path` atomically (temporary file, then rename), creating the
/// directory. No fsync: a journal must outlive the process (a SIGKILL), which the page cache
/// already ensures; it need not outlive the machine, whose kernel state a reboot clears anyway.
pub(super) fn write_atomic(path: &Path, value: &impl Serialize) -> io::Result<()> {
    let dir = path.parent().unwrap_or(path).to_path_buf();
    std::fs::create_dir_all(&dir)?;
    let temporary = dir.join(format!(
        ".{}.{}",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("journal"),
        std::process::id()
    ));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(value).map_err(io::Error::other)?)?;
    std::fs::rename(&temporary, path)
}

/// The journal left for `target`, if any. One that cannot be parsed is reported as an error:
/// ignoring it would bring back the "exists and is not managed" trap it exists to prevent.
pub fn read(target: &Target) -> io::Result<Option<Journal>> {
    read_in(&crate::rundir::dir(), target)
}

fn read_in(run_dir: &Path, target: &Target) -> io::Result<Option<Journal>> {
    let path = path_in(run_dir, target);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let journal: Journal = serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}; remove it after checking the host", path.display()),
        )
    })?;
    if journal.mark != target.marks.link_alias {
        return Ok(None);
    }
    Ok(Some(journal))
}

/// Remove `target`'s journal (nothing to do when there is none).
pub fn clear(target: &Target) -> io::Result<()> {
    clear_in(&crate::rundir::dir(), target)
}

fn clear_in(run_dir: &Path, target: &Target) -> io::Result<()> {
    remove(&path_in(run_dir, target))
}

/// Remove `path`; a file already gone is fine.
pub(super) fn remove(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Link, LinkKind, Namespace, Ns, VethPeer};

    fn veth(ns: Ns, name: &str, peer_ns: Ns, peer: &str) -> Link {
        Link {
            ns,
            name: name.into(),
            kind: LinkKind::Veth {
                peer: Some(VethPeer {
                    ns: peer_ns,
                    name: peer.into(),
                }),
            },
            mac: None,
            mtu: None,
            master: None,
            up: true,
            ipv6: None,
            owned: true,
        }
    }

    fn namespace(name: &str) -> Object {
        Namespace {
            name: name.into(),
            owned: true,
            ipv6_default: None,
        }
        .into()
    }

    #[test]
    fn at_risk_are_created_namespaces_and_links_with_veth_peers_and_deleted_namespaces() {
        let c = Ns::Container("c1".into());
        let host_end = veth(Ns::Host, "veth1", c.clone(), "eth0");
        let peer = veth(c.clone(), "eth0", Ns::Host, "veth1");
        let steps = [
            Step::create(namespace("c1"), None),
            Step::create(host_end.into(), Some(peer.into())),
            Step::delete(namespace("gone"), None),
            Step::delete(veth(Ns::Host, "old", c, "eth1").into(), None),
        ];
        let keys: Vec<String> = at_risk(&steps).iter().map(|k| k.to_string()).collect();
        assert_eq!(
            keys,
            [
                "namespace c1",
                "link host/veth1",
                "link c1/eth0",
                "namespace gone"
            ]
        );
    }

    #[test]
    fn a_journal_round_trips_and_belongs_to_its_mark() {
        let dir = std::env::temp_dir().join(format!("np-journal-{}", std::process::id()));
        let target = Target::local();
        let keys = vec![ObjectKey::Namespace { name: "c1".into() }];
        write_in(&dir, &target, keys.clone()).unwrap();
        let read_back = read_in(&dir, &target).unwrap().expect("journal");
        assert_eq!(read_back.unfinished, keys);
        assert_eq!(read_back.mark, "netplan-rs");
        // Another scope's run on the same host does not adopt it.
        let other = Target::scoped("other", None);
        assert_eq!(read_in(&dir, &other).unwrap(), None);
        clear_in(&dir, &target).unwrap();
        assert_eq!(read_in(&dir, &target).unwrap(), None);
        clear_in(&dir, &target).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
