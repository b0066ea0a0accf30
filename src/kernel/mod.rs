//! The kernel layer: network namespace handles, one rtnetlink connection per namespace,
//! observe (dumps -> State), execute (plan Step -> netlink requests), ownership marks.
//!
//! Logical namespaces ([`Ns`]) are mapped to real ones by a [`Target`]: the host namespace is the
//! process's own or a named one (a simulated host in the lab), container `c` is
//! `/run/netns/<prefix>c`, unless the target maps it to an existing namespace file (`external`:
//! a namespace netplan-rs wires but did not create). Nothing here knows about topologies; nothing
//! here spawns a process.

mod adopt;
mod blocking;
mod conn;
mod dad;
mod error;
mod exec_bulk;
mod exec_entries;
mod exec_layered;
mod exec_link;
mod execute;
mod external_check;
pub mod fault;
mod ipv6_switch;
mod lo_mark;
pub mod netns;
mod nft;
mod observe;
mod observe_links;
mod observe_nsid;
mod parse;
mod snapshot;
mod sockbuf;
mod sysctl;

pub use error::KernelError;
pub use nft::NftBatchError;

use crate::plan::Step;
use crate::state::{Ns, Object, State, ownership};
use conn::Conn;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

/// The values that mark an object as created (owned) by netplan-rs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marks {
    /// IFLA_IFALIAS of owned links.
    pub link_alias: String,
    /// rtm_protocol of owned routes and IFA_PROTO of owned addresses.
    pub proto: u8,
    /// IFLA_IFALIAS of `lo` in namespaces netplan-rs created.
    pub netns_mark: String,
}

/// Which real namespaces the logical ones map to, and which marks mean "owned by us".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: this process's own namespace; `Some(name)`: `/run/netns/<name>`.
    pub host_netns: Option<String>,
    /// `Ns::Container(c)` is `/run/netns/<prefix><c>`.
    pub container_prefix: String,
    pub marks: Marks,
    /// Containers living in namespaces netplan-rs did not create, by logical name: the namespace
    /// file to enter instead of `/run/netns/<prefix><c>` (e.g. `/proc/1234/ns/net`). They are
    /// observed like our own containers, but never yield a `Namespace` object and are never
    /// created or deleted.
    pub external: BTreeMap<String, PathBuf>,
    /// Prefixes the run's topology covers, when known. Routes and addresses carrying our
    /// protocol mark on a host link we do not own (host-gw routes on the underlay) are ours
    /// only inside these: another scope's routes on the same underlay are not. `None`: every
    /// such route is ours (no topology to tell, e.g. `destroy` without a file).
    pub claimed: Option<Vec<ipnet::IpNet>>,
    /// Objects an interrupted run was creating when it stopped (its journal, see
    /// `apply::journal`): read as ours even without their mark, and a namespace among them that
    /// is only a leftover mount-point file reads as absent. `apply` writes the missing marks
    /// before it observes; `plan` only reads them this way, so it shows what apply will do.
    pub adopt: std::collections::BTreeSet<crate::state::ObjectKey>,
    /// The name of the nftables table (family inet) this target owns: `netplan-rs`, or
    /// `netplan-rs-<scope>` for a named scope on a real host, so that scopes side by side each
    /// have their own (see [`Target::localize`]).
    pub nft_table: String,
}

impl Target {
    /// A real host in the default scope: the process's namespace, containers in /run/netns
    /// without prefix.
    pub fn local() -> Target {
        Target::scoped(ownership::DEFAULT_SCOPE, None)
    }

    /// A real host acting for topology scope `scope` (see [`ownership`]).
    pub fn scoped(scope: &str, claimed: Option<Vec<ipnet::IpNet>>) -> Target {
        let mark = ownership::scope_mark(scope);
        Target {
            host_netns: None,
            container_prefix: String::new(),
            marks: Marks {
                link_alias: mark.clone(),
                proto: ownership::ROUTE_PROTOCOL,
                netns_mark: mark,
            },
            external: BTreeMap::new(),
            claimed,
            adopt: Default::default(),
            nft_table: match scope {
                ownership::DEFAULT_SCOPE => crate::state::NFT_TABLE.to_string(),
                _ => format!("{}-{scope}", crate::state::NFT_TABLE),
            },
        }
    }

    /// A compiled desired state as this target names things: compile always names the
    /// nftables table [`crate::state::NFT_TABLE`]; a scoped target's table is its own.
    pub fn localize(&self, desired: State) -> State {
        if self.nft_table == crate::state::NFT_TABLE {
            return desired;
        }
        desired
            .objects
            .into_values()
            .map(|object| match object {
                Object::NftTable(mut t) => {
                    t.name = self.nft_table.clone();
                    Object::NftTable(t)
                }
                Object::NftChain(mut c) => {
                    c.table = self.nft_table.clone();
                    Object::NftChain(c)
                }
                Object::NftSet(mut s) => {
                    s.table = self.nft_table.clone();
                    Object::NftSet(s)
                }
                Object::NftRule(mut r) => {
                    r.table = self.nft_table.clone();
                    Object::NftRule(r)
                }
                other => other,
            })
            .collect()
    }

    /// The namespace file of an external container (`None`: not external).
    pub fn external_path(&self, ns: &Ns) -> Option<&PathBuf> {
        match ns {
            Ns::Container(c) => self.external.get(c),
            Ns::Host => None,
        }
    }

    /// The /run/netns name of a logical namespace (`None`: the process's own namespace).
    pub fn netns_name(&self, ns: &Ns) -> Option<String> {
        match ns {
            Ns::Host => self.host_netns.clone(),
            Ns::Container(c) => Some(format!("{}{c}", self.container_prefix)),
        }
    }

    /// The namespace file a logical namespace is entered through (`None`: the process's own).
    pub fn netns_path(&self, ns: &Ns) -> Option<PathBuf> {
        if let Some(path) = self.external_path(ns) {
            return Some(path.clone());
        }
        self.netns_name(ns).map(|name| netns::path(&name))
    }

    /// The namespace file of `ns`, opened to pass its fd to the kernel (IFLA_NET_NS_FD,
    /// NETNSA_FD). "Own namespace" is the calling thread's (helper threads inherit it), so
    /// thread-self, not self (the thread-group leader's).
    fn netns_file(&self, ns: &Ns) -> io::Result<File> {
        let path = self
            .netns_path(ns)
            .unwrap_or_else(|| "/proc/thread-self/ns/net".into());
        File::open(path)
    }

    /// A file-name-safe identity of the host this target acts on, for per-host runtime files
    /// (lock, journal) in [`crate::rundir`]: `host` for this machine's own namespace, `netns-<name>`
    /// for a named one (a simulated host, or a lab's switch).
    pub fn host_id(&self) -> String {
        match &self.host_netns {
            None => "host".to_string(),
            Some(name) => format!("netns-{name}"),
        }
    }

    /// How error messages name the real namespace.
    fn label(&self, ns: &Ns) -> String {
        if let (Ns::Container(c), Some(path)) = (ns, self.external_path(ns)) {
            return format!("the existing netns {} of container {c}", path.display());
        }
        match self.netns_name(ns) {
            Some(name) => format!("netns {name}"),
            None => "the current netns".to_string(),
        }
    }
}

/// The alias of `lo` in the named namespace `/run/netns/<name>`: the mark netplan-rs wrote when
/// it created the namespace (`None`: no alias).
pub async fn namespace_mark(name: &str) -> Result<Option<String>, KernelError> {
    let label = format!("netns {name}");
    let conn = Conn::open(Some(netns::path(name)))
        .await
        .map_err(|source| KernelError::Namespace {
            op: "opening",
            ns: label.clone(),
            source,
        })?;
    let target = Target {
        host_netns: Some(name.to_string()),
        ..Target::local()
    };
    let links = observe::dump_links(&target, &conn, &Ns::Host).await?;
    Ok(links
        .into_iter()
        .find(|l| l.name == "lo")
        .and_then(|l| l.alias))
}

/// The veths of the host namespace, as (ifindex, peer's ifindex), and when the dump that
/// found them started.
struct HostVeths {
    started: tokio::time::Instant,
    pairs: Arc<std::collections::HashSet<(u32, u32)>>,
}

/// A link's ifindex once looked up, shared by the steps waiting for it.
type IfindexCell = Arc<tokio::sync::OnceCell<u32>>;

/// The kernel of one target: one rtnetlink connection per namespace, opened lazily and kept for
/// the run (reconnecting per request would cost a thread and a socket each time).
///
/// Executing works from `&Kernel` so that independent steps run concurrently (see `apply`): the
/// connection maps sit behind mutexes that are only held to look up, insert or remove an entry
/// (or, for an nftables socket, for one synchronous send), never across an await.
pub struct Kernel {
    target: Target,
    conns: Mutex<HashMap<Ns, Arc<Conn>>>,
    /// nftables sockets (NETLINK_NETFILTER), one per namespace, opened on first use.
    nft: Mutex<HashMap<Ns, Arc<Mutex<nft::NftSocket>>>>,
    /// What observing skipped and the user should hear about (e.g. a namespace that cannot be
    /// opened); taken by the caller with [`Kernel::take_warnings`].
    warnings: Vec<String>,
    /// The armed test fault, if any (see `fault.rs`: a test seam, never armed by the CLI).
    fault: Option<fault::Injector>,
    /// Ifindexes looked up while executing, by namespace and link name; a cell per link so
    /// that concurrent steps on one link share one lookup. Steps that create, change or delete
    /// links or namespaces forget what they may change (`execute.rs`); the ordering DAG keeps
    /// every step that uses a link out of the wave of a step that changes it.
    ifindexes: Mutex<HashMap<(Ns, String), IfindexCell>>,
    /// The veths of the host namespace as last read while waiting for deleted namespaces'
    /// veth pairs to go (see [`Kernel::host_veths`]).
    host_veths: tokio::sync::Mutex<Option<HostVeths>>,
    /// The namespaces this kernel handle created, with the IPv6 default their new interfaces
    /// get: a link created in one needs no IPv6 write of its own when it wants that default
    /// (`exec_link.rs`). Elsewhere the default is unknown, and the link's wish is written.
    ipv6_defaults: Mutex<HashMap<Ns, bool>>,
    /// What the last [`Kernel::observe`] returned: the state an apply records as its
    /// before-image (see `apply::transaction`) without observing once more.
    last_observed: Option<State>,
}

/// Lock a map, recovering it if a panicking holder poisoned it (every update is one insert or
/// remove, so the map is consistent whatever happened).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Kernel {
    /// Connect to the target's host namespace (fails if it does not exist).
    pub async fn connect(target: Target) -> Result<Kernel, KernelError> {
        let kernel = Kernel {
            target,
            conns: Mutex::new(HashMap::new()),
            nft: Mutex::new(HashMap::new()),
            warnings: Vec::new(),
            fault: None,
            ifindexes: Mutex::new(HashMap::new()),
            host_veths: tokio::sync::Mutex::new(None),
            ipv6_defaults: Mutex::new(HashMap::new()),
            last_observed: None,
        };
        kernel.conn(&Ns::Host).await?;
        Ok(kernel)
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Add a warning for the caller to print.
    pub fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// The warnings gathered since the last call (see the field).
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Read the live state of the host namespace and of the container namespaces under the
    /// target's prefix. See `observe.rs` for what is skipped as kernel-made.
    #[tracing::instrument(name = "observe", level = "info", skip_all, fields(target = %self.target.host_id()))]
    pub async fn observe(&mut self) -> Result<State, KernelError> {
        let state = observe::observe(self).await?;
        self.last_observed = Some(state.clone());
        Ok(state)
    }

    /// The state the last [`Kernel::observe`] returned, if any.
    pub fn last_observed(&self) -> Option<&State> {
        self.last_observed.as_ref()
    }

    /// Mark the objects an interrupted run of ours created but did not mark (the keys of its
    /// journal), and remove /run/netns entries of those that are only mount-point files; one
    /// line per object adopted. See `adopt.rs`.
    pub async fn adopt(
        &self,
        keys: &[crate::state::ObjectKey],
    ) -> Result<Vec<String>, KernelError> {
        adopt::adopt(self, keys).await
    }

    /// Carry out one plan step. Steps that do not depend on each other may run concurrently.
    /// Not an `async fn`: the test fault (see [`Kernel::inject`]) counts the request when the
    /// call is made, so concurrent steps are numbered in the order they were handed over.
    pub fn execute<'a>(
        &'a self,
        step: &'a Step,
    ) -> impl std::future::Future<Output = Result<(), KernelError>> + 'a {
        let injected = self.injected_into(step);
        exec_bulk::execute_one(self, step, injected)
    }

    /// Carry out steps that do not depend on each other (a wave's) concurrently: one result per
    /// step, in order. The address, route, neighbour and FDB steps of a namespace that has many
    /// go in bulk (see `exec_bulk.rs`). Counted by the test fault like [`Kernel::execute`],
    /// one number per step in the order given.
    pub fn execute_all<'a>(
        &'a self,
        steps: &'a [&'a Step],
    ) -> impl std::future::Future<Output = Vec<Result<(), KernelError>>> + 'a {
        let injected = steps.iter().map(|step| self.injected_into(step)).collect();
        exec_bulk::execute_all(self, steps, injected)
    }

    /// Count one step request for the test fault; its injected error if it is the one.
    fn injected_into(&self, step: &Step) -> exec_bulk::Injected {
        self.fault
            .as_ref()
            .and_then(|f| f.single(|| step.key().to_string()).map(|e| (e, f.when())))
    }

    /// Carry out consecutive nftables steps of one namespace as ONE nf_tables transaction:
    /// the kernel applies all of them or none (see `nft/batch.rs`). Counted like
    /// [`Kernel::execute`], one number per step.
    pub fn execute_nft_batch<'a>(
        &'a self,
        steps: &'a [Step],
    ) -> impl std::future::Future<Output = Result<(), NftBatchError>> + 'a {
        let injected = self.fault.as_ref().and_then(|f| {
            f.batch(steps.len(), |i| steps[i].key().to_string())
                .map(|(i, e)| (i, e, f.when()))
        });
        async move {
            match injected {
                None => nft::execute_batch(self, steps).await,
                // Nothing was sent: like a transaction the kernel rolled back.
                Some((step, source, fault::When::BeforeSending)) => Err(NftBatchError {
                    step,
                    nothing_applied: true,
                    source,
                }),
                // Sent and applied, then reported as if the replies were lost.
                Some((step, source, fault::When::AfterSending)) => {
                    nft::execute_batch(self, steps).await?;
                    Err(NftBatchError {
                        step,
                        nothing_applied: false,
                        source,
                    })
                }
            }
        }
    }

    /// TEST SEAM (see `fault.rs`): make the `at`-th step request from now on fail, once,
    /// before it is sent. Replaces a fault armed before and restarts the count.
    pub fn inject(&mut self, at: fault::FailAt) {
        self.inject_when(at, fault::When::BeforeSending);
    }

    /// [`Kernel::inject`], failing the request `when` says (see [`fault::When`]).
    pub fn inject_when(&mut self, at: fault::FailAt, when: fault::When) {
        self.fault = Some(fault::Injector::new(at, when));
    }

    /// The injected fault, if one was armed and fired.
    pub fn injected(&self) -> Option<fault::Injected> {
        self.fault.as_ref().and_then(fault::Injector::fired)
    }

    /// Step requests counted since [`Kernel::inject`] (0 when no fault was armed).
    pub fn requests(&self) -> usize {
        self.fault.as_ref().map_or(0, fault::Injector::requests)
    }

    /// The cached connection to `ns`, opening it on first use. Two concurrent first uses may
    /// both open one; the first inserted is kept and the other dropped.
    async fn conn(&self, ns: &Ns) -> Result<Arc<Conn>, KernelError> {
        if let Some(conn) = lock(&self.conns).get(ns) {
            return Ok(conn.clone());
        }
        let conn = self.open_conn(ns).await?;
        Ok(lock(&self.conns)
            .entry(ns.clone())
            .or_insert_with(|| Arc::new(conn))
            .clone())
    }

    /// A new connection to `ns` (not cached).
    async fn open_conn(&self, ns: &Ns) -> Result<Conn, KernelError> {
        Conn::open(self.target.netns_path(ns))
            .await
            .map_err(|source| KernelError::Namespace {
                op: "opening",
                ns: self.target.label(ns),
                source,
            })
    }

    /// [`Target::netns_file`], with the error naming the namespace.
    fn open_netns_file(&self, ns: &Ns) -> Result<File, KernelError> {
        self.target
            .netns_file(ns)
            .map_err(|source| KernelError::Namespace {
                op: "opening",
                ns: self.target.label(ns),
                source,
            })
    }

    /// The cell holding the ifindex of link `name` in `ns` (see the field).
    fn ifindex_cell(&self, ns: &Ns, name: &str) -> IfindexCell {
        lock(&self.ifindexes)
            .entry((ns.clone(), name.to_string()))
            .or_default()
            .clone()
    }

    /// Forget the ifindex of one link, or (`None`) of every link.
    fn forget_ifindexes(&self, link: Option<(&Ns, &str)>) {
        let mut cells = lock(&self.ifindexes);
        match link {
            Some((ns, name)) => {
                cells.remove(&(ns.clone(), name.to_string()));
            }
            None => cells.clear(),
        }
    }

    /// The veths of the host namespace as (ifindex, peer's ifindex), from a dump started at
    /// or after `since`. The deletions of one wave share the dumps: a thousand namespaces
    /// deleted at once wait on one reading every few milliseconds, not on a thousand
    /// RTM_GETLINKs each.
    async fn host_veths(
        &self,
        host: &Conn,
        since: tokio::time::Instant,
    ) -> io::Result<Arc<std::collections::HashSet<(u32, u32)>>> {
        let mut last = self.host_veths.lock().await;
        if let Some(seen) = last.as_ref().filter(|seen| seen.started >= since) {
            return Ok(seen.pairs.clone());
        }
        let started = tokio::time::Instant::now();
        let replies = host.dump(observe::link_dump_request()).await?;
        let pairs: std::collections::HashSet<(u32, u32)> = observe::parse_links(&replies)
            .into_iter()
            .filter(|l| l.kind.as_deref() == Some("veth"))
            .filter_map(|l| Some((l.index, l.link?)))
            .collect();
        let pairs = Arc::new(pairs);
        *last = Some(HostVeths {
            started,
            pairs: pairs.clone(),
        });
        Ok(pairs)
    }

    /// Forget the connection to a namespace (after deleting it).
    fn forget(&self, ns: &Ns) {
        lock(&self.conns).remove(ns);
        lock(&self.nft).remove(ns);
        lock(&self.ipv6_defaults).remove(ns);
    }

    /// Record that this handle created `ns` with IPv6 `on` or off for its new interfaces.
    fn created_with_ipv6_default(&self, ns: Ns, on: bool) {
        lock(&self.ipv6_defaults).insert(ns, on);
    }

    /// The IPv6 default of `ns`'s new interfaces, if this handle created it.
    fn ipv6_default(&self, ns: &Ns) -> Option<bool> {
        lock(&self.ipv6_defaults).get(ns).copied()
    }
}
