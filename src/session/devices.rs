//! Returning devices: what a device's next login would compute again, kept from its
//! last one.
//!
//! After a server restart or a network blip, every device of a proxy logs in again at
//! once. Three of a login's X25519 operations depend only on keys that do not change
//! between a device's sessions: its derived upstream key pair (one multiplication of the
//! base point), the upstream leg's static-static DH with the server's key, and, when the
//! client pins the proxy's key (IK), the client leg's static-static DH. Keeping them
//! takes a returning device's login from 7-8 DH and 3 key generations to 6 and 2.
//!
//! What is kept is secret (a private key and two DH results), so it is bounded (least
//! recently used first out), wiped when an entry leaves, and admitted only for a device
//! that completed both handshakes and authentication: a client that cannot log in
//! cannot fill it. Each entry says which keys it was computed with and is used only
//! with those. The cache lives in [`super::Shared`] and is carried over a reload only
//! when the proxy's static key and the key seed stay the same.
//!
//! The client leg's result is looked up before the hello is authenticated, so a login
//! that names a kept device key is a DH faster. That tells only someone who already
//! knows the device's static public key whether it logged in here recently, and no
//! one else learns that key: it travels encrypted in the handshake, and the server is
//! shown the derived key instead.

use zeroize::Zeroizing;

use crate::bounded::Bounded;

use crate::noise::Keypair;

/// A DH result.
pub type Secret = Zeroizing<[u8; 32]>;

/// What one device's next login can reuse.
#[derive(Clone)]
pub struct Device {
    /// The upstream static key derived for it.
    pub upstream: Keypair,
    /// DH(upstream key, server static) and the server static it was computed with;
    /// `None` until a session of this device used IK upstream.
    pub upstream_ss: Option<([u8; 32], Secret)>,
    /// DH(proxy static, device static), when the device pinned the proxy's key (IK).
    pub client_ss: Option<Secret>,
}

/// The bounded cache, keyed by the device's Noise static key.
pub struct Devices {
    entries: Bounded<[u8; 32], Device>,
}

impl Devices {
    /// Holds up to `capacity` devices; 0 keeps none.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Bounded::new(capacity),
        }
    }

    /// What the last login of `device` left, if it is still here; counted as a hit or
    /// a miss.
    pub fn get(&self, device: &[u8; 32]) -> Option<Device> {
        let found = self.entries.with(|e| e.get(device).cloned())?;
        crate::metrics::returning_device(found.is_some());
        found
    }

    /// The client leg's static-static DH of `device`, if known.
    pub fn client_ss(&self, device: &[u8; 32]) -> Option<Secret> {
        self.entries
            .with(|e| e.peek(device)?.client_ss.clone())
            .flatten()
    }

    /// Keeps what an authenticated login of `device` computed. The entry it pushes
    /// out, if any, is dropped here, and dropping wipes its secrets.
    pub fn remember(&self, device: [u8; 32], entry: Device) {
        self.entries.with(|e| drop(e.push(device, entry)));
    }

    /// Devices held now.
    pub fn len(&self) -> usize {
        self.entries.with(|e| e.len()).unwrap_or(0)
    }

    /// Moves `old`'s entries in (newest kept first, up to this cache's bound). The
    /// caller does this only when the keys the entries were computed with are the same.
    pub fn adopt(&self, old: &Devices) {
        old.entries.with(|old| {
            self.entries.with(|new| {
                // Oldest first, so the most recent end up most recent here too.
                while let Some((device, entry)) = old.pop_lru() {
                    drop(new.push(device, entry));
                }
            })
        });
    }
}

impl std::fmt::Debug for Devices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devices").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u8) -> Device {
        Device {
            upstream: Keypair::from_secret(crate::noise::SecretKey::from_bytes([n; 32])),
            upstream_ss: Some(([n; 32], Zeroizing::new([n; 32]))),
            client_ss: Some(Zeroizing::new([n + 1; 32])),
        }
    }

    #[test]
    fn bounded_least_recently_used_first_out() {
        let devices = Devices::new(2);
        devices.remember([1; 32], entry(1));
        devices.remember([2; 32], entry(2));
        assert!(devices.get(&[1; 32]).is_some(), "1 is now the most recent");
        devices.remember([3; 32], entry(3));
        assert_eq!(devices.len(), 2);
        assert!(devices.get(&[2; 32]).is_none(), "2 was the least recent");
        assert_eq!(*devices.client_ss(&[1; 32]).unwrap(), [2; 32]);
        assert!(devices.get(&[3; 32]).is_some());
    }

    #[test]
    fn zero_keeps_nothing_and_adopt_moves_the_newest() {
        let none = Devices::new(0);
        none.remember([1; 32], entry(1));
        assert_eq!(none.len(), 0);
        assert!(none.get(&[1; 32]).is_none());

        let old = Devices::new(3);
        for n in 1..=3 {
            old.remember([n; 32], entry(n));
        }
        let new = Devices::new(2);
        new.adopt(&old);
        assert_eq!(new.len(), 2);
        assert!(new.get(&[1; 32]).is_none(), "the oldest did not fit");
        assert!(new.get(&[3; 32]).is_some());
        assert_eq!(old.len(), 0);
    }
}
