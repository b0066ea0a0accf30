//! Ethernet MAC addresses: parsing, formatting and the deterministic derivations netplan-rs uses.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Docker's container MAC scheme: `02:42` followed by the four IPv4 bytes.
    pub fn docker(ip: Ipv4Addr) -> Mac {
        let o = ip.octets();
        Mac([0x02, 0x42, o[0], o[1], o[2], o[3]])
    }

    /// A locally administered unicast MAC hashed from a list of parts (e.g. network, host).
    /// FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
    pub fn hashed(parts: &[&str]) -> Mac {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in parts {
            for byte in part.bytes().chain(std::iter::once(0)) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        let b = hash.to_be_bytes();
        // 0x02 bit: locally administered; clear 0x01: unicast. Avoid Docker's 02:42 prefix.
        let mut first = (b[0] & 0xfc) | 0x02;
        if first == 0x02 && b[1] == 0x42 {
            first = 0x06;
        }
        Mac([first, b[1], b[2], b[3], b[4], b[5]])
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Mac> {
        <[u8; 6]>::try_from(bytes).ok().map(Mac)
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in out.iter_mut() {
            let part = parts
                .next()
                .ok_or_else(|| format!("{s:?} is not a MAC address"))?;
            *byte =
                u8::from_str_radix(part, 16).map_err(|_| format!("{s:?} is not a MAC address"))?;
        }
        if parts.next().is_some() {
            return Err(format!("{s:?} is not a MAC address"));
        }
        Ok(Mac(out))
    }
}

impl serde::Serialize for Mac {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Mac {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_scheme() {
        assert_eq!(
            Mac::docker(Ipv4Addr::new(172, 18, 10, 2)).to_string(),
            "02:42:ac:12:0a:02"
        );
    }

    #[test]
    fn hashed_is_stable_local_unicast() {
        let a = Mac::hashed(&["overlay", "node-1"]);
        assert_eq!(a, Mac::hashed(&["overlay", "node-1"]));
        assert_ne!(a, Mac::hashed(&["overlay", "node-2"]));
        assert_eq!(a.0[0] & 0x03, 0x02);
    }

    #[test]
    fn parse_roundtrip() {
        let m: Mac = "0e:e6:e6:5d:c2:da".parse().unwrap();
        assert_eq!(m.to_string(), "0e:e6:e6:5d:c2:da");
        assert!("0e:e6".parse::<Mac>().is_err());
        assert!("0e:e6:e6:5d:c2:da:00".parse::<Mac>().is_err());
    }
}
