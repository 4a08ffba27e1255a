// End-to-end test of the example app in headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; nothing downloads a browser): sign up, chat, reload and see
// the history, edit and switch versions, regenerate, stop a reply, reload in the middle
// of a reply and keep following it, a second tab that sees a new message arrive, search,
// pin, archive, export.
//
//   npm ci && CHAT_HISTORY_BIN=../../target/debug/chat-history npm test
//
// It creates a fresh PostgreSQL database (TEST_DATABASE_URL, default
// postgres://postgres@127.0.0.1:5432/postgres; dropped at the end) for Better Auth's tables
// (scripts/migrate.mjs) and the service's, starts the service (port 0), builds the app
// (`next build`; SKIP_NEXT_BUILD=1 reuses .next) and starts it (`next start`), then drives
// Chromium. Screenshots go to test-output/ (printed at the start). CHROMIUM: the browser
// (default /usr/bin/chromium).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import pg from "pg";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUTPUT = path.join(HERE, "test-output");
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SECRET = crypto.randomBytes(32).toString("base64");
const NEXT_BIN = path.join(HERE, "node_modules", "next", "dist", "bin", "next");
// Every wait is bounded; none is a fixed sleep.
const STEP_MS = 30_000;

const state = {
  dbName: `chat_history_nextjs_${crypto.randomBytes(4).toString("hex")}`,
  databaseUrl: null,
  service: null,
  serviceUrl: null,
  app: null,
  appUrl: null,
  logs: [],
  browser: null,
  context: null,
  page: null,
  threadUrl: null,
  timings: {},
};

function keepLog(prefix, line) {
  state.logs.push(`${prefix} ${line}`);
  if (state.logs.length > 400) state.logs.shift();
}

function databaseUrl(name) {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin(sql) {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `check` until it returns a truthy value, at most `ms`. */
async function waitFor(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check().catch((e) => e);
    if (last && !(last instanceof Error)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : last}`);
}

function timed(name, started) {
  state.timings[name] = `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

/** The service on port 0; resolves with its URL from the "chat-history is listening" line. */
async function startService(appUrl) {
  const bin = process.env.CHAT_HISTORY_BIN;
  assert.ok(bin, "set CHAT_HISTORY_BIN to the chat-history binary (cargo build --bin chat-history)");
  const child = spawn(bin, [], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: state.databaseUrl,
      LISTEN_ADDR: "127.0.0.1:0",
      // The app's Better Auth: JWKS at $BETTER_AUTH_URL/api/auth/jwks, iss and aud its origin.
      BETTER_AUTH_URL: appUrl,
      BETTER_AUTH_SECRET: SECRET,
      TRUSTED_ORIGINS: appUrl,
      // A reply saved as it streams is a few requests a second.
      RATE_LIMIT_PER_MINUTE: "0",
      LOG_FORMAT: "json",
      RUST_LOG: "info,actix_server=warn,sqlx=warn,sea_orm=warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  state.service = child;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chat-history did not listen within 60 s:\n${state.logs.join("\n")}`)), 60_000);
    for (const stream of [child.stdout, child.stderr]) {
      readline.createInterface({ input: stream }).on("line", (line) => {
        keepLog("[service]", line);
        try {
          const entry = JSON.parse(line);
          const message = entry.message ?? entry.fields?.message;
          const addr = entry.addr ?? entry.fields?.addr;
          if (message === "chat-history is listening" && addr) {
            clearTimeout(timer);
            resolve(`http://${addr}`);
          }
        } catch {
          // not JSON
        }
      });
    }
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`chat-history exited (${code}, ${signal}):\n${state.logs.join("\n")}`));
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

function appEnv() {
  return {
    ...process.env,
    NEXT_TELEMETRY_DISABLED: "1",
    DATABASE_URL: state.databaseUrl,
    BETTER_AUTH_URL: state.appUrl,
    BETTER_AUTH_SECRET: SECRET,
    CHAT_HISTORY_URL: state.serviceUrl,
    // The mock model's pace: slow enough to stop a reply or reload in the middle of one.
    MOCK_CHUNK_DELAY_MS: "35",
    AI_GATEWAY_API_KEY: "",
  };
}

async function stopChild(child) {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

before(async () => {
  fs.mkdirSync(OUTPUT, { recursive: true });
  console.log(`# screenshots: ${OUTPUT}`);
  await admin(`CREATE DATABASE ${state.dbName}`);
  state.databaseUrl = databaseUrl(state.dbName);

  // Better Auth's tables, with its own migrator (scripts/migrate.mjs).
  const migrate = spawnSync(process.execPath, ["scripts/migrate.mjs"], {
    cwd: HERE,
    env: { ...process.env, DATABASE_URL: state.databaseUrl },
    encoding: "utf8",
  });
  assert.equal(migrate.status, 0, `migrations failed:\n${migrate.stdout}${migrate.stderr}`);

  const appPort = await freePort();
  state.appUrl = `http://127.0.0.1:${appPort}`;
  state.serviceUrl = await startService(state.appUrl);

  if (!(process.env.SKIP_NEXT_BUILD === "1" && fs.existsSync(path.join(HERE, ".next", "BUILD_ID")))) {
    const started = Date.now();
    const build = spawnSync(process.execPath, [NEXT_BIN, "build"], { cwd: HERE, env: appEnv(), encoding: "utf8" });
    assert.equal(build.status, 0, `next build failed:\n${build.stdout}${build.stderr}`);
    timed("next build", started);
  }

  const started = Date.now();
  state.app = spawn(process.execPath, [NEXT_BIN, "start", "-p", String(appPort), "-H", "127.0.0.1"], {
    cwd: HERE,
    env: appEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [state.app.stdout, state.app.stderr]) {
    readline.createInterface({ input: stream }).on("line", (line) => keepLog("[app]", line));
  }
  await waitFor("the app to answer", 60_000, async () => {
    assert.equal(state.app.exitCode, null, `next start exited:\n${state.logs.join("\n")}`);
    const res = await fetch(`${state.appUrl}/sign-in`);
    return res.status === 200;
  });
  timed("next start", started);

  state.browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
  });
  state.context = await state.browser.newContext({ viewport: { width: 1280, height: 800 } });
  state.context.setDefaultTimeout(STEP_MS);
  state.page = await state.context.newPage();
});

after(async () => {
  await state.browser?.close().catch(() => {});
  await stopChild(state.app);
  await stopChild(state.service);
  if (state.databaseUrl) {
    await admin(`DROP DATABASE IF EXISTS ${state.dbName} WITH (FORCE)`).catch((e) => console.error(e));
  }
  console.log(`# timings: ${JSON.stringify(state.timings)}`);
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUTPUT, `${name}.png`) });
}

/** The messages shown, as {role, status, text}. */
async function messagesOf(page) {
  return page.$$eval('[data-testid="message"]', (nodes) =>
    nodes.map((node) => ({
      role: node.dataset.role,
      status: node.dataset.status,
      text: [...node.querySelectorAll("p")].map((p) => p.textContent).join(""),
    })),
  );
}

/** Waits until the messages shown satisfy `check`, at most STEP_MS. */
async function waitForMessages(page, what, check) {
  return waitFor(what, STEP_MS, async () => {
    const messages = await messagesOf(page);
    return check(messages) ? messages : new Error(JSON.stringify(messages));
  });
}

const lastAssistant = (messages) => messages.filter((m) => m.role === "assistant").at(-1);

async function send(page, text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send" }).click();
}

/** Fails the test with the app's and the service's recent logs attached. */
async function step(name, body) {
  const started = Date.now();
  try {
    await body();
  } catch (e) {
    if (state.page) await shot(state.page, `failed-${name.replace(/\W+/g, "-")}`).catch(() => {});
    e.message += `\n--- recent logs ---\n${state.logs.slice(-80).join("\n")}`;
    throw e;
  } finally {
    timed(name, started);
  }
}

test("sign up", () =>
  step("sign up", async () => {
    const { page } = state;
    await page.goto(`${state.appUrl}/`);
    await page.waitForURL("**/sign-in");
    await page.getByRole("button", { name: "Create an account" }).click();
    await page.getByLabel("Name").fill("Ada");
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill("ada-password-0123456789");
    await page.getByRole("button", { name: "Sign up" }).click();
    await page.waitForURL("**/chat");
    await waitFor("the live feed", STEP_MS, () => page.evaluate(() => document.documentElement.dataset.live === "on"));
  }));

test("chat: a new chat, a streamed reply, the title in the sidebar", () =>
  step("chat", async () => {
    const { page } = state;
    await page.getByRole("button", { name: "New chat" }).first().click();
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/);
    state.threadUrl = page.url();
    await send(page, "Hello there");
    await waitForMessages(page, "the reply", (m) =>
      m.length === 2 && m[1].status === "complete" && m[1].text.startsWith('You said: "Hello there".'),
    );
    await page.getByTestId("thread").filter({ hasText: "Hello there" }).waitFor();
    await shot(page, "01-chat");
  }));

test("reload: the history is there", () =>
  step("reload", async () => {
    const { page } = state;
    await page.reload();
    const messages = await waitForMessages(page, "the stored chat", (m) => m.length === 2);
    assert.equal(messages[0].text, "Hello there");
    assert.equal(messages[1].status, "complete");
    await page.getByTestId("thread").filter({ hasText: "Hello there" }).waitFor();
  }));

test("edit a question, regenerate a reply, switch versions", () =>
  step("versions", async () => {
    const { page } = state;
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("Edit message").fill("Hello again");
    await page.getByRole("button", { name: "Save and send" }).click();
    await waitForMessages(page, "the edited question's reply", (m) =>
      m.length === 2 && m[0].text === "Hello again" && m[1].status === "complete" && m[1].text.startsWith('You said: "Hello again"'),
    );
    const question = page.getByTestId("message").first();
    await question.getByTestId("version-label").filter({ hasText: "2 / 2" }).waitFor();

    await page.getByRole("button", { name: "Regenerate" }).click();
    await waitForMessages(page, "the regenerated reply", (m) =>
      m.length === 2 && m[1].status === "complete" && m[1].text.includes("(Version 2.)"),
    );
    const reply = page.getByTestId("message").nth(1);
    await reply.getByTestId("version-label").filter({ hasText: "2 / 2" }).waitFor();
    await reply.getByRole("button", { name: "Previous version" }).click();
    await reply.getByTestId("version-label").filter({ hasText: "1 / 2" }).waitFor();
    await waitForMessages(page, "the first reply", (m) => !m[1].text.includes("(Version 2.)"));

    await question.getByRole("button", { name: "Previous version" }).click();
    await question.getByTestId("version-label").filter({ hasText: "1 / 2" }).waitFor();
    await waitForMessages(page, "the original question", (m) =>
      m[0].text === "Hello there" && m[1].text.startsWith('You said: "Hello there"'),
    );
    await question.getByRole("button", { name: "Next version" }).click();
    await waitForMessages(page, "the edited question again", (m) => m[0].text === "Hello again");
    // The active branch is stored: a reload shows the same one.
    await page.reload();
    await waitForMessages(page, "the edited branch after a reload", (m) => m.length === 2 && m[0].text === "Hello again");
    await shot(page, "02-versions");
  }));

test("stop: the partial reply is kept as aborted", () =>
  step("stop", async () => {
    const { page } = state;
    await send(page, "Tell me a long story");
    await waitForMessages(page, "the reply to start", (m) => {
      const last = m.at(-1);
      return m.length === 4 && last.role === "assistant" && last.status === "streaming" && last.text.length > 60;
    });
    await page.getByRole("button", { name: "Stop" }).click();
    const stopped = await waitForMessages(page, "the reply to be stored as aborted", (m) => m.at(-1).status === "aborted");
    const partial = lastAssistant(stopped).text;
    // The whole reply repeats its filler ten times: a stopped one has fewer.
    assert.ok(partial.split("This is a canned reply").length - 1 < 10, `the reply was not cut: ${partial}`);
    await page.locator(".badge.aborted", { hasText: "stopped" }).waitFor();
    await page.reload();
    const reloaded = await waitForMessages(page, "the aborted reply after a reload", (m) => m.length === 4);
    assert.equal(reloaded[3].status, "aborted");
    assert.equal(reloaded[3].text, partial, "the stored partial reply is the one shown when it stopped");
    await shot(page, "03-stopped");
  }));

test("reload in the middle of a reply: the page keeps following it", () =>
  step("reload mid-reply", async () => {
    const { page } = state;
    await send(page, "Another long one please");
    await waitForMessages(page, "the reply to start", (m) => m.length === 6 && m[5].status === "streaming" && m[5].text.length > 40);
    await page.reload();
    // The reloaded page shows the reply as saved so far, still being written ...
    const seen = await waitForMessages(page, "the reply in progress after the reload", (m) => m.length === 6 && m[5].status === "streaming");
    await page.getByRole("button", { name: "Stop" }).waitFor();
    // ... and follows it through the events feed to its end.
    const done = await waitForMessages(page, "the reply to complete", (m) => m.length === 6 && m[5].status === "complete");
    assert.ok(done[5].text.length > seen[5].text.length, "the reply grew after the reload");
    assert.ok(done[5].text.endsWith("from another tab."), done[5].text);
  }));

test("a second tab sees a new message arrive", () =>
  step("second tab", async () => {
    const { page } = state;
    const second = await state.context.newPage();
    try {
      await second.goto(state.threadUrl);
      await waitFor("the second tab's live feed", STEP_MS, () =>
        second.evaluate(() => document.documentElement.dataset.live === "on"),
      );
      await waitForMessages(second, "the chat in the second tab", (m) => m.length === 6);
      await send(page, "Greetings from the first tab");
      await waitForMessages(second, "the new message and its reply in the second tab", (m) =>
        m.length === 8 &&
        m[6].text === "Greetings from the first tab" &&
        m[7].status === "complete" &&
        m[7].text.startsWith('You said: "Greetings from the first tab"'),
      );
      await shot(second, "04-second-tab");
    } finally {
      await second.close();
    }
  }));

test("search, pin, archive, export", () =>
  step("search", async () => {
    const { page } = state;
    await waitForMessages(page, "the first tab to be idle", (m) => m.length === 8 && m[7].status === "complete");
    // A second chat, so that the sidebar has an order to show.
    await page.getByRole("button", { name: "New chat" }).first().click();
    await page.waitForURL((url) => url.toString() !== state.threadUrl && /\/chat\/[0-9a-f-]{36}$/.test(url.pathname));
    await send(page, "Something about borrow checkers");
    await waitForMessages(page, "the second chat's reply", (m) => m.length === 2 && m[1].status === "complete");
    const titles = () => page.getByTestId("thread").allTextContents();
    await waitFor("the newest chat first", STEP_MS, async () => (await titles())[0]?.startsWith("Something about"));

    // Pin the older chat: it goes on top.
    const first = page.getByTestId("thread").filter({ hasText: "Hello there" });
    await first.getByRole("button", { name: "Pin" }).click();
    await waitFor("the pinned chat on top", STEP_MS, async () => (await titles())[0]?.startsWith("Hello there"));

    // Search every message (every branch).
    await page.getByLabel("Search").fill("story");
    await page.getByLabel("Search").press("Enter");
    const hit = page.getByTestId("search-hit").first();
    await hit.locator("mark", { hasText: /story/i }).waitFor();
    await shot(page, "05-search");
    await hit.locator("a").click();
    await page.waitForURL(state.threadUrl);

    // Export: the active path as Markdown, every branch as JSON.
    const markdown = await page.request.get(`${state.threadUrl.replace("/chat/", "/api/threads/")}/export?format=markdown`);
    assert.equal(markdown.status(), 200);
    assert.match(markdown.headers()["content-disposition"], /attachment/);
    assert.match(await markdown.text(), /Greetings from the first tab/);
    const json = await (await page.request.get(`${state.threadUrl.replace("/chat/", "/api/threads/")}/export?format=json`)).json();
    assert.ok(json.messages.some((m) => m.content === "Hello there"), "the JSON export has every branch");

    // Archive the second chat: it leaves the list, and is in the archive.
    const other = page.getByTestId("thread").filter({ hasText: "Something about" });
    await other.getByRole("button", { name: "Archive" }).click();
    await other.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Archived" }).click();
    await page.getByTestId("thread").filter({ hasText: "Something about" }).waitFor();
  }));
