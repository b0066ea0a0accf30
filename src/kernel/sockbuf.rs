//! Netlink socket buffer sizes and receive timeouts. The kernel drops a reply that does not fit
//! the receive buffer (and reports ENOBUFS on the next read), so sockets that have many replies
//! outstanding set their buffers above the `net.core.{r,w}mem_max` defaults with the FORCE
//! options (they need CAP_NET_ADMIN, which changing the network needs anyway), falling back to
//! the plain ones (capped by the sysctls) when unprivileged. Blocking sockets also get a
//! receive timeout, so that a silent kernel is an error, not a hang.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Set one buffer size with `force`, falling back to `plain`.
fn set(fd: RawFd, force: libc::c_int, plain: libc::c_int, size: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX / 2);
    let set = |opt| {
        // SAFETY: setsockopt with a valid fd and a correctly sized c_int.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        }
    };
    if set(force) == 0 || set(plain) == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Set the receive buffer of `sock` to `size` bytes (the kernel doubles it for bookkeeping).
pub(crate) fn set_rcvbuf(sock: &impl AsRawFd, size: usize) -> io::Result<()> {
    set(
        sock.as_raw_fd(),
        libc::SO_RCVBUFFORCE,
        libc::SO_RCVBUF,
        size,
    )
}

/// Set the send buffer of `sock` to `size` bytes (a netlink message larger than it fails with
/// EMSGSIZE).
pub(crate) fn set_sndbuf(sock: &impl AsRawFd, size: usize) -> io::Result<()> {
    set(
        sock.as_raw_fd(),
        libc::SO_SNDBUFFORCE,
        libc::SO_SNDBUF,
        size,
    )
}

/// Make reads on `sock` fail with EAGAIN after `timeout` without data (SO_RCVTIMEO), for
/// blocking sockets that must never wait forever.
pub(crate) fn set_recv_timeout(
    sock: &impl AsRawFd,
    timeout: std::time::Duration,
) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: setsockopt with a valid fd and a correctly sized timeval.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Read one datagram from a blocking netlink socket whose reads time out after `timeout`
/// (see [`set_recv_timeout`]). The two ways replies go missing get messages that say so,
/// naming the socket (`what`): the timeout, and a dropped reply (ENOBUFS: the receive buffer
/// was too small).
pub(crate) fn recv_within(
    sock: &netlink_sys::Socket,
    buf: &mut Vec<u8>,
    timeout: std::time::Duration,
    what: &str,
) -> io::Result<()> {
    buf.clear();
    match sock.recv(buf, 0) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no reply from the kernel within {timeout:?} ({what})"),
        )),
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Err(io::Error::other(format!(
            "the kernel's replies were dropped ({what} overrun, ENOBUFS)"
        ))),
        Err(e) => Err(e),
    }
}

/// The receive buffer size the kernel reports (twice what was set).
#[cfg(test)]
pub(crate) fn rcvbuf(sock: &impl AsRawFd) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt with a valid fd, a c_int and its size.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_sys::{Socket, protocols::NETLINK_ROUTE};

    #[test]
    fn the_receive_buffer_grows_past_the_default() {
        let sock = Socket::new(NETLINK_ROUTE).expect("netlink socket");
        let before = rcvbuf(&sock).expect("read");
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .expect("rmem_max")
            .trim()
            .parse()
            .expect("a number");
        let want = 8 << 20;
        set_rcvbuf(&sock, want).expect("set");
        let after = rcvbuf(&sock).expect("read");
        // With CAP_NET_ADMIN the size is forced; without, it is capped by rmem_max.
        assert!(after >= 2 * want.min(max), "{before} -> {after}");
        assert!(after >= before);
    }
}
