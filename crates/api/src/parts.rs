//! Open JSON objects, and the OpenAPI schemas of a message's `parts`: one per part type of the Vercel AI SDK's
//! `UIMessage` (AI SDK 6), and an open one for every other type, so that a client
//! generated from the document types real `UIMessage`s while the service stores any part
//! verbatim. Validation is the domain's (`MessageParts`): an object with a string `type`.
//!
//! The schemas are open (`additionalProperties` allowed) and the union is an `anyOf`: a
//! part of a known type also matches the open schema, and a field the SDK adds later does
//! not make a stored part invalid.

use std::borrow::Cow;

use serde_json::json;
use utoipa::openapi::schema::{AnyOf, Object, ObjectBuilder, Ref, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, schema::AdditionalProperties};
use utoipa::{PartialSchema, ToSchema};

/// A string property.
fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

/// Any JSON value.
fn any(description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::AnyValue)
        .description(Some(description))
        .build()
}

/// `providerMetadata` and its kin: an object of objects.
fn provider_metadata() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("Provider-specific data, kept as given."))
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
        .build()
}

/// Any JSON object (`metadata`, a source): `additionalProperties: true` said out loud, so
/// that generated clients type it as an open record rather than an empty one.
#[derive(Debug)]
pub struct JsonObject;

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::FreeForm(true)))
            .into()
    }
}

impl ToSchema for JsonObject {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JsonObject")
    }
}

/// An open object whose `type` is `kind` (a constant) or matches `pattern`.
fn part(title: &str, description: &str, kind: TypeRule) -> ObjectBuilder {
    let kind_schema = match kind {
        TypeRule::Is(name) => string("The part type.").enum_values(Some([name])),
        TypeRule::Matches(pattern, what) => string(what).pattern(Some(pattern)),
        TypeRule::Any => string("The part type."),
    };
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(title))
        .description(Some(description))
        .property("type", kind_schema)
        .required("type")
        .additional_properties(Some(AdditionalProperties::FreeForm(true)))
}

/// How a part schema names its `type`.
enum TypeRule {
    Is(&'static str),
    Matches(&'static str, &'static str),
    Any,
}

/// The states of a tool invocation.
const TOOL_STATES: [&str; 7] = [
    "input-streaming",
    "input-available",
    "approval-requested",
    "approval-responded",
    "output-available",
    "output-error",
    "output-denied",
];

/// The properties every tool invocation has (static `tool-*` and `dynamic-tool`).
fn tool_invocation(builder: ObjectBuilder) -> ObjectBuilder {
    builder
        .property("toolCallId", string("The call's id."))
        .required("toolCallId")
        .property(
            "state",
            string("Where the call stands.").enum_values(Some(TOOL_STATES)),
        )
        .required("state")
        .property(
            "input",
            any("The tool's input (partial while `input-streaming`)."),
        )
        .property("output", any("The tool's output (`output-available`)."))
        .property("errorText", string("Why the call failed (`output-error`)."))
        .property("title", string("A display title."))
        .property(
            "providerExecuted",
            ObjectBuilder::new().schema_type(Type::Boolean),
        )
        .property(
            "approval",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("A tool-approval request or response."))
                .additional_properties(Some(AdditionalProperties::FreeForm(true))),
        )
        .property("callProviderMetadata", provider_metadata())
}

/// The named part schemas, in the order of the union.
fn part_schemas() -> Vec<(&'static str, Object)> {
    let streaming_state = || {
        string("`streaming` while it grows, then `done`.").enum_values(Some(["streaming", "done"]))
    };
    vec![
        (
            "TextUIPart",
            part("Text", "Text the model or the user wrote.", TypeRule::Is("text"))
                .property("text", string("The text."))
                .required("text")
                .property("state", streaming_state())
                .property("providerMetadata", provider_metadata())
                .build(),
        ),
        (
            "ReasoningUIPart",
            part("Reasoning", "The model's reasoning.", TypeRule::Is("reasoning"))
                .property("text", string("The reasoning text."))
                .required("text")
                .property("state", streaming_state())
                .property("providerMetadata", provider_metadata())
                .build(),
        ),
        (
            "ToolUIPart",
            tool_invocation(part(
                "Tool call",
                "A call of a tool known to the app, with its input and result.",
                TypeRule::Matches("^tool-", "`tool-` followed by the tool's name."),
            ))
            .build(),
        ),
        (
            "DynamicToolUIPart",
            tool_invocation(part(
                "Dynamic tool call",
                "A call of a tool not known in advance (MCP and the like).",
                TypeRule::Is("dynamic-tool"),
            ))
            .property("toolName", string("The tool's name."))
            .required("toolName")
            .build(),
        ),
        (
            "SourceUrlUIPart",
            part("Source URL", "A web page the answer draws on.", TypeRule::Is("source-url"))
                .property("sourceId", string("The source's id."))
                .required("sourceId")
                .property("url", string("The page's URL."))
                .required("url")
                .property("title", string("The page's title."))
                .property("providerMetadata", provider_metadata())
                .build(),
        ),
        (
            "SourceDocumentUIPart",
            part(
                "Source document",
                "A document the answer draws on.",
                TypeRule::Is("source-document"),
            )
            .property("sourceId", string("The source's id."))
            .required("sourceId")
            .property("mediaType", string("Its IANA media type."))
            .required("mediaType")
            .property("title", string("Its title."))
            .required("title")
            .property("filename", string("Its file name."))
            .property("providerMetadata", provider_metadata())
            .build(),
        ),
        (
            "FileUIPart",
            part("File", "A file, by URL (often a data URL).", TypeRule::Is("file"))
                .property("mediaType", string("Its IANA media type."))
                .required("mediaType")
                .property("url", string("Where it is (or a data URL)."))
                .required("url")
                .property("filename", string("Its file name."))
                .property("providerMetadata", provider_metadata())
                .build(),
        ),
        (
            "DataUIPart",
            part(
                "Data",
                "App-defined data streamed with the reply.",
                TypeRule::Matches("^data-", "`data-` followed by the data's name."),
            )
            .property("id", string("Lets a later part of the same id replace this one."))
            .property("data", any("The data."))
            .required("data")
            .build(),
        ),
        (
            "StepStartUIPart",
            part(
                "Step start",
                "Marks the start of a step of a multi-step reply.",
                TypeRule::Is("step-start"),
            )
            .build(),
        ),
        (
            "OtherUIPart",
            part(
                "Any other part",
                "A part of a type this document does not list (a future AI SDK type, or an app's own): stored and returned verbatim.",
                TypeRule::Any,
            )
            .build(),
        ),
    ]
}

/// One element of a message's `parts`.
#[derive(Debug)]
pub struct UiMessagePart;

impl PartialSchema for UiMessagePart {
    fn schema() -> RefOr<Schema> {
        let mut union = AnyOf::new();
        for (name, _) in part_schemas() {
            union.items.push(Ref::from_schema_name(name).into());
        }
        union.description = Some(
            "An AI SDK `UIMessage` part: an object with a string `type`, stored and returned verbatim."
                .into(),
        );
        union.example = Some(json!({"type": "text", "text": "Hello!"}));
        Schema::AnyOf(union).into()
    }
}

impl ToSchema for UiMessagePart {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("UIMessagePart")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for (name, schema) in part_schemas() {
            schemas.push((name.to_owned(), Schema::Object(schema).into()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_schema_requires_a_string_type_and_stays_open() {
        for (name, schema) in part_schemas() {
            let value = serde_json::to_value(&schema).expect("serializable");
            assert_eq!(value["required"][0], "type", "{name}");
            assert_eq!(value["properties"]["type"]["type"], "string", "{name}");
            assert_eq!(value["additionalProperties"], true, "{name}");
        }
        let union = serde_json::to_value(UiMessagePart::schema()).expect("serializable");
        assert_eq!(
            union["anyOf"].as_array().map(Vec::len),
            Some(part_schemas().len())
        );
    }
}
