//! The `interop-proxy` binary: thin. Parse the command line, load the configuration
//! (exit 64 on any problem, all listed), start the app, wait for a signal.

use std::path::PathBuf;
use std::process::ExitCode;
#[cfg(feature = "demo")]
use std::time::Duration;

use base64::Engine;
use clap::{Parser, Subcommand};

use interop_proxy::app::App;
use interop_proxy::config::Config;
use interop_proxy::noise::{cert, keys, Keypair};

/// jemalloc in place of glibc's allocator (Cargo feature `jemalloc`, on by default): the
/// memory a reconnect wave's handshakes used goes back to the kernel once they end.
#[cfg(all(feature = "jemalloc", target_os = "linux"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit status for bad configuration (sysexits `EX_USAGE`), as SPEC §6 asks.
const EXIT_CONFIG: u8 = 64;

/// The DMA interoperability sidecar between a provider's clients and WhatsApp.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// TOML configuration file (also `INTEROP_PROXY_CONFIG`).
    #[arg(long, env = "INTEROP_PROXY_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// What to do; without a subcommand, run the proxy.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Make a Curve25519 key pair: writes the private key file, prints the public key.
    Keygen {
        /// Where to write the private key (base64, mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue a certificate chain for a Noise static key from a root key.
    IssueChain {
        /// The root's private key file.
        #[arg(long)]
        root: PathBuf,
        /// The static key to certify: its private key file (the public key is derived).
        #[arg(long, conflicts_with = "public")]
        key: Option<PathBuf>,
        /// Or the static public key itself, base64.
        #[arg(long)]
        public: Option<String>,
        /// Validity in days from now.
        #[arg(long, default_value_t = 90)]
        days: u64,
        /// Where to write the chain (base64 of `CertChain`), as `noise.cert_chain_file` wants.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check the configuration and key files; print the effective values and their sources.
    CheckConfig,
    /// Run the reference server, the proxy and a few clients on loopback; verify payloads.
    #[cfg(feature = "demo")]
    Demo {
        /// Number of simulated clients.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// How long they exchange messages.
        #[arg(long, default_value = "3s")]
        duration: humantime::Duration,
        /// Speak XML text on both legs instead of WhatsApp's binary encoding.
        #[arg(long)]
        xml: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    interop_proxy::app::init_tracing();
    match cli.command {
        None => run_proxy(cli.config),
        Some(Command::Keygen { out }) => result(keygen(&out)),
        Some(Command::IssueChain {
            root,
            key,
            public,
            days,
            out,
        }) => result(issue_chain(&root, key, public, days, &out)),
        Some(Command::CheckConfig) => check_config(cli.config),
        #[cfg(feature = "demo")]
        Some(Command::Demo {
            clients,
            duration,
            xml,
        }) => result(demo(clients, duration.into(), xml)),
    }
}

/// Loads the configuration and checks the files it names as `run` reads them (key files,
/// chain, capabilities), so that one run lists every problem: a bad value must not hide
/// a missing key file until the next restart. Otherwise prints them, one per line, and
/// gives exit status 64.
fn load_config(path: Option<PathBuf>) -> Result<Loaded, ExitCode> {
    let loaded = Config::load_all(path.as_deref());
    let mut problems = loaded.problems;
    match interop_proxy::app::load_shared_except(&loaded.config, &loaded.reported) {
        Ok(shared) if problems.is_empty() => {
            return Ok(Loaded {
                config: loaded.config,
                provenance: loaded.provenance,
                shared,
            })
        }
        Ok(_) => {}
        Err(file_problems) => problems.extend(file_problems),
    }
    eprintln!("{}", interop_proxy::config::ConfigErrors(problems));
    Err(ExitCode::from(EXIT_CONFIG))
}

/// A configuration and the material it names, both checked.
struct Loaded {
    config: Config,
    provenance: interop_proxy::config::Provenance,
    shared: interop_proxy::app::Shared,
}

/// `check-config`: loads the configuration and reads the key files as `run` would, then
/// prints the effective values and their sources; exit 64 with every problem otherwise.
/// Key files are read to check them, never printed: only their paths are.
fn check_config(path: Option<PathBuf>) -> ExitCode {
    match load_config(path) {
        Ok(loaded) => {
            print!("{}", loaded.config.explain(&loaded.provenance));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Runs the proxy until SIGTERM or SIGINT, then drains.
fn run_proxy(path: Option<PathBuf>) -> ExitCode {
    let Loaded { config, shared, .. } = match load_config(path) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let app = match App::bind_with(&config, shared).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
        tracing::info!(listen = %app.proxy_addr(), admin = %app.admin_addr(), "interop-proxy ready");
        app.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Prints an error and fails, or succeeds.
fn result(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `keygen`: a new key pair.
fn keygen(out: &std::path::Path) -> anyhow::Result<()> {
    let pair = Keypair::generate();
    write_private(out, pair.secret.to_file_text().as_bytes())?;
    println!(
        "{}",
        base64::engine::general_purpose::STANDARD.encode(pair.public)
    );
    Ok(())
}

/// `issue-chain`: a chain for a static key, signed through a fresh intermediate.
fn issue_chain(
    root: &std::path::Path,
    key: Option<PathBuf>,
    public: Option<String>,
    days: u64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let root = Keypair::read_file(root)?;
    let leaf = match (key, public) {
        (Some(path), _) => Keypair::read_file(&path)?.public,
        (None, Some(text)) => keys::public_key_from_base64(&text).map_err(anyhow::Error::msg)?,
        (None, None) => anyhow::bail!("give --key or --public"),
    };
    let now = interop_proxy::noise::cert::unix_now();
    let chain = cert::issue_chain(
        &root,
        &leaf,
        cert::Validity {
            not_before: now.saturating_sub(300),
            not_after: now + days * 86400,
        },
    );
    std::fs::write(
        out,
        format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(chain)
        ),
    )?;
    Ok(())
}

/// Writes a private key file readable by the owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    Ok(())
}

/// `demo`: the main job end to end on the embedded default.
#[cfg(feature = "demo")]
fn demo(clients: usize, duration: Duration, xml: bool) -> anyhow::Result<()> {
    use interop_proxy::stanza::Encoding;
    let encoding = if xml { Encoding::Xml } else { Encoding::Binary };
    let runtime = tokio::runtime::Runtime::new()?;
    let summary = runtime.block_on(interop_proxy::demo::run(clients, duration, encoding))?;
    println!(
        "interop-proxy demo: reference server <- proxy <- {} clients",
        summary.sessions
    );
    match summary.encoding {
        Encoding::Binary => println!(
            "  encoding          binary (WhatsApp's token encoding): {} sessions on dictionary 3 (WA 6.3), {} on dictionary 2 (WA 6.2)",
            summary.sessions - summary.sessions_dictionary_2,
            summary.sessions_dictionary_2
        ),
        Encoding::Xml => println!("  encoding          xml (stanzas as XML text)"),
    }
    println!("  sessions          {}", summary.sessions);
    println!("  messages sent     {}", summary.sent);
    println!("  payload bytes     {}", summary.payload_bytes);
    println!("  verified payloads {} byte-identical", summary.verified);
    println!("  lost or altered   {}", summary.mismatched);
    println!(
        "  rate              {:.0} messages/s over {:.1?}",
        summary.sent as f64 / summary.elapsed.as_secs_f64(),
        summary.elapsed
    );
    if summary.mismatched > 0 || summary.verified == 0 {
        anyhow::bail!("{} payloads lost or altered", summary.mismatched);
    }
    println!("OK");
    Ok(())
}
