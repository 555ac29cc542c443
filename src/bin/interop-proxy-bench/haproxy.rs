//! HAProxy in `mode tcp`: the relay operators already run (Debian package `haproxy`),
//! the second plain-relay peer. It runs in the foreground without master-worker (`-db`,
//! no `-W`), so the process started is the one that relays and is measured.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::child::{Child, Launch};

/// `haproxy` on `PATH`, if installed.
pub fn find() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join("haproxy"))
            .find(|p| p.is_file())
    })
}

/// The configuration: `threads` threads, `maxconn` connections, long client and server
/// timeouts (idle sessions only send a keepalive every 15 to 30 s), no logging; the rest
/// (its listen backlog among it) HAProxy's defaults, as operators run it.
fn config(listen: SocketAddr, upstream: SocketAddr, threads: usize, maxconn: usize) -> String {
    format!(
        "global\n\
         \x20   nbthread {threads}\n\
         \x20   maxconn {maxconn}\n\
         defaults\n\
         \x20   mode tcp\n\
         \x20   maxconn {maxconn}\n\
         \x20   timeout connect 10s\n\
         \x20   timeout client 10m\n\
         \x20   timeout server 10m\n\
         listen relay\n\
         \x20   bind {listen}\n\
         \x20   server whatsapp {upstream}\n"
    )
}

/// Starts `binary` in front of `upstream` on a free loopback port, its configuration
/// written to `dir`.
pub fn start(
    binary: &Path,
    dir: &Path,
    upstream: SocketAddr,
    threads: usize,
    maxconn: usize,
    launch: &Launch,
) -> anyhow::Result<Child> {
    // A port the kernel just handed out and took back: HAProxy needs it in its
    // configuration, and nothing else on loopback binds ports by number.
    let listen = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let file = dir.join(format!("haproxy-{}.cfg", listen.port()));
    std::fs::write(&file, config(listen, upstream, threads, maxconn))?;
    let file = file.to_string_lossy().into_owned();
    Child::spawn_listening("haproxy", binary, &["-db", "-f", &file], listen, launch)
}
