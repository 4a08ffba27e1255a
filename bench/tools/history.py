#!/usr/bin/env python3
"""Helpers of bench/history.sh (standard library only).

  history.py chatgpt OUT CONVERSATIONS MESSAGES BRANCHES
        write a ChatGPT conversations.json: CONVERSATIONS conversations of MESSAGES messages
        each, BRANCHES of which are regenerated assistant replies (a second child of a user
        message: a one-message branch); prints {"conversations", "messages", "bytes"}
  history.py sample OUT.json PID [DB]
        every 100 ms until SIGTERM: PID's VmRSS (peak, and VmHWM at the end), the CPU
        seconds of PID and of the PostgreSQL backends of database DB
  history.py run OUT.json [DB] -- COMMAND...
        run COMMAND (stdin, stdout and stderr inherited), sampling its VmRSS every 100 ms;
        records the wall time, exit status, the sampled peak and ru_maxrss (the kernel's
        peak RSS of the child, from wait4), and the CPU of DB's backends; exits with
        COMMAND's status
  history.py check-export THREADS MESSAGES_PER_THREAD < export.ndjson
        check a GET /me/export body: THREADS lines, each {"thread", "messages"} with as many
        messages as the thread's message_count (= MESSAGES_PER_THREAD), threads in id order,
        messages in (created_at, id) order; prints a JSON summary, exits 1 when incomplete
  history.py table RESULTS_DIR
        print the results table of the JSON files bench/history.sh wrote
"""
import json, os, random, signal, subprocess, sys, time

HZ = os.sysconf("SC_CLK_TCK")


# --- ChatGPT export ----------------------------------------------------------------------
WORDS = (
    "the a of to and in is it you that for on with as are this be at have or from by not "
    "but what all were when we there can an your which their said if do will each about "
    "how up out them then she many some so these would other into has more her two like "
    "postgres rust thread message history search index query latency throughput cache "
    "lisbon alfama travel restaurant museum train ticket hotel weather river bridge castle "
    "recipe garlic olive bread coffee tea pasta tomato lemon salt pepper butter sugar "
    "python javascript compiler borrow checker lifetime trait async await future tokio "
    "kubernetes docker container replica backup restore snapshot metrics tracing logs "
    "physics energy quantum gravity planet orbit galaxy telescope photon electron "
    "music guitar piano melody rhythm concert album song lyrics chorus verse tempo").split()


def chatgpt(out: str, conversations: int, messages: int, branches: int) -> None:
    """Each conversation: ChatGPT's null root node, then a user/assistant path of
    MESSAGES - BRANCHES messages, and BRANCHES regenerated replies (siblings of assistant
    messages of the path, older than the one the path kept). Texts are 40..440 B (user) and
    200..2000 B (assistant) of a word corpus, as in bench/seed.sql."""
    rng = random.Random(42)
    corpus = " ".join(rng.choice(WORDS) for _ in range(3000))
    path_len = messages - branches
    if path_len < 2 * branches + 2:
        sys.exit("MESSAGES must be well above 2 * BRANCHES")
    total = 0
    base = 1_700_000_000.0
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode

    def text(n: int, user: bool) -> str:
        size = 40 + (n * 13) % 400 if user else 200 + (n * 31) % 1800
        start = (n * 7919) % (len(corpus) - 2100)
        return corpus[start:start + size]

    def node(node_id, role, t, body, parent, children, slug):
        meta = {"request_id": f"req-{node_id}", "timestamp_": "absolute", "message_type": None}
        if role == "assistant":
            meta.update({"finish_details": {"type": "stop", "stop_tokens": [200002]},
                         "citations": [], "content_references": [], "model_slug": slug,
                         "default_model_slug": slug, "parent_id": parent})
        return {"id": node_id, "message": {
                    "id": node_id, "author": {"role": role, "name": None, "metadata": {}},
                    "create_time": t, "update_time": None,
                    "content": {"content_type": "text", "parts": [body]},
                    "status": "finished_successfully", "end_turn": role == "assistant" or None,
                    "weight": 1.0, "metadata": meta, "recipient": "all", "channel": None},
                "parent": parent, "children": children}

    with open(out, "w", encoding="utf-8") as f:
        f.write("[")
        for c in range(conversations):
            cid = f"6f1c2a9e-{c // 65536:04x}-4a00-8000-{c:012x}"
            t0 = base + c * 3600.0
            slug = "gpt-4o" if c % 2 else "o3"
            mapping = {}
            root = f"client-created-root-{c}"
            mapping[root] = {"id": root, "message": None, "parent": None, "children": []}
            # assistant positions (odd indexes of the path) that get a regenerated sibling
            step = path_len // (branches + 1)
            regenerated = {((k + 1) * step) | 1 for k in range(branches)}
            parent, n = root, c * messages
            last = root
            for i in range(path_len):
                nid = f"{cid[:8]}-{c:06x}-{i:04x}"
                role = "user" if i % 2 == 0 else "assistant"
                t = t0 + i * 10.0 + (0.5 if i in regenerated else 0.0)
                mapping[nid] = node(nid, role, t, text(n, role == "user"), parent, [], slug)
                mapping[parent]["children"].append(nid)
                n += 1
                total += 1
                if i in regenerated:
                    # The reply the user regenerated: the same parent, a little older.
                    alt = f"{nid}-r"
                    mapping[alt] = node(alt, "assistant", t - 0.25, text(n, False), parent, [], slug)
                    mapping[parent]["children"].insert(0, alt)
                    n += 1
                    total += 1
                parent = last = nid
            conv = {"title": f"Conversation {c}", "create_time": t0,
                    "update_time": t0 + path_len * 10.0, "mapping": mapping,
                    "moderation_results": [], "current_node": last, "plugin_ids": None,
                    "conversation_id": cid, "conversation_template_id": None, "gizmo_id": None,
                    "gizmo_type": None, "is_archived": False, "is_starred": None, "safe_urls": [],
                    "blocked_urls": [], "default_model_slug": slug, "conversation_origin": None,
                    "voice": None, "async_status": None, "disabled_tool_ids": [],
                    "is_do_not_remember": False, "memory_scope": "global_enabled", "id": cid}
            if c:
                f.write(", ")
            f.write(dumps(conv))
        f.write("]\n")
    print(json.dumps({"conversations": conversations, "messages": total,
                      "bytes": os.path.getsize(out)}))


# --- sampling ----------------------------------------------------------------------------
def status_kib(pid, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def cpu_ticks(pid) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


class DbCpu:
    """CPU ticks of the PostgreSQL backends connected to database `db` (each backend
    counted from when it was first seen, or from zero when it started after us)."""

    def __init__(self, db):
        self.db = f" {db} " if db else None
        self.first, self.last, self.other = {}, {}, set()
        self.scan(initial=True)

    def scan(self, initial=False):
        if not self.db:
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid in self.other:
                continue
            if pid not in self.first:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        comm = f.read().strip()
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if comm != "postgres":
                    self.other.add(pid)
                    continue
                # A backend shows the postmaster's command line until it has read its
                # startup packet: look again at the next scan (and count it from zero).
                if not (cmd.startswith("postgres: ") and self.db in cmd):
                    continue
                self.first[pid] = cpu_ticks(pid) if initial else 0
            t = cpu_ticks(pid)
            if t:
                self.last[pid] = t

    def seconds(self) -> float:
        return round(sum(self.last.get(p, f) - f for p, f in self.first.items()) / HZ, 2)


def machine_busy():
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    return sum(parts[:8]) - parts[3] - parts[4]


def sample(out: str, pid: str, db=None) -> None:
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    started, busy0, cpu0 = time.time(), machine_busy(), cpu_ticks(pid)
    dbcpu = DbCpu(db)
    peak, samples, series = 0, 0, []
    while True:
        rss = status_kib(pid, "VmRSS:")
        peak = max(peak, rss)
        samples += 1
        if samples % 10 == 1:
            series.append(rss)
        dbcpu.scan()
        if stop:
            break
        time.sleep(0.1)
    result = {"elapsed_s": round(time.time() - started, 2), "samples": samples,
              "peak_rss_kib": peak, "hwm_kib": status_kib(pid, "VmHWM:"),
              "rss_end_kib": status_kib(pid, "VmRSS:"),
              "rss_every_s_kib": series,
              "cpu_s": round((cpu_ticks(pid) - cpu0) / HZ, 2), "db_cpu_s": dbcpu.seconds(),
              "machine_busy_s": round((machine_busy() - busy0) / HZ, 2)}
    with open(out, "w") as f:
        json.dump(result, f)


def run(out: str, db, command) -> None:
    started, busy0 = time.monotonic(), machine_busy()
    dbcpu = DbCpu(db)
    child = subprocess.Popen(command)
    peak, series, n = 0, [], 0
    while True:
        rss = status_kib(child.pid, "VmRSS:")
        peak = max(peak, rss)
        if n % 10 == 0:
            series.append(rss)
        n += 1
        dbcpu.scan()
        # waitid(WNOWAIT) would keep the zombie; wait4 with WNOHANG reaps it and its rusage
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    dbcpu.scan()
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code  # reaped above: keep Popen from waiting again
    result = {"elapsed_s": round(elapsed, 3), "exit": code, "peak_rss_kib": peak,
              "maxrss_kib": usage.ru_maxrss, "rss_every_s_kib": series,
              "cpu_s": round(usage.ru_utime + usage.ru_stime, 2), "db_cpu_s": dbcpu.seconds(),
              "machine_busy_s": round((machine_busy() - busy0) / HZ, 2),
              "command": command[0].rsplit("/", 1)[-1]}
    with open(out, "w") as f:
        json.dump(result, f)
    sys.exit(code)


# --- export check --------------------------------------------------------------------------
def check_export(threads: int, per_thread: int) -> None:
    lines = messages = bad = 0
    size = 0
    last_thread = None
    problems = []
    for raw in sys.stdin.buffer:
        size += len(raw)
        if not raw.strip():
            continue
        lines += 1
        try:
            doc = json.loads(raw)
            thread, msgs = doc["thread"], doc["messages"]
        except (ValueError, KeyError, TypeError) as e:
            bad += 1
            problems.append(f"line {lines}: {e}")
            continue
        messages += len(msgs)
        if last_thread is not None and thread["id"] <= last_thread:
            problems.append(f"line {lines}: thread {thread['id']} out of id order")
        last_thread = thread["id"]
        if len(msgs) != thread.get("message_count") or len(msgs) != per_thread:
            problems.append(f"line {lines}: {len(msgs)} messages, message_count "
                            f"{thread.get('message_count')}")
        keys = [(m["created_at"], m["id"]) for m in msgs]
        if keys != sorted(keys) or any(m["thread_id"] != thread["id"] for m in msgs):
            problems.append(f"line {lines}: messages out of order or of another thread")
    ok = lines == threads and messages == threads * per_thread and not problems
    print(json.dumps({"ok": ok, "lines": lines, "messages": messages, "bytes": size,
                      "unparsable": bad, "problems": problems[:10]}))
    sys.exit(0 if ok else 1)


# --- table -----------------------------------------------------------------------------------
def table(results: str) -> None:
    def load(name):
        try:
            with open(os.path.join(results, name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    meta = load("meta.json") or {}
    rows = []

    def row(scenario, messages, run, sampled, baseline, rss_source):
        if not run or run.get("exit", 0) != 0:
            rows.append([scenario, f"{messages:,}", "failed"] + [""] * 6)
            return
        s = run["elapsed_s"]
        rate = messages / s if s else 0
        rss = None
        if rss_source == "service" and sampled:
            rss = sampled["peak_rss_kib"]
        elif rss_source == "self":
            rss = max(run.get("maxrss_kib", 0), run.get("peak_rss_kib", 0))
        # CPU seconds of the whole operation: the process run (curl, psql or the CLI), the
        # service when there is one, and the PostgreSQL backends of the database; what the
        # machine spent besides is other work (on a shared machine, the wall time's noise).
        cpu = run.get("cpu_s", 0) + run.get("db_cpu_s", 0) + (sampled or {}).get("cpu_s", 0)
        other = max(run.get("machine_busy_s", 0) - cpu, 0)
        base = messages / baseline["elapsed_s"] if baseline and baseline.get("exit", 0) == 0 else None
        rows.append([scenario, f"{messages:,}", f"{s:.1f}", f"{rate:,.0f}",
                     f"{base:,.0f}" if base else "-",
                     f"{rate / base:.2f}" if base else "-",
                     f"{rss / 1024:.1f}" if rss else "-",
                     f"{cpu:.1f}", f"{other:.1f}"])

    em, im = meta.get("export_messages", 0), meta.get("import_messages", 0)
    if load("export-http.json"):
        row("export GET /me/export (NDJSON)", em, load("export-http.json"),
            load("export-rss.json"), load("copy-to-text.json"), "service")
        row("  COPY TO, columns (psql)", em, load("copy-to-text.json"), None, None, "-")
        row("  COPY TO, NDJSON by PostgreSQL", em, load("copy-to-json.json"), None, None, "-")
    if load("import-http.json"):
        row("import POST /me/import chatgpt", im, load("import-http.json"),
            load("import-rss.json"), load("copy-from.json"), "service")
    if load("import-cli.json"):
        row("import CLI chatgpt", im, load("import-cli.json"), None, load("copy-from.json"), "self")
    if load("copy-from.json"):
        row("  COPY FROM threads+messages (psql)", im, load("copy-from.json"), None, None, "-")
    if load("copy-from-bare.json"):
        row("  COPY FROM, FK + event triggers off", im, load("copy-from-bare.json"), None, None, "-")
    head = ["scenario", "messages", "seconds", "messages/s", "COPY messages/s", "ratio", "peak RSS MiB",
            "CPU s", "others' CPU s"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w)
                                       for i, (v, w) in enumerate(zip(r, widths))) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    notes = []
    for name, label in (("export-rss.json", "export: service"), ("import-rss.json", "import: service")):
        d = load(name)
        if d:
            notes.append(f"{label}: VmHWM {d['hwm_kib'] / 1024:.1f} MiB (process lifetime), "
                         f"RSS after {d['rss_end_kib'] / 1024:.1f} MiB, CPU {d['cpu_s']} s, "
                         f"its PostgreSQL backends {d['db_cpu_s']} s, machine busy {d['machine_busy_s']} s "
                         f"of {d['elapsed_s']} s x {os.cpu_count()} cores")
    for name, label in (("export-http.json", "export: curl"), ("import-http.json", "import: curl"),
                        ("import-cli.json", "import: CLI"), ("copy-to-text.json", "COPY TO columns: psql"),
                        ("copy-to-json.json", "COPY TO json: psql"), ("copy-from.json", "COPY FROM: psql"),
                        ("copy-from-bare.json", "COPY FROM, triggers off: psql")):
        d = load(name)
        if d:
            notes.append(f"{label}: CPU {d['cpu_s']} s, PostgreSQL backends {d['db_cpu_s']} s, "
                         f"machine busy {d['machine_busy_s']} s, max RSS {d['maxrss_kib'] / 1024:.1f} MiB")
    for k in ("revision", "export_bytes", "import_file_bytes"):
        if meta.get(k):
            notes.append(f"{k}: {meta[k]:,}" if isinstance(meta[k], int) else f"{k}: {meta[k]}")
    for step in meta.get("load_during", []):
        notes.append(f"load (1, 5, 15 min) at {step}")
    print()
    print(f"CPU s: the process measured + the service (if any) + the database's PostgreSQL backends; "
          f"others' CPU s: what the rest of the machine ({os.cpu_count()} cores) used meanwhile.")
    for n in notes:
        print("- " + n)


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "chatgpt":
        chatgpt(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    elif cmd == "sample":
        sample(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    elif cmd == "run":
        sep = sys.argv.index("--")
        run(sys.argv[2], sys.argv[3] if sep > 3 else None, sys.argv[sep + 1:])
    elif cmd == "check-export":
        check_export(int(sys.argv[2]), int(sys.argv[3]))
    elif cmd == "table":
        table(sys.argv[2])
    else:
        sys.exit(__doc__)
