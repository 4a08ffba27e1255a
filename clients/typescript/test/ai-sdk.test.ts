// The AI SDK helpers against the real binary: the user's turn (new, regenerated, edited),
// a reply followed from its SSE copy and saved as it grows, then finished; ids; and the
// helpers typed by an app's own UIMessage.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { readUIMessageStream, type InferUITools, type Tool, type UIMessage, type UIMessageChunk } from "ai";

import {
  createChatHistoryClient,
  generateUuid,
  type ChatHistoryClient,
  type MessageStatus,
} from "../src/index.js";
import { json, startService, waitFor, type Service } from "../test-support/service.js";

let service: Service;
let client: ChatHistoryClient;

before(async () => {
  service = await startService();
  client = service.clientFor("alice");
});

after(async () => {
  await service?.stop();
});

// An app's own UIMessage: metadata, a data part and a tool, typed.
type WeatherTool = Tool<{ city: string }, { city: string; temperatureC: number }>;
type AppMessage = UIMessage<{ model: string }, { notice: { level: string } }, InferUITools<{ weather: WeatherTool }>>;

const ask = (words: string): AppMessage => ({
  id: generateUuid(),
  role: "user",
  parts: [{ type: "text", text: words }],
});

describe("ids", () => {
  test("generateUuid makes UUIDs (useChat's generateId, generateMessageId)", () => {
    const ids = new Set(Array.from({ length: 100 }, generateUuid));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("saveUserTurn", () => {
  test("saves a new question and returns the chat it continues; a regeneration reuses it; an edit in place is refused", async () => {
    const thread = await client.createThread({ title: "Turns" });
    const u1 = ask("Hi");
    const validated: AppMessage[][] = [];
    const validate = async (messages: AppMessage[]) => {
      validated.push(messages);
      return messages;
    };
    assert.deepEqual(await client.saveUserTurn(thread.id, u1, null, { validate }), [u1]);
    assert.deepEqual(validated, [[u1]]);
    const stored = await client.findMessage(thread.id, u1.id);
    assert.equal(stored?.status, "complete");
    assert.equal(stored?.parent_id, null);

    const a1: AppMessage = {
      id: generateUuid(),
      role: "assistant",
      metadata: { model: "mock" },
      parts: [
        { type: "text", text: "Hello!" },
        { type: "data-notice", data: { level: "info" } },
      ],
    };
    await client.saveMessage(thread.id, a1, { status: "complete", parentId: u1.id });
    const u2 = ask("Weather in Lisbon?");
    const chat = await client.saveUserTurn<AppMessage>(thread.id, u2, a1.id);
    assert.deepEqual(chat, [{ ...u1, metadata: {} }, a1, u2]);

    // regenerate(): the same question again is taken as stored; nothing is added.
    const before = (await client.getThread(thread.id)).thread.message_count;
    const again = await client.saveUserTurn<AppMessage>(thread.id, u2, a1.id);
    assert.deepEqual(again, [{ ...u1, metadata: {} }, a1, { ...u2, metadata: {} }]);
    assert.equal((await client.getThread(thread.id)).thread.message_count, before);

    // An edit in place (same id, other parts), or the same id elsewhere, is refused.
    await assert.rejects(
      client.saveUserTurn(thread.id, { ...u2, parts: [{ type: "text", text: "Edited" }] }, a1.id),
      /was edited/,
    );
    await assert.rejects(client.saveUserTurn(thread.id, u2, u1.id), /stored elsewhere/);
    await assert.rejects(client.saveUserTurn(thread.id, a1, u1.id), /must be the user's/);
  });
});

describe("createReplySaver", () => {
  /** A UI message stream's SSE copy, as `consumeSseStream` hands it over, fed by the test. */
  function sseCopy() {
    let controller!: ReadableStreamDefaultController<string>;
    const stream = new ReadableStream<string>({
      start(c) {
        controller = c;
      },
    });
    return {
      stream,
      send: (chunks: UIMessageChunk[]) => {
        for (const chunk of chunks) controller.enqueue(`data: ${JSON.stringify(chunk)}\n\n`);
      },
      end: () => {
        controller.enqueue("data: [DONE]\n\n");
        controller.close();
      },
    };
  }

  /** What the AI SDK makes of `chunks`: the final UIMessage. */
  async function finalMessage(chunks: UIMessageChunk[]): Promise<AppMessage> {
    const stream = new ReadableStream<UIMessageChunk>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    });
    let last: AppMessage | undefined;
    for await (const m of readUIMessageStream<AppMessage>({ stream })) last = m;
    assert.ok(last);
    return last;
  }

  test("follows the stream, saving streaming snapshots, then finishes with the final status", async () => {
    const statuses: MessageStatus[] = [];
    const recording = createChatHistoryClient({
      baseUrl: service.baseUrl,
      token: service.jwtFor("alice"),
      fetch: async (request) => {
        if (request.method === "PUT" && /\/messages\/[^/]+$/.test(new URL(request.url).pathname)) {
          statuses.push((await request.clone().json()).status);
        }
        return fetch(request);
      },
    });
    const thread = await recording.createThread({ title: "Reply" });
    const question = ask("Weather in Lisbon?");
    await recording.saveUserTurn(thread.id, question, null);
    statuses.length = 0;

    const replyId = generateUuid();
    const firstHalf: UIMessageChunk[] = [
      { type: "start", messageId: replyId, messageMetadata: { model: "mock" } },
      { type: "start-step" },
      { type: "reasoning-start", id: "r1" },
      { type: "reasoning-delta", id: "r1", delta: "The user wants the weather." },
      { type: "reasoning-end", id: "r1" },
      { type: "text-start", id: "t1" },
      { type: "text-delta", id: "t1", delta: "Let me " },
    ];
    const secondHalf: UIMessageChunk[] = [
      { type: "text-delta", id: "t1", delta: "check." },
      { type: "text-end", id: "t1" },
      { type: "tool-input-available", toolCallId: "call-1", toolName: "weather", input: { city: "Lisbon" } },
      { type: "tool-output-available", toolCallId: "call-1", output: { city: "Lisbon", temperatureC: 21 } },
      { type: "finish-step" },
      { type: "start-step" },
      { type: "source-url", sourceId: "s1", url: "https://example.com/lisbon", title: "Lisbon" },
      { type: "text-start", id: "t2" },
      { type: "text-delta", id: "t2", delta: "It is 21 °C." },
      { type: "text-end", id: "t2" },
      { type: "finish-step" },
      { type: "finish", finishReason: "stop" },
    ];

    const saver = recording.createReplySaver<AppMessage>(thread.id, { parentId: question.id, throttleMs: 10 });
    const copy = sseCopy();
    const following = saver.follow(copy.stream);
    copy.send(firstHalf);
    // The partial reply is in the database while it streams.
    const partial = await waitFor("a streaming save", 10_000, async () => {
      const m = await recording.findMessage(thread.id, replyId);
      return m?.status === "streaming" && m.content === "Let me " ? m : null;
    });
    assert.equal(partial.parent_id, question.id);
    copy.send(secondHalf);
    copy.end();
    await following;

    const reply = await finalMessage([...firstHalf, ...secondHalf]);
    const saved = await saver.finish(reply, "complete");
    assert.equal(saved.message.status, "complete");
    saver.update({ ...reply, parts: [] }); // after finish: ignored
    await new Promise((resolve) => setTimeout(resolve, 50));

    assert.equal(statuses.at(-1), "complete");
    assert.ok(statuses.slice(0, -1).length >= 1 && statuses.slice(0, -1).every((s) => s === "streaming"), statuses.join());
    const chat = await recording.loadChat<AppMessage>(thread.id);
    assert.deepEqual(chat, [{ ...question, metadata: {} }, json(reply)]);
    assert.equal((await recording.findMessage(thread.id, replyId))?.content, "Let me check.\n\nIt is 21 °C.");
  });

  test("a failed intermediate save goes to onError and the stream goes on; the final save throws", async () => {
    const errors: unknown[] = [];
    const thread = await client.createThread({ title: "Failing" });
    // The parent does not exist: every save is a 422.
    const saver = client.createReplySaver<AppMessage>(thread.id, {
      parentId: generateUuid(),
      throttleMs: 0,
      onError: (e) => errors.push(e),
    });
    const reply: AppMessage = { id: generateUuid(), role: "assistant", parts: [{ type: "text", text: "x" }] };
    saver.update(reply);
    await waitFor("the failed save to be reported", 10_000, () => errors.length > 0);
    await assert.rejects(saver.finish(reply, "error"), /unknown_message/);
  });
});
