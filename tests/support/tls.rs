//! A minimal HTTPS responder on loopback for the capability lookup, the JWKS fetch and
//! the HTTPS client tests: a generated CA and leaf certificate, tokio-rustls, and a hand-rolled
//! HTTP/1.1 answer per connection (`Connection: close`).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the responder sends for one request.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
    /// Wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// `status` with a JSON body, at once.
    pub fn json(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    /// The same, after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

type Handler = dyn Fn(&str) -> Reply + Send + Sync;

/// A generated CA, for a trusted (or deliberately untrusted) bundle.
pub struct Ca {
    /// The CA certificate.
    cert: rcgen::Certificate,
    /// Its key.
    key: KeyPair,
}

impl Ca {
    /// A fresh CA.
    pub fn generate() -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes the CA certificate as PEM under `dir`; returns the path.
    pub fn write_pem(&self, dir: &std::path::Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.cert.pem()).unwrap();
        path
    }
}

/// A running HTTPS responder.
pub struct TlsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests answered (or being answered), counted when the request is read.
    pub requests: Arc<AtomicUsize>,
    /// The request targets (path and query) seen, in order.
    pub targets: Arc<Mutex<Vec<String>>>,
    /// The accept loop.
    task: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    /// Serves on 127.0.0.1 with a leaf for `127.0.0.1` and `localhost` issued by `ca`;
    /// `handler` decides the reply from the request target.
    pub async fn start(ca: &Ca, handler: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Self {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        let leaf = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let task = tokio::spawn({
            let requests = requests.clone();
            let targets = targets.clone();
            async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    let handler = handler.clone();
                    let requests = requests.clone();
                    let targets = targets.clone();
                    tokio::spawn(async move {
                        let Ok(mut tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let mut head = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => head.extend_from_slice(&buf[..n]),
                            }
                            if head.len() > 16 * 1024 {
                                return;
                            }
                        }
                        let head = String::from_utf8_lossy(&head).into_owned();
                        let target = head
                            .lines()
                            .next()
                            .and_then(|l| l.split(' ').nth(1))
                            .unwrap_or("")
                            .to_string();
                        requests.fetch_add(1, Ordering::SeqCst);
                        targets.lock().unwrap().push(target.clone());
                        let reply = handler(&target);
                        tokio::time::sleep(reply.delay).await;
                        let mut out = format!(
                            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            reply.status,
                            reply.body.len()
                        )
                        .into_bytes();
                        out.extend_from_slice(&reply.body);
                        let _ = tls.write_all(&out).await;
                        let _ = tls.shutdown().await;
                    });
                }
            }
        });
        TlsServer {
            addr,
            requests,
            targets,
            task,
        }
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// Requests seen so far.
    pub fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
