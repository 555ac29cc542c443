//! The upstream's address, looked up once every few seconds rather than at every login.
//! `getaddrinfo` blocks, so tokio runs it on its blocking pool: per login that was a
//! thread hand-off and the lookup itself, and a reconnect wave of 9,000 logins kept 20
//! to 40 threads busy with it. Envoy refreshes a cluster's DNS every 5 s by default, and
//! so does this. A dial that fails on every address forgets the answer, so a server that
//! moved is looked up again at the next login.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How long a looked-up answer is used.
pub const REFRESH: Duration = Duration::from_secs(5);

/// `host:port` and its addresses.
pub struct Resolver {
    name: String,
    /// An IP literal's address, which needs no lookup.
    literal: Option<Arc<[SocketAddr]>>,
    /// The last answer and when it came.
    answer: Mutex<Option<(Instant, Arc<[SocketAddr]>)>>,
    /// Held by the one login that looks the name up; the others wait for its answer.
    lookup: tokio::sync::Mutex<()>,
}

impl Resolver {
    /// The resolver of `host:port`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            literal: name
                .parse::<SocketAddr>()
                .ok()
                .map(|a| Arc::from([a].as_slice())),
            name,
            answer: Mutex::new(None),
            lookup: tokio::sync::Mutex::new(()),
        }
    }

    /// The addresses to dial, in the resolver's order.
    pub async fn addrs(&self) -> std::io::Result<Arc<[SocketAddr]>> {
        if let Some(literal) = &self.literal {
            return Ok(literal.clone());
        }
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let _one = self.lookup.lock().await;
        if let Some(fresh) = self.fresh() {
            return Ok(fresh);
        }
        let found: Arc<[SocketAddr]> = tokio::net::lookup_host(&self.name).await?.collect();
        if found.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{} has no address", self.name),
            ));
        }
        *self.answer.lock().expect("not poisoned") = Some((Instant::now(), found.clone()));
        Ok(found)
    }

    /// Drops the answer, so the next login looks the name up again.
    pub fn forget(&self) {
        *self.answer.lock().expect("not poisoned") = None;
    }

    fn fresh(&self) -> Option<Arc<[SocketAddr]>> {
        match &*self.answer.lock().expect("not poisoned") {
            Some((at, addrs)) if at.elapsed() < REFRESH => Some(addrs.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_name_is_looked_up_once_per_refresh_and_again_once_forgotten() {
        let resolver = Resolver::new("localhost:5222");
        let first = resolver.addrs().await.unwrap();
        assert!(first
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 5222));
        let again = resolver.addrs().await.unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same answer, not a new lookup"
        );
        tokio::time::advance(REFRESH).await;
        assert!(!Arc::ptr_eq(&first, &resolver.addrs().await.unwrap()));
        let before = resolver.addrs().await.unwrap();
        resolver.forget();
        assert!(!Arc::ptr_eq(&before, &resolver.addrs().await.unwrap()));
    }

    #[tokio::test]
    async fn an_ip_literal_needs_no_lookup_and_a_bad_name_is_an_error() {
        let literal = Resolver::new("127.0.0.1:9");
        assert_eq!(
            &*literal.addrs().await.unwrap(),
            &["127.0.0.1:9".parse::<SocketAddr>().unwrap()]
        );
        assert!(Resolver::new("no-such-host.invalid:1")
            .addrs()
            .await
            .is_err());
        assert!(Resolver::new("no port").addrs().await.is_err());
    }
}
