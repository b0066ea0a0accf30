//! ICMP echo from inside a network namespace, without spawning `ping`: a raw ICMP (IPv4) or
//! ICMPv6 socket opened by a thread that entered the namespace (a socket stays bound to the
//! namespace it was created in).
//!
//! IPv4: we fill the ICMP checksum; received datagrams start with the IP header. IPv6: the kernel
//! computes and checks the ICMPv6 checksum on raw `IPPROTO_ICMPV6` sockets (RFC 3542, it covers
//! a pseudo-header we could not build without knowing the source address), and received
//! datagrams start at the ICMPv6 header, the source coming from `recvfrom`.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

const ICMP_ECHO_REQUEST: u8 = 8;
const ICMP_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// Distinguishes concurrent pings: raw ICMP sockets see every ICMP packet of the namespace.
static NEXT_ID: AtomicU16 = AtomicU16::new(1);

/// Send up to `attempts` echo requests from the namespace at `netns` (e.g.
/// `/run/netns/NAME`) to `dst`, waiting `timeout` for each reply. Ok(true) as soon as one reply
/// arrives; Ok(false) when none does (including "network unreachable" at send time).
pub fn ping(netns: &Path, dst: IpAddr, attempts: u16, timeout: Duration) -> io::Result<bool> {
    super::transport::in_netns(netns, || {
        let socket = icmp_socket(dst)?;
        let id = NEXT_ID
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(std::process::id() as u16);
        for seq in 1..=attempts {
            send_echo(&socket, dst, id, seq)?;
            if wait_reply(&socket, dst, id, seq, timeout)? {
                return Ok(true);
            }
        }
        Ok(false)
    })
}

fn icmp_socket(dst: IpAddr) -> io::Result<OwnedFd> {
    let (family, protocol) = match dst {
        IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP),
        IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6),
    };
    // SAFETY: plain socket(2) call; the fd is owned by the returned OwnedFd.
    let fd = unsafe { libc::socket(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockaddr4(dst: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_in = unsafe { zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
    addr
}

fn sockaddr6(dst: Ipv6Addr) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_in6 = unsafe { zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_addr.s6_addr = dst.octets();
    addr
}

fn send_to<T>(socket: &OwnedFd, packet: &[u8], addr: &T) -> isize {
    // SAFETY: buffer and address pointers are valid for the lengths given; T is a sockaddr_*.
    unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (addr as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    }
}

fn send_echo(socket: &OwnedFd, dst: IpAddr, id: u16, seq: u16) -> io::Result<()> {
    let sent = match dst {
        IpAddr::V4(v4) => send_to(socket, &echo_request(id, seq), &sockaddr4(v4)),
        IpAddr::V6(v6) => send_to(socket, &echo_request_v6(id, seq), &sockaddr6(v6)),
    };
    if sent < 0 {
        let err = io::Error::last_os_error();
        // No route / unreachable: a failed ping, not an error of the tool.
        if matches!(
            err.raw_os_error(),
            Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
        ) {
            return Ok(());
        }
        return Err(err);
    }
    Ok(())
}

/// Wait for the matching echo reply until `timeout` passes.
fn wait_reply(
    socket: &OwnedFd,
    dst: IpAddr,
    id: u16,
    seq: u16,
    timeout: Duration,
) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        let left = deadline - now;
        let mut pfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        if ready == 0 {
            return Ok(false);
        }
        // SAFETY: sockaddr_in6 is plain old data and large enough for either family.
        let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
        let mut from_len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        // SAFETY: buffer and address valid for the lengths given.
        let n = unsafe {
            libc::recvfrom(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_in6).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) {
                continue;
            }
            return Err(err);
        }
        let datagram = &buf[..n as usize];
        let matched = match dst {
            IpAddr::V4(v4) => is_reply(datagram, v4, id, seq),
            IpAddr::V6(v6) => {
                Ipv6Addr::from(from.sin6_addr.s6_addr) == v6 && is_reply_v6(datagram, id, seq)
            }
        };
        if matched {
            return Ok(true);
        }
    }
}

/// An ICMP echo request with a 16-byte payload.
fn echo_request(id: u16, seq: u16) -> Vec<u8> {
    let mut packet = vec![0u8; 8 + 16];
    packet[0] = ICMP_ECHO_REQUEST;
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in packet[8..].iter_mut().enumerate() {
        *byte = i as u8;
    }
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// An ICMPv6 echo request with a 16-byte payload; the checksum is left to the kernel.
fn echo_request_v6(id: u16, seq: u16) -> Vec<u8> {
    let mut packet = echo_request(id, seq);
    packet[0] = ICMPV6_ECHO_REQUEST;
    packet[2..4].copy_from_slice(&[0, 0]);
    packet
}

/// An echo reply of type `reply` (ICMP or ICMPv6: same layout) with our id and seq.
fn is_echo_reply(icmp: &[u8], reply: u8, id: u16, seq: u16) -> bool {
    icmp.len() >= 8
        && icmp[0] == reply
        && icmp[4..6] == id.to_be_bytes()
        && icmp[6..8] == seq.to_be_bytes()
}

/// Raw ICMPv6 sockets deliver the ICMPv6 message only (the source is checked by the caller).
fn is_reply_v6(icmp: &[u8], id: u16, seq: u16) -> bool {
    is_echo_reply(icmp, ICMPV6_ECHO_REPLY, id, seq)
}

/// Raw IPv4 sockets deliver the IP header too: skip it, then match type, source, id and seq.
fn is_reply(datagram: &[u8], dst: Ipv4Addr, id: u16, seq: u16) -> bool {
    let Some(&first) = datagram.first() else {
        return false;
    };
    let header_len = usize::from(first & 0x0f) * 4;
    if datagram.len() < header_len + 8 || header_len < 20 {
        return false;
    }
    let source = Ipv4Addr::new(datagram[12], datagram[13], datagram[14], datagram[15]);
    source == dst && is_echo_reply(&datagram[header_len..], ICMP_ECHO_REPLY, id, seq)
}

/// RFC 1071 Internet checksum.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_request_verifies_to_zero() {
        let packet = echo_request(0x1234, 7);
        assert_eq!(checksum(&packet), 0);
    }

    #[test]
    fn reply_matching() {
        let mut datagram = vec![0x45u8; 20];
        datagram[12..16].copy_from_slice(&[10, 0, 0, 2]);
        let mut icmp = echo_request(9, 3);
        icmp[0] = ICMP_ECHO_REPLY;
        datagram.extend_from_slice(&icmp);
        let dst = Ipv4Addr::new(10, 0, 0, 2);
        assert!(is_reply(&datagram, dst, 9, 3));
        assert!(!is_reply(&datagram, dst, 9, 4));
        assert!(!is_reply(&datagram, Ipv4Addr::new(10, 0, 0, 3), 9, 3));
        assert!(!is_reply(&datagram[..10], dst, 9, 3));
    }

    #[test]
    fn v6_request_and_reply_matching() {
        let request = echo_request_v6(0x1234, 7);
        assert_eq!(request[0], ICMPV6_ECHO_REQUEST);
        assert_eq!(&request[2..4], &[0, 0], "the kernel fills the checksum");
        assert_eq!(&request[4..8], &[0x12, 0x34, 0, 7]);
        let mut reply = request.clone();
        reply[0] = ICMPV6_ECHO_REPLY;
        assert!(is_reply_v6(&reply, 0x1234, 7));
        assert!(
            !is_reply_v6(&request, 0x1234, 7),
            "our own request is not a reply"
        );
        assert!(!is_reply_v6(&reply, 0x1234, 8));
        assert!(!is_reply_v6(&reply[..6], 0x1234, 7));
    }
}
