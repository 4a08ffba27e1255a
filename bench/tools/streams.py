#!/usr/bin/env python3
"""Streaming-replies benchmark driver (bench/streams.sh runs it against a started service).

    streams.py URL SECRET STREAMS INTERVAL_MS DURATION_S OUT.json

STREAMS concurrent replies, as an AI SDK route handler saves them: each on its own
keep-alive connection and its own thread (users spread over 10), PUTs its growing assistant
reply (parts: a reasoning part, then a text part growing by ~200 bytes per save, capped at
4 KiB of parts) every INTERVAL_MS with `status: "streaming"`, then once with `complete`
after 20 saves, then starts the next reply (a new user message and a new reply id) in the
same thread. Open loop: each save is due at a fixed time (start + k * INTERVAL_MS) and its
latency is measured from that time, so a slow server cannot hide latency by slowing the
senders down (no coordinated omission). Runs DURATION_S seconds after a 3 s warm-up and
writes the latency percentiles, the rate achieved and every non-2xx status to OUT.json.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import statistics
import sys
import time
import uuid
from urllib.parse import urlparse


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(secret: str, sub: str) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps({"sub": sub, "exp": int(time.time()) + 86400}).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


WORDS = "the quick brown fox jumps over the lazy dog while the model keeps on writing its answer "
SAVES_PER_REPLY = 20


def reply_body(step: int, final: bool) -> bytes:
    text = (WORDS * 60)[: min(200 * (step + 1), 3600)]
    parts = [
        {"type": "step-start"},
        {"type": "reasoning", "text": "Thinking about the question.", "state": "done"},
        {"type": "text", "text": text, "state": "done" if final else "streaming"},
    ]
    return json.dumps(
        {"role": "assistant", "parts": parts, "status": "complete" if final else "streaming"}
    ).encode()


class Connection:
    def __init__(self, host: str, port: int, token: str):
        self.host, self.port, self.token = host, port, token
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def call(self, method: str, path: str, body: bytes) -> int:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


async def stream(index, url, secret, interval, start, end, warm_until, samples, errors, counts):
    u = urlparse(url)
    conn = Connection(u.hostname, u.port, jwt(secret, f"streamer-{index % 10}"))
    await conn.open()
    thread = str(uuid.uuid4())
    body = json.dumps({"id": thread, "title": f"stream {index}"}).encode()
    status = await conn.call("POST", "/api/v1/threads", body)
    if status != 201:
        raise SystemExit(f"thread create: {status}")
    base = f"/api/v1/threads/{thread}/messages"
    k = 0  # saves due so far on this stream
    # Spread the streams' phases over one interval.
    phase = interval * index / max(1, counts["streams"])
    while True:
        reply = str(uuid.uuid4())
        question = json.dumps({"role": "user", "content": "and then?"}).encode()
        await conn.call("PUT", f"{base}/{uuid.uuid4()}", question)
        for step in range(SAVES_PER_REPLY + 1):
            due = start + phase + k * interval
            k += 1
            now = time.monotonic()
            if due >= end:
                return
            if due > now:
                await asyncio.sleep(due - now)
            final = step == SAVES_PER_REPLY
            status = await conn.call("PUT", f"{base}/{reply}", reply_body(step, final))
            done = time.monotonic()
            if due >= warm_until:
                samples.append(done - due)
                if status not in (200, 201):
                    errors[status] = errors.get(status, 0) + 1


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def main():
    url, secret = sys.argv[1], sys.argv[2]
    streams, interval_ms, duration = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    out = sys.argv[6]
    interval = interval_ms / 1000
    warmup = 3.0
    start = time.monotonic() + 1.0
    warm_until = start + warmup
    end = warm_until + duration
    samples, errors = [], {}
    counts = {"streams": streams}
    await asyncio.gather(
        *(
            stream(i, url, secret, interval, start, end, warm_until, samples, errors, counts)
            for i in range(streams)
        )
    )
    ms = [s * 1000 for s in samples]
    result = {
        "streams": streams,
        "interval_ms": interval_ms,
        "duration_s": duration,
        "saves": len(ms),
        "saves_per_s": len(ms) / duration,
        "target_per_s": streams * 1000 / interval_ms,
        "p50_ms": pct(ms, 0.50),
        "p90_ms": pct(ms, 0.90),
        "p99_ms": pct(ms, 0.99),
        "max_ms": max(ms),
        "mean_ms": statistics.fmean(ms),
        "errors": errors,
    }
    json.dump(result, open(out, "w"), indent=1)
    print(json.dumps(result))


asyncio.run(main())
