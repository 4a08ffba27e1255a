// Live events against the real binary: over a streamed fetch with a bearer token (writes
// show up typed; Last-Event-ID replays; an unknown id gets `reset`; a dropped connection
// reconnects by itself), the thread filter, fatal errors, and the EventSource transport.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  ChatHistoryError,
  SseParser,
  createChatHistoryClient,
  type ChatHistoryClient,
  type ChatHistoryEvent,
  type SubscribeOptions,
  type Subscription,
} from "../src/index.js";
import { startService, waitFor, within, type Service } from "../test-support/service.js";

let service: Service;

before(async () => {
  service = await startService();
});

after(async () => {
  await service?.stop();
});

interface Collected {
  sub: Subscription;
  events: ChatHistoryEvent[];
  errors: { error: unknown; willRetry: boolean }[];
  opens: number;
}

/** Subscribes, collecting what arrives, and waits (at most 10 s) until the stream is open. */
async function collect(client: ChatHistoryClient, options: Partial<SubscribeOptions> = {}): Promise<Collected> {
  const collected: Collected = { sub: undefined as unknown as Subscription, events: [], errors: [], opens: 0 };
  collected.sub = client.subscribe({
    ...options,
    onEvent: (event) => collected.events.push(event),
    onError: (error, { willRetry }) => collected.errors.push({ error, willRetry }),
    onOpen: () => {
      collected.opens += 1;
    },
  });
  await waitFor("the event stream to open", 10_000, () => collected.opens > 0 || collected.errors.length > 0);
  return collected;
}

/** Waits (at most 10 s) for an event matching `match`, and returns it. */
function eventOf<T extends ChatHistoryEvent["type"]>(
  collected: Collected,
  type: T,
  match: (event: Extract<ChatHistoryEvent, { type: T }>) => boolean = () => true,
): Promise<Extract<ChatHistoryEvent, { type: T }>> {
  return waitFor(`a ${type} event`, 10_000, () =>
    collected.events.find((e): e is Extract<ChatHistoryEvent, { type: T }> => e.type === type && match(e as never)),
  );
}

async function close(...collected: Collected[]) {
  for (const c of collected) {
    c.sub.close();
    await within("the subscription to close", 5_000, c.sub.closed);
  }
}

describe("events over a streamed fetch with a bearer token", () => {
  test("a write shows up as typed events, with the data GET answers", async () => {
    const client = service.clientFor("ann");
    const live = await collect(client);
    try {
      assert.deepEqual(live.errors, []);
      const thread = await client.createThread({ title: "Live" });
      const created = await eventOf(live, "thread.created", (e) => e.data.thread.id === thread.id);
      assert.deepEqual(created.data.thread, thread);
      assert.match(created.id, /^\d{16}$/);

      const { message } = await client.appendMessage(thread.id, { role: "user", content: "Hello" });
      const appended = await eventOf(live, "message.created", (e) => e.data.message.id === message.id);
      assert.deepEqual(appended.data.message, message);
      const updated = await eventOf(live, "thread.updated", (e) => e.data.thread.message_count === 1);
      assert.equal(updated.data.thread.id, thread.id);

      await client.deleteMessage(thread.id, message.id);
      const deleted = await eventOf(live, "message.deleted");
      assert.deepEqual(deleted.data, { thread_id: thread.id, message_id: message.id });
      await client.deleteThread(thread.id);
      assert.deepEqual((await eventOf(live, "thread.deleted")).data, { thread_id: thread.id });

      const ids = live.events.map((e) => e.id ?? "");
      assert.deepEqual([...ids].sort(), ids, "ids increase");
      assert.equal(new Set(ids).size, ids.length, "no duplicates");
      assert.equal(live.sub.lastEventId, ids.at(-1));
      assert.ok(!live.events.some((e) => e.type === "reset"));
      assert.deepEqual(live.errors, []);
    } finally {
      await close(live);
    }
  });

  test("reconnecting with Last-Event-ID replays what came meanwhile: same ids and data, in order", async () => {
    const client = service.clientFor("ben");
    const live = await collect(client);
    const first = await collect(client);
    try {
      const t1 = await client.createThread({ title: "One" });
      await eventOf(first, "thread.created", (e) => e.data.thread.id === t1.id);
      const resumeAt = first.sub.lastEventId;
      assert.ok(resumeAt);
      await close(first);

      // While no stream of `first` is open:
      const t2 = await client.createThread({ title: "Two" });
      await client.appendMessage(t2.id, { role: "user", content: "Meanwhile" });
      await client.renameThread(t1.id, "One, renamed");
      await eventOf(live, "thread.updated", (e) => e.data.thread.title === "One, renamed");
      const missed = live.events.filter((e) => (e.id ?? "") > resumeAt);
      assert.ok(missed.length >= 4, JSON.stringify(missed.map((e) => e.type)));

      const resumed = await collect(client, { lastEventId: resumeAt });
      try {
        await waitFor("the replay", 10_000, () => resumed.events.length >= missed.length);
        assert.deepEqual(resumed.events.slice(0, missed.length), missed);
        // ...then live ones.
        const t3 = await client.createThread({ title: "Three" });
        await eventOf(resumed, "thread.created", (e) => e.data.thread.id === t3.id);
        assert.ok(!resumed.events.some((e) => e.type === "reset"));
        assert.deepEqual(resumed.errors, []);
      } finally {
        await close(resumed);
      }
    } finally {
      await close(live);
    }
  });

  test("an unknown Last-Event-ID gets a reset event first, then live events", async () => {
    const client = service.clientFor("cleo");
    await client.createThread({ title: "Something happened" });
    for (const unknown of ["9999999999999999", "not-an-event-id"]) {
      const stream = await collect(client, { lastEventId: unknown });
      try {
        const reset = await eventOf(stream, "reset");
        assert.equal(stream.events[0], reset, "reset comes first");
        assert.equal(typeof reset.data.reason, "string");
        const thread = await client.createThread({ title: "After the reset" });
        await eventOf(stream, "thread.created", (e) => e.data.thread.id === thread.id);
      } finally {
        await close(stream);
      }
    }
  });

  test("a dropped connection reconnects by itself with Last-Event-ID, missing nothing", async () => {
    const requests: (string | null)[] = [];
    const client = createChatHistoryClient({
      baseUrl: service.baseUrl,
      token: service.jwtFor("dora"),
      fetch: async (request) => {
        const response = await fetch(request);
        if (!new URL(request.url).pathname.endsWith("/events")) return response;
        requests.push(request.headers.get("last-event-id"));
        if (requests.length > 1 || !response.body) return response;
        // The first stream breaks right after its first event (as a dropped connection would).
        const reader = response.body.getReader();
        let seen = "";
        const body = new ReadableStream<Uint8Array>({
          async pull(controller) {
            if (seen.includes("\nevent: ")) {
              await reader.cancel();
              controller.error(new TypeError("the connection dropped (this test cut it)"));
              return;
            }
            const { value, done } = await reader.read();
            if (done) return controller.close();
            seen += new TextDecoder().decode(value);
            controller.enqueue(value);
          },
        });
        return new Response(body, { status: response.status, headers: response.headers });
      },
    });
    const stream = await collect(client);
    try {
      const t1 = await client.createThread({ title: "Before the drop" });
      const e1 = await eventOf(stream, "thread.created", (e) => e.data.thread.id === t1.id);
      await waitFor("the drop to be reported", 10_000, () => stream.errors.length > 0);
      assert.equal(stream.errors[0]?.willRetry, true);
      const t2 = await client.createThread({ title: "During the drop" });
      await eventOf(stream, "thread.created", (e) => e.data.thread.id === t2.id);
      assert.deepEqual(requests, [null, e1.id], "the second request resumed after the last event received");
      assert.equal(stream.opens, 2);
      const ids = stream.events.map((e) => e.id);
      assert.equal(new Set(ids).size, ids.length, "no duplicates");
      assert.ok(!stream.events.some((e) => e.type === "reset"));
    } finally {
      await close(stream);
    }
  });
});

describe("the thread filter and fatal errors", () => {
  test("threadId: only that thread's events", async () => {
    const client = service.clientFor("eve");
    const watched = await client.createThread({ title: "Watched" });
    const other = await client.createThread({ title: "Other" });
    const stream = await collect(client, { threadId: watched.id });
    try {
      await client.appendMessage(other.id, { role: "user", content: "elsewhere" });
      const { message } = await client.appendMessage(watched.id, { role: "user", content: "here" });
      await eventOf(stream, "message.created", (e) => e.data.message.id === message.id);
      // Events come in commit order: the other thread's would have come first.
      for (const e of stream.events) {
        const threadId =
          "thread" in e.data ? e.data.thread.id : "message" in e.data ? e.data.message.thread_id : "";
        assert.equal(threadId, watched.id, e.type);
      }
    } finally {
      await close(stream);
    }
  });

  test("an unknown or foreign thread is 404 thread_not_found, a bad token 401: the subscription stops", async () => {
    const frank = service.clientFor("frank");
    const theirs = await service.clientFor("gina").createThread({ title: "Not Frank's" });
    const cases: [ChatHistoryClient, string | undefined, number, string][] = [
      [frank, crypto.randomUUID(), 404, "thread_not_found"],
      [frank, theirs.id, 404, "thread_not_found"],
      [frank, "not-a-uuid", 400, "invalid_query"],
      [createChatHistoryClient({ baseUrl: service.baseUrl, token: "not a jwt" }), undefined, 401, "unauthenticated"],
    ];
    for (const [client, threadId, status, code] of cases) {
      const stream = await collect(client, threadId === undefined ? {} : { threadId });
      await within("the subscription to stop", 5_000, stream.sub.closed);
      assert.equal(stream.opens, 0);
      assert.equal(stream.errors.length, 1);
      const { error, willRetry } = stream.errors[0]!;
      assert.equal(willRetry, false);
      assert.ok(error instanceof ChatHistoryError);
      assert.equal(error.status, status);
      assert.equal(error.code, code);
    }
  });

  test("an abort signal stops it", async () => {
    const controller = new AbortController();
    const stream = await collect(service.clientFor("hal"), { signal: controller.signal });
    controller.abort();
    await within("the subscription to stop", 5_000, stream.sub.closed);
    assert.deepEqual(stream.errors, []);
  });
});

describe("the EventSource transport (browsers)", () => {
  /**
   * A stand-in for the browser's EventSource, over fetch: what the subscription needs of
   * one (the browser sends the cookie; this one sends the test's bearer token).
   */
  class TestEventSource {
    static token = "";
    static opened: { url: string; withCredentials: boolean | undefined }[] = [];
    readyState = 0;
    onopen: ((ev: Event) => unknown) | null = null;
    onerror: ((ev: Event) => unknown) | null = null;
    private readonly listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();
    private readonly controller = new AbortController();

    constructor(url: string, init?: { withCredentials?: boolean }) {
      TestEventSource.opened.push({ url, withCredentials: init?.withCredentials });
      void this.run(url).catch(() => {});
    }

    addEventListener(type: string, listener: (event: MessageEvent<string>) => void) {
      this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
    }

    close() {
      this.readyState = 2;
      this.controller.abort();
    }

    private async run(url: string) {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${TestEventSource.token}` },
        signal: this.controller.signal,
      });
      if (!res.ok || !res.body) {
        this.readyState = 2;
        this.onerror?.(new Event("error"));
        return;
      }
      this.readyState = 1;
      this.onopen?.(new Event("open"));
      const parser = new SseParser({
        onEvent: ({ event, data, lastEventId }) => {
          for (const listener of this.listeners.get(event) ?? []) {
            listener(new MessageEvent(event, { data, lastEventId }));
          }
        },
      });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) parser.push(r.value);
    }
  }

  test("typed events through an EventSource, with credentials and the thread filter in the URL", async () => {
    TestEventSource.token = service.jwtFor("ida");
    const client = createChatHistoryClient({ baseUrl: service.baseUrl }); // cookie mode: no token
    const thread = await service.clientFor("ida").createThread({ title: "Browser" });
    const stream = await collect(client, { EventSource: TestEventSource, threadId: thread.id });
    try {
      assert.deepEqual(TestEventSource.opened, [
        { url: `${service.baseUrl}/api/v1/events?thread_id=${thread.id}`, withCredentials: true },
      ]);
      const { message } = await service.clientFor("ida").appendMessage(thread.id, { role: "user", content: "Hi" });
      const created = await eventOf(stream, "message.created");
      assert.deepEqual(created.data.message, message);
      await eventOf(stream, "thread.updated", (e) => e.data.thread.message_count === 1);
      assert.equal(stream.sub.lastEventId, stream.events.at(-1)?.id);
    } finally {
      await close(stream);
    }
  });
});
