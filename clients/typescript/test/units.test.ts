// The parts that need no service: the SSE parser (as the HTML standard reads a stream),
// the UI message chunks of an SSE copy, versions, final statuses, typed events.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import type { UIMessage, UIMessageChunk } from "ai";

import {
  SseParser,
  canonicalJson,
  finalStatus,
  messageVersions,
  toChatHistoryEvent,
  toUIMessage,
  uiMessageChunksFromSse,
  type ChatHistoryEvent,
  type Message,
  type SseEvent,
} from "../src/index.js";

function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const parser = new SseParser({
    onEvent: (e) => events.push(e),
    onRetry: (ms) => retries.push(ms),
    onComment: (c) => comments.push(c),
  });
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { events, retries, comments, lastEventId: parser.lastEventId };
}

describe("SseParser", () => {
  test("id, event, data (one line and several), comments and retry", () => {
    const { events, retries, comments } = parse([
      "retry: 2000\n\n",
      ": keep-alive\n\n",
      "id: 0000000000000001\nevent: thread.created\ndata: {\"a\":1}\n\n",
      "event: multi\ndata: one\ndata:two\ndata\n\n",
      "retry: soon\n\n", // not digits: ignored
    ]);
    assert.deepEqual(retries, [2000]);
    assert.deepEqual(comments, ["keep-alive"]);
    assert.deepEqual(events, [
      { event: "thread.created", data: '{"a":1}', lastEventId: "0000000000000001" },
      // the id is kept for later events (the standard's last event id buffer)
      { event: "multi", data: "one\ntwo\n", lastEventId: "0000000000000001" },
    ]);
  });

  test("lines end in LF, CRLF or CR, also split across chunks", () => {
    const { events } = parse(["data: a\r", "\n\r", "\ndata: b\r\r", "data: c\n", "\n", "data: d\r\n\r\n"]);
    assert.deepEqual(
      events.map((e) => [e.event, e.data]),
      [
        ["message", "a"],
        ["message", "b"],
        ["message", "c"],
        ["message", "d"],
      ],
    );
  });

  test("a block with an id and no data moves the last event id and dispatches nothing", () => {
    const { events, lastEventId } = parse(["retry: 2000\nid: 0000000000000042\n\n"]);
    assert.deepEqual(events, []);
    assert.equal(lastEventId, "0000000000000042");
  });

  test("an event cut off by the end of the stream is dropped; a BOM and unknown fields are ignored", () => {
    const { events } = parse(["\uFEFFdata: whole\nfoo: bar\n\n", "data: cut"]);
    assert.deepEqual(events.map((e) => e.data), ["whole"]);
  });

  test("the service's reset block: event, data, then the id to resume from", () => {
    const { events } = parse(['retry: 2000\nevent: reset\ndata: {"reason":"unknown"}\nid: 0000000000000007\n\n']);
    assert.deepEqual(events, [{ event: "reset", data: '{"reason":"unknown"}', lastEventId: "0000000000000007" }]);
    const typed = toChatHistoryEvent(events[0]!.event, events[0]!.data, events[0]!.lastEventId);
    assert.deepEqual(typed, { type: "reset", id: "0000000000000007", data: { reason: "unknown" } });
  });
});

describe("typed events", () => {
  test("known types are typed by their data; unknown types are null; bad JSON throws", () => {
    const event = toChatHistoryEvent("thread.deleted", '{"thread_id":"t1"}', "0000000000000003");
    assert.deepEqual(event, { type: "thread.deleted", id: "0000000000000003", data: { thread_id: "t1" } });
    if (event?.type === "thread.deleted") {
      const threadId: string = event.data.thread_id; // narrowed by `type`
      assert.equal(threadId, "t1");
    }
    assert.equal(toChatHistoryEvent("thread.archived-in-a-later-version", "{}", "1"), null);
    assert.throws(() => toChatHistoryEvent("thread.created", "not json", "1"), SyntaxError);
    // Compile-time: every member of the union names its payload.
    const check = (e: ChatHistoryEvent): string => {
      switch (e.type) {
        case "thread.created":
        case "thread.updated":
          return e.data.thread.id;
        case "thread.deleted":
          return e.data.thread_id;
        case "message.created":
        case "message.updated":
          return e.data.message.id;
        case "message.deleted":
          return e.data.message_id;
        case "reset":
          return e.data.reason;
      }
    };
    assert.equal(check({ type: "reset", id: null, data: { reason: "r" } }), "r");
  });
});

describe("AI SDK helpers", () => {
  test("uiMessageChunksFromSse: one chunk per data line, [DONE] and non-JSON skipped", async () => {
    const text = [
      'data: {"type":"start","messageId":"m1"}\n\n',
      'data: {"type":"text-start","id":"t"}\n\ndata: {"type":"text-delta","id":"t","delta":"Hi"}\n',
      "\n: comment\n\ndata: not json\n\n",
      'data: {"type":"text-end","id":"t"}\n\ndata: [DONE]\n\n',
    ];
    const sse = new ReadableStream<string>({
      start(controller) {
        for (const t of text) controller.enqueue(t);
        controller.close();
      },
    });
    const chunks: UIMessageChunk[] = [];
    const reader = uiMessageChunksFromSse(sse).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
    assert.deepEqual(chunks, [
      { type: "start", messageId: "m1" },
      { type: "text-start", id: "t" },
      { type: "text-delta", id: "t", delta: "Hi" },
      { type: "text-end", id: "t" },
    ]);
  });

  test("finalStatus", () => {
    assert.equal(finalStatus({ isAborted: true, finishReason: "stop" }), "aborted");
    assert.equal(finalStatus({ isAborted: false, finishReason: "error" }), "error");
    assert.equal(finalStatus({ isAborted: false, outcome: { status: "failed" } }), "error");
    assert.equal(finalStatus({ isAborted: false, finishReason: "stop" }), "complete");
  });

  test("messageVersions: position, neighbours; a message without sibling_ids is its only version", () => {
    assert.deepEqual(messageVersions({ id: "b", sibling_ids: ["a", "b", "c"] }), {
      ids: ["a", "b", "c"],
      index: 1,
      previous: "a",
      next: "c",
    });
    assert.deepEqual(messageVersions({ id: "a" }), { ids: ["a"], index: 0, previous: null, next: null });
  });

  test("toUIMessage keeps id, role, parts and metadata only; canonicalJson ignores key order", () => {
    const stored = {
      id: "m",
      thread_id: "t",
      parent_id: null,
      role: "assistant",
      content: "x",
      parts: [{ type: "text", text: "x" }],
      status: "complete",
      sources: [],
      metadata: { a: 1 },
      feedback: null,
      created_at: "2026-01-01T00:00:00.000000Z",
      updated_at: "2026-01-01T00:00:00.000000Z",
    } satisfies Message;
    const ui: UIMessage = toUIMessage(stored);
    assert.deepEqual(ui, { id: "m", role: "assistant", parts: [{ type: "text", text: "x" }], metadata: { a: 1 } });
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), canonicalJson({ a: [{ c: 2, d: 1 }], b: 1 }));
  });
});
