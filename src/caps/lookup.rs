//! The provider's capability lookup (`caps.lookup_url`): one HTTPS GET per account,
//! cached for `caps.cache_ttl`, with concurrent lookups for one account sharing one
//! request.
//!
//! - `GET {lookup_url}?account={account_id}` (or `&account=` when the URL already has a
//!   query).
//! - 200 with `{"profile": "NAME"}` (a profile of the file) or a whole profile
//!   `{"identity": {...}, "features": [...]}`, whose `ver` is computed once, here.
//! - 404: "use the rules", cached like any answer.
//! - Anything else (timeout, other status, bad JSON, TLS, an unknown profile name) is an
//!   error: not cached, and the caller uses the rules.
//!
//! The request runs in its own task, so a session that gives up waiting (its set-up
//! deadline) neither cancels the request for the others nor leaves it half done.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt, Shared};
use serde::Deserialize;
use tokio::time::Instant;

use super::profile::{Identity, Profile};
use crate::https::HttpsClient;
use crate::metrics::{self, LookupResult};

/// Bound on one lookup request (connect, TLS, answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Accounts kept in the cache; beyond it the oldest entry goes.
pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

/// What the lookup service said about an account.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Use this profile.
    Profile(Arc<Profile>),
    /// 404: select by the rules.
    UseRules,
}

/// The service's 200 body.
#[derive(Deserialize)]
#[serde(untagged)]
enum Reply {
    /// `{"profile": "NAME"}`.
    Named {
        /// A profile of the file.
        profile: String,
    },
    /// `{"identity": {...}, "features": [...]}`.
    Whole {
        /// The identity.
        identity: Identity,
        /// The features.
        features: Vec<String>,
    },
}

/// How the lookup is set up.
#[derive(Clone, Debug)]
pub struct LookupSettings {
    /// `caps.lookup_url`.
    pub url: String,
    /// `caps.cache_ttl`.
    pub ttl: Duration,
    /// Bound on one request.
    pub timeout: Duration,
    /// Bound on the cache's size.
    pub max_entries: usize,
}

impl LookupSettings {
    /// The defaults for `url` and `ttl`.
    pub fn new(url: String, ttl: Duration) -> Self {
        Self {
            url,
            ttl,
            timeout: DEFAULT_TIMEOUT,
            max_entries: DEFAULT_MAX_ENTRIES,
        }
    }
}

/// A request in flight, shared by every session waiting for the same account.
type Fetch = Shared<BoxFuture<'static, Result<Answer, ()>>>;

/// The lookup client with its cache; cheap to share behind the [`super::Caps`].
pub struct Lookup {
    /// Everything the request tasks need too.
    inner: Arc<Inner>,
}

/// The shared part of a [`Lookup`].
struct Inner {
    /// The HTTPS client.
    client: HttpsClient,
    /// Settings.
    settings: LookupSettings,
    /// The file's node, for profiles looked up whole.
    node: String,
    /// The file's profiles, for `{"profile": "NAME"}`.
    profiles: HashMap<String, Arc<Profile>>,
    /// Cache and in-flight requests.
    state: Mutex<State>,
}

/// Cache and in-flight requests, under one lock (never held across an await).
#[derive(Default)]
struct State {
    /// Answers by account.
    cache: HashMap<u64, Entry>,
    /// Insertion order `(account, seq)`, oldest first; an entry whose `seq` differs from
    /// the cached one is stale and skipped.
    order: VecDeque<(u64, u64)>,
    /// Next insertion number.
    seq: u64,
    /// Requests in flight by account.
    inflight: HashMap<u64, Fetch>,
}

/// One cached answer.
struct Entry {
    /// The answer.
    answer: Answer,
    /// When it stops being used.
    expires: Instant,
    /// Its insertion number, see [`State::order`].
    seq: u64,
}

impl State {
    /// The cached answer for `account`, if fresh; a stale one is dropped.
    fn get(&mut self, account: u64, now: Instant) -> Option<Answer> {
        let entry = self.cache.get(&account)?;
        if entry.expires > now {
            return Some(entry.answer.clone());
        }
        self.cache.remove(&account);
        None
    }

    /// Caches `answer`, evicting the oldest entries beyond `max`.
    fn insert(&mut self, account: u64, answer: Answer, expires: Instant, max: usize) {
        self.seq += 1;
        let seq = self.seq;
        self.cache.insert(
            account,
            Entry {
                answer,
                expires,
                seq,
            },
        );
        self.order.push_back((account, seq));
        while self.cache.len() > max {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.cache.get(&oldest).is_some_and(|e| e.seq == seq) {
                self.cache.remove(&oldest);
            }
        }
        // Re-inserted accounts leave stale order entries; keep the queue bounded.
        if self.order.len() > 2 * max.max(1) {
            let cache = &self.cache;
            self.order
                .retain(|(a, s)| cache.get(a).is_some_and(|e| e.seq == *s));
        }
    }
}

impl Lookup {
    /// A lookup for profiles advertised under `node`, resolving names in `profiles`.
    pub fn new(
        client: HttpsClient,
        settings: LookupSettings,
        node: String,
        profiles: HashMap<String, Arc<Profile>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                settings,
                node,
                profiles,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// The bound on one request.
    pub fn timeout(&self) -> Duration {
        self.inner.settings.timeout
    }

    /// Accounts cached now (fresh or not yet noticed stale).
    pub fn cached(&self) -> usize {
        self.inner.state.lock().expect("not poisoned").cache.len()
    }

    /// The answer for `account`: from the cache, from a request already in flight, or
    /// from a new request. `Err` means the lookup failed; it is counted here.
    pub async fn lookup(&self, account: u64) -> Result<Answer, ()> {
        let (fetch, leader) = {
            let mut state = self.inner.state.lock().expect("not poisoned");
            if let Some(answer) = state.get(account, Instant::now()) {
                metrics::caps_lookup(LookupResult::Hit);
                return Ok(answer);
            }
            match state.inflight.get(&account) {
                Some(fetch) => (fetch.clone(), false),
                None => {
                    let fetch = self.start(account);
                    state.inflight.insert(account, fetch.clone());
                    (fetch, true)
                }
            }
        };
        let result = fetch.await;
        // The session that caused the request counts it as fetched; the ones that shared
        // it were served without a request of their own, like a cache hit.
        metrics::caps_lookup(match (&result, leader) {
            (Err(()), _) => LookupResult::Error,
            (Ok(_), true) => LookupResult::Fetched,
            (Ok(_), false) => LookupResult::Hit,
        });
        result
    }

    /// Spawns the request for `account`; the task caches the answer and leaves the
    /// in-flight map itself, whoever still waits for it.
    fn start(&self, account: u64) -> Fetch {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let result = inner.fetch(account).await;
            let mut state = inner.state.lock().expect("not poisoned");
            state.inflight.remove(&account);
            if let Ok(answer) = &result {
                let expires = Instant::now() + inner.settings.ttl;
                state.insert(account, answer.clone(), expires, inner.settings.max_entries);
            }
            result
        });
        async move { task.await.unwrap_or(Err(())) }
            .boxed()
            .shared()
    }
}

impl Inner {
    /// One request and the interpretation of its answer.
    async fn fetch(&self, account: u64) -> Result<Answer, ()> {
        let url = lookup_url(&self.settings.url, account);
        let (status, body) = self
            .client
            .get(&url, self.settings.timeout)
            .await
            .map_err(|e| tracing::debug!(error = %e, "capability lookup failed"))?;
        match status {
            200 => self.interpret(&body).map_err(|e| {
                tracing::debug!(error = %e, "capability lookup answer refused");
            }),
            404 => Ok(Answer::UseRules),
            other => {
                tracing::debug!(status = other, "capability lookup failed");
                Err(())
            }
        }
    }

    /// A 200 body as an answer.
    fn interpret(&self, body: &[u8]) -> Result<Answer, AnswerError> {
        let reply: Reply = serde_json::from_slice(body)?;
        match reply {
            Reply::Named { profile } => self
                .profiles
                .get(&profile)
                .cloned()
                .map(Answer::Profile)
                .ok_or(AnswerError::UnknownProfile),
            Reply::Whole { identity, features } => {
                Profile::new(&self.node, None, identity, features)
                    .map(|p| Answer::Profile(Arc::new(p)))
                    .map_err(AnswerError::Profile)
            }
        }
    }
}

/// Why a lookup service's 200 answer was not used; the session falls back to the rules.
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    /// The body is not the answer's JSON.
    #[error("not a lookup answer: {0}")]
    Json(#[from] serde_json::Error),
    /// It names a profile the capabilities file does not define.
    #[error("names a profile the file does not define")]
    UnknownProfile,
    /// The profile it gives whole is not a valid one.
    #[error("{0}")]
    Profile(String),
}

/// `base` with `account=ID` added to its query.
fn lookup_url(base: &str, account: u64) -> String {
    // A fragment is never sent; the query goes before where it stood.
    let base = base.split_once('#').map_or(base, |(b, _)| b);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("account", &account.to_string())
        .finish();
    let sep = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    format!("{base}{sep}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gets_the_account_in_its_query() {
        assert_eq!(
            lookup_url("https://p.example/caps", 42),
            "https://p.example/caps?account=42"
        );
        assert_eq!(
            lookup_url("https://p.example/caps?v=2", 42),
            "https://p.example/caps?v=2&account=42"
        );
        assert_eq!(
            lookup_url("https://p.example/caps?", 7),
            "https://p.example/caps?account=7"
        );
        assert_eq!(
            lookup_url("https://p.example/caps#frag", u64::MAX),
            "https://p.example/caps?account=18446744073709551615"
        );
    }

    #[test]
    fn cache_evicts_the_oldest_beyond_its_bound() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut s = State::default();
        for a in 0..5 {
            s.insert(a, Answer::UseRules, later, 3);
        }
        assert_eq!(s.cache.len(), 3);
        assert!(s.get(0, now).is_none() && s.get(1, now).is_none());
        assert!(s.get(2, now).is_some() && s.get(4, now).is_some());
        // Re-inserting an account makes it the newest.
        s.insert(2, Answer::UseRules, later, 3);
        s.insert(5, Answer::UseRules, later, 3);
        assert!(s.get(3, now).is_none(), "3 was the oldest");
        assert!(s.get(2, now).is_some());
        for a in 0..1000 {
            s.insert(a % 4, Answer::UseRules, later, 3);
        }
        assert!(s.order.len() <= 6, "{}", s.order.len());
        assert_eq!(s.cache.len(), 3);
    }

    #[test]
    fn stale_entries_are_not_used() {
        let now = Instant::now();
        let mut s = State::default();
        s.insert(1, Answer::UseRules, now + Duration::from_secs(1), 10);
        assert!(s.get(1, now).is_some());
        assert!(s.get(1, now + Duration::from_secs(1)).is_none());
        assert!(s.cache.is_empty());
    }
}
