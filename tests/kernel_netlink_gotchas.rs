//! Kernel behaviours the kernel layer relies on, pinned as tests so a kernel or crate upgrade
//! that changes them is noticed. Each runs in a namespace of its own (never the root one).

use futures::TryStreamExt;
use netplan_rs::kernel::netns;
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute};
use rtnetlink::{LinkBridge, LinkMessageBuilder, LinkUnspec};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct Ns(String);

impl Ns {
    fn new() -> Ns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("nptest-{}-g{n}", std::process::id());
        netns::create(&name).expect("create netns");
        Ns(name)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = netns::delete(&self.0);
    }
}

/// Run an async block with an rtnetlink handle whose socket lives in `ns`.
fn in_ns<T: Send + 'static, F>(
    ns: &Ns,
    f: impl FnOnce(rtnetlink::Handle) -> F + Send + 'static,
) -> T
where
    F: std::future::Future<Output = T>,
{
    netns::run_in(Some(netns::path(&ns.0)), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(rt.block_on(async move {
            let (conn, handle, _) = rtnetlink::new_connection().expect("connection");
            tokio::spawn(conn);
            f(handle).await
        }))
    })
    .expect("thread in namespace")
}

async fn alias_of(handle: &rtnetlink::Handle, name: &str) -> Option<String> {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .ok()??;
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfAlias(s) => Some(s.clone()),
        _ => None,
    })
}

/// RTM_NEWLINK silently drops IFLA_IFALIAS; only RTM_SETLINK sets it. This is why link creation
/// is followed by a SETLINK that writes the ownership mark.
#[test]
fn newlink_ignores_ifalias_setlink_sets_it() {
    let ns = Ns::new();
    let (after_new, after_set) = in_ns(&ns, |handle| async move {
        let msg = LinkBridge::new("br-g").alias("mark").build();
        handle.link().add(msg).execute().await.expect("add bridge");
        let after_new = alias_of(&handle, "br-g").await;
        let msg = LinkUnspec::new_with_name("br-g").alias("mark").build();
        handle.link().set(msg).execute().await.expect("set alias");
        (after_new, alias_of(&handle, "br-g").await)
    });
    assert_eq!(after_new, None);
    assert_eq!(after_set.as_deref(), Some("mark"));
}

/// A link kind the kernel does not have ("Unknown device type", e.g. `dummy` on the machine these
/// tests were written on) is EOPNOTSUPP, which the kernel layer maps to
/// `KernelError::Unsupported`.
#[test]
fn unknown_link_kind_is_eopnotsupp() {
    let ns = Ns::new();
    let result = in_ns(&ns, |handle| async move {
        let msg = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(InfoKind::Other(
            "no-such-kind".into(),
        ))
        .name("x0".to_string())
        .build();
        handle.link().add(msg).execute().await
    });
    match result {
        Err(rtnetlink::Error::NetlinkError(e)) => {
            assert_eq!(e.to_io().raw_os_error(), Some(libc::EOPNOTSUPP))
        }
        other => panic!("expected EOPNOTSUPP, got {other:?}"),
    }
}
