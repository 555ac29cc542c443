//! The WhatsApp handshake patterns XX, IK and XXfallback (SPEC §2.4) over the protobuf
//! messages of SPEC §2.3.
//!
//! snow cannot be used as is: WhatsApp's XX leaves the empty first payload out of the
//! transcript hash, and snow 0.10 has no fallback modifier. The message flow is therefore
//! written here, on the crate's `SymmetricState`, with snow supplying every primitive.
//!
//! Every error poisons the handshake: a half-processed message leaves `h` and `ck` in a
//! state that must never be used again.

use crate::wa_proto::{ClientFinish, ClientHello, ServerHello};

use super::cipher::TransportState;
use super::error::NoiseError;
use super::keys::Keypair;
use super::symmetric::{Backend, SymmetricState, LEN, TAG_LEN};

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

/// Whether XX's empty first payload enters the transcript hash. Real peers speak only
/// WhatsApp's; the textbook form exists so the tests can check the flow against snow.
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// WhatsApp leaves it out; this is what real peers speak.
    #[default]
    WhatsApp,
    /// Textbook Noise mixes it in; exists so the code can be checked against snow.
    Standard,
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
    #[cfg(test)]
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
    /// IK's static-static DH: given by the caller from an earlier session of the same
    /// two keys, or computed here; the caller may keep it for the next one.
    ss: Option<zeroize::Zeroizing<[u8; LEN]>>,
    /// Where in the handshake we are.
    step: Step,
}

impl Party {
    fn new(prologue: [u8; 4], s: Keypair, pattern: Pattern) -> Self {
        Self {
            prologue,
            s,
            e: None,
            #[cfg(test)]
            dialect: Dialect::default(),
            backend: Backend::default(),
            pattern,
            sym: None,
            re: None,
            rs: None,
            ss: None,
            step: Step::Start,
        }
    }

    /// Any error ends the handshake for good: a half-failed state is never reused.
    fn poison_on_err<T>(&mut self, r: Result<T, NoiseError>) -> Result<T, NoiseError> {
        if r.is_err() {
            self.step = Step::Failed;
            self.sym = None;
            self.ss = None;
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
            #[cfg(test)]
            pub fn with_dialect(mut self, d: Dialect) -> Self {
                self.p.dialect = d;
                self
            }

            /// Fixes the ephemeral key instead of drawing one, for known-answer tests.
            #[cfg(any(test, fuzzing))]
            pub fn with_ephemeral(mut self, e: Keypair) -> Self {
                self.p.e = Some(e);
                self
            }

            /// Chooses the snow resolver for the handshake and the resulting transport.
            #[cfg(any(test, feature = "bench"))]
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

            /// IK's static-static DH result, for the caller to keep for the next session
            /// of the same two static keys; `None` in XX and XXfallback, which have none.
            pub fn static_static(&self) -> Option<zeroize::Zeroizing<[u8; 32]>> {
                match self.p.pattern {
                    Pattern::Ik => self.p.ss.clone(),
                    Pattern::Xx | Pattern::XxFallback => None,
                }
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
                let mut d = f.debug_struct(stringify!($role));
                d.field("pattern", &self.p.pattern)
                    .field("step", &self.p.step);
                #[cfg(test)]
                d.field("dialect", &self.p.dialect);
                d.finish_non_exhaustive()
            }
        }
    };
}

shared_api!(Initiator);
shared_api!(Responder);

mod initiator;
mod responder;
#[cfg(test)]
mod tests;

pub use initiator::Initiator;
pub use responder::Responder;
