//! Claude's `conversations.json`: a JSON array of conversations, each with its
//! `chat_messages` in order.
//!
//! What a conversation becomes:
//! - `source_id`: `uuid`; `title`: `name`; `created_at`/`updated_at`: the ISO 8601
//!   `created_at`/`updated_at` (one that does not parse is `None`); `archived`: `false`;
//!   `pinned`: `is_starred`; `metadata`: `{"import": {"format": "claude", "source_id",
//!   "model"?, "summary"?}}` (`summary`, Claude's generated synopsis, when it is a
//!   non-empty string of at most 8 KiB, so that it cannot crowd out the 16 KiB metadata).
//! - `chat_messages` must be an array (it may be empty).
//!
//! The tree: each message's parent is the message before it in the file, unless its
//! `parent_message_uuid` names another message of the conversation (newer exports have
//! it, and edits and retries then form branches); Claude's root marker
//! `00000000-0000-4000-8000-000000000000` makes it a root. A `parent_message_uuid` naming
//! nothing known falls back to the message before. Duplicate `uuid`s or a parent cycle
//! make the conversation unusable. `messages` are in file order, except that a parent
//! always comes before its children. `active_leaf`: `current_leaf_message_uuid` when it
//! names a message, else the last message of the file.
//!
//! What a message becomes:
//! - `source_id`: `uuid`; `role`: `sender` `human` (or `user`) → `user`, `assistant` →
//!   `assistant`, anything else makes the conversation unusable; `content`: `None`;
//!   `status`: `None` (the export does not say; every message in it is finished);
//!   `created_at`/`updated_at` as for the conversation.
//! - `parts`: first one `file` part per attachment that has `extracted_content` (the
//!   extracted text, which is what Claude read, as `{"type": "file", "mediaType":
//!   "text/plain", "url": "data:text/plain;charset=utf-8;base64,...", "filename"?:
//!   file_name, "providerMetadata": {"claude": {"file_type"?, "file_size"?}}}`: a file
//!   the AI SDK can hand back to a model, which keeps the attachment out of `content`);
//!   then, from the `content` array when it is non-empty, else from `text`:
//!   - `text` → a `text` part (non-empty `citations` kept in
//!     `providerMetadata.claude.citations`); a plain string → a `text` part;
//!   - `thinking` → a `reasoning` part;
//!   - `tool_use` → `{"type": "dynamic-tool", "toolName": name, "toolCallId": id,
//!     "state": "input-available", "input": input}`, where a missing `id` becomes
//!     `{message uuid}-tool-{position in content}`;
//!   - `tool_result` → completes the tool call of the same message it answers
//!     (`tool_use_id`, else the latest unanswered call of the same `name`): `state`
//!     `output-available` with `output` = its `content` as is, or `output-error` with
//!     `errorText` = its text when `is_error`; a result that answers no call of the
//!     message → a `data-claude` part holding it;
//!   - any other item (images, a `tool_use` without a name, types to come) → `{"type":
//!     "data-claude", "data": <the item>}`.
//! - `metadata`: `{"claude": {"files": [names]}}` listing the `file_name`s of `files`
//!   (uploads whose bytes are not in the export) and of attachments without extracted
//!   text; `{}` when there are none.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{
    Format, SourceConversation, SourceMessage, data_part, import_metadata, kind, parents_first,
    parse_time, quoted, reasoning_part, str_field, text_part,
};

/// The `parent_message_uuid` Claude gives a root.
const ROOT_PARENT: &str = "00000000-0000-4000-8000-000000000000";

/// The longest `summary` kept in the metadata, in bytes.
const MAX_SUMMARY: usize = 8 * 1024;

/// Converts one element of the array.
pub(super) fn convert(value: Value) -> Result<SourceConversation, String> {
    let Value::Object(mut conversation) = value else {
        return Err(format!("it is {}, not an object", kind(&value)));
    };
    let source_id = str_field(&conversation, "uuid")
        .filter(|id| !id.is_empty())
        .ok_or("it has no uuid")?
        .to_owned();
    let chat_messages = match conversation.remove("chat_messages") {
        Some(Value::Array(list)) => list,
        None | Some(Value::Null) => return Err("it has no chat_messages".into()),
        Some(other) => {
            return Err(format!(
                "its chat_messages is {}, not an array",
                kind(&other)
            ));
        }
    };
    let read = chat_messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| read_message(i, message))
        .collect::<Result<Vec<_>, _>>()?;
    let current_leaf = str_field(&conversation, "current_leaf_message_uuid");
    let (active_leaf, messages) = into_tree(read, current_leaf)?;
    Ok(SourceConversation {
        title: str_field(&conversation, "name").unwrap_or("").to_owned(),
        created_at: str_field(&conversation, "created_at").and_then(parse_time),
        updated_at: str_field(&conversation, "updated_at").and_then(parse_time),
        archived: false,
        pinned: conversation.get("is_starred") == Some(&Value::Bool(true)),
        expires_at: None,
        metadata: conversation_metadata(&conversation, &source_id),
        source_id,
        active_leaf,
        messages,
    })
}

/// The `import` metadata, with the model and a summary that is not too long.
fn conversation_metadata(conversation: &Map<String, Value>, source_id: &str) -> Map<String, Value> {
    let mut extra = Map::new();
    if let Some(model) = str_field(conversation, "model") {
        extra.insert("model".into(), model.into());
    }
    if let Some(summary) =
        str_field(conversation, "summary").filter(|s| !s.is_empty() && s.len() <= MAX_SUMMARY)
    {
        extra.insert("summary".into(), summary.into());
    }
    import_metadata(Format::Claude, source_id, extra)
}

/// A message as read, with the parent it declares.
struct Read {
    message: SourceMessage,
    declared_parent: Option<String>,
}

/// Resolves the parents, orders the messages parents first, and picks the active leaf.
fn into_tree(
    read: Vec<Read>,
    current_leaf: Option<&str>,
) -> Result<(Option<String>, Vec<SourceMessage>), String> {
    let mut position = HashMap::with_capacity(read.len());
    for (i, r) in read.iter().enumerate() {
        if position.insert(r.message.source_id.as_str(), i).is_some() {
            return Err(format!(
                "two messages have the uuid {}",
                quoted(&r.message.source_id)
            ));
        }
    }
    let parents: Vec<Option<usize>> = read
        .iter()
        .enumerate()
        .map(|(i, r)| match r.declared_parent.as_deref() {
            Some(ROOT_PARENT) => None,
            Some(parent) => position.get(parent).copied().or_else(|| i.checked_sub(1)),
            None => i.checked_sub(1),
        })
        .collect();
    let active_leaf = current_leaf
        .filter(|id| position.contains_key(id))
        .map(str::to_owned)
        .or_else(|| read.last().map(|r| r.message.source_id.clone()));
    drop(position);
    let file_order: Vec<usize> = (0..read.len()).collect();
    let order = parents_first(&parents, &file_order).ok_or("its messages have a parent cycle")?;
    let ids: Vec<String> = read.iter().map(|r| r.message.source_id.clone()).collect();
    let mut slots: Vec<Option<SourceMessage>> = read.into_iter().map(|r| Some(r.message)).collect();
    let messages = order
        .into_iter()
        .filter_map(|i| {
            let mut message = slots[i].take()?;
            message.parent = parents[i].map(|p| ids[p].clone());
            Some(message)
        })
        .collect();
    Ok((active_leaf, messages))
}

/// Reads the message at `index` of `chat_messages`.
fn read_message(index: usize, value: Value) -> Result<Read, String> {
    let Value::Object(mut message) = value else {
        return Err(format!(
            "message {index} is {}, not an object",
            kind(&value)
        ));
    };
    let id = str_field(&message, "uuid")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("message {index} has no uuid"))?
        .to_owned();
    let role = match message.get("sender").and_then(Value::as_str) {
        Some("human" | "user") => "user",
        Some("assistant") => "assistant",
        Some(other) => {
            return Err(format!(
                "message {} has an unknown sender {}",
                quoted(&id),
                quoted(other)
            ));
        }
        None => return Err(format!("message {} has no sender", quoted(&id))),
    };
    let attachments = take_array(&mut message, "attachments");
    let mut parts: Vec<Value> = attachments.iter().filter_map(attachment_part).collect();
    match take_array(&mut message, "content") {
        items if !items.is_empty() => parts.extend(content_parts(&id, items)),
        _ => parts.extend(
            str_field(&message, "text")
                .filter(|t| !t.is_empty())
                .map(text_part),
        ),
    }
    let files = file_names(&take_array(&mut message, "files"), &attachments);
    Ok(Read {
        declared_parent: str_field(&message, "parent_message_uuid").map(str::to_owned),
        message: SourceMessage {
            source_id: id,
            parent: None,
            role: role.to_owned(),
            content: None,
            parts: Some(parts),
            sources: Vec::new(),
            metadata: files_metadata(files),
            status: None,
            feedback: None,
            created_at: str_field(&message, "created_at").and_then(parse_time),
            updated_at: str_field(&message, "updated_at").and_then(parse_time),
        },
    })
}

/// An array field taken out of `object`; empty when absent or not an array.
fn take_array(object: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match object.remove(key) {
        Some(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// The file names to list in the metadata.
fn file_names(files: &[Value], attachments: &[Value]) -> Vec<Value> {
    let without_text = attachments
        .iter()
        .filter(|a| a.get("extracted_content").and_then(Value::as_str).is_none());
    files
        .iter()
        .chain(without_text)
        .filter_map(|f| f.get("file_name").and_then(Value::as_str))
        .map(Value::from)
        .collect()
}

/// `{"claude": {"files": names}}`, or `{}` without names.
fn files_metadata(names: Vec<Value>) -> Map<String, Value> {
    let mut metadata = Map::new();
    if !names.is_empty() {
        let mut claude = Map::new();
        claude.insert("files".into(), Value::Array(names));
        metadata.insert("claude".into(), Value::Object(claude));
    }
    metadata
}

/// A `file` part holding an attachment's extracted text.
fn attachment_part(attachment: &Value) -> Option<Value> {
    let attachment = attachment.as_object()?;
    let text = str_field(attachment, "extracted_content")?;
    let mut claude = Map::new();
    for key in ["file_type", "file_size"] {
        if let Some(value) = attachment
            .get(key)
            .filter(|v| v.is_string() || v.is_number())
        {
            claude.insert(key.into(), value.clone());
        }
    }
    let mut part = Map::new();
    part.insert("type".into(), "file".into());
    part.insert("mediaType".into(), "text/plain".into());
    part.insert(
        "url".into(),
        format!(
            "data:text/plain;charset=utf-8;base64,{}",
            base64(text.as_bytes())
        )
        .into(),
    );
    if let Some(name) = str_field(attachment, "file_name") {
        part.insert("filename".into(), name.into());
    }
    if !claude.is_empty() {
        part.insert(
            "providerMetadata".into(),
            single("claude", Value::Object(claude)),
        );
    }
    Some(Value::Object(part))
}

/// `{key: value}`.
fn single(key: &str, value: Value) -> Value {
    let mut object = Map::new();
    object.insert(key.into(), value);
    Value::Object(object)
}

/// A tool call of the message waiting for its result.
struct Call {
    part: usize,
    id: String,
    name: String,
    answered: bool,
}

/// The parts of a message's `content` array.
fn content_parts(message_id: &str, items: Vec<Value>) -> Vec<Value> {
    let mut parts = Vec::with_capacity(items.len());
    let mut calls: Vec<Call> = Vec::new();
    for (position, item) in items.into_iter().enumerate() {
        let object = match item {
            Value::Object(object) => object,
            Value::String(text) if !text.is_empty() => {
                parts.push(text_part(text));
                continue;
            }
            _ => continue,
        };
        match str_field(&object, "type").unwrap_or("") {
            "text" => parts.extend(text_item(&object)),
            "thinking" => parts.extend(
                str_field(&object, "thinking")
                    .filter(|t| !t.is_empty())
                    .map(reasoning_part),
            ),
            "tool_use" if str_field(&object, "name").is_some() => {
                calls.push(tool_call(message_id, position, &object, &mut parts));
            }
            "tool_result" => match answered_call(&mut calls, &object) {
                Some(call) => complete_call(&mut parts, call, object),
                None => parts.push(data_part("claude", Value::Object(object))),
            },
            _ => parts.push(data_part("claude", Value::Object(object))),
        }
    }
    parts
}

/// A `text` item, with its citations when it has any.
fn text_item(item: &Map<String, Value>) -> Option<Value> {
    let text = str_field(item, "text").filter(|t| !t.is_empty())?;
    let mut part = text_part(text);
    if let Some(citations @ Value::Array(list)) = item.get("citations")
        && !list.is_empty()
        && let Value::Object(part) = &mut part
    {
        let claude = single("citations", citations.clone());
        part.insert("providerMetadata".into(), single("claude", claude));
    }
    Some(part)
}

/// Adds the `dynamic-tool` part of a `tool_use` item and returns its call.
fn tool_call(
    message_id: &str,
    position: usize,
    item: &Map<String, Value>,
    parts: &mut Vec<Value>,
) -> Call {
    let name = str_field(item, "name").unwrap_or("").to_owned();
    let id = str_field(item, "id")
        .filter(|id| !id.is_empty())
        .map_or_else(|| format!("{message_id}-tool-{position}"), str::to_owned);
    let mut part = Map::new();
    part.insert("type".into(), "dynamic-tool".into());
    part.insert("toolName".into(), name.as_str().into());
    part.insert("toolCallId".into(), id.as_str().into());
    part.insert("state".into(), "input-available".into());
    part.insert(
        "input".into(),
        item.get("input")
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    parts.push(Value::Object(part));
    Call {
        part: parts.len() - 1,
        id,
        name,
        answered: false,
    }
}

/// The unanswered call a `tool_result` answers: by `tool_use_id`, else the latest of the
/// same name.
fn answered_call<'a>(calls: &'a mut [Call], result: &Map<String, Value>) -> Option<&'a mut Call> {
    let mut open = calls.iter_mut().filter(|call| !call.answered);
    let call = if let Some(id) = str_field(result, "tool_use_id") {
        open.find(|call| call.id == id)
    } else {
        let name = str_field(result, "name")?;
        open.filter(|call| call.name == name).last()
    }?;
    call.answered = true;
    Some(call)
}

/// Turns the call's part into a finished one, with the result's output or error.
fn complete_call(parts: &mut [Value], call: &Call, mut result: Map<String, Value>) {
    let Some(Value::Object(part)) = parts.get_mut(call.part) else {
        return;
    };
    let output = result.remove("content").unwrap_or(Value::Null);
    if result.get("is_error") == Some(&Value::Bool(true)) {
        let text = output_text(&output);
        let error = if text.is_empty() {
            "The tool reported an error.".to_owned()
        } else {
            text
        };
        part.insert("state".into(), "output-error".into());
        part.insert("errorText".into(), error.into());
    } else {
        part.insert("state".into(), "output-available".into());
        part.insert("output".into(), output);
    }
}

/// The text of a tool result's content: a string, or its `text` items joined by lines.
fn output_text(output: &Value) -> String {
    match output {
        Value::String(text) => text.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|item| item.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// Standard base64 with padding (RFC 4648), for data URLs.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use serde_json::json;

    use super::super::{FileError, Format, SourceConversation, read_conversations};
    use super::base64;

    const FIXTURE: &str = include_str!("../../tests/fixtures/import/claude.json");

    use super::super::testing::Outcome;

    fn read_all(file: &[u8]) -> (Vec<Outcome>, Result<(), FileError>) {
        super::super::testing::read_all(Format::Claude, file)
    }

    fn conversations() -> Vec<SourceConversation> {
        let (seen, result) = read_all(FIXTURE.as_bytes());
        assert!(result.is_ok(), "{result:?}");
        seen.into_iter()
            .map(|c| c.expect("every fixture conversation is usable"))
            .collect()
    }

    fn one(value: &serde_json::Value) -> Outcome {
        let file = serde_json::to_vec(&json!([value])).expect("json");
        let (mut seen, result) = read_all(&file);
        assert!(result.is_ok());
        seen.remove(0)
    }

    fn parts(c: &SourceConversation, i: usize) -> &[serde_json::Value] {
        c.messages[i].parts.as_deref().expect("parts")
    }

    #[test]
    fn the_fixture_has_three_conversations_with_their_messages() {
        let all = conversations();
        let counts: Vec<usize> = all.iter().map(|c| c.messages.len()).collect();
        assert_eq!(counts, [4, 0, 2]);
        let first = &all[0];
        assert_eq!(first.source_id, "1f3c5e7a-2b4d-4c6e-8f0a-1b2c3d4e5f60");
        assert_eq!(first.title, "Summarize the release notes");
        assert_eq!(
            first.created_at.map(|t| t.to_rfc3339()),
            Some("2025-03-04T09:15:02.114512+00:00".into())
        );
        let roles: Vec<&str> = first.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
        let parents: Vec<Option<&str>> =
            first.messages.iter().map(|m| m.parent.as_deref()).collect();
        assert_eq!(
            parents,
            [
                None,
                Some("a1d2c3b4-0001-4000-8000-00000000000a"),
                Some("a1d2c3b4-0002-4000-8000-00000000000b"),
                Some("a1d2c3b4-0003-4000-8000-00000000000c")
            ]
        );
        assert_eq!(
            first.active_leaf.as_deref(),
            Some("a1d2c3b4-0004-4000-8000-00000000000d")
        );
        assert_eq!(first.metadata["import"]["format"], "claude");
        assert_eq!(
            first.metadata["import"]["source_id"],
            first.source_id.as_str()
        );
        assert!(!first.pinned && !first.archived);
    }

    #[test]
    fn an_attachment_becomes_a_text_file_before_the_text() {
        let c = &conversations()[0];
        let p = parts(c, 0);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0]["type"], "file");
        assert_eq!(p[0]["mediaType"], "text/plain");
        assert_eq!(p[0]["filename"], "RELEASE_NOTES.md");
        assert_eq!(p[0]["providerMetadata"]["claude"]["file_type"], "md");
        let expected = format!(
            "data:text/plain;charset=utf-8;base64,{}",
            base64("# 2.4.0\n- Faster sync\n- Dark mode\n".as_bytes())
        );
        assert_eq!(p[0]["url"], expected.as_str());
        assert_eq!(
            p[1],
            json!({"type": "text", "text": "Summarize these release notes in one sentence."})
        );
        assert_eq!(
            c.messages[0].metadata,
            json!({"claude": {"files": ["screenshot.png"]}})
                .as_object()
                .cloned()
                .expect("o")
        );
    }

    #[test]
    fn thinking_tool_calls_and_results_become_ai_sdk_parts() {
        let c = &conversations()[0];
        let p = parts(c, 1);
        assert_eq!(
            p[0],
            json!({"type": "reasoning", "text": "The user wants one sentence. I should check the date."})
        );
        assert_eq!(p[1]["type"], "text");
        assert_eq!(p[2]["type"], "dynamic-tool");
        assert_eq!(p[2]["toolName"], "web_search");
        assert_eq!(p[2]["toolCallId"], "toolu_01A2b3C4d5E6f7G8h9J0k1L2");
        assert_eq!(p[2]["state"], "output-available");
        assert_eq!(
            p[2]["input"],
            json!({"query": "Example app 2.4.0 release date"})
        );
        assert_eq!(p[2]["output"][0]["title"], "Example app 2.4.0 is out");
        assert_eq!(
            p[3]["text"],
            "Version 2.4.0, released March 3, brings faster sync and a dark mode."
        );
        let citation = &p[3]["providerMetadata"]["claude"]["citations"][0];
        assert_eq!(citation["details"]["url"], "https://example.com/blog/2-4-0");
        assert_eq!(p.len(), 4);
        assert_eq!(c.messages[1].status, None);
        assert_eq!(c.messages[1].content, None);
    }

    #[test]
    fn an_empty_conversation_has_no_messages_and_no_active_leaf() {
        let c = &conversations()[1];
        assert!(c.messages.is_empty());
        assert_eq!(c.active_leaf, None);
        assert_eq!(c.title, "");
    }

    #[test]
    fn an_old_export_without_content_arrays_reads_text_as_a_path() {
        let c = &conversations()[2];
        assert_eq!(
            parts(c, 0),
            [json!({"type": "text", "text": "What is a monad?"})]
        );
        assert_eq!(
            c.messages[1].parent.as_deref(),
            Some(c.messages[0].source_id.as_str())
        );
        assert_eq!(
            c.active_leaf.as_deref(),
            Some(c.messages[1].source_id.as_str())
        );
        assert_eq!(
            c.messages[1].created_at.map(|t| t.to_rfc3339()),
            Some("2024-01-10T08:00:09+00:00".into())
        );
    }

    #[test]
    fn parent_uuids_make_branches_and_are_placed_before_their_children() {
        let c = one(&json!({"uuid": "c", "current_leaf_message_uuid": "a1", "is_starred": true, "chat_messages": [
            {"uuid": "a2", "sender": "assistant", "text": "retry", "parent_message_uuid": "u"},
            {"uuid": "u", "sender": "human", "text": "hi", "parent_message_uuid": "00000000-0000-4000-8000-000000000000"},
            {"uuid": "a1", "sender": "assistant", "text": "first", "parent_message_uuid": "u"},
            {"uuid": "u2", "sender": "human", "text": "edited", "parent_message_uuid": "00000000-0000-4000-8000-000000000000"},
            {"uuid": "x", "sender": "assistant", "text": "?", "parent_message_uuid": "unknown"}
        ]}))
        .expect("usable");
        let shape: Vec<(&str, Option<&str>)> = c
            .messages
            .iter()
            .map(|m| (m.source_id.as_str(), m.parent.as_deref()))
            .collect();
        assert_eq!(
            shape,
            [
                ("u", None),
                ("a2", Some("u")),
                ("a1", Some("u")),
                ("u2", None),
                ("x", Some("u2"))
            ]
        );
        assert_eq!(c.active_leaf.as_deref(), Some("a1"));
        assert!(c.pinned);
    }

    #[test]
    fn unmatched_results_errors_and_unknown_items_are_kept() {
        let c = one(&json!({"uuid": "c", "chat_messages": [{"uuid": "m", "sender": "assistant", "content": [
            {"type": "tool_use", "name": "bash_tool", "input": {"command": "false"}},
            {"type": "tool_result", "name": "bash_tool", "is_error": true, "content": [{"type": "text", "text": "exit 1"}]},
            {"type": "tool_result", "tool_use_id": "nobody", "content": []},
            {"type": "image", "file_uuid": "f"},
            "plain"
        ]}]}))
        .expect("usable");
        let p = c.messages[0].parts.as_deref().expect("parts");
        assert_eq!(
            p[0],
            json!({"type": "dynamic-tool", "toolName": "bash_tool", "toolCallId": "m-tool-0",
                   "state": "output-error", "input": {"command": "false"}, "errorText": "exit 1"})
        );
        assert_eq!(p[1]["type"], "data-claude");
        assert_eq!(p[1]["data"]["tool_use_id"], "nobody");
        assert_eq!(
            p[2],
            json!({"type": "data-claude", "data": {"type": "image", "file_uuid": "f"}})
        );
        assert_eq!(p[3], json!({"type": "text", "text": "plain"}));
    }

    #[test]
    fn unusable_conversations_are_errors_not_panics() {
        let bad = [
            (json!(null), "not an object"),
            (json!({"chat_messages": []}), "uuid"),
            (json!({"uuid": "c"}), "chat_messages"),
            (json!({"uuid": "c", "chat_messages": {}}), "not an array"),
            (json!({"uuid": "c", "chat_messages": [1]}), "message 0"),
            (
                json!({"uuid": "c", "chat_messages": [{"sender": "human"}]}),
                "uuid",
            ),
            (
                json!({"uuid": "c", "chat_messages": [{"uuid": "m", "sender": "bot"}]}),
                "unknown sender",
            ),
            (
                json!({"uuid": "c", "chat_messages": [{"uuid": "m"}]}),
                "no sender",
            ),
            (
                json!({"uuid": "c", "chat_messages": [{"uuid": "m", "sender": "human"}, {"uuid": "m", "sender": "human"}]}),
                "two messages",
            ),
            (
                json!({"uuid": "c", "chat_messages": [
                {"uuid": "a", "sender": "human", "parent_message_uuid": "b"},
                {"uuid": "b", "sender": "human", "parent_message_uuid": "a"}]}),
                "cycle",
            ),
        ];
        for (value, expected) in bad {
            let error = one(&value).expect_err("unusable");
            assert!(
                error.detail.contains(expected),
                "{} lacks {expected}",
                error.detail
            );
        }
        let odd = json!({"uuid": "c", "name": 3, "created_at": 5, "chat_messages": [{"uuid": "m", "sender": "human",
            "content": [null, {"type": 1}, {"type": "text"}, {"type": "tool_use", "id": 3, "name": "t"},
                        {"type": "tool_result"}], "attachments": [1, {"extracted_content": 2}], "files": "f"}]});
        assert!(one(&odd).is_ok());
    }

    #[test]
    fn truncated_non_array_and_early_break_are_handled() {
        let (seen, result) = read_all(&FIXTURE.as_bytes()[..FIXTURE.len() - 40]);
        assert!(
            matches!(result, Err(FileError::Truncated { .. })),
            "{result:?}"
        );
        assert_eq!(
            seen.len(),
            2,
            "the complete conversations before the cut are read"
        );
        let (_, result) = read_all(br#"{"uuid": "c", "chat_messages": []}"#);
        assert!(matches!(result, Err(FileError::NotAnArray)), "{result:?}");
        let mut calls = 0;
        let result = read_conversations(Format::Claude, FIXTURE.as_bytes(), |_, _| {
            calls += 1;
            ControlFlow::Break(())
        });
        assert!(result.is_ok());
        assert_eq!(calls, 1);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
