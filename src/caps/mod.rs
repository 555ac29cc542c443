//! Capability metadata (SPEC §3): which XEP-0030 identity and features the proxy
//! advertises for a client, and which content kinds that client can receive.
//!
//! - [`file`]: the capability file (`caps.file`): node, profiles, rules.
//! - [`rules`]: selection by `user_agent.platform` and a minimum `app_version`.
//! - [`profile`]: a profile with its XEP-0115 `ver`, computed once at load.
//! - [`lookup`]: the optional provider lookup by account, cached and coalesced.
//!
//! A session's profile is chosen once, during set-up ([`Caps::session`]); the pipeline
//! steps (`pipeline::presence_caps`, `pipeline::disco`, `pipeline::unsupported`) then
//! work from the [`SessionCaps`] alone.

pub mod file;
pub mod lookup;
pub mod profile;
pub mod rules;

use std::sync::Arc;
use std::time::Duration;

use crate::config::{CapsConfig, TlsConfig, Unsupported};
use crate::https::HttpsClient;
use crate::metrics::{self, LookupResult};
use crate::wa_proto::ClientPayloadView;

pub use file::{CapsFile, DEFAULT_PROFILE};
pub use lookup::{Answer, Lookup, LookupSettings};
pub use profile::{Identity, Profile};

/// Extra time a session waits for a lookup beyond the request's own bound, so the
/// request's timeout, not this one, is what normally ends a slow lookup.
const SESSION_MARGIN: Duration = Duration::from_millis(250);

/// What the pipeline of one session needs to know about capabilities.
#[derive(Clone, Debug)]
pub struct SessionCaps {
    /// The session's profile.
    pub profile: Arc<Profile>,
    /// `caps.unsupported`.
    pub unsupported: Unsupported,
}

/// The per-process capability state: the file, and the lookup if configured.
pub struct Caps {
    /// The loaded file.
    file: CapsFile,
    /// `profiles.default`.
    default: Arc<Profile>,
    /// `caps.unsupported`.
    unsupported: Unsupported,
    /// The provider lookup, when `caps.lookup_url` is set.
    lookup: Option<Lookup>,
}

impl Caps {
    /// Loads `caps.file` and, with `caps.lookup_url`, sets up the HTTPS client. Every
    /// problem is one line, prefixed with the configuration key it concerns.
    pub fn load(config: &CapsConfig, tls: &TlsConfig) -> Result<Self, Vec<String>> {
        let file = file::load(&config.file).map_err(|problems| {
            problems
                .into_iter()
                .map(|p| format!("caps.file: {p}"))
                .collect::<Vec<_>>()
        })?;
        let lookup = match &config.lookup_url {
            None => None,
            Some(url) => {
                let client = HttpsClient::new(tls.ca_file.as_deref()).map_err(|e| {
                    let key = if tls.ca_file.is_some() {
                        "tls.ca_file"
                    } else {
                        "caps.lookup_url"
                    };
                    vec![format!("{key}: {e}")]
                })?;
                Some((LookupSettings::new(url.clone(), config.cache_ttl), client))
            }
        };
        Ok(Self::new(file, config.unsupported, lookup))
    }

    /// From a loaded file; `lookup` with its client, if any.
    pub fn new(
        file: CapsFile,
        unsupported: Unsupported,
        lookup: Option<(LookupSettings, HttpsClient)>,
    ) -> Self {
        let default = file
            .profiles
            .get(DEFAULT_PROFILE)
            .cloned()
            .expect("a loaded file has a default profile");
        let lookup = lookup.map(|(settings, client)| {
            Lookup::new(client, settings, file.node.clone(), file.profiles.clone())
        });
        Self {
            file,
            default,
            unsupported,
            lookup,
        }
    }

    /// The node URI of the file.
    pub fn node(&self) -> &str {
        &self.file.node
    }

    /// A profile of the file by name.
    pub fn profile(&self, name: &str) -> Option<&Arc<Profile>> {
        self.file.profiles.get(name)
    }

    /// The lookup, if configured.
    pub fn lookup(&self) -> Option<&Lookup> {
        self.lookup.as_ref()
    }

    /// The profile the rules select: the first matching rule's, else `default`.
    pub fn select(&self, payload: &ClientPayloadView) -> Arc<Profile> {
        self.file
            .rules
            .iter()
            .find(|r| r.matches(payload))
            .and_then(|r| self.file.profiles.get(&r.profile))
            .unwrap_or(&self.default)
            .clone()
    }

    /// The session's capabilities: the provider's answer for the account when the
    /// lookup is configured and answers, else the rules' choice. Waits at most the
    /// lookup's timeout (plus a small margin).
    pub async fn session(&self, payload: &ClientPayloadView) -> SessionCaps {
        let looked_up = match (&self.lookup, payload.account_id()) {
            (Some(lookup), Some(account)) => {
                let bound = lookup.timeout() + SESSION_MARGIN;
                match tokio::time::timeout(bound, lookup.lookup(account)).await {
                    Ok(Ok(Answer::Profile(p))) => Some(p),
                    Ok(Ok(Answer::UseRules)) | Ok(Err(())) => None,
                    Err(_) => {
                        metrics::caps_lookup(LookupResult::Error);
                        None
                    }
                }
            }
            _ => None,
        };
        SessionCaps {
            profile: looked_up.unwrap_or_else(|| self.select(payload)),
            unsupported: self.unsupported,
        }
    }

    /// The rules' choice, without any lookup (e.g. for tools and benchmarks).
    pub fn session_by_rules(&self, payload: &ClientPayloadView) -> SessionCaps {
        SessionCaps {
            profile: self.select(payload),
            unsupported: self.unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wa_proto::client_payload::{AppVersion, ClientPayloadFields, UserAgent};
    use bytes::Bytes;
    use prost::Message;

    fn payload(platform: i32, version: [u32; 3]) -> ClientPayloadView {
        let fields = ClientPayloadFields {
            user_agent: Some(UserAgent {
                platform: Some(platform),
                app_version: Some(AppVersion {
                    primary: Some(version[0]),
                    secondary: Some(version[1]),
                    tertiary: Some(version[2]),
                    quaternary: None,
                }),
            }),
            ..Default::default()
        };
        ClientPayloadView::parse(Bytes::from(fields.encode_to_vec())).unwrap()
    }

    fn caps() -> Caps {
        let text = r#"node = "https://n.example"
[profiles.default]
identity = { category = "client", type = "phone", name = "D" }
features = ["urn:interop:caps:receive:text"]
[profiles.ios]
identity = { category = "client", type = "phone", name = "I" }
features = ["urn:interop:caps:receive:image"]
[profiles.new-android]
identity = { category = "client", type = "phone", name = "N" }
features = ["urn:interop:caps:receive:video"]
[profiles.android]
identity = { category = "client", type = "phone", name = "A" }
features = ["urn:interop:caps:receive:audio"]
[[rules]]
platform = "IOS"
profile = "ios"
[[rules]]
platform = "ANDROID"
min_version = "2.24"
profile = "new-android"
[[rules]]
platform = 0
min_version = "2.21.0"
profile = "android"
"#;
        Caps::new(file::parse(text, "t").unwrap(), Unsupported::Annotate, None)
    }

    #[test]
    fn first_matching_rule_wins_else_default() {
        let c = caps();
        let name = |p: &ClientPayloadView| c.select(p).name.clone().unwrap();
        assert_eq!(name(&payload(1, [1, 0, 0])), "ios");
        assert_eq!(name(&payload(0, [2, 24, 0])), "new-android");
        assert_eq!(name(&payload(0, [2, 23, 9])), "android");
        assert_eq!(name(&payload(0, [2, 20, 0])), "default");
        assert_eq!(name(&payload(14, [9, 0, 0])), "default");
        let empty = ClientPayloadView::parse(Bytes::new()).unwrap();
        assert_eq!(name(&empty), "default");
    }

    #[tokio::test]
    async fn without_lookup_the_session_uses_the_rules() {
        let c = caps();
        let s = c.session(&payload(1, [1, 0, 0])).await;
        assert_eq!(s.profile.name.as_deref(), Some("ios"));
        assert_eq!(s.unsupported, Unsupported::Annotate);
        assert!(c.lookup().is_none());
        assert_eq!(c.node(), "https://n.example");
    }
}
