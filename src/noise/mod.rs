//! The WhatsApp dialect of Noise (SPEC §2.4) on snow's primitives.

pub mod keys;

pub use keys::{Keypair, SecretKey};
