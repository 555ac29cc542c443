use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/interop-proxy.toml");
const CAPS_EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/capabilities.toml");

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn errors(file: Option<&Path>, env_pairs: &[(&str, &str)]) -> Vec<String> {
    Config::load_from(file, &env(env_pairs)).unwrap_err().0
}

#[test]
fn no_sources_gives_defaults() {
    assert_eq!(Config::load_from(None, &[]).unwrap(), Config::default());
}

#[test]
fn defaults_are_the_documented_ones() {
    let d = Config::default();
    assert_eq!(d.listen.to_string(), "0.0.0.0:5222");
    assert_eq!(d.admin.listen.to_string(), "0.0.0.0:9464");
    assert_eq!(d.client.versions, vec![Version::new(6, 3)]);
    assert_eq!(d.upstream.connect_timeout, Duration::from_secs(5));
    assert!(!d.upstream.proxy_protocol);
    assert!(d.upstream.connection_signals);
    assert_eq!(d.auth.mode, AuthMode::Jwt);
    assert_eq!(d.auth.products, vec![2]);
    assert_eq!(d.caps.unsupported, Unsupported::Annotate);
    assert_eq!(d.limits.max_frame_bytes, 1_048_576);
    assert_eq!(d.limits.max_stanza_bytes, 262_144);
    assert_eq!(d.shutdown.grace, Duration::from_secs(30));
}

#[test]
fn default_root_key_is_the_whatsapp_root() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(DEFAULT_ROOT_KEY);
    assert_eq!(b64, "FCN1V00KWHFmqucevlFkN8Sii3PjaVxs4ff5VF2o7ms=");
    assert_eq!(
        hex::encode(DEFAULT_ROOT_KEY),
        "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"
    );
}

#[test]
fn example_file_matches_defaults() {
    let loaded = Config::load_from(Some(Path::new(EXAMPLE)), &[]).unwrap();
    assert_eq!(loaded, Config::default());
}

#[test]
fn example_file_lists_every_key() {
    // Commented-out optional keys count: the file is the operator's reference.
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    for (section, keys) in super::keys::sections() {
        assert!(
            text.contains(&format!("[{section}]")),
            "missing [{section}]"
        );
        for key in keys.iter() {
            assert!(
                text.contains(&format!("\n{key} = ")) || text.contains(&format!("# {key} = ")),
                "example file lacks {section}.{key}"
            );
        }
    }
}

#[test]
fn capabilities_example_is_toml() {
    let text = std::fs::read_to_string(CAPS_EXAMPLE).unwrap();
    let table: toml::Table = text.parse().unwrap();
    assert!(table["profiles"].get("default").is_some());
    assert!(!table["rules"].as_array().unwrap().is_empty());
}

#[test]
fn file_overrides_defaults() {
    let f = file(
        r#"
listen = "127.0.0.1:6000"
[client]
versions = ["6.3", "5.2"]
proxy_protocol = true
[upstream]
addr = "g.whatsapp.net:443"
server_key = "FCN1V00KWHFmqucevlFkN8Sii3PjaVxs4ff5VF2o7ms="
connect_timeout = "750ms"
connection_signals = false
version = "5.2"
[auth]
mode = "none"
products = [2, 7]
[limits]
max_sessions = 10
# 5.2 names no token dictionary: only XML stanzas accept it.
[stanza]
encoding = "xml"
"#,
    );
    let c = Config::load_from(Some(f.path()), &[]).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:6000");
    assert_eq!(
        c.client.versions,
        vec![Version::new(6, 3), Version::new(5, 2)]
    );
    assert!(c.client.proxy_protocol);
    assert_eq!(c.upstream.addr.as_deref(), Some("g.whatsapp.net:443"));
    assert_eq!(c.upstream.server_key, Some(DEFAULT_ROOT_KEY));
    assert_eq!(c.upstream.connect_timeout, Duration::from_millis(750));
    assert!(!c.upstream.connection_signals);
    assert_eq!(c.upstream.version, Some(Version::new(5, 2)));
    assert_eq!(c.auth.mode, AuthMode::None);
    assert_eq!(c.auth.products, vec![2, 7]);
    assert_eq!(c.effective_max_sessions(), 10);
    // Untouched keys keep their defaults.
    assert_eq!(c.admin, Config::default().admin);
}

#[test]
fn env_overrides_file() {
    let f = file("listen = \"127.0.0.1:6000\"\n[upstream]\naddr = \"a.example:443\"\n");
    let c = Config::load_from(
        Some(f.path()),
        &env(&[
            ("INTEROP_PROXY_LISTEN", "127.0.0.1:7000"),
            ("INTEROP_PROXY_UPSTREAM__ADDR", "b.example:443"),
            ("INTEROP_PROXY_UPSTREAM__VERSION", "6.3"),
            ("INTEROP_PROXY_UPSTREAM__CONNECT_TIMEOUT", "2s"),
            ("INTEROP_PROXY_UPSTREAM__CONNECTION_SIGNALS", "false"),
            ("INTEROP_PROXY_CLIENT__PROXY_PROTOCOL", "true"),
            ("INTEROP_PROXY_LIMITS__MAX_DEPTH", "8"),
            ("INTEROP_PROXY_AUTH__ISSUER", "\"https://issuer.example\""),
            ("UNRELATED", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:7000");
    assert_eq!(c.upstream.addr.as_deref(), Some("b.example:443"));
    // Unquoted 6.3 would be a float to a TOML parser; a version key takes it as text.
    assert_eq!(c.upstream.version, Some(Version::new(6, 3)));
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(2));
    assert!(!c.upstream.connection_signals);
    assert!(c.client.proxy_protocol);
    assert_eq!(c.limits.max_depth, 8);
    assert_eq!(c.auth.issuer.as_deref(), Some("https://issuer.example"));
}

#[test]
fn list_via_env() {
    let c = Config::load_from(
        None,
        &env(&[
            ("INTEROP_PROXY_CLIENT__VERSIONS", r#"["6.3","5.2"]"#),
            ("INTEROP_PROXY_AUTH__PRODUCTS", "[2, 3]"),
            ("INTEROP_PROXY_STANZA__ENCODING", "xml"),
        ]),
    )
    .unwrap();
    assert_eq!(
        c.client.versions,
        vec![Version::new(6, 3), Version::new(5, 2)]
    );
    assert_eq!(c.auth.products, vec![2, 3]);
}

#[test]
fn env_strings_quoted_or_not() {
    for (raw, want) in [("6.3", Version::new(6, 3)), ("\"5.2\"", Version::new(5, 2))] {
        let vars = [
            ("INTEROP_PROXY_UPSTREAM__VERSION", raw),
            ("INTEROP_PROXY_STANZA__ENCODING", "xml"),
        ];
        let c = Config::load_from(None, &env(&vars)).unwrap();
        assert_eq!(c.upstream.version, Some(want), "{raw}");
    }
    for raw in ["127.0.0.1:5223", "\"127.0.0.1:5223\""] {
        let c = Config::load_from(None, &env(&[("INTEROP_PROXY_LISTEN", raw)])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:5223");
    }
    let errs = errors(None, &[("INTEROP_PROXY_CLIENT__VERSIONS", "[6.3]")]);
    assert!(errs[0].contains("quoted"), "{errs:?}");
}

#[test]
fn config_file_from_env_variable() {
    let f = file("listen = \"127.0.0.1:6001\"\n");
    let path = f.path().to_str().unwrap();
    let c = Config::load_from(None, &env(&[("INTEROP_PROXY_CONFIG", path)])).unwrap();
    assert_eq!(c.listen.to_string(), "127.0.0.1:6001");
}

#[test]
fn missing_file_is_an_error() {
    let errs = errors(Some(Path::new("/nonexistent/interop-proxy.toml")), &[]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("cannot read"), "{errs:?}");
}

#[test]
fn unknown_keys_refused_in_file() {
    let f = file("lisen = \"0.0.0.0:1\"\n[upstream]\nadr = \"x:1\"\n[extra]\n");
    let errs = errors(Some(f.path()), &[]);
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs.iter().any(|e| e.starts_with("lisen: unknown key")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("upstream.adr: unknown key")));
    assert!(errs.iter().any(|e| e.starts_with("extra: unknown key")));
}

#[test]
fn unknown_keys_refused_in_env() {
    let errs = errors(
        None,
        &[
            ("INTEROP_PROXY_UPSTREAM__ADR", "x:1"),
            ("INTEROP_PROXY_NOISE__STATIC_KEY", "c2VjcmV0"),
            ("INTEROP_PROXY_BOGUS", "1"),
            ("INTEROP_PROXY_A____B", "1"),
        ],
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(errs
        .iter()
        .any(|e| e.contains("upstream.adr: unknown key")
            && e.contains("INTEROP_PROXY_UPSTREAM__ADR")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("noise.static_key: unknown key")));
    assert!(errs.iter().any(|e| e.starts_with("bogus: unknown key")));
    assert!(errs.iter().any(|e| e.contains("malformed name")));
}

#[test]
fn all_bad_values_reported_at_once() {
    let f = file(
        r#"
listen = "nowhere"
[client]
versions = ["6.3", "7", 6.3, "300.1"]
[upstream]
root_key = "not base64!"
server_key = "AAAA"
connect_timeout = "5 parsecs"
[caps]
unsupported = "drop"
lookup_url = "http://insecure.example/caps"
[auth]
jwks_url = "ftp://x"
leeway = 5
[limits]
max_frame_bytes = 16777216
max_depth = 0
idle_timeout = "0s"
"#,
    );
    let errs = errors(
        Some(f.path()),
        &[
            ("INTEROP_PROXY_UPSTREAM__ADDR", "no-port"),
            ("INTEROP_PROXY_SHUTDOWN__GRACE", "soon"),
        ],
    );
    let keys = [
        "listen:",
        "client.versions:",
        "upstream.root_key:",
        "upstream.server_key:",
        "upstream.connect_timeout:",
        "caps.unsupported:",
        "caps.lookup_url:",
        "auth.jwks_url:",
        "auth.leeway:",
        "limits.max_frame_bytes:",
        "limits.max_depth:",
        "limits.idle_timeout:",
        "upstream.addr:",
        "shutdown.grace:",
    ];
    for key in keys {
        assert!(
            errs.iter().any(|e| e.starts_with(key)),
            "no error for {key}: {errs:#?}"
        );
    }
    assert_eq!(errs.len(), keys.len(), "{errs:#?}");
    let versions = errs
        .iter()
        .find(|e| e.starts_with("client.versions"))
        .unwrap();
    assert!(versions.contains("[1]") && versions.contains("[2]") && versions.contains("[3]"));
    assert!(!versions.contains("[0]"));
    // One problem per line in the printed form.
    let shown = ConfigErrors(errs.clone()).to_string();
    assert_eq!(shown.lines().count(), errs.len());
    // Messages point at the source to fix.
    let grace = errs
        .iter()
        .find(|e| e.starts_with("shutdown.grace"))
        .unwrap();
    assert!(grace.contains("INTEROP_PROXY_SHUTDOWN__GRACE"), "{grace}");
    let listen = errs.iter().find(|e| e.starts_with("listen")).unwrap();
    assert!(listen.contains(&f.path().display().to_string()), "{listen}");
}

#[test]
fn bad_duration() {
    let errs = errors(
        None,
        &[("INTEROP_PROXY_LIMITS__HANDSHAKE_TIMEOUT", "ten seconds")],
    );
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("limits.handshake_timeout: invalid duration"),
        "{errs:?}"
    );
}

#[test]
fn bad_base64_key() {
    let errs = errors(None, &[("INTEROP_PROXY_UPSTREAM__ROOT_KEY", "%%%")]);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("upstream.root_key: expected a base64 32-byte public key"));
    let short = errors(None, &[("INTEROP_PROXY_UPSTREAM__SERVER_KEY", "AAAA")]);
    assert!(short[0].contains("32 bytes"), "{short:?}");
}

#[test]
fn bad_toml_file_is_reported_with_env_problems() {
    let f = file("listen = \n");
    let errs = errors(
        Some(f.path()),
        &[("INTEROP_PROXY_LIMITS__MAX_DEPTH", "deep")],
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].contains("not valid TOML"));
}

#[test]
fn versions_parse_strictly() {
    assert_eq!("6.3".parse::<Version>().unwrap(), Version::new(6, 3));
    assert_eq!("255.0".parse::<Version>().unwrap().to_string(), "255.0");
    for bad in ["6", "6.3.1", "256.0", "+6.3", "6.", ".3", "a.b", ""] {
        assert!(bad.parse::<Version>().is_err(), "{bad}");
    }
}

#[test]
fn both_jwks_sources_refused() {
    let errs = errors(
        None,
        &[
            ("INTEROP_PROXY_AUTH__JWKS_FILE", "/etc/jwks.json"),
            ("INTEROP_PROXY_AUTH__JWKS_URL", "https://x.example/jwks"),
        ],
    );
    assert_eq!(errs.len(), 1);
    assert!(errs[0].contains("not both"));
}

#[test]
fn same_port_for_proxy_and_admin_refused() {
    let errs = errors(None, &[("INTEROP_PROXY_ADMIN__LISTEN", "0.0.0.0:5222")]);
    assert_eq!(errs.len(), 1, "{errs:?}");
}

#[test]
fn check_runnable_lists_missing() {
    let errs = Config::default().check_runnable().unwrap_err().0;
    let expected = [
        "noise.static_key_file:",
        "noise.cert_chain_file:",
        "upstream.addr:",
        "upstream.key_seed_file:",
        "auth.issuer:",
        "auth.audience:",
        "auth.jwks_file, auth.jwks_url:",
    ];
    assert_eq!(errs.len(), expected.len(), "{errs:#?}");
    for (e, want) in errs.iter().zip(expected) {
        assert!(e.starts_with(want), "{e} vs {want}");
    }
    assert!(errs[2].contains("INTEROP_PROXY_UPSTREAM__ADDR"));

    let mut c = Config::default();
    c.auth.mode = AuthMode::None;
    c.noise.static_key_file = Some(PathBuf::from("k"));
    c.noise.cert_chain_file = Some(PathBuf::from("c"));
    c.upstream.addr = Some("g.whatsapp.net:443".into());
    c.upstream.key_seed_file = Some(PathBuf::from("s"));
    c.check_runnable().unwrap();
}

#[test]
fn load_runnable_combines_without_double_reporting() {
    let errs = Config::load_runnable_from(
        None,
        &env(&[
            ("INTEROP_PROXY_UPSTREAM__ADDR", "bad"),
            ("INTEROP_PROXY_AUTH__MODE", "none"),
            ("INTEROP_PROXY_LIMITS__MAX_DEPTH", "-1"),
        ]),
    )
    .unwrap_err()
    .0;
    // Bad addr once (not also "required"), max_depth, and the three missing paths.
    assert_eq!(errs.len(), 5, "{errs:#?}");
    assert_eq!(
        errs.iter()
            .filter(|e| e.starts_with("upstream.addr"))
            .count(),
        1
    );
}

#[test]
fn host_port_forms() {
    for ok in [
        "g.whatsapp.net:443",
        "127.0.0.1:5222",
        "[::1]:443",
        "sim:5222",
    ] {
        Config::load_from(None, &env(&[("INTEROP_PROXY_UPSTREAM__ADDR", ok)])).unwrap();
    }
    for bad in [
        "g.whatsapp.net",
        ":443",
        "host:0",
        "host:99999",
        "::1:443",
        "a b:1",
    ] {
        let errs = errors(None, &[("INTEROP_PROXY_UPSTREAM__ADDR", bad)]);
        assert_eq!(errs.len(), 1, "{bad}");
    }
}

#[test]
fn nofile_parsing_and_session_budget() {
    let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                  Max processes             63455                63455                processes \n\
                  Max open files            1024                 1048576              files     \n";
    assert_eq!(super::load::parse_nofile_soft(limits), Some(1024));
    assert_eq!(super::load::sessions_for_nofile(1024), 448);
    assert_eq!(super::load::sessions_for_nofile(10), 1);
    let unlimited = "Max open files            unlimited            unlimited            files\n";
    assert!(super::load::parse_nofile_soft(unlimited).unwrap() > 1024);
    assert!(Config::default().effective_max_sessions() >= 1);
}

#[test]
fn section_variable_layers_over_file_and_names_its_source() {
    let f = file("[upstream]\naddr = \"a.example:443\"\nconnect_timeout = \"3s\"\n");
    let (c, provenance) = Config::load_explained_from(
        Some(f.path()),
        &env(&[
            ("INTEROP_PROXY_UPSTREAM", "{ connect_timeout = \"7s\" }"),
            ("INTEROP_PROXY_UPSTREAM__VERSION", "6.3"),
            ("INTEROP_PROXY_NOISE__STATIC_KEY_FILE", "k"),
            ("INTEROP_PROXY_NOISE__CERT_CHAIN_FILE", "c"),
            ("INTEROP_PROXY_UPSTREAM__KEY_SEED_FILE", "s"),
            ("INTEROP_PROXY_AUTH__MODE", "none"),
        ]),
    )
    .unwrap();
    assert_eq!(c.upstream.addr.as_deref(), Some("a.example:443"));
    assert_eq!(c.upstream.connect_timeout, Duration::from_secs(7));
    assert_eq!(c.upstream.version, Some(Version::new(6, 3)));
    assert_eq!(
        provenance.source("upstream.addr"),
        Source::File(f.path().to_path_buf())
    );
    assert_eq!(
        provenance.source("upstream.connect_timeout"),
        Source::Env("INTEROP_PROXY_UPSTREAM".into())
    );
    assert_eq!(
        provenance.source("upstream.version"),
        Source::Env("INTEROP_PROXY_UPSTREAM__VERSION".into())
    );
    assert_eq!(provenance.source("listen"), Source::Default);
}

#[test]
fn datetime_is_named_as_such() {
    let f = file("[shutdown]\ngrace = 1979-05-27T07:32:00Z\n");
    let errs = errors(Some(f.path()), &[]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("found a datetime"), "{errs:?}");
}

#[test]
fn binary_stanzas_need_a_dictionary_for_every_version() {
    // A version without a dictionary, and an upstream version on the other dictionary,
    // are reported together with an unrelated bad value.
    let f = file(
        r#"
[client]
versions = ["6.3", "5.2"]
[upstream]
version = "6.2"
[limits]
max_depth = 0
"#,
    );
    let errs = errors(Some(f.path()), &[]);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs
        .iter()
        .any(|e| e.starts_with("client.versions: 5.2 names no token dictionary")));
    assert!(errs
        .iter()
        .any(|e| e.starts_with("upstream.version: 6.2 uses dictionary 2")
            && e.contains("clients of version 6.3 use dictionary 3")));
    assert!(errs.iter().any(|e| e.starts_with("limits.max_depth:")));
    // The same versions are fine with XML text, where no dictionary is involved.
    let vars = [
        ("INTEROP_PROXY_STANZA__ENCODING", "xml"),
        ("INTEROP_PROXY_LIMITS__MAX_DEPTH", "8"),
    ];
    assert!(Config::load_from(Some(f.path()), &env(&vars)).is_ok());
    // Both dictionaries at once, and an upstream version naming none.
    let ok = env(&[("INTEROP_PROXY_CLIENT__VERSIONS", r#"["6.3","6.2"]"#)]);
    let c = Config::load_from(None, &ok).unwrap();
    assert_eq!(c.stanza.encoding, Encoding::Binary);
    let errs = errors(None, &[("INTEROP_PROXY_UPSTREAM__VERSION", "5.2")]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("upstream.version: 5.2 names no token dictionary"));
    let errs = errors(None, &[("INTEROP_PROXY_STANZA__ENCODING", "json")]);
    assert!(errs[0].starts_with("stanza.encoding:"), "{errs:#?}");
}

// ---- the key table ----

/// A value's TOML text as the parsers see it.
fn toml_value(text: &str) -> toml::Value {
    format!("v = {text}")
        .parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .remove("v")
        .unwrap()
}

/// A configuration that differs from the default in every key, optional ones set.
fn every_key_changed() -> Config {
    let mut c = Config {
        listen: "127.0.0.1:6000".parse().unwrap(),
        ..Config::default()
    };
    c.admin.listen = "127.0.0.1:6001".parse().unwrap();
    c.client.versions = vec![Version::new(6, 2), Version::new(6, 3)];
    c.client.proxy_protocol = true;
    c.noise.static_key_file = Some(PathBuf::from("k"));
    c.noise.cert_chain_file = Some(PathBuf::from("c"));
    c.upstream.addr = Some("g.whatsapp.net:443".into());
    c.upstream.root_key = [7; 32];
    c.upstream.server_key = Some([9; 32]);
    c.upstream.key_seed_file = Some(PathBuf::from("s"));
    c.upstream.proxy_protocol = true;
    c.upstream.connection_signals = false;
    c.upstream.connect_timeout = Duration::from_millis(750);
    c.upstream.version = Some(Version::new(6, 2));
    c.caps.file = PathBuf::from("caps.toml");
    c.caps.unsupported = Unsupported::Reject;
    c.caps.lookup_url = Some("https://caps.example/lookup".into());
    c.caps.cache_ttl = Duration::from_secs(5);
    c.auth.mode = AuthMode::None;
    c.auth.jwks_file = Some(PathBuf::from("jwks.json"));
    c.auth.jwks_url = Some("https://idp.example/jwks".into());
    c.auth.issuer = Some("https://idp.example".into());
    c.auth.audience = Some("interop-proxy".into());
    c.auth.products = vec![2, 7];
    c.auth.leeway = Duration::from_secs(90);
    c.tls.ca_file = Some(PathBuf::from("ca.pem"));
    c.limits.max_frame_bytes = 4096;
    c.limits.max_stanza_bytes = 2048;
    c.limits.max_depth = 8;
    c.limits.handshake_timeout = Duration::from_secs(3);
    c.limits.idle_timeout = Duration::from_secs(600);
    c.limits.max_sessions = Some(10);
    c.limits.returning_devices = Some(5);
    c.stanza.encoding = Encoding::Xml;
    c.shutdown.grace = Duration::from_secs(1);
    c
}

#[test]
fn table_paths_are_unique_and_sections_contiguous() {
    let mut seen = std::collections::BTreeSet::new();
    let mut sections_seen = Vec::new();
    for key in super::keys::KEYS {
        assert!(seen.insert(key.path), "{} twice", key.path);
        let section = key.path.split_once('.').map_or("", |(s, _)| s);
        if sections_seen.last() != Some(&section) {
            assert!(
                !sections_seen.contains(&section),
                "[{section}] split in two; check-config would print it twice"
            );
            sections_seen.push(section);
        }
    }
    let in_sections: usize = super::keys::sections().iter().map(|(_, k)| k.len()).sum();
    let top = super::keys::top_level().count();
    assert_eq!(in_sections + top, super::keys::KEYS.len());
}

#[test]
fn every_key_sets_the_field_it_shows() {
    // Each key, shown from a configuration where every value differs from the default
    // and parsed back onto the default, changes exactly its own field: a row whose
    // parser and display named different fields would fail here.
    let full = every_key_changed();
    let mut rebuilt = Config::default();
    for key in super::keys::KEYS {
        let text = (key.show)(&full).unwrap_or_else(|| panic!("{} unset", key.path));
        assert_ne!(
            (key.show)(&Config::default()).as_deref(),
            Some(text.as_str()),
            "{}: every_key_changed must change it",
            key.path
        );
        let mut one = Config::default();
        (key.set)(&mut one, &toml_value(&text), None)
            .unwrap_or_else(|e| panic!("{}: {text}: {e}", key.path));
        assert_eq!((key.show)(&one), Some(text.clone()), "{}", key.path);
        for other in super::keys::KEYS.iter().filter(|k| k.path != key.path) {
            assert_eq!(
                (other.show)(&one),
                (other.show)(&Config::default()),
                "setting {} changed {}",
                key.path,
                other.path
            );
        }
        (key.set)(&mut rebuilt, &toml_value(&text), None).unwrap();
    }
    assert_eq!(rebuilt, full);
}

#[test]
fn every_default_reads_back_as_itself() {
    let d = Config::default();
    for key in super::keys::KEYS {
        let Some(text) = (key.show)(&d) else { continue };
        let mut c = every_key_changed();
        (key.set)(&mut c, &toml_value(&text), None)
            .unwrap_or_else(|e| panic!("{}: {text}: {e}", key.path));
        assert_eq!((key.show)(&c), Some(text), "{}", key.path);
    }
}

#[test]
fn example_file_sets_exactly_the_keys_with_a_default() {
    // A key whose default is unset is commented out in the example file; every other
    // key is written out, so the file shows every default an operator starts from.
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let d = Config::default();
    for key in super::keys::KEYS {
        let mut cur = Some(&table);
        let mut value = None;
        for (i, part) in key.path.split('.').enumerate() {
            let last = i == key.path.split('.').count() - 1;
            match cur.and_then(|t| t.get(part)) {
                Some(v) if last => value = Some(v),
                Some(v) => cur = v.as_table(),
                None => cur = None,
            }
        }
        assert_eq!(
            value.is_some(),
            (key.show)(&d).is_some(),
            "{}: written out in the example file iff it has a default",
            key.path
        );
    }
}

#[test]
fn keys_no_source_sets_are_defaults_with_default_provenance() {
    let f = file("[limits]\nmax_depth = 8\n");
    let (c, provenance) = Config::load_explained_from(
        Some(f.path()),
        &env(&[
            ("INTEROP_PROXY_NOISE__STATIC_KEY_FILE", "k"),
            ("INTEROP_PROXY_NOISE__CERT_CHAIN_FILE", "c"),
            ("INTEROP_PROXY_UPSTREAM__ADDR", "a.example:443"),
            ("INTEROP_PROXY_UPSTREAM__KEY_SEED_FILE", "s"),
            ("INTEROP_PROXY_AUTH__MODE", "none"),
        ]),
    )
    .unwrap();
    let set_by_env = [
        "noise.static_key_file",
        "noise.cert_chain_file",
        "upstream.addr",
        "upstream.key_seed_file",
        "auth.mode",
    ];
    assert_eq!(provenance.0.len(), super::keys::KEYS.len());
    for (key, source) in &provenance.0 {
        match key.as_str() {
            "limits.max_depth" => assert_eq!(*source, Source::File(f.path().to_path_buf())),
            k if set_by_env.contains(&k) => {
                assert_eq!(*source, Source::Env(super::keys::env_var(k)))
            }
            _ => assert_eq!(*source, Source::Default, "{key}"),
        }
    }
    assert_eq!(
        c.limits,
        LimitsConfig {
            max_depth: 8,
            ..Config::default().limits
        }
    );
    assert_eq!(c.caps, Config::default().caps);
}

#[test]
fn a_bad_value_keeps_the_default_and_is_reported_once() {
    let loaded = Config::load_all_from(
        None,
        &env(&[
            ("INTEROP_PROXY_LIMITS__MAX_DEPTH", "abc"),
            ("INTEROP_PROXY_NOISE__STATIC_KEY_FILE", ""),
            ("INTEROP_PROXY_AUTH__MODE", "sometimes"),
        ]),
    );
    // The rest of the configuration is there to check the files against.
    assert_eq!(
        loaded.config.limits.max_depth,
        Config::default().limits.max_depth
    );
    assert_eq!(loaded.config.noise.static_key_file, None);
    for key in ["limits.max_depth", "noise.static_key_file", "auth.mode"] {
        assert!(
            loaded.reported.contains(key),
            "{key}: {:?}",
            loaded.reported
        );
        let lines: Vec<_> = loaded
            .problems
            .iter()
            .filter(|l| l.starts_with(&format!("{key}:")))
            .collect();
        assert_eq!(lines.len(), 1, "{key}: {:#?}", loaded.problems);
    }
    // Required keys that are simply absent are reported and named too; with auth.mode
    // bad, whether JWT settings are needed is unknown, so none is asked for.
    for key in [
        "noise.cert_chain_file",
        "upstream.addr",
        "upstream.key_seed_file",
    ] {
        assert!(loaded.reported.contains(key), "{key}");
    }
    assert!(
        !loaded.problems.iter().any(|l| l.starts_with("auth.i")
            || l.starts_with("auth.a")
            || l.starts_with("auth.jwks")),
        "{:#?}",
        loaded.problems
    );
    assert_eq!(loaded.problems.len(), 6, "{:#?}", loaded.problems);
}

#[test]
fn unknown_key_messages_list_the_table() {
    let errs = errors(None, &[("INTEROP_PROXY_LIMITS__MAX_SESIONS", "1")]);
    let (_, names) = super::keys::sections()
        .into_iter()
        .find(|(s, _)| *s == "limits")
        .unwrap();
    assert!(
        errs[0].contains(&format!("known keys in [limits]: {}", names.join(", "))),
        "{errs:?}"
    );
    assert!(names.contains(&"max_sessions"));
}

#[test]
fn a_file_that_is_not_toml_is_one_line() {
    let f = file("[limits]\nmax_depth = 8\nlisten = \n");
    let errs = errors(Some(f.path()), &[]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(
        ConfigErrors(errs.clone()).to_string().lines().count(),
        1,
        "{errs:?}"
    );
    assert!(
        errs[0].contains("not valid TOML: line 3, column 10: "),
        "{errs:?}"
    );
}
