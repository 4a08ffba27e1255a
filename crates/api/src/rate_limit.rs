//! Per-user rate limiting: a token bucket (GCRA) per authenticated user.
//!
//! A user may make `burst` requests at once and `per_minute` requests per minute
//! sustained; beyond that the answer is 429 with `Retry-After`. Limits are per replica
//! (state is in memory): with N replicas behind a load balancer a user gets up to N times
//! the rate. Unauthenticated requests are refused before they reach the limiter.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use domain::UserId;

/// How often (in checks) idle buckets are dropped, which bounds memory by active users.
const CLEANUP_EVERY: u64 = 4096;

/// The limiter shared by all workers.
pub struct UserRateLimiter {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for UserRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRateLimiter")
            .field("enabled", &self.limiter.is_some())
            .finish_non_exhaustive()
    }
}

impl UserRateLimiter {
    /// `per_minute` sustained, `burst` at once; `per_minute == 0` disables limiting.
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|rate| {
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst))
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token from the user's bucket, or says how long until one is available.
    pub fn check(&self, user: &UserId) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % CLEANUP_EVERY == CLEANUP_EVERY - 1 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&user.as_str().to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserId {
        UserId::parse(name).expect("valid")
    }

    #[test]
    fn a_user_gets_the_burst_then_is_told_to_wait() {
        let limiter = UserRateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check(&user("alice")).is_ok());
        }
        let wait = limiter.check(&user("alice")).expect_err("limited");
        assert!(wait > Duration::from_secs(1));
    }

    #[test]
    fn users_have_separate_buckets() {
        let limiter = UserRateLimiter::new(1, 1);
        assert!(limiter.check(&user("alice")).is_ok());
        assert!(limiter.check(&user("alice")).is_err());
        assert!(limiter.check(&user("bob")).is_ok());
    }

    #[test]
    fn zero_disables_limiting() {
        let limiter = UserRateLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert!(limiter.check(&user("alice")).is_ok());
        }
    }
}
