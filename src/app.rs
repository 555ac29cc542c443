//! Wiring: load keys, bind listeners, run the proxy and the admin server, drain.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin;
use crate::config::Config;
use crate::lifecycle::{Lifecycle, PhaseView};
use crate::reload::Reloader;
use crate::session::{self, Signals};

pub use crate::material::{load_shared, load_shared_except};
pub use crate::session::Shared;

/// A proxy with its listeners bound and keys loaded, ready to run.
pub struct App {
    /// Client listener.
    listener: TcpListener,
    /// Admin listener.
    admin_listener: TcpListener,
    /// What every session shares: the material in force, replaced by reloads.
    shared: watch::Sender<Arc<Shared>>,
    /// What reloads read the files again by.
    config: Config,
    /// `limits.max_sessions` as resolved.
    max_sessions: usize,
    /// `shutdown.grace`.
    grace: std::time::Duration,
    /// The phase `/ready` shows and sessions drain by.
    lifecycle: Lifecycle,
}

impl App {
    /// Loads keys and binds both listeners. Problems with key files are reported
    /// together, one per line.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let shared =
            load_shared(config).map_err(|problems| anyhow::anyhow!(problems.join("\n")))?;
        Self::bind_with(config, shared).await
    }

    /// [`App::bind`] with the material already read and checked (by `run`, which
    /// checks the files together with the configuration), so nothing is read twice.
    pub async fn bind_with(config: &Config, shared: Shared) -> anyhow::Result<Self> {
        let shared = Arc::new(shared);
        // SPEC §4: the key set is there before the first client. A failure does not stop
        // the proxy: clients are refused with 401 until a later fetch (on an unknown key
        // id) succeeds, and the provider's JWKS endpoint may just be starting too.
        if let Some(jwt) = &shared.auth.jwt {
            match jwt.keys.refresh().await {
                Ok(keys) => tracing::info!(keys, "JWKS loaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "JWKS not loaded; tokens are refused until it is")
                }
            }
        }
        let save_syns = shared.upstream.signals == Signals::Own;
        let listener = crate::transport::bind_listener(config.listen, save_syns)?;
        let admin_listener = TcpListener::bind(config.admin.listen).await?;
        Ok(Self {
            listener,
            admin_listener,
            shared: watch::Sender::new(shared),
            config: config.clone(),
            max_sessions: config.effective_max_sessions(),
            grace: config.shutdown.grace,
            lifecycle: Lifecycle::new(),
        })
    }

    /// Where clients connect.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound")
    }

    /// Where Prometheus scrapes.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_listener.local_addr().expect("bound")
    }

    /// The process's phase, for callers that want to watch it.
    pub fn phase(&self) -> PhaseView {
        self.lifecycle.view()
    }

    /// Serves until `shutdown` resolves, then drains (SPEC §8): readiness off, listener
    /// closed, sessions given the grace to end, then told `503 shutdown`. Returns as
    /// soon as the last session ended.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()> + Send) {
        let handle = crate::metrics::install();
        crate::metrics::set_sessions_max(self.max_sessions);
        crate::reload::publish_chain_expiry(&self.shared.borrow());
        // Before readiness: from here on SIGHUP reloads instead of ending the process.
        let reloader = match Reloader::new(self.config.clone(), self.shared.clone()) {
            Ok(reloader) => Some(tokio::spawn(reloader.run(self.lifecycle.view()))),
            Err(e) => {
                tracing::warn!(error = %e, "no SIGHUP handler: keys, chain and files are not reloaded");
                None
            }
        };
        let admin = tokio::spawn(admin::serve(
            self.admin_listener,
            handle,
            self.lifecycle.view(),
            std::future::pending(),
        ));
        self.lifecycle.set_ready();
        let serve = session::serve(
            self.listener,
            self.shared.subscribe(),
            self.max_sessions,
            self.lifecycle.view(),
        );
        tokio::pin!(serve);
        tokio::pin!(shutdown);
        let mut sessions = tokio::select! {
            sessions = &mut serve => sessions,
            _ = &mut shutdown => {
                tracing::info!(grace = %humantime::format_duration(self.grace), "draining: readiness off, listener closed");
                self.lifecycle.start_drain(self.grace);
                serve.await
            }
        };
        while sessions.join_next().await.is_some() {}
        self.lifecycle.set_stopped();
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        tracing::info!("all sessions ended");
        admin.abort();
    }
}

/// Logs to stderr; `INTEROP_PROXY_LOG` sets levels (`RUST_LOG` syntax, default `info`),
/// `INTEROP_PROXY_LOG_FORMAT=json` switches to one JSON object per line.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("INTEROP_PROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("INTEROP_PROXY_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
