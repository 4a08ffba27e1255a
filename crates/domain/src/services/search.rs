use std::sync::Arc;

use crate::page::CursorScope;
use crate::{
    DomainError, Page, PageLimit, SearchHit, SearchKey, SearchQuery, SearchRepository,
    SearchRequest, UserId,
};

/// Full-text search over the caller's messages. Cheap to clone.
#[derive(Clone)]
pub struct SearchService {
    repo: Arc<dyn SearchRepository>,
}

impl std::fmt::Debug for SearchService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchService").finish_non_exhaustive()
    }
}

impl SearchService {
    /// A service over the given repository.
    pub fn new(repo: Arc<dyn SearchRepository>) -> Self {
        Self { repo }
    }

    /// One page of the user's messages matching `query`, best match first, then newest
    /// first.
    ///
    /// Errors: [`DomainError::InvalidCursor`] when `cursor` did not come from this same
    /// search (same user, same normalized query) or was altered; `Unavailable`; and
    /// `Unexpected` when the adapter hands back another user's message or breaks the
    /// order.
    pub async fn search(
        &self,
        user: &UserId,
        query: SearchQuery,
        limit: PageLimit,
        cursor: Option<&str>,
    ) -> Result<Page<SearchHit>, DomainError> {
        let scope = CursorScope::search(user, &query);
        let after = scope.position(cursor, SearchKey::from_parts)?;
        let request = SearchRequest {
            query,
            after,
            limit: limit.get() + 1,
        };
        let items = self.repo.search_messages(user, request).await?;
        // Defence in depth: even if an adapter forgot its `user_id` filter, another user's
        // message never leaves the service.
        if items.iter().any(|hit| &hit.owner != user) {
            return Err(DomainError::Unexpected(
                "search returned another user's message".into(),
            ));
        }
        // Pages are only gap- and repeat-free if every hit sorts strictly after the
        // previous one (and after the cursor).
        let in_order = after
            .iter()
            .copied()
            .chain(items.iter().map(SearchHit::key))
            .collect::<Vec<_>>()
            .windows(2)
            .all(|w| sorts_before(&w[0], &w[1]));
        if !in_order {
            return Err(DomainError::Unexpected(
                "search returned hits out of order".into(),
            ));
        }
        Ok(scope.page(items, limit, |hit| hit.key().to_parts()))
    }
}

/// Whether `a` comes strictly before `b` in `(rank desc, created_at desc, id desc)`.
fn sorts_before(a: &SearchKey, b: &SearchKey) -> bool {
    (b.rank, b.created_at, b.id) < (a.rank, a.created_at, a.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        Limits, Message, MessageContent, MessageId, Metadata, MockSearchRepository, Role, Sources,
        StoreError, ThreadId, ThreadTitle, Timestamp, Version,
    };

    fn user(name: &str) -> UserId {
        UserId::parse(name).expect("valid")
    }

    fn query(q: &str) -> SearchQuery {
        SearchQuery::parse(q).expect("valid")
    }

    fn hit(owner: &str, rank: i64, micros: i64) -> SearchHit {
        let at = Timestamp::from_micros(1_795_954_530_000_000 + micros).expect("in range");
        SearchHit {
            message: Message {
                parent_id: None,
                id: MessageId::generate(),
                thread_id: ThreadId::generate(),
                role: Role::User,
                content: MessageContent::parse("hello world", &Limits::default()).expect("ok"),
                parts: crate::MessageParts::from_content(
                    &MessageContent::parse("hello world", &Limits::default()).expect("ok"),
                ),
                status: crate::MessageStatus::Complete,
                sources: Sources::default(),
                metadata: Metadata::default(),
                feedback: None,
                created_at: at,
                updated_at: at,
                version: Version::new(at.as_micros()),
            },
            thread_title: ThreadTitle::parse("t").expect("ok"),
            owner: user(owner),
            snippet: "⟦hello⟧ world".to_owned(),
            rank,
        }
    }

    fn service(repo: MockSearchRepository) -> SearchService {
        SearchService::new(Arc::new(repo))
    }

    #[tokio::test]
    async fn a_search_asks_for_one_more_hit_than_the_page_and_hands_out_a_cursor() {
        let mut repo = MockSearchRepository::new();
        repo.expect_search_messages()
            .withf(|u, r| {
                u.as_str() == "alice"
                    && r.after.is_none()
                    && r.limit == 3
                    && r.query.normalized() == "\"hello\""
            })
            .times(1)
            .returning(|_, _| {
                Ok(vec![
                    hit("alice", 9, 5),
                    hit("alice", 9, 4),
                    hit("alice", 1, 9),
                ])
            });
        let page = service(repo)
            .search(
                &user("alice"),
                query("Hello"),
                PageLimit::parse(2).expect("valid"),
                None,
            )
            .await
            .expect("page");
        assert_eq!(page.items.len(), 2);
        assert!(page.has_more());
    }

    #[tokio::test]
    async fn the_next_page_starts_after_the_last_hit_of_this_one() {
        let first = vec![hit("alice", 7, 3), hit("alice", 7, 2)];
        let last_key = first[0].key();
        let mut repo = MockSearchRepository::new();
        let mut seq = mockall::Sequence::new();
        repo.expect_search_messages()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_, _| Ok(first.clone()));
        repo.expect_search_messages()
            .withf(move |_, r| r.after == Some(last_key))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(vec![]));
        let service = service(repo);
        let one = PageLimit::parse(1).expect("valid");
        let page = service
            .search(&user("alice"), query("x"), one, None)
            .await
            .expect("page");
        let cursor = page.next_cursor.expect("more");
        let next = service
            .search(&user("alice"), query("x"), one, Some(&cursor))
            .await
            .expect("page");
        assert!(next.items.is_empty() && !next.has_more());
    }

    #[tokio::test]
    async fn a_cursor_of_another_query_or_user_is_invalid_but_of_an_equivalent_query_is_not() {
        let mut repo = MockSearchRepository::new();
        repo.expect_search_messages().returning(|u, r| {
            Ok(match r.after {
                None => vec![hit(u.as_str(), 2, 2), hit(u.as_str(), 1, 1)],
                Some(_) => vec![],
            })
        });
        let service = service(repo);
        let one = PageLimit::parse(1).expect("valid");
        let cursor = service
            .search(&user("alice"), query("rust -gc"), one, None)
            .await
            .expect("page")
            .next_cursor
            .expect("more");
        for (who, q) in [("alice", "rust"), ("alice", "rust gc"), ("bob", "rust -gc")] {
            let err = service
                .search(&user(who), query(q), one, Some(&cursor))
                .await
                .expect_err("foreign cursor");
            assert!(matches!(err, DomainError::InvalidCursor), "{who} {q}");
        }
        for garbage in ["", "abc", "Zm9vfGJhcg"] {
            let err = service
                .search(&user("alice"), query("rust -gc"), one, Some(garbage))
                .await
                .expect_err("garbage");
            assert!(matches!(err, DomainError::InvalidCursor), "{garbage:?}");
        }
        service
            .search(&user("alice"), query("  RUST   -GC "), one, Some(&cursor))
            .await
            .expect("the same query spelled differently");
    }

    #[tokio::test]
    async fn another_users_hit_is_never_returned_even_if_the_adapter_leaks_it() {
        let mut repo = MockSearchRepository::new();
        repo.expect_search_messages()
            .returning(|_, _| Ok(vec![hit("alice", 1, 1), hit("mallory", 1, 0)]));
        let err = service(repo)
            .search(&user("alice"), query("x"), PageLimit::DEFAULT_THREADS, None)
            .await
            .expect_err("leak");
        assert!(matches!(err, DomainError::Unexpected(_)));
    }

    #[tokio::test]
    async fn hits_out_of_order_are_refused_rather_than_paged_wrongly() {
        let mut repo = MockSearchRepository::new();
        repo.expect_search_messages()
            .returning(|_, _| Ok(vec![hit("alice", 1, 5), hit("alice", 2, 1)]));
        let err = service(repo)
            .search(&user("alice"), query("x"), PageLimit::DEFAULT_THREADS, None)
            .await
            .expect_err("out of order");
        assert!(matches!(err, DomainError::Unexpected(_)));
    }

    #[tokio::test]
    async fn storage_outages_are_unavailable() {
        let mut repo = MockSearchRepository::new();
        repo.expect_search_messages()
            .returning(|_, _| Err(StoreError::Unavailable("down".into())));
        let err = service(repo)
            .search(&user("alice"), query("x"), PageLimit::DEFAULT_THREADS, None)
            .await
            .expect_err("down");
        assert!(matches!(err, DomainError::Unavailable(_)));
    }
}
