//! Adopting what an interrupted run of ours created but did not get to mark: the objects its
//! journal names (see `apply::journal`). A link or a namespace's `lo` without any alias gets
//! our mark; a /run/netns entry that is only a mount-point file (no namespace bound to it) is
//! removed. Anything carrying some other alias is left alone: it is not ours.

use super::execute::{nl_error, setlink_by_name};
use super::{Kernel, KernelError, netns};
use crate::state::{Ns, ObjectKey};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkAttribute;
use std::collections::BTreeMap;
use std::io;

/// Adopt the journaled `keys`; returns one line per object adopted or removed.
pub(super) async fn adopt(kernel: &Kernel, keys: &[ObjectKey]) -> Result<Vec<String>, KernelError> {
    let mut done = Vec::new();
    // Namespaces first: a link inside one can only be read once it is a namespace again.
    let mut links: BTreeMap<Ns, Vec<String>> = BTreeMap::new();
    for key in keys {
        match key {
            ObjectKey::Namespace { name } => {
                let logical = Ns::Container(name.clone());
                if kernel.target.external_path(&logical).is_some() {
                    continue;
                }
                let Some(real) = kernel.target.netns_name(&logical) else {
                    continue;
                };
                if !netns::exists(&real) {
                    continue;
                }
                if netns::is_namespace(&real) {
                    links.entry(logical).or_default().push("lo".to_string());
                    continue;
                }
                let label = kernel.target.label(&logical);
                let name = real.clone();
                tokio::task::spawn_blocking(move || netns::delete(&name))
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))
                    .and_then(|r| r)
                    .map_err(|source| KernelError::Namespace {
                        op: "removing the leftover mount point of",
                        ns: label,
                        source,
                    })?;
                done.push(format!(
                    "removed /run/netns/{real} (a mount point with no namespace)"
                ));
            }
            ObjectKey::Link { ns, name } => links.entry(ns.clone()).or_default().push(name.clone()),
            _ => {}
        }
    }
    for (ns, names) in links {
        // A namespace that is gone took its links with it.
        let Ok(conn) = kernel.conn(&ns).await else {
            continue;
        };
        let present = super::observe::dump_links(&kernel.target, &conn, &ns).await?;
        for name in names {
            let Some(link) = present.iter().find(|l| l.name == name) else {
                continue;
            };
            if link.alias.is_some() {
                continue;
            }
            let mark = match name.as_str() {
                "lo" => kernel.target.marks.netns_mark.clone(),
                _ => kernel.target.marks.link_alias.clone(),
            };
            let mut msg = setlink_by_name(&name);
            msg.attributes.push(LinkAttribute::IfAlias(mark));
            let key = ObjectKey::Link {
                ns: ns.clone(),
                name: name.clone(),
            };
            conn.request(RouteNetlinkMessage::SetLink(msg), 0)
                .await
                .map_err(|e| nl_error(kernel, "marking", &key, e))?;
            done.push(match name.as_str() {
                "lo" => format!("namespace {ns}"),
                _ => key.to_string(),
            });
        }
    }
    Ok(done)
}
