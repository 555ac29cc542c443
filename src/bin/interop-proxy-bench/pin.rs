//! `--pin`: the measured middle process (plain relay, HAProxy or proxy) on one core, the
//! peers (the reference server and this process, which runs the clients) on another, so
//! that the middle's CPU figures do not depend on how the scheduler mixed it with the
//! load it serves. Done with util-linux's `taskset`, which sets the affinity and then
//! execs the program (same pid, so `/proc` figures stay the role's); a process started
//! on one CPU sizes its runtime (tokio workers, HAProxy threads) to it.

use std::process::Command;

use anyhow::Context;

/// Which CPU does what.
#[derive(Clone, Copy, Debug)]
pub struct Pinning {
    /// The CPU of the middle process.
    pub middle: usize,
    /// The CPU of the server and the clients.
    pub peers: usize,
}

impl Pinning {
    /// The first and last of the CPUs this process may run on, if there are two.
    pub fn choose() -> anyhow::Result<Self> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .ok_or_else(|| anyhow::anyhow!("no Cpus_allowed_list in /proc/self/status"))?;
        let cpus = parse_cpu_list(list.trim())?;
        anyhow::ensure!(
            cpus.len() >= 2,
            "--pin needs two CPUs, this process may use {cpus:?}"
        );
        let ok = Command::new("taskset")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        anyhow::ensure!(ok, "--pin needs `taskset` (util-linux) on PATH");
        Ok(Self {
            middle: cpus[cpus.len() - 1],
            peers: cpus[0],
        })
    }

    /// Pins every thread of this process to the peers' CPU; the children it starts
    /// afterwards inherit it unless launched elsewhere.
    pub fn pin_self(&self) -> anyhow::Result<()> {
        let pid = std::process::id().to_string();
        let cpu = self.peers.to_string();
        let out = Command::new("taskset")
            .args(["--all-tasks", "--pid", "--cpu-list", &cpu, &pid])
            .output()
            .context("running taskset")?;
        anyhow::ensure!(
            out.status.success(),
            "taskset could not pin the bench to CPU {cpu}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}

/// The words that start a program on `cpu` alone.
pub fn taskset(cpu: usize) -> [String; 3] {
    ["taskset".into(), "--cpu-list".into(), cpu.to_string()]
}

/// `0-3,6` → `[0, 1, 2, 3, 6]`.
fn parse_cpu_list(list: &str) -> anyhow::Result<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.trim().parse::<usize>()?..=b.trim().parse::<usize>()?),
            None => cpus.push(part.trim().parse()?),
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-1").unwrap(), vec![0, 1]);
        assert_eq!(parse_cpu_list("0,2-3,6").unwrap(), vec![0, 2, 3, 6]);
        assert!(parse_cpu_list("x").is_err());
    }
}
