//! The WhatsApp handshake patterns XX, IK and XXfallback (SPEC §2.4) over the protobuf
//! messages of SPEC §2.3.
//!
//! snow cannot be used as is: WhatsApp's XX leaves the empty first payload out of the
//! transcript hash, and snow 0.10 has no fallback modifier. The message flow is therefore
//! written here, on the crate's `SymmetricState`, with snow supplying every primitive.
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
    /// Every pattern, in declaration order (metrics index series by discriminant).
    pub const ALL: [Pattern; 3] = [Pattern::Xx, Pattern::Ik, Pattern::XxFallback];

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
fn static_ct(value: &Option<Vec<u8>>) -> Result<&[u8], NoiseError> {
    let ct = field(value, "static")?;
    exact(ct, STATIC_CT_LEN, "static")?;
    Ok(ct)
}

fn payload_ct(value: &Option<Vec<u8>>) -> Result<&[u8], NoiseError> {
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

/// The state and rules both roles share; [`Initiator`] and [`Responder`] add the
/// messages of their side.
struct Party {
    /// The intro header, mixed into `h` first.
    prologue: [u8; 4],
    /// Our static key.
    s: Keypair,
    /// Our ephemeral key, drawn when first needed (or fixed for known answers).
    e: Option<Keypair>,
    /// Whether XX's first payload is hashed.
    dialect: Dialect,
    /// Where the primitives come from.
    backend: Backend,
    /// The pattern in use.
    pattern: Pattern,
    /// `ck`, `h`, `k`; `None` before the first message and after a failure.
    sym: Option<SymmetricState>,
    /// The peer's ephemeral key.
    re: Option<[u8; LEN]>,
    /// The peer's static key, once authenticated.
    rs: Option<[u8; LEN]>,
    /// Where in the handshake we are.
    step: Step,
}

impl Party {
    fn new(prologue: [u8; 4], s: Keypair, pattern: Pattern) -> Self {
        Self {
            prologue,
            s,
            e: None,
            dialect: Dialect::default(),
            backend: Backend::default(),
            pattern,
            sym: None,
            re: None,
            rs: None,
            step: Step::Start,
        }
    }

    /// Any error ends the handshake for good: a half-failed state is never reused.
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

    /// Split keys `(k1, k2)` once the handshake is complete.
    #[allow(clippy::type_complexity)]
    fn split(
        &mut self,
    ) -> Result<
        (
            Backend,
            zeroize::Zeroizing<[u8; LEN]>,
            zeroize::Zeroizing<[u8; LEN]>,
        ),
        NoiseError,
    > {
        if self.step != Step::Complete {
            return Err(NoiseError::WrongState("handshake not complete"));
        }
        let mut sym = self
            .sym
            .take()
            .ok_or(NoiseError::WrongState("no symmetric state"))?;
        let (k1, k2) = sym.split();
        Ok((sym.backend(), k1, k2))
    }
}

/// The builder and inspection methods both roles offer, written once.
macro_rules! shared_api {
    ($role:ident) => {
        impl $role {
            /// Chooses the transcript rule for XX's first payload.
            pub fn with_dialect(mut self, d: Dialect) -> Self {
                self.p.dialect = d;
                self
            }

            /// Fixes the ephemeral key instead of drawing one, for known-answer tests.
            pub fn with_ephemeral(mut self, e: Keypair) -> Self {
                self.p.e = Some(e);
                self
            }

            /// Chooses the snow resolver for the handshake and the resulting transport.
            pub fn with_backend(mut self, backend: Backend) -> Self {
                self.p.backend = backend;
                self
            }

            /// The pattern in use (an initiator's IK turns into XXfallback when the
            /// server answers with a static; a responder's is chosen by the hello).
            pub fn pattern(&self) -> Pattern {
                self.p.pattern
            }

            /// The peer's static key, once a decrypted handshake message authenticated
            /// it. In XX and XXfallback the caller must still check it against a chain.
            pub fn remote_static(&self) -> Option<[u8; 32]> {
                self.p.rs
            }

            /// Whether `into_transport` will succeed.
            pub fn is_complete(&self) -> bool {
                self.p.step == Step::Complete
            }

            /// The transcript hash so far (`None` before the first message).
            pub fn handshake_hash(&self) -> Option<[u8; 32]> {
                self.p.sym.as_ref().map(SymmetricState::handshake_hash)
            }
        }

        impl std::fmt::Debug for $role {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($role))
                    .field("pattern", &self.p.pattern)
                    .field("step", &self.p.step)
                    .field("dialect", &self.p.dialect)
                    .finish_non_exhaustive()
            }
        }
    };
}

shared_api!(Initiator);
shared_api!(Responder);

/// The client side; the proxy uses it on its upstream leg.
pub struct Initiator {
    /// The state both roles share.
    p: Party,
    /// The server key the client pinned (IK), if any.
    pinned: Option<[u8; LEN]>,
}

impl Initiator {
    /// XX when `server_static` is None, IK when Some.
    pub fn new(prologue: [u8; 4], local_static: Keypair, server_static: Option<[u8; 32]>) -> Self {
        let pattern = if server_static.is_some() {
            Pattern::Ik
        } else {
            Pattern::Xx
        };
        Self {
            p: Party::new(prologue, local_static, pattern),
            pinned: server_static,
        }
    }

    /// `payload` is the ClientPayload, sent (encrypted) only in IK; ignored in XX.
    pub fn client_hello(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        let r = self.client_hello_inner(payload);
        self.p.poison_on_err(r)
    }

    fn client_hello_inner(&mut self, payload: &[u8]) -> Result<ClientHello, NoiseError> {
        if self.p.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already sent"));
        }
        let e = self.p.e.get_or_insert_with(Keypair::ephemeral).clone();
        let hello = match self.pinned {
            None => {
                let mut sym = SymmetricState::new(self.p.backend, XX_NAME, &self.p.prologue)?;
                sym.mix_hash(&e.public);
                if self.p.dialect == Dialect::Standard {
                    sym.encrypt_and_hash(&[])?;
                }
                self.p.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: None,
                    payload: None,
                }
            }
            Some(rs) => {
                let mut sym = SymmetricState::new(self.p.backend, IK_NAME, &self.p.prologue)?;
                sym.mix_hash(&rs);
                sym.mix_hash(&e.public);
                sym.mix_key(self.p.backend.dh(&e, &rs)?.as_ref());
                let s_ct = sym.encrypt_and_hash(&self.p.s.public)?;
                sym.mix_key(self.p.backend.dh(&self.p.s, &rs)?.as_ref());
                let p_ct = sym.encrypt_and_hash(payload)?;
                self.p.sym = Some(sym);
                ClientHello {
                    ephemeral: Some(e.public.to_vec()),
                    r#static: Some(s_ct),
                    payload: Some(p_ct),
                }
            }
        };
        self.p.step = Step::Hello;
        Ok(hello)
    }

    /// In IK, a ServerHello that carries a `static` switches to XXfallback (fresh ephemeral not needed: the
    /// client's ephemeral is the pre-message). Returns the decrypted server payload (the cert chain bytes in
    /// XX/XXfallback; empty in IK).
    pub fn read_server_hello(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_server_hello_inner(hello);
        self.p.poison_on_err(r)
    }

    fn read_server_hello_inner(&mut self, hello: &ServerHello) -> Result<Vec<u8>, NoiseError> {
        if self.p.step != Step::Hello {
            return Err(NoiseError::WrongState("not awaiting a server hello"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        let p_ct = payload_ct(&hello.payload)?;
        let e = self.p.e()?.clone();
        let backend = self.p.backend;

        if self.p.pattern == Pattern::Ik && hello.r#static.is_none() {
            // <- e, ee, se
            let sym = self.p.sym()?;
            sym.mix_hash(&re);
            sym.mix_key(backend.dh(&e, &re)?.as_ref());
            let se = backend.dh(&self.p.s, &re)?;
            let sym = self.p.sym()?;
            sym.mix_key(se.as_ref());
            let payload = sym.decrypt_and_hash(p_ct)?;
            self.p.re = Some(re);
            self.p.rs = self.pinned;
            self.p.step = Step::Complete;
            return Ok(payload);
        }

        let s_ct = static_ct(&hello.r#static)?;
        if self.p.pattern == Pattern::Ik {
            // The server could not use our pinned key and restarted with XXfallback,
            // whose pre-message is the ephemeral we already sent.
            let mut sym = SymmetricState::new(backend, FALLBACK_NAME, &self.p.prologue)?;
            sym.mix_hash(&e.public);
            self.p.sym = Some(sym);
            self.p.pattern = Pattern::XxFallback;
        }
        // <- e, ee, s, es
        let sym = self.p.sym()?;
        sym.mix_hash(&re);
        sym.mix_key(backend.dh(&e, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        sym.mix_key(backend.dh(&e, &rs)?.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.p.re = Some(re);
        self.p.rs = Some(rs);
        self.p.step = Step::Finish;
        Ok(payload)
    }

    /// XX and XXfallback: encrypts static and payload. IK: returns Ok(None) (no third message).
    pub fn client_finish(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        let r = self.client_finish_inner(payload);
        self.p.poison_on_err(r)
    }

    fn client_finish_inner(&mut self, payload: &[u8]) -> Result<Option<ClientFinish>, NoiseError> {
        match (self.p.pattern, self.p.step) {
            (Pattern::Ik, Step::Complete) => return Ok(None),
            (Pattern::Xx | Pattern::XxFallback, Step::Finish) => {}
            _ => return Err(NoiseError::WrongState("not ready for client finish")),
        }
        let re = self
            .p
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        // -> s, se
        let se = self.p.backend.dh(&self.p.s, &re)?;
        let s_public = self.p.s.public;
        let sym = self.p.sym()?;
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(se.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.p.step = Step::Complete;
        Ok(Some(ClientFinish {
            r#static: Some(s_ct),
            payload: Some(p_ct),
        }))
    }

    /// Splits into transport keys; the client sends with the first.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        // The initiator sends with k1, the responder with k2.
        let (backend, k1, k2) = self.p.split()?;
        TransportState::new(backend, k1, k2)
    }
}

/// The server side; the proxy uses it on its client leg.
pub struct Responder {
    /// The state both roles share.
    p: Party,
}

impl Responder {
    /// A responder that will accept XX or IK and fall back to XXfallback as needed.
    pub fn new(prologue: [u8; 4], local_static: Keypair) -> Self {
        Self {
            p: Party::new(prologue, local_static, Pattern::Xx),
        }
    }

    /// ClientHello without `static` -> XX. With `static` -> try IK; if the IK message does not decrypt
    /// (client pinned a different key) switch to XXfallback. Returns Some(client payload) when IK succeeded.
    pub fn read_client_hello(
        &mut self,
        hello: &ClientHello,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        let r = self.read_client_hello_inner(hello);
        self.p.poison_on_err(r)
    }

    fn read_client_hello_inner(
        &mut self,
        hello: &ClientHello,
    ) -> Result<Option<Vec<u8>>, NoiseError> {
        if self.p.step != Step::Start {
            return Err(NoiseError::WrongState("client hello already read"));
        }
        let re = ephemeral(&hello.ephemeral)?;
        self.p.re = Some(re);

        if hello.r#static.is_none() {
            // -> e. A `payload` field is ignored: WhatsApp never sends one, and without a
            // key it could not be authenticated anyway.
            let mut sym = SymmetricState::new(self.p.backend, XX_NAME, &self.p.prologue)?;
            sym.mix_hash(&re);
            if self.p.dialect == Dialect::Standard {
                sym.decrypt_and_hash(&[])?;
            }
            self.p.sym = Some(sym);
            self.p.pattern = Pattern::Xx;
            self.p.step = Step::Hello;
            return Ok(None);
        }

        let s_ct = static_ct(&hello.r#static)?;
        let p_ct = payload_ct(&hello.payload)?;
        match self.try_ik(re, s_ct, p_ct) {
            Ok((sym, rs, payload)) => {
                self.p.sym = Some(sym);
                self.p.rs = Some(rs);
                self.p.pattern = Pattern::Ik;
                self.p.step = Step::Hello;
                Ok(Some(payload))
            }
            Err(NoiseError::Decrypt) => {
                // The client pinned a key that is not ours; restart as XXfallback with its
                // ephemeral as the pre-message.
                let mut sym = SymmetricState::new(self.p.backend, FALLBACK_NAME, &self.p.prologue)?;
                sym.mix_hash(&re);
                self.p.sym = Some(sym);
                self.p.pattern = Pattern::XxFallback;
                self.p.step = Step::Hello;
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
        let mut sym = SymmetricState::new(self.p.backend, IK_NAME, &self.p.prologue)?;
        sym.mix_hash(&self.p.s.public);
        sym.mix_hash(&re);
        sym.mix_key(self.p.backend.dh(&self.p.s, &re)?.as_ref());
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        sym.mix_key(self.p.backend.dh(&self.p.s, &rs)?.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        Ok((sym, rs, payload))
    }

    /// payload = the CertChain bytes in XX/XXfallback; empty in IK.
    pub fn server_hello(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        let r = self.server_hello_inner(payload);
        self.p.poison_on_err(r)
    }

    fn server_hello_inner(&mut self, payload: &[u8]) -> Result<ServerHello, NoiseError> {
        if self.p.step != Step::Hello {
            return Err(NoiseError::WrongState("not ready for server hello"));
        }
        let re = self
            .p
            .re
            .ok_or(NoiseError::WrongState("no remote ephemeral"))?;
        let e = self.p.e.get_or_insert_with(Keypair::ephemeral).clone();
        let backend = self.p.backend;
        let ee = backend.dh(&e, &re)?;

        if self.p.pattern == Pattern::Ik {
            // <- e, ee, se
            let rs = self
                .p
                .rs
                .ok_or(NoiseError::WrongState("no remote static"))?;
            let se = backend.dh(&e, &rs)?;
            let sym = self.p.sym()?;
            sym.mix_hash(&e.public);
            sym.mix_key(ee.as_ref());
            sym.mix_key(se.as_ref());
            let p_ct = sym.encrypt_and_hash(payload)?;
            self.p.step = Step::Complete;
            return Ok(ServerHello {
                ephemeral: Some(e.public.to_vec()),
                r#static: None,
                payload: Some(p_ct),
            });
        }

        // <- e, ee, s, es
        let es = backend.dh(&self.p.s, &re)?;
        let s_public = self.p.s.public;
        let sym = self.p.sym()?;
        sym.mix_hash(&e.public);
        sym.mix_key(ee.as_ref());
        let s_ct = sym.encrypt_and_hash(&s_public)?;
        sym.mix_key(es.as_ref());
        let p_ct = sym.encrypt_and_hash(payload)?;
        self.p.step = Step::Finish;
        Ok(ServerHello {
            ephemeral: Some(e.public.to_vec()),
            r#static: Some(s_ct),
            payload: Some(p_ct),
        })
    }

    /// XX/XXfallback: returns the decrypted ClientPayload.
    pub fn read_client_finish(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        let r = self.read_client_finish_inner(finish);
        self.p.poison_on_err(r)
    }

    fn read_client_finish_inner(&mut self, finish: &ClientFinish) -> Result<Vec<u8>, NoiseError> {
        if self.p.step != Step::Finish {
            return Err(NoiseError::WrongState("not awaiting a client finish"));
        }
        let s_ct = static_ct(&finish.r#static)?;
        let p_ct = payload_ct(&finish.payload)?;
        let e = self
            .p
            .e
            .clone()
            .ok_or(NoiseError::WrongState("no ephemeral key"))?;
        let backend = self.p.backend;
        // -> s, se
        let sym = self.p.sym()?;
        let rs = key32(&sym.decrypt_and_hash(s_ct)?, "static")?;
        let se = backend.dh(&e, &rs)?;
        let sym = self.p.sym()?;
        sym.mix_key(se.as_ref());
        let payload = sym.decrypt_and_hash(p_ct)?;
        self.p.rs = Some(rs);
        self.p.step = Step::Complete;
        Ok(payload)
    }

    /// Splits into transport keys; the server sends with the second.
    pub fn into_transport(mut self) -> Result<TransportState, NoiseError> {
        // The initiator sends with k1, the responder with k2.
        let (backend, k1, k2) = self.p.split()?;
        TransportState::new(backend, k2, k1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{HandshakeMessage, NoiseCertificate};
    use crate::noise::keys::SecretKey;
    use bytes::BytesMut;
    use prost::Message;

    const PROLOGUE: [u8; 4] = [0x57, 0x41, 0x06, 0x03];

    fn kp(seed: u8) -> Keypair {
        Keypair::from_secret(SecretKey::from_bytes([seed; 32]))
    }

    fn kp_hex(hex_str: &str) -> Keypair {
        let bytes: [u8; 32] = hex::decode(hex_str).unwrap().try_into().unwrap();
        Keypair::from_secret(SecretKey::from_bytes(bytes))
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    // ---- 1. Known answers from a real WhatsApp server ----

    struct Kat {
        prologue: [u8; 4],
        client_static: Keypair,
        client_ephemeral: Keypair,
        server_hello: ServerHello,
        server_static: [u8; 32],
        details: Vec<u8>,
    }

    fn kat() -> Kat {
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/wa-known-answers.json")).unwrap();
        let hex_field = |name: &str| hex::decode(json[name].as_str().unwrap()).unwrap();
        let client_static = kp_hex(json["client_static_private_hex"].as_str().unwrap());
        let client_ephemeral = kp_hex(json["client_ephemeral_private_hex"].as_str().unwrap());
        assert_eq!(
            client_static.public.to_vec(),
            hex_field("client_static_public_hex")
        );
        assert_eq!(
            client_ephemeral.public.to_vec(),
            hex_field("client_ephemeral_public_hex")
        );
        let message =
            HandshakeMessage::decode(hex_field("server_hello_handshake_message_hex").as_slice())
                .unwrap();
        Kat {
            prologue: hex_field("prologue_hex").try_into().unwrap(),
            client_static,
            client_ephemeral,
            server_hello: message.server_hello.unwrap(),
            server_static: hex_field("expected_server_static_hex").try_into().unwrap(),
            details: hex::decode(
                json["expected_certificate"]["details_hex"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
        }
    }

    #[test]
    fn whatsapp_xx_decrypts_a_real_server_hello() {
        for backend in [Backend::Ring, Backend::Snow] {
            let k = kat();
            let mut init = Initiator::new(k.prologue, k.client_static, None)
                .with_ephemeral(k.client_ephemeral)
                .with_backend(backend);
            let hello = init.client_hello(b"ignored in XX").unwrap();
            assert_eq!(hello.r#static, None);
            assert_eq!(hello.payload, None);
            let payload = init.read_server_hello(&k.server_hello).unwrap();
            assert_eq!(init.pattern(), Pattern::Xx);
            assert_eq!(init.remote_static(), Some(k.server_static));
            let cert = NoiseCertificate::decode(payload.as_slice()).unwrap();
            assert_eq!(cert.details, Some(k.details));
            // The client can go on to its finish message.
            assert!(init.client_finish(b"client payload").unwrap().is_some());
            assert!(init.into_transport().is_ok());
        }
    }

    #[test]
    fn standard_dialect_fails_on_a_real_server_hello() {
        let k = kat();
        let mut init = Initiator::new(k.prologue, k.client_static, None)
            .with_ephemeral(k.client_ephemeral)
            .with_dialect(Dialect::Standard);
        init.client_hello(&[]).unwrap();
        assert!(matches!(
            init.read_server_hello(&k.server_hello),
            Err(NoiseError::Decrypt)
        ));
        assert_eq!(init.remote_static(), None);
    }

    // ---- 2. Against snow's HandshakeState ----

    fn snow_builder(name: &str, local: &Keypair) -> snow::Builder<'static> {
        let local = Box::leak(Box::new(*local.secret.expose()));
        snow::Builder::new(name.parse().unwrap())
            .local_private_key(local)
            .unwrap()
            .prologue(&PROLOGUE)
            .unwrap()
    }

    /// Transport both ways, several frames each, so both keys and both counters are checked.
    fn exchange_with_snow(ours: &mut TransportState, theirs: &mut snow::TransportState) {
        let mut buf = [0u8; 256];
        for i in 0..3u8 {
            let msg = [i; 40];
            let mut out = BytesMut::new();
            ours.send.encrypt(&msg, &mut out).unwrap();
            let n = theirs.read_message(&out, &mut buf).unwrap();
            assert_eq!(&buf[..n], &msg);

            let reply = [i ^ 0xff; 7];
            let len = theirs.write_message(&reply, &mut buf).unwrap();
            let mut frame = buf[..len].to_vec();
            let n = ours.recv.decrypt_in_place(&mut frame).unwrap();
            assert_eq!(&frame[..n], &reply);
        }
        assert_eq!(ours.send.counter(), 3);
        assert_eq!(ours.recv.counter(), 3);
    }

    #[test]
    fn ik_initiator_against_snow_responder() {
        for backend in [Backend::Ring, Backend::Snow] {
            let (cs, ss) = (kp(1), kp(2));
            let mut snow_r = snow_builder("Noise_IK_25519_AESGCM_SHA256", &ss)
                .build_responder()
                .unwrap();
            let mut init =
                Initiator::new(PROLOGUE, cs.clone(), Some(ss.public)).with_backend(backend);
            let mut buf = [0u8; 1024];

            let ch = init.client_hello(b"client payload").unwrap();
            let raw = cat(&[
                ch.ephemeral.as_deref().unwrap(),
                ch.r#static.as_deref().unwrap(),
                ch.payload.as_deref().unwrap(),
            ]);
            let n = snow_r.read_message(&raw, &mut buf).unwrap();
            assert_eq!(&buf[..n], b"client payload");
            assert_eq!(snow_r.get_remote_static(), Some(&cs.public[..]));

            let len = snow_r.write_message(&[], &mut buf).unwrap();
            assert_eq!(len, 32 + 16);
            let sh = ServerHello {
                ephemeral: Some(buf[..32].to_vec()),
                r#static: None,
                payload: Some(buf[32..len].to_vec()),
            };
            assert_eq!(init.read_server_hello(&sh).unwrap(), b"");
            assert_eq!(init.pattern(), Pattern::Ik);
            assert_eq!(init.remote_static(), Some(ss.public));
            assert_eq!(init.client_finish(b"x").unwrap(), None);
            assert_eq!(
                init.handshake_hash().unwrap().as_slice(),
                snow_r.get_handshake_hash()
            );
            let mut ours = init.into_transport().unwrap();
            let mut theirs = snow_r.into_transport_mode().unwrap();
            exchange_with_snow(&mut ours, &mut theirs);
        }
    }

    #[test]
    fn snow_ik_initiator_against_our_responder() {
        let (cs, ss) = (kp(3), kp(4));
        let mut snow_i = snow_builder("Noise_IK_25519_AESGCM_SHA256", &cs)
            .remote_public_key(&ss.public)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut resp = Responder::new(PROLOGUE, ss);
        let mut buf = [0u8; 1024];

        let len = snow_i.write_message(b"client payload", &mut buf).unwrap();
        let ch = ClientHello {
            ephemeral: Some(buf[..32].to_vec()),
            r#static: Some(buf[32..80].to_vec()),
            payload: Some(buf[80..len].to_vec()),
        };
        assert_eq!(
            resp.read_client_hello(&ch).unwrap().as_deref(),
            Some(&b"client payload"[..])
        );
        assert_eq!(resp.pattern(), Pattern::Ik);
        assert_eq!(resp.remote_static(), Some(cs.public));

        let sh = resp.server_hello(&[]).unwrap();
        assert_eq!(sh.r#static, None);
        assert_eq!(sh.payload.as_ref().unwrap().len(), 16);
        let raw = cat(&[
            sh.ephemeral.as_deref().unwrap(),
            sh.payload.as_deref().unwrap(),
        ]);
        assert_eq!(snow_i.read_message(&raw, &mut buf).unwrap(), 0);
        assert!(resp.is_complete());
        assert_eq!(
            resp.handshake_hash().unwrap().as_slice(),
            snow_i.get_handshake_hash()
        );
        let mut ours = resp.into_transport().unwrap();
        let mut theirs = snow_i.into_transport_mode().unwrap();
        exchange_with_snow(&mut ours, &mut theirs);
    }

    #[test]
    fn standard_xx_initiator_against_snow_responder() {
        let (cs, ss) = (kp(5), kp(6));
        let mut snow_r = snow_builder("Noise_XX_25519_AESGCM_SHA256", &ss)
            .build_responder()
            .unwrap();
        let mut init = Initiator::new(PROLOGUE, cs.clone(), None).with_dialect(Dialect::Standard);
        let mut buf = [0u8; 1024];

        let ch = init.client_hello(&[]).unwrap();
        let n = snow_r
            .read_message(ch.ephemeral.as_deref().unwrap(), &mut buf)
            .unwrap();
        assert_eq!(n, 0);

        let len = snow_r.write_message(b"cert chain", &mut buf).unwrap();
        let sh = ServerHello {
            ephemeral: Some(buf[..32].to_vec()),
            r#static: Some(buf[32..80].to_vec()),
            payload: Some(buf[80..len].to_vec()),
        };
        assert_eq!(init.read_server_hello(&sh).unwrap(), b"cert chain");
        assert_eq!(init.remote_static(), Some(ss.public));

        let cf = init.client_finish(b"client payload").unwrap().unwrap();
        let raw = cat(&[
            cf.r#static.as_deref().unwrap(),
            cf.payload.as_deref().unwrap(),
        ]);
        let n = snow_r.read_message(&raw, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"client payload");
        assert_eq!(snow_r.get_remote_static(), Some(&cs.public[..]));
        assert_eq!(
            init.handshake_hash().unwrap().as_slice(),
            snow_r.get_handshake_hash()
        );
        let mut ours = init.into_transport().unwrap();
        let mut theirs = snow_r.into_transport_mode().unwrap();
        exchange_with_snow(&mut ours, &mut theirs);
    }

    #[test]
    fn snow_xx_initiator_against_standard_responder() {
        let (cs, ss) = (kp(7), kp(8));
        let mut snow_i = snow_builder("Noise_XX_25519_AESGCM_SHA256", &cs)
            .build_initiator()
            .unwrap();
        let mut resp = Responder::new(PROLOGUE, ss.clone()).with_dialect(Dialect::Standard);
        let mut buf = [0u8; 1024];

        let len = snow_i.write_message(&[], &mut buf).unwrap();
        assert_eq!(len, 32);
        let ch = ClientHello {
            ephemeral: Some(buf[..32].to_vec()),
            r#static: None,
            payload: None,
        };
        assert_eq!(resp.read_client_hello(&ch).unwrap(), None);
        assert_eq!(resp.pattern(), Pattern::Xx);

        let sh = resp.server_hello(b"cert chain").unwrap();
        let raw = cat(&[
            sh.ephemeral.as_deref().unwrap(),
            sh.r#static.as_deref().unwrap(),
            sh.payload.as_deref().unwrap(),
        ]);
        let n = snow_i.read_message(&raw, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"cert chain");
        assert_eq!(snow_i.get_remote_static(), Some(&ss.public[..]));

        let len = snow_i.write_message(b"client payload", &mut buf).unwrap();
        let cf = ClientFinish {
            r#static: Some(buf[..48].to_vec()),
            payload: Some(buf[48..len].to_vec()),
        };
        assert_eq!(resp.read_client_finish(&cf).unwrap(), b"client payload");
        assert_eq!(resp.remote_static(), Some(cs.public));
        assert_eq!(
            resp.handshake_hash().unwrap().as_slice(),
            snow_i.get_handshake_hash()
        );
        let mut ours = resp.into_transport().unwrap();
        let mut theirs = snow_i.into_transport_mode().unwrap();
        exchange_with_snow(&mut ours, &mut theirs);
    }

    #[test]
    fn whatsapp_xx_differs_from_snow_only_in_the_first_hash() {
        // Our WhatsApp responder must reject what snow's textbook XX initiator sends in
        // message 3, because the transcripts diverged at message 1.
        let (cs, ss) = (kp(9), kp(10));
        let mut snow_i = snow_builder("Noise_XX_25519_AESGCM_SHA256", &cs)
            .build_initiator()
            .unwrap();
        let mut resp = Responder::new(PROLOGUE, ss);
        let mut buf = [0u8; 1024];
        let len = snow_i.write_message(&[], &mut buf).unwrap();
        resp.read_client_hello(&ClientHello {
            ephemeral: Some(buf[..len].to_vec()),
            r#static: None,
            payload: None,
        })
        .unwrap();
        let sh = resp.server_hello(b"cert").unwrap();
        let raw = cat(&[
            sh.ephemeral.as_deref().unwrap(),
            sh.r#static.as_deref().unwrap(),
            sh.payload.as_deref().unwrap(),
        ]);
        assert!(snow_i.read_message(&raw, &mut buf).is_err());
    }

    // ---- 3. Full transcripts, ours against ours, WhatsApp dialect ----

    fn exchange(a: &mut TransportState, b: &mut TransportState, rounds: u64) {
        let before = (a.send.counter(), b.recv.counter());
        fn one(from: &mut TransportState, to: &mut TransportState, msg: &str) {
            let mut out = BytesMut::with_capacity(64);
            from.send.encrypt(msg.as_bytes(), &mut out).unwrap();
            assert_eq!(out.len(), msg.len() + 16);
            assert_ne!(&out[..msg.len()], msg.as_bytes());
            let n = to.recv.decrypt_in_place(&mut out).unwrap();
            assert_eq!(&out[..n], msg.as_bytes());
        }
        for i in 0..rounds {
            one(a, b, &format!("<message id='{i}'/>"));
            one(b, a, &format!("<receipt id='{i}'/>"));
        }
        assert_eq!(a.send.counter(), before.0 + rounds);
        assert_eq!(b.recv.counter(), before.1 + rounds);
        assert_eq!(b.send.counter(), a.recv.counter());
    }

    struct Done {
        client: TransportState,
        server: TransportState,
    }

    /// Runs a whole handshake the way the proxy drives it, checking what each side learns.
    fn run(pinned: Option<[u8; 32]>, expect: Pattern) -> Done {
        let (cs, ss) = (kp(11), kp(12));
        let mut init = Initiator::new(PROLOGUE, cs.clone(), pinned);
        let mut resp = Responder::new(PROLOGUE, ss.clone());

        let ch = init.client_hello(b"client payload").unwrap();
        let early = resp.read_client_hello(&ch).unwrap();
        assert_eq!(resp.pattern(), expect);
        let server_payload: &[u8] = if expect == Pattern::Ik {
            assert_eq!(early.as_deref(), Some(&b"client payload"[..]));
            b""
        } else {
            assert_eq!(early, None);
            b"cert chain"
        };

        let sh = resp.server_hello(server_payload).unwrap();
        assert_eq!(sh.r#static.is_some(), expect != Pattern::Ik);
        assert_eq!(init.read_server_hello(&sh).unwrap(), server_payload);
        assert_eq!(init.pattern(), expect);
        assert_eq!(init.remote_static(), Some(ss.public));

        match init.client_finish(b"client payload").unwrap() {
            None => assert_eq!(expect, Pattern::Ik),
            Some(cf) => {
                assert_ne!(expect, Pattern::Ik);
                assert!(!resp.is_complete());
                assert_eq!(resp.read_client_finish(&cf).unwrap(), b"client payload");
            }
        }
        assert!(resp.is_complete());
        assert!(init.is_complete());
        assert_eq!(resp.remote_static(), Some(cs.public));
        assert_eq!(init.handshake_hash(), resp.handshake_hash());
        Done {
            client: init.into_transport().unwrap(),
            server: resp.into_transport().unwrap(),
        }
    }

    #[test]
    fn xx_transcript() {
        let mut d = run(None, Pattern::Xx);
        exchange(&mut d.client, &mut d.server, 5);
        exchange(&mut d.server, &mut d.client, 2);
    }

    #[test]
    fn ik_transcript() {
        let mut d = run(Some(kp(12).public), Pattern::Ik);
        exchange(&mut d.client, &mut d.server, 5);
        exchange(&mut d.server, &mut d.client, 2);
    }

    #[test]
    fn xx_fallback_transcript_after_a_wrong_pin() {
        let mut d = run(Some(kp(99).public), Pattern::XxFallback);
        exchange(&mut d.client, &mut d.server, 5);
        exchange(&mut d.server, &mut d.client, 2);
    }

    #[test]
    fn fixed_ephemerals_give_reproducible_messages() {
        let go = || {
            let mut init =
                Initiator::new(PROLOGUE, kp(1), Some(kp(77).public)).with_ephemeral(kp(21));
            let mut resp = Responder::new(PROLOGUE, kp(2)).with_ephemeral(kp(22));
            let ch = init.client_hello(b"p").unwrap();
            resp.read_client_hello(&ch).unwrap();
            let sh = resp.server_hello(b"c").unwrap();
            init.read_server_hello(&sh).unwrap();
            (ch, sh, init.handshake_hash())
        };
        let (a, b) = (go(), go());
        assert_eq!(a, b);
        assert_eq!(a.0.ephemeral.as_deref(), Some(&kp(21).public[..]));
    }

    #[test]
    fn labels() {
        assert_eq!(Pattern::Xx.label(), "xx");
        assert_eq!(Pattern::Ik.label(), "ik");
        assert_eq!(Pattern::XxFallback.label(), "xx_fallback");
    }

    // ---- 4. Negative cases ----

    /// An XX handshake stopped after the ServerHello, for tampering with message 2 or 3.
    fn xx_until_server_hello() -> (Initiator, Responder, ServerHello) {
        let mut init = Initiator::new(PROLOGUE, kp(31), None);
        let mut resp = Responder::new(PROLOGUE, kp(32));
        let ch = init.client_hello(&[]).unwrap();
        resp.read_client_hello(&ch).unwrap();
        let sh = resp.server_hello(b"cert chain").unwrap();
        (init, resp, sh)
    }

    fn flip(field: &mut Option<Vec<u8>>, at: usize) {
        field.as_mut().unwrap()[at] ^= 0x01;
    }

    #[test]
    fn tampered_server_hello_fails_and_poisons() {
        for (which, at) in [
            ("static", 0),
            ("static", 47),
            ("payload", 3),
            ("ephemeral", 5),
        ] {
            let (mut init, _, mut sh) = xx_until_server_hello();
            match which {
                "static" => flip(&mut sh.r#static, at),
                "payload" => flip(&mut sh.payload, at),
                _ => flip(&mut sh.ephemeral, at),
            }
            assert!(
                matches!(init.read_server_hello(&sh), Err(NoiseError::Decrypt)),
                "{which}"
            );
            assert_eq!(init.remote_static(), None);
            assert!(matches!(
                init.client_finish(&[]),
                Err(NoiseError::WrongState(_))
            ));
            assert!(init.into_transport().is_err());
        }
    }

    #[test]
    fn tampered_client_finish_fails() {
        for which in ["static", "payload"] {
            let (mut init, mut resp, sh) = xx_until_server_hello();
            init.read_server_hello(&sh).unwrap();
            let mut cf = init.client_finish(b"client payload").unwrap().unwrap();
            match which {
                "static" => flip(&mut cf.r#static, 10),
                _ => flip(&mut cf.payload, 0),
            }
            assert!(matches!(
                resp.read_client_finish(&cf),
                Err(NoiseError::Decrypt)
            ));
            assert!(!resp.is_complete());
            assert!(resp.into_transport().is_err());
        }
    }

    #[test]
    fn tampered_ik_server_hello_fails() {
        let ss = kp(42);
        let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
        let mut resp = Responder::new(PROLOGUE, ss);
        let ch = init.client_hello(b"p").unwrap();
        resp.read_client_hello(&ch).unwrap();
        let mut sh = resp.server_hello(&[]).unwrap();
        flip(&mut sh.payload, 15);
        assert!(matches!(
            init.read_server_hello(&sh),
            Err(NoiseError::Decrypt)
        ));
        assert_eq!(init.remote_static(), None);
    }

    #[test]
    fn tampered_ik_client_hello_falls_back_instead_of_trusting_it() {
        let ss = kp(42);
        let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
        let mut resp = Responder::new(PROLOGUE, ss);
        let mut ch = init.client_hello(b"p").unwrap();
        flip(&mut ch.payload, 0);
        assert_eq!(resp.read_client_hello(&ch).unwrap(), None);
        assert_eq!(resp.pattern(), Pattern::XxFallback);
        assert_eq!(resp.remote_static(), None);
    }

    #[test]
    fn missing_fields_are_named() {
        let mut resp = Responder::new(PROLOGUE, kp(1));
        assert!(matches!(
            resp.read_client_hello(&ClientHello::default()),
            Err(NoiseError::MissingField("ephemeral"))
        ));

        // IK hello with a static but no payload.
        let mut init = Initiator::new(PROLOGUE, kp(2), Some(kp(1).public));
        let mut ch = init.client_hello(b"p").unwrap();
        ch.payload = None;
        let mut resp = Responder::new(PROLOGUE, kp(1));
        assert!(matches!(
            resp.read_client_hello(&ch),
            Err(NoiseError::MissingField("payload"))
        ));

        for which in ["ephemeral", "static", "payload"] {
            let (mut init, _, mut sh) = xx_until_server_hello();
            match which {
                "ephemeral" => sh.ephemeral = None,
                "static" => sh.r#static = None,
                _ => sh.payload = None,
            }
            let err = init.read_server_hello(&sh).unwrap_err();
            assert!(
                matches!(err, NoiseError::MissingField(f) if f == which),
                "{which}: {err}"
            );
        }

        for which in ["static", "payload"] {
            let (mut init, mut resp, sh) = xx_until_server_hello();
            init.read_server_hello(&sh).unwrap();
            let mut cf = init.client_finish(b"x").unwrap().unwrap();
            match which {
                "static" => cf.r#static = None,
                _ => cf.payload = None,
            }
            let err = resp.read_client_finish(&cf).unwrap_err();
            assert!(
                matches!(err, NoiseError::MissingField(f) if f == which),
                "{which}: {err}"
            );
        }
    }

    #[test]
    fn wrong_lengths_are_rejected() {
        let mut resp = Responder::new(PROLOGUE, kp(1));
        let ch = ClientHello {
            ephemeral: Some(vec![9; 31]),
            ..Default::default()
        };
        assert!(matches!(
            resp.read_client_hello(&ch),
            Err(NoiseError::BadLength {
                what: "ephemeral",
                expected: 32,
                got: 31
            })
        ));

        let mut init = Initiator::new(PROLOGUE, kp(2), Some(kp(1).public));
        let mut ch = init.client_hello(b"p").unwrap();
        ch.r#static.as_mut().unwrap().pop();
        let mut resp = Responder::new(PROLOGUE, kp(1));
        assert!(matches!(
            resp.read_client_hello(&ch),
            Err(NoiseError::BadLength { what: "static", .. })
        ));

        type Mangle = fn(&mut ServerHello);
        let cases: [(&str, Mangle); 4] = [
            ("ephemeral", |sh| sh.ephemeral.as_mut().unwrap().push(0)),
            ("static", |sh| sh.r#static.as_mut().unwrap().truncate(32)),
            ("static", |sh| sh.r#static.as_mut().unwrap().push(0)),
            ("payload", |sh| sh.payload = Some(vec![0; 15])),
        ];
        for (what, mangle) in cases {
            let (mut init, _, mut sh) = xx_until_server_hello();
            mangle(&mut sh);
            let err = init.read_server_hello(&sh).unwrap_err();
            assert!(
                matches!(err, NoiseError::BadLength { what: w, .. } if w == what),
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn low_order_ephemeral_is_rejected() {
        let mut resp = Responder::new(PROLOGUE, kp(1));
        resp.read_client_hello(&ClientHello {
            ephemeral: Some(vec![0; 32]),
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(resp.server_hello(b"c"), Err(NoiseError::Dh)));
    }

    #[test]
    fn out_of_order_calls_are_refused() {
        let mut init = Initiator::new(PROLOGUE, kp(1), None);
        assert!(matches!(
            init.read_server_hello(&ServerHello::default()),
            Err(NoiseError::WrongState(_))
        ));
        let mut resp = Responder::new(PROLOGUE, kp(2));
        assert!(matches!(
            resp.server_hello(b""),
            Err(NoiseError::WrongState(_))
        ));
        let (init, resp, _) = xx_until_server_hello();
        assert!(init.into_transport().is_err());
        assert!(resp.into_transport().is_err());

        // IK has no third message for the responder.
        let ss = kp(42);
        let mut init = Initiator::new(PROLOGUE, kp(41), Some(ss.public));
        let mut resp = Responder::new(PROLOGUE, ss);
        resp.read_client_hello(&init.client_hello(b"p").unwrap())
            .unwrap();
        init.read_server_hello(&resp.server_hello(&[]).unwrap())
            .unwrap();
        assert!(matches!(
            resp.read_client_finish(&ClientFinish::default()),
            Err(NoiseError::WrongState(_))
        ));
    }

    #[test]
    fn error_messages_carry_no_key_bytes() {
        let text = NoiseError::BadLength {
            what: "static",
            expected: 48,
            got: 47,
        }
        .to_string();
        assert_eq!(text, "static: expected 48 bytes, got 47");
        let init = Initiator::new(PROLOGUE, kp(0xab), None);
        assert_eq!(
            format!("{init:?}"),
            "Initiator { pattern: Xx, step: Start, dialect: WhatsApp, .. }"
        );
    }

    #[test]
    fn transport_rejects_flips_replays_and_short_frames() {
        let mut d = run(None, Pattern::Xx);
        let mut frame = BytesMut::new();
        d.client.send.encrypt(b"<iq/>", &mut frame).unwrap();

        // Replay: the first copy decrypts, the second fails because the counter moved.
        let mut first = frame.to_vec();
        let mut again = frame.to_vec();
        assert_eq!(d.server.recv.decrypt_in_place(&mut first).unwrap(), 5);
        assert!(matches!(
            d.server.recv.decrypt_in_place(&mut again),
            Err(NoiseError::Decrypt)
        ));

        // A flipped bit anywhere, including the tag.
        for at in [0, 4, 20] {
            let mut d = run(None, Pattern::Xx);
            let mut frame = BytesMut::new();
            d.client.send.encrypt(b"<iq/>", &mut frame).unwrap();
            frame[at] ^= 0x80;
            assert!(matches!(
                d.server.recv.decrypt_in_place(&mut frame),
                Err(NoiseError::Decrypt)
            ));
        }

        // Too short to hold a tag.
        let mut d = run(Some(kp(12).public), Pattern::Ik);
        assert!(matches!(
            d.server.recv.decrypt_in_place(&mut [0u8; 10]),
            Err(NoiseError::BadLength { .. })
        ));
        // And the session is over: even a good frame is refused now.
        let mut frame = BytesMut::new();
        d.client.send.encrypt(b"late", &mut frame).unwrap();
        assert!(d.server.recv.decrypt_in_place(&mut frame).is_err());
    }
}
