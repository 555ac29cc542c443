//! Tokens already verified, so a returning device's login skips the signature check.
//!
//! After a server restart every device logs in again within seconds, most with the token
//! it used minutes before; its signature check (EdDSA, ES256 or RS256, 50-100 µs) is
//! then as large as a fifth of the login. A token is kept by its SHA-256 digest,
//! never by its text, with what the full check found: the account it was checked
//! for, its `exp`, and the key set's generation. A kept token passes again only for the
//! same account, before its `exp` (with the same leeway), and while the key set is the
//! one it was verified with: any refresh of the keys starts the tokens over. `iss`,
//! `aud`, `nbf` and the signature do not change for the same bytes. Bounded, least
//! recently used first out, like the returning devices themselves.

use sha2::{Digest, Sha256};

use crate::bounded::Bounded;

/// What a full check of one token found.
#[derive(Clone, Copy)]
struct Entry {
    account: u64,
    exp: u64,
    generation: u64,
}

/// The bounded set of verified tokens.
pub struct Verified {
    entries: Bounded<TokenDigest, Entry>,
}

/// A token's key in the set.
pub type TokenDigest = [u8; 32];

impl Verified {
    /// Holds up to `capacity` tokens; 0 keeps none.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Bounded::new(capacity),
        }
    }

    /// The digest under which `token` is kept.
    pub fn digest(token: &str) -> TokenDigest {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Whether `token` was verified for `account` with the key set of `generation`
    /// and has not expired at `now` (Unix seconds) with `leeway`.
    pub fn passes(
        &self,
        token: &TokenDigest,
        account: u64,
        generation: u64,
        now: u64,
        leeway: u64,
    ) -> bool {
        self.entries
            .with(|entries| match entries.get(token).copied() {
                Some(e) if e.generation == generation && e.account == account => {
                    // jsonwebtoken's rule: expired once `exp` is before now less the leeway.
                    if e.exp >= now.saturating_sub(leeway) {
                        return true;
                    }
                    entries.pop(token);
                    false
                }
                Some(_) | None => false,
            })
            .unwrap_or(false)
    }

    /// Keeps a token the full check passed.
    pub fn remember(&self, token: TokenDigest, account: u64, exp: u64, generation: u64) {
        let entry = Entry {
            account,
            exp,
            generation,
        };
        self.entries.with(|e| e.push(token, entry));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_token_passes_only_as_it_was_checked() {
        let kept = Verified::new(2);
        let t = Verified::digest("a.b.c");
        kept.remember(t, 7, 1_000, 1);
        assert!(kept.passes(&t, 7, 1, 990, 0));
        assert!(kept.passes(&t, 7, 1, 1_050, 60), "within the leeway");
        assert!(!kept.passes(&t, 8, 1, 990, 0), "another account");
        assert!(!kept.passes(&t, 7, 2, 990, 0), "the keys were refreshed");
        assert!(!kept.passes(&Verified::digest("a.b.d"), 7, 1, 990, 0));
        assert!(!kept.passes(&t, 7, 1, 1_001, 0), "expired");
        assert!(!kept.passes(&t, 7, 1, 990, 0), "and forgotten");
    }

    #[test]
    fn bounded_and_off_at_zero() {
        let kept = Verified::new(1);
        let (a, b) = (Verified::digest("a"), Verified::digest("b"));
        kept.remember(a, 1, 10, 0);
        kept.remember(b, 1, 10, 0);
        assert!(!kept.passes(&a, 1, 0, 0, 0));
        assert!(kept.passes(&b, 1, 0, 0, 0));
        let off = Verified::new(0);
        off.remember(a, 1, 10, 0);
        assert!(!off.passes(&a, 1, 0, 0, 0));
    }
}
