//! The WhatsApp dialect of Noise (SPEC §2.4) on snow's primitives.

pub mod cert;
pub mod handshake;
pub mod keys;
pub mod symmetric;
pub mod transport;
pub mod x25519;
pub mod xeddsa;

pub use handshake::{Dialect, Initiator, NoiseError, Pattern, Responder};
pub use keys::{Keypair, SecretKey};
pub use symmetric::Backend;
pub use transport::{RecvCipher, SendCipher, TransportState};
