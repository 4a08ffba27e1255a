// The client against the real binary: threads, messages, branches, fork, the stream id's
// compare-and-set, typed errors, export and import, the raw openapi-fetch client, retries.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import type { UIMessage } from "ai";

import {
  ChatHistoryError,
  createChatHistoryClient,
  generateUuid,
  isChatHistoryError,
  type ChatHistoryClient,
  type ExportDocument,
  type ProblemCode,
  type Thread,
} from "../src/index.js";
import { json, startService, type Service } from "../test-support/service.js";

let service: Service;
let alice: ChatHistoryClient;
let bob: ChatHistoryClient;

before(async () => {
  service = await startService();
  alice = service.clientFor("alice");
  bob = service.clientFor("bob");
});

after(async () => {
  await service?.stop();
});

/** Expects a ChatHistoryError with this status, code (and field). */
async function rejectsWith(promise: Promise<unknown>, status: number, code: ProblemCode, field?: string) {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof ChatHistoryError, String(e));
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code, e.message);
    if (field !== undefined) assert.equal(e.field, field, e.message);
    assert.equal(e.problem?.code, code);
    return true;
  });
}

const text = (t: string) => [{ type: "text" as const, text: t }];
const userMessage = (t: string): UIMessage => ({ id: generateUuid(), role: "user", parts: text(t) });

describe("threads", () => {
  test("create (idempotent with a client id), get with its ETag, rename, archive, pin, list, delete", async () => {
    const id = generateUuid();
    const created = await alice.createThread({ id, title: "Trip", metadata: { model: "m1" } });
    assert.equal(created.id, id);
    assert.equal(created.title, "Trip");
    assert.deepEqual(created.metadata, { model: "m1" });
    assert.equal(created.message_count, 0);
    const replay = await alice.createThread({ id, title: "Trip", metadata: { model: "m1" } });
    assert.deepEqual(replay, created, "the same create again answers the stored thread");
    await rejectsWith(alice.createThread({ id, title: "Other" }), 409, "idempotency_conflict");

    const { thread, etag } = await alice.getThread(id);
    assert.deepEqual(thread, created);
    assert.match(etag ?? "", /^"[^"]+"$/);

    assert.equal((await alice.renameThread(id, "Lisbon trip")).title, "Lisbon trip");
    assert.equal((await alice.pinThread(id)).pinned, true);
    assert.equal((await alice.archiveThread(id)).archived, true);

    const other = await alice.createThread({ title: "Other" });
    const visible = await alice.listThreads();
    assert.deepEqual(visible.data.map((t) => t.id), [other.id], "archived threads are hidden by default");
    assert.equal(visible.next_cursor, null);
    assert.equal(visible.has_more, false);
    const archived = await alice.listThreads({ archived: "true" });
    assert.deepEqual(archived.data.map((t) => t.id), [id]);
    assert.deepEqual((await alice.listThreads({ archived: "all", pinned: true })).data.map((t) => t.id), [id]);
    assert.equal((await alice.archiveThread(id, false)).archived, false);
    assert.equal((await alice.pinThread(id, false)).pinned, false);

    // Paging: `threads()` follows next_cursor; listThreads pages by hand.
    const more: Thread[] = [];
    for (let i = 0; i < 3; i++) more.push(await alice.createThread({ title: `Page ${i}` }));
    const first = await alice.listThreads({ limit: 2 });
    assert.equal(first.data.length, 2);
    assert.equal(first.has_more, true);
    assert.ok(first.next_cursor);
    const second = await alice.listThreads({ limit: 2, cursor: first.next_cursor });
    assert.ok(second.data.length > 0);
    const all: string[] = [];
    for await (const t of alice.threads({ archived: "all" })) all.push(t.id);
    assert.equal(all.length, 5);
    assert.deepEqual(new Set(all), new Set([id, other.id, ...more.map((t) => t.id)]));
    await rejectsWith(alice.listThreads({ cursor: "garbage" }), 400, "invalid_cursor");

    await alice.deleteThread(other.id);
    await rejectsWith(alice.getThread(other.id), 404, "thread_not_found");
    for (const t of [id, ...more.map((t) => t.id)]) await alice.deleteThread(t);
    assert.deepEqual((await alice.listThreads({ archived: "all" })).data, []);
  });

  test("search finds a message, with its thread and a marked snippet", async () => {
    const thread = await alice.createThread({ title: "Rust questions" });
    const { message } = await alice.appendMessage(thread.id, {
      role: "user",
      content: "why does the borrow checker reject this code",
    });
    const hits = await alice.search('"borrow checker"');
    assert.equal(hits.data.length, 1);
    const hit = hits.data[0]!;
    assert.equal(hit.message.id, message.id);
    assert.deepEqual(hit.thread, { id: thread.id, title: "Rust questions" });
    // Matches are wrapped in ⟦ ⟧ (the phrase as one match): odd pieces of a split.
    assert.deepEqual(hit.snippet.split(/⟦|⟧/).filter((_, i) => i % 2 === 1), ["borrow checker"]);
    assert.deepEqual((await bob.search("borrow")).data, [], "nobody else's messages");
    await rejectsWith(alice.search("   "), 422, "validation_failed", "q");
  });

  test("me, and the raw openapi-fetch client (typed paths, the credential set)", async () => {
    const me = await alice.me();
    assert.match(me.user_id, /^alice-/);
    assert.equal(me.auth, "jwt");
    const { data, error, response } = await alice.api.GET("/api/v1/threads/{thread_id}", {
      params: { path: { thread_id: generateUuid() } },
    });
    assert.equal(data, undefined);
    assert.equal(response.status, 404);
    assert.equal(error?.code, "thread_not_found");
    const anonymous = createChatHistoryClient({ baseUrl: service.baseUrl });
    await rejectsWith(anonymous.me(), 401, "unauthenticated");
  });

  test("getToken is asked before each request", async () => {
    let calls = 0;
    const client = createChatHistoryClient({
      baseUrl: `${service.baseUrl}/`,
      getToken: async () => {
        calls += 1;
        return service.jwtFor("carol");
      },
    });
    await client.me();
    await client.listThreads();
    assert.equal(calls, 2);
  });
});

describe("messages", () => {
  test("a reply saved while it streams, then complete, reads back as the UIMessage saved", async () => {
    const thread = await alice.createThread({ title: "Weather" });
    const question = userMessage("What is the weather in Lisbon?");
    const saved = await alice.saveMessage(thread.id, question, { status: "complete", parentId: null });
    assert.equal(saved.created, true);
    assert.equal(saved.message.content, "What is the weather in Lisbon?");
    assert.equal(saved.message.parent_id, null);
    assert.ok(saved.etag);

    const replyId = generateUuid();
    const snapshots: UIMessage[] = [
      { id: replyId, role: "assistant", parts: [{ type: "step-start" }, { type: "reasoning", text: "The user wants", state: "streaming" }] },
      {
        id: replyId,
        role: "assistant",
        parts: [
          { type: "step-start" },
          { type: "reasoning", text: "The user wants the weather.", state: "done" },
          { type: "text", text: "It is 21", state: "streaming" },
        ],
      },
      {
        id: replyId,
        role: "assistant",
        metadata: { model: "mock", tokens: 30 },
        parts: [
          { type: "step-start" },
          { type: "reasoning", text: "The user wants the weather.", state: "done" },
          {
            type: "tool-weather",
            toolCallId: "call-1",
            state: "output-available",
            input: { city: "Lisbon" },
            output: { temperatureC: 21, sky: "sunny" },
          },
          { type: "source-url", sourceId: "s1", url: "https://example.com/lisbon", title: "Lisbon weather" },
          { type: "text", text: "It is 21 °C and sunny in Lisbon.", state: "done" },
        ],
      },
    ];
    let puts = 0;
    for (const snapshot of snapshots.slice(0, 2)) {
      const s = await alice.saveMessage(thread.id, snapshot, { status: "streaming", parentId: question.id });
      assert.equal(s.created, puts === 0, "the first PUT creates, later ones replace");
      assert.equal(s.message.status, "streaming");
      assert.deepEqual(s.message.parts, json(snapshot.parts));
      puts += 1;
      // Meanwhile a reader sees the partial reply, still streaming.
      const conversation = await alice.loadConversation(thread.id);
      assert.deepEqual(conversation.messages.map((m) => m.id), [question.id, replyId]);
      assert.equal(conversation.info[replyId]?.status, "streaming");
    }
    const last = snapshots[2]!;
    const done = await alice.saveMessage(thread.id, last, { status: "complete", parentId: question.id });
    assert.equal(done.created, false);
    assert.equal(done.message.status, "complete");
    assert.equal(done.message.content, "It is 21 °C and sunny in Lisbon.");
    // Saving the same state again (a retry after a timeout) changes nothing.
    const retried = await alice.saveMessage(thread.id, last, { status: "complete", parentId: question.id });
    assert.equal(retried.created, false);
    assert.deepEqual(retried.message.parts, done.message.parts);

    const chat = await alice.loadChat(thread.id);
    assert.deepEqual(chat, [{ ...question, metadata: {} }, last]);
    const { thread: after } = await alice.getThread(thread.id);
    assert.equal(after.message_count, 2);
    assert.equal(after.active_leaf_id, replyId);

    // The rules of PUT surface as typed errors.
    await rejectsWith(
      alice.saveMessage(thread.id, { ...last, role: "user" }, { status: "complete" }),
      409,
      "message_conflict",
    );
    await rejectsWith(
      alice.saveMessage(thread.id, last, { status: "complete", parentId: null }),
      409,
      "message_conflict",
    );
    await rejectsWith(
      alice.saveMessage(thread.id, userMessage("x"), { status: "complete", parentId: generateUuid() }),
      422,
      "unknown_message",
      "parent_id",
    );
    await rejectsWith(
      alice.saveMessage(thread.id, last, { status: "complete", ifMatch: saved.etag! }),
      412,
      "precondition_failed",
    );
    await rejectsWith(alice.saveMessage(thread.id, userMessage("x"), { status: "complete", ifMatch: "*" }), 412, "precondition_failed");
  });

  test("append, batch, get/find, edit, feedback, the whole tree, delete", async () => {
    const thread = await alice.createThread({ title: "Misc" });
    const id = generateUuid();
    const first = await alice.appendMessage(thread.id, { id, role: "user", content: "Hello" });
    assert.equal(first.created, true);
    const replay = await alice.appendMessage(thread.id, { id, role: "user", content: "Hello" });
    assert.equal(replay.created, false, "an idempotent replay answers 200");
    assert.deepEqual(replay.message, first.message);

    const batch = await alice.appendMessages(thread.id, [
      { role: "assistant", content: "Hi!" },
      { role: "user", content: "How are you?", sources: [{ url: "https://example.com" }] },
    ]);
    assert.equal(batch.length, 2);
    assert.equal(batch[0]!.parent_id, id);
    assert.equal(batch[1]!.parent_id, batch[0]!.id);
    assert.deepEqual(batch[1]!.sources, [{ url: "https://example.com" }]);

    const { message, etag } = await alice.getMessage(thread.id, batch[0]!.id);
    assert.equal(message.content, "Hi!");
    assert.equal(await alice.findMessage(thread.id, generateUuid()), null);

    const edited = await alice.updateMessage(thread.id, message.id, { content: "Hello!" }, { ifMatch: etag! });
    assert.equal(edited.message.content, "Hello!");
    assert.deepEqual(edited.message.parts, text("Hello!"));
    await rejectsWith(alice.updateMessage(thread.id, message.id, { content: "x" }, { ifMatch: etag! }), 412, "precondition_failed");

    const feedback = await alice.setFeedback(thread.id, message.id, { rating: "up", tags: ["helpful"] });
    assert.deepEqual({ ...feedback, updated_at: "" }, { rating: "up", comment: null, tags: ["helpful"], updated_at: "" });
    assert.equal((await alice.getMessage(thread.id, message.id)).message.feedback?.rating, "up");
    await alice.clearFeedback(thread.id, message.id);
    assert.equal((await alice.getMessage(thread.id, message.id)).message.feedback, null);

    const tree = await alice.loadTree(thread.id);
    assert.deepEqual(tree.map((m) => m.id), [id, batch[0]!.id, batch[1]!.id]);
    assert.ok(tree.every((m) => m.sibling_ids === undefined), "no sibling_ids outside path listings");

    await alice.deleteMessage(thread.id, batch[0]!.id);
    assert.equal((await alice.getMessage(thread.id, batch[1]!.id)).message.parent_id, id, "its child moved up");
    await alice.deleteMessage(thread.id, id, { subtree: true });
    assert.deepEqual(await alice.loadTree(thread.id), []);
    assert.equal((await alice.getThread(thread.id)).thread.message_count, 0);
  });

  test("paths longer than a page are loaded whole", async () => {
    const thread = await alice.createThread({ title: "Long" });
    const messages = Array.from({ length: 130 }, (_, i) => ({
      role: i % 2 === 0 ? ("user" as const) : ("assistant" as const),
      content: `message ${i}`,
    }));
    await alice.appendMessages(thread.id, messages.slice(0, 100));
    await alice.appendMessages(thread.id, messages.slice(100));
    const chat = await alice.loadChat(thread.id);
    assert.equal(chat.length, 130);
    assert.deepEqual(chat.map((m) => m.parts), messages.map((m) => text(m.content)));
    const page = await alice.listMessages(thread.id, { limit: 10, order: "desc" });
    assert.equal(page.data[0]?.content, "message 129");
    assert.equal(page.has_more, true);
  });
});

describe("branches", () => {
  test("edit and regenerate add versions; loadConversation gives each message's versions; switching shows another", async () => {
    const thread = await alice.createThread({ title: "Branches" });
    const t = thread.id;
    const add = async (role: "user" | "assistant", content: string, parentId?: string | null) =>
      (await alice.appendMessage(t, { role, content, ...(parentId === undefined ? {} : { parent_id: parentId }) })).message;
    const u1 = await add("user", "Plan a day in Lisbon");
    const a1 = await add("assistant", "Start at Belém");
    const u2 = await add("user", "Something cheaper?");
    const a2 = await add("assistant", "Walk the Alfama");
    // Edit u2 (a sibling under a1), answer it, then regenerate that answer.
    const u2b = await add("user", "Cheaper, and no museums?", a1.id);
    const a2b = await add("assistant", "Walk from Baixa", u2b.id);
    const a2c = await add("assistant", "Take the 28 tram early", u2b.id);

    const conversation = await alice.loadConversation(t);
    assert.deepEqual(conversation.messages.map((m) => m.id), [u1.id, a1.id, u2b.id, a2c.id]);
    assert.deepEqual(conversation.messages[3], { id: a2c.id, role: "assistant", parts: text("Take the 28 tram early"), metadata: {} });
    assert.deepEqual(conversation.info[u2b.id]?.versions, { ids: [u2.id, u2b.id], index: 1, previous: u2.id, next: null });
    assert.deepEqual(conversation.info[a2c.id]?.versions, { ids: [a2b.id, a2c.id], index: 1, previous: a2b.id, next: null });
    assert.deepEqual(conversation.info[u1.id]?.versions, { ids: [u1.id], index: 0, previous: null, next: null });
    assert.equal(conversation.info[a2c.id]?.parentId, u2b.id);
    assert.equal(conversation.info[u1.id]?.parentId, null);

    // "<" on u2b: the path through u2 and on down (to a2) becomes the active path.
    const before = await alice.getThread(t);
    const switched = await alice.switchToVersion(t, u2.id, { ifMatch: before.etag! });
    assert.equal(switched.thread.active_leaf_id, a2.id);
    assert.equal(switched.thread.updated_at, before.thread.updated_at, "switching keeps the thread's place");
    assert.notEqual(switched.etag, before.etag);
    const now = await alice.loadConversation(t);
    assert.deepEqual(now.messages.map((m) => m.id), [u1.id, a1.id, u2.id, a2.id]);
    assert.deepEqual(now.info[u2.id]?.versions, { ids: [u2.id, u2b.id], index: 0, previous: null, next: u2b.id });
    // A stale ETag (the one before the switch) is refused.
    await rejectsWith(alice.switchToVersion(t, u2b.id, { ifMatch: before.etag! }), 412, "precondition_failed");

    // The preview of another branch, without switching: `through`.
    const preview = await alice.loadChat(t, { through: a2b.id });
    assert.deepEqual(preview.map((m) => m.id), [u1.id, a1.id, u2b.id, a2b.id]);
    // Exactly one message, without descent; null follows the newest root.
    assert.equal((await alice.setActiveLeaf(t, u2b.id)).thread.active_leaf_id, u2b.id);
    assert.deepEqual((await alice.loadChat(t)).map((m) => m.id), [u1.id, a1.id, u2b.id]);
    assert.equal((await alice.setActiveLeaf(t, null)).thread.active_leaf_id, null);
    assert.equal((await alice.loadChat(t)).length, 4);
    await rejectsWith(alice.setActiveLeaf(t, generateUuid()), 422, "unknown_message", "active_leaf_id");
    await rejectsWith(alice.loadChat(t, { through: generateUuid() }), 404, "message_not_found");
  });

  test("fork copies the path up to a message into a new thread", async () => {
    const source = await alice.createThread({ title: "Source", metadata: { model: "m" } });
    const [q, a] = await alice.appendMessages(source.id, [
      { role: "user", content: "Question" },
      { role: "assistant", parts: [{ type: "text", text: "Answer" }], status: "aborted" },
      { role: "user", content: "Follow-up" },
    ]);
    const forkId = generateUuid();
    const fork = await alice.forkThread(source.id, a!.id, { id: forkId, title: "Fork" });
    assert.equal(fork.id, forkId);
    assert.equal(fork.title, "Fork");
    assert.equal(fork.message_count, 2);
    assert.deepEqual(fork.metadata, { model: "m", forked_from: { thread_id: source.id, message_id: a!.id } });
    const copies = await alice.loadMessages(fork.id);
    assert.deepEqual(
      copies.map((m) => [m.role, m.content, m.status, m.created_at]),
      [
        ["user", "Question", "complete", q!.created_at],
        ["assistant", "Answer", "aborted", a!.created_at],
      ],
    );
    assert.ok(copies.every((m) => m.id !== q!.id && m.id !== a!.id), "new ids");
    assert.equal(fork.active_leaf_id, copies[1]!.id);
    // A retry with the same id is idempotent; the title defaults to the source's.
    assert.deepEqual(await alice.forkThread(source.id, a!.id, { id: forkId, title: "Fork" }), fork);
    assert.equal((await alice.forkThread(source.id, q!.id)).title, "Source");
    await rejectsWith(alice.forkThread(source.id, generateUuid()), 422, "unknown_message", "message_id");
    await rejectsWith(bob.forkThread(source.id, a!.id), 404, "thread_not_found");
  });
});

describe("the reply stream in flight (active_stream_id)", () => {
  test("set, compare-and-set with If-Match (412 on a stale ETag), claim, clear only by its owner", async () => {
    const thread = await alice.createThread({ title: "Streams" });
    const initial = await alice.getThread(thread.id);
    const set = await alice.setActiveStream(thread.id, "stream-1", { ifMatch: initial.etag! });
    assert.equal(set.thread.active_stream_id, "stream-1");
    assert.notEqual(set.etag, initial.etag);
    assert.equal(set.thread.updated_at, initial.thread.updated_at);

    // Another writer still holding the first ETag loses.
    const stale = alice.setActiveStream(thread.id, "stream-2", { ifMatch: initial.etag! });
    await rejectsWith(stale, 412, "precondition_failed");
    const error = await stale.catch((e: unknown) => e);
    assert.ok(isChatHistoryError(error, "precondition_failed"));
    if (isChatHistoryError(error)) {
      const code: ProblemCode | undefined = error.code; // typed as the schema's enum
      assert.equal(code, "precondition_failed");
    }
    await rejectsWith(alice.setActiveStream(thread.id, "not valid"), 422, "validation_failed", "active_stream_id");

    assert.equal(await alice.claimActiveStream(thread.id, "stream-2"), false, "one is in flight");
    assert.equal(await alice.clearActiveStream(thread.id, "stream-2"), false, "not its stream");
    assert.equal((await alice.getThread(thread.id)).thread.active_stream_id, "stream-1");
    assert.equal(await alice.clearActiveStream(thread.id, "stream-1"), true);
    assert.equal((await alice.getThread(thread.id)).thread.active_stream_id, null);
    assert.equal(await alice.claimActiveStream(thread.id, "stream-3"), true);
    assert.equal(
      await alice.claimActiveStream(thread.id, "stream-4", { takeOver: (t) => t.active_stream_id === "stream-3" }),
      true,
    );
    assert.equal((await alice.getThread(thread.id)).thread.active_stream_id, "stream-4");
  });
});

describe("errors", () => {
  test("404 thread_not_found (missing, or another user's: the same answer), 400 invalid_id, 422 with its field", async () => {
    const thread = await alice.createThread({ title: "Private" });
    await alice.appendMessage(thread.id, { role: "user", content: "mine" });
    const missing = await alice.getThread(generateUuid()).catch((e: unknown) => e);
    const foreign = await bob.getThread(thread.id).catch((e: unknown) => e);
    for (const e of [missing, foreign]) {
      assert.ok(e instanceof ChatHistoryError);
      assert.equal(e.status, 404);
      assert.equal(e.code, "thread_not_found");
      assert.equal(e.field, undefined);
      assert.ok(e.detail.length > 0);
      assert.match(e.requestId ?? "", /^[A-Za-z0-9._-]{1,128}$/, "the answer's X-Request-Id");
      assert.match(e.message, /GET \/api\/v1\/threads\/.* answered 404 \(thread_not_found/);
    }
    assert.equal((missing as ChatHistoryError).detail, (foreign as ChatHistoryError).detail);
    await rejectsWith(bob.loadChat(thread.id), 404, "thread_not_found");
    await rejectsWith(bob.saveMessage(thread.id, userMessage("x"), { status: "complete" }), 404, "thread_not_found");
    await rejectsWith(alice.getThread("not-a-uuid"), 400, "invalid_id");
    await rejectsWith(alice.renameThread(thread.id, "x".repeat(513)), 422, "validation_failed", "title");
    await rejectsWith(
      alice.appendMessage(thread.id, { role: "user", content: "x", parent_id: generateUuid() }),
      422,
      "unknown_message",
      "parent_id",
    );
  });

  test("idempotent requests are retried after a 503 with Retry-After; others are not", async () => {
    let seen: string[] = [];
    let failNext = 0;
    const flaky = createChatHistoryClient({
      baseUrl: service.baseUrl,
      token: service.jwtFor("dave"),
      fetch: async (request) => {
        seen.push(request.method);
        if (failNext > 0) {
          failNext -= 1;
          return new Response(JSON.stringify({ type: "about:blank", title: "Service Unavailable", status: 503, detail: "down", code: "service_unavailable" }), {
            status: 503,
            headers: { "content-type": "application/problem+json", "retry-after": "0" },
          });
        }
        return fetch(request);
      },
    });
    const thread = await flaky.createThread({ title: "Flaky" });
    seen = [];
    failNext = 2;
    const saved = await flaky.saveMessage(thread.id, userMessage("retried"), { status: "complete" });
    assert.equal(saved.message.content, "retried", "the body was sent again");
    assert.deepEqual(seen, ["PUT", "PUT", "PUT"]);
    seen = [];
    failNext = 1;
    await rejectsWith(flaky.renameThread(thread.id, "x"), 503, "service_unavailable");
    assert.deepEqual(seen, ["PATCH"], "a PATCH is not retried");
    seen = [];
    failNext = 5;
    const error = await flaky.listThreads().catch((e: unknown) => e);
    assert.ok(isChatHistoryError(error, "service_unavailable"));
    assert.equal(error.retryAfter, 0);
    assert.deepEqual(seen, ["GET", "GET", "GET"], "3 attempts in all");
  });
});

describe("export and import", () => {
  test("exportThread (JSON and markdown), exportHistory round trip through importHistory", async () => {
    const erin = service.clientFor("erin");
    const thread = await erin.createThread({ title: "Export me", metadata: { k: 1 } });
    const [q] = await erin.appendMessages(thread.id, [
      { role: "user", content: "Hello" },
      { role: "assistant", parts: [{ type: "reasoning", text: "hm" }, { type: "text", text: "Hi" }] },
    ]);
    await erin.appendMessage(thread.id, { role: "assistant", content: "Hey", parent_id: q!.id }); // a branch
    const second = await erin.createThread({ title: "Second" });
    await erin.appendMessage(second.id, { role: "user", content: "Only one" });

    const doc = await erin.exportThread(thread.id);
    assert.equal(doc.thread.id, thread.id);
    assert.equal(doc.messages.length, 3, "every branch");
    const markdown = await erin.exportThreadMarkdown(thread.id);
    assert.match(markdown, /Export me/);

    const lines: string[] = [];
    for await (const line of erin.exportHistoryLines()) lines.push(line);
    assert.equal(lines.length, 2);
    const docs: ExportDocument[] = [];
    for await (const d of erin.exportHistory()) docs.push(d);
    assert.deepEqual(docs.map((d) => [d.thread.title, d.messages.length]), [
      ["Export me", 3],
      ["Second", 1],
    ]);
    assert.deepEqual(docs, lines.map((l) => JSON.parse(l)));

    // Into another account, streamed from the export as it is read.
    const frank = service.clientFor("frank");
    async function* file() {
      for await (const line of erin.exportHistoryLines()) yield `${line}\n`;
    }
    const report = await frank.importHistory(file());
    assert.deepEqual(report, { threads_created: 2, threads_skipped: 0, messages_created: 4, errors: [] });
    const again = await frank.importHistory(lines.join("\n"), { format: "chat-history" });
    assert.deepEqual(again, { threads_created: 0, threads_skipped: 2, messages_created: 0, errors: [] });
    const imported: ExportDocument[] = [];
    for await (const d of frank.exportHistory()) imported.push(d);
    // Threads come in id order; the imported ones have ids of their own.
    const summary = (list: ExportDocument[]) =>
      list
        .map((d) => [d.thread.title, d.thread.metadata, d.messages.map((m) => [m.role, m.parts, m.created_at])] as const)
        .sort((a, b) => a[0].localeCompare(b[0]));
    assert.deepEqual(summary(imported), summary(docs));
    const copy = imported.find((d) => d.thread.title === "Export me")!;
    assert.equal((await frank.loadChat(copy.thread.id)).length, 2, "the active leaf came along");

    // Other bodies: bytes and a Blob; a file that is not whole JSON is refused whole.
    const bytes = await frank.importHistory(new TextEncoder().encode(lines[1]!));
    assert.equal(bytes.threads_skipped, 1);
    const blob = await frank.importHistory(new Blob([lines[1]!]));
    assert.equal(blob.threads_skipped, 1);
    await rejectsWith(frank.importHistory("[{", { format: "chatgpt" }), 400, "malformed_json");

    await frank.deleteHistory();
    assert.deepEqual((await frank.listThreads({ archived: "all" })).data, []);
  });
});
