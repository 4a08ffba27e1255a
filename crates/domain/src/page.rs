//! Keyset pagination: page sizes, positions and opaque cursors.
//!
//! A cursor is `base64url(binding | position | check)`: `binding` is a digest of the list
//! it came from (user, thread, order, filters, search query), so a cursor used on another list is
//! rejected; `check` is a digest over the rest, so a tampered or garbage cursor is rejected
//! too. Cursors carry positions, never offsets: a page stays stable while rows are
//! inserted or deleted before it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::{DomainError, MessageId, SearchQuery, ThreadFilter, ThreadId, Timestamp, UserId};

/// How many items a page holds: 1 to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    /// The largest page.
    pub const MAX: u16 = 100;
    /// Default page size of thread lists and search.
    pub const DEFAULT_THREADS: Self = Self(20);
    /// Default page size of message lists.
    pub const DEFAULT_MESSAGES: Self = Self(50);

    /// Accepts 1 to 100.
    pub fn parse(value: i64) -> Result<Self, DomainError> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=Self::MAX).contains(v))
            .map(Self)
            .ok_or_else(|| DomainError::invalid("limit", "must be between 1 and 100"))
    }

    /// The number of items.
    pub fn get(&self) -> u64 {
        u64::from(self.0)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Whether another page follows.
    pub fn has_more(&self) -> bool {
        self.next_cursor.is_some()
    }
}

/// Direction of a message list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Oldest first (the default).
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

impl SortOrder {
    /// The query-string spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// Position in a thread list, which is ordered by `(updated_at desc, id desc)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadKey {
    /// `updated_at` of the last thread of the previous page.
    pub updated_at: Timestamp,
    /// Its id.
    pub id: ThreadId,
}

/// Position in a message list, which is ordered by `(created_at, id)` in either direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageKey {
    /// `created_at` of the last message of the previous page.
    pub created_at: Timestamp,
    /// Its id.
    pub id: MessageId,
}

/// A thread list request as the storage port receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadListQuery {
    /// Filters.
    pub filter: ThreadFilter,
    /// Start after this position; `None` for the first page.
    pub after: Option<ThreadKey>,
    /// Return at most this many threads.
    pub limit: u64,
}

/// A message list request as the storage port receives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageListQuery {
    /// Direction.
    pub order: SortOrder,
    /// Start after this position (in list order); `None` for the first page.
    pub after: Option<MessageKey>,
    /// Return at most this many messages.
    pub limit: u64,
}

/// Which path of a thread a listing walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathTarget {
    /// The path from the root to the thread's active leaf; when the thread has none, the
    /// path through its newest root and down through newest children.
    #[default]
    Active,
    /// The path from the root through this message and on down, taking at each step the
    /// newest child (greatest `(created_at, id)`), to a leaf.
    Through(MessageId),
}

/// Which messages a message list shows (`branch=active|all` and `through`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageView {
    /// One path of the tree, each message with its `sibling_ids`.
    Path(PathTarget),
    /// Every message of the thread on every branch, in `(created_at, id)` order.
    All,
}

impl Default for MessageView {
    fn default() -> Self {
        Self::Path(PathTarget::Active)
    }
}

/// A request for one page of a path, as the storage port receives it.
///
/// The adapter resolves the path's last message (its *end*) and returns it with the page:
/// - `resume_from` is `None` (a first page): the end of `target` as [`PathTarget`] says.
/// - `resume_from` is `Some(end)`, the end a previous page of this walk returned, and that
///   message still exists: with [`SortOrder::Desc`], `end` itself. With
///   [`SortOrder::Asc`], for [`PathTarget::Active`] the current active leaf's path when
///   `end` lies on it (the path grew), else `end`; for [`PathTarget::Through`] `end` and on
///   down through newest children. A walk thus stays on the path it started on, while
///   messages appended below its end show up on later pages.
/// - `resume_from` names a message that no longer exists: as for a first page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathQuery {
    /// The path asked for.
    pub target: PathTarget,
    /// The end of the walk so far; `None` on a first page.
    pub resume_from: Option<MessageId>,
    /// Root first (`Asc`) or leaf first (`Desc`).
    pub order: SortOrder,
    /// Start strictly after this position (in list order); `None` for the first page.
    pub after: Option<MessageKey>,
    /// Return at most this many messages.
    pub limit: u64,
}

/// One page of a path as the storage port returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct PathPage {
    /// The messages of the path after the requested position, in list order.
    pub messages: Vec<crate::PathMessage>,
    /// The path's last message as resolved for this page; `None` when the thread is
    /// empty.
    pub end: Option<MessageId>,
}

/// Why a cursor was refused. Callers see only [`DomainError::InvalidCursor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not base64url, not UTF-8, or not made of the expected parts.
    #[error("malformed cursor")]
    Malformed,
    /// The check digest does not match: the cursor was altered.
    #[error("tampered cursor")]
    Tampered,
    /// The cursor belongs to another list.
    #[error("cursor from another list")]
    WrongList,
}

impl From<CursorError> for DomainError {
    fn from(_: CursorError) -> Self {
        Self::InvalidCursor
    }
}

const CURSOR_VERSION: &str = "c1";

fn digest_hex(parts: &[&str], bytes: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hasher.finalize()[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Identifies one list: a cursor minted for one scope is refused by every other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CursorScope(String);

impl CursorScope {
    pub(crate) fn threads(user: &UserId, filter: &ThreadFilter) -> Self {
        let pinned = match filter.pinned {
            Some(true) => "true",
            Some(false) => "false",
            None => "any",
        };
        Self(digest_hex(
            &["threads", user.as_str(), filter.archived.as_str(), pinned],
            8,
        ))
    }

    /// The message list of Part 1, before threads were trees: what `branch=all` and the
    /// active path still accept (a walk that began before an upgrade goes on), and no
    /// longer mint.
    pub(crate) fn messages(user: &UserId, thread: &ThreadId, order: SortOrder) -> Self {
        Self(digest_hex(
            &[
                "messages",
                user.as_str(),
                &thread.to_string(),
                order.as_str(),
            ],
            8,
        ))
    }

    /// Every message of a thread on every branch (`branch=all`).
    pub(crate) fn all_messages(user: &UserId, thread: &ThreadId, order: SortOrder) -> Self {
        Self(digest_hex(
            &[
                "all-messages",
                user.as_str(),
                &thread.to_string(),
                order.as_str(),
            ],
            8,
        ))
    }

    /// A path of a thread (`branch=active`, or `through` a message).
    pub(crate) fn path(
        user: &UserId,
        thread: &ThreadId,
        order: SortOrder,
        target: PathTarget,
    ) -> Self {
        let target = match target {
            PathTarget::Active => "active".to_owned(),
            PathTarget::Through(id) => format!("through:{id}"),
        };
        Self(digest_hex(
            &[
                "path",
                user.as_str(),
                &thread.to_string(),
                order.as_str(),
                &target,
            ],
            8,
        ))
    }

    /// A search result list: bound to the user and to the query's normalized form, so a
    /// cursor of another query (or user) is refused.
    pub(crate) fn search(user: &UserId, query: &SearchQuery) -> Self {
        Self(digest_hex(
            &["search", user.as_str(), query.normalized()],
            8,
        ))
    }

    /// Encodes a position made of text parts (none may contain `|`).
    pub(crate) fn encode(&self, position: &[String]) -> String {
        let mut parts: Vec<&str> = vec![CURSOR_VERSION, &self.0];
        parts.extend(position.iter().map(String::as_str));
        let check = digest_hex(&parts, 6);
        let mut text = parts.join("|");
        text.push('|');
        text.push_str(&check);
        URL_SAFE_NO_PAD.encode(text)
    }

    /// The position an optional cursor of this scope carries, parsed by `parse`.
    pub(crate) fn position<K>(
        &self,
        cursor: Option<&str>,
        parse: impl Fn(&[String]) -> Result<K, CursorError>,
    ) -> Result<Option<K>, CursorError> {
        cursor
            .map(|c| self.decode(c).and_then(|parts| parse(&parts)))
            .transpose()
    }

    /// The page of `fetched` (asked for with `limit + 1`, in list order): at most `limit`
    /// items, and a cursor at the last one's position when more followed.
    pub(crate) fn page<T>(
        &self,
        mut fetched: Vec<T>,
        limit: PageLimit,
        position: impl Fn(&T) -> Vec<String>,
    ) -> Page<T> {
        let has_more = fetched.len() as u64 > limit.get();
        fetched.truncate(limit.get() as usize);
        let next_cursor = match fetched.last() {
            Some(last) if has_more => Some(self.encode(&position(last))),
            _ => None,
        };
        Page {
            items: fetched,
            next_cursor,
        }
    }

    /// Decodes a cursor of this scope into its position parts.
    pub(crate) fn decode(&self, cursor: &str) -> Result<Vec<String>, CursorError> {
        if cursor.is_empty() || cursor.len() > 512 {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| CursorError::Malformed)?;
        let text = String::from_utf8(bytes).map_err(|_| CursorError::Malformed)?;
        let mut parts: Vec<&str> = text.split('|').collect();
        let check = parts.pop().ok_or(CursorError::Malformed)?;
        if parts.len() < 2 || parts[0] != CURSOR_VERSION {
            return Err(CursorError::Malformed);
        }
        if digest_hex(&parts, 6) != check {
            return Err(CursorError::Tampered);
        }
        if parts[1] != self.0 {
            return Err(CursorError::WrongList);
        }
        Ok(parts[2..].iter().map(|s| (*s).to_owned()).collect())
    }
}

impl ThreadKey {
    pub(crate) fn to_parts(self) -> Vec<String> {
        vec![self.updated_at.as_micros().to_string(), self.id.to_string()]
    }

    pub(crate) fn from_parts(parts: &[String]) -> Result<Self, CursorError> {
        let [micros, id] = parts else {
            return Err(CursorError::Malformed);
        };
        Ok(Self {
            updated_at: parse_micros(micros)?,
            id: ThreadId::parse(id).map_err(|_| CursorError::Malformed)?,
        })
    }
}

impl MessageKey {
    pub(crate) fn to_parts(self) -> Vec<String> {
        vec![self.created_at.as_micros().to_string(), self.id.to_string()]
    }

    pub(crate) fn from_parts(parts: &[String]) -> Result<Self, CursorError> {
        let [micros, id] = parts else {
            return Err(CursorError::Malformed);
        };
        Ok(Self {
            created_at: parse_micros(micros)?,
            id: MessageId::parse(id).map_err(|_| CursorError::Malformed)?,
        })
    }
}

/// A position on a path: the last message shown and the end of the path it was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PathPosition {
    pub(crate) key: MessageKey,
    pub(crate) end: MessageId,
}

impl PathPosition {
    pub(crate) fn to_parts(self) -> Vec<String> {
        let mut parts = self.key.to_parts();
        parts.push(self.end.to_string());
        parts
    }

    pub(crate) fn from_parts(parts: &[String]) -> Result<Self, CursorError> {
        let [micros, id, end] = parts else {
            return Err(CursorError::Malformed);
        };
        Ok(Self {
            key: MessageKey::from_parts(&[micros.clone(), id.clone()])?,
            end: MessageId::parse(end).map_err(|_| CursorError::Malformed)?,
        })
    }
}

pub(crate) fn parse_micros(text: &str) -> Result<Timestamp, CursorError> {
    text.parse::<i64>()
        .ok()
        .and_then(Timestamp::from_micros)
        .ok_or(CursorError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchivedFilter;
    use proptest::prelude::*;

    fn user(name: &str) -> UserId {
        UserId::parse(name).expect("valid")
    }

    fn key(micros: i64) -> ThreadKey {
        ThreadKey {
            updated_at: Timestamp::from_micros(micros).expect("in range"),
            id: ThreadId::generate(),
        }
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_rejected() {
        for bad in [0, -1, 101, i64::MAX, i64::MIN] {
            assert!(PageLimit::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(PageLimit::parse(1).expect("valid").get(), 1);
        assert_eq!(PageLimit::parse(100).expect("valid").get(), 100);
    }

    #[test]
    fn a_cursor_decodes_on_its_own_list() {
        let scope = CursorScope::threads(&user("alice"), &ThreadFilter::default());
        let k = key(1_700_000_000_000_001);
        let cursor = scope.encode(&k.to_parts());
        let parts = scope.decode(&cursor).expect("valid");
        assert_eq!(ThreadKey::from_parts(&parts), Ok(k));
    }

    #[test]
    fn a_cursor_is_refused_on_another_list() {
        let alice = CursorScope::threads(&user("alice"), &ThreadFilter::default());
        let cursor = alice.encode(&key(5).to_parts());
        let others = [
            CursorScope::threads(&user("bob"), &ThreadFilter::default()),
            CursorScope::threads(
                &user("alice"),
                &ThreadFilter {
                    archived: ArchivedFilter::All,
                    pinned: None,
                },
            ),
            CursorScope::threads(
                &user("alice"),
                &ThreadFilter {
                    archived: ArchivedFilter::Active,
                    pinned: Some(true),
                },
            ),
            CursorScope::messages(&user("alice"), &ThreadId::generate(), SortOrder::Asc),
        ];
        for other in others {
            assert_eq!(other.decode(&cursor), Err(CursorError::WrongList));
        }
        let thread = ThreadId::generate();
        let asc = CursorScope::messages(&user("alice"), &thread, SortOrder::Asc);
        let desc = CursorScope::messages(&user("alice"), &thread, SortOrder::Desc);
        assert_eq!(
            desc.decode(&asc.encode(&key(5).to_parts())),
            Err(CursorError::WrongList)
        );
    }

    #[test]
    fn garbage_and_tampered_cursors_are_refused() {
        let scope = CursorScope::threads(&user("alice"), &ThreadFilter::default());
        for garbage in ["", "abc", "!!!!", "Zm9v", &"A".repeat(600)] {
            assert!(scope.decode(garbage).is_err(), "{garbage:?}");
        }
        let cursor = scope.encode(&key(1_700_000_000_000_000).to_parts());
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(&cursor).expect("b64")).expect("utf8");
        let forged = URL_SAFE_NO_PAD.encode(text.replacen("17", "18", 1));
        assert_eq!(scope.decode(&forged), Err(CursorError::Tampered));
    }

    proptest! {
        #[test]
        fn message_positions_round_trip(micros in 0i64..4_000_000_000_000_000, bytes in any::<[u8; 16]>()) {
            let scope = CursorScope::messages(&user("u"), &ThreadId::generate(), SortOrder::Desc);
            let k = MessageKey {
                created_at: Timestamp::from_micros(micros).expect("in range"),
                id: MessageId::from_uuid(uuid::Uuid::from_bytes(bytes)),
            };
            let decoded = scope.decode(&scope.encode(&k.to_parts())).expect("valid");
            prop_assert_eq!(MessageKey::from_parts(&decoded), Ok(k));
        }

        #[test]
        fn changing_any_character_of_a_cursor_is_refused(
            micros in 0i64..4_000_000_000_000_000,
            index in any::<proptest::sample::Index>(),
            replacement in "[A-Za-z0-9_=+/-]",
        ) {
            let scope = CursorScope::threads(&user("u"), &ThreadFilter::default());
            let k = key(micros);
            let cursor = scope.encode(&k.to_parts());
            let i = index.index(cursor.len());
            let mut changed = cursor.clone();
            changed.replace_range(i..=i, &replacement);
            prop_assume!(changed != cursor);
            // The last base64 character carries spare bits: a change that decodes to the
            // same bytes is the same cursor. Anything else is refused, by the decoding or
            // by the parts it yields (a changed last character of the id).
            if let Ok(parts) = scope.decode(&changed)
                && let Ok(got) = ThreadKey::from_parts(&parts)
            {
                prop_assert_eq!(got, k);
                prop_assert_eq!(i, cursor.len() - 1);
            }
        }

        #[test]
        fn a_cursor_of_one_user_is_refused_for_any_other(a in "[a-zA-Z0-9_-]{1,40}", b in "[a-zA-Z0-9_-]{1,40}") {
            prop_assume!(a != b);
            let filter = ThreadFilter::default();
            let cursor = CursorScope::threads(&user(&a), &filter).encode(&key(7).to_parts());
            prop_assert_eq!(
                CursorScope::threads(&user(&b), &filter).decode(&cursor),
                Err(CursorError::WrongList)
            );
        }

        #[test]
        fn arbitrary_strings_never_panic_the_decoder(s in ".{0,200}") {
            let scope = CursorScope::threads(&user("u"), &ThreadFilter::default());
            let _ = scope.decode(&s);
        }
    }
}
