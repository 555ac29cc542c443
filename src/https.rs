//! The proxy's outbound HTTPS client, shared by everything that fetches from the
//! provider's services (the capability lookup, the JWKS).
//!
//! - HTTPS only: a `http://` URL is refused before anything is sent.
//! - Trust: the system's root certificates, or, when `tls.ca_file` is set, only the PEM
//!   bundle in that file (a private PKI should not be widened to every public CA).
//! - rustls with the `ring` provider, chosen per client rather than installed
//!   process-wide, so nothing else in the process has to agree on a provider.
//! - Every request is bounded in time (connect, TLS, request and body together) and the
//!   body in size, so a slow or hostile service cannot hold a session or the memory.
//!
//! [`HttpsClient`] is a handle to a connection pool; clones share it.

use std::error::Error as StdError;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Largest response body accepted by [`HttpsClient::get`].
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// Why a fetch failed. The messages name no URL query (it may carry an account id).
#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    /// The URL does not parse, or has no host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The URL's scheme is not `https`.
    #[error("refusing a non-https URL")]
    NotHttps,
    /// The whole exchange did not finish in time.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// TCP connect (or DNS) failed.
    #[error("connect failed: {0}")]
    Connect(String),
    /// The TLS handshake failed, e.g. the certificate is not trusted.
    #[error("TLS failed: {0}")]
    Tls(String),
    /// The HTTP exchange failed after the connection was made.
    #[error("HTTP exchange failed: {0}")]
    Http(String),
    /// A status the caller did not accept (only from [`HttpsClient::get_ok`]).
    #[error("unexpected HTTP status {0}")]
    Status(u16),
    /// The body was longer than [`MAX_BODY_BYTES`].
    #[error("response body over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
}

/// A pooled HTTPS client; cheap to clone.
#[derive(Clone)]
pub struct HttpsClient {
    /// The hyper client over a rustls connector.
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient").finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client trusting the system roots, or only the PEM certificates in `ca_file`.
    /// Fails when the bundle cannot be read or holds no certificate, or when the system
    /// store yields none.
    pub fn new(ca_file: Option<&Path>) -> Result<Self, String> {
        let roots = match ca_file {
            Some(path) => roots_from_pem(path)?,
            None => system_roots()?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_only()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Ok(Self { client })
    }

    /// `GET url`; returns the status and the body (at most [`MAX_BODY_BYTES`]) whatever
    /// the status. `timeout` bounds everything: connect, TLS, headers and body.
    pub async fn get(&self, url: &str, timeout: Duration) -> Result<(u16, Bytes), HttpsError> {
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| HttpsError::InvalidUrl(e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(HttpsError::NotHttps);
        }
        if uri.host().is_none() {
            return Err(HttpsError::InvalidUrl("no host".into()));
        }
        let request = Request::get(uri)
            .header(
                hyper::header::USER_AGENT,
                concat!("interop-proxy/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| HttpsError::InvalidUrl(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(classify)?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpsError::BodyTooLarge
                    } else {
                        HttpsError::Http(e.to_string())
                    }
                })?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(HttpsError::Timeout(timeout)))
    }

    /// Like [`HttpsClient::get`], but a status other than 2xx is [`HttpsError::Status`].
    pub async fn get_ok(&self, url: &str, timeout: Duration) -> Result<Bytes, HttpsError> {
        match self.get(url, timeout).await? {
            (status, body) if (200..300).contains(&status) => Ok(body),
            (status, _) => Err(HttpsError::Status(status)),
        }
    }
}

/// Every certificate in a PEM bundle; other PEM sections are skipped.
fn roots_from_pem(path: &Path) -> Result<RootCertStore, String> {
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("{shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{shown}: unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{shown}: no PEM certificate in the file"));
    }
    Ok(roots)
}

/// The platform's trusted roots; unparsable ones are skipped, as browsers do.
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(format!(
            "no trusted root certificates in the system store{why}; set tls.ca_file"
        ));
    }
    Ok(roots)
}

/// Sorts a client error into TLS, connect or HTTP by what caused it.
fn classify(e: hyper_util::client::legacy::Error) -> HttpsError {
    let mut source: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return HttpsError::Tls(tls.to_string());
        }
        // The connector wraps rustls' io::Error in another io::Error, and an io::Error's
        // `source` skips the error it wraps: descend into `get_ref` instead.
        source = match s.downcast_ref::<std::io::Error>() {
            Some(io) => match io.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => None,
            },
            None => s.source(),
        };
    }
    let detail = chain(&e);
    if e.is_connect() {
        HttpsError::Connect(detail)
    } else {
        HttpsError::Http(detail)
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_plain_http_and_bad_urls() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        let client = HttpsClient::new(Some(&ca)).unwrap();
        let t = Duration::from_secs(1);
        assert!(matches!(
            client.get("http://127.0.0.1:1/x", t).await,
            Err(HttpsError::NotHttps)
        ));
        assert!(matches!(
            client.get("not a url", t).await,
            Err(HttpsError::InvalidUrl(_))
        ));
        assert!(matches!(
            client.get("/relative", t).await,
            Err(HttpsError::NotHttps)
        ));
    }

    #[test]
    fn ca_file_problems_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = HttpsClient::new(Some(&missing)).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let e = HttpsClient::new(Some(&empty)).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
