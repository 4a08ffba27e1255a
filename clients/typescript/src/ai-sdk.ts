// Vercel AI SDK 6 glue that needs no request: ids, the UIMessage of a stored message, the
// version switcher of a path listing, a reply's final status, and the UI message chunks of
// the SSE copy a route handler receives. The requests are methods of the client (client.ts).

import type { UIMessage, UIMessageChunk } from "ai";

import { SseParser } from "./sse.js";
import type { Message, MessageStatus } from "./types.js";

/**
 * A UUID (v4, `crypto.randomUUID()`): the service's message and thread ids are UUIDs, and
 * the AI SDK's default ids (16 characters) are not. Give it to `useChat({ generateId })`
 * and to `toUIMessageStreamResponse({ generateMessageId })`. (In a browser
 * `crypto.randomUUID` needs a secure context: HTTPS, or localhost.)
 */
export function generateUuid(): string {
  return crypto.randomUUID();
}

/**
 * The `UIMessage` of a stored message: its `id`, `role`, `parts` and `metadata`, as stored
 * (nothing is converted). `M` is your app's UIMessage type (typed tools, data parts,
 * metadata): the service returns what was saved, so it is taken on trust. A `role: "tool"`
 * message (only a client of the plain REST API writes one) is not a UIMessage.
 */
export function toUIMessage<M extends UIMessage = UIMessage>(message: Message): M {
  const { id, role, parts, metadata } = message;
  return { id, role, parts, metadata } as unknown as M;
}

/** The versions of one message of a path listing, for a "< 2 / 3 >" switcher. */
export interface MessageVersions {
  /** The ids of the message and its siblings (same parent; for roots: the roots), oldest first. */
  ids: string[];
  /** The position of this message in `ids` (0-based): show `index + 1` / `ids.length`. */
  index: number;
  /** The version before it (`<`), or `null`. */
  previous: string | null;
  /** The version after it (`>`), or `null`. */
  next: string | null;
}

/**
 * The versions of a message, from its `sibling_ids` (present in path listings: the default
 * listing and `through`). A message without them (other answers) is its only version.
 */
export function messageVersions(message: Pick<Message, "id" | "sibling_ids">): MessageVersions {
  const ids = message.sibling_ids && message.sibling_ids.length > 0 ? message.sibling_ids : [message.id];
  const found = ids.indexOf(message.id);
  const index = found === -1 ? 0 : found;
  return { ids, index, previous: ids[index - 1] ?? null, next: ids[index + 1] ?? null };
}

/**
 * The status to save a finished reply with, from the event `onFinish` of
 * `toUIMessageStreamResponse` receives: `aborted` when it was stopped, `error` when the
 * model failed, else `complete`.
 */
export function finalStatus(event: {
  isAborted: boolean;
  finishReason?: string | undefined;
  outcome?: { status: string } | undefined;
}): MessageStatus {
  if (event.isAborted) return "aborted";
  if (event.finishReason === "error" || event.outcome?.status === "failed") return "error";
  return "complete";
}

/**
 * The UI message chunks of a UI message stream in its Server-Sent Events form (the copy
 * `toUIMessageStreamResponse({ consumeSseStream })` hands over: one `data: <json>` event
 * per chunk, then `data: [DONE]`). Data that is not JSON is skipped, as the AI SDK's client
 * does.
 */
export function uiMessageChunksFromSse(sse: ReadableStream<string>): ReadableStream<UIMessageChunk> {
  let parser: SseParser;
  return sse.pipeThrough(
    new TransformStream<string, UIMessageChunk>({
      start(controller) {
        parser = new SseParser({
          onEvent: ({ data }) => {
            if (data === "[DONE]") return;
            try {
              controller.enqueue(JSON.parse(data) as UIMessageChunk);
            } catch {
              // not a chunk
            }
          },
        });
      },
      transform(text) {
        parser.push(text);
      },
      flush() {
        parser.push("\n\n"); // a last event without its blank line
        parser.end();
      },
    }),
  );
}

/** JSON with the keys of every object sorted: equal for equal values, whatever the key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}
