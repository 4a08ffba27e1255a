// Names for the schemas of openapi.json (src/schema.ts, generated), as the helpers use them.

import type { components } from "./schema.js";

/** Every schema of openapi.json, by name. */
export type Schemas = components["schemas"];

/** A thread (`GET /api/v1/threads/{thread_id}`). */
export type Thread = Schemas["Thread"];
/** A message, with `parts`, `status`, `parent_id` and, in path listings, `sibling_ids`. */
export type Message = Schemas["Message"];
/** `system`, `user`, `assistant` or `tool`. */
export type Role = Schemas["Role"];
/** `complete`, `streaming` (a reply still being written), `aborted` or `error`. */
export type MessageStatus = Schemas["MessageStatus"];
/** One element of a message's `parts` (the AI SDK's UIMessage parts, and any other type). */
export type UIMessagePart = Schemas["UIMessagePart"];
/** A JSON object (`metadata`, each of `sources`). */
export type JsonObject = Schemas["JsonObject"];
/** A user's thumbs up or down on a message. */
export type Feedback = Schemas["Feedback"];
/** `PUT .../feedback`: `{rating, comment?, tags?}`. */
export type FeedbackBody = Schemas["FeedbackBody"];
/** One search result: the message, its thread's id and title, and a snippet with `⟦matches⟧`. */
export type SearchHit = Schemas["SearchHit"];
/** `POST /api/v1/threads`. */
export type CreateThreadBody = Schemas["CreateThreadBody"];
/** `PATCH /api/v1/threads/{thread_id}`. */
export type UpdateThreadBody = Schemas["UpdateThreadBody"];
/** `POST /api/v1/threads/{thread_id}/messages` (and `PUT .../messages/{id}`, and each of a batch). */
export type CreateMessageBody = Schemas["CreateMessageBody"];
/** `PATCH /api/v1/threads/{thread_id}/messages/{message_id}`. */
export type UpdateMessageBody = Schemas["UpdateMessageBody"];
/** `POST /api/v1/threads/{thread_id}/fork`. */
export type ForkBody = Schemas["ForkBody"];
/** One thread of an export: `{thread, messages}` (every message, all branches). */
export type ExportDocument = Schemas["ExportDocument"];
/** `chat-history`, `chatgpt` or `claude`. */
export type ImportFormat = Schemas["ImportFormat"];
/** What an import did. */
export type ImportReport = Schemas["ImportReport"];
/** `GET /api/v1/me`. */
export type Me = Schemas["MeResponse"];
/** The `archived` filter of the thread list: `"false"` (default), `"true"` or `"all"`. */
export type ArchivedFilter = Schemas["ArchivedFilter"];
/** `asc` (root or oldest first) or `desc`. */
export type Order = Schemas["Order"];
/** `active` (the active path, the default) or `all` (every branch). */
export type Branch = Schemas["Branch"];

/** One page of a list (`next_cursor` is `null` on the last page). */
export interface Page<T> {
  data: T[];
  has_more: boolean;
  next_cursor: string | null;
}
