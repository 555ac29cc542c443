//! A reader of the SYN TLV (0xE0) written from RFC 791, RFC 8200 and RFC 9293 alone, as
//! the server's side would read it: nothing of the proxy's code, so a test that passes
//! says the bytes are a real IP packet head, not that two halves of one program agree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP flag bits in byte 13 of the TCP header.
pub const FIN: u8 = 0x01;
/// SYN.
pub const SYN: u8 = 0x02;
/// RST.
pub const RST: u8 = 0x04;
/// ACK.
pub const ACK: u8 = 0x10;

/// One TCP option, in the order the sender wrote them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOption {
    /// Kind 0.
    End,
    /// Kind 1.
    Nop,
    /// Kind 2: maximum segment size.
    Mss(u16),
    /// Kind 3: window scale shift.
    WindowScale(u8),
    /// Kind 4.
    SackPermitted,
    /// Kind 8: TSval, TSecr.
    Timestamps(u32, u32),
    /// Anything else: kind and data.
    Other(u8, Vec<u8>),
}

/// The fields of a SYN that a p0f-style fingerprint uses, and the addressing.
#[derive(Clone, Debug)]
pub struct Syn {
    /// 4 or 6.
    pub ip_version: u8,
    /// IPv4 header length (IHL × 4), or 40 for IPv6 (no extension headers expected).
    pub ip_header_len: usize,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// IPv4 protocol or IPv6 next header.
    pub protocol: u8,
    /// IPv4 "don't fragment" (false for IPv6).
    pub dont_fragment: bool,
    /// IPv4 identification (0 for IPv6).
    pub ip_id: u16,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP source port.
    pub src_port: u16,
    /// TCP destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack_number: u32,
    /// TCP header length (data offset × 4).
    pub tcp_header_len: usize,
    /// Flag byte (CWR … FIN).
    pub flags: u8,
    /// Advertised window (unscaled, as on the wire).
    pub window: u16,
    /// The options, in order.
    pub options: Vec<TcpOption>,
}

impl Syn {
    /// The MSS option's value, if sent.
    pub fn mss(&self) -> Option<u16> {
        self.options.iter().find_map(|o| match o {
            TcpOption::Mss(m) => Some(*m),
            _ => None,
        })
    }

    /// The window scale option's value, if sent.
    pub fn window_scale(&self) -> Option<u8> {
        self.options.iter().find_map(|o| match o {
            TcpOption::WindowScale(w) => Some(*w),
            _ => None,
        })
    }

    /// The option order as p0f writes it (`mss,sok,ts,nop,ws`).
    pub fn option_layout(&self) -> String {
        let names: Vec<String> = self
            .options
            .iter()
            .map(|o| match o {
                TcpOption::End => "eol".into(),
                TcpOption::Nop => "nop".into(),
                TcpOption::Mss(_) => "mss".into(),
                TcpOption::WindowScale(_) => "ws".into(),
                TcpOption::SackPermitted => "sok".into(),
                TcpOption::Timestamps(..) => "ts".into(),
                TcpOption::Other(kind, _) => format!("?{kind}"),
            })
            .collect();
        names.join(",")
    }

    /// A p0f v3 style signature, `ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass`,
    /// with the TTL as observed (p0f would round it up to the initial TTL) and only the
    /// `df`, `id+` and `flow` quirks.
    pub fn p0f(&self) -> String {
        let mut quirks = Vec::new();
        if self.dont_fragment {
            quirks.push("df");
            if self.ip_id != 0 {
                quirks.push("id+");
            }
        }
        if self.flow_label != 0 {
            quirks.push("flow");
        }
        let mss = self.mss().map_or("*".to_string(), |m| m.to_string());
        let scale = self
            .window_scale()
            .map_or("0".to_string(), |w| w.to_string());
        format!(
            "{}:{}:0:{}:{},{}:{}:{}:0",
            self.ip_version,
            self.ttl,
            mss,
            self.window,
            scale,
            self.option_layout(),
            quirks.join(",")
        )
    }
}

/// Parses an IPv4 or IPv6 header followed by a TCP header with options; `Err` says what
/// is wrong.
pub fn parse(bytes: &[u8]) -> Result<Syn, String> {
    let first = *bytes.first().ok_or("empty")?;
    let (ip_header_len, ttl, protocol, dont_fragment, ip_id, flow_label, src, dst) =
        match first >> 4 {
            4 => {
                let ihl = usize::from(first & 0x0f) * 4;
                if ihl < 20 || bytes.len() < ihl {
                    return Err(format!("IPv4 header of {ihl} bytes in {}", bytes.len()));
                }
                let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
                let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
                (
                    ihl,
                    bytes[8],
                    bytes[9],
                    bytes[6] & 0x40 != 0,
                    u16::from_be_bytes([bytes[4], bytes[5]]),
                    0,
                    IpAddr::V4(src),
                    IpAddr::V4(dst),
                )
            }
            6 => {
                if bytes.len() < 40 {
                    return Err(format!("IPv6 header in {} bytes", bytes.len()));
                }
                let addr = |at: usize| {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(&bytes[at..at + 16]);
                    IpAddr::V6(Ipv6Addr::from(a))
                };
                let flow = u32::from_be_bytes([0, bytes[1] & 0x0f, bytes[2], bytes[3]]);
                (40, bytes[7], bytes[6], false, 0, flow, addr(8), addr(24))
            }
            v => return Err(format!("IP version {v}")),
        };
    let tcp = &bytes[ip_header_len..];
    if tcp.len() < 20 {
        return Err(format!("TCP header in {} bytes", tcp.len()));
    }
    let tcp_header_len = usize::from(tcp[12] >> 4) * 4;
    if tcp_header_len < 20 || tcp.len() != tcp_header_len {
        return Err(format!(
            "TCP data offset {tcp_header_len} with {} bytes after the IP header",
            tcp.len()
        ));
    }
    let word = |at: usize| u32::from_be_bytes([tcp[at], tcp[at + 1], tcp[at + 2], tcp[at + 3]]);
    Ok(Syn {
        ip_version: first >> 4,
        ip_header_len,
        ttl,
        protocol,
        dont_fragment,
        ip_id,
        flow_label,
        src,
        dst,
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        seq: word(4),
        ack_number: word(8),
        tcp_header_len,
        flags: tcp[13],
        window: u16::from_be_bytes([tcp[14], tcp[15]]),
        options: options(&tcp[20..tcp_header_len])?,
    })
}

/// The TCP options area, kind by kind.
fn options(mut area: &[u8]) -> Result<Vec<TcpOption>, String> {
    let mut out = Vec::new();
    while let Some(&kind) = area.first() {
        match kind {
            0 => {
                out.push(TcpOption::End);
                break;
            }
            1 => {
                out.push(TcpOption::Nop);
                area = &area[1..];
                continue;
            }
            _ => {}
        }
        let len = usize::from(*area.get(1).ok_or("option without length")?);
        if len < 2 || len > area.len() {
            return Err(format!("option {kind} of length {len}"));
        }
        let data = &area[2..len];
        out.push(match (kind, data.len()) {
            (2, 2) => TcpOption::Mss(u16::from_be_bytes([data[0], data[1]])),
            (3, 1) => TcpOption::WindowScale(data[0]),
            (4, 0) => TcpOption::SackPermitted,
            (8, 8) => TcpOption::Timestamps(
                u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ),
            _ => TcpOption::Other(kind, data.to_vec()),
        });
        area = &area[len..];
    }
    Ok(out)
}

/// A hex dump, 16 bytes a line with offsets, for the test's output and the docs.
pub fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, line)| {
            let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:04x}  {}", i * 16, hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
