//! Which IP addresses are outside the public internet: private, loopback, link-local,
//! reserved, and every IPv6 spelling that embeds such an IPv4 address (IPv4-mapped,
//! IPv4-compatible, SIIT, NAT64, 6to4, Teredo). A translator or relay on the path turns
//! those IPv6 addresses back into the IPv4 one, so they reach what the IPv4 one reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address is outside the public internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network" 0/8
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15, often lab networks
        || a >= 240 // reserved 240/4
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_private_v4(v4);
    }
    let s = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site local fec0::/10 (deprecated, still routed inside sites)
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
}

/// The IPv4 address an IPv6 address stands for, when it is one of the embedding forms.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // SIIT IPv4-translated ::ffff:0:a.b.c.d
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        // IPv4-compatible ::a.b.c.d (deprecated). `::` and `::1` are IPv6's own
        // unspecified and loopback, classified as such by the caller.
        [0, 0, 0, 0, 0, 0, _, _] if !ip.is_unspecified() && !ip.is_loopback() => Some(low),
        // Well-known NAT64 prefix 64:ff9b::/96 (RFC 6052)
        [0x0064, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 6to4 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD (RFC 3056)
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        // Teredo 2001:0::/32: the client's address is the last 32 bits inverted
        // (RFC 4380). The server's (bits 32-63) is public by construction.
        [0x2001, 0, ..] => Some(Ipv4Addr::from(!u32::from(low))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(text: &str) -> bool {
        is_private(text.parse().unwrap())
    }

    #[test]
    fn private_v4_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "127.0.0.2",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254", // cloud metadata
            "169.254.1.1",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
        ] {
            assert!(private(ip), "{ip} is private");
        }
        for ip in [
            "8.8.8.8",
            "93.184.216.34",
            "100.128.0.1",
            "192.0.1.1",
            "198.20.0.1",
        ] {
            assert!(!private(ip), "{ip} is public");
        }
    }

    #[test]
    fn private_v6_ranges_are_recognised() {
        for ip in [
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "64:ff9b:1::a00:1", // local-use NAT64, whatever it embeds
            "64:ff9b:1:ffff::1",
        ] {
            assert!(private(ip), "{ip} is private");
        }
        for ip in ["2606:4700::1111", "2a00:1450:4001::200e", "64:ff9b:2::1"] {
            assert!(!private(ip), "{ip} is public");
        }
    }

    /// Each form that carries an IPv4 address: private when that address is, public when
    /// it is public (so the classifier reads the right bits, not the prefix alone).
    #[test]
    fn embedded_v4_addresses_are_classified_by_the_v4_address() {
        let cases = [
            // (spelling of 127.0.0.1 or 169.254.169.254, spelling of 8.8.8.8)
            ("::ffff:127.0.0.1", "::ffff:8.8.8.8"), // IPv4-mapped (regression)
            ("::ffff:7f00:1", "::ffff:808:808"),    // IPv4-mapped, hex
            ("::7f00:1", "::808:808"),              // IPv4-compatible
            ("::127.0.0.2", "::8.8.4.4"),           // IPv4-compatible, dotted
            ("::ffff:0:a9fe:a9fe", "::ffff:0:808:808"), // SIIT
            ("64:ff9b::7f00:1", "64:ff9b::808:808"), // NAT64
            ("64:ff9b::169.254.169.254", "64:ff9b::8.8.8.8"),
            ("64:ff9b::a00:1", "64:ff9b::5db8:d822"), // NAT64 of 10.0.0.1 / 93.184.216.34
            ("2002:7f00:1::", "2002:808:808::1"),     // 6to4
            ("2002:a9fe:a9fe:1::1", "2002:5db8:d822::"), // 6to4 of the metadata address
            ("2002:c0a8:101::1", "2002:808:404::1"),  // 6to4 of 192.168.1.1 / 8.8.4.4
            (
                "2001:0:4136:e378:8000:63bf:80ff:fffe",
                "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
            ), // Teredo 127.0.0.1 / 8.8.8.8
        ];
        for (private_form, public_form) in cases {
            assert!(private(private_form), "{private_form} is private");
            assert!(!private(public_form), "{public_form} is public");
        }
    }
}
