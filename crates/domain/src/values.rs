use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use crate::DomainError;

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

/// True when a JSON value holds U+0000 in any string or object key, at any depth.
fn json_contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_contains_nul),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains('\0') || json_contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Length in bytes of `value` serialized as compact JSON. The serialization is counted,
/// not kept: this runs on every row read back, and a buffer per value would be garbage.
fn json_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing a serde_json::Value cannot fail (its keys are strings).
    serde_json::to_writer(&mut counter, value).map_or(usize::MAX, |()| counter.0)
}

/// Length in bytes of `s` serialized as a JSON string (quotes and escapes included), as
/// serde_json writes it, without building the serialization.
fn json_string_len(s: &str) -> usize {
    let escapes: usize = s
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            0x00..=0x1f => 5,
            _ => 0,
        })
        .sum();
    s.len() + 2 + escapes
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
        if json_string_len(&input) > limits.max_content_bytes {
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
/// serialized, no U+0000 anywhere. Stored and returned as given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sources(Vec<Value>);

impl Sources {
    /// Largest serialized size in bytes.
    pub const MAX_BYTES: usize = 256 * 1024;

    /// Accepts an array whose items are all objects.
    pub fn parse(value: Value) -> Result<Self, DomainError> {
        let Value::Array(items) = value else {
            return Err(DomainError::invalid(
                "sources",
                "must be an array of objects",
            ));
        };
        if let Some(i) = items.iter().position(|item| !item.is_object()) {
            return Err(DomainError::invalid(
                format!("sources[{i}]"),
                "must be an object",
            ));
        }
        let value = Value::Array(items);
        if json_contains_nul(&value) {
            return Err(DomainError::invalid("sources", "must not contain U+0000"));
        }
        if json_len(&value) > Self::MAX_BYTES {
            return Err(DomainError::invalid(
                "sources",
                "must be at most 262144 bytes when serialized as JSON",
            ));
        }
        let Value::Array(items) = value else {
            unreachable!("built as an array above")
        };
        Ok(Self(items))
    }

    /// The citations.
    pub fn items(&self) -> &[Value] {
        &self.0
    }

    /// The citations as one JSON array value.
    pub fn to_value(&self) -> Value {
        Value::Array(self.0.clone())
    }
}

/// Free-form client data: a JSON object, at most 16 KiB serialized, no U+0000 anywhere.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Largest serialized size in bytes.
    pub const MAX_BYTES: usize = 16 * 1024;

    /// Accepts an object within the size limit.
    pub fn parse(value: Value) -> Result<Self, DomainError> {
        if !value.is_object() {
            return Err(DomainError::invalid("metadata", "must be an object"));
        }
        if json_contains_nul(&value) {
            return Err(DomainError::invalid("metadata", "must not contain U+0000"));
        }
        if json_len(&value) > Self::MAX_BYTES {
            return Err(DomainError::invalid(
                "metadata",
                "must be at most 16384 bytes when serialized as JSON",
            ));
        }
        match value {
            Value::Object(map) => Ok(Self(map)),
            _ => unreachable!("checked to be an object above"),
        }
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
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
        fn json_string_length_matches_serde_json(s in "\\PC*|[\\x00-\\x20\"\\\\]{0,20}") {
            let expected = serde_json::to_string(&s).expect("serializable").len();
            prop_assert_eq!(json_string_len(&s), expected);
        }

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
