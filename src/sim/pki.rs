//! Keys and chains for simulated deployments: a root, and chains it issues.

use std::time::Duration;

use crate::noise::cert::{issue_chain, Validity};
use crate::noise::Keypair;

/// A certificate authority: the provider's root, or a stand-in for WhatsApp's.
pub struct Pki {
    /// The root key pair.
    pub root: Keypair,
}

impl Pki {
    /// A new random root.
    pub fn generate() -> Self {
        Self {
            root: Keypair::generate(),
        }
    }

    /// A chain for `static_key`, valid from an hour ago for `lifetime`.
    pub fn issue(&self, static_key: &[u8; 32], lifetime: Duration) -> Vec<u8> {
        let now = crate::noise::cert::unix_now();
        issue_chain(
            &self.root,
            static_key,
            Validity {
                not_before: now.saturating_sub(3600),
                not_after: now + lifetime.as_secs(),
            },
        )
    }
}
