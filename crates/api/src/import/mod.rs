//! Streaming readers for the chat-history files a user can import
//! (`POST /api/v1/me/import`, `chat-history import`): this service's own NDJSON export
//! (`chat-history`), ChatGPT's `conversations.json` (`chatgpt`) and Claude's
//! `conversations.json` (`claude`).
//!
//! Each conversation of a file becomes one neutral [`SourceConversation`] holding its
//! [`SourceMessage`]s, parents before children, with the source's own ids; the importer
//! that stores them derives the service's ids from those and decides what to keep. This
//! module does no I/O besides reading the given reader, and knows nothing of the database,
//! actix or the domain crate.
//!
//! Memory: a file can be hundreds of MiB, so it is never held whole. A JSON array is read
//! element by element (a serde `SeqAccess` visitor), an NDJSON file line by line; at most
//! one conversation is in memory at a time.
//!
//! Errors come in two kinds. A [`FileError`] means the file itself is unusable (not JSON,
//! not an array, truncated, unreadable); the conversations before the point of failure
//! have already been handed over. A [`ConversationError`] means one conversation is
//! unusable (valid JSON, but not a conversation this reader understands); the others are
//! still read. Neither kind ever panics, whatever the input.
//!
//! What each format becomes is documented on its module: [`chatgpt`], [`claude`] and
//! [`native`]. Common to all: ids are the source's own (never rewritten), and a timestamp
//! outside the years 1 to 9999 (which the service cannot store) is treated as absent
//! (chat-history: as invalid).

pub mod chatgpt;
pub mod claude;
pub mod command;
pub mod native;
pub mod run;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::str::FromStr;

use chrono::{DateTime, Datelike as _, NaiveDateTime, Utc};
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The format of an import file, as named by the `format` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// This service's `GET /api/v1/me/export`: NDJSON, one `{"thread", "messages"}` per line.
    #[default]
    ChatHistory,
    /// ChatGPT's `conversations.json`: one JSON array of conversations with a `mapping` tree.
    ChatGpt,
    /// Claude's `conversations.json`: one JSON array of conversations with `chat_messages`.
    Claude,
}

impl Format {
    /// The name of the format in the API: `chat-history`, `chatgpt` or `claude`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChatHistory => "chat-history",
            Self::ChatGpt => "chatgpt",
            Self::Claude => "claude",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `format` that is none of `chat-history`, `chatgpt` and `claude`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown import format; expected chat-history, chatgpt or claude")]
pub struct UnknownFormat;

impl FromStr for Format {
    type Err = UnknownFormat;

    /// Parses the API name exactly (`chat-history`, `chatgpt`, `claude`; case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "chat-history" => Ok(Self::ChatHistory),
            "chatgpt" => Ok(Self::ChatGpt),
            "claude" => Ok(Self::Claude),
            _ => Err(UnknownFormat),
        }
    }
}

pub use domain::{SourceConversation, SourceMessage};

/// Why one conversation of a file could not be read; the others still are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("conversation {index}: {detail}")]
pub struct ConversationError {
    /// The conversation's 0-based position in the file (for chat-history: among the
    /// non-blank lines).
    pub index: usize,
    /// A short sentence for a person. It names ids of the file at most, never its text.
    pub detail: String,
}

/// Why a file as a whole could not be read. The conversations before the point of failure
/// have already been passed to the callback.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// Reading failed.
    #[error("the file could not be read")]
    Io(#[from] std::io::Error),
    /// The file is not valid JSON at this position (for a JSON array format). Also when
    /// something other than whitespace follows the array, or when an element is nested
    /// more than 128 levels deep.
    #[error("the file is not valid JSON (line {line}, column {column})")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
    },
    /// The file ends in the middle of the JSON (an interrupted download), or is empty.
    #[error("the file ends unexpectedly (line {line}, column {column}); is it truncated?")]
    Truncated {
        /// 1-based line where it ends.
        line: usize,
        /// Column where it ends.
        column: usize,
    },
    /// The file is JSON, but its top level is not an array of conversations.
    #[error("the file is not a JSON array of conversations")]
    NotAnArray,
}

/// Reads `reader` (a whole file of `format`) and calls `each` once per conversation in file
/// order with its 0-based index and either the parsed conversation or why it is unusable.
/// `each` returning [`ControlFlow::Break`] stops early (the rest is not read, and `Ok` is
/// returned). Memory: one conversation at a time; `reader` needs no buffering of its own.
///
/// # Errors
/// A [`FileError`] when the file itself is unusable: unreadable (`Io`), not JSON
/// (`Syntax`), cut short (`Truncated`), or a JSON file whose top level is not an array
/// (`NotAnArray`). A chat-history line that is not JSON is a [`ConversationError`] instead,
/// since a line is a conversation.
pub fn read_conversations<R: Read>(
    format: Format,
    reader: R,
    each: impl FnMut(usize, Result<SourceConversation, ConversationError>) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    skip_byte_order_mark(&mut reader)?;
    match format {
        Format::ChatHistory => native::read(reader, each),
        Format::ChatGpt => read_json_array(reader, chatgpt::convert, each),
        Format::Claude => read_json_array(reader, claude::convert, each),
    }
}

/// Skips a UTF-8 byte order mark, which editors on Windows add when a file is re-saved.
fn skip_byte_order_mark<R: Read>(reader: &mut BufReader<R>) -> Result<(), std::io::Error> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if reader.fill_buf()?.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    Ok(())
}

/// How a JSON array format turns one element into a conversation (or a short reason).
type Convert = fn(Value) -> Result<SourceConversation, String>;

/// Reads one top-level JSON array element by element, converting each with `convert`.
fn read_json_array<R: Read>(
    reader: R,
    convert: Convert,
    mut each: impl FnMut(usize, Result<SourceConversation, ConversationError>) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut stopped = false;
    let visitor = ElementVisitor {
        convert,
        each: &mut each,
        stopped: &mut stopped,
    };
    let result = (&mut de).deserialize_seq(visitor);
    if stopped {
        // Stopping leaves the array unfinished, which serde_json reports; that is expected.
        return Ok(());
    }
    result.and_then(|()| de.end()).map_err(file_error)
}

/// Classifies a serde_json error about the file as a whole. Its message is not kept: for a
/// wrong top-level type it would quote the file.
fn file_error(e: serde_json::Error) -> FileError {
    use serde_json::error::Category;
    let (line, column) = (e.line(), e.column());
    match e.classify() {
        // serde_json hands back the reader's own error.
        Category::Io => FileError::Io(e.into()),
        Category::Syntax => FileError::Syntax { line, column },
        Category::Eof => FileError::Truncated { line, column },
        Category::Data => FileError::NotAnArray,
    }
}

/// The `SeqAccess` visitor: deserializes one element at a time as a [`Value`], converts it
/// and hands it to the callback before reading the next.
struct ElementVisitor<'a, F> {
    convert: Convert,
    each: &'a mut F,
    stopped: &'a mut bool,
}

impl<'de, F> Visitor<'de> for ElementVisitor<'_, F>
where
    F: FnMut(usize, Result<SourceConversation, ConversationError>) -> ControlFlow<()>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array of conversations")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(element) = seq.next_element::<Value>()? {
            let result =
                (self.convert)(element).map_err(|detail| ConversationError { index, detail });
            if (self.each)(index, result).is_break() {
                *self.stopped = true;
                return Ok(());
            }
            index += 1;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Helpers shared by the formats.

/// Orders a forest parents first. `parents[i]` is the index of node `i`'s parent; among the
/// nodes whose parent is already placed, the one with the smallest `rank` comes next (so
/// with `rank` = file position the order is stable). `None` when the parents form a cycle.
fn parents_first(parents: &[Option<usize>], rank: &[usize]) -> Option<Vec<usize>> {
    let mut children = vec![Vec::new(); parents.len()];
    let mut ready = BinaryHeap::new();
    for (node, parent) in parents.iter().enumerate() {
        match parent {
            Some(parent) => children.get_mut(*parent)?.push(node),
            None => ready.push(Reverse((rank.get(node).copied()?, node))),
        }
    }
    let mut order = Vec::with_capacity(parents.len());
    while let Some(Reverse((_, node))) = ready.pop() {
        order.push(node);
        for &child in children.get(node)? {
            ready.push(Reverse((rank.get(child).copied()?, child)));
        }
    }
    // A node on a cycle never becomes ready.
    (order.len() == parents.len()).then_some(order)
}

/// The rank of each position when the positions are sorted with `cmp`.
fn ranks(len: usize, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<usize> {
    let mut sorted: Vec<usize> = (0..len).collect();
    sorted.sort_by(|a, b| cmp(*a, *b));
    let mut rank = vec![0; len];
    for (position, node) in sorted.into_iter().enumerate() {
        if let Some(slot) = rank.get_mut(node) {
            *slot = position;
        }
    }
    rank
}

/// `time` when its year is in 1..=9999, the range the service stores (and orders) exactly.
fn supported(time: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (1..=9999).contains(&time.year()).then_some(time)
}

/// A time given as seconds since the Unix epoch (ChatGPT's floats), to the microsecond.
/// `None` for `null`, a non-number, or a time outside the years 1 to 9999.
fn epoch_seconds(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = value?.as_f64()?;
    // `as` saturates out-of-range floats, which `from_timestamp_micros` then rejects.
    #[allow(clippy::cast_possible_truncation)]
    let micros = (seconds * 1_000_000.0).round() as i64;
    DateTime::from_timestamp_micros(micros).and_then(supported)
}

/// An RFC 3339 / ISO 8601 time; one without an offset is taken as UTC. `None` when `text`
/// is not one, or is outside the years 1 to 9999.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let time = match DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    supported(time)
}

/// An id as it may appear in an error detail: at most 64 characters, quoted.
fn quoted(id: &str) -> String {
    const MAX: usize = 64;
    if id.chars().count() <= MAX {
        format!("\"{id}\"")
    } else {
        let short: String = id.chars().take(MAX).collect();
        format!("\"{short}…\"")
    }
}

/// The name of a JSON value's type, for error details that must not quote the value.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field, or `None` when it is absent or not a string.
fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

/// A `{"type": "text", "text": ...}` part.
fn text_part(text: impl Into<String>) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), "text".into());
    part.insert("text".into(), Value::String(text.into()));
    Value::Object(part)
}

/// A `{"type": "reasoning", "text": ...}` part.
fn reasoning_part(text: impl Into<String>) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), "reasoning".into());
    part.insert("text".into(), Value::String(text.into()));
    Value::Object(part)
}

/// A `{"type": "data-<name>", "data": ...}` part, keeping a source item as it is.
fn data_part(name: &str, data: Value) -> Value {
    let mut part = Map::new();
    part.insert("type".into(), Value::String(format!("data-{name}")));
    part.insert("data".into(), data);
    Value::Object(part)
}

/// The `{"import": {"format", "source_id"}}` metadata of a conversation from another
/// product, with `extra` fields added inside `import`.
fn import_metadata(
    format: Format,
    source_id: &str,
    extra: Map<String, Value>,
) -> Map<String, Value> {
    let mut import = Map::new();
    import.insert("format".into(), format.as_str().into());
    import.insert("source_id".into(), source_id.into());
    import.extend(extra);
    let mut metadata = Map::new();
    metadata.insert("import".into(), Value::Object(import));
    metadata
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn formats_parse_from_their_api_names_only() {
        for format in [Format::ChatHistory, Format::ChatGpt, Format::Claude] {
            assert_eq!(format.as_str().parse::<Format>(), Ok(format));
        }
        for bad in ["", "ChatGPT", "json", "chat_history", "claude "] {
            assert_eq!(bad.parse::<Format>(), Err(UnknownFormat));
        }
        assert_eq!(Format::default(), Format::ChatHistory);
    }

    #[test]
    fn parents_first_is_stable_and_rejects_cycles() {
        // 0 <- 2 <- 1, 3 is a root: file order is kept except where a child precedes its parent.
        let parents = [None, Some(2), Some(0), None];
        assert_eq!(
            parents_first(&parents, &[0, 1, 2, 3]),
            Some(vec![0, 2, 1, 3])
        );
        assert_eq!(parents_first(&[Some(1), Some(0)], &[0, 1]), None);
        assert_eq!(parents_first(&[Some(0)], &[0]), None);
        assert_eq!(parents_first(&[], &[]), Some(vec![]));
    }

    #[test]
    fn epoch_seconds_keep_microseconds_and_reject_the_unrepresentable() {
        let time = epoch_seconds(Some(&serde_json::json!(1_756_000_000.123_456)));
        assert_eq!(
            time.map(|t| t.to_rfc3339()),
            Some("2025-08-24T01:46:40.123456+00:00".into())
        );
        assert_eq!(epoch_seconds(Some(&serde_json::json!(1e300))), None);
        assert_eq!(
            epoch_seconds(Some(&serde_json::json!(-1e11))),
            None,
            "before year 1"
        );
        assert_eq!(epoch_seconds(Some(&Value::Null)), None);
        assert_eq!(epoch_seconds(Some(&serde_json::json!("1756000000"))), None);
        assert_eq!(epoch_seconds(None), None);
    }

    #[test]
    fn times_parse_with_or_without_an_offset() {
        let utc = parse_time("2024-06-20T16:12:09.624011Z");
        assert_eq!(utc, parse_time("2024-06-20T18:12:09.624011+02:00"));
        assert_eq!(utc, parse_time("2024-06-20T16:12:09.624011"));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("0000-01-01T00:00:00Z"), None);
    }

    #[test]
    fn long_ids_are_shortened_in_details() {
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted(&"x".repeat(100)).chars().count(), 64 + 3);
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let file = b"\xEF\xBB\xBF[]".as_slice();
        let mut seen = 0;
        let result = read_conversations(Format::Claude, file, |_, _| {
            seen += 1;
            ControlFlow::Continue(())
        });
        assert!(result.is_ok());
        assert_eq!(seen, 0);
    }

    /// A reader that hands out its bytes and then fails.
    struct FailingAfter(&'static [u8]);

    impl Read for FailingAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "peer gone",
                ));
            }
            self.0.read(buf)
        }
    }

    #[test]
    fn a_failing_read_of_a_json_array_is_an_io_error_with_its_kind() {
        let result = read_conversations(Format::ChatGpt, FailingAfter(b"[{\"id\": "), |_, _| {
            ControlFlow::Continue(())
        });
        match result {
            Err(FileError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
    }

    /// A small deterministic generator (xorshift), so that the fuzz test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            usize::try_from(self.0 % n.max(1) as u64).unwrap_or(0)
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const WORDS: [&str; 30] = [
        "a",
        "b",
        "root",
        "user",
        "assistant",
        "system",
        "tool",
        "human",
        "critic",
        "text",
        "multimodal_text",
        "code",
        "thoughts",
        "reasoning_recap",
        "execution_output",
        "image_asset_pointer",
        "audio_transcription",
        "tool_use",
        "tool_result",
        "thinking",
        "complete",
        "error",
        "in_progress",
        "2024-01-01T00:00:00Z",
        "file-service://a",
        "00000000-0000-4000-8000-000000000000",
        "",
        "`",
        "python",
        "unknown",
    ];

    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        match rng.below(if depth == 0 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => Value::Bool(rng.below(2) == 0),
            2 => [
                json!(0),
                json!(-1),
                json!(1.5),
                json!(1e300),
                json!(1_700_000_000.25),
            ][rng.below(5)]
            .clone(),
            3 | 4 => Value::String(rng.pick(&WORDS).to_owned()),
            5 => Value::Array(
                (0..rng.below(4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(5))
                    .map(|_| (rng.pick(&WORDS).to_owned(), random_value(rng, depth - 1)))
                    .collect(),
            ),
        }
    }

    /// Replaces, or removes, one value somewhere inside `value`.
    fn mutate(rng: &mut Rng, value: &mut Value) {
        let mut path: Vec<String> = Vec::new();
        let mut at = &*value;
        while rng.below(4) != 0 {
            let next = match at {
                Value::Object(map) => map
                    .iter()
                    .nth(rng.below(map.len()))
                    .map(|(k, v)| (k.clone(), v)),
                Value::Array(items) => {
                    let i = rng.below(items.len());
                    items.get(i).map(|v| (i.to_string(), v))
                }
                _ => None,
            };
            let Some((step, inner)) = next else { break };
            path.push(step.replace('~', "~0").replace('/', "~1"));
            at = inner;
        }
        let pointer = |steps: &[String]| steps.iter().map(|s| format!("/{s}")).collect::<String>();
        if rng.below(6) == 0
            && let Some((last, parent)) = path.split_last()
            && let Some(Value::Object(map)) = value.pointer_mut(&pointer(parent))
        {
            map.remove(&last.replace("~1", "/").replace("~0", "~"));
            return;
        }
        if let Some(target) = value.pointer_mut(&pointer(&path)) {
            *target = random_value(rng, 3);
        }
    }

    fn fixture_elements(text: &str) -> Vec<Value> {
        match serde_json::from_str(text) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }

    #[test]
    fn mutated_and_random_conversations_never_panic() {
        let chatgpt_items =
            fixture_elements(include_str!("../../tests/fixtures/import/chatgpt.json"));
        let claude_items =
            fixture_elements(include_str!("../../tests/fixtures/import/claude.json"));
        let native_items: Vec<Value> =
            include_str!("../../tests/fixtures/import/chat-history.ndjson")
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect();
        assert!(!chatgpt_items.is_empty() && !claude_items.is_empty() && !native_items.is_empty());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut usable = [0_usize; 3];
        for round in 0..3_000 {
            for (format, items) in [(0, &chatgpt_items), (1, &claude_items), (2, &native_items)] {
                let mut value = if round % 10 == 0 {
                    random_value(&mut rng, 5)
                } else {
                    items[rng.below(items.len())].clone()
                };
                for _ in 0..=rng.below(3) {
                    mutate(&mut rng, &mut value);
                }
                let result = match format {
                    0 => chatgpt::convert(value),
                    1 => claude::convert(value),
                    _ => native::convert_line(value.to_string().as_bytes()),
                };
                if let Ok(conversation) = result {
                    assert_invariants(&conversation);
                    usable[format] += 1;
                }
            }
        }
        // Many mutations still leave a usable conversation, so the deep paths are exercised.
        assert!(usable.iter().all(|&n| n > 150), "{usable:?}");
    }

    /// What every usable conversation promises, whatever the input.
    fn assert_invariants(conversation: &SourceConversation) {
        assert!(!conversation.source_id.is_empty());
        let mut seen = std::collections::HashSet::new();
        for message in &conversation.messages {
            if let Some(parent) = &message.parent {
                assert!(seen.contains(parent.as_str()), "parent before child");
            }
            assert!(seen.insert(message.source_id.as_str()), "unique ids");
            assert!(["system", "user", "assistant", "tool"].contains(&message.role.as_str()));
            assert!(message.content.is_some() || message.parts.is_some());
            for part in message.parts.iter().flatten() {
                assert!(part.get("type").is_some_and(Value::is_string), "{part}");
            }
            assert!(message.sources.iter().all(Value::is_object));
            if let Some(status) = &message.status {
                assert!(["complete", "streaming", "aborted", "error"].contains(&status.as_str()));
            }
        }
        if let Some(leaf) = &conversation.active_leaf {
            assert!(seen.contains(leaf.as_str()), "the active leaf is a message");
        }
    }
}

/// What the format modules' tests share.
#[cfg(test)]
pub(crate) mod testing {
    use std::ops::ControlFlow;

    use super::{ConversationError, FileError, Format, SourceConversation, read_conversations};

    /// One conversation as a reader hands it over.
    pub(crate) type Outcome = Result<SourceConversation, ConversationError>;

    /// Every conversation of `file` read as `format`, in order (checking that the indexes
    /// are consecutive), and how the file ended.
    pub(crate) fn read_all(format: Format, file: &[u8]) -> (Vec<Outcome>, Result<(), FileError>) {
        let mut seen = Vec::new();
        let result = read_conversations(format, file, |index, outcome| {
            assert_eq!(index, seen.len(), "indices are consecutive");
            seen.push(outcome);
            ControlFlow::Continue(())
        });
        (seen, result)
    }
}
