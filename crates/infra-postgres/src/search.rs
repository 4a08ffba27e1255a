//! [`SearchRepository`] over PostgreSQL full-text search and SQLite FTS5.
//!
//! Both statements are written here as SQL text with numbered placeholders; the structure
//! of the statement (how many items, which operators) follows the parsed
//! [`domain::SearchQuery`], and every piece of user text travels as a bound value. On
//! SQLite the FTS5 query string is one bound value too, in which every item is a quoted
//! FTS5 string, so no input can use FTS5's own syntax (`NEAR`, `*`, `:`, `(`, `^`, ...).
//!
//! Rank, "higher is better", depends on the message and the query only:
//! - PostgreSQL: `ts_rank_cd` (cover density: more, and closer, matches rank higher) with
//!   no length normalization, scaled by 10^6 and rounded to a `bigint`, so the value that
//!   orders the rows, the one returned and the one compared with a cursor are one exact
//!   integer;
//! - SQLite: the number of matches, counted as the markers `highlight()` inserts. FTS5's
//!   `bm25()` is not used because it weighs terms with statistics of the whole table (all
//!   users' messages): another user's writes would move hits between pages, and the rank
//!   in a cursor would tell something about other users' messages.

use async_trait::async_trait;
use domain::{
    SearchHit, SearchQuery, SearchRepository, SearchRequest, SearchTerm, StoreError, ThreadTitle,
    Timestamp, UserId,
};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, Value};
use sea_orm::{DbBackend, IdenStatic, Statement};

use crate::convert::{MESSAGE_COLUMNS, message_from_row};
use crate::db::{Db, Row, sql_limit, thread_alive_sql};
use crate::entity::thread;
use crate::error::InvalidRow;

/// The PostgreSQL text search configuration the migration creates: `simple` (no stemming,
/// no stop words) with `unaccent` first.
const PG_CONFIG: &str = "chat_search";

/// `ts_headline` options: up to two fragments of at most 24 words, each stretched around
/// its matches (context on both sides), joined by ` … `. `ShortWord=0` lets a fragment end
/// on any word: with the default (3), a fragment may not end on a short word such as "big",
/// and a short message's fragment would stop at its last match. `StartSel`/`StopSel` are
/// prepended from the domain's markers.
const PG_HEADLINE_OPTIONS: &str = "MaxFragments=2, MaxWords=24, MinWords=12, ShortWord=0, \
     FragmentDelimiter=\" … \"";

/// Tokens in an FTS5 snippet (its maximum is 64).
const SQLITE_SNIPPET_TOKENS: i64 = 24;

/// Rank scale on PostgreSQL: `ts_rank_cd` is a `real`; six decimals keep its order.
const PG_RANK_SCALE: i64 = 1_000_000;

/// Full-text search in `chat_messages`, scoped by the messages' own `user_id` (and the
/// joined thread's, which the foreign key keeps equal).
#[derive(Debug, Clone)]
pub struct SeaOrmSearchRepository {
    db: Db,
}

impl SeaOrmSearchRepository {
    pub(crate) fn new(db: Db) -> Self {
        Self { db }
    }
}

/// Bound values and their numbered placeholders (`$n` on PostgreSQL, `?n` on SQLite): a
/// number can be used several times in one statement.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            values: Vec::new(),
        }
    }

    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        let n = self.values.len();
        match self.backend {
            DbBackend::Postgres => format!("${n}"),
            _ => format!("?{n}"),
        }
    }

    fn statement(self, sql: String) -> Statement {
        Statement::from_sql_and_values(self.backend, sql, self.values)
    }
}

/// The match markers of snippets, and what replaces them in the content itself.
const MARKERS: (&str, &str) = (SearchHit::MATCH_START, SearchHit::MATCH_END);
const MARKER_STANDINS: &str = "[]";

/// [`MESSAGE_COLUMNS`] qualified by `alias`: first in every row of the statements below,
/// where [`message_from_row`] reads them.
fn message_columns(alias: &str) -> String {
    MESSAGE_COLUMNS
        .iter()
        .map(|c| format!("{alias}.{0} AS {0}", c.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page's order, on the columns of `alias`.
fn page_order(alias: &str) -> String {
    format!("{alias}.rank DESC, {alias}.created_at DESC, {alias}.id DESC")
}

/// The placeholders of a parsed query's items: each item's text is bound once and used
/// by both of the tsqueries below.
struct BoundQuery {
    groups: Vec<Vec<String>>,
    excluded: Vec<String>,
}

impl BoundQuery {
    fn bind(query: &SearchQuery, params: &mut Params) -> Self {
        let mut item = |term: &SearchTerm| params.bind(term.as_str());
        Self {
            groups: query
                .groups()
                .iter()
                .map(|group| group.iter().map(&mut item).collect())
                .collect(),
            excluded: query.excluded().iter().map(&mut item).collect(),
        }
    }

    /// Every group as `(a || b || ...)` of `item` of its items' placeholders.
    fn alternatives(&self, item: impl Fn(&String) -> String) -> Vec<String> {
        self.groups
            .iter()
            .map(|group| {
                format!(
                    "({})",
                    group.iter().map(&item).collect::<Vec<_>>().join(" || ")
                )
            })
            .collect()
    }

    /// The exact tsquery: `phraseto_tsquery` of every item, joined with `||` inside a
    /// group, and the groups and the negated exclusions (`!!`) joined with `&&`. Every
    /// operand is parenthesized: PostgreSQL gives these operators one precedence.
    fn exact(&self) -> String {
        let item = |text: &String| format!("phraseto_tsquery('{PG_CONFIG}', {text})");
        let mut conjuncts = self.alternatives(item);
        conjuncts.extend(
            self.excluded
                .iter()
                .map(|text| format!("(!! {})", item(text))),
        );
        conjuncts.join(" && ")
    }

    /// The tsquery of the owner-keyed index (`chat_search_keys`, migration
    /// `m20261209_000001_search_keys`): the keys of every item's words ANDed, the items of
    /// a group ORed, the groups ANDed. It finds every message that [`Self::exact`] finds,
    /// and some that it does not (the keys have no positions, and exclusions are left out):
    /// the exact query is applied to what it finds.
    fn keys(&self, owner: &str) -> String {
        self.alternatives(|text| format!("chat_search_query_keys({owner}, {text})"))
            .join(" && ")
    }
}

/// How a user's candidates are found on PostgreSQL, by the length of the user's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum History {
    /// No more messages than [`SearchRequest::CANDIDATES`]: every match is a candidate,
    /// read through the owner-keyed index (`chat_search_keys`, migration
    /// `m20261209_000001_search_keys`), whose entries for these words are this user's only.
    /// At most `CANDIDATES` rows, and nothing of other users' messages is read, however
    /// many there are and whatever words they hold.
    Short,
    /// More: the planner chooses, knowing the words (the statement is planned for its
    /// values): the newest of the user's messages from `chat_messages_user_recent_idx`
    /// until `CANDIDATES` of them match (a common word), or the user's entries of the
    /// `(user_id, search_vector)` index (a rare one). The keyed index cannot serve this
    /// choice: with both the owner and the owner-keyed words in one condition the planner
    /// counts the owner twice and picks the index for every word, and then reads every
    /// match of a common word (docs/benchmarks.md, rounds 9 and 11).
    Long,
}

/// Whether `user`'s history is [`History::Short`]: the message counts of at most
/// `CANDIDATES + 1` of the user's threads (a user with more threads has a long history).
/// One short index range of `chat_threads`, whatever the user's number of messages.
async fn history(db: &Db, user: &UserId) -> Result<History, StoreError> {
    let bound = SearchRequest::CANDIDATES + 1;
    let threads = Query::select()
        .column(thread::Column::MessageCount)
        .from(thread::Entity)
        .and_where(Expr::col(thread::Column::UserId).eq(user.as_str()))
        .limit(bound)
        .to_owned();
    let select = Query::select()
        .expr(Func::count(Expr::col(thread::Column::MessageCount)))
        .expr(Func::cast_as(
            Func::coalesce([
                Func::sum(Expr::col(thread::Column::MessageCount)).into(),
                Expr::val(0i64),
            ]),
            "bigint",
        ))
        .from_subquery(threads, "history")
        .to_owned();
    let row = db.statement_one_row(db.backend().build(&select)).await?;
    let (threads, messages): (i64, i64) = (row.get(0)?, row.get(1)?);
    let bound = i64::try_from(bound).unwrap_or(i64::MAX);
    Ok(if threads < bound && messages < bound {
        History::Short
    } else {
        History::Long
    })
}

/// PostgreSQL: the user's [`SearchRequest::CANDIDATES`] newest matches (found as
/// [`History`] says), ranked, the page cut from them; the headline, which parses the whole
/// content again, only for the page.
///
/// Both ways filter `chat_messages.user_id` (the distribution column a sharded PostgreSQL
/// routes by, docs/scaling.md). For a short history the planner may combine the keyed
/// index with the owner's range of `chat_messages_user_recent_idx` (at most 1,000 entries)
/// or, for a rare word, take the `(user_id, search_vector)` index: each reads this user's
/// entries only, or a word's few.
fn postgres_statement(
    db: &Db,
    user: &UserId,
    history: History,
    request: &SearchRequest,
) -> Statement {
    let mut params = Params::new(DbBackend::Postgres);
    let query = BoundQuery::bind(&request.query, &mut params);
    let user = params.bind(user.as_str());
    let tsquery = query.exact();
    let candidates = params.bind(SearchRequest::CANDIDATES);
    // Ranked as found: only the id, the thread, the time and the rank of each candidate
    // travel through the sorts below; the page's messages are read again by id (a handful
    // of rows) for their columns and headlines.
    let rank = format!(
        "round(ts_rank_cd(m.search_vector, ({tsquery}))::float8 * {PG_RANK_SCALE})::bigint AS rank"
    );
    let found = match history {
        History::Short => format!(
            "SELECT m.id, m.thread_id, m.created_at, {rank} FROM chat_messages AS m \
             WHERE chat_search_keys(m.user_id, m.search_vector) @@ ({}) \
               AND m.user_id = {user} AND m.search_vector @@ ({tsquery}) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT {candidates}",
            query.keys(&user)
        ),
        History::Long => format!(
            "SELECT m.id, m.thread_id, m.created_at, {rank} FROM chat_messages AS m \
             WHERE m.user_id = {user} AND m.search_vector @@ ({tsquery}) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT {candidates}"
        ),
    };
    let now = params.bind(db.timestamp(Timestamp::now()));
    let keyset = match request.after {
        Some(after) => format!(
            "WHERE (hits.rank, hits.created_at, hits.id) < ({}, {}, {})",
            params.bind(after.rank),
            params.bind(db.timestamp(after.created_at)),
            params.bind(*after.id.as_uuid()),
        ),
        None => String::new(),
    };
    let limit = params.bind(sql_limit(request.limit));
    let (open, close) = MARKERS;
    let markers = params.bind(format!("{open}{close}"));
    let standins = params.bind(MARKER_STANDINS);
    let options = params.bind(format!(
        "StartSel={open}, StopSel={close}, {PG_HEADLINE_OPTIONS}"
    ));
    let columns = message_columns("m");
    let order = page_order("hits");
    let final_order = page_order("page");
    // The threads of the candidates are checked for expiry by one look at the user's
    // expired threads (those the sweeper has not deleted yet: usually none), not one
    // lookup per candidate; the page's threads are joined for their titles.
    let expired = format!("NOT {}", thread_alive_sql("e", &now));
    let sql = format!(
        "WITH candidates AS ({found}), \
         hits AS (\
           SELECT c.id, c.created_at, c.rank FROM candidates AS c \
           WHERE c.thread_id <> ALL (ARRAY(SELECT e.id FROM chat_threads AS e \
             WHERE e.user_id = {user} AND {expired}))\
         ) \
         SELECT {columns}, t.title AS thread_title, t.user_id AS thread_user_id, page.rank, \
           ts_headline('{PG_CONFIG}', translate(m.content, {markers}, {standins}), ({tsquery}), {options}) AS snippet \
         FROM (SELECT * FROM hits {keyset} ORDER BY {order} LIMIT {limit}) AS page \
           JOIN chat_messages AS m ON m.id = page.id AND m.user_id = {user} \
           JOIN chat_threads AS t ON t.id = m.thread_id AND t.user_id = {user} \
         ORDER BY {final_order}"
    );
    params.statement(sql)
}

/// An FTS5 string: double quotes around, inner double quotes doubled. Inside one, FTS5
/// syntax has no meaning; the tokenizer splits it into a phrase.
fn fts5_string(term: &SearchTerm) -> String {
    format!("\"{}\"", term.as_str().replace('"', "\"\""))
}

/// The FTS5 query of a parsed query: `(a OR b) AND (c) NOT (d OR e)`.
fn fts5_query(query: &SearchQuery) -> String {
    let groups: Vec<String> = query
        .groups()
        .iter()
        .map(|group| {
            let alternatives: Vec<String> = group.iter().map(fts5_string).collect();
            format!("({})", alternatives.join(" OR "))
        })
        .collect();
    let positive = groups.join(" AND ");
    if query.excluded().is_empty() {
        positive
    } else {
        let excluded: Vec<String> = query.excluded().iter().map(fts5_string).collect();
        format!("({positive}) NOT ({})", excluded.join(" OR "))
    }
}

/// SQLite: the same rule as on PostgreSQL. FTS5 finds the matches, the user's newest
/// [`SearchRequest::CANDIDATES`] of them are kept, and only those are ranked (a correlated
/// lookup of each one's FTS5 row by rowid); the snippet is computed for the page only.
fn sqlite_statement(db: &Db, user: &UserId, request: &SearchRequest) -> Statement {
    let mut params = Params::new(DbBackend::Sqlite);
    let matches = params.bind(fts5_query(&request.query));
    let user = params.bind(user.as_str());
    let candidates = params.bind(SearchRequest::CANDIDATES);
    let now = params.bind(db.timestamp(Timestamp::now()));
    let keyset = match request.after {
        Some(after) => format!(
            "WHERE (hits.rank, hits.created_at, hits.id) < ({}, {}, {})",
            params.bind(after.rank),
            params.bind(db.timestamp(after.created_at)),
            params.bind(*after.id.as_uuid()),
        ),
        None => String::new(),
    };
    let limit = params.bind(sql_limit(request.limit));
    let (open, close) = MARKERS;
    let open = params.bind(open);
    let close = params.bind(close);
    let ellipsis = params.bind("…");
    let columns = message_columns("m");
    let order = page_order("hits");
    let final_order = page_order("page");
    let alive = thread_alive_sql("t", &now);
    // `highlight()` inserts one marker before each match; the text it works on is the
    // content view's, whose length equals the content's.
    let sql = format!(
        "SELECT page.*, \
           (SELECT snippet(chat_messages_fts, 0, {open}, {close}, {ellipsis}, {SQLITE_SNIPPET_TOKENS}) \
            FROM chat_messages_fts \
            WHERE chat_messages_fts MATCH {matches} AND chat_messages_fts.rowid = page.fts_rowid\
           ) AS snippet \
         FROM (\
           SELECT * FROM (\
             SELECT candidates.*, \
               (SELECT length(highlight(chat_messages_fts, 0, char(1), '')) - length(chat_messages_fts.content) \
                FROM chat_messages_fts \
                WHERE chat_messages_fts MATCH {matches} AND chat_messages_fts.rowid = candidates.fts_rowid\
               ) AS rank \
             FROM (\
               SELECT {columns}, t.title AS thread_title, t.user_id AS thread_user_id, \
                 chat_messages_fts.rowid AS fts_rowid \
               FROM chat_messages_fts \
               JOIN chat_messages_fts_rows AS r ON r.id = chat_messages_fts.rowid \
               JOIN chat_messages AS m ON m.id = r.message_id \
               JOIN chat_threads AS t ON t.id = m.thread_id \
               WHERE chat_messages_fts MATCH {matches} AND m.user_id = {user} AND t.user_id = {user} \
                 AND {alive} \
               ORDER BY m.created_at DESC, m.id DESC LIMIT {candidates}\
             ) AS candidates\
           ) AS hits {keyset} \
           ORDER BY {order} LIMIT {limit}\
         ) AS page \
         ORDER BY {final_order}"
    );
    params.statement(sql)
}

fn hit_from_row(row: &Row) -> Result<SearchHit, StoreError> {
    let message = message_from_row(row)?;
    let id = *message.id.as_uuid();
    let invalid = |err| InvalidRow::store_error("chat_threads", id, &err);
    let title: String = row.get_named("thread_title")?;
    let owner: String = row.get_named("thread_user_id")?;
    let rank: i64 = row.get_named("rank")?;
    let snippet: Option<String> = row.get_named("snippet")?;
    Ok(SearchHit {
        message,
        thread_title: ThreadTitle::parse(title).map_err(invalid)?,
        owner: UserId::parse(owner).map_err(invalid)?,
        snippet: snippet.unwrap_or_default(),
        rank,
    })
}

#[async_trait]
impl SearchRepository for SeaOrmSearchRepository {
    async fn search_messages(
        &self,
        user: &UserId,
        request: SearchRequest,
    ) -> Result<Vec<SearchHit>, StoreError> {
        let db = &self.db;
        let statement = match db.backend() {
            DbBackend::Postgres => postgres_statement(db, user, history(db, user).await?, &request),
            _ => sqlite_statement(db, user, &request),
        };
        // Planned for these values: the index keys and the exact query are computed once,
        // while planning, and the plan for a long history depends on how common the words
        // are. A short history's statement prepared once and kept would save its planning
        // (about 0.4 ms), but the plan PostgreSQL then keeps for all values cannot see
        // that the keyed index finds few rows: on the 10M-others set it took the
        // `(user_id, search_vector)` index and computed the keys row by row, 23 ms against
        // 6 (docs/benchmarks.md, round 12).
        let rows = db.statement_rows_planned_for_values(statement).await?;
        rows.iter().map(hit_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> SearchQuery {
        SearchQuery::parse(q).expect("valid")
    }

    #[test]
    fn every_item_becomes_a_quoted_fts5_string() {
        assert_eq!(
            fts5_query(&query("a or b c -d -\"e f\"")),
            "((\"a\" OR \"b\") AND (\"c\")) NOT (\"d\" OR \"e f\")"
        );
        assert_eq!(
            fts5_query(&query("NEAR(x y) title:z star* ^w")),
            "(\"NEAR(x\") AND (\"y)\") AND (\"title:z\") AND (\"star*\") AND (\"^w\")"
        );
    }

    #[test]
    fn user_text_reaches_postgres_only_as_bound_values() {
        let mut params = Params::new(DbBackend::Postgres);
        let bound = BoundQuery::bind(
            &query("rock or roll -jazz '; DROP TABLE x; --"),
            &mut params,
        );
        let exact = bound.exact();
        let item = |n: usize| format!("phraseto_tsquery('chat_search', ${n})");
        assert_eq!(
            exact,
            format!(
                "({} || {}) && ({}) && ({}) && ({}) && (!! {})",
                item(1),
                item(2),
                item(3),
                item(4),
                item(5),
                item(6)
            )
        );
        let keys = bound.keys("$7");
        let key = |n: usize| format!("chat_search_query_keys($7, ${n})");
        assert_eq!(
            keys,
            format!(
                "({} || {}) && ({}) && ({}) && ({})",
                key(1),
                key(2),
                key(3),
                key(4),
                key(5)
            )
        );
        for sql in [&exact, &keys] {
            assert!(!sql.contains("DROP") && !sql.contains("jazz"));
        }
        assert_eq!(params.values.len(), 6);
        assert_eq!(params.values[5], Value::from("jazz"));
    }
}
