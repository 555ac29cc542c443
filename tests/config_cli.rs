//! The configuration as an operator meets it: the real binary, a file, environment
//! variables, `check-config`, and exit status 64 with every problem listed at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use interop_proxy::noise::{Keypair, SecretKey};
use interop_proxy::sim::Pki;

const BIN: &str = env!("CARGO_BIN_EXE_interop-proxy");

/// Key files as a deployment mounts them, and a file naming them.
struct Keys {
    dir: tempfile::TempDir,
    static_key: Keypair,
}

impl Keys {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let static_key = Keypair::generate();
        std::fs::write(
            dir.path().join("static.key"),
            static_key.secret.to_file_text(),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("seed.key"),
            SecretKey::generate().to_file_text(),
        )
        .unwrap();
        let chain = Pki::generate().issue(&static_key.public, Duration::from_secs(3600));
        std::fs::write(
            dir.path().join("chain.b64"),
            base64::engine::general_purpose::STANDARD.encode(chain),
        )
        .unwrap();
        Keys { dir, static_key }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A runnable configuration file with `extra` appended to the top level.
    fn config(&self, top: &str, extra: &str) -> PathBuf {
        let text = format!(
            "{top}\n[noise]\nstatic_key_file = {:?}\ncert_chain_file = {:?}\n\
             [upstream]\naddr = \"127.0.0.1:9\"\nkey_seed_file = {:?}\n\
             [auth]\nmode = \"none\"\n{extra}\n",
            self.path("static.key"),
            self.path("chain.b64"),
            self.path("seed.key"),
        );
        let path = self.path("interop-proxy.toml");
        std::fs::write(&path, text).unwrap();
        path
    }
}

/// Runs the binary with only the given environment.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn config_arg(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn every_bad_value_is_listed_and_the_exit_status_is_64() {
    let keys = Keys::new();
    let file = keys.config("", "[limits]\nmax_depth = \"deep\"\n");
    let out = run(
        &["--config", &config_arg(&file), "check-config"],
        &[
            ("INTEROP_PROXY_SHUTDOWN__GRACE", "soon"),
            ("INTEROP_PROXY_ADMIN__LISTEN", "not-an-address"),
        ],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "one line per problem:\n{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("limits.max_depth:") && l.contains(&file.display().to_string())),
        "{err}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("shutdown.grace:") && l.contains("INTEROP_PROXY_SHUTDOWN__GRACE")
        ),
        "{err}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("admin.listen:")),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    // Running the proxy refuses the same configuration the same way.
    let out = run(
        &["--config", &config_arg(&file)],
        &[("INTEROP_PROXY_SHUTDOWN__GRACE", "soon")],
    );
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 2, "{}", stderr(&out));
}

#[test]
fn unknown_keys_are_refused() {
    let keys = Keys::new();
    let file = keys.config("", "[limits]\nmax_sesions = 10\n");
    let out = run(&["--config", &config_arg(&file), "check-config"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        stderr(&out).contains("limits.max_sesions: unknown key"),
        "{}",
        stderr(&out)
    );

    let file = keys.config("", "");
    let out = run(
        &["--config", &config_arg(&file), "check-config"],
        &[("INTEROP_PROXY_UPSTREAM__ADRR", "127.0.0.1:1")],
    );
    assert_eq!(out.status.code(), Some(64));
    let err = stderr(&out);
    assert!(
        err.contains("upstream.adrr: unknown key") && err.contains("INTEROP_PROXY_UPSTREAM__ADRR"),
        "{err}"
    );
}

#[test]
fn missing_settings_and_unreadable_key_files_are_listed_together() {
    let out = run(&["check-config"], &[("INTEROP_PROXY_AUTH__MODE", "none")]);
    assert_eq!(out.status.code(), Some(64));
    let err = stderr(&out);
    for key in [
        "noise.static_key_file",
        "noise.cert_chain_file",
        "upstream.addr",
        "upstream.key_seed_file",
    ] {
        assert!(err.contains(&format!("{key}: required to run")), "{err}");
    }

    let keys = Keys::new();
    let file = keys.config("", "");
    std::fs::write(keys.path("seed.key"), "not base64!\n").unwrap();
    let out = run(&["--config", &config_arg(&file), "check-config"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("upstream.key_seed_file"),
        "{}",
        stderr(&out)
    );
    // The problem names the file, never its content.
    assert!(!stderr(&out).contains("not base64!"), "{}", stderr(&out));
}

#[test]
fn check_config_shows_values_with_their_sources() {
    let keys = Keys::new();
    let file = keys.config(
        "listen = \"127.0.0.1:6000\"",
        "[limits]\nmax_depth = 16\nidle_timeout = \"90s\"\n",
    );
    let out = run(
        &["check-config"],
        &[
            ("INTEROP_PROXY_CONFIG", &config_arg(&file)),
            // The environment wins over the file.
            ("INTEROP_PROXY_LIMITS__MAX_DEPTH", "8"),
            ("INTEROP_PROXY_CLIENT__VERSIONS", r#"["6.3","5.2"]"#),
            // 5.2 names no token dictionary: only XML stanzas accept it.
            ("INTEROP_PROXY_STANZA__ENCODING", "xml"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in\n{text}"))
            .to_string()
    };
    let from_file = format!("# file {}", file.display());
    assert!(line("max_depth = 8").ends_with("# env INTEROP_PROXY_LIMITS__MAX_DEPTH"));
    assert!(line("versions = [\"6.3\", \"5.2\"]").ends_with("# env INTEROP_PROXY_CLIENT__VERSIONS"));
    assert!(line("listen = \"127.0.0.1:6000\"").ends_with(&from_file));
    assert!(line("idle_timeout = \"1m 30s\"").ends_with(&from_file));
    assert!(line("grace = \"30s\"").ends_with("# default"));
    assert!(line("handshake_timeout = \"10s\"").ends_with("# default"));
    // Key files by path only: no key material in the output.
    assert!(line("static_key_file = ").contains("static.key"));
    let secret = std::fs::read_to_string(keys.path("static.key")).unwrap();
    let seed = std::fs::read_to_string(keys.path("seed.key")).unwrap();
    assert!(!text.contains(secret.trim()));
    assert!(!text.contains(seed.trim()));
    let public = base64::engine::general_purpose::STANDARD.encode(keys.static_key.public);
    assert!(!text.contains(&public));
    // The output is a configuration file itself.
    text.parse::<toml::Table>()
        .expect("check-config prints TOML");
}

#[test]
fn url_credentials_are_masked() {
    let keys = Keys::new();
    let file = keys.config(
        "",
        "jwks_url = \"https://svc:hunter2@idp.example/jwks.json?key=abc\"\n",
    );
    let out = run(&["--config", &config_arg(&file), "check-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("https://***@idp.example/jwks.json?***"),
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains("key=abc"),
        "{text}"
    );
}

/// The lines of `stderr` that start with `key:`.
fn lines_about(err: &str, key: &str) -> usize {
    err.lines()
        .filter(|l| l.starts_with(&format!("{key}:")))
        .count()
}

#[test]
fn bad_values_and_bad_files_are_listed_together() {
    let keys = Keys::new();
    std::fs::remove_file(keys.path("static.key")).unwrap();
    std::fs::write(keys.path("chain.b64"), "not a chain!\n").unwrap();
    std::fs::write(keys.path("caps.toml"), "node = = \"broken\"\n").unwrap();
    let caps = format!("[caps]\nfile = {:?}\n", keys.path("caps.toml"));
    let file = keys.config("", &caps);
    let env = [("INTEROP_PROXY_LIMITS__MAX_DEPTH", "abc")];
    // check-config and running the proxy list the same four problems, one line each.
    for args in [
        vec!["--config", &config_arg(&file), "check-config"],
        vec!["--config", &config_arg(&file)],
    ] {
        let out = run(&args, &env);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
        assert_eq!(
            err.lines().count(),
            4,
            "{args:?}, one line per problem:\n{err}"
        );
        for key in [
            "limits.max_depth",
            "noise.static_key_file",
            "noise.cert_chain_file",
            "caps.file",
        ] {
            assert_eq!(lines_about(&err, key), 1, "{args:?}: {key}:\n{err}");
        }
        assert!(err.contains("INTEROP_PROXY_LIMITS__MAX_DEPTH"), "{err}");
        assert!(
            err.contains("static.key") && err.contains("caps.toml"),
            "{err}"
        );
        assert!(stdout(&out).is_empty());
    }
}

#[test]
fn a_bad_value_is_not_also_unset_or_unreadable() {
    // An empty key file path and an empty caps.file are bad values: the key file is not
    // also "not set", the default capability file is not read instead, and with a bad
    // auth.mode the JWT settings are not asked for.
    let out = run(
        &["check-config"],
        &[
            ("INTEROP_PROXY_NOISE__STATIC_KEY_FILE", ""),
            ("INTEROP_PROXY_CAPS__FILE", ""),
            ("INTEROP_PROXY_AUTH__MODE", "sometimes"),
        ],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(64), "{err}");
    for key in [
        "noise.static_key_file",
        "caps.file",
        "auth.mode",
        "noise.cert_chain_file",
        "upstream.addr",
        "upstream.key_seed_file",
    ] {
        assert_eq!(lines_about(&err, key), 1, "{key}:\n{err}");
    }
    assert_eq!(err.lines().count(), 6, "{err}");
    assert!(
        !err.contains("not set") && !err.contains("auth.jwks"),
        "{err}"
    );
}
