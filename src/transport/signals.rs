//! Connection-level signals (SPEC §5): what the server would have measured on the
//! client's own TCP connection and loses behind the proxy, taken from the kernel so the
//! PROXY v2 header can carry them. Linux only; elsewhere every signal is one the kernel
//! cannot give, so none is sent.
//!
//! The reads are `getsockopt` calls: `TCP_SAVED_SYN` after accept (a few, see
//! `sys::take_saved_syn`) and one `TCP_INFO` when the upstream is dialled.

use tokio::net::{TcpSocket, TcpStream};

/// PROXY v2 TLV type of the client's SYN: IP header and TCP header with options.
pub const TLV_SYN: u8 = 0xE0;
/// PROXY v2 TLV type of the round-trip time and its variance, two big-endian u32 in µs.
pub const TLV_RTT: u8 = 0xE1;
/// The SPEC's bound on the SYN TLV: a 60-byte IPv4 header (with options) and a 60-byte
/// TCP header (with options) fit; a longer copy is not a plain SYN.
pub const MAX_SYN_BYTES: usize = 120;

/// Whether this build can read the SYN the kernel saved: on Linux it can.
pub const READS_SAVED_SYN: bool = cfg!(target_os = "linux");

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

/// Asks the kernel to keep the SYN of each connection `listener` accepts. The kernel
/// frees a saved SYN only when it is read or the connection closes, so the caller sets
/// this only when every session will call [`take_saved_syn`].
pub fn save_syns(listener: &TcpSocket) -> std::io::Result<()> {
    sys::save_syns(listener)
}

/// The SYN the kernel saved for `stream`, at most [`MAX_SYN_BYTES`]. The kernel hands it
/// out once and frees its copy, so this is called once, right after accept; a longer
/// copy is freed too and left out, as the SPEC's bound says.
pub fn take_saved_syn(stream: &TcpStream) -> Option<Vec<u8>> {
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

    use nix::errno::Errno;
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

    /// Reads the saved SYN with nix's own getters, which come in two kinds, neither made
    /// for a byte string of unknown length: `GetStruct<[u8; N]>` copies exactly `N`
    /// bytes and panics when the kernel returns any other length, and `GetOsString`
    /// stops at the first NUL byte (an IP header has many). The kernel's rules make them
    /// enough: a buffer shorter than the SYN fails with `EINVAL` and leaves the SYN in
    /// place, a long enough one receives it whole and frees the kernel's copy.
    ///
    /// So a one-byte `GetOsString` first asks whether a SYN is saved at all (none comes
    /// back as an empty string, one fails as too long). Then exact buffers are tried from
    /// the shortest SYN up, in steps of 4 bytes, since both headers are whole 32-bit words:
    /// every shorter try fails harmlessly, and the first that does not is the SYN's exact
    /// length, so `GetStruct`'s check holds. A SYN longer than [`super::MAX_SYN_BYTES`]
    /// is taken into a large `GetOsString` buffer only to free it. A typical IPv4 SYN
    /// (60 bytes) costs 7 calls, an IPv6 one (80 bytes) 12, each well under a microsecond.
    pub fn take_saved_syn(stream: &TcpStream) -> Option<Vec<u8>> {
        match getsockopt(stream, SynSaved) {
            // Empty: nothing saved (the listener did not ask, or it was read already).
            Ok(_) => return None,
            Err(Errno::EINVAL) => {}
            Err(_) => return None,
        }
        if let Some(syn) = exact::take(stream) {
            return Some(syn);
        }
        // Longer than the bound: free it, keep nothing.
        let _ = getsockopt(stream, SynDiscard);
        None
    }

    sockopt_impl!(
        /// `TCP_SAVED_SYN` into one byte: tells whether a SYN is saved, takes nothing.
        SynSaved,
        GetOnly,
        libc::IPPROTO_TCP,
        libc::TCP_SAVED_SYN,
        std::ffi::OsString,
        nix::sys::socket::sockopt::GetOsString<[u8; 1]>
    );
    sockopt_impl!(
        /// `TCP_SAVED_SYN` into a buffer larger than any SYN a kernel saves, to free one
        /// beyond the bound; what it returns is cut at the first NUL and not used.
        SynDiscard,
        GetOnly,
        libc::IPPROTO_TCP,
        libc::TCP_SAVED_SYN,
        std::ffi::OsString,
        nix::sys::socket::sockopt::GetOsString<[u8; 4096]>
    );

    mod exact {
        //! One `TCP_SAVED_SYN` option per possible SYN length, 40 to 120 bytes.

        use nix::errno::Errno;
        use nix::libc;
        use nix::sys::socket::getsockopt;
        use nix::{getsockopt_impl, sockopt_impl};
        use tokio::net::TcpStream;

        macro_rules! by_length {
            ($($name:ident = $len:literal),+ $(,)?) => {
                $(sockopt_impl!(
                    $name,
                    GetOnly,
                    libc::IPPROTO_TCP,
                    libc::TCP_SAVED_SYN,
                    [u8; $len]
                );)+

                /// The saved SYN if it is 40 to 120 bytes long, shortest length first.
                pub fn take(stream: &TcpStream) -> Option<Vec<u8>> {
                    $(match getsockopt(stream, $name) {
                        Ok(syn) => return Some(syn.to_vec()),
                        Err(Errno::EINVAL) => {}
                        Err(_) => return None,
                    })+
                    None
                }
            };
        }

        by_length!(
            Syn40 = 40,
            Syn44 = 44,
            Syn48 = 48,
            Syn52 = 52,
            Syn56 = 56,
            Syn60 = 60,
            Syn64 = 64,
            Syn68 = 68,
            Syn72 = 72,
            Syn76 = 76,
            Syn80 = 80,
            Syn84 = 84,
            Syn88 = 88,
            Syn92 = 92,
            Syn96 = 96,
            Syn100 = 100,
            Syn104 = 104,
            Syn108 = 108,
            Syn112 = 112,
            Syn116 = 116,
            Syn120 = 120,
        );
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

    /// The kernel's copy is handed out once: a second read finds nothing, and a
    /// listener that was not told to save SYNs gives none.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_saved_syn_is_read_once_and_only_when_saved() {
        for save in [true, false] {
            let socket = TcpSocket::new_v4().unwrap();
            if save {
                save_syns(&socket).unwrap();
            }
            socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let listener = socket.listen(16).unwrap();
            let addr = listener.local_addr().unwrap();
            let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let (client, (server, _)) = (client.unwrap(), accepted.unwrap());
            let first = take_saved_syn(&server);
            if !save {
                assert_eq!(first, None);
                continue;
            }
            let syn = first.expect("the saved SYN");
            assert!((40..=MAX_SYN_BYTES).contains(&syn.len()), "{}", syn.len());
            assert_eq!(syn[0] >> 4, 4, "an IPv4 header");
            let tcp = &syn[usize::from(syn[0] & 0x0f) * 4..];
            let source_port = u16::from_be_bytes([tcp[0], tcp[1]]);
            assert_eq!(source_port, client.local_addr().unwrap().port());
            assert_eq!(tcp[13] & 0x12, 0x02, "SYN set, ACK clear");
            assert_eq!(take_saved_syn(&server), None, "freed at the first read");
        }
    }
}
