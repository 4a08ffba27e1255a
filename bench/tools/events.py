#!/usr/bin/env python3
"""Live-events benchmark driver (bench/events.sh runs it against a started service).

    events.py URL TOKENS SUBSCRIBERS SECONDS OUT.json

Opens SUBSCRIBERS event streams (`GET /api/v1/events`), one per user, user u with the u-th
line of TOKENS, each on its own connection; waits until every stream has started; then
reads them for SECONDS (while bench/events.sh runs the append load) and records, for every
`message.created` event, the delivery latency: the time it was read minus the message's
`created_at` (set by the service when it took the write, on this machine's clock, so the
latency covers the write's commit, the hub and the socket). Writes the percentiles, the
number of events, and how many streams ended early to OUT.json. Asyncio, raw sockets: the
HTTP/1.1 chunked body is parsed just enough to split events.
"""

import asyncio
import json
import sys
import time
from datetime import datetime
from urllib.parse import urlparse


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


async def subscribe(host, port, token, ready, deadline, samples, state):
    """One stream; `deadline[0]` is when to stop reading (None until every stream started)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        (
            f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
        ).encode()
    )
    status = await reader.readline()
    if b" 200 " not in status:
        state["refused"] += 1
        ready.release()
        return
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    ready.release()
    buffer = b""
    while deadline[0] is None or time.time() < deadline[0]:
        try:
            size_line = await asyncio.wait_for(reader.readline(), 1.0)
        except asyncio.TimeoutError:
            continue
        if not size_line:
            state["ended"] += 1
            return
        size = int(size_line.strip() or b"0", 16)
        chunk = await reader.readexactly(size + 2)
        buffer += chunk[:-2]
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            if b"event: message.created" not in block:
                continue
            now = time.time()
            data = block.split(b"data: ", 1)[1]
            created = json.loads(data)["message"]["created_at"]
            at = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            samples.append(now - at)
    writer.close()


async def main():
    url, tokens_file = sys.argv[1], sys.argv[2]
    subscribers, seconds, out = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    u = urlparse(url)
    tokens = [line.strip() for line in open(tokens_file) if line.strip()][:subscribers]
    ready = asyncio.Semaphore(0)
    samples, state = [], {"refused": 0, "ended": 0}
    deadline = [None]
    tasks = [
        asyncio.create_task(subscribe(u.hostname, u.port, t, ready, deadline, samples, state))
        for t in tokens
    ]
    for _ in tokens:
        await ready.acquire()
    # Every stream is open: the caller starts the load when it reads this line.
    print("ready", flush=True)
    deadline[0] = time.time() + seconds
    await asyncio.gather(*tasks, return_exceptions=True)
    result = {
        "subscribers": len(tokens),
        "refused": state["refused"],
        "ended_early": state["ended"],
        "events": len(samples),
        "p50_ms": (pct(samples, 0.50) or 0) * 1000,
        "p90_ms": (pct(samples, 0.90) or 0) * 1000,
        "p99_ms": (pct(samples, 0.99) or 0) * 1000,
        "max_ms": (max(samples) if samples else 0) * 1000,
    }
    json.dump(result, open(out, "w"), indent=1)

if __name__ == "__main__":
    asyncio.run(main())
