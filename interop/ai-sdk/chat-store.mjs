// chat-store.mjs: keep Vercel AI SDK (6.x) chats in chat-history.
//
// What a Next.js route handler (or any server-side JavaScript) needs to load a chat into
// `useChat({ messages })`, to save the user's message, and to save the reply while it
// streams and once more when it ends. docs/guides/ai-sdk.md shows it in use;
// ai-sdk.test.mjs runs it against the real binary.
//
// A chat is a thread; its messages are the thread's active path (root to active leaf).
// `{id, role, parts, metadata}` of a stored message is a `UIMessage`, so nothing is
// converted: parts go in and come back verbatim.
import { readUIMessageStream } from "ai";

/**
 * Where chat-history is and whose credential to send. Make one per request, for the
 * signed-in user: the service keeps each user's threads apart by the token's user.
 *
 * @typedef {object} ChatHistoryClient
 * @property {string} baseUrl The service's origin, e.g. `http://127.0.0.1:8080` (no `/api/v1`).
 * @property {string | (() => string | Promise<string>)} token A Better Auth JWT or session
 *   token, sent as `Authorization: Bearer <token>`; a function is called before each request
 *   (for short-lived JWTs).
 */

/** @typedef {import("ai").UIMessage} UIMessage */

/**
 * The status of a stored message: `complete`, `streaming` (a reply still being written),
 * `aborted` (stopped by the user) or `error` (the model failed).
 *
 * @typedef {"complete" | "streaming" | "aborted" | "error"} MessageStatus
 */

/**
 * A thread as the API returns it (the fields used here; see the API reference for all).
 *
 * @typedef {object} Thread
 * @property {string} id
 * @property {string} title
 * @property {Record<string, unknown>} metadata
 * @property {string | null} active_leaf_id The last message of the active path.
 * @property {string | null} active_stream_id The reply stream in flight, if any.
 * @property {string} updated_at
 */

/**
 * A message as the API returns it (the fields used here).
 *
 * @typedef {object} StoredMessage
 * @property {string} id
 * @property {string} thread_id
 * @property {string | null} parent_id
 * @property {"system" | "user" | "assistant" | "tool"} role
 * @property {string} content The text of the `text` parts (what search reads).
 * @property {UIMessage["parts"]} parts
 * @property {Record<string, unknown>} metadata
 * @property {MessageStatus} status
 * @property {string[]} [sibling_ids] In path listings: the versions of this message.
 * @property {string} updated_at
 */

/**
 * A non-2xx answer. `problem` is the RFC 9457 problem document the service sent
 * (`{type, title, status, detail, code}`, plus `field` on a 422); switch on `code`
 * (docs/errors.md).
 */
export class ChatHistoryError extends Error {
  /**
   * @param {string} what The request, e.g. `PUT /api/v1/threads/.../messages/...`.
   * @param {number} status
   * @param {any} problem The parsed body (or its text when it is not JSON).
   */
  constructor(what, status, problem) {
    const detail = problem?.code ? `${problem.code}: ${problem.detail ?? problem.title}` : "";
    super(`${what} answered ${status}${detail ? ` (${detail})` : ""}`);
    this.name = "ChatHistoryError";
    this.status = status;
    this.problem = problem;
    this.code = problem?.code;
  }
}

/**
 * One request to the service.
 *
 * @param {ChatHistoryClient} client
 * @param {string} method
 * @param {string} path From `/api/v1/...` on.
 * @param {{body?: unknown, ifMatch?: string}} [options] `ifMatch`: an `ETag` read earlier;
 *   the service answers 412 if the resource changed since.
 * @returns {Promise<{status: number, etag: string | null, body: any}>} `body` is the parsed
 *   JSON (`null` for 204).
 * @throws {ChatHistoryError} on any status outside 2xx.
 */
export async function callApi(client, method, path, { body, ifMatch } = {}) {
  const token = typeof client.token === "function" ? await client.token() : client.token;
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (ifMatch !== undefined) headers["if-match"] = ifMatch;
  const res = await fetch(`${client.baseUrl.replace(/\/+$/, "")}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) throw new ChatHistoryError(`${method} ${path}`, res.status, parsed);
  return { status: res.status, etag: res.headers.get("etag"), body: parsed };
}

/** A UUID for `useChat({ generateId })` and `generateMessageId`: the service's ids are UUIDs. */
export function generateUuid() {
  return crypto.randomUUID();
}

/** @param {string} threadId */
const threadPath = (threadId) => `/api/v1/threads/${encodeURIComponent(threadId)}`;

/**
 * Creates a thread (a new chat). Its `id` is the `id` to give `useChat`.
 *
 * @param {ChatHistoryClient} client
 * @param {{id?: string, title?: string, metadata?: object}} [fields] A client `id` makes the
 *   call safe to retry.
 * @returns {Promise<Thread>}
 */
export async function createThread(client, fields = {}) {
  const { body } = await callApi(client, "POST", "/api/v1/threads", { body: fields });
  return body;
}

/**
 * Reads a thread, with the `ETag` to send back as `ifMatch`.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @returns {Promise<{thread: Thread, etag: string | null}>}
 */
export async function getThread(client, threadId) {
  const { body, etag } = await callApi(client, "GET", threadPath(threadId));
  return { thread: body, etag };
}

/**
 * The stored messages of the chat, root first, along the thread's active path (the
 * branch the user last looked at), following `next_cursor` until the end. Each carries
 * `status`, `parent_id`, `sibling_ids` (for "2 / 3" switchers) and the rest of the API's
 * Message.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {{through?: string}} [options] `through`: another branch instead, the path from
 *   the root through that message (and on down through the newest replies).
 * @returns {Promise<StoredMessage[]>}
 */
export async function loadMessages(client, threadId, { through } = {}) {
  const messages = [];
  let cursor = null;
  do {
    const query = new URLSearchParams({ limit: "100" });
    if (through) query.set("through", through);
    if (cursor) query.set("cursor", cursor);
    const { body } = await callApi(client, "GET", `${threadPath(threadId)}/messages?${query}`);
    messages.push(...body.data);
    cursor = body.next_cursor;
  } while (cursor);
  return messages;
}

/**
 * The `UIMessage` of a stored message: its `id`, `role`, `parts` and `metadata`, as
 * stored. (A `role: "tool"` message, which only a client of the plain REST API writes, is
 * not a `UIMessage`.)
 *
 * @param {StoredMessage} message
 * @returns {UIMessage}
 */
export function toUIMessage({ id, role, parts, metadata }) {
  return { id, role: /** @type {UIMessage["role"]} */ (role), parts, metadata };
}

/**
 * The chat as `useChat({ messages })` and `convertToModelMessages` take it.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {{through?: string}} [options] As for {@link loadMessages}.
 * @returns {Promise<UIMessage[]>}
 */
export async function loadChat(client, threadId, options) {
  return (await loadMessages(client, threadId, options)).map(toUIMessage);
}

/**
 * Creates or replaces one message under its own id (`PUT .../messages/{message.id}`):
 * call it as often as the message changes. The first call creates it (201), later ones
 * replace its parts, metadata and status (200). The role, and the parent, of a stored
 * message never change: another role or parent is 409 `message_conflict`.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {UIMessage} message Its `id` must be a UUID.
 * @param {{status: MessageStatus, parentId?: string | null, ifMatch?: string}} options
 *   `parentId`: the message this one answers or follows (`null`: a new root); omitted, the
 *   service uses the thread's active leaf when it creates the message. Give the same value
 *   on every call for one message.
 * @returns {Promise<{message: StoredMessage, etag: string | null, created: boolean}>}
 */
export async function saveMessage(client, threadId, message, { status, parentId, ifMatch }) {
  /** @type {Record<string, unknown>} */
  const body = {
    role: message.role,
    parts: message.parts,
    metadata: message.metadata ?? {},
    status,
  };
  if (parentId !== undefined) body.parent_id = parentId;
  const res = await callApi(
    client,
    "PUT",
    `${threadPath(threadId)}/messages/${encodeURIComponent(message.id)}`,
    { body, ifMatch },
  );
  return { message: res.body, etag: res.etag, created: res.status === 201 };
}

/**
 * One stored message, or `null` when the thread has no message with that id.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {string} messageId
 * @returns {Promise<StoredMessage | null>}
 */
export async function findMessage(client, threadId, messageId) {
  try {
    const path = `${threadPath(threadId)}/messages/${encodeURIComponent(messageId)}`;
    return (await callApi(client, "GET", path)).body;
  } catch (e) {
    if (e instanceof ChatHistoryError && e.status === 404 && e.code === "message_not_found") {
      return null;
    }
    throw e;
  }
}

/**
 * JSON with the keys of every object sorted: equal for equal values, whatever the key order.
 *
 * @param {unknown} value
 */
function canonicalJson(value) {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Records the user's turn, and returns the chat the reply answers (the `originalMessages`
 * of `toUIMessageStreamResponse`): the stored path from the root down to `parentId`,
 * then the user's message.
 *
 * - A message the thread does not have yet is checked with `validate` (the AI SDK's
 *   `validateUIMessages` with your tools), then saved as `complete` under `parentId`. It
 *   becomes the thread's active leaf.
 * - A message it has, unchanged (`useChat`'s `regenerate()` sends the user message being
 *   answered again), is taken as stored: the new reply becomes a sibling of the earlier
 *   one, and both stay readable. A message it has with other parts (an edit in place) is
 *   refused: an edited message comes with a new id, and becomes a sibling of the
 *   original.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {UIMessage} message The last message `useChat` sent: the user's.
 * @param {string | null} parentId The message before it in the client's list (`null`
 *   when it is the first).
 * @param {{validate?: (messages: UIMessage[]) => Promise<UIMessage[]>}} [options]
 * @returns {Promise<UIMessage[]>}
 */
export async function saveUserTurn(client, threadId, message, parentId, { validate } = {}) {
  if (message?.role !== "user") throw new TypeError("the message to answer must be the user's");
  /** @type {UIMessage[]} */
  let history = [];
  if (parentId !== null) {
    history = await loadChat(client, threadId, { through: parentId });
    history = history.slice(0, history.findIndex((m) => m.id === parentId) + 1);
  }
  const stored = await findMessage(client, threadId, message.id);
  if (stored !== null) {
    if (stored.role !== "user" || stored.parent_id !== parentId) {
      throw new TypeError(`message ${message.id} is stored elsewhere in the chat`);
    }
    if (canonicalJson(stored.parts) !== canonicalJson(message.parts)) {
      throw new TypeError(`message ${message.id} was edited: send an edited message with a new id`);
    }
    const messages = [...history, toUIMessage(stored)];
    return validate ? validate(messages) : messages;
  }
  const messages = validate ? await validate([...history, message]) : [...history, message];
  await saveMessage(client, threadId, messages[messages.length - 1], {
    status: "complete",
    parentId,
  });
  return messages;
}

/**
 * Sets (or, with `null`, clears) the thread's `active_stream_id`: the id of the reply
 * stream in flight, for clients that resume it. It changes the thread's `ETag` but not
 * its place in the thread list.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {string | null} streamId 1 to 128 characters of `[A-Za-z0-9._-]` (a UUID fits).
 * @param {{ifMatch?: string}} [options] With `ifMatch`, a compare-and-set: 412 if the
 *   thread changed since that `ETag` was read.
 * @returns {Promise<{thread: Thread, etag: string | null}>}
 */
export async function setActiveStream(client, threadId, streamId, { ifMatch } = {}) {
  const { body, etag } = await callApi(client, "PATCH", threadPath(threadId), {
    body: { active_stream_id: streamId },
    ifMatch,
  });
  return { thread: body, etag };
}

/**
 * Clears `active_stream_id` only while it is still `streamId`, so that a reply ending
 * late never clears the id of a newer one: read, then PATCH with `If-Match`, again if
 * something else changed the thread in between.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {string} streamId
 * @returns {Promise<boolean>} Whether it cleared it.
 */
export async function clearActiveStream(client, threadId, streamId) {
  for (let attempt = 0; ; attempt++) {
    const { thread, etag } = await getThread(client, threadId);
    if (thread.active_stream_id !== streamId) return false;
    try {
      await setActiveStream(client, threadId, null, { ifMatch: etag ?? "*" });
      return true;
    } catch (e) {
      if (!(e instanceof ChatHistoryError && e.status === 412) || attempt >= 4) throw e;
    }
  }
}

/**
 * The status to save a finished reply with, from the event `onFinish` of
 * `toUIMessageStreamResponse` receives: `aborted` when it was stopped, `error` when the
 * model failed, else `complete`.
 *
 * @param {{isAborted: boolean, finishReason?: string, outcome?: {status: string}}} event
 * @returns {MessageStatus}
 */
export function finalStatus({ isAborted, finishReason, outcome }) {
  if (isAborted) return "aborted";
  if (finishReason === "error" || outcome?.status === "failed") return "error";
  return "complete";
}

/**
 * The UI message chunks of a UI message stream in its Server-Sent Events form (the copy
 * `toUIMessageStreamResponse({ consumeSseStream })` hands over: one `data: <json>` event
 * per chunk, then `data: [DONE]`).
 *
 * @param {ReadableStream<string>} sse
 * @returns {ReadableStream<import("ai").UIMessageChunk>}
 */
export function uiMessageChunksFromSse(sse) {
  let buffered = "";
  /**
   * @param {string} event
   * @param {TransformStreamDefaultController<any>} controller
   */
  const emit = (event, controller) => {
    for (const line of event.split("\n")) {
      if (!line.startsWith("data:")) continue; // comments (keep-alives) and other fields
      const data = line.slice(5).trim();
      if (data === "[DONE]") continue;
      try {
        controller.enqueue(JSON.parse(data));
      } catch {
        // Not a chunk: skip it, as the AI SDK's client does with what it cannot parse.
      }
    }
  };
  return sse.pipeThrough(
    new TransformStream({
      transform(text, controller) {
        buffered += text;
        let end;
        while ((end = buffered.indexOf("\n\n")) !== -1) {
          emit(buffered.slice(0, end), controller);
          buffered = buffered.slice(end + 2);
        }
      },
      flush(controller) {
        if (buffered) emit(buffered, controller);
      },
    }),
  );
}

/**
 * Saves one assistant reply while it streams: `status: "streaming"` at most every
 * `throttleMs`, one request at a time, then once more with its final status. The writes
 * never overtake each other, and nothing is written after `finish`.
 *
 * In a route handler: `follow` the stream copy in `consumeSseStream`, `finish` in
 * `onFinish` (see docs/guides/ai-sdk.md). Reading that copy to its end also keeps the
 * reply going, and saved, when the browser goes away.
 *
 * @param {ChatHistoryClient} client
 * @param {string} threadId
 * @param {{parentId: string, throttleMs?: number, onError?: (error: unknown) => void}} options
 *   `parentId`: the user message being answered. `onError`: told about a failed
 *   intermediate save (the stream goes on; the final save throws instead).
 * @returns {{
 *   update: (message: UIMessage) => void,
 *   follow: (sse: ReadableStream<string>) => Promise<void>,
 *   finish: (message: UIMessage, status: MessageStatus) => ReturnType<typeof saveMessage>,
 * }}
 */
export function createReplySaver(
  client,
  threadId,
  { parentId, throttleMs = 500, onError = (e) => console.error("chat-history:", e) },
) {
  /** @type {UIMessage | null} */
  let pending = null; // the newest snapshot not yet sent
  /** @type {Promise<void> | null} */
  let writing = null; // the save in flight
  /** @type {ReturnType<typeof setTimeout> | null} */
  let timer = null;
  let finished = false;

  function schedule() {
    if (finished || pending === null || writing !== null || timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      if (finished || pending === null) return;
      const message = pending;
      pending = null;
      writing = saveMessage(client, threadId, message, { status: "streaming", parentId })
        .then(() => {}, onError)
        .finally(() => {
          writing = null;
          schedule();
        });
    }, throttleMs);
  }

  /**
   * Queues a snapshot of the growing reply (of those queued, only the newest is sent).
   *
   * @param {UIMessage} message
   */
  function update(message) {
    if (finished) return;
    pending = message;
    schedule();
  }

  /**
   * Reads the reply's SSE copy to its end, queueing each state of the message. Never
   * throws (a stream error goes to `onError`).
   *
   * @param {ReadableStream<string>} sse
   * @returns {Promise<void>}
   */
  async function follow(sse) {
    try {
      const snapshots = readUIMessageStream({
        stream: uiMessageChunksFromSse(sse),
        // An `error` chunk (the model failed) is part of the reply, not a failed save:
        // `onFinish` saves the reply with status `error` then.
        onError: () => {},
      });
      for await (const message of snapshots) update(message);
    } catch (e) {
      onError(e);
    }
  }

  /**
   * Saves the final state, after the save in flight (if any); later updates are ignored.
   *
   * @param {UIMessage} message
   * @param {MessageStatus} status
   * @returns {ReturnType<typeof saveMessage>}
   */
  async function finish(message, status) {
    finished = true;
    pending = null;
    if (timer !== null) clearTimeout(timer);
    timer = null;
    await writing;
    return saveMessage(client, threadId, message, { status, parentId });
  }

  return { update, follow, finish };
}
