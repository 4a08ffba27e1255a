use std::sync::Arc;
use std::time::Duration;

use crate::{
    DomainError, Event, EventId, EventLog, Resource, StoreError, StreamStart, ThreadId,
    ThreadRepository, UserId,
};

/// Use cases of the live events feed: where a subscription starts, reading what came
/// after, and forgetting old events. Cheap to clone.
#[derive(Clone)]
pub struct EventService {
    log: Arc<dyn EventLog>,
    threads: Arc<dyn ThreadRepository>,
    retention: Duration,
}

impl std::fmt::Debug for EventService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventService")
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

impl EventService {
    /// Events are deleted this long after they are no longer retained, so that a replay
    /// found retained is not cut short by a sweep running at the same moment.
    pub const SWEEP_GRACE: Duration = Duration::from_secs(60);

    /// A service over the given ports; events stay retained for `retention`.
    pub fn new(
        log: Arc<dyn EventLog>,
        threads: Arc<dyn ThreadRepository>,
        retention: Duration,
    ) -> Self {
        Self {
            log,
            threads,
            retention,
        }
    }

    /// How long events stay retained for replay.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Where a subscription of `user` starts, given the `Last-Event-ID` the client sent:
    /// none, live events only; a retained id of the user's, every event after it; an id
    /// that is malformed, unknown (not issued yet) or no longer retained,
    /// [`StreamStart::Reset`].
    ///
    /// Errors: [`DomainError::NotFound`] (thread) when `thread` is given and is not the
    /// user's; `Unavailable`/`Unexpected`.
    pub async fn start(
        &self,
        user: &UserId,
        thread: Option<ThreadId>,
        last_event_id: Option<&str>,
    ) -> Result<StreamStart, DomainError> {
        if let Some(thread) = thread {
            match self.threads.get_thread(user, thread).await {
                Ok(found) if &found.user_id == user => {}
                Ok(_) | Err(StoreError::NotFound) => {
                    return Err(DomainError::NotFound(Resource::Thread));
                }
                Err(other) => return Err(other.into()),
            }
        }
        let newest = self.log.newest_event(user).await?;
        let Some(text) = last_event_id else {
            return Ok(StreamStart::After(newest));
        };
        let Some(id) = EventId::parse(text.trim()).filter(|id| *id <= newest) else {
            return Ok(StreamStart::Reset { newest });
        };
        if self.log.is_retained(user, id, self.retention).await? {
            Ok(StreamStart::After(id))
        } else {
            Ok(StreamStart::Reset { newest })
        }
    }

    /// For each `(user, after)`, in order: the user's first `limit` events after `after`;
    /// see [`EventLog::events_after`].
    pub async fn events_after(
        &self,
        cursors: Vec<(UserId, EventId)>,
        limit: u64,
    ) -> Result<Vec<Vec<Event>>, DomainError> {
        if cursors.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.log.events_after(cursors, limit).await?)
    }

    /// Deletes up to `limit` events that are past retention (plus
    /// [`EventService::SWEEP_GRACE`]); returns how many went.
    pub async fn sweep(&self, limit: u64) -> Result<u64, DomainError> {
        Ok(self
            .log
            .delete_older_than(self.retention + Self::SWEEP_GRACE, limit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MockEventLog, MockThreadRepository};

    fn user() -> UserId {
        UserId::parse("alice").expect("user id")
    }

    fn service(log: MockEventLog, threads: MockThreadRepository) -> EventService {
        EventService::new(Arc::new(log), Arc::new(threads), Duration::from_secs(300))
    }

    fn log_with_newest(newest: u64) -> MockEventLog {
        let mut log = MockEventLog::new();
        log.expect_newest_event()
            .returning(move |_| Ok(EventId::new(newest)));
        log
    }

    #[tokio::test]
    async fn without_last_event_id_a_subscription_starts_after_the_newest_event() {
        let service = service(log_with_newest(7), MockThreadRepository::new());
        assert_eq!(
            service.start(&user(), None, None).await.expect("answer"),
            StreamStart::After(EventId::new(7))
        );
    }

    #[tokio::test]
    async fn a_retained_id_replays_from_it() {
        let mut log = log_with_newest(7);
        log.expect_is_retained()
            .withf(|u, id, retention| {
                u.as_str() == "alice"
                    && *id == EventId::new(3)
                    && *retention == Duration::from_secs(300)
            })
            .returning(|_, _, _| Ok(true));
        let service = service(log, MockThreadRepository::new());
        assert_eq!(
            service
                .start(&user(), None, Some("0000000000000003"))
                .await
                .expect("answer"),
            StreamStart::After(EventId::new(3))
        );
    }

    #[tokio::test]
    async fn unknown_malformed_and_expired_ids_reset() {
        let mut log = log_with_newest(7);
        log.expect_is_retained().returning(|_, _, _| Ok(false));
        let service = service(log, MockThreadRepository::new());
        for id in [
            "0000000000000008",
            "0000000000000000",
            "3",
            "garbage",
            "0000000000000002",
        ] {
            assert_eq!(
                service
                    .start(&user(), None, Some(id))
                    .await
                    .expect("answer"),
                StreamStart::Reset {
                    newest: EventId::new(7)
                },
                "{id}"
            );
        }
    }

    #[tokio::test]
    async fn a_thread_filter_must_name_one_of_the_users_threads() {
        let mut threads = MockThreadRepository::new();
        threads
            .expect_get_thread()
            .returning(|_, _| Err(StoreError::NotFound));
        let service = service(MockEventLog::new(), threads);
        let err = service
            .start(&user(), Some(ThreadId::generate()), None)
            .await
            .expect_err("refused");
        assert!(matches!(err, DomainError::NotFound(Resource::Thread)));
    }

    #[tokio::test]
    async fn no_cursors_read_nothing() {
        let service = service(MockEventLog::new(), MockThreadRepository::new());
        assert!(
            service
                .events_after(Vec::new(), 10)
                .await
                .expect("answer")
                .is_empty()
        );
    }
}
