#!/usr/bin/env python3
"""Tree paging benchmark driver (bench/trees.sh runs it against a started service).

    trees.py URL SECRET MESSAGES BRANCHES REQUESTS OUT.json [AFTER_BUILD_COMMAND]

Builds, through the public API, two threads of one user with MESSAGES messages each:
`linear` (one path) and `branched` (BRANCHES segments of MESSAGES / BRANCHES messages; each
segment after the first starts as a regenerated last reply of the one before, so the active
path crosses BRANCHES - 1 branch points and leaves a one-message branch behind at each).
Then it times, one request at a time on one keep-alive connection, linear and branched
interleaved, REQUESTS requests of each kind of page of 50:
  newest   GET .../messages?limit=50&order=desc      (what a chat UI loads first)
  oldest   GET .../messages?limit=50                 (root first)
  middle   the same with the cursor of the page in the middle of the path
  through  GET .../messages?limit=50&order=desc&through=<the first message>
and writes p50/p90/p99 per thread and kind, and branched / linear ratios of p50.
"""

import base64
import hashlib
import hmac
import http.client
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


class Client:
    def __init__(self, url: str, token: str):
        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    def call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body)
        self.conn.request(method, path, body=data, headers=self.headers)
        res = self.conn.getresponse()
        raw = res.read()
        if res.status >= 300:
            raise SystemExit(f"{method} {path}: {res.status} {raw[:300]!r}")
        return json.loads(raw) if raw else None


def content(i: int) -> str:
    return (f"message {i}: " + "the quick brown fox jumps over the lazy dog " * 8)[:320]


def batch(client, thread, first_parent, n, start):
    """Appends n chained messages; the first under first_parent (omitted when None)."""
    messages = []
    for i in range(n):
        m = {"role": "user" if (start + i) % 2 == 0 else "assistant", "content": content(start + i)}
        if i == 0 and first_parent is not None:
            m["parent_id"] = first_parent
        messages.append(m)
    out = []
    for at in range(0, n, 100):  # a batch holds at most 100 messages
        chunk = messages[at:at + 100]
        if at > 0:
            chunk[0] = dict(chunk[0], parent_id=out[-1]["id"])
        out += client.call("POST", f"/api/v1/threads/{thread}/messages/batch", {"messages": chunk})["data"]
    return out


def build(client, messages, branches):
    linear = client.call("POST", "/api/v1/threads", {"title": "linear"})["id"]
    batch(client, linear, None, messages, 0)
    branched = client.call("POST", "/api/v1/threads", {"title": "branched"})["id"]
    per = messages // branches
    last = batch(client, branched, None, per, 0)
    for s in range(1, branches):
        # Regenerate the segment's last reply: a sibling of it, then the rest of the segment.
        last = batch(client, branched, last[-1]["parent_id"], per, s * per)
    return linear, branched


def first_id(client, thread):
    return client.call("GET", f"/api/v1/threads/{thread}/messages?limit=1")["data"][0]["id"]


def middle_cursor(client, thread):
    path = f"/api/v1/threads/{thread}/messages?limit=100"
    pages = []
    cursor = None
    while True:
        page = client.call("GET", path + (f"&cursor={cursor}" if cursor else ""))
        cursor = page.get("next_cursor")
        if not cursor:
            break
        pages.append(cursor)
    # A cursor of the limit=50 listing at the middle: walk there with limit=50 pages.
    target = len(pages) + 1  # pages of 100 in the path
    cursor = None
    for _ in range(target):  # 2 * target / 2 pages of 50 = the middle
        page = client.call("GET", f"/api/v1/threads/{thread}/messages?limit=50" + (f"&cursor={cursor}" if cursor else ""))
        cursor = page["next_cursor"]
    return cursor


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main():
    url, secret, messages, branches, requests, out = sys.argv[1:7]
    messages, branches, requests = int(messages), int(branches), int(requests)
    client = Client(url, jwt(secret, f"bench-tree-{uuid.uuid4().hex[:8]}"))
    t0 = time.time()
    linear, branched = build(client, messages, branches)
    built = time.time() - t0
    if len(sys.argv) > 7:
        # A hook run after the data is written (bench/trees.sh: VACUUM ANALYZE, as
        # autovacuum would soon do on a live database).
        import subprocess
        subprocess.run(sys.argv[7], shell=True, check=True)
    threads = {"linear": linear, "branched": branched}
    path_len = {}
    for name, tid in threads.items():
        t = client.call("GET", f"/api/v1/threads/{tid}")
        assert t["message_count"] == messages, t
    kinds = {}
    for name, tid in threads.items():
        base = f"/api/v1/threads/{tid}/messages?limit=50"
        kinds.setdefault("newest", {})[name] = base + "&order=desc"
        kinds.setdefault("oldest", {})[name] = base
        kinds.setdefault("middle", {})[name] = base + "&cursor=" + middle_cursor(client, tid)
        kinds.setdefault("through", {})[name] = base + "&order=desc&through=" + first_id(client, tid)
        # Length of the active path, for the report.
        n, cursor = 0, None
        while True:
            page = client.call("GET", f"/api/v1/threads/{tid}/messages?limit=100" + (f"&cursor={cursor}" if cursor else ""))
            n += len(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        path_len[name] = n
    result = {"messages": messages, "branches": branches, "requests": requests,
              "build_seconds": round(built, 1), "path_length": path_len, "kinds": {}}
    for kind, paths in kinds.items():
        times = {name: [] for name in paths}
        for _ in range(20):  # warm-up
            for name, path in paths.items():
                client.call("GET", path)
        for _ in range(requests):
            for name, path in paths.items():
                t = time.perf_counter()
                page = client.call("GET", path)
                times[name].append((time.perf_counter() - t) * 1000)
                assert len(page["data"]) == 50, (kind, name, len(page["data"]))
        stats = {name: {"p50_ms": round(statistics.median(v), 3), "p90_ms": round(pct(v, 90), 3),
                        "p99_ms": round(pct(v, 99), 3)} for name, v in times.items()}
        stats["ratio_p50"] = round(stats["branched"]["p50_ms"] / stats["linear"]["p50_ms"], 2)
        result["kinds"][kind] = stats
        print(f"{kind:8} linear p50 {stats['linear']['p50_ms']:7.3f} ms  branched p50 "
              f"{stats['branched']['p50_ms']:7.3f} ms  ratio {stats['ratio_p50']}", file=sys.stderr)
    json.dump(result, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
