//! Live events: the changes of one user's threads and messages, numbered in the order
//! their writes committed, for the `GET /api/v1/events` feed.

use std::fmt;

use crate::{Message, MessageId, Thread, ThreadId};

/// The number of an event in its user's feed: 1 for the user's first event, then 2, 3, ...
/// in the order the writes committed, without gaps. [`EventId::START`] (0) stands for
/// "before the first event" and is never an event's own id.
///
/// Shown to clients as 16 decimal digits (`0000000000000042`), so that ids order the same
/// as numbers and as text; parsed back only in that form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(u64);

impl EventId {
    /// Before the user's first event.
    pub const START: Self = Self(0);
    /// The number of digits of the text form.
    pub const DIGITS: usize = 16;

    /// The event numbered `n` (0 is [`EventId::START`]).
    pub fn new(n: u64) -> Self {
        Self(n)
    }

    /// The number.
    pub fn get(&self) -> u64 {
        self.0
    }

    /// An id as a client sends it back (`Last-Event-ID`): exactly [`EventId::DIGITS`]
    /// ASCII digits naming an event (not [`EventId::START`]). Anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != Self::DIGITS || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().filter(|n| *n > 0).map(Self)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.0, width = Self::DIGITS)
    }
}

/// What happened, with the state it left.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A thread was created (also by a fork or an import).
    ThreadCreated(Thread),
    /// A thread's own fields changed (an append changes its counters).
    ThreadUpdated(Thread),
    /// A thread and its messages were deleted.
    ThreadDeleted(ThreadId),
    /// A message was stored.
    MessageCreated(Message),
    /// A message changed (an edit, a replace, feedback, a new parent after a splice delete).
    MessageUpdated(Message),
    /// A message was deleted from a thread that still exists.
    MessageDeleted {
        /// Its thread.
        thread_id: ThreadId,
        /// The message.
        message_id: MessageId,
    },
}

impl Change {
    /// The event's name on the wire (`thread.created`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ThreadCreated(_) => "thread.created",
            Self::ThreadUpdated(_) => "thread.updated",
            Self::ThreadDeleted(_) => "thread.deleted",
            Self::MessageCreated(_) => "message.created",
            Self::MessageUpdated(_) => "message.updated",
            Self::MessageDeleted { .. } => "message.deleted",
        }
    }

    /// The thread the change is about.
    pub fn thread_id(&self) -> ThreadId {
        match self {
            Self::ThreadCreated(t) | Self::ThreadUpdated(t) => t.id,
            Self::ThreadDeleted(id) => *id,
            Self::MessageCreated(m) | Self::MessageUpdated(m) => m.thread_id,
            Self::MessageDeleted { thread_id, .. } => *thread_id,
        }
    }
}

/// One event of a user's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its number in the user's feed.
    pub id: EventId,
    /// What happened.
    pub change: Change,
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// Deliver every event after this one (the user's newest when no `Last-Event-ID` was
    /// given: live events only; the given id when it is still retained: a replay).
    After(EventId),
    /// The given `Last-Event-ID` is unknown or no longer retained: the client must reload
    /// what it shows. Delivery continues after `newest`, the user's newest event now.
    Reset {
        /// The user's newest event when the subscription starts.
        newest: EventId,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sixteen_digits_that_order_as_text_and_as_numbers() {
        assert_eq!(EventId::new(42).to_string(), "0000000000000042");
        assert!(EventId::new(9).to_string() < EventId::new(10).to_string());
        assert_eq!(EventId::parse("0000000000000042"), Some(EventId::new(42)));
        assert_eq!(
            EventId::parse(&EventId::new(u64::from(u32::MAX)).to_string()),
            Some(EventId::new(u64::from(u32::MAX)))
        );
    }

    #[test]
    fn anything_but_the_issued_form_of_an_event_is_unknown() {
        for text in [
            "",
            "42",
            "0000000000000000",
            "000000000000004x",
            "+000000000000042",
            " 000000000000042",
            "00000000000000042",
            "٠٠٠٠٠٠٠٠٠٠٠٠٠٠٤٢",
        ] {
            assert_eq!(EventId::parse(text), None, "{text:?}");
        }
    }
}
