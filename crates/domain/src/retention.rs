//! What retention deletes: expired temporary chats, threads older than the retention
//! period, and one user's whole history.

use crate::{Timestamp, UserId};

/// Which threads a purge deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeRule {
    /// Every thread of this user (their account is being deleted).
    User(UserId),
    /// Threads of every user whose `expires_at` is at or before this moment (temporary
    /// chats).
    ExpiredAt(Timestamp),
    /// Threads of every user whose `updated_at` is before this moment (`RETENTION_DAYS`).
    UpdatedBefore(Timestamp),
}

/// How much a purge deleted (or, for a dry run, would delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Threads.
    pub threads: u64,
    /// Messages of those threads.
    pub messages: u64,
}

impl Purged {
    /// Nothing.
    pub const NONE: Self = Self {
        threads: 0,
        messages: 0,
    };
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, other: Self) {
        self.threads += other.threads;
        self.messages += other.messages;
    }
}

/// What one sweep deleted, by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SweepReport {
    /// Threads whose `expires_at` had passed.
    pub expired: Purged,
    /// Threads older than the retention period.
    pub retention: Purged,
}
