//! A least-recently-used map with a fixed bound behind a lock, or nothing at a bound of
//! 0: what the proxy keeps of returning devices and of verified tokens, both sized by
//! `limits.returning_devices`.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;

/// The map, or `None` when its bound is 0.
pub(crate) struct Bounded<K, V>(Option<Mutex<LruCache<K, V>>>);

impl<K: Hash + Eq, V> Bounded<K, V> {
    /// Holds up to `capacity` entries; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self(NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))))
    }

    /// Runs `f` on the map under its lock; `None` when the bound is 0.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut LruCache<K, V>) -> R) -> Option<R> {
        self.0
            .as_ref()
            .map(|map| f(&mut map.lock().expect("not poisoned")))
    }
}
