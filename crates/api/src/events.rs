//! The live events hub: one per process. It keeps the open event streams
//! (`GET /api/v1/events`), learns from [`EventSignals`] which users have new events, reads
//! them from the outbox in one statement for all of them, and hands each stream what its
//! filter lets through, formatted once per event as `text/event-stream`.
//!
//! Bounds: at most `EVENTS_MAX_STREAMS_PER_USER` streams per user on this process (429
//! beyond). At most [`MAX_QUEUED_BYTES`] (or one event, if larger) wait in memory for one
//! stream's client: a stream whose queue is full is handed nothing more until its client
//! has read what is queued, then it is refilled from the outbox, so a burst never costs
//! more memory and a reader that is merely busy loses nothing. A reader that falls more
//! than [`MAX_LAG`] events behind its user's newest event is dropped: its stream ends
//! cleanly after what is queued, and its client's reconnect with `Last-Event-ID` replays
//! the rest from the outbox. Streams end at shutdown ([`EventHub::close`]) and when the
//! database connection that hears other processes is lost (clients reconnect, and get 503
//! with `Retry-After` until it is back). A client that vanished is noticed when its next
//! write fails, at the latest with the next heartbeat.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use futures::Stream;
use serde::Serialize;
use tokio::sync::{Notify, mpsc};

use domain::{Change, DomainError, Event, EventId, EventService, StreamStart, ThreadId, UserId};
use infra_postgres::{EventSignals, Wake};

use crate::dto::{MessageResponse, ThreadResponse};
use crate::error::ApiError;

/// The most bytes of events waiting for one stream's client before it is dropped as too
/// slow (one event is always let through, whatever its size).
pub const MAX_QUEUED_BYTES: usize = 1 << 20;

/// How many events a stream may fall behind its user's newest event before it is dropped
/// as too slow.
pub const MAX_LAG: u64 = 1_000;

/// Events read per cursor and round; a user with more is read again at once.
const EVENTS_PER_ROUND: u64 = 256;

/// The least time between the starts of two reads of the outbox. Under a steady stream of
/// writes the feed would otherwise read again as soon as a read ends (hundreds of reads a
/// second, a few users each, each one a statement for the database); waiting this long
/// lets one read serve the writes of a few milliseconds. When writes are further apart
/// than this, nothing waits.
const READ_SPACING: Duration = Duration::from_millis(5);

/// How often every subscribed user is looked at even without a signal (a notification
/// that another process never sent because it stopped right after its commit).
const CATCH_UP_EVERY: Duration = Duration::from_secs(5);

/// How often old events are deleted, and how many per statement.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
const SWEEP_BATCH: u64 = 10_000;

/// What clients wait before reconnecting (the SSE `retry:` field), in milliseconds.
const RECONNECT_MS: u64 = 2_000;

/// The hub's settings.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// Open streams per user on this process.
    pub max_streams_per_user: usize,
    /// Interval of the keep-alive comments.
    pub heartbeat: Duration,
    /// Kept up to date with the number of open streams.
    pub open_streams: prometheus::IntGauge,
    /// Counts the streams the hub ended, by reason.
    pub ended_streams: prometheus::IntCounterVec,
    /// Counts the reads of the outbox.
    pub reads: prometheus::IntCounter,
}

impl HubSettings {
    fn ended(&self, reason: &str, streams: usize) {
        self.ended_streams
            .with_label_values(&[reason])
            .inc_by(streams as u64);
    }
}

struct Subscriber {
    id: u64,
    thread: Option<ThreadId>,
    /// The last event this stream has been handed (or skipped by its filter).
    cursor: EventId,
    tx: mpsc::UnboundedSender<Bytes>,
    /// What the stream shares with the hub.
    flow: Arc<Flow>,
}

/// A stream's queue as the hub and the stream both see it.
#[derive(Default)]
struct Flow {
    /// Bytes handed to the stream and not yet taken by its response.
    queued: AtomicUsize,
    /// The queue was full: the stream is refilled once its client has read it all.
    stalled: AtomicBool,
}

#[derive(Default)]
struct State {
    users: HashMap<UserId, Vec<Subscriber>>,
    /// Users to read events for in the next round.
    pending: HashSet<UserId>,
    next_id: u64,
}

struct Inner {
    service: EventService,
    signals: EventSignals,
    settings: HubSettings,
    state: Mutex<State>,
    wake: Notify,
    closed: AtomicBool,
    streams: AtomicUsize,
}

/// The process's live events. Cheap to clone.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("streams", &self.open_streams())
            .finish_non_exhaustive()
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventHub {
    /// A hub over the events service and the store's signals; starts its tasks on the
    /// current runtime (delivery, and deleting events past retention).
    pub fn start(service: EventService, signals: EventSignals, settings: HubSettings) -> Self {
        let hub = Self {
            inner: Arc::new(Inner {
                service,
                signals,
                settings,
                state: Mutex::new(State::default()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                streams: AtomicUsize::new(0),
            }),
        };
        tokio::spawn(deliver_forever(hub.inner.clone()));
        tokio::spawn(sweep_forever(hub.inner.service.clone()));
        hub
    }

    /// The events use cases (where a subscription starts).
    pub fn service(&self) -> &EventService {
        &self.inner.service
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.inner.streams.load(Ordering::Relaxed)
    }

    /// Opens a stream of `user`'s events from `start` (see [`EventService::start`]),
    /// only those of `thread` when given.
    ///
    /// Errors: 429 beyond the per-user limit; 503 while shutting down or while other
    /// processes' writes cannot be heard.
    pub fn subscribe(
        &self,
        user: UserId,
        thread: Option<ThreadId>,
        start: StreamStart,
    ) -> Result<EventStream, ApiError> {
        if self.inner.closed.load(Ordering::SeqCst) || !self.inner.signals.is_up() {
            return Err(
                DomainError::Unavailable("live events are not available now".into()).into(),
            );
        }
        let (cursor, first) = match start {
            StreamStart::After(id) => (id, opening(None, id)),
            StreamStart::Reset { newest } => (newest, opening(Some("unknown_or_expired"), newest)),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let flow = Arc::new(Flow::default());
        let id = {
            let mut state = lock(&self.inner.state);
            let State {
                users,
                pending,
                next_id,
            } = &mut *state;
            let subscribers = users.entry(user.clone()).or_default();
            if subscribers.len() >= self.inner.settings.max_streams_per_user {
                if subscribers.is_empty() {
                    users.remove(&user);
                }
                return Err(ApiError::TooManyStreams(
                    self.inner.settings.max_streams_per_user,
                ));
            }
            *next_id += 1;
            subscribers.push(Subscriber {
                id: *next_id,
                thread,
                cursor,
                tx,
                flow: flow.clone(),
            });
            // Events committed between the start's read and now, and a replay's events,
            // come in the next round.
            pending.insert(user.clone());
            *next_id
        };
        self.inner.streams.fetch_add(1, Ordering::Relaxed);
        self.inner.settings.open_streams.inc();
        self.inner.wake.notify_one();
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + self.inner.settings.heartbeat,
            self.inner.settings.heartbeat,
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(EventStream {
            first: Some(first),
            rx,
            flow,
            heartbeat,
            registration: Registration {
                inner: self.inner.clone(),
                user,
                id,
            },
        })
    }

    /// Ends every stream (each after what is queued for it) and refuses new ones: the
    /// first step of a graceful shutdown.
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        let ended = end_all(&self.inner);
        self.inner.settings.ended("shutdown", ended);
    }
}

/// The first lines of a stream: the reconnection delay, a `reset` event when the client's
/// `Last-Event-ID` could not be honoured, and the id to resume from (a block without
/// `data` sets a browser's last event id without dispatching an event).
fn opening(reset: Option<&str>, id: EventId) -> Bytes {
    let mut text = format!("retry: {RECONNECT_MS}\n");
    if let Some(reason) = reset {
        text.push_str("event: reset\n");
        text.push_str(&format!("data: {{\"reason\":\"{reason}\"}}\n"));
    }
    if id > EventId::START {
        text.push_str(&format!("id: {id}\n"));
    }
    text.push('\n');
    Bytes::from(text)
}

/// The data of an event, as API.md gives it.
#[derive(Serialize)]
#[serde(untagged)]
enum EventData {
    Thread {
        thread: ThreadResponse,
    },
    Message {
        message: MessageResponse,
    },
    ThreadDeleted {
        thread_id: uuid::Uuid,
    },
    MessageDeleted {
        thread_id: uuid::Uuid,
        message_id: uuid::Uuid,
    },
}

/// One event as `text/event-stream` lines.
pub fn frame(event: &Event) -> Bytes {
    let data = match &event.change {
        Change::ThreadCreated(thread) | Change::ThreadUpdated(thread) => EventData::Thread {
            thread: ThreadResponse::from(thread),
        },
        Change::MessageCreated(message) | Change::MessageUpdated(message) => EventData::Message {
            message: MessageResponse::from(message),
        },
        Change::ThreadDeleted(thread_id) => EventData::ThreadDeleted {
            thread_id: *thread_id.as_uuid(),
        },
        Change::MessageDeleted {
            thread_id,
            message_id,
        } => EventData::MessageDeleted {
            thread_id: *thread_id.as_uuid(),
            message_id: *message_id.as_uuid(),
        },
    };
    // JSON has no raw line breaks (they are escaped in strings), so it is one `data:` line.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!(
        "id: {}\nevent: {}\ndata: {json}\n\n",
        event.id,
        event.change.kind()
    ))
}

/// Drops every stream (each ends after what is queued for it); how many there were.
fn end_all(inner: &Inner) -> usize {
    let mut state = lock(&inner.state);
    let streams = state.users.values().map(Vec::len).sum();
    state.users.clear();
    state.pending.clear();
    streams
}

/// Marks the subscribed users of a wake as pending, or ends every stream on a loss.
fn take_wake(inner: &Inner, wake: Wake) {
    match wake {
        Wake::Users(users) => {
            let mut state = lock(&inner.state);
            let subscribed: Vec<UserId> = users
                .into_iter()
                .filter(|user| state.users.contains_key(user))
                .collect();
            state.pending.extend(subscribed);
        }
        Wake::Lost => {
            tracing::warn!("ending every event stream: other processes' writes cannot be heard");
            let ended = end_all(inner);
            inner.settings.ended("database", ended);
        }
    }
}

async fn deliver_forever(inner: Arc<Inner>) {
    let mut catch_up = tokio::time::interval(CATCH_UP_EVERY);
    catch_up.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_read: Option<Instant> = None;
    loop {
        tokio::select! {
            wake = inner.signals.next() => take_wake(&inner, wake),
            () = inner.wake.notified() => {}
            _ = catch_up.tick() => {
                let mut state = lock(&inner.state);
                let users: Vec<UserId> = state.users.keys().cloned().collect();
                state.pending.extend(users);
            }
        }
        if let Some(wait) = last_read.and_then(|at| READ_SPACING.checked_sub(at.elapsed())) {
            tokio::time::sleep(wait).await;
            while let Some(wake) = inner.signals.try_next() {
                take_wake(&inner, wake);
            }
        }
        last_read = Some(Instant::now());
        deliver(&inner).await;
    }
}

/// Reads and hands out the events of every pending user, until none is pending.
async fn deliver(inner: &Inner) {
    loop {
        // One cursor per distinct position of the user's streams that can take more.
        let cursors: Vec<(UserId, EventId)> = {
            let mut state = lock(&inner.state);
            let pending: Vec<UserId> = state.pending.drain().collect();
            let mut cursors = Vec::new();
            for user in pending {
                let Some(subscribers) = state.users.get(&user) else {
                    continue;
                };
                let mut positions: Vec<EventId> = subscribers
                    .iter()
                    .filter(|s| !s.flow.stalled.load(Ordering::Acquire))
                    .map(|s| s.cursor)
                    .collect();
                positions.sort_unstable();
                positions.dedup();
                cursors.extend(positions.into_iter().map(|at| (user.clone(), at)));
            }
            cursors
        };
        if cursors.is_empty() {
            return;
        }
        let users: Vec<UserId> = cursors.iter().map(|(user, _)| user.clone()).collect();
        inner.settings.reads.inc();
        let lists = match inner
            .service
            .events_after(cursors.clone(), EVENTS_PER_ROUND)
            .await
        {
            Ok(lists) => lists,
            Err(err) => {
                // The streams of these users end; their clients reconnect and replay.
                tracing::warn!(error = %crate::error::ErrorChain(&err), users = users.len(), "reading events failed; ending those users' streams");
                let mut state = lock(&inner.state);
                let mut ended = 0;
                for user in &users {
                    ended += state.users.remove(user).map_or(0, |s| s.len());
                }
                inner.settings.ended("database", ended);
                return;
            }
        };
        // Each event formatted once, whichever cursors read it.
        let mut frames: HashMap<(UserId, EventId), Bytes> = HashMap::new();
        let mut newest: HashMap<UserId, EventId> = HashMap::new();
        let mut by_cursor: HashMap<(UserId, EventId), Vec<(Event, Bytes)>> = HashMap::new();
        let mut more: HashSet<UserId> = HashSet::new();
        for ((user, after), events) in cursors.into_iter().zip(lists) {
            if events.len() as u64 >= EVENTS_PER_ROUND {
                more.insert(user.clone());
            }
            let mut list = Vec::with_capacity(events.len());
            for event in events {
                let bytes = frames
                    .entry((user.clone(), event.id))
                    .or_insert_with(|| frame(&event))
                    .clone();
                let top = newest.entry(user.clone()).or_insert(EventId::START);
                *top = (*top).max(event.id);
                list.push((event, bytes));
            }
            by_cursor.insert((user, after), list);
        }
        let mut state = lock(&inner.state);
        let State { users, pending, .. } = &mut *state;
        for user in newest.keys().chain(more.iter()) {
            let Some(subscribers) = users.get_mut(user) else {
                continue;
            };
            let top = newest.get(user).copied().unwrap_or(EventId::START);
            let mut refill = more.contains(user);
            let before = subscribers.len();
            subscribers.retain_mut(|subscriber| {
                let list = by_cursor
                    .get(&(user.clone(), subscriber.cursor))
                    .map_or(&[][..], Vec::as_slice);
                match hand_over(subscriber, list, top) {
                    Handed::Kept => true,
                    Handed::Refill => {
                        refill = true;
                        true
                    }
                    Handed::Dropped => false,
                }
            });
            inner
                .settings
                .ended("slow_reader", before - subscribers.len());
            if subscribers.is_empty() {
                users.remove(user);
            } else if refill {
                pending.insert(user.clone());
            }
        }
    }
}

/// What became of a stream in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handed {
    /// It took what it could.
    Kept,
    /// Its queue filled and emptied again at once: read on for it in the next round.
    Refill,
    /// Gone, or too far behind: drop it (which ends it).
    Dropped,
}

/// Queues for one stream, in order, the events read after its cursor that its filter lets
/// through, until its queue is full. A stream that is stalled (full queue) is dropped
/// when it is more than [`MAX_LAG`] events behind `newest`.
fn hand_over(subscriber: &mut Subscriber, events: &[(Event, Bytes)], newest: EventId) -> Handed {
    if subscriber.flow.stalled.load(Ordering::Acquire) {
        let behind = newest.get().saturating_sub(subscriber.cursor.get());
        if behind > MAX_LAG {
            tracing::info!(
                behind,
                "dropping an event stream whose client reads too slowly"
            );
            return Handed::Dropped;
        }
        return Handed::Kept;
    }
    for (event, bytes) in events {
        if event.id <= subscriber.cursor {
            continue;
        }
        if event.id.get() > subscriber.cursor.get() + 1 {
            // Events this stream never had were deleted (it fell behind by more than the
            // retention): the client must reload.
            let reset = opening(Some("expired"), EventId::new(event.id.get() - 1));
            match queue(subscriber, reset) {
                Queued::Yes => {}
                Queued::Full => return Handed::Kept,
                Queued::FullAndRead => return Handed::Refill,
                Queued::Gone => return Handed::Dropped,
            }
        }
        let wanted = subscriber
            .thread
            .is_none_or(|thread| thread == event.change.thread_id());
        if wanted {
            match queue(subscriber, bytes.clone()) {
                Queued::Yes => {}
                Queued::Full => return Handed::Kept,
                Queued::FullAndRead => return Handed::Refill,
                Queued::Gone => return Handed::Dropped,
            }
        }
        subscriber.cursor = event.id;
    }
    Handed::Kept
}

/// What became of one frame.
enum Queued {
    Yes,
    /// Not queued: the queue is full; the stream is marked stalled and its response asks
    /// for a refill once its client has read it all.
    Full,
    /// Not queued: the queue was full, but the response emptied it meanwhile (and so will
    /// not ask): read on for it in the next round.
    FullAndRead,
    /// The response is gone.
    Gone,
}

/// Queues one frame unless the stream's queue is full.
fn queue(subscriber: &Subscriber, bytes: Bytes) -> Queued {
    let flow = &subscriber.flow;
    let queued = flow.queued.load(Ordering::Acquire);
    if queued > 0 && queued + bytes.len() > MAX_QUEUED_BYTES {
        flow.stalled.store(true, Ordering::Release);
        if flow.queued.load(Ordering::Acquire) == 0 && flow.stalled.swap(false, Ordering::AcqRel) {
            return Queued::FullAndRead;
        }
        return Queued::Full;
    }
    flow.queued.fetch_add(bytes.len(), Ordering::AcqRel);
    if subscriber.tx.send(bytes).is_ok() {
        Queued::Yes
    } else {
        Queued::Gone
    }
}

async fn sweep_forever(service: EventService) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        loop {
            match service.sweep(SWEEP_BATCH).await {
                Ok(deleted) if deleted >= SWEEP_BATCH => {}
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::debug!(deleted, "deleted events past retention");
                    }
                    break;
                }
                Err(err) => {
                    tracing::warn!(error = %crate::error::ErrorChain(&err), "deleting events past retention failed");
                    break;
                }
            }
        }
    }
}

/// Removes a stream from the hub when its response is dropped.
struct Registration {
    inner: Arc<Inner>,
    user: UserId,
    id: u64,
}

impl Registration {
    fn refill(&self) {
        lock(&self.inner.state).pending.insert(self.user.clone());
        self.inner.wake.notify_one();
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner.streams.fetch_sub(1, Ordering::Relaxed);
        self.inner.settings.open_streams.dec();
        let mut state = lock(&self.inner.state);
        if let Some(subscribers) = state.users.get_mut(&self.user) {
            subscribers.retain(|s| s.id != self.id);
            if subscribers.is_empty() {
                state.users.remove(&self.user);
            }
        }
    }
}

/// The body of one `GET /api/v1/events` response.
pub struct EventStream {
    first: Option<Bytes>,
    rx: mpsc::UnboundedReceiver<Bytes>,
    flow: Arc<Flow>,
    heartbeat: tokio::time::Interval,
    registration: Registration,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("id", &self.registration.id)
            .finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(bytes)) => {
                let before = self.flow.queued.fetch_sub(bytes.len(), Ordering::AcqRel);
                if before == bytes.len() && self.flow.stalled.swap(false, Ordering::AcqRel) {
                    // Everything queued is read: refill from the outbox.
                    self.registration.refill();
                }
                return Poll::Ready(Some(Ok(bytes)));
            }
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        if self.heartbeat.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Ok(Bytes::from_static(b": keep-alive\n\n"))));
        }
        Poll::Pending
    }
}
