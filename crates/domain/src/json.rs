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
        fn string_length_matches_serde_json(s in "\\PC*|[\\x00-\\x20\"\\\\]{0,20}") {
            prop_assert_eq!(string_len(&s), compact(&Value::String(s.clone())).len());
        }
    }
}
