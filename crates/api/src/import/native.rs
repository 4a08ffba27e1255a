//! This service's own export (`GET /api/v1/me/export`, format `chat-history`): NDJSON, one
//! line per thread, `{"thread": Thread, "messages": [Message, ...]}` with the Thread and
//! Message of the API (ids, RFC 3339 timestamps, `parent_id`, `parts`, `status`,
//! `sources`, `metadata`, `feedback`; the thread's `active_leaf_id`, `archived`,
//! `pinned`, `metadata`, `expires_at`).
//!
//! The file is read line by line; a blank line is skipped and not counted, every other
//! line is one conversation, and a line that is not JSON is a [`ConversationError`] for
//! that index (only a failing read is a [`FileError`]).
//!
//! Since the file is this service's own, a line is read strictly and is unusable when a
//! field has the wrong type or value: a missing thread `id` or message `id`, a timestamp
//! that is not RFC 3339, a `role` or `status` the API does not know, `parts` that are not
//! objects with a string `type`, `sources` that are not objects, a message with neither
//! `content` nor `parts`, duplicate message ids, a `thread_id` other than the thread's, a
//! `parent_id` or `active_leaf_id` that is not a message of the line, or a parent cycle.
//! Fields that are derived or live (`message_count`, `last_message_at`,
//! `active_stream_id`, `sibling_ids`) are ignored; `null` counts as absent everywhere.
//!
//! Everything else is passed on as exported: `metadata` (thread and messages) as it is,
//! `content` and `parts` as given (either may be absent in an older export, not both),
//! `sources`, `status`, and `feedback` as the exported object. Messages keep file order
//! (`created_at, id`), except that a parent is moved before its children when needed
//! (a stable topological order).
//!
//! [`ConversationError`]: super::ConversationError

use std::collections::HashMap;
use std::io::BufRead;
use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    ConversationError, FileError, SourceConversation, SourceMessage, kind, parents_first, quoted,
    supported,
};

/// The roles of the API.
const ROLES: [&str; 4] = ["system", "user", "assistant", "tool"];

/// The statuses of the API.
const STATUSES: [&str; 4] = ["complete", "streaming", "aborted", "error"];

/// Reads the lines of `reader`, calling `each` per non-blank line.
pub(super) fn read<R: BufRead>(
    mut reader: R,
    mut each: impl FnMut(usize, Result<SourceConversation, ConversationError>) -> ControlFlow<()>,
) -> Result<(), FileError> {
    let mut line = Vec::new();
    let mut index = 0;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let result = convert_line(&line).map_err(|detail| ConversationError { index, detail });
        if each(index, result).is_break() {
            return Ok(());
        }
        index += 1;
    }
}

/// Converts one line.
pub(super) fn convert_line(line: &[u8]) -> Result<SourceConversation, String> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| format!("the line is not valid JSON (column {})", e.column()))?;
    let Value::Object(mut line) = value else {
        return Err(format!("the line is {}, not an object", kind(&value)));
    };
    let Some(Value::Object(mut thread)) = line.remove("thread") else {
        return Err("the line has no thread object".into());
    };
    let Some(Value::Array(messages)) = line.remove("messages") else {
        return Err("the line has no messages array".into());
    };
    let source_id = match thread.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err("the thread has no id".into()),
    };
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(position, message)| read_message(position, message, &source_id))
        .collect::<Result<Vec<_>, _>>()?;
    let what = "the thread";
    let active_leaf = string(&thread, "active_leaf_id", what)?;
    let messages = parents_first_messages(messages, active_leaf.as_deref())?;
    Ok(SourceConversation {
        title: string(&thread, "title", what)?.unwrap_or_default(),
        created_at: time(&thread, "created_at", what)?,
        updated_at: time(&thread, "updated_at", what)?,
        archived: flag(&thread, "archived", what)?,
        pinned: flag(&thread, "pinned", what)?,
        expires_at: time(&thread, "expires_at", what)?,
        metadata: object(&mut thread, "metadata", what)?,
        source_id,
        active_leaf,
        messages,
    })
}

/// Reads the message at `position` of a thread.
fn read_message(position: usize, value: Value, thread_id: &str) -> Result<SourceMessage, String> {
    let Value::Object(mut message) = value else {
        return Err(format!(
            "message {position} is {}, not an object",
            kind(&value)
        ));
    };
    let id = match message.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        _ => return Err(format!("message {position} has no id")),
    };
    let what = &format!("message {}", quoted(&id));
    if string(&message, "thread_id", what)?.is_some_and(|t| t != thread_id) {
        return Err(format!("{what} belongs to another thread"));
    }
    let role =
        one_of(&message, "role", &ROLES, what)?.ok_or_else(|| format!("{what} has no role"))?;
    let content = string(&message, "content", what)?;
    let parts = parts(&mut message, what)?;
    if content.is_none() && parts.is_none() {
        return Err(format!("{what} has neither content nor parts"));
    }
    Ok(SourceMessage {
        parent: string(&message, "parent_id", what)?,
        role: role.to_owned(),
        content,
        parts,
        sources: sources(&mut message, what)?,
        metadata: object(&mut message, "metadata", what)?,
        status: one_of(&message, "status", &STATUSES, what)?.map(str::to_owned),
        feedback: feedback(&mut message, what)?,
        created_at: time(&message, "created_at", what)?,
        updated_at: time(&message, "updated_at", what)?,
        source_id: id,
    })
}

/// Checks the tree of a thread's messages and orders it parents first, stably.
fn parents_first_messages(
    messages: Vec<SourceMessage>,
    active_leaf: Option<&str>,
) -> Result<Vec<SourceMessage>, String> {
    let mut position = HashMap::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        if position.insert(message.source_id.as_str(), i).is_some() {
            return Err(format!(
                "two messages have the id {}",
                quoted(&message.source_id)
            ));
        }
    }
    let parents = messages
        .iter()
        .map(|message| match &message.parent {
            None => Ok(None),
            Some(parent) => position
                .get(parent.as_str())
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "message {} has a parent_id that is not in the thread",
                        quoted(&message.source_id)
                    )
                }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if active_leaf.is_some_and(|leaf| !position.contains_key(leaf)) {
        return Err("the thread's active_leaf_id is not one of its messages".into());
    }
    drop(position);
    let file_order: Vec<usize> = (0..messages.len()).collect();
    let order = parents_first(&parents, &file_order).ok_or("its messages have a parent cycle")?;
    let mut slots: Vec<Option<SourceMessage>> = messages.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// A field that may be absent: `None` for absent or `null`.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

/// The error for a field of the wrong type.
fn wrong(what: &str, key: &str, value: &Value) -> String {
    format!("{what} has a {key} that is {}", kind(value))
}

/// An optional string field.
fn string(object: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, String> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(wrong(what, key, other)),
    }
}

/// An optional string field that must be one of `allowed`.
fn one_of<'a>(
    object: &Map<String, Value>,
    key: &str,
    allowed: &[&'a str],
    what: &str,
) -> Result<Option<&'a str>, String> {
    let Some(value) = string(object, key, what)? else {
        return Ok(None);
    };
    match allowed.iter().find(|candidate| **candidate == value) {
        Some(known) => Ok(Some(known)),
        None => Err(format!("{what} has an unknown {key} {}", quoted(&value))),
    }
}

/// An optional RFC 3339 timestamp.
fn time(
    object: &Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = string(object, key, what)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .ok()
        .and_then(|time| supported(time.with_timezone(&Utc)))
        .map(Some)
        .ok_or_else(|| {
            format!("{what} has a {key} that is not an RFC 3339 time of the years 1 to 9999")
        })
}

/// An optional boolean, `false` when absent.
fn flag(object: &Map<String, Value>, key: &str, what: &str) -> Result<bool, String> {
    match present(object, key) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(other) => Err(wrong(what, key, other)),
    }
}

/// An optional object, taken out; `{}` when absent.
fn object(
    object: &mut Map<String, Value>,
    key: &str,
    what: &str,
) -> Result<Map<String, Value>, String> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(inner)) => Ok(inner),
        Some(other) => Err(wrong(what, key, &other)),
    }
}

/// `parts`: absent, or an array of objects with a string `type`.
fn parts(message: &mut Map<String, Value>, what: &str) -> Result<Option<Vec<Value>>, String> {
    match message.remove("parts") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(parts))
            if parts
                .iter()
                .all(|p| p.get("type").is_some_and(Value::is_string)) =>
        {
            Ok(Some(parts))
        }
        Some(_) => Err(format!(
            "{what} has parts that are not all objects with a string type"
        )),
    }
}

/// `sources`: absent, or an array of objects.
fn sources(message: &mut Map<String, Value>, what: &str) -> Result<Vec<Value>, String> {
    match message.remove("sources") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(sources)) if sources.iter().all(Value::is_object) => Ok(sources),
        Some(_) => Err(format!("{what} has sources that are not all objects")),
    }
}

/// `feedback`: absent, or an object.
fn feedback(message: &mut Map<String, Value>, what: &str) -> Result<Option<Value>, String> {
    match message.remove("feedback") {
        None | Some(Value::Null) => Ok(None),
        Some(feedback @ Value::Object(_)) => Ok(Some(feedback)),
        Some(other) => Err(wrong(what, "feedback", &other)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::ops::ControlFlow;

    use serde_json::json;

    use super::super::{FileError, Format, SourceConversation, read_conversations};

    const FIXTURE: &str = include_str!("../../tests/fixtures/import/chat-history.ndjson");

    use super::super::testing::Outcome;

    fn read_all(file: &[u8]) -> (Vec<Outcome>, Result<(), FileError>) {
        super::super::testing::read_all(Format::ChatHistory, file)
    }

    fn conversations() -> Vec<SourceConversation> {
        let (seen, result) = read_all(FIXTURE.as_bytes());
        assert!(result.is_ok(), "{result:?}");
        seen.into_iter()
            .map(|c| c.expect("every fixture line is usable"))
            .collect()
    }

    fn line(thread: &serde_json::Value, messages: &serde_json::Value) -> String {
        json!({"thread": thread, "messages": messages}).to_string()
    }

    fn message(id: &str, parent: Option<&str>) -> serde_json::Value {
        json!({"id": id, "thread_id": "t", "parent_id": parent, "role": "user", "content": "x",
               "parts": [{"type": "text", "text": "x"}], "status": "complete", "sources": [], "metadata": {},
               "feedback": null, "created_at": "2026-01-01T00:00:00.000000Z",
               "updated_at": "2026-01-01T00:00:00.000000Z"})
    }

    fn one_line(thread: &serde_json::Value, messages: &serde_json::Value) -> Outcome {
        let (mut seen, result) = read_all(line(thread, messages).as_bytes());
        assert!(result.is_ok());
        assert_eq!(seen.len(), 1);
        seen.remove(0)
    }

    #[test]
    fn the_fixture_reads_as_exported() {
        let all = conversations();
        let counts: Vec<usize> = all.iter().map(|c| c.messages.len()).collect();
        assert_eq!(counts, [5, 0, 2]);
        let trip = &all[0];
        assert_eq!(trip.source_id, "01970a3e-5c1a-7d2e-9f40-1a2b3c4d5e01");
        assert_eq!(trip.title, "Weekend in Lisbon");
        assert_eq!(
            trip.metadata,
            json!({"project": "travel"})
                .as_object()
                .cloned()
                .expect("object")
        );
        assert_eq!(
            trip.active_leaf.as_deref(),
            Some("01970a3e-6000-7000-8000-000000000005")
        );
        let shape: Vec<(&str, Option<&str>, &str)> = trip
            .messages
            .iter()
            .map(|m| {
                (
                    &m.source_id[30..],
                    m.parent.as_deref().map(|p| &p[30..]),
                    m.role.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("000001", None, "user"),
                ("000002", Some("000001"), "assistant"),
                ("000003", Some("000001"), "assistant"),
                ("000004", Some("000002"), "user"),
                ("000005", Some("000004"), "assistant"),
            ]
        );
        let reply = &trip.messages[1];
        assert_eq!(reply.sources.len(), 1);
        assert_eq!(
            reply.feedback.as_ref().map(|f| &f["rating"]),
            Some(&json!("up"))
        );
        assert_eq!(reply.metadata["model"], "gpt-4.1");
        assert_eq!(
            reply.content.as_deref(),
            Some("Day 1: Alfama and the castle. Day 2: Belém.")
        );
        assert_eq!(reply.parts.as_ref().map(Vec::len), Some(2));
        assert_eq!(trip.messages[2].status.as_deref(), Some("aborted"));
        let expected =
            chrono::DateTime::parse_from_rfc3339("2026-05-02T09:00:04.250000Z").expect("time");
        assert_eq!(reply.created_at, Some(expected.to_utc()));
    }

    #[test]
    fn flags_expiry_and_empty_threads_are_kept() {
        let all = conversations();
        let temporary = &all[1];
        assert!(temporary.pinned && !temporary.archived);
        assert!(temporary.expires_at.is_some());
        assert_eq!(temporary.active_leaf, None);
        let archived = &all[2];
        assert!(archived.archived && !archived.pinned);
        assert_eq!(archived.expires_at, None);
    }

    #[test]
    fn a_child_listed_before_its_parent_is_moved_after_it() {
        let c = one_line(
            &json!({"id": "t", "title": "x", "active_leaf_id": "b"}),
            &json!([
                message("b", Some("a")),
                message("c", None),
                message("a", None)
            ]),
        )
        .expect("usable");
        let ids: Vec<&str> = c.messages.iter().map(|m| m.source_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
    }

    #[test]
    fn blank_lines_are_skipped_and_bad_lines_reported_at_their_index() {
        let good = line(&json!({"id": "t"}), &json!([message("a", None)]));
        let file = format!("\n{good}\r\n  \n{{not json\n{good}\n\"text\"\n{good}");
        let (seen, result) = read_all(file.as_bytes());
        assert!(result.is_ok());
        assert_eq!(seen.len(), 5);
        assert!(seen[0].is_ok() && seen[2].is_ok() && seen[4].is_ok());
        let error = seen[1].as_ref().expect_err("not json");
        assert_eq!(error.index, 1);
        assert!(error.detail.contains("not valid JSON"), "{}", error.detail);
        assert!(
            seen[3]
                .as_ref()
                .expect_err("not an object")
                .detail
                .contains("not an object")
        );
    }

    #[test]
    fn invalid_utf8_in_a_line_is_a_conversation_error() {
        let mut file = line(&json!({"id": "t"}), &json!([])).into_bytes();
        file.extend(b"\n{\"thread\": {\"id\": \"\xff\"}, \"messages\": []}\n");
        let (seen, result) = read_all(&file);
        assert!(result.is_ok());
        assert!(seen[0].is_ok());
        assert!(seen[1].is_err());
    }

    #[test]
    fn broken_threads_are_conversation_errors() {
        let t = json!({"id": "t"});
        let with = |key: &str, value: serde_json::Value| {
            let mut m = message("a", None);
            m[key] = value;
            json!([m])
        };
        let cases = [
            (json!({}), json!([]), "no id"),
            (
                json!({"id": "t", "created_at": "yesterday"}),
                json!([]),
                "RFC 3339",
            ),
            (json!({"id": "t", "archived": "yes"}), json!([]), "archived"),
            (json!({"id": "t", "metadata": []}), json!([]), "metadata"),
            (
                json!({"id": "t", "active_leaf_id": "zzz"}),
                json!([]),
                "active_leaf_id",
            ),
            (t.clone(), json!([1]), "message 0"),
            (t.clone(), with("role", json!("robot")), "unknown role"),
            (t.clone(), with("status", json!("done")), "unknown status"),
            (
                t.clone(),
                with("thread_id", json!("other")),
                "another thread",
            ),
            (
                t.clone(),
                with("parts", json!([{"text": "no type"}])),
                "parts",
            ),
            (t.clone(), with("sources", json!(["url"])), "sources"),
            (t.clone(), with("feedback", json!("up")), "feedback"),
            (t.clone(), with("parent_id", json!("gone")), "parent_id"),
            (t.clone(), with("parent_id", json!("a")), "cycle"),
            (
                t.clone(),
                json!([message("a", None), message("a", None)]),
                "two messages",
            ),
            (
                t.clone(),
                json!([{"id": "a", "role": "user"}]),
                "neither content nor parts",
            ),
        ];
        for (thread, messages, expected) in cases {
            let error = one_line(&thread, &messages).expect_err(expected);
            assert!(
                error.detail.contains(expected),
                "{} lacks {expected}",
                error.detail
            );
        }
        let (seen, _) = read_all(b"{\"thread\": {\"id\": \"t\"}}\n{\"messages\": []}\n[]\n");
        assert!(seen.iter().all(Result::is_err));
    }

    #[test]
    fn older_exports_without_tree_fields_still_read() {
        let c = one_line(
            &json!({"id": "t", "title": null, "metadata": null}),
            &json!([{"id": "a", "role": "user", "content": "hello"}, {"id": "b", "role": "assistant", "content": "hi"}]),
        )
        .expect("usable");
        assert_eq!(c.title, "");
        assert_eq!(
            c.messages[1].parent, None,
            "no parent_id means a root; the importer decides"
        );
        assert_eq!(c.messages[0].parts, None);
        assert_eq!(c.messages[0].status, None);
    }

    /// A reader that fails after its first bytes.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk gone"));
            }
            let n = self.0.read(buf)?;
            Ok(n)
        }
    }

    #[test]
    fn a_failing_read_is_a_file_error_and_break_stops() {
        let good = format!("{}\n", line(&json!({"id": "t"}), &json!([])));
        let mut seen = 0;
        let result = read_conversations(Format::ChatHistory, Failing(good.as_bytes()), |_, _| {
            seen += 1;
            ControlFlow::Continue(())
        });
        assert!(matches!(result, Err(FileError::Io(_))), "{result:?}");
        assert_eq!(seen, 1);
        let mut calls = 0;
        let result = read_conversations(Format::ChatHistory, FIXTURE.as_bytes(), |_, _| {
            calls += 1;
            ControlFlow::Break(())
        });
        assert!(result.is_ok());
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_truncated_last_line_is_reported_for_that_line_only() {
        let cut = &FIXTURE.as_bytes()[..FIXTURE.len() - 30];
        let (seen, result) = read_all(cut);
        assert!(result.is_ok());
        assert_eq!(seen.len(), 3);
        assert!(seen[0].is_ok() && seen[1].is_ok());
        assert!(
            seen[2]
                .as_ref()
                .expect_err("cut")
                .detail
                .contains("not valid JSON")
        );
    }
}
