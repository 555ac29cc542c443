//! What a process's sockets cost the kernel, which a pod's memory limit is charged for as
//! much as for the process's own pages: the buffers each socket holds (`ss -tmp`, skmem:
//! receive and send queues, forward allocation, option memory, backlog), and the objects
//! every socket is (its TCP socket, socket inode, file, dentry and epoll entry), sized
//! from `/proc/slabinfo`. An idle socket's buffers are mostly empty, so for idle sessions
//! the objects are most of it.

use std::process::Command;

/// The slab caches one epoll-watched TCP socket takes an object from.
const SOCKET_SLABS: [&str; 8] = [
    "TCP",
    "sock_inode_cache",
    "filp",
    "dentry",
    "eventpoll_epi",
    "eventpoll_pwq",
    "lsm_file_cache",
    "lsm_inode_cache",
];

/// A process's sockets and what they cost the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct SocketMemory {
    /// Sockets among its file descriptors.
    pub sockets: u64,
    /// Their buffers, bytes; `None` without `ss`.
    pub buffer_bytes: Option<u64>,
    /// Their objects, bytes; `None` when `/proc/slabinfo` is unreadable (it needs root).
    pub object_bytes: Option<u64>,
}

impl SocketMemory {
    /// Reads them for `pid`.
    pub fn of(pid: u32, per_socket_objects: Option<u64>) -> anyhow::Result<Self> {
        let sockets = std::fs::read_dir(format!("/proc/{pid}/fd"))?
            .filter_map(Result::ok)
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("socket:["))
            .count() as u64;
        Ok(Self {
            sockets,
            buffer_bytes: buffer_bytes(pid),
            object_bytes: per_socket_objects.map(|b| b * sockets),
        })
    }

    /// Buffers and objects, what of them could be read.
    pub fn total(&self) -> u64 {
        self.buffer_bytes.unwrap_or(0) + self.object_bytes.unwrap_or(0)
    }
}

/// Bytes of kernel objects per TCP socket, from the slab caches' object sizes; `None`
/// when `/proc/slabinfo` cannot be read.
pub fn per_socket_object_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/slabinfo").ok()?;
    let mut total = 0;
    let mut found = false;
    for line in text.lines().skip(2) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // name, active_objs, num_objs, objsize, ...
        if f.len() > 3 && SOCKET_SLABS.contains(&f[0]) {
            total += f[3].parse::<u64>().ok()?;
            found |= f[0] == "TCP";
        }
    }
    found.then_some(total)
}

/// The sum of skmem's memory fields over the TCP sockets `pid` holds, from `ss -tmnp`.
fn buffer_bytes(pid: u32) -> Option<u64> {
    let out = Command::new("ss").args(["-tmnpH"]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let owner = format!("pid={pid},");
    let mut mine = false;
    let mut total = 0;
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            mine = line.contains(&owner);
        }
        if let (true, Some(at)) = (mine, line.find("skmem:(")) {
            total += skmem_bytes(&line[at + 7..]);
        }
    }
    Some(total)
}

/// `r0,rb131072,t0,tb2626560,f0,w0,o0,bl0,d0)`: receive queue (r), send queue (w),
/// forward allocation (f), option memory (o) and backlog (bl), the memory held; rb and
/// tb are limits, t is part of w and d counts drops.
fn skmem_bytes(fields: &str) -> u64 {
    let fields = fields.split(')').next().unwrap_or_default();
    fields
        .split(',')
        .filter_map(|f| {
            let digits = f.find(|c: char| c.is_ascii_digit())?;
            let (name, value) = f.split_at(digits);
            matches!(name, "r" | "w" | "f" | "o" | "bl")
                .then(|| value.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skmem_sums_what_is_held() {
        assert_eq!(
            skmem_bytes("r10,rb131072,t5,tb2626560,f4096,w20,o3,bl1,d9)  "),
            10 + 4096 + 20 + 3 + 1
        );
    }

    #[test]
    fn counts_own_sockets() {
        let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let m = SocketMemory::of(std::process::id(), Some(1000)).unwrap();
        assert!(m.sockets >= 1);
        assert_eq!(m.object_bytes, Some(1000 * m.sockets));
    }
}
