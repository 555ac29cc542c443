//! The provider's JSON Web Key Set, from a file or over HTTPS, refreshed when a token
//! names a key id the set does not have, at most once per [`REFRESH_FLOOR`] so tokens
//! with made-up key ids cannot flood the provider (or the disk).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::Mutex;

/// Fewest seconds between two fetches of the key set (SPEC §4: at most once every 2 s).
pub const REFRESH_FLOOR: Duration = Duration::from_secs(2);

/// Why the key set could not be loaded; the keys held before stay in place.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    /// `auth.jwks_file` could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the read said.
        source: std::io::Error,
    },
    /// `auth.jwks_url` could not be fetched.
    #[error(transparent)]
    Fetch(#[from] crate::https::HttpsError),
    /// `auth.jwks_url` answered with a status other than 200.
    #[error("JWKS answered {0}")]
    Status(u16),
    /// The body is not a JWK set.
    #[error("not a JWK set: {0}")]
    NotAJwkSet(#[source] serde_json::Error),
    /// A key of an allowed algorithm does not make a verification key.
    #[error("bad key: {0}")]
    BadKey(#[source] jsonwebtoken::errors::Error),
}

/// Where the key set comes from.
pub enum KeySource {
    /// `auth.jwks_file`.
    File(PathBuf),
    /// `auth.jwks_url`, fetched with the outbound HTTPS client.
    Url {
        /// The URL.
        url: String,
        /// The client (trusting `tls.ca_file` or the system roots).
        client: crate::https::HttpsClient,
    },
}

/// One usable key.
#[derive(Clone)]
pub struct Key {
    /// The verification key.
    pub key: DecodingKey,
    /// The only algorithm this key verifies.
    pub algorithm: Algorithm,
}

/// The current keys by `kid`, and the means to refresh them.
pub struct KeySet {
    /// Where to fetch from.
    source: KeySource,
    /// Keys by id; a key without `kid` is stored under "".
    keys: RwLock<HashMap<String, Key>>,
    /// When the last fetch started; serialises fetches and enforces the floor.
    last_fetch: Mutex<Option<Instant>>,
    /// Counts the fetches that stored keys: a token verified with one generation is
    /// not taken as verified under another.
    generation: std::sync::atomic::AtomicU64,
}

impl KeySet {
    /// A key set that fetches from `source`. Nothing is fetched yet.
    pub fn new(source: KeySource) -> Self {
        Self {
            source,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
            generation: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Which set of keys is in force; changes with every store.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Fetches now; an error leaves the old keys in place. Start-up calls this and logs
    /// a failure: clients are refused with 401 until a later fetch succeeds.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_and_store().await
    }

    /// The key for `kid`, refreshing once (within the floor) when it is unknown.
    pub async fn get(&self, kid: &str) -> Option<Key> {
        if let Some(key) = self.lookup(kid) {
            return Some(key);
        }
        {
            let mut last = self.last_fetch.lock().await;
            // Another session may have refreshed while this one waited for the lock.
            if let Some(key) = self.lookup(kid) {
                return Some(key);
            }
            if last.is_some_and(|t| t.elapsed() < REFRESH_FLOOR) {
                return None;
            }
            *last = Some(Instant::now());
            if let Err(e) = self.fetch_and_store().await {
                tracing::warn!(error = %e, "JWKS refresh failed");
            }
        }
        self.lookup(kid)
    }

    /// A key already held.
    fn lookup(&self, kid: &str) -> Option<Key> {
        self.keys.read().expect("not poisoned").get(kid).cloned()
    }

    /// Reads the source and replaces the keys.
    async fn fetch_and_store(&self) -> Result<usize, JwksError> {
        let body = match &self.source {
            KeySource::File(path) => {
                tokio::fs::read(path)
                    .await
                    .map_err(|source| JwksError::Read {
                        path: path.clone(),
                        source,
                    })?
            }
            KeySource::Url { url, client } => {
                let (status, body) = client.get(url, Duration::from_secs(5)).await?;
                if status != 200 {
                    return Err(JwksError::Status(status));
                }
                body.to_vec()
            }
        };
        let keys = parse(&body)?;
        let count = keys.len();
        let mut held = self.keys.write().expect("not poisoned");
        *held = keys;
        // Under the write lock, so no token is verified with the new keys and kept under
        // the old generation.
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        drop(held);
        Ok(count)
    }
}

/// Parses a JWK set, keeping the keys of the allowed algorithms and skipping others.
pub fn parse(body: &[u8]) -> Result<HashMap<String, Key>, JwksError> {
    let set: JwkSet = serde_json::from_slice(body).map_err(JwksError::NotAJwkSet)?;
    let mut keys = HashMap::new();
    for jwk in &set.keys {
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            (AlgorithmParameters::OctetKeyPair(okp), None | Some(KeyAlgorithm::EdDSA))
                if okp.curve == EllipticCurve::Ed25519 =>
            {
                Algorithm::EdDSA
            }
            // Symmetric keys and other algorithms are never accepted.
            _ => continue,
        };
        let key = DecodingKey::from_jwk(jwk).map_err(JwksError::BadKey)?;
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        keys.insert(kid, Key { key, algorithm });
    }
    Ok(keys)
}
