//! The WhatsApp dialect of Noise (SPEC §2.4) on snow's primitives.

pub mod cert;
pub mod cipher;
pub mod error;
pub mod handshake;
pub mod keys;
pub mod leg;
pub mod symmetric;
pub mod x25519;
pub mod xeddsa;

pub use cipher::{RecvCipher, SendCipher, TransportState};
pub use error::NoiseError;
#[cfg(test)]
pub use handshake::Dialect;
pub use handshake::{Initiator, Pattern, Responder};
pub use keys::{Keypair, SecretKey};
pub use leg::{QueueError, Sink};
pub use symmetric::Backend;
