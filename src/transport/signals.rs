//! Connection-level signals (SPEC §5): what the server would have measured on the
//! client's own TCP connection and loses behind the proxy, taken from the kernel so the
//! PROXY v2 header can carry them. Linux only; elsewhere every signal is one the kernel
//! cannot give, so none is sent.
//!
//! Each read is one `getsockopt` per session: `TCP_SAVED_SYN` after accept and
//! `TCP_INFO` when the upstream is dialled.

use tokio::net::{TcpSocket, TcpStream};

/// PROXY v2 TLV type of the client's SYN: IP header and TCP header with options.
pub const TLV_SYN: u8 = 0xE0;
/// PROXY v2 TLV type of the round-trip time and its variance, two big-endian u32 in µs.
pub const TLV_RTT: u8 = 0xE1;
/// The SPEC's bound on the SYN TLV: a 60-byte IPv4 header (with options) and a 60-byte
/// TCP header (with options) fit; a longer copy is not a plain SYN.
pub const MAX_SYN_BYTES: usize = 120;

/// Whether this build can read the SYN the kernel saved.
///
/// It cannot yet: `TCP_SAVED_SYN` returns a variable-length byte string, and none of the
/// crates the project may use reads one safely (rustix and socket2 have no such option;
/// nix's getters either insist on an exact length, panicking otherwise, or stop at the
/// first NUL byte, and an IP header has many). The crate admits no `unsafe` of its own,
/// so until one of them does, the SYN TLV is left out, as SPEC §5 says of a signal the
/// kernel cannot give.
pub const READS_SAVED_SYN: bool = false;

/// The client connection's smoothed round-trip time and its mean deviation, as the
/// kernel's TCP_INFO reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rtt {
    /// Smoothed RTT, µs.
    pub rtt_us: u32,
    /// RTT variance (mean deviation), µs.
    pub rttvar_us: u32,
}

impl Rtt {
    /// The TLV value: RTT then variance, big-endian.
    pub fn to_tlv_value(self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&self.rtt_us.to_be_bytes());
        out[4..].copy_from_slice(&self.rttvar_us.to_be_bytes());
        out
    }

    /// Reads a TLV value written by [`Rtt::to_tlv_value`]; `None` unless it is 8 bytes.
    pub fn from_tlv_value(value: &[u8]) -> Option<Self> {
        let value: &[u8; 8] = value.try_into().ok()?;
        Some(Self {
            rtt_us: u32::from_be_bytes([value[0], value[1], value[2], value[3]]),
            rttvar_us: u32::from_be_bytes([value[4], value[5], value[6], value[7]]),
        })
    }
}

/// Asks the kernel to keep the SYN of each connection `listener` accepts.
///
/// A no-op while [`READS_SAVED_SYN`] is false: the kernel frees a saved SYN only when it
/// is read or the connection closes, so saving SYNs nothing reads would hold one per
/// session for the session's whole life.
pub fn save_syns(listener: &TcpSocket) -> std::io::Result<()> {
    if !READS_SAVED_SYN {
        return Ok(());
    }
    sys::save_syns(listener)
}

/// The SYN the kernel saved for `stream`, at most [`MAX_SYN_BYTES`]. The kernel hands it
/// out once and frees its copy, so this is called once, right after accept.
pub fn take_saved_syn(stream: &TcpStream) -> Option<Vec<u8>> {
    if !READS_SAVED_SYN {
        return None;
    }
    sys::take_saved_syn(stream)
}

/// The connection's RTT now; `None` when the kernel has no sample (it reports 0) or
/// cannot say.
pub fn rtt(stream: &TcpStream) -> Option<Rtt> {
    sys::rtt(stream).filter(|r| r.rtt_us > 0)
}

#[cfg(target_os = "linux")]
mod sys {
    //! The options through nix's own `sockopt_impl!`, so the `getsockopt` and its buffer
    //! handling are nix's code, not this crate's.

    use nix::libc;
    use nix::sys::socket::{getsockopt, setsockopt};
    use nix::{getsockopt_impl, setsockopt_impl, sockopt_impl};
    use tokio::net::{TcpSocket, TcpStream};

    use super::Rtt;

    /// The head of `struct tcp_info` (linux/tcp.h) up to `tcpi_rttvar`, a layout unchanged
    /// since Linux 2.6. Asking for this prefix only, rather than libc's whole struct,
    /// keeps the read exact on every kernel: the kernel copies min(asked, its own size),
    /// and each kernel's struct is at least this long.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct TcpInfoHead {
        /// state, ca_state, retransmits, probes, backoff, options, wscale, flags.
        _flags: [u8; 8],
        /// rto … rcv_ssthresh.
        _before_rtt: [u32; 15],
        /// Smoothed RTT, µs.
        rtt: u32,
        /// Mean deviation, µs.
        rttvar: u32,
    }

    sockopt_impl!(
        /// `TCP_SAVE_SYN`: keep each accepted connection's SYN until it is read.
        SaveSyn,
        Both,
        libc::IPPROTO_TCP,
        libc::TCP_SAVE_SYN,
        bool
    );
    sockopt_impl!(
        /// `TCP_INFO`, its head only.
        TcpInfo,
        GetOnly,
        libc::IPPROTO_TCP,
        libc::TCP_INFO,
        TcpInfoHead
    );

    pub fn save_syns(listener: &TcpSocket) -> std::io::Result<()> {
        setsockopt(listener, SaveSyn, &true).map_err(std::io::Error::from)
    }

    /// Whether `listener` keeps SYNs.
    #[cfg(test)]
    pub fn saves_syns(listener: &TcpSocket) -> bool {
        getsockopt(listener, SaveSyn).unwrap_or(false)
    }

    pub fn take_saved_syn(_stream: &TcpStream) -> Option<Vec<u8>> {
        // See READS_SAVED_SYN: no safe reader of TCP_SAVED_SYN exists yet.
        None
    }

    pub fn rtt(stream: &TcpStream) -> Option<Rtt> {
        let info = getsockopt(stream, TcpInfo).ok()?;
        Some(Rtt {
            rtt_us: info.rtt,
            rttvar_us: info.rttvar,
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    //! No signals: the options are Linux's.

    use tokio::net::{TcpSocket, TcpStream};

    use super::Rtt;

    pub fn save_syns(_listener: &TcpSocket) -> std::io::Result<()> {
        Ok(())
    }

    pub fn take_saved_syn(_stream: &TcpStream) -> Option<Vec<u8>> {
        None
    }

    pub fn rtt(_stream: &TcpStream) -> Option<Rtt> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtt_value_is_two_big_endian_words() {
        let rtt = Rtt {
            rtt_us: 0x0102_0304,
            rttvar_us: 0x0a0b_0c0d,
        };
        let value = rtt.to_tlv_value();
        assert_eq!(value, [1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]);
        assert_eq!(Rtt::from_tlv_value(&value), Some(rtt));
        assert_eq!(Rtt::from_tlv_value(&value[..7]), None);
    }

    /// The kernel's RTT of a fresh loopback connection: present, and far below a second.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_kernel_reports_a_loopback_rtt() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        let (_client, (server, _)) = (client.unwrap(), accepted.unwrap());
        let rtt = rtt(&server).expect("an RTT sample from the handshake");
        assert!(rtt.rtt_us > 0 && rtt.rtt_us < 1_000_000, "{rtt:?}");
    }

    /// The listener option itself works, so turning the SYN on is only the reader.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_listener_can_be_told_to_save_syns() {
        let _rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _guard = _rt.enter();
        let socket = TcpSocket::new_v4().unwrap();
        assert!(!sys::saves_syns(&socket));
        sys::save_syns(&socket).unwrap();
        assert!(sys::saves_syns(&socket));
    }
}
