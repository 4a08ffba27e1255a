// The client: a typed openapi-fetch client of openapi.json (`api`), and the calls an app
// makes, each a method that answers the resource or throws a ChatHistoryError.

import type { UIMessage } from "ai";
import createClient, { type Client, type Middleware } from "openapi-fetch";

import {
  canonicalJson,
  messageVersions,
  toUIMessage,
  uiMessageChunksFromSse,
  type MessageVersions,
} from "./ai-sdk.js";
import { ChatHistoryError, isChatHistoryError, retryAfterSeconds } from "./errors.js";
import { subscribe, type SubscribeOptions, type Subscription } from "./events.js";
import type { paths } from "./schema.js";
import type {
  ArchivedFilter,
  Branch,
  CreateMessageBody,
  CreateThreadBody,
  ExportDocument,
  Feedback,
  FeedbackBody,
  ImportFormat,
  ImportReport,
  JsonObject,
  Me,
  Message,
  MessageStatus,
  Order,
  Page,
  SearchHit,
  Thread,
  UpdateMessageBody,
  UpdateThreadBody,
} from "./types.js";

/** How to reach the service, and as whom. */
export interface ChatHistoryClientOptions {
  /** The service's origin, e.g. `http://127.0.0.1:8080` (without `/api/v1`). */
  baseUrl: string;
  /**
   * A Better Auth JWT or session token, sent as `Authorization: Bearer <token>`. Omit it
   * (and `getToken`) in a browser signed in with the Better Auth cookie.
   */
  token?: string;
  /** Called before each request instead (short-lived JWTs); `null` sends no `Authorization`. */
  getToken?: () => string | null | undefined | Promise<string | null | undefined>;
  /** The `fetch` to use (default `globalThis.fetch`). */
  fetch?: (request: Request) => Promise<Response>;
  /** Headers for every request (e.g. `X-Request-Id`). */
  headers?: Record<string, string>;
  /**
   * `credentials` of every request. Default: `"include"` without a token (the session
   * cookie goes to the service's origin, which must list yours in `TRUSTED_ORIGINS`),
   * else the `fetch` default.
   */
  credentials?: RequestCredentials;
  /**
   * Retries of idempotent requests (GET, PUT, DELETE) after a network failure, a 503 or a
   * 429: `attempts` in all (default 3), waiting `Retry-After` (or 250 ms, then doubling) as
   * long as that is at most `maxDelayMs` (default 5000). `false`: no retries.
   */
  retry?: false | { attempts?: number; maxDelayMs?: number };
}

/** A thread with the `ETag` to send back as `ifMatch`. */
export interface ThreadWithETag {
  thread: Thread;
  etag: string | null;
}

/** A message with its `ETag`. */
export interface MessageWithETag {
  message: Message;
  etag: string | null;
}

/** A saved message: `created` when this call created it (201), false when it replaced or replayed it (200). */
export interface SavedMessage extends MessageWithETag {
  created: boolean;
}

/** A precondition: the `ETag` read earlier (`*`: it must exist). */
export interface IfMatch {
  ifMatch?: string | undefined;
}

/** `GET /api/v1/threads` query. */
export interface ListThreadsQuery {
  limit?: number;
  cursor?: string;
  archived?: ArchivedFilter;
  pinned?: boolean;
}

/** `GET .../messages` query. */
export interface ListMessagesQuery {
  limit?: number;
  cursor?: string;
  order?: Order;
  branch?: Branch;
  through?: string;
}

/** Which path to load: the active one (default), or the one `through` a message and on down. */
export interface PathOptions {
  through?: string | undefined;
}

/** One message of a loaded path, beyond its UIMessage. */
export interface PathMessageInfo {
  /** The message it follows (`null` for a root). */
  parentId: string | null;
  /** `streaming` while a reply is still being written. */
  status: MessageStatus;
  /** Its versions, for a "< 2 / 3 >" switcher. */
  versions: MessageVersions;
  updatedAt: string;
}

/** A thread's path as `useChat` takes it, with what a UI shows around it. */
export interface Conversation<M extends UIMessage = UIMessage> {
  /** Root first: hand it to `useChat({ messages })`. */
  messages: M[];
  /** By message id: parent, status and versions. */
  info: Record<string, PathMessageInfo>;
}

/** `saveMessage` options. */
export interface SaveMessageOptions extends IfMatch {
  /** `streaming` while the reply grows, then `complete`, `aborted` or `error`. */
  status: MessageStatus;
  /**
   * The message it follows (`null`: a new root). Omitted: the thread's active leaf when the
   * message is created. Give the same value on every save of one message (another parent
   * is 409 `message_conflict`).
   */
  parentId?: string | null | undefined;
  /** Retrieval citations (default `[]`). */
  sources?: JsonObject[] | undefined;
}

/** What `createReplySaver` returns. */
export interface ReplySaver<M extends UIMessage = UIMessage> {
  /** Queues a snapshot of the growing reply (of those queued, only the newest is sent). */
  update(message: M): void;
  /**
   * Reads a reply's SSE copy (`consumeSseStream`) to its end, queueing each state of the
   * message (with the AI SDK's `readUIMessageStream`). Never throws: errors go to `onError`.
   */
  follow(sse: ReadableStream<string>): Promise<void>;
  /** Saves the final state after the save in flight; later updates are ignored. */
  finish(message: M, status: MessageStatus): Promise<SavedMessage>;
}

/** The body of an import: the file, whole or streamed. */
export type ImportFile =
  | string
  | Blob
  | ArrayBuffer
  | Uint8Array
  | ReadableStream<Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/** The client `createChatHistoryClient` makes. Every method throws ChatHistoryError on a non-2xx answer. */
export interface ChatHistoryClient {
  /** The typed openapi-fetch client of openapi.json, with the credential and retries set. */
  readonly api: Client<paths>;
  /** The service's origin. */
  readonly baseUrl: string;

  /** `GET /api/v1/me`: who the credential is. */
  me(): Promise<Me>;

  // Threads
  /** One page of threads, most recently updated first. */
  listThreads(query?: ListThreadsQuery): Promise<Page<Thread>>;
  /** Every thread of the filter, page after page. */
  threads(query?: Omit<ListThreadsQuery, "cursor">): AsyncGenerator<Thread>;
  /** Creates a thread (a chat; its `id` is `useChat`'s `id`). A client `id` makes it safe to retry. */
  createThread(body?: CreateThreadBody): Promise<Thread>;
  /** One thread, with its `ETag`. */
  getThread(threadId: string): Promise<ThreadWithETag>;
  /** `PATCH` of the fields given (`If-Match` with `ifMatch`). */
  updateThread(threadId: string, patch: UpdateThreadBody, options?: IfMatch): Promise<ThreadWithETag>;
  renameThread(threadId: string, title: string): Promise<Thread>;
  /** Archives (`true`, default) or unarchives it. */
  archiveThread(threadId: string, archived?: boolean): Promise<Thread>;
  /** Pins (`true`, default) or unpins it. */
  pinThread(threadId: string, pinned?: boolean): Promise<Thread>;
  /** Deletes it and all its messages. */
  deleteThread(threadId: string): Promise<void>;
  /** A new thread holding copies of the path from the root to `messageId`. */
  forkThread(threadId: string, messageId: string, options?: { id?: string; title?: string }): Promise<Thread>;
  /** Full-text search over the caller's messages, best match first. */
  search(q: string, options?: { limit?: number; cursor?: string }): Promise<Page<SearchHit>>;

  // Messages
  /** One page of messages (the active path by default). */
  listMessages(threadId: string, query?: ListMessagesQuery): Promise<Page<Message>>;
  /** The messages of the active path (or `through` a message), root first, every page; each with `sibling_ids`. */
  loadMessages(threadId: string, options?: PathOptions): Promise<Message[]>;
  /** Every message of every branch, in `created_at, id` order (build the tree from `parent_id`). */
  loadTree(threadId: string): Promise<Message[]>;
  /** The path as UIMessages: `useChat({ messages })`. */
  loadChat<M extends UIMessage = UIMessage>(threadId: string, options?: PathOptions): Promise<M[]>;
  /** The path as UIMessages, with each message's status and versions (the "< 2 / 3 >" switcher). */
  loadConversation<M extends UIMessage = UIMessage>(threadId: string, options?: PathOptions): Promise<Conversation<M>>;
  /** One message, with its `ETag`. */
  getMessage(threadId: string, messageId: string): Promise<MessageWithETag>;
  /**
   * One message, or `null` when the service answers 404 `message_not_found` (no such
   * message in the thread; this service also answers so when the thread itself is missing).
   */
  findMessage(threadId: string, messageId: string): Promise<Message | null>;
  /** `POST .../messages`: appends one (a client `id` makes it safe to retry). */
  appendMessage(threadId: string, body: CreateMessageBody): Promise<SavedMessage>;
  /** `POST .../messages/batch`: 1 to 100 messages, all or none. */
  appendMessages(threadId: string, messages: CreateMessageBody[]): Promise<Message[]>;
  /**
   * `PUT .../messages/{message.id}`: creates the message (201) or replaces its parts,
   * metadata, sources and status (200). Safe to repeat: call it as the reply grows
   * (`streaming`) and once more at the end (`complete`, `aborted`, `error`).
   */
  saveMessage<M extends UIMessage>(threadId: string, message: M, options: SaveMessageOptions): Promise<SavedMessage>;
  /** `PATCH` of a message's fields. */
  updateMessage(threadId: string, messageId: string, patch: UpdateMessageBody, options?: IfMatch): Promise<MessageWithETag>;
  /** Deletes a message (its children move up), or with `subtree` the message and all below it. */
  deleteMessage(threadId: string, messageId: string, options?: { subtree?: boolean }): Promise<void>;
  /** Thumbs up or down (replaces earlier feedback). */
  setFeedback(threadId: string, messageId: string, feedback: FeedbackBody): Promise<Feedback>;
  clearFeedback(threadId: string, messageId: string): Promise<void>;

  // Branches
  /** Makes `messageId` the active leaf, exactly (`null`: the path through the newest root). */
  setActiveLeaf(threadId: string, messageId: string | null, options?: IfMatch): Promise<ThreadWithETag>;
  /**
   * Shows another version: the path through `messageId` and on down through the newest
   * replies becomes the active path (its last message the active leaf).
   */
  switchToVersion(threadId: string, messageId: string, options?: IfMatch): Promise<ThreadWithETag>;

  // The reply stream in flight
  /** Sets (or with `null` clears) `active_stream_id`; with `ifMatch` a compare-and-set. */
  setActiveStream(threadId: string, streamId: string | null, options?: IfMatch): Promise<ThreadWithETag>;
  /**
   * Sets `active_stream_id` to `streamId` only if none is set (compare-and-set); true when
   * it did. `takeOver` may allow replacing a set one (e.g. a stale reply's).
   */
  claimActiveStream(threadId: string, streamId: string, options?: { takeOver?: (thread: Thread) => boolean }): Promise<boolean>;
  /** Clears `active_stream_id` only while it is still `streamId` (compare-and-set); true when it did. */
  clearActiveStream(threadId: string, streamId: string): Promise<boolean>;

  // AI SDK
  /**
   * Records the user's turn and returns the chat the reply answers (`originalMessages`):
   * the stored path down to `parentId`, then the user's message (saved `complete` unless
   * it is stored already, unchanged: a regeneration). An edit in place is refused.
   */
  saveUserTurn<M extends UIMessage = UIMessage>(
    threadId: string,
    message: M,
    parentId: string | null,
    options?: { validate?: (messages: M[]) => Promise<M[]> },
  ): Promise<M[]>;
  /** Saves one reply while it streams (throttled `streaming` saves, then the final one). */
  createReplySaver<M extends UIMessage = UIMessage>(
    threadId: string,
    options: { parentId: string; throttleMs?: number; onError?: (error: unknown) => void },
  ): ReplySaver<M>;

  // Bulk history
  /** `GET /api/v1/me/export`: each thread `{thread, messages}`, as the lines arrive. */
  exportHistory(options?: { signal?: AbortSignal }): AsyncGenerator<ExportDocument>;
  /** The same, each line as its text (without the newline). */
  exportHistoryLines(options?: { signal?: AbortSignal }): AsyncGenerator<string>;
  /** `POST /api/v1/me/import?format=`: imports a file (an export, ChatGPT's or Claude's `conversations.json`). */
  importHistory(file: ImportFile, options?: { format?: ImportFormat; signal?: AbortSignal }): Promise<ImportReport>;
  /** One thread as JSON (`{thread, messages}`, every branch). */
  exportThread(threadId: string): Promise<ExportDocument>;
  /** One thread's active path as Markdown. */
  exportThreadMarkdown(threadId: string): Promise<string>;
  /** Deletes all of the caller's threads and messages. */
  deleteHistory(): Promise<void>;

  // Events
  /** Subscribes to the caller's live events (see SubscribeOptions). */
  subscribe(options: SubscribeOptions): Subscription;
}

/** What an openapi-fetch call answers. */
type Outcome = { data?: unknown; error?: unknown; response: Response };

const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"]);

function delay(ms: number, signal: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Creates a client of the service at `baseUrl`, sending `token` (or `getToken()`) as a bearer token. */
export function createChatHistoryClient(options: ChatHistoryClientOptions): ChatHistoryClient {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const baseFetch = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  const hasToken = options.token !== undefined || options.getToken !== undefined;
  const attempts = options.retry === false ? 1 : Math.max(1, options.retry?.attempts ?? 3);
  const maxDelayMs = options.retry === false ? 0 : (options.retry?.maxDelayMs ?? 5000);
  const credentials = options.credentials ?? (hasToken ? undefined : "include");

  /** fetch, again for idempotent requests after a network failure, 429 or 503. */
  async function retryingFetch(request: Request): Promise<Response> {
    if (attempts === 1 || !IDEMPOTENT.has(request.method)) return baseFetch(request);
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      const backoff = 250 * 2 ** (attempt - 1);
      let response: Response;
      try {
        response = await baseFetch(last ? request : request.clone());
      } catch (error) {
        if (last || request.signal.aborted || backoff > maxDelayMs) throw error;
        await delay(backoff, request.signal);
        continue;
      }
      if (last || (response.status !== 429 && response.status !== 503)) return response;
      const after = retryAfterSeconds(response.headers);
      const wait = after === null ? backoff : after * 1000;
      if (wait > maxDelayMs) return response;
      await response.body?.cancel().catch(() => {});
      await delay(wait, request.signal);
    }
  }

  const api = createClient<paths>({
    baseUrl,
    fetch: retryingFetch,
    ...(options.headers ? { headers: options.headers } : {}),
    ...(credentials ? { credentials } : {}),
  });
  const auth: Middleware = {
    async onRequest({ request }) {
      const token = options.getToken ? await options.getToken() : options.token;
      if (token) request.headers.set("authorization", `Bearer ${token}`);
      return request;
    },
  };
  api.use(auth);

  /** The data of a 2xx answer, else a ChatHistoryError. */
  function unwrap<R extends Outcome>(
    method: string,
    outcome: R,
  ): { data: Exclude<R["data"], undefined>; response: Response } {
    const { response } = outcome;
    if (!response.ok) {
      throw new ChatHistoryError({ method, url: response.url, response, body: outcome.error });
    }
    return { data: outcome.data as Exclude<R["data"], undefined>, response };
  }

  const etagOf = (response: Response) => response.headers.get("etag");
  const page = <T>(p: { data: T[]; has_more: boolean; next_cursor?: string | null }): Page<T> => ({
    data: p.data,
    has_more: p.has_more,
    next_cursor: p.next_cursor ?? null,
  });
  const threadPath = (thread_id: string) => ({ path: { thread_id } });
  const messagePath = (thread_id: string, message_id: string) => ({ path: { thread_id, message_id } });
  const ifMatchHeader = (ifMatch: string | undefined) => (ifMatch === undefined ? {} : { "If-Match": ifMatch });

  const client: ChatHistoryClient = {
    api,
    baseUrl,

    async me() {
      return unwrap("GET", await api.GET("/api/v1/me")).data;
    },

    async listThreads(query = {}) {
      return page(unwrap("GET", await api.GET("/api/v1/threads", { params: { query } })).data);
    },

    async *threads(query = {}) {
      let cursor: string | null = null;
      do {
        const p: Page<Thread> = await client.listThreads({ limit: 100, ...query, ...(cursor ? { cursor } : {}) });
        yield* p.data;
        cursor = p.next_cursor;
      } while (cursor);
    },

    async createThread(body = {}) {
      return unwrap("POST", await api.POST("/api/v1/threads", { body })).data;
    },

    async getThread(threadId) {
      const { data, response } = unwrap(
        "GET",
        await api.GET("/api/v1/threads/{thread_id}", { params: threadPath(threadId) }),
      );
      return { thread: data, etag: etagOf(response) };
    },

    async updateThread(threadId, patch, { ifMatch } = {}) {
      const { data, response } = unwrap(
        "PATCH",
        await api.PATCH("/api/v1/threads/{thread_id}", {
          params: { ...threadPath(threadId), header: ifMatchHeader(ifMatch) },
          body: patch,
        }),
      );
      return { thread: data, etag: etagOf(response) };
    },

    async renameThread(threadId, title) {
      return (await client.updateThread(threadId, { title })).thread;
    },

    async archiveThread(threadId, archived = true) {
      return (await client.updateThread(threadId, { archived })).thread;
    },

    async pinThread(threadId, pinned = true) {
      return (await client.updateThread(threadId, { pinned })).thread;
    },

    async deleteThread(threadId) {
      unwrap("DELETE", await api.DELETE("/api/v1/threads/{thread_id}", { params: threadPath(threadId) }));
    },

    async forkThread(threadId, messageId, { id, title } = {}) {
      const body = { message_id: messageId, ...(id === undefined ? {} : { id }), ...(title === undefined ? {} : { title }) };
      return unwrap(
        "POST",
        await api.POST("/api/v1/threads/{thread_id}/fork", { params: threadPath(threadId), body }),
      ).data;
    },

    async search(q, { limit, cursor } = {}) {
      const query = { q, ...(limit === undefined ? {} : { limit }), ...(cursor === undefined ? {} : { cursor }) };
      return page(unwrap("GET", await api.GET("/api/v1/search", { params: { query } })).data);
    },

    async listMessages(threadId, query = {}) {
      return page(
        unwrap(
          "GET",
          await api.GET("/api/v1/threads/{thread_id}/messages", { params: { ...threadPath(threadId), query } }),
        ).data,
      );
    },

    async loadMessages(threadId, { through } = {}) {
      const messages: Message[] = [];
      let cursor: string | null = null;
      do {
        const p: Page<Message> = await client.listMessages(threadId, {
          limit: 100,
          ...(through === undefined ? {} : { through }),
          ...(cursor ? { cursor } : {}),
        });
        messages.push(...p.data);
        cursor = p.next_cursor;
      } while (cursor);
      return messages;
    },

    async loadTree(threadId) {
      const messages: Message[] = [];
      let cursor: string | null = null;
      do {
        const p: Page<Message> = await client.listMessages(threadId, {
          limit: 100,
          branch: "all",
          ...(cursor ? { cursor } : {}),
        });
        messages.push(...p.data);
        cursor = p.next_cursor;
      } while (cursor);
      return messages;
    },

    async loadChat<M extends UIMessage = UIMessage>(threadId: string, options?: PathOptions) {
      return (await client.loadMessages(threadId, options)).map((m) => toUIMessage<M>(m));
    },

    async loadConversation<M extends UIMessage = UIMessage>(threadId: string, options?: PathOptions) {
      const stored = await client.loadMessages(threadId, options);
      const info: Record<string, PathMessageInfo> = {};
      for (const m of stored) {
        info[m.id] = {
          parentId: m.parent_id ?? null,
          status: m.status,
          versions: messageVersions(m),
          updatedAt: m.updated_at,
        };
      }
      return { messages: stored.map((m) => toUIMessage<M>(m)), info };
    },

    async getMessage(threadId, messageId) {
      const { data, response } = unwrap(
        "GET",
        await api.GET("/api/v1/threads/{thread_id}/messages/{message_id}", {
          params: messagePath(threadId, messageId),
        }),
      );
      return { message: data, etag: etagOf(response) };
    },

    async findMessage(threadId, messageId) {
      try {
        return (await client.getMessage(threadId, messageId)).message;
      } catch (e) {
        if (isChatHistoryError(e, "message_not_found")) return null;
        throw e;
      }
    },

    async appendMessage(threadId, body) {
      const { data, response } = unwrap(
        "POST",
        await api.POST("/api/v1/threads/{thread_id}/messages", { params: threadPath(threadId), body }),
      );
      return { message: data, etag: etagOf(response), created: response.status === 201 };
    },

    async appendMessages(threadId, messages) {
      return unwrap(
        "POST",
        await api.POST("/api/v1/threads/{thread_id}/messages/batch", {
          params: threadPath(threadId),
          body: { messages },
        }),
      ).data.data;
    },

    async saveMessage(threadId, message, { status, parentId, ifMatch, sources }) {
      const body: CreateMessageBody = {
        role: message.role,
        parts: message.parts,
        metadata: (message.metadata ?? {}) as JsonObject,
        status,
        ...(parentId === undefined ? {} : { parent_id: parentId }),
        ...(sources === undefined ? {} : { sources }),
      };
      const { data, response } = unwrap(
        "PUT",
        await api.PUT("/api/v1/threads/{thread_id}/messages/{message_id}", {
          params: { ...messagePath(threadId, message.id), header: ifMatchHeader(ifMatch) },
          body,
        }),
      );
      return { message: data, etag: etagOf(response), created: response.status === 201 };
    },

    async updateMessage(threadId, messageId, patch, { ifMatch } = {}) {
      const { data, response } = unwrap(
        "PATCH",
        await api.PATCH("/api/v1/threads/{thread_id}/messages/{message_id}", {
          params: { ...messagePath(threadId, messageId), header: ifMatchHeader(ifMatch) },
          body: patch,
        }),
      );
      return { message: data, etag: etagOf(response) };
    },

    async deleteMessage(threadId, messageId, { subtree } = {}) {
      unwrap(
        "DELETE",
        await api.DELETE("/api/v1/threads/{thread_id}/messages/{message_id}", {
          params: { ...messagePath(threadId, messageId), query: subtree === undefined ? {} : { subtree } },
        }),
      );
    },

    async setFeedback(threadId, messageId, feedback) {
      return unwrap(
        "PUT",
        await api.PUT("/api/v1/threads/{thread_id}/messages/{message_id}/feedback", {
          params: messagePath(threadId, messageId),
          body: feedback,
        }),
      ).data;
    },

    async clearFeedback(threadId, messageId) {
      unwrap(
        "DELETE",
        await api.DELETE("/api/v1/threads/{thread_id}/messages/{message_id}/feedback", {
          params: messagePath(threadId, messageId),
        }),
      );
    },

    async setActiveLeaf(threadId, messageId, options) {
      return client.updateThread(threadId, { active_leaf_id: messageId }, options);
    },

    async switchToVersion(threadId, messageId, options) {
      // The last message of the path through it (newest replies on down) is the new leaf.
      const { data } = await client.listMessages(threadId, { through: messageId, order: "desc", limit: 1 });
      const leaf = data[0]?.id ?? messageId;
      return client.setActiveLeaf(threadId, leaf, options);
    },

    async setActiveStream(threadId, streamId, options) {
      return client.updateThread(threadId, { active_stream_id: streamId }, options);
    },

    async claimActiveStream(threadId, streamId, { takeOver } = {}) {
      for (let attempt = 0; ; attempt++) {
        const { thread, etag } = await client.getThread(threadId);
        const current = thread.active_stream_id ?? null;
        if (current === streamId) return true;
        if (current !== null && !takeOver?.(thread)) return false;
        try {
          await client.setActiveStream(threadId, streamId, { ifMatch: etag ?? "*" });
          return true;
        } catch (e) {
          // Something changed the thread since it was read (another claim?): look again.
          if (!isChatHistoryError(e, "precondition_failed") || attempt >= 4) throw e;
        }
      }
    },

    async clearActiveStream(threadId, streamId) {
      for (let attempt = 0; ; attempt++) {
        const { thread, etag } = await client.getThread(threadId);
        if ((thread.active_stream_id ?? null) !== streamId) return false;
        try {
          await client.setActiveStream(threadId, null, { ifMatch: etag ?? "*" });
          return true;
        } catch (e) {
          if (!isChatHistoryError(e, "precondition_failed") || attempt >= 4) throw e;
        }
      }
    },

    async saveUserTurn<M extends UIMessage = UIMessage>(
      threadId: string,
      message: M,
      parentId: string | null,
      { validate }: { validate?: (messages: M[]) => Promise<M[]> } = {},
    ): Promise<M[]> {
      if (message?.role !== "user") throw new TypeError("the message to answer must be the user's");
      let history: M[] = [];
      if (parentId !== null) {
        history = await client.loadChat<M>(threadId, { through: parentId });
        history = history.slice(0, history.findIndex((m) => m.id === parentId) + 1);
      }
      const stored = await client.findMessage(threadId, message.id);
      if (stored !== null) {
        if (stored.role !== "user" || (stored.parent_id ?? null) !== parentId) {
          throw new TypeError(`message ${message.id} is stored elsewhere in the chat`);
        }
        if (canonicalJson(stored.parts) !== canonicalJson(message.parts)) {
          throw new TypeError(`message ${message.id} was edited: send an edited message with a new id`);
        }
        const messages = [...history, toUIMessage<M>(stored)];
        return validate ? validate(messages) : messages;
      }
      const messages = validate ? await validate([...history, message]) : [...history, message];
      const last = messages[messages.length - 1];
      if (last === undefined) throw new TypeError("validate returned no messages");
      await client.saveMessage(threadId, last, { status: "complete", parentId });
      return messages;
    },

    createReplySaver<M extends UIMessage = UIMessage>(
      threadId: string,
      {
        parentId,
        throttleMs = 500,
        onError = (e: unknown) => console.error("chat-history:", e),
      }: { parentId: string; throttleMs?: number; onError?: (error: unknown) => void },
    ): ReplySaver<M> {
      let pending: M | null = null; // the newest snapshot not yet sent
      let writing: Promise<void> | null = null; // the save in flight
      let timer: ReturnType<typeof setTimeout> | null = null;
      let finished = false;

      function schedule() {
        if (finished || pending === null || writing !== null || timer !== null) return;
        timer = setTimeout(() => {
          timer = null;
          if (finished || pending === null) return;
          const message = pending;
          pending = null;
          writing = client
            .saveMessage(threadId, message, { status: "streaming", parentId })
            .then(() => {}, onError)
            .finally(() => {
              writing = null;
              schedule();
            });
        }, throttleMs);
      }

      function update(message: M) {
        if (finished) return;
        pending = message;
        schedule();
      }

      async function follow(sse: ReadableStream<string>) {
        try {
          // Loaded here: the rest of the client runs without the AI SDK (in a browser bundle).
          const { readUIMessageStream } = await import("ai");
          const snapshots = readUIMessageStream<M>({
            stream: uiMessageChunksFromSse(sse),
            // An `error` chunk (the model failed) is part of the reply, not a failed save.
            onError: () => {},
          });
          for await (const message of snapshots) update(message);
        } catch (e) {
          onError(e);
        }
      }

      async function finish(message: M, status: MessageStatus) {
        finished = true;
        pending = null;
        if (timer !== null) clearTimeout(timer);
        timer = null;
        await writing;
        return client.saveMessage(threadId, message, { status, parentId });
      }

      return { update, follow, finish };
    },

    async *exportHistoryLines({ signal } = {}) {
      const { data } = unwrap(
        "GET",
        await api.GET("/api/v1/me/export", { parseAs: "stream", ...(signal ? { signal } : {}) }),
      );
      if (!data) return;
      const reader = data.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end: number;
          while ((end = buffer.indexOf("\n")) !== -1) {
            const line = buffer.slice(0, end).replace(/\r$/, "");
            buffer = buffer.slice(end + 1);
            if (line.trim() !== "") yield line;
          }
        }
        if (buffer.trim() !== "") yield buffer;
      } finally {
        await reader.cancel().catch(() => {});
      }
    },

    async *exportHistory(options = {}) {
      for await (const line of client.exportHistoryLines(options)) yield JSON.parse(line) as ExportDocument;
    },

    async importHistory(file, { format, signal } = {}) {
      let body: BodyInit;
      if (
        typeof file === "string" ||
        file instanceof Blob ||
        file instanceof ArrayBuffer ||
        file instanceof Uint8Array ||
        file instanceof ReadableStream
      ) {
        body = file as BodyInit;
      } else {
        const iterator = file[Symbol.asyncIterator]();
        const encoder = new TextEncoder();
        body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            const { value, done } = await iterator.next();
            if (done) controller.close();
            else controller.enqueue(typeof value === "string" ? encoder.encode(value) : value);
          },
          async cancel() {
            await iterator.return?.();
          },
        });
      }
      return unwrap(
        "POST",
        await api.POST("/api/v1/me/import", {
          params: { query: format === undefined ? {} : { format } },
          // The file as it is: openapi.json types this body as a string.
          body: body as unknown as string,
          bodySerializer: (b: unknown) => b,
          headers: { "content-type": "application/octet-stream" },
          // A streamed body needs half duplex (fetch's rule).
          ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
          ...(signal ? { signal } : {}),
        }),
      ).data;
    },

    async exportThread(threadId) {
      const { data } = unwrap(
        "GET",
        await api.GET("/api/v1/threads/{thread_id}/export", {
          params: { ...threadPath(threadId), query: { format: "json" } },
        }),
      );
      return data as ExportDocument;
    },

    async exportThreadMarkdown(threadId) {
      return unwrap(
        "GET",
        await api.GET("/api/v1/threads/{thread_id}/export", {
          params: { ...threadPath(threadId), query: { format: "markdown" } },
          parseAs: "text",
        }),
      ).data;
    },

    async deleteHistory() {
      unwrap("DELETE", await api.DELETE("/api/v1/me/history"));
    },

    subscribe(subscribeOptions) {
      return subscribe({ api, baseUrl, fetch: baseFetch, hasToken }, subscribeOptions);
    },
  };
  return client;
}
