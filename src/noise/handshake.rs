//! The WhatsApp handshake patterns XX, IK and XXfallback (SPEC §2.4) over the protobuf
//! messages of SPEC §2.3.
//!
//! snow cannot be used as is: WhatsApp's XX leaves the empty first payload out of the
//! transcript hash, and snow 0.10 has no fallback modifier. The message flow is therefore
//! written here, on [`SymmetricState`], with snow supplying every primitive.
//!
//! Every error poisons the handshake: a half-processed message leaves `h` and `ck` in a
//! state that must never be used again.

use crate::handshake::{ClientFinish, ClientHello, ServerHello};

use super::keys::Keypair;
use super::symmetric::{Backend, SymmetricState, LEN, TAG_LEN};
use super::transport::TransportState;

const XX_NAME: &[u8] = b"Noise_XX_25519_AESGCM_SHA256";
const IK_NAME: &[u8] = b"Noise_IK_25519_AESGCM_SHA256";
const FALLBACK_NAME: &[u8] = b"Noise_XXfallback_25519_AESGCM_SHA256";

/// An encrypted static key: 32 bytes and a tag.
const STATIC_CT_LEN: usize = LEN + TAG_LEN;

/// Which handshake a session ended up using; a metrics label, among others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Full handshake: the client knows no server key.
    Xx,
    /// One round trip: the client pinned the server's static key.
    Ik,
    /// The pinned key was wrong; the server restarted as XX, reusing the client's `e`.
    XxFallback,
}

impl Pattern {
    /// The metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            Pattern::Xx => "xx",
            Pattern::Ik => "ik",
            Pattern::XxFallback => "xx_fallback",
        }
    }
}

/// Whether XX's empty first payload enters the transcript hash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// WhatsApp leaves it out; this is what real peers speak.
    #[default]
    WhatsApp,
    /// Textbook Noise mixes it in; exists so the code can be checked against snow.
    Standard,
}

/// Why a handshake or transport step failed. Carries no key material.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    /// A protobuf field the pattern needs is absent.
    #[error("handshake message lacks field `{0}`")]
    MissingField(&'static str),
    /// A key, ciphertext or frame has the wrong size.
    #[error("{what}: expected {expected} bytes, got {got}")]
    BadLength {
        /// Which value.
        what: &'static str,
        /// The required length (a minimum for ciphertexts and frames).
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// An AEAD tag did not verify.
    #[error("decryption failed")]
    Decrypt,
    /// X25519 failed or produced the all-zero value (a low-order peer key).
    #[error("Diffie-Hellman failed")]
    Dh,
    /// A method was called out of order, or after an earlier error.
    #[error("wrong handshake state: {0}")]
    WrongState(&'static str),
    /// The 64-bit nonce counter ran out.
    #[error("nonce counter exhausted")]
    NonceExhausted,
    /// The crypto backend lacks a primitive.
    #[error("crypto backend lacks {0}")]
    Unsupported(&'static str),
}

fn field<'a>(value: &'a Option<Vec<u8>>, name: &'static str) -> Result<&'a [u8], NoiseError> {
    value.as_deref().ok_or(NoiseError::MissingField(name))
}

fn exact(bytes: &[u8], len: usize, what: &'static str) -> Result<(), NoiseError> {
    if bytes.len() == len {
        Ok(())
    } else {
        Err(NoiseError::BadLength {
            what,
            expected: len,
            got: bytes.len(),
        })
    }
}

fn at_least(bytes: &[u8], len: usize, what: &'static str) -> Result<(), NoiseError> {
    if bytes.len() >= len {
        Ok(())
    } else {
        Err(NoiseError::BadLength {
            what,
            expected: len,
            got: bytes.len(),
        })
    }
}

fn key32(bytes: &[u8], what: &'static str) -> Result<[u8; LEN], NoiseError> {
    bytes.try_into().map_err(|_| NoiseError::BadLength {
        what,
        expected: LEN,
        got: bytes.len(),
    })
}

/// Checks that a `ServerHello`/`ClientFinish` static is an encrypted 32-byte key before
/// any state changes, so length errors are reported as such rather than as `Decrypt`.
fn static_ct<'a>(value: &'a Option<Vec<u8>>) -> Result<&'a [u8], NoiseError> {
    let ct = field(value, "static")?;
    exact(ct, STATIC_CT_LEN, "static")?;
    Ok(ct)
}

fn payload_ct<'a>(value: &'a Option<Vec<u8>>) -> Result<&'a [u8], NoiseError> {
    let ct = field(value, "payload")?;
    at_least(ct, TAG_LEN, "payload")?;
    Ok(ct)
}

fn ephemeral(value: &Option<Vec<u8>>) -> Result<[u8; LEN], NoiseError> {
    key32(field(value, "ephemeral")?, "ephemeral")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Nothing sent or received yet.
    Start,
    /// The first message has passed; the second is next.
    Hello,
    /// Two messages have passed; XX and XXfallback have a third.
    Finish,
    /// Split may be called.
    Complete,
    /// An error happened; nothing more may be done.
    Failed,
}

/// The client side; the proxy uses it on its upstream leg.
pub struct Initiator {
    prologue: [u8; 4],
    s: Keypair,
    pinned: Option<[u8; LEN]>,
    e: Option<Keypair>,
    dialect: Dialect,
    backend: Backend,
    pattern: Pattern,
    sym: Option<SymmetricState>,
    re: Option<[u8; LEN]>,
    rs: Option<[u8; LEN]>,
    step: Step,
}

impl Initiator {
    /// XX when `server_static` is None, IK when Some.
    pub fn new(prologue: [u8; 4], local_static: Keypair, server_static: Option<[u8; 32]>) -> Self {
        Self {
            prologue,
            s: local_static,
            pinned: server_static,
            e: None,
            dialect: Dialect::default(),
            backend: Backend::default(),
            pattern: if server_static.is_some() {
                Pattern::Ik
            } else {
                Pattern::Xx
            },
            sym: None,
            re: None,
            rs: None,
            step: Step::Start,
        }
    }

    /// Chooses the transcript rule for XX's first payload.
    pub fn with_dialect(mut self, d: Dialect) -> Self {
        self.dialect = d;
        self
    }

    /// Fixes the ephemeral key instead of drawing one, for known-answer tests.
    pub fn with_ephemeral(mut self, e: Keypair) -> Self {
        self.e = Some(e);
        self
    }

    /// Chooses the snow resolver for the handshake and the resulting transport.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The pattern in use; IK turns into XXfallback when the server answers with a static.
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The server's static key, once a decrypted handshake message has authenticated it.
    ///
    /// In XX and XXfallback the caller must still check it against the certificate chain.
    pub fn remote_static(&self) -> Option<[u8; 32]> {
        self.rs
    }

    /// Whether [`Initiator::into_transport`] will succeed.
    pub fn is_complete(&self) -> bool {
        self.step == Step::Complete
    }

    /// The transcript hash so far (`None` before the first message), for channel binding.
    pub fn handshake_hash(&self) -> Option<[u8; 32]> {
        self.sym.as_ref().map(SymmetricState::handshake_hash)
    }

    fn poison_on_err<T>(&mut self, r: Result<T, NoiseError>) -> Result<T, NoiseError> {
        if r.is_err() {
            self.step = Step::Failed;
            self.sym = None;
        }
        r
    }

    fn sym(&mut self) -> Result<&mut SymmetricState, NoiseError> {
        self.sym
            .as_mut()
            .ok_or(NoiseError::WrongState("no symmetric state"))
    }

    fn e(&self) -> Result<&Keypair, NoiseError> {
        self.e
            .as_ref()
            .ok_or(NoiseError::WrongState("no ephemeral key"))
    }

    /// `payload` is the ClientPayload, sent (encrypted) only in IK; ignored in XX.
    pub fn client_hello(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        let r = self.client_hello_inner(payload);
        self.poison_on_err(r)
    }

    fn client_hello_inner(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        if self.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already sent"));
        }
        let e = self.e.get_or_insert_with(Keypair::generate).clone();
        let hello = match self.pinned {
            None => {
                let mut sym = SymmetricState::new(self.backend, XX_NAME, &self.prologue)?;
                sym.mix_hash(&e.public);
                if self.dialect == Dialect::Standard {
                    sym.encrypt_and_hash(&[])?;
                }
                self.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: None,
                    payload: None,
                }
            }
            Some(rs) => {
                let mut sym = SymmetricState::new(self.backend, IK_NAME, &self.prologue)?;
                sym.mix_hash(&rs);
                sym.mix_hash(&e.public);
                sym.mix_key(self.backend.dh(&e, &rs)?.as_ref());
                let s_ct = sym.encrypt_and_hash(&self.s.public)?;
                sym.mix_key(self.backend.dh(&self.s, &rs)?.as_ref());
                let p_ct = sym.encrypt_and_hash(payload)?;
                self.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: Some(s_ct),
                    payload: Some(p_ct),
                }
            }
        };
        self.step = Step::Hello;
        Ok(hello)
    }

    /// In IK, a ServerHello that carries a `static` switches to XXfallback (fresh ephemeral not needed: the
    /// client's ephemeral is the pre-message). Returns the decrypted server payload (the cert chain bytes in
    /// XX/XXfallback; empty in IK).
    pub fn read_server_hello(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_server_hello_inner(hello);
        self.poison_on_err(r)
    }

    fn read_server_hello_inner(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        if self.step != Step::Hello {
            return Err(NoiseError::WrongState("not awaiting a server hello"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        let p_ct = payload_ct(&hello.payload)?;
        let e = self.e()?.clone();
        let backend = self.backend;

        if self.pattern == Pattern::Ik && hello.r#static.is_none() {
            // <- e, ee, se
            let sym = self.sym()?;
            sym.mix_hash(&re);
            sym.mix_key(backend.dh(&e, &re)?.as_ref());
            let se = backend.dh(&self.s, &re)?;
            let sym = self.sym()?;
            sym.mix_key(se.as_ref());
            let payload = sym.decrypt_and_hash(p_ct)?;
            self.re = Some(re);
            self.rs = self.pinned;
            self.step = Step::Complete;
            return Ok(payload);
        }

        let s_ct = static_ct(&hello.r#static)?;
        if self.pattern == Pattern::Ik {
            // The server could not use our pinned key and restarted with XXfallback,
            // whose pre-message is the ephemeral we already sent.
            let mut sym = SymmetricState::new(backend, FALLBACK_NAME, &self.prologue)?;
            sym.mix_hash(&e.public);
            self.sym = Some(sym);
            self.pattern = Pattern::XxFallback;
        }
        // <- e, ee, s, es
        let sym = self.sym()?;
        sym.mix_hash(&re);
        sym.mix_key(backend.dh(&e, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        sym.mix_key(backend.dh(&e, &rs)?.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.re = Some(re);
        self.rs = Some(rs);
        self.step = Step::Finish;
        Ok(payload)
    }

    /// XX and XXfallback: encrypts static and payload. IK: returns Ok(None) (no third message).
    pub fn client_finish(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        let r = self.client_finish_inner(payload);
        self.poison_on_err(r)
    }

    fn client_finish_inner(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        match (self.pattern, self.step) {
            (Pattern::Ik, Step::Complete) => return Ok(None),
            (Pattern::Xx | Pattern::XxFallback, Step::Finish) => {}
            _ => return Err(NoiseError::WrongState("not ready for client finish")),
        }
        let re = self
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        // -> s, se
        let se = self.backend.dh(&self.s, &re)?;
        let s_public = self.s.public;
        let sym = self.sym()?;
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(se.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.step = Step::Complete;
        Ok(Some(ClientFinish {
            r#static: Some(s_ct),
            payload: Some(p_ct),
        }))
    }

    /// Splits into transport keys; the client sends with the first.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        if self.step != Step::Complete {
            return Err(NoiseError::WrongState("handshake not complete"));
        }
        let mut sym = self
            .sym
            .take()
            .ok_or(NoiseError::WrongState("no symmetric state"))?;
        let (k1, k2) = sym.split();
        TransportState::new(sym.backend(), k1, k2)
    }
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("pattern", &self.pattern)
            .field("step", &self.step)
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

/// The server side; the proxy uses it on its client leg.
pub struct Responder {
    prologue: [u8; 4],
    s: Keypair,
    e: Option<Keypair>,
    dialect: Dialect,
    backend: Backend,
    pattern: Pattern,
    sym: Option<SymmetricState>,
    re: Option<[u8; LEN]>,
    rs: Option<[u8; LEN]>,
    step: Step,
}

impl Responder {
    /// A responder that will accept XX or IK and fall back to XXfallback as needed.
    pub fn new(prologue: [u8; 4], local_static: Keypair) -> Self {
        Self {
            prologue,
            s: local_static,
            e: None,
            dialect: Dialect::default(),
            backend: Backend::default(),
            pattern: Pattern::Xx,
            sym: None,
            re: None,
            rs: None,
            step: Step::Start,
        }
    }

    /// Chooses the transcript rule for XX's first payload.
    pub fn with_dialect(mut self, d: Dialect) -> Self {
        self.dialect = d;
        self
    }

    /// Fixes the ephemeral key instead of drawing one, for known-answer tests.
    pub fn with_ephemeral(mut self, e: Keypair) -> Self {
        self.e = Some(e);
        self
    }

    /// Chooses the snow resolver for the handshake and the resulting transport.
    pub fn with_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The pattern chosen by [`Responder::read_client_hello`] (XX before it).
    pub fn pattern(&self) -> Pattern {
        self.pattern
    }

    /// The client's static key, once decrypted (IK: after the hello; XX: after the finish).
    pub fn remote_static(&self) -> Option<[u8; 32]> {
        self.rs
    }

    /// Whether [`Responder::into_transport`] will succeed.
    pub fn is_complete(&self) -> bool {
        self.step == Step::Complete
    }

    /// The transcript hash so far (`None` before the first message), for channel binding.
    pub fn handshake_hash(&self) -> Option<[u8; 32]> {
        self.sym.as_ref().map(SymmetricState::handshake_hash)
    }

    fn poison_on_err<T>(&mut self, r: Result<T, NoiseError>) -> Result<T, NoiseError> {
        if r.is_err() {
            self.step = Step::Failed;
            self.sym = None;
        }
        r
    }

    fn sym(&mut self) -> Result<&mut SymmetricState, NoiseError> {
        self.sym
            .as_mut()
            .ok_or(NoiseError::WrongState("no symmetric state"))
    }

    /// ClientHello without `static` -> XX. With `static` -> try IK; if the IK message does not decrypt
    /// (client pinned a different key) switch to XXfallback. Returns Some(client payload) when IK succeeded.
    pub fn read_client_hello(
        &mut self,
        hello: &ClientHello,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        let r = self.read_client_hello_inner(hello);
        self.poison_on_err(r)
    }

    fn read_client_hello_inner(
        &mut self,
        hello: &ClientHello,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        if self.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already read"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        self.re = Some(re);

        if hello.r#static.is_none() {
            // -> e. A `payload` field is ignored: WhatsApp never sends one, and without a
            // key it could not be authenticated anyway.
            let mut sym = SymmetricState::new(self.backend, XX_NAME, &self.prologue)?;
            sym.mix_hash(&re);
            if self.dialect == Dialect::Standard {
                sym.decrypt_and_hash(&[])?;
            }
            self.sym = Some(sym);
            self.pattern = Pattern::Xx;
            self.step = Step::Hello;
            return Ok(None);
        }

        let s_ct = static_ct(&hello.r#static)?;
        let p_ct = payload_ct(&hello.payload)?;
        match self.try_ik(re, s_ct, p_ct) {
            Ok((sym, rs, payload)) => {
                self.sym = Some(sym);
                self.rs = Some(rs);
                self.pattern = Pattern::Ik;
                self.step = Step::Hello;
                Ok(Some(payload))
            }
            Err(NoiseError::Decrypt) => {
                // The client pinned a key that is not ours; restart as XXfallback with its
                // ephemeral as the pre-message.
                let mut sym = SymmetricState::new(self.backend, FALLBACK_NAME, &self.prologue)?;
                sym.mix_hash(&re);
                self.sym = Some(sym);
                self.pattern = Pattern::XxFallback;
                self.step = Step::Hello;
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// `-> e, es, s, ss` + payload on a fresh state, so a failure leaves nothing behind.
    fn try_ik(
        &self,
        re: [u8; LEN],
        s_ct: &[u8],
        p_ct: &[u8],
    ) -> Result<(SymmetricState, [u8; LEN], Vec<u8>), NoiseError> {
        let mut sym = SymmetricState::new(self.backend, IK_NAME, &self.prologue)?;
        sym.mix_hash(&self.s.public);
        sym.mix_hash(&re);
        sym.mix_key(self.backend.dh(&self.s, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        sym.mix_key(self.backend.dh(&self.s, &rs)?.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        Ok((sym, rs, payload))
    }

    /// payload = the CertChain bytes in XX/XXfallback; empty in IK.
    pub fn server_hello(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        let r = self.server_hello_inner(payload);
        self.poison_on_err(r)
    }

    fn server_hello_inner(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        if self.step != Step::Hello {
            return Err(NoiseError::WrongState("not ready for server hello"));
        }
        let re = self
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        let e = self.e.get_or_insert_with(Keypair::generate).clone();
        let backend = self.backend;
        let ee = backend.dh(&e, &re)?;

        if self.pattern == Pattern::Ik {
            // <- e, ee, se
            let rs = self.rs.ok_or(NoiseError::WrongState("no remote static"))?;
            let se = backend.dh(&e, &rs)?;
            let sym = self.sym()?;
            sym.mix_hash(&e.public);
            sym.mix_key(ee.as_ref());
            sym.mix_key(se.as_ref());
            let p_ct = sym.encrypt_and_hash(payload)?;
            self.step = Step::Complete;
            return Ok(ServerHello {
                ephemeral: Some(e.public.to_vec()),
                r#static: None,
                payload: Some(p_ct),
            });
        }

        // <- e, ee, s, es
        let es = backend.dh(&self.s, &re)?;
        let s_public = self.s.public;
        let sym = self.sym()?;
        sym.mix_hash(&e.public);
        sym.mix_key(ee.as_ref());
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(es.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.step = Step::Finish;
        Ok(ServerHello {
            ephemeral: Some(e.public.to_vec()),
            r#static: Some(s_ct),
            payload: Some(p_ct),
        })
    }

    /// XX/XXfallback: returns the decrypted ClientPayload.
    pub fn read_client_finish(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_client_finish_inner(finish);
        self.poison_on_err(r)
    }

    fn read_client_finish_inner(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        if self.step != Step::Finish {
            return Err(NoiseError::WrongState("not awaiting a client finish"));
        }
        let s_ct = static_ct(&finish.r#static)?;
        let p_ct = payload_ct(&finish.payload)?;
        let e = self
            .e
            .clone()
            .ok_or(NoiseError::WrongState("no ephemeral key"))?;
        let backend = self.backend;
        // -> s, se
        let sym = self.sym()?;
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        let se = backend.dh(&e, &rs)?;
        let sym = self.sym()?;
        sym.mix_key(se.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.rs = Some(rs);
        self.step = Step::Complete;
        Ok(payload)
    }

    /// Splits into transport keys; the server sends with the second.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        if self.step != Step::Complete {
            return Err(NoiseError::WrongState("handshake not complete"));
        }
        let mut sym = self
            .sym
            .take()
            .ok_or(NoiseError::WrongState("no symmetric state"))?;
        let (k1, k2) = sym.split();
        TransportState::new(sym.backend(), k2, k1)
    }
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("pattern", &self.pattern)
            .field("step", &self.step)
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}
