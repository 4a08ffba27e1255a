#!/usr/bin/env python3
"""Helpers of the benchmark kit (standard library only).

  bench.py tokens  USERS OUT_DIR          mint HS256 JWTs and signed Better Auth session tokens
  bench.py sample  OUT.json SERVICE_PID   sample CPU by process group and the service's RSS until SIGTERM
  bench.py pglog   PREFIX                 latency percentiles (ms) of pgbench -l logs, as JSON
  bench.py report  RESULTS_DIR            write RESULTS_DIR/report.md from the JSON files there
  bench.py latency URL TOKEN WARMUP N     N sequential GETs on one keep-alive connection, after
                                          WARMUP unmeasured ones: percentiles (ms) as JSON
  bench.py scaling RESULTS_DIR            write RESULTS_DIR/report.md of bench/search-scaling.sh

Secrets come from JWT_HS256_SECRET and BETTER_AUTH_SECRET.
"""
import base64, glob, hashlib, hmac, json, os, signal, sys, time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tokens(users: int, out_dir: str) -> None:
    jwt_secret = os.environ["JWT_HS256_SECRET"].encode()
    ba_secret = os.environ["BETTER_AUTH_SECRET"].encode()
    now = int(time.time())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    with open(os.path.join(out_dir, "jwt.txt"), "w") as jwt_file, \
         open(os.path.join(out_dir, "session.txt"), "w") as session_file:
        for u in range(1, users + 1):
            claims = {"sub": f"bench-user-{u}", "iat": now, "exp": now + 6 * 3600}
            body = b64url(json.dumps(claims, separators=(",", ":")).encode())
            signing_input = f"{header}.{body}".encode()
            sig = b64url(hmac.new(jwt_secret, signing_input, hashlib.sha256).digest())
            jwt_file.write(f"{header}.{body}.{sig}\n")
            # Better Auth: token + "." + standard base64 (padded) of HMAC-SHA256(secret, token).
            token = "benchsession" + str(u).rjust(20, "0")
            mac = base64.b64encode(hmac.new(ba_secret, token.encode(), hashlib.sha256).digest()).decode()
            session_file.write(f"{token}.{mac}\n")


def classify(pid: str):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    if cmd.startswith("postgres: ") or "postgres: " in cmd[:40]:
        return "db" if " bench_" in cmd else "db_other"
    exe = cmd.split(" ", 1)[0].rsplit("/", 1)[-1]
    if "bench/tools/events.py" in cmd:
        return "reader"
    if exe in ("wrk", "pgbench"):
        return "loadgen"
    if exe.startswith("chat-history"):
        return "service"
    return None


def cpu_ticks(pid: str):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def machine_ticks():
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts[:8]), idle


def sample(out: str, service_pid: str) -> None:
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    first, last, group = {}, {}, {}
    start_total, start_idle = machine_ticks()
    started = time.time()
    peak_rss_kib = 0

    def scan(initial: bool):
        nonlocal peak_rss_kib
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            if pid not in group:
                # The service is its pid too: a build compared under another file name.
                g = "service" if pid == service_pid else classify(pid)
                if g is None:
                    continue
                group[pid] = g
                # A process born after the start counts from zero.
                first[pid] = cpu_ticks(pid) if initial else 0
            t = cpu_ticks(pid)
            if t is not None:
                last[pid] = t
        try:
            with open(f"/proc/{service_pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak_rss_kib = max(peak_rss_kib, int(line.split()[1]))
        except OSError:
            pass

    scan(True)
    while not stop:
        time.sleep(0.25)
        scan(False)
    scan(False)
    total, idle = machine_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    elapsed = time.time() - started
    cpu = {}
    for pid, g in group.items():
        if pid in last and first.get(pid) is not None:
            cpu[g] = cpu.get(g, 0) + (last[pid] - first[pid]) / hz
    busy = (total - start_total - (idle - start_idle)) / hz
    ours = sum(v for k, v in cpu.items() if k != "db_other")
    result = {
        "elapsed_s": round(elapsed, 2),
        "cores": os.cpu_count(),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "machine_busy_s": round(busy, 2),
        "other_s": round(max(busy - ours, 0.0), 2),
        "service_peak_rss_kib": peak_rss_kib,
    }
    with open(out, "w") as f:
        json.dump(result, f)


def pglog(prefix: str) -> None:
    lat = []
    for path in glob.glob(prefix + "*"):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and parts[2].lstrip("-").isdigit():
                    lat.append(int(parts[2]) / 1000.0)
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))], 3) if lat else None

    json.dump({"count": len(lat), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
               "max_ms": round(lat[-1], 3) if lat else None}, sys.stdout)


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, digits=1):
    return "–" if v is None else f"{v:,.{digits}f}"


def cpu_split(s):
    if not s:
        return "–"
    c = s["cpu_s"]
    el = s["elapsed_s"] or 1
    # In cores (1.0 = one core busy for the whole run).
    parts = [f"{name} {c.get(key, 0) / el:.2f}" for key, name in
             (("loadgen", "load"), ("service", "svc"), ("db", "pg"))]
    parts.append(f"other {s['other_s'] / el:.2f}")
    return " / ".join(parts)


def report(results: str) -> None:
    meta = load(os.path.join(results, "meta.json")) or {}
    lines = [f"# chat-history benchmark, {meta.get('date', '')}", ""]
    lines.append(f"- machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, "
                 f"{meta.get('mem', '?')}; load average before / after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}")
    lines.append(f"- data set: {meta.get('messages', '?')} messages, {meta.get('users', '?')} users, "
                 f"{meta.get('threads', '?')} threads ({meta.get('db_size', '?')})")
    lines.append(f"- {meta.get('duration', '?')} s per run, {meta.get('connections', '?')} connections "
                 f"(wrk -t2, pgbench -j2 -M prepared), service pool {meta.get('pool', '?')}, "
                 f"RATE_LIMIT_PER_MINUTE=0, SESSION_CACHE_TTL_SECS={meta.get('session_ttl', '?')}, "
                 f"log {meta.get('log', '?')}")
    if meta.get("pgbench_clients", meta.get("connections")) != meta.get("connections"):
        lines.append(f"- pgbench clients: {meta.get('pgbench_clients')} (PGBENCH_CLIENTS)")
    if meta.get("pinned"):
        lines.append("- pinned (PIN=1): PostgreSQL on core 0; the service, wrk and pgbench on core 1")
    lines.append("")
    lines.append("| scenario | service req/s | p50 ms | p99 ms | errors | pgbench tx/s | p50 ms | p99 ms "
                 "| service/pgbench | CPU, service run (cores) | CPU, pgbench run (cores) |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    peak = 0
    for name in meta.get("scenarios", []):
        w = load(os.path.join(results, f"wrk-{name}.json"))
        p = load(os.path.join(results, f"pgbench-{name}.json"))
        s = load(os.path.join(results, f"cpu-wrk-{name}.json"))
        sp = load(os.path.join(results, f"cpu-pgbench-{name}.json"))
        if s:
            peak = max(peak, s.get("service_peak_rss_kib", 0))
        if w is None:
            lines.append(f"| {name} | not available | | | | | | | | | |")
            continue
        ratio = (w["rps"] / p["tps"]) if p and p.get("tps") else None
        lines.append(
            f"| {name} | {fmt(w['rps'], 0)} | {fmt(w['p50_ms'], 2)} | {fmt(w['p99_ms'], 2)} | "
            f"{w['errors']} | {fmt(p and p.get('tps'), 0)} | {fmt(p and p.get('p50_ms'), 2)} | "
            f"{fmt(p and p.get('p99_ms'), 2)} | {'–' if ratio is None else f'{ratio:.0%}'} | {cpu_split(s)} | {cpu_split(sp)} |")
    lines.append("")
    lines.append(f"Service peak RSS (VmRSS sampled every 250 ms, all runs): {peak / 1024:.1f} MiB")
    lines += ["", "CPU time per request (µs; less sensitive to other load on the machine than req/s):", "",
              "| scenario | service | PostgreSQL (service run) | PostgreSQL (pgbench run) | wrk | pgbench client |",
              "|---|---:|---:|---:|---:|---:|"]
    for name in meta.get("scenarios", []):
        w = load(os.path.join(results, f"wrk-{name}.json"))
        p = load(os.path.join(results, f"pgbench-{name}.json"))
        s = load(os.path.join(results, f"cpu-wrk-{name}.json"))
        sp = load(os.path.join(results, f"cpu-pgbench-{name}.json"))
        if not (w and s and w.get("requests")):
            continue
        n = w["requests"]
        m = p.get("count") if p else None
        per = lambda c, k, cnt: None if not (c and cnt) else c["cpu_s"].get(k, 0) * 1e6 / cnt
        lines.append(f"| {name} | {fmt(per(s, 'service', n), 0)} | {fmt(per(s, 'db', n), 0)} | "
                     f"{fmt(per(sp, 'db', m), 0)} | {fmt(per(s, 'loadgen', n), 0)} | {fmt(per(sp, 'loadgen', m), 0)} |")
    lat = load(os.path.join(results, "latency.json"))
    if lat:
        warm = " (tables and indexes read into the OS page cache first)" if meta.get("prewarm") == "1" else " (no prewarm)"
        lines += ["", "Read a page of 50 messages, by database size" + warm + ":", "",
                  "| messages | service c=1 p50 / p99 ms | service c=%s p50 / p99 ms | pgbench c=1 p50 / p99 ms |" % meta.get("connections", "?"),
                  "|---:|---|---|---|"]
        for row in lat:
            lines.append(f"| {row['messages']:,} | {fmt(row.get('c1_p50'), 2)} / {fmt(row.get('c1_p99'), 2)} | "
                         f"{fmt(row.get('cN_p50'), 2)} / {fmt(row.get('cN_p99'), 2)} | "
                         f"{fmt(row.get('pg_p50'), 3)} / {fmt(row.get('pg_p99'), 3)} |")
    scaling_report = os.path.join(results, "search-scaling", "report.md")
    if os.path.exists(scaling_report):
        with open(scaling_report) as f:
            lines += ["", "#" + f.read().rstrip("\n")]  # its title one level down
    text = "\n".join(lines) + "\n"
    with open(os.path.join(results, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


def latency(url: str, token: str, warmup: int, count: int) -> None:
    """One client, one request at a time, on one HTTP/1.1 keep-alive connection (as a
    browser or a backend would reuse one): the time from sending a request to having read
    the whole response. Every response must be 200 with a JSON body."""
    import http.client
    import urllib.parse
    parts = urllib.parse.urlsplit(url)
    path = parts.path + ("?" + parts.query if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    lat, hits, has_more = [], None, None
    for k in range(warmup + count):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - t0) * 1000.0
        if resp.status != 200:
            sys.exit(f"GET {path}: HTTP {resp.status}: {body[:300]!r}")
        if k >= warmup:
            lat.append(elapsed)
        if hits is None:
            page = json.loads(body)
            hits, has_more = len(page.get("data", [])), page.get("has_more")
    conn.close()
    ordered = sorted(lat)

    def pct(p):
        return round(ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))], 3)

    json.dump({"count": len(lat), "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99),
               "max_ms": round(ordered[-1], 3), "mean_ms": round(sum(lat) / len(lat), 3),
               "page_hits": hits, "has_more": has_more}, sys.stdout)


def scaling(results: str) -> None:
    """The report of bench/search-scaling.sh: one table per data set (messages of others),
    the big/small ratio of each word, and, when a run without others is there, each case
    with others against it."""
    meta = load(os.path.join(results, "meta.json")) or {}
    runs = meta.get("runs", [])
    cases = [("small", "common"), ("big", "common"), ("small", "rare"), ("big", "rare")]
    size = {"small": meta.get("small", "?"), "big": meta.get("big", "?")}
    words = meta.get("words", {"common": "common", "rare": "zanzibar"})
    lines = [f"# chat-history search scaling, {meta.get('date', '')}", ""]
    lines.append(f"- machine: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores, {meta.get('mem', '?')}; "
                 f"load average before / after: {meta.get('load_before', '?')} / {meta.get('load_after', '?')}")
    lines.append(f"- binary: `{meta.get('bin', '?')}` ({meta.get('commit', '?')}); "
                 f"`chat_messages.user_id` in the schema: {'yes' if meta.get('has_owner') else 'no'}")
    lines.append(f"- users: big = {size['big']:,} messages, small = {size['small']:,} messages; "
                 f"'{words['common']}' in 60 % of every user's messages, '{words['rare']}' in 0.1 %")
    lines.append(f"- `GET /api/v1/search?q=<word>&limit={meta.get('limit', 20)}`, one client, one keep-alive "
                 f"connection, {meta.get('requests', '?')} requests per case after {meta.get('warmup', '?')} "
                 f"unmeasured ones; prewarm {'yes' if meta.get('prewarm') else 'no'}")
    lines.append("")
    lines.append("| others' messages | database | case | hits (page / has_more) | p50 ms | p90 ms | p99 ms | max ms |")
    lines.append("|---:|---|---|---|---:|---:|---:|---:|")
    data = {}
    for run in runs:
        o = run["others"]
        for who, word in cases:
            r = load(os.path.join(results, f"others-{o}-{who}-{word}.json"))
            data[(o, who, word)] = r
            if r is None:
                lines.append(f"| {o:,} | {run.get('db_size', '?')} | {who} / {words[word]} | failed | | | | |")
                continue
            lines.append(f"| {o:,} | {run.get('db_size', '?')} | {who} / {words[word]} | "
                         f"{r['page_hits']} / {str(r['has_more']).lower()} | {fmt(r['p50_ms'], 2)} | "
                         f"{fmt(r['p90_ms'], 2)} | {fmt(r['p99_ms'], 2)} | {fmt(r['max_ms'], 2)} |")
    lines += ["", f"Big ({size['big']:,} messages) against small ({size['small']:,}), p50 "
              "(goal for the common word: at most 3x):", "",
              "| others' messages | common: big / small p50 | rare: big / small p50 |", "|---:|---:|---:|"]

    def ratio(a, b, key="p50_ms"):
        return "–" if not (a and b and b.get(key)) else f"{a[key] / b[key]:.2f}x"

    for run in runs:
        o = run["others"]
        lines.append(f"| {o:,} | {ratio(data.get((o, 'big', 'common')), data.get((o, 'small', 'common')))} | "
                     f"{ratio(data.get((o, 'big', 'rare')), data.get((o, 'small', 'rare')))} |")
    base = next((r for r in runs if r["others"] == 0), None)
    others = [r for r in runs if r["others"] != 0]
    if base and others:
        lines += ["", "With others' messages against without, p50 / p99 (goal: no slower, 1.00x):", "",
                  "| others' messages | " + " | ".join(f"{w} / {words[k]}" for w, k in cases) + " |",
                  "|---:|" + "---:|" * len(cases)]
        for run in others:
            o = run["others"]
            cells = [f"{ratio(data.get((o, w, k)), data.get((0, w, k)))} / "
                     f"{ratio(data.get((o, w, k)), data.get((0, w, k)), 'p99_ms')}" for w, k in cases]
            lines.append(f"| {o:,} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(results, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "tokens":
        tokens(int(sys.argv[2]), sys.argv[3])
    elif cmd == "sample":
        sample(sys.argv[2], sys.argv[3])
    elif cmd == "pglog":
        pglog(sys.argv[2])
    elif cmd == "report":
        report(sys.argv[2])
    elif cmd == "latency":
        latency(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "scaling":
        scaling(sys.argv[2])
    else:
        sys.exit(__doc__)
