//! TCP and UDP probes for `lab verify`, without spawning anything: listeners opened by threads
//! that entered the target namespaces (a socket stays bound to the namespace it was made in),
//! served by one responder thread, and probes sent by threads that entered the sender's
//! namespace.
//!
//! A TCP probe passes when the connection is established (the SYN-ACK came back); the responder
//! accepts and closes connections so the listen queue never fills. A UDP probe passes when its
//! datagram comes back: the responder echoes every datagram. Listeners bind `[::]` (which takes
//! IPv4 too), or `0.0.0.0` where IPv6 is off. A TCP port something else listens on already is
//! probed as it is (a listener answers a handshake, whoever it is); a UDP one cannot be (nobody
//! promises an answer), so its probes fail naming the port.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Run `f` on a thread inside the namespace at `netns` (a thread of its own: `setns` changes
/// the calling thread's namespace for good). Also used by [`super::ping`].
pub(super) fn in_netns<T: Send>(
    netns: &Path,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let ns = std::fs::File::open(netns)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", netns.display())))?;
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// Bind on every address of the namespace, IPv6 and IPv4 alike when it can.
fn bind<T>(port: u16, f: impl Fn(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    f(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port))).or_else(|e| {
        if e.raw_os_error() == Some(libc::EAFNOSUPPORT) {
            f(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)))
        } else {
            Err(e)
        }
    })
}

enum Socket {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Socket {
    fn fd(&self) -> i32 {
        match self {
            Socket::Tcp(l) => l.as_raw_fd(),
            Socket::Udp(s) => s.as_raw_fd(),
        }
    }

    /// Accept and drop what is pending, or echo what arrived (all non-blocking).
    fn serve(&self) {
        match self {
            Socket::Tcp(l) => while l.accept().is_ok() {},
            Socket::Udp(s) => {
                let mut buf = [0u8; 512];
                while let Ok((n, from)) = s.recv_from(&mut buf) {
                    let _ = s.send_to(&buf[..n], from);
                }
            }
        }
    }
}

/// Listeners in some namespaces, served until dropped.
pub struct Listeners {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// One listener to open: (namespace file, TCP or UDP, port).
pub type ListenerSpec<'a> = (&'a Path, bool, u16);

impl Listeners {
    /// Open every listener in `specs` (`true`: TCP) and start serving them. Returns the
    /// listeners and, for each spec that could not be opened, its error (in spec order).
    pub fn open(specs: &[ListenerSpec<'_>]) -> (Listeners, Vec<Option<io::Error>>) {
        let mut sockets = Vec::new();
        let mut errors = Vec::new();
        for &(netns, tcp, port) in specs {
            let opened = in_netns(netns, || {
                if tcp {
                    let l = bind(port, TcpListener::bind)?;
                    l.set_nonblocking(true)?;
                    Ok(Socket::Tcp(l))
                } else {
                    let s = bind(port, UdpSocket::bind)?;
                    s.set_nonblocking(true)?;
                    Ok(Socket::Udp(s))
                }
            });
            match opened {
                Ok(socket) => {
                    sockets.push(socket);
                    errors.push(None);
                }
                Err(e) if tcp && e.kind() == io::ErrorKind::AddrInUse => errors.push(None),
                Err(e) => errors.push(Some(e)),
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(&sockets, &flag));
        (
            Listeners {
                stop,
                thread: Some(thread),
            },
            errors,
        )
    }
}

/// Wait for any socket to be readable (at most 50 ms, to notice `stop`), serve the ready ones.
fn serve(sockets: &[Socket], stop: &AtomicBool) {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        // SAFETY: `fds` is a valid array of pollfd of the given length for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if ready <= 0 {
            continue;
        }
        for (pfd, socket) in fds.iter_mut().zip(sockets) {
            if pfd.revents != 0 {
                socket.serve();
                pfd.revents = 0;
            }
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Up to `attempts` TCP connections from the namespace at `netns` to `dst`, each given
/// `timeout`: Ok(true) as soon as one is established.
pub fn tcp(netns: &Path, dst: SocketAddr, attempts: u16, timeout: Duration) -> io::Result<bool> {
    in_netns(netns, || {
        for _ in 0..attempts {
            match TcpStream::connect_timeout(&dst, timeout) {
                Ok(_) => return Ok(true),
                // Refused (nothing listens) or unreachable: an answer, no point retrying.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return Ok(false),
                Err(_) => {}
            }
        }
        Ok(false)
    })
}

/// Up to `attempts` UDP datagrams from the namespace at `netns` to `dst`, each waiting
/// `timeout` for its echo: Ok(true) as soon as one comes back.
pub fn udp(netns: &Path, dst: SocketAddr, attempts: u16, timeout: Duration) -> io::Result<bool> {
    in_netns(netns, || {
        let local: SocketAddr = match dst {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local)?;
        socket.set_read_timeout(Some(timeout))?;
        let mut buf = [0u8; 64];
        for attempt in 0..attempts {
            let token = [b'n', b'p', attempt as u8];
            if socket.send_to(&token, dst).is_err() {
                continue;
            }
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                if from == dst && buf[..n] == token {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In the test process's own namespace (no root needed): a TCP and a UDP listener on
    /// loopback answer their probes, a closed port does not.
    #[test]
    fn listeners_answer_tcp_and_udp_probes() {
        let own = Path::new("/proc/self/ns/net");
        // Free ports: bind port 0, note the port, close, then listen there.
        let free = |tcp: bool| -> u16 {
            if tcp {
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            } else {
                UdpSocket::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            }
        };
        let (t, u) = (free(true), free(false));
        let (listeners, errors) = Listeners::open(&[(own, true, t), (own, false, u)]);
        // setns, even into one's own namespace, needs CAP_SYS_ADMIN: without root, skip.
        if let Some(Some(e)) = errors.first()
            && e.raw_os_error() == Some(libc::EPERM)
        {
            return;
        }
        assert!(errors.iter().all(Option::is_none), "{errors:?}");
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let second = Duration::from_secs(1);
        assert!(tcp(own, at(t), 1, second).unwrap(), "tcp probe");
        assert!(udp(own, at(u), 2, second).unwrap(), "udp probe");
        drop(listeners);
        assert!(!tcp(own, at(t), 1, second).unwrap(), "closed tcp port");
    }
}
