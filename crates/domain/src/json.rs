//! One streaming pass over a JSON text that learns what the value rules need (its kind, the
//! kinds of an array's items, U+0000 anywhere, the length of its compact serialization)
//! without building a tree. Stored `sources` and `metadata` are checked this way on every
//! row read back, where building a `serde_json::Value` per row was most of the cost.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The kind of a JSON value, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    Other,
}

/// What [`measure`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The kind of the whole value.
    pub kind: Kind,
    /// For an array: the index of its first item that is not an object.
    pub first_non_object: Option<usize>,
    /// Whether any string or object key holds U+0000.
    pub has_nul: bool,
    /// Length in bytes of the value serialized as compact JSON (as serde_json writes a
    /// `Value` parsed from the same text).
    pub compact_len: usize,
}

/// Measures a JSON text. `Err` when it is not one JSON value (or nests deeper than
/// serde_json's recursion limit).
pub(crate) fn measure(text: &str) -> Result<Shape, serde_json::Error> {
    let mut stats = Stats::default();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let (kind, first_non_object) = Top(&mut stats).deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(Shape {
        kind,
        first_non_object,
        has_nul: stats.has_nul,
        compact_len: stats.len,
    })
}

/// Length in bytes of `s` serialized as a JSON string (quotes and escapes included), as
/// serde_json writes it, without building the serialization.
pub(crate) fn string_len(s: &str) -> usize {
    // Most strings hold nothing to escape; this count vectorizes, the exact one below not.
    if s.bytes().filter(|&b| needs_escape(b)).count() == 0 {
        return s.len() + 2;
    }
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

/// Whether serde_json escapes this byte in a string.
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

#[derive(Debug, Default)]
struct Stats {
    len: usize,
    has_nul: bool,
}

impl Stats {
    fn string(&mut self, s: &str) {
        let len = string_len(s);
        // U+0000 is escaped: a string that needs no escape holds none.
        if len != s.len() + 2 {
            self.has_nul |= s.contains('\0');
        }
        self.len += len;
    }

    /// Counts a number as serde_json prints it (itoa for integers, ryu for floats).
    fn number<T: serde::Serialize>(&mut self, n: T) {
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
        // Writing a number to a counter cannot fail.
        let _ = serde_json::to_writer(&mut counter, &n);
        self.len += counter.0;
    }
}

/// The top-level value: also reports, for an array, its first item that is no object.
struct Top<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = (Kind, Option<usize>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor {
            stats: self.0,
            track_items: true,
        })
    }
}

/// Any nested value.
struct Any<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for Any<'_> {
    type Value = Kind;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer
            .deserialize_any(ValueVisitor {
                stats: self.0,
                track_items: false,
            })
            .map(|(kind, _)| kind)
    }
}

/// An object key: a string followed by `:`.
struct Key<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(KeyVisitor(self.0))
    }
}

struct KeyVisitor<'s>(&'s mut Stats);

impl Visitor<'_> for KeyVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        self.0.string(key);
        self.0.len += 1;
        Ok(())
    }
}

struct ValueVisitor<'s> {
    stats: &'s mut Stats,
    track_items: bool,
}

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = (Kind, Option<usize>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.stats.len += if v { 4 } else { 5 };
        Ok((Kind::Other, None))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.stats.number(v);
        Ok((Kind::Other, None))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.stats.number(v);
        Ok((Kind::Other, None))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.stats.number(v);
        Ok((Kind::Other, None))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.stats.string(v);
        Ok((Kind::Other, None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.stats.len += 4;
        Ok((Kind::Other, None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let stats = self.stats;
        stats.len += 2;
        let mut index = 0;
        let mut first_non_object = None;
        while let Some(kind) = seq.next_element_seed(Any(stats))? {
            if index > 0 {
                stats.len += 1;
            }
            if self.track_items && kind != Kind::Object && first_non_object.is_none() {
                first_non_object = Some(index);
            }
            index += 1;
        }
        Ok((Kind::Array, first_non_object))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let stats = self.stats;
        stats.len += 2;
        let mut first = true;
        while map.next_key_seed(Key(stats))?.is_some() {
            if !first {
                stats.len += 1;
            }
            first = false;
            map.next_value_seed(Any(stats))?;
        }
        Ok((Kind::Object, None))
    }
}

/// What [`measure_parts`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartsShape {
    /// Whether the value is an array at all.
    pub is_array: bool,
    /// The index of the first item that is not an object with a string `type`.
    pub first_bad_part: Option<usize>,
    /// Whether any string or object key holds U+0000.
    pub has_nul: bool,
    /// Length in bytes of the compact serialization (see [`Shape::compact_len`]).
    pub compact_len: usize,
    /// With `collect_text`: the `text` of the items whose `type` is `"text"`, in order,
    /// joined with `"\n\n"`.
    pub text: Option<String>,
}

/// Measures a message's `parts` (an array of objects, each with a string `type`) in one
/// streaming pass, and with `collect_text` gathers the text of its `text` parts.
pub(crate) fn measure_parts(
    text: &str,
    collect_text: bool,
) -> Result<PartsShape, serde_json::Error> {
    let mut stats = Stats::default();
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut joined = collect_text.then(String::new);
    let (is_array, first_bad_part) = PartsTop {
        stats: &mut stats,
        joined: joined.as_mut(),
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(PartsShape {
        is_array,
        first_bad_part,
        has_nul: stats.has_nul,
        compact_len: stats.len,
        text: joined,
    })
}

/// The top of a `parts` value: an array of parts (anything else is measured and
/// reported as not an array).
struct PartsTop<'s> {
    stats: &'s mut Stats,
    joined: Option<&'s mut String>,
}

impl<'de> DeserializeSeed<'de> for PartsTop<'_> {
    type Value = (bool, Option<usize>);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PartsTop<'_> {
    type Value = (bool, Option<usize>);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of parts")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((false, None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_key_seed(Key(self.stats))?.is_some() {
            map.next_value_seed(Any(self.stats))?;
        }
        Ok((false, None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let stats = self.stats;
        let mut joined = self.joined;
        stats.len += 2;
        let mut index = 0;
        let mut first_bad_part = None;
        let mut texts = 0usize;
        while let Some(part) = seq.next_element_seed(PartSeed(stats))? {
            if index > 0 {
                stats.len += 1;
            }
            match part {
                Part::Bad => {
                    first_bad_part.get_or_insert(index);
                }
                Part::Text(text) => {
                    if let Some(joined) = joined.as_deref_mut() {
                        if texts > 0 {
                            joined.push_str("\n\n");
                        }
                        joined.push_str(&text);
                    }
                    texts += 1;
                }
                Part::Other => {}
            }
            index += 1;
        }
        Ok((true, first_bad_part))
    }
}

/// One item of `parts`, as far as the rules care.
enum Part {
    /// Not an object with a string `type`.
    Bad,
    /// A `text` part with a string `text`.
    Text(String),
    /// Any other part.
    Other,
}

struct PartSeed<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for PartSeed<'_> {
    type Value = Part;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Part, D::Error> {
        deserializer.deserialize_any(PartVisitor(self.0))
    }
}

struct PartVisitor<'s>(&'s mut Stats);

impl<'de> Visitor<'de> for PartVisitor<'_> {
    type Value = Part;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a part")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Part, E> {
        self.0.len += if v { 4 } else { 5 };
        Ok(Part::Bad)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Part, E> {
        self.0.number(v);
        Ok(Part::Bad)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Part, E> {
        self.0.number(v);
        Ok(Part::Bad)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Part, E> {
        self.0.number(v);
        Ok(Part::Bad)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Part, E> {
        self.0.string(v);
        Ok(Part::Bad)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Part, E> {
        self.0.len += 4;
        Ok(Part::Bad)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Part, A::Error> {
        ValueVisitor {
            stats: self.0,
            track_items: false,
        }
        .visit_seq(seq)?;
        Ok(Part::Bad)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Part, A::Error> {
        let stats = self.0;
        stats.len += 2;
        let mut first = true;
        let mut kind: Option<String> = None;
        let mut text: Option<String> = None;
        while let Some(key) = map.next_key_seed(PartKey(stats))? {
            if !first {
                stats.len += 1;
            }
            first = false;
            match key {
                PartField::Type => kind = map.next_value_seed(Capture(stats))?,
                PartField::Text => text = map.next_value_seed(Capture(stats))?,
                PartField::Other => {
                    map.next_value_seed(Any(stats))?;
                }
            }
        }
        Ok(match (kind.as_deref(), text) {
            (None, _) => Part::Bad,
            (Some("text"), Some(text)) => Part::Text(text),
            (Some(_), _) => Part::Other,
        })
    }
}

/// The keys of a part that the rules read.
enum PartField {
    Type,
    Text,
    Other,
}

struct PartKey<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for PartKey<'_> {
    type Value = PartField;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PartField, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for PartKey<'_> {
    type Value = PartField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<PartField, E> {
        self.0.string(key);
        self.0.len += 1;
        Ok(match key {
            "type" => PartField::Type,
            "text" => PartField::Text,
            _ => PartField::Other,
        })
    }
}

/// A value whose text the rules need when it is a string; any other value is measured
/// and gives `None`.
struct Capture<'s>(&'s mut Stats);

impl<'de> DeserializeSeed<'de> for Capture<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Capture<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.0.string(v);
        Ok(Some(v.to_owned()))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.0.len += if v { 4 } else { 5 };
        Ok(None)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.0.number(v);
        Ok(None)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.0.number(v);
        Ok(None)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.0.number(v);
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.len += 4;
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ValueVisitor {
            stats: self.0,
            track_items: false,
        }
        .visit_seq(seq)?;
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ValueVisitor {
            stats: self.0,
            track_items: false,
        }
        .visit_map(map)?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn compact(value: &Value) -> String {
        serde_json::to_string(value).expect("serializable")
    }

    #[test]
    fn measures_kinds_items_and_nul() {
        let shape = measure(r#"[{"a": 1}, [], {"b": "x"}, 2]"#).expect("json");
        assert_eq!(shape.kind, Kind::Array);
        assert_eq!(shape.first_non_object, Some(1));
        assert!(!shape.has_nul);
        assert_eq!(measure("{}").expect("json").kind, Kind::Object);
        assert_eq!(measure("\"s\"").expect("json").kind, Kind::Other);
        assert!(measure(r#"{"k\u0000": 1}"#).expect("json").has_nul);
        assert!(measure(r#"[{"k": ["\u0000"]}]"#).expect("json").has_nul);
        assert_eq!(measure("[{}, {}]").expect("json").first_non_object, None);
    }

    #[test]
    fn refuses_what_is_not_one_json_value() {
        for bad in ["", "[", "{} {}", "{'a': 1}", "nul", "[1,]"] {
            assert!(measure(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_compact_length_ignores_the_whitespace_postgresql_prints() {
        let spaced = r#"[{"url": "https://e.x", "title": "T\n\"q\"", "n": [1, -2, 0.5, 1e300, true, null]}]"#;
        let value: Value = serde_json::from_str(spaced).expect("json");
        assert_eq!(
            measure(spaced).expect("json").compact_len,
            compact(&value).len()
        );
    }

    #[test]
    fn parts_need_objects_with_a_string_type_and_give_the_text_of_text_parts() {
        let shape = measure_parts(
            r#"[{"type": "step-start"}, {"text": "a", "type": "text"}, {"type": "reasoning", "text": "no"}, {"type": "text", "text": "b\n"}]"#,
            true,
        )
        .expect("json");
        assert!(shape.is_array);
        assert_eq!(shape.first_bad_part, None);
        assert_eq!(shape.text.as_deref(), Some("a\n\nb\n"));
        for (bad, index) in [
            (r#"[{"type": "text"}, 1]"#, 1),
            (r#"[{"type": 1}]"#, 0),
            (r#"[{"text": "x"}]"#, 0),
            (r#"[[{"type": "text"}]]"#, 0),
            (r#"[{"type": "a"}, {"type": null}]"#, 1),
        ] {
            assert_eq!(
                measure_parts(bad, false).expect("json").first_bad_part,
                Some(index),
                "{bad}"
            );
        }
        assert!(
            !measure_parts(r#"{"type": "text"}"#, false)
                .expect("json")
                .is_array
        );
        assert!(!measure_parts("\"x\"", false).expect("json").is_array);
        assert!(
            measure_parts(r#"[{"type": "t\u0000"}]"#, false)
                .expect("json")
                .has_nul
        );
        assert!(
            measure_parts(r#"[{"type": "t", "k": ["\u0000"]}]"#, false)
                .expect("json")
                .has_nul
        );
        assert_eq!(
            measure_parts("[]", true).expect("json").text.as_deref(),
            Some("")
        );
        assert!(measure_parts("[{\"type\": \"text\"}] x", false).is_err());
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            "\\PC{0,12}|[\\x00-\\x20\"\\\\]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_compact_length_matches_serde_json(value in arbitrary_json()) {
            let text = compact(&value);
            let pretty = serde_json::to_string_pretty(&value).expect("serializable");
            prop_assert_eq!(measure(&text).expect("json").compact_len, text.len());
            prop_assert_eq!(measure(&pretty).expect("json").compact_len, text.len());
        }

        #[test]
        fn the_compact_length_of_parts_matches_serde_json(value in arbitrary_json()) {
            let parts = Value::Array(vec![json!({"type": "data-x", "data": value.clone()}), value]);
            let text = compact(&parts);
            let pretty = serde_json::to_string_pretty(&parts).expect("serializable");
            prop_assert_eq!(measure_parts(&text, false).expect("json").compact_len, text.len());
            prop_assert_eq!(measure_parts(&pretty, true).expect("json").compact_len, text.len());
        }

        #[test]
        fn string_length_matches_serde_json(s in "\\PC*|[\\x00-\\x20\"\\\\]{0,20}") {
            prop_assert_eq!(string_len(&s), compact(&Value::String(s.clone())).len());
        }
    }
}
