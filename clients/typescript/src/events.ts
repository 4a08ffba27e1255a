// Live events (`GET /api/v1/events`): the caller's own changes as they commit, typed.
//
// Two transports. On a server, or anywhere with a bearer token: a streamed `fetch` (an
// `EventSource` cannot send an `Authorization` header), parsed here, reconnecting with
// `Last-Event-ID` after the stream ends or the connection drops. In a browser signed in
// with the Better Auth cookie: the browser's `EventSource` (`withCredentials`), which
// reconnects with `Last-Event-ID` by itself.

import type { Client } from "openapi-fetch";

import { ChatHistoryError } from "./errors.js";
import type { paths } from "./schema.js";
import { SseParser } from "./sse.js";
import type { Message, Thread } from "./types.js";

/** An event of the stream, by its `event:` type, with its `data:` as the schema types it. */
export type ChatHistoryEvent =
  | { type: "thread.created"; id: string; data: { thread: Thread } }
  | { type: "thread.updated"; id: string; data: { thread: Thread } }
  | { type: "thread.deleted"; id: string; data: { thread_id: string } }
  | { type: "message.created"; id: string; data: { message: Message } }
  | { type: "message.updated"; id: string; data: { message: Message } }
  | { type: "message.deleted"; id: string; data: { thread_id: string; message_id: string } }
  /**
   * Events were lost (the `Last-Event-ID` is no longer retained, or was never issued; or
   * a browser's `EventSource` had to be opened anew): reload what you show.
   */
  | { type: "reset"; id: string | null; data: { reason: string } };

/** `thread.created`, ..., `message.deleted`, `reset`. */
export type ChatHistoryEventType = ChatHistoryEvent["type"];

/** The event types the service sends, in the order of API.md. */
export const EVENT_TYPES: readonly ChatHistoryEventType[] = [
  "thread.created",
  "thread.updated",
  "thread.deleted",
  "message.created",
  "message.updated",
  "message.deleted",
  "reset",
];

const KNOWN = new Set<string>(EVENT_TYPES);

/** The parts of an `EventSource` this module uses (the browser's, or a polyfill). */
export interface EventSourceLike {
  readonly readyState: number;
  onopen: ((this: any, ev: Event) => any) | null;
  onerror: ((this: any, ev: Event) => any) | null;
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
}

/** `new EventSource(url, { withCredentials })`. */
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** How to subscribe. */
export interface SubscribeOptions {
  /** Called with each event, in order. */
  onEvent: (event: ChatHistoryEvent) => void;
  /**
   * Told about each failure: `willRetry` is true when the subscription reconnects by
   * itself (a dropped connection, an ended stream, 429 or 503), false when it stops (401,
   * 404 for an unknown `threadId`, `reconnect: false`).
   */
  onError?: (error: unknown, info: { willRetry: boolean }) => void;
  /** The stream is open (again). */
  onOpen?: () => void;
  /** Only this thread's events (a thread of the caller's, else 404 and the subscription stops). */
  threadId?: string;
  /**
   * Resume after this event id (`Last-Event-ID`): every later event comes first. An id no
   * longer retained, or unknown, gets a `reset` event first. Fetch transport only.
   */
  lastEventId?: string;
  /**
   * `fetch` (default when the client has a token) or `eventsource` (default without a
   * token: the browser's `EventSource`, which sends the session cookie).
   */
  transport?: "fetch" | "eventsource";
  /** Reconnect when the stream ends or fails (default true). */
  reconnect?: boolean;
  /** Stops the subscription when aborted (as `close()` does). */
  signal?: AbortSignal;
  /** The `EventSource` to use (default `globalThis.EventSource`), e.g. a polyfill. */
  EventSource?: EventSourceConstructor;
  /** `withCredentials` of the `EventSource` (default true: the cookie goes cross-origin too). */
  withCredentials?: boolean;
}

/** A running subscription. */
export interface Subscription {
  /** Stops it (closes the stream; no more callbacks). */
  close(): void;
  /** The id of the last event received (what a reconnect sends as `Last-Event-ID`). */
  readonly lastEventId: string | null;
  /** Settles when the subscription has stopped for good (`close()`, abort, or a fatal error). */
  readonly closed: Promise<void>;
}

/** What the client hands to `subscribe`. */
export interface EventsContext {
  api: Client<paths>;
  baseUrl: string;
  /** fetch without the client's retries (the subscription retries by itself). */
  fetch: (request: Request) => Promise<Response>;
  hasToken: boolean;
}

const RETRYABLE = new Set([429, 503]);

/**
 * Turns an SSE event into a typed one, or `null` for a type this version does not know.
 * Throws a SyntaxError when `data` is not JSON.
 */
export function toChatHistoryEvent(type: string, data: string, id: string | null): ChatHistoryEvent | null {
  if (!KNOWN.has(type)) return null;
  return { type, id: id || (type === "reset" ? null : ""), data: JSON.parse(data) } as ChatHistoryEvent;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Subscribes to the caller's events; see SubscribeOptions. */
export function subscribe(context: EventsContext, options: SubscribeOptions): Subscription {
  const transport = options.transport ?? (context.hasToken ? "fetch" : "eventsource");
  return transport === "fetch" ? subscribeWithFetch(context, options) : subscribeWithEventSource(context, options);
}

function subscribeWithFetch(context: EventsContext, options: SubscribeOptions): Subscription {
  const controller = new AbortController();
  const signal = controller.signal;
  const stop = () => controller.abort();
  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  const reconnect = options.reconnect ?? true;
  let lastEventId: string | null = options.lastEventId ?? null;
  let retryMs = 2000;

  const report = (error: unknown, willRetry: boolean) => {
    if (!signal.aborted) options.onError?.(error, { willRetry });
  };

  async function connectOnce(): Promise<{ retry: boolean; delayMs: number }> {
    const query = options.threadId === undefined ? {} : { thread_id: options.threadId };
    const header = lastEventId === null ? {} : { "Last-Event-ID": lastEventId };
    const { data, error, response } = await context.api.GET("/api/v1/events", {
      params: { query, header },
      parseAs: "stream",
      signal,
      fetch: context.fetch,
    });
    if (error !== undefined || !response.ok || !data) {
      const failure = new ChatHistoryError({ method: "GET", url: response.url, response, body: error });
      const retry = reconnect && RETRYABLE.has(response.status);
      report(failure, retry);
      return { retry, delayMs: failure.retryAfter !== null ? failure.retryAfter * 1000 : retryMs };
    }
    options.onOpen?.();
    const parser = new SseParser({
      onRetry: (ms) => {
        retryMs = ms;
      },
      onEvent: ({ event, data: text, lastEventId: id }) => {
        if (signal.aborted) return;
        if (id !== "") lastEventId = id;
        let typed: ChatHistoryEvent | null;
        try {
          typed = toChatHistoryEvent(event, text, id);
        } catch (error) {
          report(error, true); // data that is not JSON: skipped
          return;
        }
        if (typed) options.onEvent(typed);
      },
    });
    const reader = data.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.push(value);
        // An `id:` line also moves it without an event (the stream's opening line).
        if (parser.lastEventId !== "") lastEventId = parser.lastEventId;
      }
    } finally {
      parser.end();
      await reader.cancel().catch(() => {});
    }
    // The service ended the stream (shutdown, a slow reader): pick up where it stopped.
    report(new Error("the event stream ended"), reconnect);
    return { retry: reconnect, delayMs: retryMs };
  }

  const closed = (async () => {
    while (!signal.aborted) {
      let next: { retry: boolean; delayMs: number };
      try {
        next = await connectOnce();
      } catch (error) {
        if (signal.aborted) break;
        report(error, reconnect); // the connection failed or dropped
        next = { retry: reconnect, delayMs: retryMs };
      }
      if (!next.retry || signal.aborted) break;
      await sleep(next.delayMs, signal);
    }
    options.signal?.removeEventListener("abort", stop);
    controller.abort();
  })();

  return {
    close: stop,
    get lastEventId() {
      return lastEventId;
    },
    closed,
  };
}

const CLOSED = 2;

function subscribeWithEventSource(context: EventsContext, options: SubscribeOptions): Subscription {
  const Found = options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
  if (!Found) {
    throw new TypeError("no EventSource here: pass a token for the fetch transport, or an EventSource");
  }
  const Source: EventSourceConstructor = Found;
  const url = new URL(`${context.baseUrl}/api/v1/events`);
  if (options.threadId !== undefined) url.searchParams.set("thread_id", options.threadId);
  const reconnect = options.reconnect ?? true;
  let lastEventId: string | null = null;
  let source: EventSourceLike | null = null;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });

  const stop = () => {
    if (stopped) return;
    stopped = true;
    if (timer !== null) clearTimeout(timer);
    source?.close();
    options.signal?.removeEventListener("abort", stop);
    resolveClosed();
  };

  function open(reopened: boolean) {
    if (stopped) return;
    const current = new Source(url.toString(), { withCredentials: options.withCredentials ?? true });
    source = current;
    let announced = !reopened;
    current.onopen = () => {
      if (stopped || source !== current) return;
      options.onOpen?.();
      if (!announced) {
        // A new EventSource cannot send the old Last-Event-ID: what came meanwhile is lost.
        announced = true;
        options.onEvent({ type: "reset", id: null, data: { reason: "reconnected" } });
      }
    };
    for (const type of EVENT_TYPES) {
      current.addEventListener(type, (event) => {
        if (stopped || source !== current) return;
        if (event.lastEventId) lastEventId = event.lastEventId;
        let typed: ChatHistoryEvent | null;
        try {
          typed = toChatHistoryEvent(type, event.data, event.lastEventId || null);
        } catch (error) {
          options.onError?.(error, { willRetry: true }); // data that is not JSON: skipped
          return;
        }
        if (typed) options.onEvent(typed);
      });
    }
    current.onerror = () => {
      if (stopped || source !== current) return;
      // Open or connecting: the browser reconnects by itself, with Last-Event-ID.
      const gaveUp = current.readyState === CLOSED;
      const willRetry = !gaveUp || reconnect;
      options.onError?.(new Error(gaveUp ? "the event stream was refused" : "the event stream dropped"), {
        willRetry,
      });
      if (!gaveUp) return;
      current.close();
      if (!reconnect) return stop();
      // After a 429 or 503 the browser gives up: open a new one later.
      timer = setTimeout(() => {
        timer = null;
        open(true);
      }, 5000);
    };
  }

  options.signal?.addEventListener("abort", stop, { once: true });
  if (options.signal?.aborted) stop();
  else open(false);

  return {
    close: stop,
    get lastEventId() {
      return lastEventId;
    },
    closed,
  };
}
