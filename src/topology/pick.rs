//! Choosing one attachment's address in one family: the explicit address if usable and free,
//! else the first free one. The IPv4 (`ipam.rs`) and IPv6 (`ipam6.rs`) ranges differ in which
//! addresses they hold back and how far they look for a free one; the rules and the messages of
//! the choice itself are the same and live here.

use super::error::Diagnostic;
use super::model::AttachmentSpec;
use std::collections::HashMap;
use std::fmt::Display;
use std::hash::Hash;

/// One family's address range of a network as seen from one host.
pub(crate) trait Pool {
    type Addr: Copy + Eq + Hash + Display;
    /// `""` or `" IPv6"`, as in "no free IPv6 address left".
    const FAMILY: &'static str;
    /// The range's prefix (the subnet, or the host's slice).
    fn net(&self) -> impl Display;
    /// The attachment's explicit address in this family, with its YAML path.
    fn explicit(spec: &AttachmentSpec) -> Option<(Self::Addr, String)>;
    /// Why `addr` cannot be a container address here, if it cannot.
    fn unusable(&self, addr: Self::Addr) -> Option<String>;
    /// What to add to an unusable explicit address's message: whose slice the range is.
    fn slice_hint(&self, host: &str) -> Option<String>;
    /// Addresses to try for automatic allocation, in order; `taken` addresses are held already.
    fn candidates(&self, taken: usize) -> impl Iterator<Item = Self::Addr>;
}

/// The address of attachment `spec` of container `cname` on `host` in `pool`. Problems go to
/// `diags` and yield `None`.
pub(crate) fn pick<P: Pool>(
    pool: &P,
    cname: &str,
    host: &str,
    spec: &AttachmentSpec,
    taken: &HashMap<P::Addr, String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<P::Addr> {
    match P::explicit(spec) {
        Some((addr, path)) => {
            let problem = pool
                .unusable(addr)
                .map(|p| match pool.slice_hint(host) {
                    Some(hint) => format!("{p} ({hint})"),
                    None => p,
                })
                .or_else(|| {
                    taken.get(&addr).map(|holder| {
                        format!(
                            "{addr} is already used by container {holder} on network {}",
                            spec.network
                        )
                    })
                });
            match problem {
                Some(p) => {
                    diags.push(Diagnostic::new(path, p));
                    None
                }
                None => Some(addr),
            }
        }
        None => {
            let found = pool
                .candidates(taken.len())
                .find(|a| pool.unusable(*a).is_none() && !taken.contains_key(a));
            if found.is_none() {
                diags.push(Diagnostic::new(
                    format!("containers.{cname}"),
                    format!(
                        "no free{} address left in {} on network {}",
                        P::FAMILY,
                        pool.net(),
                        spec.network
                    ),
                ));
            }
            found
        }
    }
}
