//! Full-text search over a user's messages: the validated query, the position of a hit in
//! the result list, and what a hit carries.
//!
//! The query uses web-search syntax and is parsed here, once, into a structure that every
//! storage adapter receives: words are ANDed, `"quoted phrases"` match adjacent words in
//! order, `or` between two items makes them alternatives, `-word` and `-"phrase"` exclude.
//! Adapters never see the raw text, so they all read a query the same way, and they hand
//! each item's text to their own tokenizer only as a bound value (never as SQL or as
//! full-text query syntax).

use std::fmt::Write as _;

use crate::page::{CursorError, parse_micros};
use crate::{DomainError, Message, MessageId, ThreadTitle, Timestamp, UserId};

/// One thing to look for: a word, or a `"quoted phrase"`, as the user wrote it (whitespace
/// runs collapsed to one space, never a `"`). All of its words must appear next to each
/// other and in this order; a single item such as `e-mail` or `3.14` that the storage
/// tokenizes into several words is therefore matched as a phrase too.
///
/// Always holds at least one alphanumeric character: items made only of punctuation or
/// symbols (`*`, `(`, `:`, `'`, `\`, emoji) are dropped while parsing, because no tokenizer
/// would find a word in them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerm(String);

impl SearchTerm {
    /// `None` when `text` holds no alphanumeric character.
    fn new(text: &str) -> Option<Self> {
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        collapsed
            .chars()
            .any(char::is_alphanumeric)
            .then_some(Self(collapsed))
    }

    /// The text to hand to a tokenizer (as a bound value).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated full-text query in web-search syntax.
///
/// Grammar (every rule is what a careful client would expect from a web search box):
/// - items are separated by whitespace; an item is a word or a `"quoted phrase"` (an
///   unterminated quote runs to the end of the query);
/// - every group of items must match (AND); `a or b` (any case, unquoted) makes `a` and
///   `b` alternatives of one group, and `or` binds tighter than the implicit AND, so
///   `a or b c` means `(a OR b) AND c`;
/// - `-word` or `-"a phrase"` excludes messages that contain it; an `or` next to an
///   excluded item, or at either end of the query, is an ordinary word;
/// - items without any alphanumeric character are ignored;
/// - matching ignores case (and, in both adapters, diacritics); there is no stemming.
///
/// Rejected: an empty or blank query, one with U+0000, one over 512 characters, and one
/// with nothing to look for (only exclusions, or only punctuation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    groups: Vec<Vec<SearchTerm>>,
    excluded: Vec<SearchTerm>,
    normalized: String,
}

/// One whitespace-separated piece of the raw query.
#[derive(Debug)]
struct Lexeme {
    negated: bool,
    quoted: bool,
    text: String,
}

impl Lexeme {
    fn is_or(&self) -> bool {
        !self.negated && !self.quoted && self.text.eq_ignore_ascii_case("or")
    }

    /// Whether this lexeme becomes a positive item (so an `or` before it is an operator).
    fn is_positive_item(&self) -> bool {
        !self.negated && !self.is_or() && self.text.chars().any(char::is_alphanumeric)
    }
}

fn lex(input: &str) -> Vec<Lexeme> {
    let mut lexemes = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let mut negated = false;
        if first == '-' {
            chars.next();
            match chars.peek() {
                // A lone `-` is punctuation, not an operator.
                None => break,
                Some(c) if c.is_whitespace() => continue,
                Some(_) => negated = true,
            }
        }
        let mut text = String::new();
        let quoted = chars.next_if_eq(&'"').is_some();
        if quoted {
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                text.push(c);
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '"') {
                text.push(c);
            }
        }
        lexemes.push(Lexeme {
            negated,
            quoted,
            text,
        });
    }
    lexemes
}

impl SearchQuery {
    /// Longest accepted query, in Unicode scalar values (after trimming).
    pub const MAX_CHARS: usize = 512;

    /// Parses the `q` of a search. Errors name the field `q`.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        if input.contains('\0') {
            return Err(DomainError::invalid("q", "must not contain U+0000"));
        }
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(DomainError::invalid("q", "must not be empty"));
        }
        if trimmed.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid("q", "must be at most 512 characters"));
        }
        let lexemes = lex(trimmed);
        let mut groups: Vec<Vec<SearchTerm>> = Vec::new();
        let mut excluded = Vec::new();
        let mut last_was_positive = false;
        let mut or_pending = false;
        for (i, lexeme) in lexemes.iter().enumerate() {
            if lexeme.is_or()
                && last_was_positive
                && lexemes.get(i + 1).is_some_and(Lexeme::is_positive_item)
            {
                or_pending = true;
                continue;
            }
            let Some(term) = SearchTerm::new(&lexeme.text) else {
                continue;
            };
            if lexeme.negated {
                excluded.push(term);
                last_was_positive = false;
                or_pending = false;
            } else {
                match groups.last_mut() {
                    Some(group) if or_pending => group.push(term),
                    _ => groups.push(vec![term]),
                }
                last_was_positive = true;
                or_pending = false;
            }
        }
        if groups.is_empty() {
            return Err(DomainError::invalid(
                "q",
                "must contain a word to search for (punctuation and exclusions alone match nothing)",
            ));
        }
        let normalized = normalize(&groups, &excluded);
        Ok(Self {
            groups,
            excluded,
            normalized,
        })
    }

    /// The groups that must all match; each is a list of alternatives (one item unless
    /// `or` joined several). Never empty, and no group is empty.
    pub fn groups(&self) -> &[Vec<SearchTerm>] {
        &self.groups
    }

    /// Items no matching message may contain.
    pub fn excluded(&self) -> &[SearchTerm] {
        &self.excluded
    }

    /// A canonical spelling of the parsed query (lower case, every item quoted, groups in
    /// parentheses): two inputs that mean the same query share it. Parsing it again gives
    /// the same query. Cursors are bound to it.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

fn normalize(groups: &[Vec<SearchTerm>], excluded: &[SearchTerm]) -> String {
    let quoted = |term: &SearchTerm| format!("\"{}\"", term.as_str().to_lowercase());
    let mut out = String::new();
    for group in groups {
        if !out.is_empty() {
            out.push(' ');
        }
        if let [only] = group.as_slice() {
            out.push_str(&quoted(only));
        } else {
            let alternatives: Vec<String> = group.iter().map(quoted).collect();
            // Writing to a String cannot fail.
            let _ = write!(out, "({})", alternatives.join(" or "));
        }
    }
    for term in excluded {
        let _ = write!(out, " -{}", quoted(term));
    }
    out
}

/// Position in a search result list, which is ordered by `(rank desc, created_at desc,
/// id desc)`: best match first, then newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchKey {
    /// Rank of the last hit of the previous page.
    pub rank: i64,
    /// Its message's `created_at`.
    pub created_at: Timestamp,
    /// Its message's id.
    pub id: MessageId,
}

impl SearchKey {
    pub(crate) fn to_parts(self) -> Vec<String> {
        vec![
            self.rank.to_string(),
            self.created_at.as_micros().to_string(),
            self.id.to_string(),
        ]
    }

    pub(crate) fn from_parts(parts: &[String]) -> Result<Self, CursorError> {
        let [rank, micros, id] = parts else {
            return Err(CursorError::Malformed);
        };
        Ok(Self {
            rank: rank.parse().map_err(|_| CursorError::Malformed)?,
            created_at: parse_micros(micros)?,
            id: MessageId::parse(id).map_err(|_| CursorError::Malformed)?,
        })
    }
}

/// A search request as the storage port receives it.
///
/// Adapters rank the user's [`SearchRequest::CANDIDATES`] most recent matching messages
/// (by `created_at, id`), not every match: the cost of a search follows the page, not the
/// size of the user's history. Hits are those candidates in rank order, then newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// What to look for.
    pub query: SearchQuery,
    /// Start after this position; `None` for the first page.
    pub after: Option<SearchKey>,
    /// Return at most this many hits.
    pub limit: u64,
}

impl SearchRequest {
    /// How many of the user's most recent matches are ranked (see [`SearchRequest`]).
    pub const CANDIDATES: u64 = 1_000;
}

/// One message that matches a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The message, as stored.
    pub message: Message,
    /// The title of its thread.
    pub thread_title: ThreadTitle,
    /// The owner of its thread, as stored: the service checks it is the caller.
    pub owner: UserId,
    /// An excerpt of the content around the matches, each match wrapped in
    /// [`SearchHit::MATCH_START`] and [`SearchHit::MATCH_END`].
    pub snippet: String,
    /// Relevance, higher is better. Its scale is the adapter's; it only orders hits.
    pub rank: i64,
}

impl SearchHit {
    /// Opens a match in a snippet: U+27E6 MATHEMATICAL LEFT WHITE SQUARE BRACKET.
    ///
    /// Chosen because chat text almost never contains it (unlike `**`, which is Markdown,
    /// or `«»`, which are quotation marks in French, Russian and many other languages), and
    /// adapters replace it in the content by `[`, so every one in a snippet is a marker.
    pub const MATCH_START: &'static str = "\u{27E6}";
    /// Closes a match in a snippet: U+27E7 MATHEMATICAL RIGHT WHITE SQUARE BRACKET; replaced
    /// by `]` in the content itself.
    pub const MATCH_END: &'static str = "\u{27E7}";

    /// This hit's position in the result list.
    pub fn key(&self) -> SearchKey {
        SearchKey {
            rank: self.rank,
            created_at: self.message.created_at,
            id: self.message.id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(q: &str) -> SearchQuery {
        SearchQuery::parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}"))
    }

    /// The query as nested lists of item texts: groups, then exclusions.
    fn shape(q: &SearchQuery) -> (Vec<Vec<&str>>, Vec<&str>) {
        (
            q.groups()
                .iter()
                .map(|g| g.iter().map(SearchTerm::as_str).collect())
                .collect(),
            q.excluded().iter().map(SearchTerm::as_str).collect(),
        )
    }

    #[test]
    fn queries_that_break_the_rules_are_rejected_naming_q() {
        let cases = [
            ("", "empty"),
            ("   \t\n ", "blank"),
            ("a\u{0}b", "U+0000"),
            (&"x".repeat(513), "513 characters"),
            ("-secret", "only an exclusion"),
            ("-a -\"b c\"", "only exclusions"),
            ("*** ( : ' \\ \"\"", "only punctuation"),
            ("😀 🦀", "only symbols"),
            ("-", "a lone minus"),
        ];
        for (q, why) in cases {
            match SearchQuery::parse(q) {
                Err(DomainError::Invalid { field, .. }) => assert_eq!(field, "q", "{why}"),
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_length_limit_counts_characters_of_the_trimmed_query() {
        assert!(SearchQuery::parse(&"é".repeat(512)).is_ok());
        assert!(SearchQuery::parse(&format!("  {}  ", "a".repeat(512))).is_ok());
        assert!(SearchQuery::parse(&"é".repeat(513)).is_err());
    }

    #[test]
    fn words_are_anded_and_phrases_kept_whole() {
        let q = parse("  rust   \"borrow  checker\" async ");
        assert_eq!(
            shape(&q),
            (
                vec![vec!["rust"], vec!["borrow checker"], vec!["async"]],
                vec![]
            )
        );
        assert_eq!(q.normalized(), "\"rust\" \"borrow checker\" \"async\"");
    }

    #[test]
    fn or_joins_its_neighbours_into_alternatives() {
        let q = parse("cats OR dogs or birds food");
        assert_eq!(
            shape(&q),
            (vec![vec!["cats", "dogs", "birds"], vec!["food"]], vec![])
        );
        assert_eq!(
            q.normalized(),
            "(\"cats\" or \"dogs\" or \"birds\") \"food\""
        );
    }

    #[test]
    fn a_stray_or_is_an_ordinary_word() {
        assert_eq!(shape(&parse("or")), (vec![vec!["or"]], vec![]));
        assert_eq!(
            shape(&parse("or tea")),
            (vec![vec!["or"], vec!["tea"]], vec![])
        );
        assert_eq!(
            shape(&parse("tea or")),
            (vec![vec!["tea"], vec!["or"]], vec![])
        );
        assert_eq!(
            shape(&parse("tea or -milk")),
            (vec![vec!["tea"], vec!["or"]], vec!["milk"])
        );
        assert_eq!(
            shape(&parse("\"or\" tea")),
            (vec![vec!["or"], vec!["tea"]], vec![])
        );
        assert_eq!(
            shape(&parse("tea \"or\" milk")),
            (vec![vec!["tea"], vec!["or"], vec!["milk"]], vec![])
        );
    }

    #[test]
    fn a_leading_minus_excludes_a_word_or_a_phrase() {
        let q = parse("jaguar -car -\"land rover\" e-mail");
        assert_eq!(
            shape(&q),
            (
                vec![vec!["jaguar"], vec!["e-mail"]],
                vec!["car", "land rover"]
            )
        );
        assert_eq!(
            q.normalized(),
            "\"jaguar\" \"e-mail\" -\"car\" -\"land rover\""
        );
        // A minus followed by a space is punctuation.
        assert_eq!(shape(&parse("a - b")), (vec![vec!["a"], vec!["b"]], vec![]));
    }

    #[test]
    fn unterminated_quotes_and_glued_quotes_are_read_sensibly() {
        assert_eq!(
            shape(&parse("say \"hello there")),
            (vec![vec!["say"], vec!["hello there"]], vec![])
        );
        assert_eq!(
            shape(&parse("foo\"bar baz\"qux")),
            (vec![vec!["foo"], vec!["bar baz"], vec!["qux"]], vec![])
        );
    }

    #[test]
    fn syntax_characters_of_the_storage_engines_are_kept_as_plain_text() {
        let q = parse("NEAR(a b) title:x 'quote' back\\slash star* (paren");
        assert_eq!(
            shape(&q),
            (
                vec![
                    vec!["NEAR(a"],
                    vec!["b)"],
                    vec!["title:x"],
                    vec!["'quote'"],
                    vec!["back\\slash"],
                    vec!["star*"],
                    vec!["(paren"],
                ],
                vec![]
            )
        );
    }

    #[test]
    fn punctuation_only_items_are_dropped() {
        assert_eq!(
            shape(&parse("rust * ( ) : ' \\ -!!")),
            (vec![vec!["rust"]], vec![])
        );
        // An `or` whose neighbour is dropped has nothing to join.
        assert_eq!(
            shape(&parse("a or * b")),
            (vec![vec!["a"], vec!["or"], vec!["b"]], vec![])
        );
    }

    #[test]
    fn equivalent_spellings_share_the_normalized_form() {
        let a = parse("Rust  \"Borrow Checker\" -GC");
        let b = parse("rust \"borrow checker\"   -gc");
        assert_eq!(a.normalized(), b.normalized());
        assert_ne!(a.normalized(), parse("rust -gc").normalized());
    }

    #[test]
    fn a_search_position_round_trips_through_its_parts() {
        let key = SearchKey {
            rank: -42,
            created_at: Timestamp::from_micros(1_795_954_530_123_456).expect("in range"),
            id: MessageId::generate(),
        };
        assert_eq!(SearchKey::from_parts(&key.to_parts()), Ok(key));
        for bad in [
            vec![],
            vec!["1".to_owned(), "2".to_owned()],
            vec!["x".to_owned(), "2".to_owned(), key.id.to_string()],
            vec!["1".to_owned(), "2".to_owned(), "not-a-uuid".to_owned()],
        ] {
            assert_eq!(SearchKey::from_parts(&bad), Err(CursorError::Malformed));
        }
    }

    proptest! {
        #[test]
        fn any_input_parses_or_is_refused_without_panicking(s in "\\PC{0,600}") {
            let _ = SearchQuery::parse(&s);
        }

        #[test]
        fn plain_words_are_accepted_as_one_group_each(
            words in prop::collection::vec("[a-zA-Z0-9àéîõüßøçñ]{1,12}", 1..20)
        ) {
            prop_assume!(words.iter().all(|w| !w.eq_ignore_ascii_case("or")));
            let q = SearchQuery::parse(&words.join(" ")).expect("valid");
            let got: Vec<&str> = q.groups().iter().map(|g| g[0].as_str()).collect();
            prop_assert_eq!(got, words.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert!(q.excluded().is_empty());
        }

        #[test]
        fn the_normalized_form_parses_to_itself(s in "[a-zA-Z\" ()*:'-]{1,80}|\\PC{1,80}") {
            if let Ok(q) = SearchQuery::parse(&s) {
                let again = SearchQuery::parse(q.normalized()).expect("normalized form parses");
                prop_assert_eq!(again.normalized(), q.normalized());
            }
        }
    }
}
