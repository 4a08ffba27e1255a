// Starts the real chat-history binary for a test file: SQLite in a temporary directory,
// an HS256 secret (the tests sign their users' JWTs), port 0 (the address comes from the
// "chat-history is listening" log line). CHAT_HISTORY_BIN names the binary.

import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";

import { createChatHistoryClient, type ChatHistoryClient, type ChatHistoryClientOptions } from "../src/index.js";

export interface Service {
  baseUrl: string;
  secret: string;
  /** The service's recent log lines (for failure messages). */
  logs: string[];
  /** A client for `user` (a fresh user id per name and service). */
  clientFor(user: string, options?: Partial<ChatHistoryClientOptions>): ChatHistoryClient;
  /** An HS256 JWT for `sub`, valid for an hour. */
  jwtFor(sub: string): string;
  stop(): Promise<void>;
}

/** An HS256 JWT for `sub`, as JWT_HS256_SECRET verifies it. */
export function signJwt(secret: string, sub: string, ttlSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, iat: now, exp: now + ttlSeconds })}`;
  const signature = crypto.createHmac("sha256", secret).update(input).digest("base64url");
  return `${input}.${signature}`;
}

export async function startService(env: Record<string, string> = {}): Promise<Service> {
  const bin = process.env.CHAT_HISTORY_BIN;
  assert.ok(bin, "set CHAT_HISTORY_BIN to the chat-history binary (cargo build --bin chat-history)");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-history-ts-client-"));
  const secret = crypto.randomBytes(32).toString("hex");
  const logs: string[] = [];
  const child: ChildProcess = spawn(bin, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: `sqlite://${path.join(dir, "ch.db")}?mode=rwc`,
      LISTEN_ADDR: "127.0.0.1:0",
      JWT_HS256_SECRET: secret,
      // Saves while a reply streams are many requests a second.
      RATE_LIMIT_PER_MINUTE: "0",
      LOG_FORMAT: "json",
      RUST_LOG: "info,actix_server=warn,sqlx=warn,sea_orm=warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const keep = (line: string) => {
    logs.push(line);
    if (logs.length > 300) logs.shift();
  };
  let exited: string | null = null;
  const address = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chat-history did not listen within 60 s:\n${logs.join("\n")}`)), 60_000);
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      readline.createInterface({ input: stream }).on("line", (line) => {
        keep(line);
        try {
          const entry = JSON.parse(line) as { message?: string; addr?: string; fields?: { message?: string; addr?: string } };
          const message = entry.message ?? entry.fields?.message;
          const addr = entry.addr ?? entry.fields?.addr;
          if (message === "chat-history is listening" && addr) {
            clearTimeout(timer);
            resolve(addr);
          }
        } catch {
          // not JSON
        }
      });
    }
    child.on("exit", (code, signal) => {
      exited = `code ${code}, signal ${signal}`;
      clearTimeout(timer);
      reject(new Error(`chat-history exited (${exited}):\n${logs.join("\n")}`));
    });
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  const addr = await address;
  const baseUrl = `http://${addr}`;
  const suffix = crypto.randomUUID().slice(0, 8);
  const jwtFor = (sub: string) => signJwt(secret, `${sub}-${suffix}`);
  return {
    baseUrl,
    secret,
    logs,
    jwtFor,
    clientFor: (user, options = {}) => createChatHistoryClient({ baseUrl, token: jwtFor(user), ...options }),
    async stop() {
      if (exited === null && child.exitCode === null && child.signalCode === null) {
        const done = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await done;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` every 25 ms until it returns a truthy value, for at most `ms`. */
export async function waitFor<T>(what: string, ms: number, check: () => T | Promise<T>): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      last = await check();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}: ${last instanceof Error ? last.stack : String(last)}`);
}

/** `promise`, or a rejection after `ms`. */
export async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A value as it crosses the wire: JSON drops `undefined` fields. */
export const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
