// Interop test: a real Better Auth installation (server.mjs) and the chat-history binary
// share one fresh PostgreSQL database and one secret. chat-history must accept each user's
// session cookie, bearer token and JWT as that user, keep the users apart, and reject
// tampered, signed-out, expired and foreign credentials.
//
//   npm ci --prefix interop/better-auth
//   CHAT_HISTORY_BIN=target/debug/chat-history npm test --prefix interop/better-auth
//
// Environment: CHAT_HISTORY_BIN (required for the chat-history part), TEST_DATABASE_URL
// (default postgres://postgres@127.0.0.1:5432/postgres; a database is created on that
// server and dropped at the end).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import net from "node:net";
import { after, before, describe, test } from "node:test";

import pg from "pg";

import { startBetterAuth } from "./server.mjs";

const ADMIN_URL =
  process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SECRET = crypto.randomBytes(32).toString("base64");
const CACHE_TTL_SECS = 1;
const COOKIE = "better-auth.session_token";
const SECURE_COOKIE = "__Secure-better-auth.session_token";

const state = {
  dbName: null,
  databaseUrl: null,
  ba: null,
  service: null,
  serviceUrl: null,
  serviceLog: [],
  users: {},
};

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

async function query(sql, params) {
  return state.ba.pool.query(sql, params);
}

/** Polls `check` every 100 ms until it returns a truthy value or `ms` pass. */
async function waitFor(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    last = await check().catch((e) => e);
    if (last && !(last instanceof Error)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A POST to Better Auth as a browser on its own origin would send it. */
async function authPost(path, body, cookie) {
  const headers = { "content-type": "application/json", origin: state.ba.url };
  if (cookie) headers.cookie = cookie;
  const res = await fetch(`${state.ba.url}/api/auth${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res;
}

/** Everything a signed-in client holds: cookie value, bearer token, raw token, JWT. */
async function credentialsOf(res) {
  const json = await res.json();
  const setCookie = res.headers
    .getSetCookie()
    .find((c) => c.startsWith(`${COOKIE}=`));
  assert.ok(setCookie, "Better Auth set the session cookie");
  const cookieValue = setCookie.slice(COOKIE.length + 1).split(";")[0];
  const bearer = res.headers.get("set-auth-token");
  assert.ok(bearer, "the bearer plugin handed out set-auth-token");
  const tokenRes = await fetch(`${state.ba.url}/api/auth/token`, {
    headers: { cookie: `${COOKIE}=${cookieValue}` },
  });
  assert.equal(tokenRes.status, 200);
  const { token: jwt } = await tokenRes.json();
  return { userId: json.user.id, rawToken: json.token, cookieValue, bearer, jwt };
}

async function signUp(name) {
  const res = await authPost("/sign-up/email", {
    name,
    email: `${name}@example.com`,
    password: `${name}-password-0123456789`,
  });
  return credentialsOf(res);
}

async function signIn(name) {
  const res = await authPost("/sign-in/email", {
    email: `${name}@example.com`,
    password: `${name}-password-0123456789`,
  });
  return credentialsOf(res);
}

function b64url(data) {
  return Buffer.from(data).toString("base64url");
}

function decodeJwt(jwt) {
  const [header, payload] = jwt.split(".");
  return {
    header: JSON.parse(Buffer.from(header, "base64url")),
    payload: JSON.parse(Buffer.from(payload, "base64url")),
  };
}

/** An EdDSA JWT with `claims`, signed by a fresh Ed25519 key unknown to Better Auth. */
function foreignJwt(kid, claims) {
  const { privateKey } = crypto.generateKeyPairSync("ed25519");
  const input = `${b64url(JSON.stringify({ alg: "EdDSA", kid }))}.${b64url(JSON.stringify(claims))}`;
  const signature = crypto.sign(null, Buffer.from(input), privateKey);
  return `${input}.${b64url(signature)}`;
}

/** `GET /api/v1/me` with the given headers. */
async function me(headers) {
  const res = await fetch(`${state.serviceUrl}/api/v1/me`, { headers });
  const body = await res.text();
  return { status: res.status, body: body ? JSON.parse(body) : null };
}

const withCookie = (value, name = COOKIE) => ({ cookie: `${name}=${value}` });
const withBearer = (token) => ({ authorization: `Bearer ${token}` });

async function assertUser(headers, userId, auth) {
  const { status, body } = await me(headers);
  assert.equal(status, 200, JSON.stringify(body));
  assert.deepEqual({ user_id: body.user_id, auth: body.auth }, { user_id: userId, auth });
}

async function assertRejected(headers) {
  const { status } = await me(headers);
  assert.equal(status, 401);
}

/** Polls until `headers` get 401: a revoked session may live on for the cache TTL. */
async function assertRejectedWithinCacheTtl(headers) {
  const deadline = CACHE_TTL_SECS * 1000 + 5000;
  await waitFor("the revoked session to be refused", deadline, async () => {
    const { status } = await me(headers);
    assert.ok(status === 200 || status === 401, `unexpected status ${status}`);
    return status === 401;
  });
}

async function startService() {
  const bin = process.env.CHAT_HISTORY_BIN;
  assert.ok(bin, "set CHAT_HISTORY_BIN to the chat-history binary (cargo build --bin chat-history)");
  const port = await freePort();
  state.serviceUrl = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [], {
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: state.databaseUrl,
      BETTER_AUTH_SECRET: SECRET,
      BETTER_AUTH_URL: state.ba.url,
      LISTEN_ADDR: `127.0.0.1:${port}`,
      SESSION_CACHE_TTL_SECS: String(CACHE_TTL_SECS),
      TRUSTED_ORIGINS: state.ba.url,
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
  await waitFor("chat-history /healthz", 60_000, async () => {
    if (exited) {
      throw new Error(
        `chat-history exited (${JSON.stringify(exited)}):\n${state.serviceLog.join("")}`,
      );
    }
    const res = await fetch(`${state.serviceUrl}/healthz`);
    return res.status === 200;
  }).catch((e) => {
    // A crashed service is not worth waiting for: report its output at once.
    throw new Error(`${e.message}\n${state.serviceLog.join("")}`);
  });
}

async function stopService() {
  const child = state.service;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

before(async () => {
  state.dbName = `chat_history_interop_${crypto.randomBytes(6).toString("hex")}`;
  await admin(`CREATE DATABASE "${state.dbName}"`);
  state.databaseUrl = databaseUrl(state.dbName);
  state.ba = await startBetterAuth({ databaseUrl: state.databaseUrl, secret: SECRET });
  state.users.alice = await signUp("alice");
  state.users.bob = await signUp("bob");
});

after(async () => {
  await stopService();
  if (state.ba) await state.ba.close();
  if (state.dbName) await admin(`DROP DATABASE IF EXISTS "${state.dbName}" WITH (FORCE)`);
});

describe("Better Auth hands out what chat-history verifies", () => {
  test("the session cookie is the token signed with HMAC-SHA256 in standard base64", () => {
    for (const user of Object.values(state.users)) {
      assert.match(user.rawToken, /^[A-Za-z0-9]{32}$/);
      const expected = crypto.createHmac("sha256", SECRET).update(user.rawToken).digest("base64");
      assert.equal(expected.length, 44);
      assert.equal(decodeURIComponent(user.cookieValue), `${user.rawToken}.${expected}`);
      assert.equal(user.bearer, `${user.rawToken}.${expected}`);
    }
  });

  test("the session row is found by token with the camelCase columns", async () => {
    const { rows } = await query(
      'SELECT "userId", "expiresAt" FROM session WHERE token = $1',
      [state.users.alice.rawToken],
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0].userId, state.users.alice.userId);
    assert.ok(rows[0].expiresAt > new Date());
  });

  test("the JWT is EdDSA with a kid from the JWKS, sub the user, iss and aud the base URL", async () => {
    const res = await fetch(`${state.ba.url}/api/auth/jwks`);
    const { keys } = await res.json();
    const { header, payload } = decodeJwt(state.users.alice.jwt);
    assert.equal(header.alg, "EdDSA");
    const key = keys.find((k) => k.kid === header.kid);
    assert.deepEqual(
      { kty: key.kty, crv: key.crv, alg: key.alg },
      { kty: "OKP", crv: "Ed25519", alg: "EdDSA" },
    );
    assert.equal(payload.sub, state.users.alice.userId);
    assert.equal(payload.iss, state.ba.url);
    assert.equal(payload.aud, state.ba.url);
    assert.equal(payload.exp - payload.iat, 900);
  });
});

describe("chat-history accepts Better Auth's credentials", () => {
  before(startService);

  test("each user's session cookie authenticates that user", async () => {
    for (const user of Object.values(state.users)) {
      await assertUser(withCookie(user.cookieValue), user.userId, "session");
    }
  });

  test("the __Secure- cookie name and an unencoded value are accepted too", async () => {
    const { alice } = state.users;
    await assertUser(withCookie(alice.cookieValue, SECURE_COOKIE), alice.userId, "session");
    await assertUser(withCookie(decodeURIComponent(alice.cookieValue)), alice.userId, "session");
  });

  test("each user's signed bearer token and raw session token authenticate that user", async () => {
    for (const user of Object.values(state.users)) {
      await assertUser(withBearer(user.bearer), user.userId, "session");
      await assertUser(withBearer(user.rawToken), user.userId, "session");
    }
  });

  test("each user's JWT authenticates that user", async () => {
    for (const user of Object.values(state.users)) {
      await assertUser(withBearer(user.jwt), user.userId, "jwt");
    }
  });

  test("one user's thread is invisible to the other", async () => {
    const { alice, bob } = state.users;
    const created = await fetch(`${state.serviceUrl}/api/v1/threads`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: state.ba.url,
        ...withCookie(alice.cookieValue),
      },
      body: JSON.stringify({ title: "x" }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { id } = await created.json();
    const asAlice = await fetch(`${state.serviceUrl}/api/v1/threads/${id}`, {
      headers: withBearer(alice.jwt),
    });
    assert.equal(asAlice.status, 200);
    for (const headers of [withCookie(bob.cookieValue), withBearer(bob.bearer), withBearer(bob.jwt)]) {
      const asBob = await fetch(`${state.serviceUrl}/api/v1/threads/${id}`, { headers });
      assert.equal(asBob.status, 404);
    }
  });

  test("a tampered cookie is rejected", async () => {
    const { alice, bob } = state.users;
    const value = decodeURIComponent(alice.cookieValue);
    const dot = value.lastIndexOf(".");
    const sig = value.slice(dot + 1);
    const flipped = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
    await assertRejected(withCookie(encodeURIComponent(`${value.slice(0, dot)}.${flipped}`)));
    // Bob's token under Alice's signature, and a cookie signed with another secret.
    await assertRejected(withCookie(`${bob.rawToken}.${encodeURIComponent(sig)}`));
    const forged = crypto.createHmac("sha256", "not-the-secret").update(alice.rawToken).digest("base64");
    await assertRejected(withCookie(encodeURIComponent(`${alice.rawToken}.${forged}`)));
    await assertRejected(withCookie(alice.rawToken));
    await assertRejected(withCookie("garbage"));
  });

  test("malformed authorization headers are rejected", async () => {
    for (const value of ["Bearer", "Bearer ", "Bearer a.b.c", "Bearer x.y", "Basic dXNlcjpwYXNz"]) {
      const { status } = await me({ authorization: value });
      assert.equal(status, 401, value);
    }
    assert.equal((await me({})).status, 401);
  });

  test("a JWT signed by a different key is rejected, under the real kid or a new one", async () => {
    const { alice } = state.users;
    const { header, payload } = decodeJwt(alice.jwt);
    await assertRejected(withBearer(foreignJwt(header.kid, payload)));
    await assertRejected(withBearer(foreignJwt("some-new-kid", payload)));
    // And the real token with its payload swapped for Bob's user id.
    const [h, , s] = alice.jwt.split(".");
    const forged = `${h}.${b64url(JSON.stringify({ ...payload, sub: state.users.bob.userId }))}.${s}`;
    await assertRejected(withBearer(forged));
  });

  test("a signed-out session is rejected once the cache TTL has passed", async () => {
    const second = await signIn("alice");
    await assertUser(withCookie(second.cookieValue), second.userId, "session");
    await assertUser(withBearer(second.bearer), second.userId, "session");
    await authPost("/sign-out", {}, `${COOKIE}=${second.cookieValue}`);
    const { rows } = await query("SELECT 1 FROM session WHERE token = $1", [second.rawToken]);
    assert.equal(rows.length, 0, "Better Auth deleted the session row");
    await assertRejectedWithinCacheTtl(withCookie(second.cookieValue));
    await assertRejected(withBearer(second.bearer));
    await assertRejected(withBearer(second.rawToken));
    // Signing out one session leaves the other sessions of the user alone.
    await assertUser(withCookie(state.users.alice.cookieValue), second.userId, "session");
  });

  test("an expired session is rejected although its row is still there", async () => {
    const second = await signIn("bob");
    await assertUser(withBearer(second.bearer), second.userId, "session");
    await query(
      `UPDATE session SET "expiresAt" = now() - interval '1 minute' WHERE token = $1`,
      [second.rawToken],
    );
    await assertRejectedWithinCacheTtl(withBearer(second.bearer));
    await assertRejected(withCookie(second.cookieValue));
    await assertRejected(withBearer(second.rawToken));
  });

  test("a JWT stays valid after sign-out until it expires", async () => {
    const third = await signIn("bob");
    await authPost("/sign-out", {}, `${COOKIE}=${third.cookieValue}`);
    await assertUser(withBearer(third.jwt), third.userId, "jwt");
  });
});
