//! ChatGPT's `conversations.json`: a JSON array of conversations, each holding its messages
//! as a `mapping` from node id to `{id, message | null, parent, children}`, and
//! `current_node`, the node the user was looking at.
//!
//! What a conversation becomes:
//! - `source_id`: `conversation_id`, else `id`; `title`: `title`; `created_at` and
//!   `updated_at`: `create_time` and `update_time` (seconds since the epoch, to the
//!   microsecond); `archived`: `is_archived`; `pinned`: `is_starred`; `metadata`:
//!   `{"import": {"format": "chatgpt", "source_id", "default_model_slug"?, "gizmo_id"?,
//!   "conversation_template_id"?}}` (the last three when they are strings).
//! - The tree is read from each node's `parent` (`children` repeats it and is ignored). A
//!   `parent` that is not a node of the mapping, a parent cycle, or a `current_node` that
//!   is not a node of the mapping makes the conversation unusable.
//! - A node is dropped when its `message` is `null` (`client-created-root` and the like)
//!   or when its message has nothing to show: no text, no file, nothing of an unknown
//!   content type (ChatGPT's usual empty, hidden system message). Its children take its
//!   nearest kept ancestor as their parent, and `current_node` resolves the same way.
//!   Hidden messages with something to show are kept with their role.
//! - `messages` are ordered parents first; among messages whose parent is placed, the
//!   earliest `create_time` comes first (`null` before any time), then the smaller id.
//!
//! What a message becomes:
//! - `source_id`: the node's key in the mapping; `role`: `author.role`, which must be
//!   `system`, `user`, `assistant` or `tool` (anything else makes the conversation
//!   unusable rather than guessing a role); `created_at`/`updated_at`: `create_time`/
//!   `update_time`; `content`: `None` (the importer derives it from the text parts).
//! - `status`: `finished_successfully` → `complete`; `in_progress` and
//!   `finished_partial_completion` → `aborted` (an export never holds a live reply, and a
//!   partial completion is one the user stopped); a status containing `error`, or
//!   `failed` → `error`; any other → `complete`; none → `None`.
//! - `metadata`: `"hidden": true` when `metadata.is_visually_hidden_from_conversation`;
//!   and `"chatgpt": {"model_slug"?, "recipient"? (when not `all`), "author_name"?,
//!   "attachments"?}` (strings, and the `attachments` array as it is), when any is present.
//! - `parts`, by `content.content_type`:
//!   - `text`, `multimodal_text`: each non-empty string of `parts` → a `text` part; an
//!     `image_asset_pointer`, `audio_asset_pointer` or `video_container_asset_pointer`
//!     object → a `file` part `{"type": "file", "mediaType", "url": asset_pointer,
//!     "filename"?, "providerMetadata": {"chatgpt": {"content_type", "width"?,
//!     "height"?, "size_bytes"?}}}` whose `mediaType` and `filename` come from the entry
//!     of `metadata.attachments` whose `id` the pointer names (`file-service://<id>`,
//!     `sediment://<id>`), else `application/octet-stream` and none; an
//!     `audio_transcription` object → a `text` part; any other object → a `data-chatgpt`
//!     part holding it.
//!   - `code` → a `text` part holding a fenced code block (with its `language` unless
//!     `unknown`); `execution_output` → a `text` part.
//!   - `thoughts` → one `reasoning` part per thought (`summary` and `content` joined by a
//!     blank line); `reasoning_recap` → a `reasoning` part.
//!   - `user_editable_context` (custom instructions) → a `text` part of `user_profile` and
//!     `user_instructions`; likewise an otherwise empty message whose
//!     `metadata.user_context_message_data` holds the older `about_user_message` and
//!     `about_model_message`.
//!   - any other content type → `{"type": "data-chatgpt", "data": <the content object>}`,
//!     so that nothing is lost.

use std::cmp::Ordering;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{
    Format, SourceConversation, SourceMessage, data_part, epoch_seconds, import_metadata, kind,
    parents_first, quoted, ranks, reasoning_part, str_field, text_part,
};

/// Converts one element of the array.
pub(super) fn convert(value: Value) -> Result<SourceConversation, String> {
    let Value::Object(mut conversation) = value else {
        return Err(format!("it is {}, not an object", kind(&value)));
    };
    let source_id = conversation_id(&conversation)?;
    let mapping = match conversation.remove("mapping") {
        Some(Value::Object(mapping)) => mapping,
        None | Some(Value::Null) => return Err("it has no mapping".into()),
        Some(other) => return Err(format!("its mapping is {}, not an object", kind(&other))),
    };
    let current_node = match conversation.get("current_node") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id.clone()),
        Some(other) => return Err(format!("its current_node is {}", kind(other))),
    };
    let (active_leaf, messages) = read_tree(mapping, current_node.as_deref())?;
    Ok(SourceConversation {
        title: str_field(&conversation, "title").unwrap_or("").to_owned(),
        created_at: epoch_seconds(conversation.get("create_time")),
        updated_at: epoch_seconds(conversation.get("update_time")),
        archived: conversation.get("is_archived") == Some(&Value::Bool(true)),
        pinned: conversation.get("is_starred") == Some(&Value::Bool(true)),
        expires_at: None,
        metadata: conversation_metadata(&conversation, &source_id),
        source_id,
        active_leaf,
        messages,
    })
}

/// `conversation_id`, else `id`.
fn conversation_id(conversation: &Map<String, Value>) -> Result<String, String> {
    ["conversation_id", "id"]
        .into_iter()
        .find_map(|key| str_field(conversation, key).filter(|id| !id.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| "it has no conversation_id or id".to_owned())
}

/// The `import` metadata, with the conversation fields worth keeping.
fn conversation_metadata(conversation: &Map<String, Value>, source_id: &str) -> Map<String, Value> {
    let mut extra = Map::new();
    for key in ["default_model_slug", "gizmo_id", "conversation_template_id"] {
        if let Some(value) = str_field(conversation, key) {
            extra.insert(key.into(), value.into());
        }
    }
    import_metadata(Format::ChatGpt, source_id, extra)
}

/// One node of the mapping.
struct Node {
    id: String,
    parent: Option<String>,
    message: Option<Map<String, Value>>,
}

/// A message that is kept, converted.
struct Kept {
    role: &'static str,
    parts: Vec<Value>,
    metadata: Map<String, Value>,
    status: Option<&'static str>,
    create_time: Option<f64>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

/// The messages of a mapping, parents first, and the kept node `current_node` resolves to.
fn read_tree(
    mapping: Map<String, Value>,
    current_node: Option<&str>,
) -> Result<(Option<String>, Vec<SourceMessage>), String> {
    let nodes = mapping
        .into_iter()
        .map(|(id, node)| read_node(id, node))
        .collect::<Result<Vec<_>, _>>()?;
    let position: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| (node.id.as_str(), i))
        .collect();
    let parents = nodes
        .iter()
        .map(|node| parent_position(node, &position))
        .collect::<Result<Vec<_>, _>>()?;
    let identity: Vec<usize> = (0..nodes.len()).collect();
    let order = parents_first(&parents, &identity).ok_or("its mapping has a parent cycle")?;
    let current = current_node
        .map(|id| {
            position
                .get(id)
                .copied()
                .ok_or_else(|| format!("its current_node {} is not in the mapping", quoted(id)))
        })
        .transpose()?;
    drop(position);

    let mut ids = Vec::with_capacity(nodes.len());
    let mut kept = Vec::with_capacity(nodes.len());
    for node in nodes {
        let converted = node
            .message
            .map(|m| convert_message(&node.id, m))
            .transpose()?;
        kept.push(converted.flatten());
        ids.push(node.id);
    }
    let nearest = nearest_kept(&parents, &order, |i| kept[i].is_some());
    let active_leaf = current
        .and_then(|i| {
            if kept[i].is_some() {
                Some(i)
            } else {
                nearest[i]
            }
        })
        .map(|i| ids[i].clone());
    Ok((active_leaf, ordered_messages(&ids, kept, &nearest)))
}

/// Reads a node of the mapping under its key (the key is the id parents name).
fn read_node(id: String, node: Value) -> Result<Node, String> {
    let Value::Object(mut node) = node else {
        return Err(format!(
            "node {} is {}, not an object",
            quoted(&id),
            kind(&node)
        ));
    };
    let parent = match node.remove("parent") {
        None | Some(Value::Null) => None,
        Some(Value::String(parent)) => Some(parent),
        Some(other) => {
            return Err(format!(
                "node {} has a parent that is {}",
                quoted(&id),
                kind(&other)
            ));
        }
    };
    let message = match node.remove("message") {
        None | Some(Value::Null) => None,
        Some(Value::Object(message)) => Some(message),
        Some(other) => {
            return Err(format!(
                "node {} has a message that is {}",
                quoted(&id),
                kind(&other)
            ));
        }
    };
    Ok(Node {
        id,
        parent,
        message,
    })
}

/// The position of a node's parent in the mapping.
fn parent_position(node: &Node, position: &HashMap<&str, usize>) -> Result<Option<usize>, String> {
    let Some(parent) = &node.parent else {
        return Ok(None);
    };
    match position.get(parent.as_str()) {
        Some(&i) => Ok(Some(i)),
        None => Err(format!(
            "node {} names a parent {} that is not in the mapping",
            quoted(&node.id),
            quoted(parent)
        )),
    }
}

/// For each node, its nearest ancestor that is kept. `order` must be parents first.
fn nearest_kept(
    parents: &[Option<usize>],
    order: &[usize],
    is_kept: impl Fn(usize) -> bool,
) -> Vec<Option<usize>> {
    let mut nearest = vec![None; parents.len()];
    for &node in order {
        nearest[node] = parents[node].and_then(|p| if is_kept(p) { Some(p) } else { nearest[p] });
    }
    nearest
}

/// The kept messages, parents first, then by `create_time` and id.
fn ordered_messages(
    ids: &[String],
    mut kept: Vec<Option<Kept>>,
    nearest: &[Option<usize>],
) -> Vec<SourceMessage> {
    let positions: Vec<usize> = (0..kept.len()).filter(|&i| kept[i].is_some()).collect();
    let mut compact = vec![None; kept.len()];
    for (c, &i) in positions.iter().enumerate() {
        compact[i] = Some(c);
    }
    let parents: Vec<Option<usize>> = positions
        .iter()
        .map(|&i| nearest[i].and_then(|p| compact[p]))
        .collect();
    let time = |c: usize| kept[positions[c]].as_ref().and_then(|k| k.create_time);
    let rank = ranks(positions.len(), |a, b| {
        compare_times(time(a), time(b)).then_with(|| ids[positions[a]].cmp(&ids[positions[b]]))
    });
    // The reduced graph has no cycle, since the mapping had none.
    let order = parents_first(&parents, &rank).unwrap_or_default();
    order
        .into_iter()
        .filter_map(|c| {
            let i = positions[c];
            let message = kept[i].take()?;
            let parent = nearest[i].map(|p| ids[p].clone());
            Some(source_message(ids[i].clone(), parent, message))
        })
        .collect()
}

/// `null` first, then earlier first.
fn compare_times(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (a, b) => a.is_some().cmp(&b.is_some()),
    }
}

fn source_message(source_id: String, parent: Option<String>, kept: Kept) -> SourceMessage {
    SourceMessage {
        source_id,
        parent,
        role: kept.role.to_owned(),
        content: None,
        parts: Some(kept.parts),
        sources: Vec::new(),
        metadata: kept.metadata,
        status: kept.status.map(str::to_owned),
        feedback: None,
        created_at: kept.created_at,
        updated_at: kept.updated_at,
    }
}

/// Converts a node's message; `None` when it has nothing to show.
fn convert_message(id: &str, mut message: Map<String, Value>) -> Result<Option<Kept>, String> {
    let role = role_of(id, &message)?;
    let source_metadata = match message.remove("metadata") {
        Some(Value::Object(metadata)) => metadata,
        _ => Map::new(),
    };
    let content = match message.remove("content") {
        Some(Value::Object(content)) => content,
        None | Some(Value::Null) => return Err(format!("message {} has no content", quoted(id))),
        Some(other) => {
            return Err(format!(
                "message {} has a content that is {}",
                quoted(id),
                kind(&other)
            ));
        }
    };
    let mut parts = content_parts(content, &Attachments::of(&source_metadata));
    if parts.is_empty() {
        parts.extend(custom_instructions(&source_metadata).map(text_part));
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(Kept {
        role,
        parts,
        metadata: message_metadata(&message, &source_metadata),
        status: message.get("status").and_then(Value::as_str).map(status),
        create_time: message.get("create_time").and_then(Value::as_f64),
        created_at: epoch_seconds(message.get("create_time")),
        updated_at: epoch_seconds(message.get("update_time")),
    }))
}

/// `author.role`, which must be one the service knows.
fn role_of(id: &str, message: &Map<String, Value>) -> Result<&'static str, String> {
    let role = message.get("author").and_then(|author| author.get("role"));
    match role.and_then(Value::as_str) {
        Some("system") => Ok("system"),
        Some("user") => Ok("user"),
        Some("assistant") => Ok("assistant"),
        Some("tool") => Ok("tool"),
        Some(other) => Err(format!(
            "message {} has an unknown role {}",
            quoted(id),
            quoted(other)
        )),
        None => Err(format!("message {} has no author role", quoted(id))),
    }
}

/// The service status of a ChatGPT message status.
fn status(status: &str) -> &'static str {
    match status {
        "finished_successfully" => "complete",
        "in_progress" | "finished_partial_completion" => "aborted",
        s if s == "failed" || s.contains("error") => "error",
        _ => "complete",
    }
}

/// `hidden`, and the ChatGPT fields worth keeping under `chatgpt`.
fn message_metadata(
    message: &Map<String, Value>,
    source: &Map<String, Value>,
) -> Map<String, Value> {
    let mut chatgpt = Map::new();
    if let Some(slug) = str_field(source, "model_slug") {
        chatgpt.insert("model_slug".into(), slug.into());
    }
    if let Some(recipient) = str_field(message, "recipient").filter(|r| *r != "all") {
        chatgpt.insert("recipient".into(), recipient.into());
    }
    if let Some(name) = message
        .get("author")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
    {
        chatgpt.insert("author_name".into(), name.into());
    }
    if let Some(attachments @ Value::Array(list)) = source.get("attachments")
        && !list.is_empty()
    {
        chatgpt.insert("attachments".into(), attachments.clone());
    }
    let mut metadata = Map::new();
    if source.get("is_visually_hidden_from_conversation") == Some(&Value::Bool(true)) {
        metadata.insert("hidden".into(), Value::Bool(true));
    }
    if !chatgpt.is_empty() {
        metadata.insert("chatgpt".into(), Value::Object(chatgpt));
    }
    metadata
}

/// The files a message's `metadata.attachments` describes: id, media type, name.
struct Attachments(Vec<(String, Option<String>, Option<String>)>);

impl Attachments {
    fn of(metadata: &Map<String, Value>) -> Self {
        let list = metadata.get("attachments").and_then(Value::as_array);
        Self(
            list.into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .filter_map(|a| {
                    let id = str_field(a, "id")?.to_owned();
                    let mime = str_field(a, "mime_type").map(str::to_owned);
                    Some((id, mime, str_field(a, "name").map(str::to_owned)))
                })
                .collect(),
        )
    }

    /// The media type and name of the file an asset pointer (`<scheme>://<id>`) names.
    fn find(&self, pointer: &str) -> Option<(Option<&str>, Option<&str>)> {
        let id = pointer.split_once("://").map_or(pointer, |(_, id)| id);
        self.0
            .iter()
            .find(|(candidate, _, _)| candidate == id)
            .map(|(_, mime, name)| (mime.as_deref(), name.as_deref()))
    }
}

/// The parts of a message's content.
fn content_parts(content: Map<String, Value>, attachments: &Attachments) -> Vec<Value> {
    match str_field(&content, "content_type").unwrap_or("") {
        "text" | "multimodal_text" => mixed_parts(&content, attachments),
        "code" => code_block(&content).map(text_part).into_iter().collect(),
        "execution_output" => non_empty(&content, "text")
            .map(text_part)
            .into_iter()
            .collect(),
        "thoughts" => thoughts(&content),
        "reasoning_recap" => match non_empty(&content, "content") {
            Some(recap) => vec![reasoning_part(recap)],
            None => strings(&content).map(reasoning_part).collect(),
        },
        "user_editable_context" => joined(&content, &["user_profile", "user_instructions"])
            .map(text_part)
            .into_iter()
            .collect(),
        _ => vec![data_part("chatgpt", Value::Object(content))],
    }
}

/// The non-empty strings of `parts`.
fn strings(content: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let parts = content.get("parts").and_then(Value::as_array);
    parts
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// A string field unless empty.
fn non_empty<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    str_field(object, key).filter(|s| !s.is_empty())
}

/// The non-empty strings of `keys`, joined by a blank line; `None` when there are none.
fn joined(object: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    let texts: Vec<&str> = keys
        .iter()
        .filter_map(|key| non_empty(object, key))
        .collect();
    (!texts.is_empty()).then(|| texts.join("\n\n"))
}

/// `text` and `multimodal_text`: strings and asset objects, in order.
fn mixed_parts(content: &Map<String, Value>, attachments: &Attachments) -> Vec<Value> {
    let parts = content.get("parts").and_then(Value::as_array);
    parts
        .into_iter()
        .flatten()
        .filter_map(|part| match part {
            Value::String(text) if !text.is_empty() => Some(text_part(text.as_str())),
            Value::Object(object) => object_part(object, attachments),
            _ => None,
        })
        .collect()
}

/// An object among the `parts` of a multimodal message.
fn object_part(object: &Map<String, Value>, attachments: &Attachments) -> Option<Value> {
    let content_type = str_field(object, "content_type").unwrap_or("");
    match (content_type, str_field(object, "asset_pointer")) {
        (
            "image_asset_pointer" | "audio_asset_pointer" | "video_container_asset_pointer",
            Some(pointer),
        ) => Some(file_part(content_type, pointer, object, attachments)),
        ("audio_transcription", _) => non_empty(object, "text").map(text_part),
        _ => Some(data_part("chatgpt", Value::Object(object.clone()))),
    }
}

/// A `file` part for an asset pointer.
fn file_part(
    content_type: &str,
    pointer: &str,
    object: &Map<String, Value>,
    attachments: &Attachments,
) -> Value {
    let (mime, name) = attachments.find(pointer).unwrap_or((None, None));
    let mut chatgpt = Map::new();
    chatgpt.insert("content_type".into(), content_type.into());
    for key in ["width", "height", "size_bytes"] {
        if let Some(number @ Value::Number(_)) = object.get(key) {
            chatgpt.insert(key.into(), number.clone());
        }
    }
    let mut provider = Map::new();
    provider.insert("chatgpt".into(), Value::Object(chatgpt));
    let mut part = Map::new();
    part.insert("type".into(), "file".into());
    part.insert(
        "mediaType".into(),
        mime.unwrap_or("application/octet-stream").into(),
    );
    part.insert("url".into(), pointer.into());
    if let Some(name) = name {
        part.insert("filename".into(), name.into());
    }
    part.insert("providerMetadata".into(), Value::Object(provider));
    Value::Object(part)
}

/// `code`: its text in a fenced block longer than any run of backticks in it.
fn code_block(content: &Map<String, Value>) -> Option<String> {
    let text = non_empty(content, "text")?;
    let language = str_field(content, "language")
        .filter(|l| *l != "unknown")
        .unwrap_or("");
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    Some(format!("{fence}{language}\n{text}\n{fence}"))
}

/// `thoughts`: one reasoning part per thought, or per string of `parts`.
fn thoughts(content: &Map<String, Value>) -> Vec<Value> {
    match content.get("thoughts").and_then(Value::as_array) {
        Some(list) => list
            .iter()
            .filter_map(Value::as_object)
            .filter_map(|thought| joined(thought, &["summary", "content"]))
            .map(reasoning_part)
            .collect(),
        None => strings(content).map(reasoning_part).collect(),
    }
}

/// The older custom instructions, kept in a system message's metadata.
fn custom_instructions(metadata: &Map<String, Value>) -> Option<String> {
    let data = metadata.get("user_context_message_data")?.as_object()?;
    joined(data, &["about_user_message", "about_model_message"])
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::ops::ControlFlow;
    use std::rc::Rc;

    use serde_json::json;

    use super::super::{FileError, Format, SourceConversation, read_conversations};

    const FIXTURE: &str = include_str!("../../tests/fixtures/import/chatgpt.json");

    use super::super::testing::Outcome;

    fn read_all(file: &[u8]) -> (Vec<Outcome>, Result<(), FileError>) {
        super::super::testing::read_all(Format::ChatGpt, file)
    }

    fn fixture() -> Vec<Outcome> {
        let (seen, result) = read_all(FIXTURE.as_bytes());
        assert!(result.is_ok(), "{result:?}");
        seen
    }

    fn conversation(index: usize) -> SourceConversation {
        match fixture().into_iter().nth(index) {
            Some(Ok(conversation)) => conversation,
            other => panic!("conversation {index}: {other:?}"),
        }
    }

    /// (id, parent, role) of each message, in order.
    fn shape(conversation: &SourceConversation) -> Vec<(&str, Option<&str>, &str)> {
        conversation
            .messages
            .iter()
            .map(|m| (m.source_id.as_str(), m.parent.as_deref(), m.role.as_str()))
            .collect()
    }

    fn one(value: &serde_json::Value) -> Outcome {
        let file = serde_json::to_vec(&json!([value])).expect("json");
        let (mut seen, result) = read_all(&file);
        assert!(result.is_ok());
        assert_eq!(seen.len(), 1);
        seen.remove(0)
    }

    #[test]
    fn the_broken_conversation_is_reported_at_its_index_and_the_others_parse() {
        let seen = fixture();
        assert_eq!(seen.len(), 4);
        assert!(seen[0].is_ok() && seen[1].is_ok() && seen[3].is_ok());
        let error = seen[2].as_ref().expect_err("conversation 2 is broken");
        assert_eq!(error.index, 2);
        assert!(error.detail.contains("current_node"), "{}", error.detail);
        assert!(
            error.detail.contains("not in the mapping"),
            "{}",
            error.detail
        );
    }

    #[test]
    fn null_and_empty_nodes_are_dropped_and_hidden_system_messages_kept() {
        let c = conversation(0);
        assert_eq!(c.source_id, "6f1c2a9e-0000-4a00-8000-000000000001");
        assert_eq!(c.title, "Chart of monthly sales");
        assert_eq!(
            shape(&c),
            vec![
                ("sys-instructions", None, "system"),
                ("user-chart", Some("sys-instructions"), "user"),
                ("answer-plain", Some("user-chart"), "assistant"),
                ("thoughts-1", Some("user-chart"), "assistant"),
                ("recap-1", Some("thoughts-1"), "assistant"),
                ("answer-thought", Some("recap-1"), "assistant"),
            ]
        );
        let system = &c.messages[0];
        assert_eq!(system.metadata.get("hidden"), Some(&json!(true)));
        assert_eq!(
            system.parts,
            Some(vec![
                json!({"type": "text", "text": "I am a data analyst.\n\nAnswer briefly."})
            ])
        );
        assert_eq!(system.created_at, None, "create_time is null");
        assert_eq!(c.active_leaf.as_deref(), Some("answer-thought"));
        assert_eq!(
            c.metadata,
            json!({"import": {"format": "chatgpt", "source_id": "6f1c2a9e-0000-4a00-8000-000000000001",
                               "default_model_slug": "gpt-4o"}})
                .as_object()
                .cloned()
                .expect("object")
        );
        assert_eq!(c.created_at.map(|t| t.timestamp()), Some(1_717_000_000));
        assert!(!c.archived && !c.pinned);
    }

    #[test]
    fn a_multimodal_message_has_a_file_part_and_a_text_part() {
        let c = conversation(0);
        let user = &c.messages[1];
        assert_eq!(
            user.parts,
            Some(vec![
                json!({"type": "file", "mediaType": "image/png", "url": "file-service://file-Sales2024",
                       "filename": "sales.png",
                       "providerMetadata": {"chatgpt": {"content_type": "image_asset_pointer",
                                                        "width": 1024, "height": 640, "size_bytes": 48213}}}),
                json!({"type": "text", "text": "What does this chart show?"}),
            ])
        );
        assert_eq!(user.content, None);
        assert_eq!(user.status.as_deref(), Some("complete"));
        let attachments = &user.metadata["chatgpt"]["attachments"];
        assert_eq!(attachments[0]["name"], "sales.png");
    }

    #[test]
    fn thoughts_and_recaps_become_reasoning() {
        let c = conversation(0);
        assert_eq!(
            c.messages[3].parts,
            Some(vec![
                json!({"type": "reasoning", "text": "Reading the axes\n\nThe y axis is revenue in k$."}),
                json!({"type": "reasoning", "text": "Spotting the trend"}),
            ])
        );
        assert_eq!(
            c.messages[4].parts,
            Some(vec![
                json!({"type": "reasoning", "text": "Thought for 4 seconds"})
            ])
        );
        assert_eq!(c.messages[5].metadata["chatgpt"]["model_slug"], "o3");
    }

    #[test]
    fn edits_code_and_tool_output_keep_their_shape() {
        let c = conversation(1);
        assert_eq!(
            shape(&c),
            vec![
                ("u-hello", None, "user"),
                ("a-hello", Some("u-hello"), "assistant"),
                ("u-mean", Some("a-hello"), "user"),
                ("a-mean", Some("u-mean"), "assistant"),
                ("u-median", Some("a-hello"), "user"),
                ("a-code", Some("u-median"), "assistant"),
                ("t-output", Some("a-code"), "tool"),
                ("a-median", Some("t-output"), "assistant"),
            ]
        );
        assert_eq!(c.active_leaf.as_deref(), Some("a-median"));
        let code = &c.messages[5];
        assert_eq!(
            code.parts,
            Some(vec![json!({"type": "text",
                             "text": "```python\nimport statistics\nstatistics.median([1, 2, 3, 10])\n```"})])
        );
        assert_eq!(code.metadata["chatgpt"]["recipient"], "python");
        let tool = &c.messages[6];
        assert_eq!(
            tool.parts,
            Some(vec![json!({"type": "text", "text": "2.5"})])
        );
        assert_eq!(tool.metadata["chatgpt"]["author_name"], "python");
        assert_eq!(tool.created_at, None);
    }

    #[test]
    fn unknown_content_is_kept_as_data_and_in_progress_is_aborted() {
        let c = conversation(3);
        assert!(c.archived);
        assert_eq!(c.metadata["import"]["gizmo_id"], "g-recipes");
        assert_eq!(shape(&c).len(), 3);
        let browse = &c.messages[1];
        assert_eq!(browse.role, "tool");
        let part = &browse.parts.as_ref().expect("parts")[0];
        assert_eq!(part["type"], "data-chatgpt");
        assert_eq!(part["data"]["content_type"], "tether_browsing_display");
        assert_eq!(c.messages[2].status.as_deref(), Some("aborted"));
        assert_eq!(c.active_leaf.as_deref(), Some("a-recipe"));
    }

    #[test]
    fn a_current_node_that_was_dropped_resolves_to_its_nearest_kept_ancestor() {
        let c = one(&json!({"id": "c", "current_node": "empty", "mapping": {
            "root": {"id": "root", "message": null, "parent": null, "children": ["u"]},
            "u": {"message": {"author": {"role": "user"}, "content": {"content_type": "text", "parts": ["hi"]}},
                  "parent": "root"},
            "empty": {"message": {"author": {"role": "assistant"}, "content": {"content_type": "text", "parts": [""]}},
                      "parent": "u"}
        }}))
        .expect("usable");
        assert_eq!(c.source_id, "c");
        assert_eq!(c.active_leaf.as_deref(), Some("u"));
        assert_eq!(c.messages.len(), 1);
    }

    #[test]
    fn cycles_dangling_parents_and_unknown_roles_are_conversation_errors() {
        let text = json!({"content_type": "text", "parts": ["x"]});
        let cycle = one(&json!({"id": "c", "mapping": {
            "a": {"message": null, "parent": "b"}, "b": {"message": null, "parent": "a"}}}));
        assert!(cycle.expect_err("cycle").detail.contains("cycle"));
        let self_parent =
            one(&json!({"id": "c", "mapping": {"a": {"message": null, "parent": "a"}}}));
        assert!(self_parent.expect_err("cycle").detail.contains("cycle"));
        let dangling =
            one(&json!({"id": "c", "mapping": {"a": {"message": null, "parent": "gone"}}}));
        assert!(dangling.expect_err("dangling").detail.contains("\"gone\""));
        let role = one(&json!({"id": "c", "mapping": {
            "a": {"message": {"author": {"role": "critic"}, "content": text}}}}));
        assert!(role.expect_err("role").detail.contains("unknown role"));
        assert!(
            one(&json!({"id": "c"}))
                .expect_err("no mapping")
                .detail
                .contains("mapping")
        );
        assert!(
            one(&json!({"mapping": {}}))
                .expect_err("no id")
                .detail
                .contains("id")
        );
        let empty = one(&json!({"id": "c", "mapping": {}})).expect("an empty mapping is fine");
        assert!(empty.messages.is_empty() && empty.active_leaf.is_none());
    }

    #[test]
    fn arbitrary_json_elements_are_conversation_errors_not_panics() {
        let values = [
            json!(null),
            json!(1),
            json!("text"),
            json!([1, 2]),
            json!({"id": 5, "mapping": []}),
            json!({"id": "c", "mapping": {"a": 1}}),
            json!({"id": "c", "mapping": {"a": {"parent": 1}}}),
            json!({"id": "c", "mapping": {"a": {"message": "m"}}}),
            json!({"id": "c", "mapping": {"a": {"message": {"author": "x", "content": {}}}}}),
            json!({"id": "c", "mapping": {"a": {"message": {"author": {"role": "user"}, "content": []}}}}),
            json!({"id": "c", "current_node": 3, "mapping": {}}),
            json!({"id": "c", "create_time": "soon", "mapping": {"a": {"message": {"author": {"role": "user"},
                "create_time": 1e308, "status": 7, "metadata": [], "content": {"content_type": "multimodal_text",
                "parts": [null, 1, {"content_type": "image_asset_pointer"}, {"x": 1}]}}}}}),
        ];
        for value in values {
            let _ = one(&value);
        }
    }

    #[test]
    fn a_truncated_file_is_a_file_error_after_the_complete_conversations() {
        let cut = &FIXTURE.as_bytes()[..FIXTURE.len() * 2 / 3];
        let (seen, result) = read_all(cut);
        assert!(
            matches!(result, Err(FileError::Truncated { .. })),
            "{result:?}"
        );
        assert!(!seen.is_empty());
    }

    #[test]
    fn a_file_that_is_not_an_array_is_a_file_error() {
        for file in [&b"{\"mapping\": {}}"[..], b"\"text\"", b"42"] {
            let (seen, result) = read_all(file);
            assert!(matches!(result, Err(FileError::NotAnArray)), "{result:?}");
            assert!(seen.is_empty());
        }
        let (_, result) = read_all(b"[{}] trailing");
        assert!(
            matches!(result, Err(FileError::Syntax { .. })),
            "{result:?}"
        );
        let (_, result) = read_all(b"not json");
        assert!(
            matches!(result, Err(FileError::Syntax { .. })),
            "{result:?}"
        );
        let (_, result) = read_all(b"");
        assert!(
            matches!(result, Err(FileError::Truncated { .. })),
            "{result:?}"
        );
        let (seen, result) = read_all(b" [ ] \n");
        assert!(result.is_ok() && seen.is_empty());
    }

    #[test]
    fn breaking_stops_reading() {
        let mut seen = 0;
        let result = read_conversations(Format::ChatGpt, FIXTURE.as_bytes(), |_, _| {
            seen += 1;
            ControlFlow::Break(())
        });
        assert!(result.is_ok());
        assert_eq!(seen, 1);
    }

    /// A reader that counts the bytes it hands out.
    struct Counting<R> {
        inner: R,
        read: Rc<Cell<usize>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read.set(self.read.get() + n);
            Ok(n)
        }
    }

    fn big_file(conversations: usize) -> Vec<u8> {
        let mut file = b"[".to_vec();
        for i in 0..conversations {
            if i > 0 {
                file.push(b',');
            }
            let conversation = json!({"conversation_id": format!("c{i}"), "title": format!("Chat {i}"),
                "create_time": 1_700_000_000.5, "current_node": "a", "mapping": {
                "root": {"id": "root", "message": null, "parent": null, "children": ["u"]},
                "u": {"id": "u", "parent": "root", "children": ["a"], "message": {"id": "u",
                    "author": {"role": "user"}, "create_time": 1_700_000_001.0,
                    "content": {"content_type": "text", "parts": ["question ".repeat(20)]}}},
                "a": {"id": "a", "parent": "u", "children": [], "message": {"id": "a",
                    "author": {"role": "assistant"}, "create_time": 1_700_000_002.0, "status": "finished_successfully",
                    "content": {"content_type": "text", "parts": ["answer ".repeat(20)]}}}}});
            file.extend(serde_json::to_vec(&conversation).expect("json"));
        }
        file.push(b']');
        file
    }

    #[test]
    fn a_big_file_is_read_one_conversation_at_a_time() {
        let file = big_file(2_000);
        let read = Rc::new(Cell::new(0));
        let reader = Counting {
            inner: file.as_slice(),
            read: Rc::clone(&read),
        };
        let mut count = 0;
        let result = read_conversations(Format::ChatGpt, reader, |index, outcome| {
            if index == 0 {
                assert!(
                    read.get() < file.len() / 10,
                    "read {} of {} bytes",
                    read.get(),
                    file.len()
                );
            }
            let conversation = outcome.expect("usable");
            assert_eq!(conversation.messages.len(), 2);
            count += 1;
            ControlFlow::Continue(())
        });
        assert!(result.is_ok());
        assert_eq!(count, 2_000);
        assert_eq!(read.get(), file.len());
    }
}
