// Interop test: the Vercel AI SDK 6 against the chat-history binary. A mock language model
// streams replies (reasoning, text, a tool call and its result, a source) through the
// SDK's own streamText / UI message stream; chat-store.mjs saves them as they grow and
// reads them back; the SDK must accept what the service returns exactly as it produced it.
// The route handler of docs/guides/ai-sdk.md runs here too, driven by the SDK's own
// client transport: a reply stopped midway, a regenerated one, a failing model. And a
// TypeScript client generated from the service's /openapi.json (openapi-typescript) must
// type-check the SDK's own UIMessage types (tsc, strict).
//
//   npm ci --prefix interop/ai-sdk
//   CHAT_HISTORY_BIN=target/debug/chat-history npm test --prefix interop/ai-sdk
//
// Environment: CHAT_HISTORY_BIN (required). The service runs on an SQLite file in a
// temporary directory, with an HS256 secret; the test signs its users' JWTs itself.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  DefaultChatTransport,
  convertToModelMessages,
  readUIMessageStream,
  simulateReadableStream,
  stepCountIs,
  streamText,
  tool,
  validateUIMessages,
} from "ai";
import { MockLanguageModelV3 } from "ai/test";
import openapiTS, { astToString } from "openapi-typescript";
import ts from "typescript";
import { z } from "zod";

import {
  ChatHistoryError,
  callApi,
  clearActiveStream,
  createReplySaver,
  createThread,
  finalStatus,
  findMessage,
  generateUuid,
  getThread,
  loadChat,
  loadMessages,
  saveMessage,
  saveUserTurn,
  setActiveStream,
} from "./chat-store.mjs";

const SECRET = crypto.randomBytes(32).toString("hex");

const state = {
  dir: null,
  service: null,
  serviceUrl: null,
  serviceLog: [],
  /** @type {Record<string, import("./chat-store.mjs").ChatHistoryClient>} */
  users: {},
  /** The conversation the tests build on, as the browser holds it. */
  chat: { threadId: null, messages: [] },
};

// ---------------------------------------------------------------------------------------
// The service

/** Polls `check` every 50 ms until it returns a truthy value or `ms` pass. */
async function waitFor(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check().catch((e) => e);
    if (last && !(last instanceof Error)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.stack : last}`);
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** An HS256 JWT for `sub`, valid for an hour, as JWT_HS256_SECRET verifies it. */
function jwtFor(sub) {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, iat: now, exp: now + 3600 })}`;
  const signature = crypto.createHmac("sha256", SECRET).update(input).digest("base64url");
  return `${input}.${signature}`;
}

async function startService() {
  const bin = process.env.CHAT_HISTORY_BIN;
  assert.ok(bin, "set CHAT_HISTORY_BIN to the chat-history binary (cargo build --bin chat-history)");
  state.dir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-history-ai-sdk-"));
  const port = await freePort();
  state.serviceUrl = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [], {
    cwd: state.dir,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: `sqlite://${path.join(state.dir, "ch.db")}?mode=rwc`,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      JWT_HS256_SECRET: SECRET,
      // A reply saved as it streams is many requests in a second.
      RATE_LIMIT_PER_MINUTE: "0",
      LOG_FORMAT: "json",
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  state.service = child;
  const keep = (chunk) => {
    state.serviceLog.push(chunk.toString());
    if (state.serviceLog.length > 200) state.serviceLog.shift();
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = null;
  child.on("exit", (code, signal) => {
    exited = { code, signal };
  });
  child.on("error", (e) => {
    exited = { error: e.message }; // e.g. no such file
  });
  // Ready when /readyz says so; a service that exits is reported at once, with its output.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) {
      throw new Error(`chat-history exited (${JSON.stringify(exited)}):\n${state.serviceLog.join("")}`);
    }
    const ready = await fetch(`${state.serviceUrl}/readyz`).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) {
      throw new Error(`chat-history was not ready within 60 s:\n${state.serviceLog.join("")}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stopService() {
  const child = state.service;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
  if (state.dir) fs.rmSync(state.dir, { recursive: true, force: true });
}

before(async () => {
  await startService();
  for (const name of ["alice", "bob"]) {
    state.users[name] = { baseUrl: state.serviceUrl, token: jwtFor(name) };
  }
});

after(stopService);

// ---------------------------------------------------------------------------------------
// The model, its tool, and what goes over the wire

const tools = {
  weather: tool({
    description: "The weather in a city, now",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => ({ city, temperatureC: 21, sky: "sunny" }),
  }),
};

const usage = {
  inputTokens: { total: 12, noCache: 12, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 30, text: 22, reasoning: 8 },
};
const finish = (unified) => ({ type: "finish", finishReason: { unified, raw: unified }, usage });
const text = (id, deltas) => [
  { type: "text-start", id },
  ...deltas.map((delta) => ({ type: "text-delta", id, delta })),
  { type: "text-end", id },
];

/** Step 1: reasoning, text, a weather tool call; step 2 (after the result): a source, the answer. */
const WEATHER_STEPS = [
  [
    { type: "stream-start", warnings: [] },
    { type: "reasoning-start", id: "r1" },
    { type: "reasoning-delta", id: "r1", delta: "The user wants " },
    { type: "reasoning-delta", id: "r1", delta: "today's weather." },
    { type: "reasoning-end", id: "r1" },
    ...text("t1", ["Let me ", "check."]),
    {
      type: "tool-call",
      toolCallId: "call-1",
      toolName: "weather",
      input: JSON.stringify({ city: "Lisbon" }),
    },
    finish("tool-calls"),
  ],
  [
    { type: "stream-start", warnings: [] },
    {
      type: "source",
      sourceType: "url",
      id: "src-1",
      url: "https://example.com/weather/lisbon",
      title: "Lisbon weather",
    },
    ...text("t2", ["It is ", "21 °C ", "and sunny ", "in Lisbon."]),
    finish("stop"),
  ],
];
const WEATHER_CONTENT = "Let me check.\n\nIt is 21 °C and sunny in Lisbon.";

/** One long step of text, slow enough to be stopped midway. */
const LONG_STEP = [
  { type: "stream-start", warnings: [] },
  ...text(
    "t1",
    Array.from({ length: 400 }, (_, i) => `word${i} `),
  ),
  finish("stop"),
];

/** A step that fails after a few words, as a provider that gives up would. */
const FAILING_STEP = [
  { type: "stream-start", warnings: [] },
  ...text("t1", ["Partial ", "answer"]).slice(0, 3),
  { type: "error", error: new Error("the mock provider is overloaded (this test expects it)") },
];

/** A mock model that answers its calls with `steps` in turn. */
function mockModel(steps, { chunkDelayInMs = null } = {}) {
  return new MockLanguageModelV3({
    doStream: steps.map((chunks) => ({
      stream: simulateReadableStream({ chunks, chunkDelayInMs, initialDelayInMs: null }),
    })),
  });
}

/** A value as it crosses the wire: JSON drops `undefined` fields. */
const json = (value) => JSON.parse(JSON.stringify(value));

/** A UIMessage as the service returns it: `metadata` defaults to `{}`. */
const asStored = (message) => json({ ...message, metadata: message.metadata ?? {} });

/** A user message as `useChat`'s `sendMessage({ text })` makes it (with UUID ids). */
const userMessage = (words) => ({
  id: generateUuid(),
  role: "user",
  parts: [{ type: "text", text: words }],
});

/** The SDK takes `messages` back unchanged: validation, then conversion for the model. */
async function assertTheSdkAccepts(messages) {
  const validated = await validateUIMessages({ messages, tools });
  assert.deepEqual(validated, messages);
  const model = await convertToModelMessages(validated, { tools });
  assert.ok(model.length >= messages.length);
  return model;
}

/** Expects a ChatHistoryError with this status (and problem `code` and `field`, if given). */
const rejectsWith = (promise, status, code, field) =>
  assert.rejects(promise, (e) => {
    assert.ok(e instanceof ChatHistoryError, e);
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.problem.code, code, e.message);
    if (field) assert.equal(e.problem.field, field, e.message);
    return true;
  });

// ---------------------------------------------------------------------------------------
// The route handler of docs/guides/ai-sdk.md (app/api/chat/route.ts). The differences:
// the model, the chat-history client and the stream-saving throttle are passed in; the
// failing model's error is expected, so not logged (onError); a failed final save is
// collected for the test to check instead of logged.

function chatRoute({ client, model, throttleMs, finishErrors = [] }) {
  return async function POST(req) {
    const { id: threadId, message, parentId } = await req.json();

    const messages = await saveUserTurn(client, threadId, message, parentId, {
      validate: (messages) => validateUIMessages({ messages, tools }),
    });

    const streamId = generateUuid();
    await setActiveStream(client, threadId, streamId);
    const reply = createReplySaver(client, threadId, { parentId: message.id, throttleMs });

    const result = streamText({
      model,
      messages: await convertToModelMessages(messages, { tools }),
      tools,
      stopWhen: stepCountIs(5),
      abortSignal: req.signal, // useChat's stop() ends the generation
      onError: () => {}, // the failing model is expected here
    });

    return result.toUIMessageStreamResponse({
      originalMessages: messages,
      generateMessageId: generateUuid,
      sendReasoning: true,
      sendSources: true,
      consumeSseStream: ({ stream }) => reply.follow(stream),
      onFinish: async (event) => {
        try {
          await reply.finish(event.responseMessage, finalStatus(event));
          await clearActiveStream(client, threadId, streamId);
        } catch (e) {
          finishErrors.push(e);
        }
      },
    });
  };
}

/** The browser's side: the SDK's own transport, as useChat uses it, calling the route. */
function browserTransport(route) {
  return new DefaultChatTransport({
    api: "http://app.test/api/chat",
    fetch: (url, init) => route(new Request(url, init)),
    prepareSendMessagesRequest: ({ id, messages }) => ({
      body: { id, message: messages.at(-1), parentId: messages.at(-2)?.id ?? null },
    }),
  });
}

/** Waits until the stored reply is no longer `streaming` and the thread's stream is cleared. */
async function settled(client, threadId, messageId) {
  return waitFor("the reply to be saved for good", 10_000, async () => {
    const message = await findMessage(client, threadId, messageId);
    const { thread } = await getThread(client, threadId);
    return message && message.status !== "streaming" && thread.active_stream_id === null && message;
  });
}

// ---------------------------------------------------------------------------------------

describe("a reply streamed by the AI SDK is saved as it grows", () => {
  test("each snapshot is PUT as streaming, then the whole reply as complete", async () => {
    const alice = state.users.alice;
    const thread = await createThread(alice, { title: "Weather" });
    assert.equal(thread.active_stream_id, null);
    const threadId = thread.id;

    const user = userMessage("What is the weather in Lisbon?");
    const savedUser = await saveMessage(alice, threadId, user, { status: "complete", parentId: null });
    assert.equal(savedUser.created, true);
    assert.equal(savedUser.message.status, "complete");
    assert.equal(savedUser.message.content, "What is the weather in Lisbon?");
    assert.ok(savedUser.etag);

    const streamId = generateUuid();
    const { thread: streaming } = await setActiveStream(alice, threadId, streamId);
    assert.equal(streaming.active_stream_id, streamId);

    const result = streamText({
      model: mockModel(WEATHER_STEPS),
      tools,
      stopWhen: stepCountIs(5),
      messages: await convertToModelMessages([user], { tools }),
    });
    const snapshots = readUIMessageStream({
      stream: result.toUIMessageStream({
        originalMessages: [user],
        generateMessageId: generateUuid,
        sendReasoning: true,
        sendSources: true,
      }),
    });

    let reply;
    let puts = 0;
    for await (const snapshot of snapshots) {
      reply = snapshot;
      const saved = await saveMessage(alice, threadId, snapshot, {
        status: "streaming",
        parentId: user.id,
      });
      assert.equal(saved.created, puts === 0, "the first PUT creates, later ones replace");
      assert.equal(saved.message.id, snapshot.id);
      assert.equal(saved.message.status, "streaming");
      assert.equal(saved.message.parent_id, user.id);
      assert.deepEqual(saved.message.parts, json(snapshot.parts));
      if (puts === 0) {
        // A client loading the chat now sees the partial reply, and the stream in flight.
        const stored = await loadMessages(alice, threadId);
        assert.deepEqual(
          stored.map((m) => [m.id, m.status]),
          [
            [user.id, "complete"],
            [snapshot.id, "streaming"],
          ],
        );
        assert.equal((await getThread(alice, threadId)).thread.active_stream_id, streamId);
      }
      puts += 1;
    }
    assert.ok(puts >= 10, `${puts} snapshots`);
    assert.match(reply.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    // What the SDK made of the model's stream: every kind of part the test is about.
    assert.deepEqual(
      reply.parts.map((p) => p.type),
      ["step-start", "reasoning", "text", "tool-weather", "step-start", "source-url", "text"],
    );
    const toolPart = reply.parts.find((p) => p.type === "tool-weather");
    assert.equal(toolPart.state, "output-available");
    assert.deepEqual(toolPart.input, { city: "Lisbon" });
    assert.deepEqual(toolPart.output, { city: "Lisbon", temperatureC: 21, sky: "sunny" });

    const done = await saveMessage(alice, threadId, reply, { status: "complete", parentId: user.id });
    assert.equal(done.created, false);
    assert.equal(done.message.status, "complete");
    assert.equal(done.message.content, WEATHER_CONTENT, "content is the text parts joined");

    assert.equal(await clearActiveStream(alice, threadId, streamId), true);
    assert.equal((await getThread(alice, threadId)).thread.active_stream_id, null);

    state.chat = { threadId, messages: [user, reply] };
  });

  test("read back, the chat is what the SDK produced, and the SDK takes it unchanged", async () => {
    const alice = state.users.alice;
    const { threadId, messages } = state.chat;

    const stored = await loadMessages(alice, threadId);
    assert.deepEqual(
      stored.map((m) => [m.role, m.status, m.parent_id]),
      [
        ["user", "complete", null],
        ["assistant", "complete", messages[0].id],
      ],
    );
    assert.equal(stored[1].content, WEATHER_CONTENT);

    const chat = await loadChat(alice, threadId);
    assert.deepEqual(chat, messages.map(asStored));
    const model = await assertTheSdkAccepts(chat);
    assert.deepEqual(
      model.map((m) => m.role),
      ["user", "assistant", "tool", "assistant"],
    );
    const toolResult = model[2].content[0];
    assert.equal(toolResult.type, "tool-result");
    assert.deepEqual(toolResult.output, {
      type: "json",
      value: { city: "Lisbon", temperatureC: 21, sky: "sunny" },
    });

    // useChat's client state is what the page hands it: keep it as the test's browser.
    state.chat.messages = chat;
  });
});

describe("the guide's route handler, driven by the SDK's client transport", () => {
  test("a reply stopped midway is saved as aborted, with what had streamed", async () => {
    const alice = state.users.alice;
    const { threadId } = state.chat;
    const finishErrors = [];
    const transport = browserTransport(
      chatRoute({
        client: alice,
        model: mockModel([LONG_STEP], { chunkDelayInMs: 5 }),
        throttleMs: 0,
        finishErrors,
      }),
    );

    const question = userMessage("And tomorrow?");
    const messages = [...state.chat.messages, question];
    const stop = new AbortController();
    const chunks = await transport.sendMessages({
      chatId: threadId,
      messages,
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: stop.signal,
    });

    let reply;
    let seen = 0;
    for await (const snapshot of readUIMessageStream({ stream: chunks })) {
      reply = snapshot;
      seen += 1;
      if (seen === 10) {
        // Mid-reply, the service already has it (throttled PUTs) and the stream id.
        const partial = await waitFor("the partial reply", 5_000, async () => {
          const m = await findMessage(alice, threadId, snapshot.id);
          return m?.status === "streaming" && m.parts.some((p) => p.type === "text") && m;
        });
        assert.equal(partial.parent_id, question.id);
        const { thread } = await getThread(alice, threadId);
        assert.match(thread.active_stream_id, /^[0-9a-f-]{36}$/);
        stop.abort(); // the user presses stop
      }
    }
    assert.ok(seen >= 10);

    const stored = await settled(alice, threadId, reply.id);
    assert.deepEqual(finishErrors, []);
    assert.equal(stored.status, "aborted");
    assert.deepEqual(stored.parts, json(reply.parts));
    const words = reply.parts.find((p) => p.type === "text").text;
    assert.ok(words.startsWith("word0 word1 "), words);
    assert.ok(!words.includes("word399"), "stopped before the end");

    const storedQuestion = await findMessage(alice, threadId, question.id);
    assert.equal(storedQuestion.status, "complete");
    assert.equal(storedQuestion.parent_id, state.chat.messages.at(-1).id);

    const chat = await loadChat(alice, threadId);
    assert.deepEqual(chat, [...messages, reply].map(asStored));
    await assertTheSdkAccepts(chat);
    state.chat.messages = chat;
  });

  test("regenerate answers the same question again: a sibling reply, both kept", async () => {
    const alice = state.users.alice;
    const { threadId } = state.chat;
    const stopped = state.chat.messages.at(-1);
    const finishErrors = [];
    const transport = browserTransport(
      chatRoute({ client: alice, model: mockModel(WEATHER_STEPS), throttleMs: 0, finishErrors }),
    );

    // useChat's regenerate() drops the last reply and sends the rest.
    const messages = state.chat.messages.slice(0, -1);
    const chunks = await transport.sendMessages({
      chatId: threadId,
      messages,
      trigger: "regenerate-message",
      messageId: stopped.id,
      abortSignal: undefined,
    });
    let reply;
    for await (const snapshot of readUIMessageStream({ stream: chunks })) reply = snapshot;
    assert.notEqual(reply.id, stopped.id);

    const stored = await settled(alice, threadId, reply.id);
    assert.deepEqual(finishErrors, []);
    assert.equal(stored.status, "complete");
    assert.equal(stored.content, WEATHER_CONTENT);

    // The active path now ends in the new reply; the stopped one is its sibling.
    const path = await loadMessages(alice, threadId);
    assert.deepEqual(
      path.map((m) => m.status),
      ["complete", "complete", "complete", "complete"],
    );
    assert.deepEqual(path.at(-1).sibling_ids, [stopped.id, reply.id]);
    const chat = await loadChat(alice, threadId);
    assert.deepEqual(chat, [...messages, reply].map(asStored));
    await assertTheSdkAccepts(chat);

    // The other branch is still there, through the stopped reply.
    const other = await loadChat(alice, threadId, { through: stopped.id });
    assert.deepEqual(other, state.chat.messages);
    await assertTheSdkAccepts(other);
    const raw = await loadMessages(alice, threadId, { through: stopped.id });
    assert.equal(raw.at(-1).status, "aborted");
  });

  test("an edited question comes with a new id and becomes a sibling of the original", async () => {
    const alice = state.users.alice;
    const { threadId } = state.chat;
    const chat = await loadChat(alice, threadId); // [question, reply, question 2, reply 2]
    const original = chat[2];
    const transport = browserTransport(
      chatRoute({ client: alice, model: mockModel(WEATHER_STEPS), throttleMs: 0 }),
    );
    const send = (messages) =>
      transport.sendMessages({
        chatId: threadId,
        messages,
        trigger: "submit-message",
        messageId: undefined,
        abortSignal: undefined,
      });

    // Changing the stored question under its own id is refused, and changes nothing.
    const inPlace = { ...original, parts: [{ type: "text", text: "And next week?" }] };
    await assert.rejects(send([...chat.slice(0, 2), inPlace]), /send an edited message with a new id/);
    assert.deepEqual((await findMessage(alice, threadId, original.id)).parts, original.parts);

    // useChat: setMessages(messages.slice(0, 2)), then sendMessage({ text }).
    const edited = userMessage("And next week?");
    const chunks = await send([...chat.slice(0, 2), edited]);
    let reply;
    for await (const snapshot of readUIMessageStream({ stream: chunks })) reply = snapshot;
    await settled(alice, threadId, reply.id);
    const path = await loadMessages(alice, threadId);
    assert.deepEqual(
      path.map((m) => m.id),
      [chat[0].id, chat[1].id, edited.id, reply.id],
    );
    assert.deepEqual(path[2].sibling_ids, [original.id, edited.id]);
    assert.equal(path[2].parent_id, chat[1].id);
    await assertTheSdkAccepts(await loadChat(alice, threadId));
  });

  test("a model that fails leaves its reply saved with status error", async () => {
    const alice = state.users.alice;
    const { id: threadId } = await createThread(alice, { title: "Failing" });
    const finishErrors = [];
    const transport = browserTransport(
      chatRoute({ client: alice, model: mockModel([FAILING_STEP]), throttleMs: 0, finishErrors }),
    );
    const question = userMessage("Hello?");
    const chunks = await transport.sendMessages({
      chatId: threadId,
      messages: [question],
      trigger: "submit-message",
      messageId: undefined,
      abortSignal: undefined,
    });
    let reply;
    for await (const snapshot of readUIMessageStream({ stream: chunks })) reply = snapshot;

    const stored = await settled(alice, threadId, reply.id);
    assert.deepEqual(finishErrors, []);
    assert.equal(stored.status, "error");
    assert.deepEqual(stored.parts, json(reply.parts));
    assert.equal(stored.parent_id, question.id);
  });
});

describe("what a client sees of the PUT and active_stream_id rules", () => {
  test("a PUT with another role, or another parent, is 409 message_conflict", async () => {
    const alice = state.users.alice;
    const { id: threadId } = await createThread(alice, { title: "Conflicts" });
    const question = userMessage("Hi");
    await saveMessage(alice, threadId, question, { status: "complete", parentId: null });
    await rejectsWith(
      saveMessage(alice, threadId, { ...question, role: "assistant" }, { status: "complete" }),
      409,
      "message_conflict",
    );

    const answer = { id: generateUuid(), role: "assistant", parts: [{ type: "text", text: "Hello" }] };
    await saveMessage(alice, threadId, answer, { status: "streaming", parentId: question.id });
    await rejectsWith(
      saveMessage(alice, threadId, answer, { status: "complete", parentId: null }),
      409,
      "message_conflict",
    );
    const stored = await findMessage(alice, threadId, answer.id);
    assert.equal(stored.status, "streaming", "a refused PUT changes nothing");
  });

  test("If-Match: a stale ETag is 412, the current one replaces", async () => {
    const alice = state.users.alice;
    const { id: threadId } = await createThread(alice, { title: "ETags" });
    const reply = { id: generateUuid(), role: "assistant", parts: [{ type: "text", text: "Hel" }] };
    const first = await saveMessage(alice, threadId, reply, { status: "streaming", parentId: null });
    const second = await saveMessage(
      alice,
      threadId,
      { ...reply, parts: [{ type: "text", text: "Hello" }] },
      { status: "streaming", parentId: null, ifMatch: first.etag },
    );
    assert.notEqual(second.etag, first.etag);
    await rejectsWith(
      saveMessage(alice, threadId, reply, { status: "complete", parentId: null, ifMatch: first.etag }),
      412,
      "precondition_failed",
    );
    const third = await saveMessage(
      alice,
      threadId,
      { ...reply, parts: [{ type: "text", text: "Hello!" }] },
      { status: "complete", parentId: null, ifMatch: second.etag },
    );
    assert.equal(third.message.status, "complete");
    assert.equal(third.message.content, "Hello!");

    // If-Match on an id that does not exist yet: nothing matches, so 412 too.
    await rejectsWith(
      saveMessage(alice, threadId, userMessage("new"), { status: "complete", ifMatch: first.etag }),
      412,
      "precondition_failed",
    );
  });

  test("parts of any type are kept verbatim; the body's id must match the path", async () => {
    const alice = state.users.alice;
    const { id: threadId } = await createThread(alice, { title: "Parts" });
    const message = {
      id: generateUuid(),
      role: "user",
      parts: [
        { type: "text", text: "Look at this" },
        { type: "file", mediaType: "image/png", url: "data:image/png;base64,iVBORw0KGgo=" },
        { type: "data-weather", id: "w1", data: { city: "Lisbon", temperatureC: 21.5 } },
        { type: "a-part-type-from-the-future", nested: { list: [1, "two", null, true] } },
      ],
      metadata: { client: "test", tags: ["x"] },
    };
    const saved = await saveMessage(alice, threadId, message, { status: "complete" });
    assert.deepEqual(saved.message.parts, message.parts);
    assert.deepEqual(saved.message.metadata, message.metadata);
    assert.equal(saved.message.content, "Look at this");
    assert.deepEqual(await loadChat(alice, threadId), [message]);

    const other = generateUuid();
    await rejectsWith(
      callApi(alice, "PUT", `/api/v1/threads/${threadId}/messages/${message.id}`, {
        body: { id: other, role: "user", parts: message.parts, status: "complete" },
      }),
      422,
      undefined,
      "id",
    );
    await rejectsWith(
      callApi(alice, "PUT", `/api/v1/threads/${threadId}/messages/${other}`, {
        body: { role: "user", parts: ["not an object"] },
      }),
      422,
      undefined,
      "parts",
    );
  });

  test("another user's thread answers 404 to PUT and GET", async () => {
    const { alice, bob } = state.users;
    const { id: threadId } = await createThread(alice, { title: "Private" });
    const message = userMessage("mine");
    await saveMessage(alice, threadId, message, { status: "complete" });
    await rejectsWith(saveMessage(bob, threadId, userMessage("x"), { status: "complete" }), 404);
    await rejectsWith(loadChat(bob, threadId), 404);
    await rejectsWith(callApi(bob, "GET", `/api/v1/threads/${threadId}/messages/${message.id}`), 404);
  });

  test("active_stream_id: set, compare-and-set with If-Match, cleared only by its owner", async () => {
    const alice = state.users.alice;
    const { id: threadId } = await createThread(alice, { title: "Streams" });
    const initial = await getThread(alice, threadId);

    const set = await setActiveStream(alice, threadId, "stream-1.a_b", { ifMatch: initial.etag });
    assert.equal(set.thread.active_stream_id, "stream-1.a_b");
    assert.notEqual(set.etag, initial.etag, "the ETag changes");
    assert.equal(set.thread.updated_at, initial.thread.updated_at, "updated_at does not");

    await rejectsWith(
      setActiveStream(alice, threadId, "stream-2", { ifMatch: initial.etag }),
      412,
      "precondition_failed",
    );
    for (const bad of ["not a valid id", "x".repeat(129), ""]) {
      await rejectsWith(setActiveStream(alice, threadId, bad), 422, undefined, "active_stream_id");
    }

    assert.equal(await clearActiveStream(alice, threadId, "stream-2"), false);
    assert.equal((await getThread(alice, threadId)).thread.active_stream_id, "stream-1.a_b");
    assert.equal(await clearActiveStream(alice, threadId, "stream-1.a_b"), true);
    assert.equal((await getThread(alice, threadId)).thread.active_stream_id, null);
  });
});

// ---------------------------------------------------------------------------------------
// A TypeScript client generated from /openapi.json, against the SDK's own types

/**
 * What a TypeScript app writes with the generated `components` and `paths` (./api.ts) and
 * the SDK's types: each line compiles only if the document describes what the SDK has.
 * The union `UIMessagePart` ends in the open `OtherUIPart` (any object with a string
 * `type`), which every SDK part matches; so each part is also checked against the schema
 * of its own type, where a field typed wrong in the document shows.
 */
const TYPECHECK_TS = `\
import type {
  DataUIPart,
  DynamicToolUIPart,
  FileUIPart,
  InferUITools,
  ReasoningUIPart,
  SourceDocumentUIPart,
  SourceUrlUIPart,
  StepStartUIPart,
  TextUIPart,
  Tool,
  ToolUIPart,
  UIMessage,
} from "ai";

import type { components, paths } from "./api.js";

type Schemas = components["schemas"];
type Part = Schemas["UIMessagePart"];
type Message = Schemas["Message"];
type Messages = paths["/api/v1/threads/{thread_id}/messages"];
type OneMessage = paths["/api/v1/threads/{thread_id}/messages/{message_id}"];
type PostBody = Messages["post"]["requestBody"]["content"]["application/json"];
type PutBody = OneMessage["put"]["requestBody"]["content"]["application/json"];

/** Compiles only if \`value\` is assignable to \`T\`; the error says which field is not. */
declare function expectAssignable<T>(value: T): void;
/** Compiles only if \`A\` and \`B\` are the same type (\`any\` is equal to nothing else). */
type Equal<A, B> =
  (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;
declare function expectTrue<T extends true>(): void;

// The SDK's generic UIMessage, and one with a concrete metadata, tool and data types.
type WeatherTool = Tool<{ city: string }, { city: string; temperatureC: number; sky: string }>;
type AppTools = InferUITools<{ weather: WeatherTool }>;
type AppData = { weather: { city: string; temperatureC: number }; notice: string };
type AppMessage = UIMessage<{ model: string; createdAt: number }, AppData, AppTools>;
declare const generic: UIMessage;
declare const app: AppMessage;

// (a) A UIMessage's parts are a request body's parts: the schema is CreateMessageBody,
// which POST and PUT .../messages take.
expectTrue<Equal<PutBody, Schemas["CreateMessageBody"]>>();
expectTrue<Equal<PostBody, Schemas["CreateMessageBody"]>>();
expectAssignable<Schemas["CreateMessageBody"]["parts"]>(generic.parts);
expectAssignable<Schemas["CreateMessageBody"]["parts"]>(app.parts);
expectAssignable<Schemas["UpdateMessageBody"]["parts"]>(app.parts);
expectAssignable<Schemas["BatchBody"]["messages"][number]["parts"]>(app.parts);
// The whole body chat-store.mjs's saveMessage PUTs.
expectAssignable<PutBody>({
  role: app.role,
  parts: app.parts,
  metadata: app.metadata ?? {},
  status: "streaming",
  parent_id: null,
});

// (b) Each part type of the SDK is a UIMessagePart, and matches the schema of its type.
declare const text: TextUIPart;
declare const reasoning: ReasoningUIPart;
declare const anyTool: ToolUIPart;
declare const weatherTool: ToolUIPart<AppTools>;
declare const dynamicTool: DynamicToolUIPart;
declare const sourceUrl: SourceUrlUIPart;
declare const sourceDocument: SourceDocumentUIPart;
declare const file: FileUIPart;
declare const anyData: DataUIPart<Record<string, unknown>>;
declare const weatherData: DataUIPart<AppData>;
declare const stepStart: StepStartUIPart;
expectAssignable<Part>(text);
expectAssignable<Part>(reasoning);
expectAssignable<Part>(anyTool);
expectAssignable<Part>(weatherTool);
expectAssignable<Part>(dynamicTool);
expectAssignable<Part>(sourceUrl);
expectAssignable<Part>(sourceDocument);
expectAssignable<Part>(file);
expectAssignable<Part>(anyData);
expectAssignable<Part>(weatherData);
expectAssignable<Part>(stepStart);
expectAssignable<Schemas["TextUIPart"]>(text);
expectAssignable<Schemas["ReasoningUIPart"]>(reasoning);
expectAssignable<Schemas["ToolUIPart"]>(anyTool);
expectAssignable<Schemas["ToolUIPart"]>(weatherTool);
expectAssignable<Schemas["DynamicToolUIPart"]>(dynamicTool);
expectAssignable<Schemas["SourceUrlUIPart"]>(sourceUrl);
expectAssignable<Schemas["SourceDocumentUIPart"]>(sourceDocument);
expectAssignable<Schemas["FileUIPart"]>(file);
expectAssignable<Schemas["DataUIPart"]>(anyData);
expectAssignable<Schemas["DataUIPart"]>(weatherData);
expectAssignable<Schemas["StepStartUIPart"]>(stepStart);

// (c) A Message as the service returns it: {id, role, parts, metadata} is a UIMessage's.
expectTrue<Equal<Message["id"], string>>();
expectTrue<Equal<Message["role"], "system" | "user" | "assistant" | "tool">>();
expectAssignable<Message["role"]>(generic.role);
expectTrue<Equal<Message["parts"], Part[]>>();
expectTrue<Equal<Message["metadata"], { [key: string]: unknown }>>();
expectAssignable<Message["metadata"]>(app.metadata ?? {});
expectTrue<Equal<Message["status"], "complete" | "streaming" | "aborted" | "error">>();

// None of this holds vacuously: the generated types and the SDK's are not \`any\`.
// @ts-expect-error a part without a type is no UIMessagePart
expectAssignable<Part>({ text: "no type" });
// @ts-expect-error a text part without its text is no TextUIPart of the document
expectAssignable<Schemas["TextUIPart"]>({ type: "text" });
// @ts-expect-error nor of the SDK
expectAssignable<TextUIPart>({ type: "text" });
// @ts-expect-error no such status
expectAssignable<Message["status"]>("pending");
`;

/** tsc's errors, each with the line it is about. */
function formatDiagnostics(diagnostics) {
  return diagnostics
    .map((d) => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, "\n    ");
      if (!d.file || d.start === undefined) return `TS${d.code}: ${message}`;
      const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
      const source = d.file.text.split("\n")[line];
      const where = `${path.basename(d.file.fileName)}:${line + 1}:${character + 1}`;
      return `${where} TS${d.code}: ${message}\n  > ${source}`;
    })
    .join("\n\n");
}

describe("a TypeScript client generated from /openapi.json", () => {
  test("type-checks the AI SDK's UIMessages, in requests and in responses (tsc, strict)", async () => {
    const res = await fetch(`${state.serviceUrl}/openapi.json`);
    assert.equal(res.status, 200);
    const document = await res.json();
    assert.ok(document.components.schemas.UIMessagePart, "the document has UIMessagePart");

    // A throwaway project: the generated types, the checks, and this package's
    // node_modules (for "ai") behind a link, resolved the way Node resolves them.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-history-typecheck-"));
    const modules = path.join(dir, "node_modules");
    try {
      fs.writeFileSync(path.join(dir, "api.ts"), astToString(await openapiTS(document)));
      fs.writeFileSync(path.join(dir, "check.ts"), TYPECHECK_TS);
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ type: "module" }));
      const tsconfig = {
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "es2022",
          lib: ["es2023", "dom", "dom.iterable"],
          module: "nodenext",
          moduleResolution: "nodenext",
          types: [],
          // The SDK's own .d.ts are not the subject; api.ts and check.ts are checked.
          skipLibCheck: true,
        },
        files: ["api.ts", "check.ts"],
      };
      fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
      const ours = fileURLToPath(new URL("./node_modules", import.meta.url));
      fs.symlinkSync(ours, modules, "junction");

      const config = ts.getParsedCommandLineOfConfigFile(
        path.join(dir, "tsconfig.json"),
        undefined,
        { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(formatDiagnostics([d])) },
      );
      assert.deepEqual(config.errors, [], formatDiagnostics(config.errors));
      const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
      const diagnostics = ts.getPreEmitDiagnostics(program);
      assert.equal(diagnostics.length, 0, `tsc:\n\n${formatDiagnostics(diagnostics)}`);
      // And the checks saw the SDK's declarations, not a stand-in.
      const files = program.getSourceFiles().map((f) => f.fileName);
      assert.ok(
        files.some((f) => f.endsWith("/node_modules/ai/dist/index.d.ts")),
        'check.ts resolved "ai" to node_modules/ai',
      );
    } finally {
      fs.rmSync(modules, { force: true }); // the link (not recursive: never what it points to)
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("docs/guides/ai-sdk.md", () => {
  test("quotes chat-store.mjs as it is", () => {
    const guide = fs.readFileSync(new URL("../../docs/guides/ai-sdk.md", import.meta.url), "utf8");
    const code = fs.readFileSync(new URL("./chat-store.mjs", import.meta.url), "utf8");
    assert.ok(
      guide.includes("```js\n" + code + "```\n"),
      "paste interop/ai-sdk/chat-store.mjs into the guide's `chat-store.mjs` section again",
    );
  });
});
