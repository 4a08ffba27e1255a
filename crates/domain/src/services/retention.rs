use std::sync::Arc;
use std::time::Duration;

use crate::{DomainError, PurgeRule, Purged, SweepReport, ThreadRepository, Timestamp, UserId};

/// Retention: deletes expired temporary chats and threads older than the retention period,
/// in bounded batches, and one user's whole history on request. Cheap to clone.
#[derive(Clone)]
pub struct RetentionService {
    repo: Arc<dyn ThreadRepository>,
    retention: Option<Duration>,
    batch: u64,
}

impl std::fmt::Debug for RetentionService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetentionService")
            .field("retention", &self.retention)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl RetentionService {
    /// Threads deleted per statement: each batch is one short transaction, so the sweeper
    /// never holds many locks for long.
    pub const BATCH: u64 = 100;

    /// A service that keeps threads for `retention` after their last change (`None`:
    /// forever; expired temporary chats go whatever it is).
    pub fn new(repo: Arc<dyn ThreadRepository>, retention: Option<Duration>) -> Self {
        Self {
            repo,
            retention,
            batch: Self::BATCH,
        }
    }

    /// The same service deleting `batch` threads per statement (at least one).
    #[must_use]
    pub fn with_batch(mut self, batch: u64) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// One sweep at `now`: every thread expired by then, and every thread last changed
    /// more than the retention period before it. Safe while other processes sweep too.
    pub async fn sweep(&self, now: Timestamp) -> Result<SweepReport, DomainError> {
        let expired = self.purge(PurgeRule::ExpiredAt(now)).await?;
        let retention = match self.retention {
            Some(period) => {
                self.purge(PurgeRule::UpdatedBefore(Self::cutoff(now, period)))
                    .await?
            }
            None => Purged::NONE,
        };
        Ok(SweepReport { expired, retention })
    }

    /// `now - age`: threads last changed before it are older than `age`. Saturates at the
    /// earliest time there is.
    pub fn cutoff(now: Timestamp, age: Duration) -> Timestamp {
        let micros = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
        now.plus_micros(-micros)
    }

    /// Deletes (or with `dry_run` only counts) the threads last changed before `cutoff`
    /// (see [`RetentionService::cutoff`]), with their messages.
    pub async fn purge_changed_before(
        &self,
        cutoff: Timestamp,
        dry_run: bool,
    ) -> Result<Purged, DomainError> {
        let rule = PurgeRule::UpdatedBefore(cutoff);
        if dry_run {
            return Ok(self.repo.count_purgeable(rule).await?);
        }
        self.purge(rule).await
    }

    /// Deletes all of one user's threads and messages (when the account is deleted), in
    /// batches: a history of any size goes without one long transaction.
    pub async fn purge_user(&self, user: &UserId) -> Result<Purged, DomainError> {
        self.purge(PurgeRule::User(user.clone())).await
    }

    /// Batches until one comes back short.
    async fn purge(&self, rule: PurgeRule) -> Result<Purged, DomainError> {
        let mut total = Purged::NONE;
        loop {
            let batch = self.repo.purge_threads(rule.clone(), self.batch).await?;
            total += batch;
            if batch.threads < self.batch {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockThreadRepository, StoreError};
    use mockall::Sequence;
    use mockall::predicate::eq;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(micros: i64) -> Timestamp {
        Timestamp::from_micros(micros).expect("in range")
    }

    #[tokio::test]
    async fn a_sweep_deletes_expired_threads_in_batches_until_a_short_one() {
        let now = at(1_800_000_000_000_000);
        let mut repo = MockThreadRepository::new();
        let mut order = Sequence::new();
        for threads in [2, 2, 1] {
            repo.expect_purge_threads()
                .with(eq(PurgeRule::ExpiredAt(now)), eq(2))
                .times(1)
                .in_sequence(&mut order)
                .returning(move |_, _| {
                    Ok(Purged {
                        threads,
                        messages: threads * 10,
                    })
                });
        }
        let report = RetentionService::new(Arc::new(repo), None)
            .with_batch(2)
            .sweep(now)
            .await
            .expect("swept");
        assert_eq!(
            report,
            SweepReport {
                expired: Purged {
                    threads: 5,
                    messages: 50
                },
                retention: Purged::NONE,
            }
        );
    }

    #[tokio::test]
    async fn with_a_retention_period_a_sweep_also_deletes_threads_older_than_it() {
        let now = at(1_800_000_000_000_000);
        let mut repo = MockThreadRepository::new();
        repo.expect_purge_threads()
            .with(eq(PurgeRule::ExpiredAt(now)), eq(RetentionService::BATCH))
            .returning(|_, _| Ok(Purged::NONE));
        let cutoff = now.plus_micros(-30 * 86_400_000_000);
        repo.expect_purge_threads()
            .with(
                eq(PurgeRule::UpdatedBefore(cutoff)),
                eq(RetentionService::BATCH),
            )
            .times(1)
            .returning(|_, _| {
                Ok(Purged {
                    threads: 3,
                    messages: 7,
                })
            });
        let report = RetentionService::new(Arc::new(repo), Some(30 * DAY))
            .sweep(now)
            .await
            .expect("swept");
        assert_eq!(report.retention.threads, 3);
        assert_eq!(report.retention.messages, 7);
    }

    #[tokio::test]
    async fn a_dry_run_counts_and_deletes_nothing() {
        let now = at(1_800_000_000_000_000);
        let mut repo = MockThreadRepository::new();
        repo.expect_count_purgeable()
            .with(eq(PurgeRule::UpdatedBefore(
                now.plus_micros(-86_400_000_000),
            )))
            .times(1)
            .returning(|_| {
                Ok(Purged {
                    threads: 4,
                    messages: 9,
                })
            });
        repo.expect_purge_threads().never();
        let counted = RetentionService::new(Arc::new(repo), None)
            .purge_changed_before(RetentionService::cutoff(now, DAY), true)
            .await
            .expect("counted");
        assert_eq!(counted.threads, 4);
    }

    #[tokio::test]
    async fn a_store_failure_stops_the_sweep_with_its_error() {
        let mut repo = MockThreadRepository::new();
        repo.expect_purge_threads()
            .times(1)
            .returning(|_, _| Err(StoreError::Unavailable("down".into())));
        let err = RetentionService::new(Arc::new(repo), Some(DAY))
            .sweep(Timestamp::now())
            .await
            .expect_err("failed");
        assert!(matches!(err, DomainError::Unavailable(_)));
    }

    #[tokio::test]
    async fn purging_a_user_deletes_their_threads_batch_by_batch() {
        let alice = UserId::parse("alice").expect("valid");
        let mut repo = MockThreadRepository::new();
        let mut order = Sequence::new();
        for threads in [2, 0] {
            repo.expect_purge_threads()
                .with(eq(PurgeRule::User(alice.clone())), eq(2))
                .times(1)
                .in_sequence(&mut order)
                .returning(move |_, _| {
                    Ok(Purged {
                        threads,
                        messages: threads * 3,
                    })
                });
        }
        let purged = RetentionService::new(Arc::new(repo), None)
            .with_batch(2)
            .purge_user(&alice)
            .await
            .expect("purged");
        assert_eq!(
            purged,
            Purged {
                threads: 2,
                messages: 6
            }
        );
    }

    #[test]
    fn the_cutoff_saturates_instead_of_overflowing() {
        let now = at(0);
        assert!(RetentionService::cutoff(now, Duration::MAX) <= now);
    }
}
