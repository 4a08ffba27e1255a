use std::fmt;
use std::str::FromStr;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json;
use crate::{DomainError, Timestamp};

/// Limits that operators may configure. Everything else in API.md is fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message `content`, in bytes of its JSON serialization. Default 1 MiB.
    pub max_content_bytes: usize,
}

impl Limits {
    /// The default content limit: 1 MiB.
    pub const DEFAULT_MAX_CONTENT_BYTES: usize = 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_content_bytes: Self::DEFAULT_MAX_CONTENT_BYTES,
        }
    }
}

fn reject_nul(field: &str, s: &str) -> Result<(), DomainError> {
    if s.contains('\0') {
        Err(DomainError::invalid(field, "must not contain U+0000"))
    } else {
        Ok(())
    }
}

/// A client's JSON value as its compact serialization, which is what is stored and what
/// responses carry; it is then checked like stored text.
fn to_raw(field: &str, value: &Value) -> Result<Box<RawValue>, DomainError> {
    serde_json::value::to_raw_value(value).map_err(|e| DomainError::invalid(field, e.to_string()))
}

/// One streaming pass over JSON text (see [`json::measure`]).
fn measure(field: &str, raw: &RawValue) -> Result<json::Shape, DomainError> {
    json::measure(raw.get()).map_err(|e| DomainError::invalid(field, e.to_string()))
}

/// The rules every JSON field has: no U+0000 anywhere, at most `max_bytes` serialized.
fn check_limits(field: &str, shape: &json::Shape, max_bytes: usize) -> Result<(), DomainError> {
    if shape.has_nul {
        return Err(DomainError::invalid(field, "must not contain U+0000"));
    }
    if shape.compact_len > max_bytes {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_bytes} bytes when serialized as JSON"),
        ));
    }
    Ok(())
}

/// A constant JSON text (`[]`, `{}`).
fn constant(text: &'static str) -> Box<RawValue> {
    match RawValue::from_string(text.to_owned()) {
        Ok(raw) => raw,
        Err(_) => unreachable!("{text} is valid JSON"),
    }
}

/// Whether two JSON texts say the same: equal bytes, or equal once parsed (whitespace and
/// key order differ between what a client sent and what PostgreSQL prints).
fn same_json(a: &RawValue, b: &RawValue) -> bool {
    a.get() == b.get()
        || matches!(
            (serde_json::from_str::<Value>(a.get()), serde_json::from_str::<Value>(b.get())),
            (Ok(x), Ok(y)) if x == y
        )
}

/// A thread's title: at most 512 Unicode scalar values, no U+0000. May be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThreadTitle(String);

impl ThreadTitle {
    /// Longest title, in Unicode scalar values.
    pub const MAX_CHARS: usize = 512;

    /// Checks length and U+0000.
    pub fn parse(input: impl Into<String>) -> Result<Self, DomainError> {
        let input = input.into();
        reject_nul("title", &input)?;
        if input.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid(
                "title",
                "must be at most 512 characters",
            ));
        }
        Ok(Self(input))
    }

    /// The title text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the value, returning the text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A message's text. At most [`Limits::max_content_bytes`] bytes of JSON serialization,
/// no U+0000. May be empty (a tool call can have no text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// Checks U+0000 and the size limit.
    pub fn parse(input: impl Into<String>, limits: &Limits) -> Result<Self, DomainError> {
        let input = input.into();
        reject_nul("content", &input)?;
        // The serialization takes at most 6 bytes per byte plus the quotes: count only
        // when that bound is over the limit (never for rows read back, whose limit is
        // unbounded).
        if input.len().saturating_mul(6).saturating_add(2) > limits.max_content_bytes
            && json::string_len(&input) > limits.max_content_bytes
        {
            return Err(DomainError::invalid(
                "content",
                format!(
                    "must be at most {} bytes when serialized as JSON",
                    limits.max_content_bytes
                ),
            ));
        }
        Ok(Self(input))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the value, returning the text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions to the model.
    System,
    /// The person chatting.
    User,
    /// The model's answer.
    Assistant,
    /// Output of a tool call.
    Tool,
}

impl Role {
    /// The wire and storage spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::Tool => "tool",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        input.parse()
    }
}

impl FromStr for Role {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Self::System),
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            "tool" => Ok(Self::Tool),
            _ => Err(DomainError::invalid(
                "role",
                "must be one of system, user, assistant, tool",
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retrieval citations of a message: a JSON array of JSON objects, at most 256 KiB
/// serialized, no U+0000 anywhere. Stored and returned as given. Kept as JSON text, so
/// that a row read back goes into a response without being parsed into a tree and
/// encoded again.
#[derive(Debug, Clone)]
pub struct Sources(Box<RawValue>);

impl Sources {
    /// Largest serialized size in bytes.
    pub const MAX_BYTES: usize = 256 * 1024;

    /// Accepts an array whose items are all objects.
    pub fn parse(value: Value) -> Result<Self, DomainError> {
        let raw = to_raw("sources", &value)?;
        Self::check(&raw)?;
        Ok(Self(raw))
    }

    /// Accepts stored JSON text under the same rules as [`Sources::parse`], checked in one
    /// pass that builds no tree.
    pub fn from_json(raw: &RawValue) -> Result<Self, DomainError> {
        Self::check(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The rules, on JSON text.
    fn check(raw: &RawValue) -> Result<(), DomainError> {
        let shape = measure("sources", raw)?;
        if shape.kind != json::Kind::Array {
            return Err(DomainError::invalid(
                "sources",
                "must be an array of objects",
            ));
        }
        if let Some(i) = shape.first_non_object {
            return Err(DomainError::invalid(
                format!("sources[{i}]"),
                "must be an object",
            ));
        }
        check_limits("sources", &shape, Self::MAX_BYTES)
    }

    /// The citations as JSON text: compact as a client's request was serialized, or as
    /// the database prints them when read back.
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// Consumes the value, returning its JSON text.
    pub fn into_raw(self) -> Box<RawValue> {
        self.0
    }

    /// The citations as one JSON array value (parsed on each call).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_else(|_| Value::Array(Vec::new()))
    }

    /// The citations, parsed (on each call).
    pub fn items(&self) -> Vec<Value> {
        match self.to_value() {
            Value::Array(items) => items,
            _ => Vec::new(),
        }
    }
}

impl Default for Sources {
    /// `[]`.
    fn default() -> Self {
        Self(constant("[]"))
    }
}

impl PartialEq for Sources {
    /// Same meaning: whitespace and key order do not count.
    fn eq(&self, other: &Self) -> bool {
        same_json(&self.0, &other.0)
    }
}

/// A message's parts, as the Vercel AI SDK's `UIMessage` has them: a JSON array of JSON
/// objects, each with a string `type` (`text`, `reasoning`, `tool-*`, `source-url`, `file`,
/// `data-*`, ... and types that do not exist yet), at most [`Limits::max_content_bytes`]
/// serialized, no U+0000 anywhere. Stored and returned verbatim, kept as JSON text like
/// [`Sources`] and checked in one streaming pass that builds no tree.
///
/// A message whose client sent only `content` has the parts derived from it
/// ([`MessageParts::from_content`]); such parts say nothing the content does not, and an
/// adapter may store them as "derived" rather than as JSON ([`MessageParts::is_derived`]).
#[derive(Debug, Clone)]
pub struct MessageParts {
    raw: Box<RawValue>,
    derived: bool,
}

impl MessageParts {
    /// Accepts an array of objects that each have a string `type`, within the content
    /// limit.
    pub fn parse(value: Value, limits: &Limits) -> Result<Self, DomainError> {
        let raw = to_raw("parts", &value)?;
        Self::check(&raw, limits.max_content_bytes)?;
        Ok(Self {
            raw,
            derived: false,
        })
    }

    /// Accepts stored JSON text under the rules of [`MessageParts::parse`] (without a size
    /// limit: the limit may have been lowered since it was stored).
    pub fn from_json(raw: &RawValue) -> Result<Self, DomainError> {
        Self::check(raw, usize::MAX)?;
        Ok(Self {
            raw: raw.to_owned(),
            derived: false,
        })
    }

    /// The parts of a message that has only `content`: one `text` part holding it, or none
    /// for `""`.
    pub fn from_content(content: &MessageContent) -> Self {
        let raw = if content.as_str().is_empty() {
            constant("[]")
        } else {
            let part = serde_json::json!([{"type": "text", "text": content.as_str()}]);
            match serde_json::value::to_raw_value(&part) {
                Ok(raw) => raw,
                Err(_) => unreachable!("a string serializes"),
            }
        };
        Self { raw, derived: true }
    }

    /// The rules, on JSON text.
    fn check(raw: &RawValue, max_bytes: usize) -> Result<(), DomainError> {
        let shape = json::measure_parts(raw.get(), false)
            .map_err(|e| DomainError::invalid("parts", e.to_string()))?;
        Self::check_shape(&shape, max_bytes)
    }

    fn check_shape(shape: &json::PartsShape, max_bytes: usize) -> Result<(), DomainError> {
        if !shape.is_array {
            return Err(DomainError::invalid(
                "parts",
                "must be an array of objects, each with a string `type`",
            ));
        }
        if let Some(i) = shape.first_bad_part {
            return Err(DomainError::invalid(
                "parts",
                format!("item {i} must be an object with a string `type`"),
            ));
        }
        if shape.has_nul {
            return Err(DomainError::invalid("parts", "must not contain U+0000"));
        }
        if shape.compact_len > max_bytes {
            return Err(DomainError::invalid(
                "parts",
                format!("must be at most {max_bytes} bytes when serialized as JSON"),
            ));
        }
        Ok(())
    }

    /// The `text` of the `text` parts, in order, joined with `"\n\n"`: the `content` of a
    /// message whose client sent only `parts`.
    pub fn text(&self, limits: &Limits) -> Result<MessageContent, DomainError> {
        let shape = json::measure_parts(self.raw.get(), true)
            .map_err(|e| DomainError::invalid("parts", e.to_string()))?;
        MessageContent::parse(shape.text.unwrap_or_default(), limits)
            .map_err(|e| DomainError::invalid("parts", reason_of(e)))
    }

    /// Whether these parts were derived from the content ([`MessageParts::from_content`]).
    pub fn is_derived(&self) -> bool {
        self.derived
    }

    /// The parts as JSON text (see [`Sources::as_raw`]).
    pub fn as_raw(&self) -> &RawValue {
        &self.raw
    }

    /// Consumes the value, returning its JSON text.
    pub fn into_raw(self) -> Box<RawValue> {
        self.raw
    }

    /// The parts, parsed (on each call).
    pub fn items(&self) -> Vec<Value> {
        match serde_json::from_str(self.raw.get()) {
            Ok(Value::Array(items)) => items,
            _ => Vec::new(),
        }
    }
}

/// The reason of an [`DomainError::Invalid`], or the error's text.
fn reason_of(err: DomainError) -> String {
    match err {
        DomainError::Invalid { reason, .. } => reason,
        other => other.to_string(),
    }
}

impl PartialEq for MessageParts {
    /// Same meaning: whitespace and key order do not count, nor whether the parts were
    /// derived.
    fn eq(&self, other: &Self) -> bool {
        same_json(&self.raw, &other.raw)
    }
}

/// Where a message's reply stands: `complete` (the default), `streaming` (saved while it
/// grows), `aborted` (stopped by the user) or `error` (the model failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MessageStatus {
    /// Finished.
    #[default]
    Complete,
    /// Still being written; saved again as it grows.
    Streaming,
    /// Stopped before it finished; what was written is kept.
    Aborted,
    /// The model or a tool failed.
    Error,
}

impl MessageStatus {
    /// The wire and storage spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Streaming => "streaming",
            Self::Aborted => "aborted",
            Self::Error => "error",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        match input {
            "complete" => Ok(Self::Complete),
            "streaming" => Ok(Self::Streaming),
            "aborted" => Ok(Self::Aborted),
            "error" => Ok(Self::Error),
            _ => Err(DomainError::invalid(
                "status",
                "must be one of complete, streaming, aborted, error",
            )),
        }
    }
}

/// The id of the reply stream in flight in a thread (for the AI SDK's resumable streams):
/// 1 to 128 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamId(String);

impl StreamId {
    /// Longest id, in characters.
    pub const MAX_CHARS: usize = 128;

    /// Checks length and alphabet.
    pub fn parse(input: impl Into<String>) -> Result<Self, DomainError> {
        let input = input.into();
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if input.is_empty() || input.len() > Self::MAX_CHARS || !input.bytes().all(allowed) {
            return Err(DomainError::invalid(
                "active_stream_id",
                "must be 1 to 128 characters of A-Z, a-z, 0-9, `.`, `_` and `-`",
            ));
        }
        Ok(Self(input))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Consumes the value, returning the text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A user's rating of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rating {
    /// Thumbs up.
    Up,
    /// Thumbs down.
    Down,
}

impl Rating {
    /// The wire and storage spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        match input {
            "up" => Ok(Self::Up),
            "down" => Ok(Self::Down),
            _ => Err(DomainError::invalid("rating", "must be up or down")),
        }
    }
}

/// A user's feedback on a message, as a client gives it: a rating, an optional comment
/// (at most 2000 characters) and up to 16 tags of 1 to 64 characters each; no U+0000.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackInput {
    rating: Rating,
    comment: Option<String>,
    tags: Vec<String>,
}

impl FeedbackInput {
    /// Longest comment, in Unicode scalar values.
    pub const MAX_COMMENT_CHARS: usize = 2000;
    /// Most tags.
    pub const MAX_TAGS: usize = 16;
    /// Longest tag, in Unicode scalar values.
    pub const MAX_TAG_CHARS: usize = 64;

    /// Checks the comment and the tags.
    pub fn parse(
        rating: Rating,
        comment: Option<String>,
        tags: Vec<String>,
    ) -> Result<Self, DomainError> {
        if let Some(comment) = &comment {
            reject_nul("comment", comment)?;
            if comment.chars().count() > Self::MAX_COMMENT_CHARS {
                return Err(DomainError::invalid(
                    "comment",
                    "must be at most 2000 characters",
                ));
            }
        }
        if tags.len() > Self::MAX_TAGS {
            return Err(DomainError::invalid("tags", "must hold at most 16 tags"));
        }
        for (i, tag) in tags.iter().enumerate() {
            reject_nul(&format!("tags[{i}]"), tag)?;
            let chars = tag.chars().count();
            if chars == 0 || chars > Self::MAX_TAG_CHARS {
                return Err(DomainError::invalid(
                    format!("tags[{i}]"),
                    "must be 1 to 64 characters",
                ));
            }
        }
        Ok(Self {
            rating,
            comment,
            tags,
        })
    }

    /// The feedback as stored at `at`.
    pub fn at(self, at: Timestamp) -> Feedback {
        Feedback {
            rating: self.rating,
            comment: self.comment,
            tags: self.tags,
            updated_at: at,
        }
    }
}

/// A user's feedback on a message, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Up or down.
    pub rating: Rating,
    /// What the user wrote, if anything.
    pub comment: Option<String>,
    /// Labels the user picked (`[]` when none).
    pub tags: Vec<String>,
    /// When it was last given.
    pub updated_at: Timestamp,
}

/// Free-form client data: a JSON object, at most 16 KiB serialized, no U+0000 anywhere.
/// Kept as JSON text, like [`Sources`].
#[derive(Debug, Clone)]
pub struct Metadata(Box<RawValue>);

impl Metadata {
    /// Largest serialized size in bytes.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Accepts an object within the size limit.
    pub fn parse(value: Value) -> Result<Self, DomainError> {
        let raw = to_raw("metadata", &value)?;
        Self::check(&raw)?;
        Ok(Self(raw))
    }

    /// Accepts stored JSON text under the same rules as [`Metadata::parse`], checked in
    /// one pass that builds no tree.
    pub fn from_json(raw: &RawValue) -> Result<Self, DomainError> {
        Self::check(raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The rules, on JSON text.
    fn check(raw: &RawValue) -> Result<(), DomainError> {
        let shape = measure("metadata", raw)?;
        if shape.kind != json::Kind::Object {
            return Err(DomainError::invalid("metadata", "must be an object"));
        }
        check_limits("metadata", &shape, Self::MAX_BYTES)
    }

    /// The object as JSON text (see [`Sources::as_raw`]).
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// Consumes the value, returning its JSON text.
    pub fn into_raw(self) -> Box<RawValue> {
        self.0
    }

    /// The object, parsed (on each call).
    pub fn as_map(&self) -> Map<String, Value> {
        match self.to_value() {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// The object as a JSON value (parsed on each call).
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

impl Default for Metadata {
    /// `{}`.
    fn default() -> Self {
        Self(constant("{}"))
    }
}

impl PartialEq for Metadata {
    /// Same meaning: whitespace and key order do not count.
    fn eq(&self, other: &Self) -> bool {
        same_json(&self.0, &other.0)
    }
}

/// A resource's version, the basis of its `ETag`.
///
/// Versions only grow: every write sets the version to `max(previous + 1, now in
/// microseconds)`, so a deleted and re-created resource never repeats an old version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(i64);

impl Version {
    /// Wraps a stored version.
    pub fn new(value: i64) -> Self {
        Self(value)
    }

    /// The number.
    pub fn get(&self) -> i64 {
        self.0
    }

    /// The strong entity tag, quoted: `"1764000000123456"`.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// Parses one entity tag as produced by [`Version::etag`]; weak tags never match.
    pub fn from_etag(tag: &str) -> Option<Self> {
        let inner = tag.trim().strip_prefix('"')?.strip_suffix('"')?;
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        inner.parse().ok().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn titles_that_break_the_rules_are_rejected() {
        let cases = [
            ("a\u{0}b".to_owned(), "U+0000"),
            ("é".repeat(513), "513 characters"),
        ];
        for (title, why) in cases {
            assert!(ThreadTitle::parse(title).is_err(), "{why}");
        }
    }

    #[test]
    fn title_length_counts_characters_not_bytes() {
        assert!(ThreadTitle::parse("é".repeat(512)).is_ok());
        assert!(ThreadTitle::parse("🦀".repeat(512)).is_ok());
        assert!(ThreadTitle::parse("").is_ok());
    }

    #[test]
    fn content_limit_is_measured_on_the_json_serialization() {
        let limits = Limits {
            max_content_bytes: 10,
        };
        assert!(MessageContent::parse("12345678", &limits).is_ok());
        assert!(MessageContent::parse("123456789", &limits).is_err());
        // Each quote is escaped as two bytes.
        assert!(MessageContent::parse("\"\"\"\"", &limits).is_ok());
        assert!(MessageContent::parse("\"\"\"\"\"", &limits).is_err());
        assert!(MessageContent::parse("a\u{0}", &limits).is_err());
    }

    #[test]
    fn roles_parse_only_the_four_names() {
        for name in ["system", "user", "assistant", "tool"] {
            assert_eq!(Role::parse(name).expect("valid").as_str(), name);
        }
        for bad in ["", "User", "bot", " user"] {
            assert!(Role::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sources_must_be_an_array_of_objects() {
        let bad = [
            json!({}),
            json!("x"),
            json!(null),
            json!([1]),
            json!([{}, []]),
            json!([{"t": "a\u{0}"}]),
            json!([{"big": "x".repeat(Sources::MAX_BYTES)}]),
        ];
        for value in bad {
            assert!(Sources::parse(value.clone()).is_err(), "{value}");
        }
        let ok = json!([{"title": "T", "url": "https://e.x", "snippet": "s"}, {}]);
        assert_eq!(Sources::parse(ok.clone()).expect("valid").to_value(), ok);
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        let bad = [
            json!([]),
            json!(1),
            json!(null),
            json!({"k\u{0}": 1}),
            json!({"nested": {"deep": ["\u{0}"]}}),
            json!({"big": "x".repeat(Metadata::MAX_BYTES)}),
        ];
        for value in bad {
            assert!(Metadata::parse(value.clone()).is_err(), "{value}");
        }
        assert!(Metadata::parse(json!({"a": [1, {"b": null}]})).is_ok());
    }

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn stored_json_is_held_to_the_same_rules_as_a_request() {
        let big = format!(r#"[{{"big": "{}"}}]"#, "x".repeat(Sources::MAX_BYTES));
        for bad in [
            "{}",
            "\"x\"",
            "null",
            "[1]",
            r#"[{}, []]"#,
            r#"[{"t": "a\u0000"}]"#,
            &big,
        ] {
            assert!(Sources::from_json(&raw(bad)).is_err(), "{bad}");
        }
        let big = format!(r#"{{"big": "{}"}}"#, "x".repeat(Metadata::MAX_BYTES));
        for bad in [
            "[]",
            "1",
            "null",
            r#"{"k\u0000": 1}"#,
            r#"{"n": {"d": ["\u0000"]}}"#,
            &big,
        ] {
            assert!(Metadata::from_json(&raw(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn stored_json_as_postgresql_prints_it_equals_the_request_it_came_from() {
        let request = json!([{"url": "https://e.x", "title": "T", "n": [1, 2.5]}]);
        let printed = r#"[{"n": [1, 2.5], "url": "https://e.x", "title": "T"}]"#;
        let stored = Sources::from_json(&raw(printed)).expect("valid");
        assert_eq!(stored, Sources::parse(request.clone()).expect("valid"));
        assert_eq!(stored.to_value(), request);
        assert_eq!(stored.as_raw().get(), printed);
        assert_ne!(stored, Sources::default());
        let metadata = Metadata::from_json(&raw(r#"{"b": 1, "a": {}}"#)).expect("valid");
        assert_eq!(
            metadata,
            Metadata::parse(json!({"a": {}, "b": 1})).expect("valid")
        );
        assert_ne!(metadata, Metadata::default());
    }

    #[test]
    fn a_requests_json_is_kept_as_its_compact_serialization() {
        let sources = Sources::parse(json!([{"b": 1, "a": " x "}])).expect("valid");
        assert_eq!(sources.as_raw().get(), r#"[{"a":" x ","b":1}]"#);
        assert_eq!(Sources::default().as_raw().get(), "[]");
        assert_eq!(Metadata::default().as_raw().get(), "{}");
        assert!(Sources::default().items().is_empty());
        assert!(Metadata::default().as_map().is_empty());
    }

    #[test]
    fn the_size_limits_count_the_compact_serialization_exactly() {
        // `[{"k":"…"}]` is 10 bytes around the string's contents.
        let fits = "x".repeat(Sources::MAX_BYTES - 10);
        let over = "x".repeat(Sources::MAX_BYTES - 9);
        assert!(Sources::parse(json!([{"k": fits.clone()}])).is_ok());
        assert!(Sources::parse(json!([{"k": over.clone()}])).is_err());
        // PostgreSQL's spaces do not count.
        assert!(Sources::from_json(&raw(&format!(r#"[ {{ "k" : "{fits}" }} ]"#))).is_ok());
        assert!(Sources::from_json(&raw(&format!(r#"[{{"k":"{over}"}}]"#))).is_err());
    }

    #[test]
    fn parts_are_objects_with_a_string_type_within_the_content_limit() {
        let limits = Limits {
            max_content_bytes: 64,
        };
        for bad in [
            json!({}),
            json!("text"),
            json!([1]),
            json!([{"text": "no type"}]),
            json!([{"type": 3}]),
            json!([{"type": "text", "text": "a\u{0}"}]),
            json!([{"type": "text", "text": "x".repeat(64)}]),
        ] {
            let err = MessageParts::parse(bad.clone(), &limits).expect_err("invalid");
            assert!(
                matches!(&err, DomainError::Invalid { field, .. } if field == "parts"),
                "{bad}: {err:?}"
            );
        }
        let future = json!([{"type": "data-weather", "data": {"c": 21}}, {"type": "x-new"}]);
        let parts = MessageParts::parse(future.clone(), &limits).expect("any type");
        assert_eq!(parts.items(), future.as_array().cloned().expect("array"));
        assert!(!parts.is_derived());
        assert_eq!(parts.text(&limits).expect("text").as_str(), "");
    }

    #[test]
    fn content_and_parts_default_from_each_other() {
        let limits = Limits::default();
        let content = |s: &str| MessageContent::parse(s, &limits).expect("valid");
        let parts = |v: Value| MessageParts::parse(v, &limits).expect("valid");

        let (c, p) = crate::text_and_parts(Some(content("hi")), None, &limits)
            .expect("ok")
            .expect("some");
        assert_eq!(c.as_str(), "hi");
        assert_eq!(p.items(), [json!({"type": "text", "text": "hi"})]);
        assert!(p.is_derived());
        let (_, p) = crate::text_and_parts(Some(content("")), None, &limits)
            .expect("ok")
            .expect("some");
        assert!(p.items().is_empty());

        let given = json!([
            {"type": "reasoning", "text": "think"},
            {"type": "text", "text": "a"},
            {"type": "tool-x", "state": "output-available"},
            {"type": "text", "text": "b"}
        ]);
        let (c, p) = crate::text_and_parts(None, Some(parts(given.clone())), &limits)
            .expect("ok")
            .expect("some");
        assert_eq!(c.as_str(), "a\n\nb");
        assert_eq!(p, parts(given.clone()));

        let (c, p) = crate::text_and_parts(Some(content("own")), Some(parts(given)), &limits)
            .expect("ok")
            .expect("some");
        assert_eq!(c.as_str(), "own");
        assert!(!p.is_derived());
        assert!(
            crate::text_and_parts(None, None, &limits)
                .expect("ok")
                .is_none()
        );
    }

    #[test]
    fn stored_parts_are_held_to_the_rules_but_not_to_a_lowered_limit() {
        assert!(MessageParts::from_json(&raw(r#"[{"type": "text", "text": "long"}]"#)).is_ok());
        for bad in ["{}", "[1]", r#"[{"t": 1}]"#, r#"[{"type": "\u0000"}]"#] {
            assert!(MessageParts::from_json(&raw(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_stream_ids_and_ratings_parse_only_their_spellings() {
        for name in ["complete", "streaming", "aborted", "error"] {
            assert_eq!(MessageStatus::parse(name).expect("valid").as_str(), name);
        }
        assert!(MessageStatus::parse("done").is_err());
        assert_eq!(MessageStatus::default(), MessageStatus::Complete);
        for ok in ["a", "run_1.2-x", &"z".repeat(128)] {
            assert_eq!(StreamId::parse(ok).expect("valid").as_str(), ok);
        }
        for bad in ["", "a b", "ä", "a/b", &"z".repeat(129)] {
            assert!(StreamId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Rating::parse("up").expect("valid"), Rating::Up);
        assert!(Rating::parse("Up").is_err());
    }

    #[test]
    fn feedback_limits_comment_and_tags() {
        let ok = FeedbackInput::parse(Rating::Up, Some("é".repeat(2000)), vec!["t".repeat(64); 16]);
        assert!(ok.is_ok());
        let cases = [
            (Some("é".repeat(2001)), vec![], "comment"),
            (Some("a\u{0}".into()), vec![], "comment"),
            (None, vec!["t".into(); 17], "tags"),
            (None, vec![String::new()], "tags[0]"),
            (None, vec!["a".into(), "t".repeat(65)], "tags[1]"),
        ];
        for (comment, tags, field) in cases {
            let err = FeedbackInput::parse(Rating::Down, comment, tags).expect_err("invalid");
            assert!(
                matches!(&err, DomainError::Invalid { field: f, .. } if f == field),
                "{err:?}"
            );
        }
    }

    #[test]
    fn etags_round_trip_and_weak_or_odd_tags_do_not_parse() {
        let v = Version::new(1_764_000_000_123_456);
        assert_eq!(Version::from_etag(&v.etag()), Some(v));
        for bad in ["W/\"1\"", "1", "\"\"", "\"-1\"", "\"1a\"", "*"] {
            assert_eq!(Version::from_etag(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn titles_within_the_limit_are_accepted(s in "[^\u{0}]{0,512}") {
            let title = ThreadTitle::parse(s.clone()).expect("valid");
            prop_assert_eq!(title.as_str(), s.as_str());
        }

        #[test]
        fn content_without_nul_under_the_limit_is_accepted(s in "[^\u{0}]{0,2000}") {
            let parsed = MessageContent::parse(s.clone(), &Limits::default()).expect("valid");
            prop_assert_eq!(parsed.as_str(), s.as_str());
        }

        #[test]
        fn titles_over_the_limit_are_rejected(s in "[^\u{0}]{513,600}") {
            prop_assert!(ThreadTitle::parse(s).is_err());
        }

        #[test]
        fn a_nul_anywhere_is_rejected(before in "\\PC{0,50}", after in "\\PC{0,50}") {
            let s = format!("{before}\u{0}{after}");
            prop_assert!(ThreadTitle::parse(s.clone()).is_err());
            prop_assert!(MessageContent::parse(s.clone(), &Limits::default()).is_err());
            let nested = json!({"k": [{"deep": s.clone()}]});
            let as_key = json!({ s.clone(): 1 });
            let source = json!([{"title": s}]);
            prop_assert!(Metadata::parse(nested).is_err());
            prop_assert!(Metadata::parse(as_key).is_err());
            prop_assert!(Sources::parse(source).is_err());
        }

        #[test]
        fn content_over_the_limit_is_rejected(s in "[a-z]{11,40}") {
            let limits = Limits { max_content_bytes: 12 };
            prop_assert!(MessageContent::parse(s, &limits).is_err());
        }

        #[test]
        fn small_string_maps_are_valid_metadata(
            m in proptest::collection::btree_map("[a-z]{1,8}", "[^\u{0}]{0,16}", 0..8)
        ) {
            let value = serde_json::to_value(&m).expect("serializable");
            prop_assert_eq!(Metadata::parse(value.clone()).expect("valid").to_value(), value);
        }
    }
}
