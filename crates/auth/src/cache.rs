//! A small, bounded, in-memory cache of verified sessions.
//!
//! It trades revocation lag for fewer database round trips: a session deleted by sign-out
//! is still accepted here for at most the TTL after it was last looked up. Entries are
//! keyed by the SHA-256 of the token, so the tokens themselves are not kept.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use domain::{SessionRecord, Timestamp};

/// The cache key of a session token.
pub(crate) type TokenDigest = [u8; 32];

/// The digest a token is cached under.
pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
struct Entry {
    record: SessionRecord,
    stored_at: Instant,
}

/// Sessions looked up recently, each reused until the TTL has passed since its lookup
/// or its own expiry, whichever comes first.
#[derive(Debug)]
pub(crate) struct SessionCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<TokenDigest, Entry>>,
}

impl SessionCache {
    /// A cache keeping at most `capacity` sessions for `ttl` each.
    pub(crate) fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The cached session, if it was looked up less than the TTL before `now` and has
    /// not expired by `wall_now`.
    pub(crate) fn get(
        &self,
        key: &TokenDigest,
        now: Instant,
        wall_now: Timestamp,
    ) -> Option<SessionRecord> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(key)?;
        if now.saturating_duration_since(entry.stored_at) < self.ttl
            && entry.record.expires_at > wall_now
        {
            return Some(entry.record.clone());
        }
        // Stale: look it up again (Better Auth may have extended it, or deleted it).
        entries.remove(key);
        None
    }

    /// Remembers a session that was just looked up and found valid.
    pub(crate) fn insert(&self, key: TokenDigest, record: SessionRecord, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            let ttl = self.ttl;
            entries.retain(|_, e| now.saturating_duration_since(e.stored_at) < ttl);
            if entries.len() >= self.capacity {
                // Still full of live entries: drop an arbitrary one. The cache only saves
                // lookups, so losing an entry costs one query, never correctness.
                if let Some(victim) = entries.keys().next().copied() {
                    entries.remove(&victim);
                }
            }
        }
        entries.insert(
            key,
            Entry {
                record,
                stored_at: now,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::UserId;

    fn record(expires_in_micros: i64) -> SessionRecord {
        SessionRecord {
            user_id: UserId::parse("alice").expect("valid"),
            expires_at: Timestamp::now().plus_micros(expires_in_micros),
        }
    }

    const HOUR: i64 = 3_600_000_000;

    #[test]
    fn an_entry_is_served_within_the_ttl() {
        let cache = SessionCache::new(Duration::from_secs(5), 10);
        let t0 = Instant::now();
        cache.insert(digest("tok"), record(HOUR), t0);
        let hit = cache.get(
            &digest("tok"),
            t0 + Duration::from_secs(4),
            Timestamp::now(),
        );
        assert_eq!(hit.map(|r| r.user_id.to_string()).as_deref(), Some("alice"));
    }

    #[test]
    fn an_entry_is_dropped_once_the_ttl_has_passed() {
        let cache = SessionCache::new(Duration::from_secs(5), 10);
        let t0 = Instant::now();
        cache.insert(digest("tok"), record(HOUR), t0);
        assert!(
            cache
                .get(
                    &digest("tok"),
                    t0 + Duration::from_secs(5),
                    Timestamp::now()
                )
                .is_none()
        );
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn an_entry_past_its_session_expiry_is_not_served() {
        let cache = SessionCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        cache.insert(digest("tok"), record(1_000_000), t0);
        let later = Timestamp::now().plus_micros(2_000_000);
        assert!(cache.get(&digest("tok"), t0, later).is_none());
    }

    #[test]
    fn another_token_misses() {
        let cache = SessionCache::new(Duration::from_secs(60), 10);
        let t0 = Instant::now();
        cache.insert(digest("tok"), record(HOUR), t0);
        assert!(cache.get(&digest("tok2"), t0, Timestamp::now()).is_none());
    }

    #[test]
    fn the_cache_never_grows_beyond_its_capacity() {
        let cache = SessionCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for i in 0..10 {
            cache.insert(digest(&format!("tok{i}")), record(HOUR), t0);
            assert!(cache.len() <= 3);
        }
        assert!(cache.get(&digest("tok9"), t0, Timestamp::now()).is_some());
    }

    #[test]
    fn a_full_cache_makes_room_by_dropping_stale_entries_first() {
        let cache = SessionCache::new(Duration::from_secs(5), 2);
        let t0 = Instant::now();
        cache.insert(digest("old"), record(HOUR), t0);
        cache.insert(digest("live"), record(HOUR), t0 + Duration::from_secs(4));
        let t1 = t0 + Duration::from_secs(6);
        cache.insert(digest("new"), record(HOUR), t1);
        assert!(cache.get(&digest("live"), t1, Timestamp::now()).is_some());
        assert!(cache.get(&digest("new"), t1, Timestamp::now()).is_some());
    }
}
