//! Loading new keys, chain and files without a restart (SPEC §9): a restart would drop
//! every session and cost a reconnect wave, and chains expire on a schedule.
//!
//! The files are polled, not watched. Kubernetes updates a mounted Secret by swapping
//! the `..data` symlink of its directory, editors replace files by rename, and
//! operators copy over them in place; reading the few small files every
//! [`POLL_INTERVAL`] and comparing digests sees all of these the same way, on every
//! filesystem, with no inotify watch to re-arm when the directory entry it watched is
//! replaced. A change is acted on once it has held still for one interval, so that an
//! operator who writes the key and then the chain does not trigger a reload that sees
//! the new key with the old chain.
//!
//! All or nothing: the whole set is read and checked as at start-up before anything
//! changes. Sessions started afterwards get the new [`Shared`]; established ones keep
//! the one they started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::auth::KeySource;
use crate::config::Config;
use crate::lifecycle::PhaseView;
use crate::material::load_shared;
use crate::session::Shared;

/// How often the files are read; with the settling interval, a change is in force
/// within twice this, inside SPEC §9's bound.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// What each watched file held at one poll: its digest, or why it could not be read.
type Fingerprint = Vec<Result<[u8; 32], std::io::ErrorKind>>;

/// Reloads on SIGHUP and when a watched file changes, until the drain begins.
pub(crate) struct Reloader {
    config: Config,
    current: watch::Sender<Arc<Shared>>,
    hangup: tokio::signal::unix::Signal,
}

impl Reloader {
    /// A reloader for the files `config` names, publishing to `current`. The SIGHUP
    /// handler is installed here, so that from now on a SIGHUP reloads instead of
    /// ending the process.
    pub(crate) fn new(
        config: Config,
        current: watch::Sender<Arc<Shared>>,
    ) -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            config,
            current,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Runs until the drain begins.
    pub(crate) async fn run(mut self, phase: PhaseView) {
        let paths = watched(&self.config);
        let mut in_force = fingerprint(&paths).await;
        // The content of the last failed attempt: not retried until it changes again or
        // an operator asks, so a broken file logs one warning, not one per poll.
        let mut failed: Option<Fingerprint> = None;
        let mut previous = in_force.clone();
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = phase.drain_started();
        tokio::pin!(stop);
        loop {
            let asked = tokio::select! {
                () = &mut stop => return,
                _ = self.hangup.recv() => true,
                _ = poll.tick() => false,
            };
            let now = fingerprint(&paths).await;
            let settled = now == previous;
            previous = now.clone();
            let changed = now != in_force && failed.as_ref() != Some(&now);
            if !(asked || (changed && settled)) {
                continue;
            }
            let why = if asked { "SIGHUP" } else { "files changed" };
            match self.reload().await {
                Ok(()) => {
                    tracing::info!(trigger = why, "reloaded keys, chain and files");
                    crate::metrics::reload(true);
                    in_force = now;
                    failed = None;
                }
                Err(problems) => {
                    for problem in &problems {
                        tracing::warn!(trigger = why, problem = %problem, "reload refused; the material in force stays");
                    }
                    crate::metrics::reload(false);
                    failed = Some(now);
                }
            }
        }
    }

    /// Reads and checks everything, then publishes it; on any problem nothing changes.
    async fn reload(&self) -> Result<(), Vec<String>> {
        let shared = load_shared(&self.config)?;
        if let Some(jwt) = &shared.auth.jwt {
            match (jwt.keys.refresh().await, jwt.keys.source()) {
                (Ok(_), _) => {}
                // A local key set the operator just changed must be valid, as every
                // other file; a remote one may be briefly unreachable, as at start-up.
                (Err(e), KeySource::File(_)) => return Err(vec![format!("auth.jwks_file: {e}")]),
                (Err(e), KeySource::Url { .. }) => {
                    tracing::warn!(error = %e, "JWKS not loaded on reload; tokens are refused until it is")
                }
            }
        }
        let old = self.current.borrow().clone();
        // What sessions learnt stays learnt: the server's verified static key for IK.
        let learnt = *old.upstream.server_key.read().expect("not poisoned");
        {
            let mut key = shared.upstream.server_key.write().expect("not poisoned");
            if key.is_none() {
                *key = learnt;
            }
        }
        shared.adopt_devices(&old);
        publish_chain_expiry(&shared);
        self.current.send_replace(Arc::new(shared));
        Ok(())
    }
}

/// Sets the expiry gauge from the chain `shared` presents.
pub(crate) fn publish_chain_expiry(shared: &Shared) {
    crate::metrics::set_cert_chain_not_after(shared.cert_not_after);
}

/// The files SPEC §9 reloads, as `config` names them.
fn watched(config: &Config) -> Vec<PathBuf> {
    [
        config.noise.static_key_file.clone(),
        config.noise.cert_chain_file.clone(),
        config.upstream.key_seed_file.clone(),
        Some(config.caps.file.clone()),
        config.auth.jwks_file.clone(),
        config.tls.ca_file.clone(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Reads every watched file, through any symlinks, as it is now.
async fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        out.push(match tokio::fs::read(path).await {
            Ok(bytes) => Ok(Sha256::digest(&bytes).into()),
            Err(e) => Err(e.kind()),
        });
    }
    out
}
