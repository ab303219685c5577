#!/usr/bin/env python3
"""Helpers for ops/bench/run.sh (one subcommand each; all bounded in time).

  body OUT                     the SOAP request the benchmark posts (the same
                               message as tests/integration/harness.soap_request)
  start --port P --log F --ready-out J -- CMD...
                               runs CMD (stdout+stderr to F), polls
                               http://127.0.0.1:P/health every ms, writes JSON
                               {pid, ready_ms, startup_ms} to J, and stays CMD's
                               parent until SIGTERM, which it passes on
  startup-series --n N --port P --log F -- CMD...
                               N cold starts and stops; JSON min/median/max
  sample --pids A,B --names a,b --seconds S --peer-port P --out F
                               samples VmRSS/VmHWM and CPU time of each pid
                               and the distinct TCP connections to P
  drive --port P --body F --n N --conc C
                               N POSTs over keep-alive (for the profiler run)
  logcheck --log F [--from B]  counts event=request lines by status (from byte B)
  nginx-conf TEMPLATE OUT KEY=VALUE...
                               fills @KEY@ in an nginx template
  reply-conf BODYFILE          prints the body as an nginx `return` string
  logsize --data DIR --out F   each gateway's message log on disk (records,
                               packed, bytes) after the runs
  meta OUT KEY=VALUE...        the run's description, machine and versions
  profile-md --work W --out F  summarises perf and callgrind output in W
  report --dir D [--results MD] [--profile F] [--notes F]
                               prints the figures (from the files run.sh left
                               in D); rewrites RESULTS.md if asked
"""
import glob
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


# ---- body --------------------------------------------------------------------

# The message id in the body file; soap.lua and drive put a new one in each
# request (the gateways refuse a message id they have seen from the client).
MSG_ID_MARK = "00000000-0000-4000-8000-000000000000"


def cmd_body(args):
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    from harness import soap_request
    body = soap_request(("central-server", "GOV", "70000050", "household-register"),
                        ("central-server", "GOV", "70000005", "passport-service",
                         "passportDataByPSN", "v1"),
                        "<pin>21205197500417</pin>", msg_id=MSG_ID_MARK)
    with open(args[0], "wb") as f:
        f.write(body)


# ---- start: exec to /health 200 ----------------------------------------------

def health_ok(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=0.5)
    except OSError:
        return False
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = s.recv(64)
        return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


REPLAY_RE = re.compile(r"event=msglog enabled=1 .*replay_entries=([0-9]+) replay_from=([a-z]+) "
                       r"replay_load_ms=([0-9.]+)")


def ready_from_log(path, deadline):
    """(startup_ms of the event=ready line, the replay window's load from
    the event=msglog line as {entries, from, load_ms}, None without a log)."""
    pat = re.compile(r"event=ready .*startup_ms=([0-9.]+)")
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                text = f.read()
            m = pat.search(text)
            if m:
                r = REPLAY_RE.search(text)
                return float(m.group(1)), ({"entries": int(r.group(1)), "from": r.group(2),
                                            "load_ms": float(r.group(3))} if r else None)
        except OSError:
            pass
        time.sleep(0.005)
    return None, None


def start_one(port, log, cmd, timeout, started=None):
    """Starts cmd and waits for /health; started (a list) gets the Popen at
    once, so a caller interrupted meanwhile can still stop the process."""
    out = open(log, "ab")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()
    if started is not None:
        started.append(p)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise RuntimeError("%s exited with %s during start-up (log %s)"
                             % (cmd[0], p.returncode, log))
        if health_ok(port):
            ready = (time.perf_counter() - t0) * 1e3
            startup, replay = ready_from_log(log, time.monotonic() + 2)
            return p, ready, startup, replay
        time.sleep(0.001)
    p.kill()
    p.wait()
    raise RuntimeError("%s not ready on port %d within %.0f s (log %s)"
                     % (cmd[0], port, timeout, log))


def split_cmd(args):
    i = args.index("--")
    return args[:i], args[i + 1:]


def opts(args, **defaults):
    o = dict(defaults)
    it = iter(args)
    for a in it:
        assert a.startswith("--"), "bad option %s" % a
        o[a[2:].replace("-", "_")] = next(it)
    return o


class Stop(Exception):
    pass


def on_term(*_):
    raise Stop()


def cmd_start(args):
    """Starts the gateway, writes {pid, ready_ms, startup_ms} to --ready-out
    once /health answers 200, then stays its parent until SIGTERM (passed
    on to the gateway) so that it is reaped and stopped cleanly."""
    own, cmd = split_cmd(args)
    o = opts(own, timeout="60")
    signal.signal(signal.SIGTERM, on_term)
    started = []
    try:
        try:
            p, ready, startup, replay = start_one(int(o["port"]), o["log"], cmd,
                                                  float(o["timeout"]), started)
        except RuntimeError as e:
            print("bench: %s" % e, file=sys.stderr)
            return 1
        tmp = o["ready_out"] + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": p.pid, "ready_ms": round(ready, 1), "startup_ms": startup,
                       "replay": replay}, f)
        os.rename(tmp, o["ready_out"])
        p.wait()
    except Stop:
        pass
    finally:
        for p in started:
            if p.poll() is None:
                stop(p, timeout=30)
    return 0


def stop(p, timeout=10):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def cmd_startup_series(args):
    own, cmd = split_cmd(args)
    o = opts(own, n="5", timeout="30")
    ready, startup, replay = [], [], []
    for _ in range(int(o["n"])):
        open(o["log"], "w").close()
        p, r, s, rp = start_one(int(o["port"]), o["log"], cmd, float(o["timeout"]))
        stop(p)
        ready.append(r)
        if s is not None:
            startup.append(s)
        if rp is not None:
            replay.append(rp)

    def stats(v):
        return {"min": round(min(v), 1), "median": round(statistics.median(v), 1),
                "max": round(max(v), 1), "n": len(v)} if v else None
    print(json.dumps({"ready_ms": stats(ready), "startup_ms": stats(startup), "replay": replay}))


def replay_cell(rs):
    """How the replay window was loaded at these starts: source(s), requests
    in it, the longest load."""
    rs = [r for r in rs if r]
    if not rs:
        return "-"
    lo, hi = min(r["entries"] for r in rs), max(r["entries"] for r in rs)
    n = "{:,}".format(lo) if lo == hi else "{:,}-{:,}".format(lo, hi)
    return "%s; %s requests; load <= %.1f ms" % ("/".join(sorted({r["from"] for r in rs})), n,
                                               max(r["load_ms"] for r in rs))


# ---- sample: memory, CPU, connections --------------------------------------------

def status_kb(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])   # utime + stime
    except OSError:
        return None


def tcp_table():
    """(local, remote, state) of every TCP socket, from /proc/net/tcp{,6}.
    Each read walks the kernel's whole connection hash table: ~5 ms of CPU
    on this VM, however few sockets there are, so the sampler reads it about
    once a second (at every 50-ms sample it took 0.3 of the 2 cores from what
    it measured)."""
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                rows.extend(tuple(line.split()[1:4]) for line in f)
        except OSError:
            pass
    return rows


def port_of(addr):
    return int(addr.rsplit(":", 1)[1], 16)


def peer_conns(rows, port):
    """Remote ends of ESTABLISHED connections whose local port is port."""
    return {remote for local, remote, st in rows if st == "01" and port_of(local) == port}


def time_wait(rows, port):
    """TCP connections to or from port in TIME-WAIT, by their address pair:
    each is one closed in the last 60 s (the side that closed first keeps
    it), so one look at the end of a run sees every connection closed during
    it. Compare sets, not counts: entries from before the run expire while
    it lasts."""
    return {(local, remote) for local, remote, st in rows
            if st == "06" and port in (port_of(local), port_of(remote))}


def proc_stat():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def machine_busy():
    """Busy ticks of all CPUs since boot (everything but idle and iowait,
    steal included: time the host gave our CPUs to someone else)."""
    v = proc_stat()
    return sum(v[:8]) - v[3] - v[4]


def machine_steal():
    """Ticks the hypervisor took from this VM's CPUs since boot."""
    v = proc_stat()
    return v[7] if len(v) > 7 else 0


def cmd_sample(args):
    o = opts(args, interval="0.05", peer_port="0")
    pids = [int(p) for p in o["pids"].split(",")]
    names = o["names"].split(",")
    hz = os.sysconf("SC_CLK_TCK")
    busy0, steal0 = machine_busy(), machine_steal()
    port = int(o["peer_port"])
    tw0 = time_wait(tcp_table(), port) if port else set()
    t_end = time.monotonic() + float(o["seconds"])
    next_tcp = 0.0   # the connection table once a second (tcp_table)
    peak = {p: 0 for p in pids}
    cpu0 = {p: cpu_ticks(p) for p in pids}
    t0 = time.monotonic()
    conns = set()
    last_cpu, hwm = dict(cpu0), {p: None for p in pids}
    while time.monotonic() < t_end:
        for p in pids:
            v = status_kb(p, "VmRSS")
            if v:
                peak[p] = max(peak[p], v)
            # kept from the last sample in case the process ends first (wrk)
            c, h = cpu_ticks(p), status_kb(p, "VmHWM")
            last_cpu[p] = c if c is not None else last_cpu[p]
            hwm[p] = h if h is not None else hwm[p]
        if port and time.monotonic() >= next_tcp:
            conns |= peer_conns(tcp_table(), port)
            next_tcp = time.monotonic() + 1.0
        time.sleep(float(o["interval"]))
    wall = time.monotonic() - t0
    busy = (machine_busy() - busy0) / hz
    steal = (machine_steal() - steal0) / hz
    rows = tcp_table() if port else []
    out = {"wall_s": round(wall, 2), "peer_connections_seen": len(conns), "procs": {},
           "peer_connections_closed": len(time_wait(rows, port) - tw0) if port else 0,
           "machine_busy_cores": round(busy / wall, 2), "machine_steal_cores": round(steal / wall, 2)}
    for p, n in zip(pids, names):
        c1 = cpu_ticks(p)
        c1 = c1 if c1 is not None else last_cpu[p]
        h = status_kb(p, "VmHWM")
        out["procs"][n] = {
            "pid": p, "peak_rss_kb": peak[p], "hwm_kb": h if h is not None else hwm[p],
            "cpu_s": round((c1 - cpu0[p]) / hz, 2) if c1 is not None and cpu0[p] is not None
            else None,
        }
    with open(o["out"], "w") as f:
        json.dump(out, f)


# ---- drive: a few hundred requests (profiling) --------------------------------------

def cmd_drive(args):
    o = opts(args, n="300", conc="4", timeout="120")
    body = open(o["body"], "rb").read()
    port, n, conc = int(o["port"]), int(o["n"]), int(o["conc"])
    deadline = time.monotonic() + float(o["timeout"])
    counts = {}
    lock = threading.Lock()
    left = [n]

    def worker():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if left[0] <= 0:
                    break
                left[0] -= 1
            try:
                c.request("POST", "/", body=body.replace(MSG_ID_MARK.encode(), str(uuid.uuid4()).encode()),
                          headers={"Content-Type": "text/xml; charset=utf-8"})
                r = c.getresponse()
                r.read()
                st = r.status
            except Exception as e:     # counted, not fatal: the profile still says something
                st = type(e).__name__
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                counts[st] = counts.get(st, 0) + 1
        c.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic()))
    print(json.dumps({"counts": {str(k): v for k, v in counts.items()},
                      "seconds": round(time.monotonic() - t0, 2)}))


# ---- logcheck --------------------------------------------------------------------

def cmd_logcheck(args):
    o = opts(args, **{"from": "0"})
    by = {}
    with open(o["log"], "rb") as f:
        f.seek(int(o["from"]))
        for line in f.read().decode("utf-8", "replace").splitlines():
            if "event=request " in line and " side=client " in line and "proto=soap" in line:
                m = re.search(r" status=(\d+)", line)
                if m:
                    k = "aborted" if " aborted=1" in line else m.group(1)
                    by[k] = by.get(k, 0) + 1
    print(json.dumps(by))


def cmd_phases(args):
    """phases --log FILE --from OFFSET --side client|server: mean, p50 and p99 of the
    request log line's dur_ms, sign_ms, remote_ms and logwait_ms (answered SOAP
    exchanges of that side after OFFSET), as JSON."""
    o = opts(args, **{"from": "0", "side": "client"})
    vals = {"dur": [], "sign": [], "remote": [], "logwait": []}
    with open(o["log"], "rb") as f:
        f.seek(int(o["from"]))
        for line in f.read().decode("utf-8", "replace").splitlines():
            if ("event=request " not in line or " side=%s " % o["side"] not in line or
                    " status=200 " not in line or " aborted=1" in line):
                continue
            for k, v in re.findall(r" (dur|sign|remote|logwait)_ms=([\d.]+)", line):
                vals[k].append(float(v))
    out = {}
    for k, v in vals.items():
        if v:
            v.sort()
            out[k] = {"n": len(v), "mean": sum(v) / len(v), "p50": v[len(v) // 2], "p99": v[int(len(v) * 0.99)]}
    print(json.dumps(out))


def cmd_logsize(args):
    """logsize --data DIR --out FILE: each gateway's SQLite message log after the
    runs (DIR/<gateway>/msglog.db, the gateways stopped): records, how many are
    packed, and the bytes on disk once the WAL is checkpointed into the file."""
    o = opts(args)
    res = {}
    for gw in ("municipality", "state"):
        path = os.path.join(o["data"], gw, "msglog.db")
        if not os.path.exists(path):
            continue
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        n = db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        cols = [r[1] for r in db.execute("PRAGMA table_info(records)")]
        packed = db.execute("SELECT COUNT(*) FROM records WHERE packed IS NOT NULL").fetchone()[0] \
            if "packed" in cols else 0
        db.close()
        size = os.path.getsize(path) + sum(os.path.getsize(path + s) for s in ("-wal",)
                                           if os.path.exists(path + s))
        res[gw] = {"records": n, "packed": packed, "bytes": size}
    with open(o["out"], "w") as f:
        json.dump({"msglog_size": res}, f)


# ---- nginx -----------------------------------------------------------------------

def cmd_nginx_conf(args):
    tmpl, out = args[0], args[1]
    vals = dict(a.split("=", 1) for a in args[2:])
    text = open(tmpl).read()

    def sub(m):
        if m.group(1) not in vals:
            raise SystemExit("bench: %s: no value for @%s@" % (tmpl, m.group(1)))
        return vals[m.group(1)]
    with open(out, "w") as f:
        f.write(re.sub(r"@([A-Z_0-9]+)@", sub, text))


def cmd_reply_conf(args):
    """The static reply as an nginx single-quoted string. nginx expands $ in
    `return` text and has no escape for it; a body with $ (the population
    answer has none) falls back to filler of the same length."""
    body = open(args[0], "rb").read().decode("utf-8")
    if "$" in body:
        body = "x" * len(body.encode())
    print("'" + body.replace("\\", "\\\\").replace("'", "\\'") + "'", end="")


# ---- report ----------------------------------------------------------------------

TARGET_RATIO, TARGET_RSS_MB, TARGET_READY_MS = 0.5, 64, 200
# The signed path (two gateways, message log on, batch time stamps, 32 connections).
TARGET_SIGNED_RPS, TARGET_SIGNED_P99_MS = 3000, 25


def signed_ok(rps, p99_us):
    return rps >= TARGET_SIGNED_RPS and p99_us <= TARGET_SIGNED_P99_MS * 1000


# Same-run comparison runs of the gateways (run.sh: INI suffix = key):
# key, the table's label, what the comparison line says the default is against.
VARIANTS = [
    ("single", "ailgate, one signature per message (`[signing] batch_max = 1`)",
     "batch signatures (the default) against one signature per message"),
    ("nolog", "ailgate, message log off (`[msglog] enabled = off`, development only)",
     "the message log on (the default) against off (what logging costs)"),
    ("shm", "ailgate, message log on tmpfs (`[msglog] path` in /dev/shm: its fsyncs cost nothing)",
     "the message log on this machine's disk (as configured) against on tmpfs (what the durable "
     "commits cost here)"),
    ("c128", "ailgate at 128 connections instead of 32",
     "32 connections (the benchmark's) against 128 (what the CPU allows when the round trips of 32 "
     "clients are not the limit)"),
]


def commits_line(g):
    """What the gateways' /health said of their message log's commits right after the load."""
    parts = []
    for gw in ("municipality", "state"):
        checks = {c.get("name"): c for c in (g.get("health", {}).get(gw) or {}).get("checks", [])}
        c = checks.get("msglog_commits")
        if c:
            parts.append("%s: %s%s" % (gw, c.get("detail", "?"), " (**warning**)" if c.get("warning") else ""))
    if not parts:
        return None
    return ("- the message log's commits, as each gateway's `/health` (check `msglog_commits`, the last 60 s) "
            "gave them right after the run - every answer waits for one: " + "; ".join(parts))


def ceiling_line(g, nproc, target=3000):
    """What the CPU alone allows: the measured CPU per exchange (gateways and wrk) on all cores."""
    gw = cpu_per_request_us(g)
    wrk = (g["sample"].get("procs", {}).get("wrk", {}).get("cpu_s") or 0) * 1e6 / max(1, g["wrk"]["requests"])
    if gw <= 0:
        return None
    used = g["sample"].get("machine_busy_cores", 0)
    return ("- what the CPU alone allows: the gateways used %.0f us of CPU per exchange and wrk %.0f us, so "
            "%d cores doing nothing else would carry at most **%.0f exchanges/s** (%d/s needs at most %.0f us "
            "per exchange with wrk's share as it is); the machine was busy %.2f of its %d cores meanwhile "
            "(the rest of the time everything in flight waited: on round trips between the 32 clients, "
            "the two event loops and the log writers, on the disk)"
            % (gw, wrk, nproc, nproc * 1e6 / (gw + wrk), target, nproc * 1e6 / target - wrk, used, nproc))


def variant_line(g, v, what):
    """The headline gateway run g against a comparison run v of the same run."""
    w = v["wrk"]
    return ("- %s, same run: %.0f vs %.0f req/s (x%.2f; cores stolen by the host meanwhile %.2f vs "
            "%.2f: with much steal this says more about the host); CPU per request %s"
            % (what, g["wrk"]["rps"], w["rps"], g["wrk"]["rps"] / w["rps"],
               g["sample"].get("machine_steal_cores", 0), v["sample"].get("machine_steal_cores", 0),
               "; ".join("%s %.0f vs %.0f us" % (
                   name, (g["sample"]["procs"][name]["cpu_s"] or 0) * 1e6 / max(1, g["wrk"]["requests"]),
                   (p["cpu_s"] or 0) * 1e6 / max(1, w["requests"]))
                   for name, p in sorted((v["sample"].get("procs") or {}).items())
                   if name in g["sample"]["procs"] and name != "wrk")))


def fmt_ms(us):
    return "%.2f ms" % (us / 1000.0)


def mb(kb):
    return "%.1f MB" % (kb / 1024.0) if kb else "-"


def run_rows(r):
    """One table row per system of a comparison."""
    rows = []
    for key, label in (("gateway", "ailgate: municipality -> state (2 gateways)"),
                       ("nginx", "nginx A -> nginx B (mutual-TLS proxy pair)")):
        w = r[key]["wrk"]
        rows.append("| %s | %d | %.0f | %s | %s | %s | %d | %d |" % (
            label, r[key]["workers"], w["rps"], fmt_ms(w["latency_us"]["p50"]),
            fmt_ms(w["latency_us"]["p99"]), fmt_ms(w["latency_us"]["max"]), w["requests"],
            sum(w["errors"].values())))
    return rows


def proc_rows(r):
    rows = []
    for key in ("gateway", "nginx"):
        s = r[key]["sample"]
        reqs = max(1, r[key]["wrk"]["requests"])
        for name, p in s["procs"].items():
            rows.append("| %s (workers %d) | %s | %s | %s | %s |" % (
                name, r[key]["workers"], mb(p["peak_rss_kb"]), mb(p["hwm_kb"]),
                "%.2f s" % p["cpu_s"] if p["cpu_s"] is not None else "-",
                "%.0f us" % (p["cpu_s"] * 1e6 / reqs) if p["cpu_s"] is not None else "-"))
    return rows


def verdict(ok):
    return "met" if ok else "**NOT met**"


def render(d):
    main = d["runs"][0]
    g, n = main["gateway"], main["nginx"]
    ratio = g["wrk"]["rps"] / n["wrk"]["rps"] if n["wrk"]["rps"] else 0
    rss = max(p["hwm_kb"] or 0 for p in g["sample"]["procs"].values())
    series = d.get("startup_series") or {}
    L = []
    L.append("# Benchmark results\n")
    L.append("Written by `ops/bench/run.sh` (see README.md for the method); re-run it to "
             "refresh. Last run:\n")
    L.append("- command: `%s`" % d["command"])
    L.append("- date: %s" % d["date"])
    L.append("- machine: %s, %s CPUs (nproc), %s RAM, kernel %s; load average before the "
             "run: %s" % (d["cpu"], d["nproc"], d["mem"], d["kernel"], d["loadavg"]))
    L.append("- tree: %s; ailgate release build (gcc, RelWithDebInfo); %s; %s; %s"
             % (d["git"], d["nginx_version"], d["wrk_version"], d["openssl_version"]))
    L.append("- load: wrk, %d threads, %d connections, %d s per system, POST of the %d-byte "
             "SOAP request (`ops/bench/soap.lua`); answers %d bytes (the nginx pair returns "
             "the gateway's own answer as a static body of the same size)"
             % (d["threads"], d["connections"], d["duration"], d["request_bytes"],
                d["response_bytes"]))
    L.append("- everything on one machine over loopback: wrk, both gateways (or both nginx) "
             "share the same %s CPUs\n" % d["nproc"])
    L.append("## Targets\n")
    L.append("| target | figure | |")
    L.append("| --- | --- | --- |")
    rounds = [round_figures(r) for r in d.get("rounds") or []]
    med = " (median of %d rounds: %.2f; gateway p99 %s)" % (
        len(rounds), median([f["ratio"] for f in rounds]), fmt_ms(median([f["p99"] for f in rounds]))) \
        if len(rounds) > 1 else ""
    L.append("| throughput ratio gateway/nginx >= %.1f (same resources: each gateway "
             "`workers = %d`, each nginx `worker_processes %d`) | %.2f%s | %s |"
             % (TARGET_RATIO, g["workers"], n["workers"], ratio, med, verdict(ratio >= TARGET_RATIO)))
    sr = median([f["rps"] for f in rounds]) if len(rounds) > 1 else g["wrk"]["rps"]
    sp = median([f["p99"] for f in rounds]) if len(rounds) > 1 else g["wrk"]["latency_us"]["p99"]
    L.append("| signed, verified and logged exchanges >= %d/s with p99 <= %d ms (message log on, batch "
             "time stamps, %d connections) | %.0f/s, p99 %s%s | %s |"
             % (TARGET_SIGNED_RPS, TARGET_SIGNED_P99_MS, d["connections"], sr, fmt_ms(sp),
                " (median of %d rounds; round 1: %.0f/s, p99 %s)" % (len(rounds), g["wrk"]["rps"],
                                                                   fmt_ms(g["wrk"]["latency_us"]["p99"]))
                if len(rounds) > 1 else "", verdict(signed_ok(sr, sp))))
    L.append("| peak RSS per gateway under load <= %d MB | %s | %s |"
             % (TARGET_RSS_MB, mb(rss), verdict(rss <= TARGET_RSS_MB * 1024)))
    first, restart = startup_worst(d)
    L.append("| start-up to ready (exec to /health 200) < %d ms, restart with its data in "
             "place | worst %.1f ms (of %d starts) | %s |"
             % (TARGET_READY_MS, restart[0], restart[1], verdict(restart[0] < TARGET_READY_MS)))
    L.append("| the same, first start on an empty `data_dir` (the adapters create their "
             "SQLite databases from the seed files) | %.1f ms (slower gateway) | %s |"
             % (first, verdict(first < TARGET_READY_MS)))
    L.append("")
    L.append("## Throughput and latency\n")
    L.append("| system | workers each | req/s | p50 | p99 | max | requests | errors |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in d["runs"]:
        L.extend(run_rows(r))
    variants = [(k, label, what, d["variants"][k]) for k, label, what in VARIANTS if k in d.get("variants", {})]
    for _, label, _, v in variants:
        w = v["wrk"]
        L.append("| %s | %d | %.0f | %s | %s | %s | %d | %d |"
                 % (label, v["workers"], w["rps"], fmt_ms(w["latency_us"]["p50"]), fmt_ms(w["latency_us"]["p99"]),
                    fmt_ms(w["latency_us"]["max"]), w["requests"], sum(w["errors"].values())))
    f = d.get("floor")
    if f:
        w = f["wrk"]
        L.append("| bare libraries: evhttp in, libcurl multi out over mutual TLS, static answer "
                 "(`ops/bench/floor.c`, no gateway logic) | 1 | %.0f | %s | %s | %s | %d | %d |"
                 % (w["rps"], fmt_ms(w["latency_us"]["p50"]), fmt_ms(w["latency_us"]["p99"]),
                    fmt_ms(w["latency_us"]["max"]), w["requests"], sum(w["errors"].values())))
    L.append("")
    L.extend(floor_lines(d, g, n))
    for _, _, what, v in variants:
        # against the gateways' run with the same workers
        base = next((r["gateway"] for r in d["runs"] if r["gateway"]["workers"] == v["workers"]), g)
        if v["wrk"]["rps"] and base["wrk"]["rps"]:
            L.append(variant_line(base, v, what + " (workers %d)" % v["workers"]))
    c = ceiling_line(g, d["nproc"] or 1)
    if c:
        L.append(c)
    c = commits_line(g)
    if c:
        L.append(c)
    for r in d["runs"]:
        gr, nr = r["gateway"]["wrk"]["rps"], r["nginx"]["wrk"]["rps"]
        log = r["gateway"].get("log", {})
        L.append("- workers %d: gateway/nginx throughput ratio **%.2f**; p99 ratio %.2f; "
                 "gateway-to-gateway TLS connections closed during the run: %d, seen: %d "
                 "(nginx upstream: %d closed, %d seen; closed = new TIME-WAIT entries, seen = "
                 "distinct ones in samples a second apart); gateway log: %s%s"
                 % (r["gateway"]["workers"], gr / nr if nr else 0,
                    r["gateway"]["wrk"]["latency_us"]["p99"] /
                    max(1, r["nginx"]["wrk"]["latency_us"]["p99"]),
                    r["gateway"]["sample"].get("peer_connections_closed", 0),
                    r["gateway"]["sample"]["peer_connections_seen"],
                    r["nginx"]["sample"].get("peer_connections_closed", 0),
                    r["nginx"]["sample"]["peer_connections_seen"],
                    ", ".join("%s x HTTP %s" % (v, k) for k, v in sorted(log.items())
                              if k != "aborted"),
                    "; %d aborted (in flight when wrk closed its connections at the end)"
                    % log["aborted"] if log.get("aborted") else ""))
    L.extend(render_phases(d["runs"][0]["gateway"]))
    L.append("")
    L.append("CPU in use during each run, in cores (of %s): the measured processes, wrk, and "
             "the whole machine (the difference is other work on the machine, which makes "
             "the figures less reliable; on a VM part of it is time the host took for other "
             "guests, /proc/stat's steal, shown in the last column):\n" % d["nproc"])
    L.append("| run | measured servers | wrk | whole machine | other | of it stolen by the host |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for r in d["runs"]:
        for key in ("gateway", "nginx"):
            smp = r[key]["sample"]
            wall = max(0.01, smp["wall_s"])
            srv = sum(p["cpu_s"] or 0 for n, p in smp["procs"].items() if n != "wrk") / wall
            wrk = (smp["procs"].get("wrk", {}).get("cpu_s") or 0) / wall
            L.append("| %s, workers %d | %.2f | %.2f | %.2f | %.2f | %.2f |"
                     % (key, r[key]["workers"], srv, wrk, smp.get("machine_busy_cores", 0),
                        other_cores(smp), smp.get("machine_steal_cores", 0)))
    L.append("")
    L.extend(render_rounds(d))
    L.append("## Memory and CPU under load\n")
    L.append("Peak VmRSS sampled every 50 ms during the run; VmHWM read at its end; CPU = "
             "user+system time during the run.\n")
    L.append("| process | peak VmRSS | VmHWM | CPU | CPU per request |")
    L.append("| --- | --- | --- | --- | --- |")
    for r in d["runs"]:
        L.extend(proc_rows(r))
    L.append("")
    for gw, s in sorted(d.get("msglog_size", {}).items()):
        if s["records"]:
            L.append("- message log on disk, %s gateway, after every run above: %d records in %.1f MB, "
                     "**%.2f KB a record** (%d of them packed: `[msglog] compress = on`, "
                     "gateway/store/README.md \"Packed records\")"
                     % (gw, s["records"], s["bytes"] / 1e6, s["bytes"] / 1024.0 / s["records"], s["packed"]))
    if d.get("msglog_size"):
        L.append("")
    L.append("## Start-up\n")
    L.append("Exec to the first 200 from /health (polled every millisecond), and the "
             "`startup_ms` of the gateway's `event=ready` line (its own clock, from `main` to "
             "the listeners being up); the replay window as the `event=msglog` line reports it "
             "(`snapshot`: written at the last clean stop; `database`: reloaded from the log).\n")
    L.append("| gateway, start | exec to /health 200 | startup_ms | replay window loaded from |")
    L.append("| --- | --- | --- | --- |")
    for i, r in enumerate(d["runs"]):
        what = "first start, empty data_dir" if i == 0 else "restart"
        for name, v in sorted(r["gateway"]["start"].items()):
            L.append("| %s, %s, workers %d | %.1f ms | %s | %s |" % (
                name, what, r["gateway"]["workers"], v["ready_ms"],
                "%.1f ms" % v["startup_ms"] if v["startup_ms"] is not None else "-",
                replay_cell([v.get("replay")])))
    for gw, ser in sorted(series.items()):
        s, t = ser.get("ready_ms"), ser.get("startup_ms")
        if s:
            L.append("| %s, %d restarts, workers 1 (min / median / max) | %.1f / %.1f / %.1f ms "
                     "| %s | %s |"
                     % (gw, s["n"], s["min"], s["median"], s["max"],
                        "%.1f / %.1f / %.1f ms" % (t["min"], t["median"], t["max"]) if t
                        else "-", replay_cell(ser.get("replay") or [])))
    L.append("")
    prof = d.get("profile_md")
    if prof:
        L.append(prof.rstrip() + "\n")
    L.append(NOTES_BEGIN)
    L.append((d.get("notes_md") or "## Notes\n\n(hand-written analysis goes here; run.sh keeps "
              "this section across runs)\n").strip("\n"))
    L.append(NOTES_END + "\n")
    L.append("## History\n")
    L.append("| date | mode | gateway req/s | nginx req/s | ratio | gateway peak RSS | "
             "ready: restart / first start | other load (cores) |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- |")
    L.extend(d.get("history", []))
    return "\n".join(L) + "\n"


def startup_worst(d):
    """(first start's worst ready_ms, (restarts' worst ready_ms, number of restarts))."""
    first = max(v["ready_ms"] for v in d["runs"][0]["gateway"]["start"].values())
    rs = [v["ready_ms"] for r in d["runs"][1:] for v in r["gateway"]["start"].values()]
    rs += [v["ready_ms"]["max"] for v in (d.get("startup_series") or {}).values()
           if v.get("ready_ms")]
    n = sum(len(r["gateway"]["start"]) for r in d["runs"][1:]) + sum(
        v["ready_ms"]["n"] for v in (d.get("startup_series") or {}).values() if v.get("ready_ms"))
    return first, (max(rs) if rs else first, n)


def history_row(d):
    main = d["runs"][0]
    g, n = main["gateway"], main["nginx"]
    rss = max(p["hwm_kb"] or 0 for p in g["sample"]["procs"].values())
    first, restart = startup_worst(d)
    return "| %s | %s, workers %d | %.0f | %.0f | %.2f | %s | %.1f / %.1f ms | %.2f |" % (
        d["date"], d["mode"], g["workers"], g["wrk"]["rps"], n["wrk"]["rps"],
        g["wrk"]["rps"] / n["wrk"]["rps"] if n["wrk"]["rps"] else 0, mb(rss),
        restart[0], first, max(other_cores(main[k]["sample"]) for k in ("gateway", "nginx")))


def other_cores(smp):
    """Cores busy with work other than the measured servers and wrk."""
    wall = max(0.01, smp["wall_s"])
    mine = sum(p["cpu_s"] or 0 for p in smp["procs"].values()) / wall
    return max(0.0, smp.get("machine_busy_cores", 0) - mine)


NOTES_BEGIN = "<!-- notes: hand-written, kept by run.sh across runs -->"
NOTES_END = "<!-- /notes -->"


def old_notes(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    if NOTES_BEGIN in text and NOTES_END in text:
        return text.split(NOTES_BEGIN, 1)[1].split(NOTES_END, 1)[0]
    return None


def old_history(path):
    try:
        text = open(path).read()
    except OSError:
        return []
    _, _, tail = text.partition("## History\n")
    return [ln for ln in tail.splitlines() if ln.startswith("| 20")]


def cmd_report(args):
    o = opts(args, results="", profile="")
    d = assemble(o["dir"])
    if o["profile"] and os.path.exists(o["profile"]):
        d["profile_md"] = open(o["profile"]).read()
    if o["results"]:
        d["notes_md"] = old_notes(o["results"])
    d["history"] = old_history(o["results"]) + [history_row(d)] if o["results"] else \
        [history_row(d)]
    text = render(d)
    # The figures on the terminal: everything up to the profile.
    print(text.split("## Profile")[0].split("## History")[0].rstrip())
    if o["results"]:
        with open(o["results"], "w") as f:
            f.write(text)
        print("\nbench: wrote %s" % o["results"])
    main = d["runs"][0]
    g, n = main["gateway"], main["nginx"]
    first, restart = startup_worst(d)
    ok = (g["wrk"]["rps"] >= TARGET_RATIO * n["wrk"]["rps"]
          and max(p["hwm_kb"] or 0 for p in g["sample"]["procs"].values()) <= TARGET_RSS_MB * 1024
          and restart[0] < TARGET_READY_MS and first < TARGET_READY_MS
          and signed_ok(g["wrk"]["rps"], g["wrk"]["latency_us"]["p99"]))
    return 0 if ok else 3


def read_text(path, default):
    try:
        with open(path) as f:
            return f.read().strip() or default
    except OSError:
        return default


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def load_pair(rdir, workers):
    """The gateway and nginx figures of one run directory (gateway/, nginx/)."""
    r = {}
    for key in ("gateway", "nginx"):
        k = os.path.join(rdir, key)
        r[key] = {"workers": workers, "wrk": load_json(os.path.join(k, "wrk.json")),
                  "sample": load_json(os.path.join(k, "sample.json")),
                  "log": load_json(os.path.join(k, "log.json"), {}), "start": {},
                  "phases": {gw: load_json(os.path.join(k, "phases-%s.json" % gw), {})
                             for gw in ("municipality", "state")},
                  "health": {gw: load_json(os.path.join(k, "health-%s.json" % gw), {})
                             for gw in ("municipality", "state")}}
        for f in sorted(glob.glob(os.path.join(k, "start-*.json"))):
            r[key]["start"][os.path.basename(f)[6:-5]] = load_json(f)
        w = r[key]["wrk"]
        if not w or not r[key]["sample"]:
            raise SystemExit("bench: incomplete figures in %s" % k)
        w["rps"] = w["requests"] / (w["duration_us"] / 1e6)
    # the bare-library pair (ops/bench/floor.c), when run.sh ran it in this round
    f = os.path.join(rdir, "floor")
    w = load_json(os.path.join(f, "wrk.json"))
    if w:
        w["rps"] = w["requests"] / (w["duration_us"] / 1e6)
        r["floor"] = {"wrk": w, "sample": load_json(os.path.join(f, "sample.json"), {})}
    return r


def round_figures(r):
    """One round's gateway and nginx throughput, ratio, p99s, CPU per exchange, steal."""
    g, n = r["gateway"], r["nginx"]
    return {"rps": g["wrk"]["rps"], "p50": g["wrk"]["latency_us"]["p50"], "p99": g["wrk"]["latency_us"]["p99"],
            "nginx": n["wrk"]["rps"], "ratio": g["wrk"]["rps"] / n["wrk"]["rps"] if n["wrk"]["rps"] else 0,
            "cpu_us": cpu_per_request_us(g), "steal": g["sample"].get("machine_steal_cores", 0),
            "floor": r["floor"]["wrk"]["rps"] if "floor" in r else None,
            "floor_ratio": r["floor"]["wrk"]["rps"] / n["wrk"]["rps"] if "floor" in r and n["wrk"]["rps"] else None}


def median(xs):
    xs = sorted(xs)
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def render_phases(g):
    """Where an exchange's time went, from the gateways' request log lines."""
    m, st = g.get("phases", {}).get("municipality") or {}, g.get("phases", {}).get("state") or {}
    if not m.get("dur") or not m.get("remote") or not st.get("dur"):
        return []

    def f(ph, k):
        return "%.1f / %.1f / %.1f ms" % (ph[k]["mean"], ph[k]["p50"], ph[k]["p99"]) if k in ph else "-"
    queued = m["remote"]["mean"] - st["dur"]["mean"]
    return ["- where an exchange's time went (the request log lines' fields, mean / p50 / p99 over "
            "the run): municipality whole %s, of it waiting for the batch signature %s, on the state "
            "gateway %s, for its log records %s; state gateway whole %s, of it batch signature %s, log "
            "records %s; so, on average, %.1f ms between the municipality sending and receiving that "
            "the state gateway did not spend on the exchange (queued in the two event loops, on the "
            "wire)" % (f(m, "dur"), f(m, "sign"), f(m, "remote"), f(m, "logwait"), f(st, "dur"),
                       f(st, "sign"), f(st, "logwait"), queued)]


def render_rounds(d):
    """The rounds table and medians (run.sh --rounds), or nothing for one round."""
    rs = [round_figures(r) for r in d.get("rounds") or []]
    if len(rs) < 2:
        return []
    fl = any(f["floor"] for f in rs)
    L = ["## Rounds\n",
         "The headline pair (gateways against nginx, workers %d) run %d times one after the other "
         "(round 1 is the run above): this host's speed changes within minutes, so each round's "
         "ratio is the figure to trust, and the median over rounds the one to quote.\n"
         % (d["rounds"][0]["gateway"]["workers"], len(rs)),
         "| round | gateway req/s | p50 | p99 | CPU per exchange (both gateways) | nginx req/s | ratio "
         "| cores stolen |" + (" bare libraries req/s | bare/nginx |" if fl else ""),
         "| --- | --- | --- | --- | --- | --- | --- | --- |" + (" --- | --- |" if fl else "")]

    def fcells(f):
        if not fl:
            return ""
        return " %.0f | %.2f |" % (f["floor"], f["floor_ratio"]) if f["floor"] else " - | - |"
    for i, f in enumerate(rs):
        L.append("| %d | %.0f | %s | %s | %.0f us | %.0f | %.2f | %.2f |%s"
                 % (i + 1, f["rps"], fmt_ms(f["p50"]), fmt_ms(f["p99"]), f["cpu_us"], f["nginx"], f["ratio"],
                    f["steal"], fcells(f)))
    fr = [f for f in rs if f["floor"]]
    L.append("| **median** | **%.0f** | %s | **%s** | %.0f us | %.0f | **%.2f** | |%s"
             % (median([f["rps"] for f in rs]), fmt_ms(median([f["p50"] for f in rs])),
                fmt_ms(median([f["p99"] for f in rs])), median([f["cpu_us"] for f in rs]),
                median([f["nginx"] for f in rs]), median([f["ratio"] for f in rs]),
                (" %.0f | **%.2f** |" % (median([f["floor"] for f in fr]), median([f["floor_ratio"] for f in fr]))
                 if fl and fr else (" | |" if fl else ""))))
    L.append("")
    return L


def assemble(out):
    """The run's figures from the files run.sh left in out/ (see run.sh)."""
    d = load_json(os.path.join(out, "meta.json"), {})
    d["startup_series"] = load_json(os.path.join(out, "startup-series.json"), {})
    d.update(load_json(os.path.join(out, "sizes.json"), {}))
    d.update(load_json(os.path.join(out, "logsize.json"), {}))
    d["runs"] = []
    for rdir in sorted(glob.glob(os.path.join(out, "run-w*"))):
        d["runs"].append(load_pair(rdir, int(rdir.rsplit("-w", 1)[1])))
    if not d["runs"]:
        raise SystemExit("bench: no runs in %s" % out)
    # Round 1 is the headline run; run.sh --rounds adds rounds/r2.. of the same pair.
    d["rounds"] = [d["runs"][0]]
    for rdir in sorted(glob.glob(os.path.join(out, "rounds", "r*")), key=lambda p: int(p.rsplit("r", 1)[1])):
        d["rounds"].append(load_pair(rdir, d["runs"][0]["gateway"]["workers"]))
    d["variants"] = {}
    for key, _, _ in VARIANTS:
        k = os.path.join(out, key, "gateway")
        w = load_json(os.path.join(k, "wrk.json"))
        if w:
            w["rps"] = w["requests"] / (w["duration_us"] / 1e6)
            d["variants"][key] = {"workers": int(read_text(os.path.join(k, "workers"), "1")), "wrk": w,
                                  "sample": load_json(os.path.join(k, "sample.json"), {})}
    if "floor" in d["runs"][0]:
        d["floor"] = d["runs"][0]["floor"]
    return d


def cpu_per_request_us(run):
    """CPU (user+system) of the measured servers, not wrk, per request of run."""
    cpu = sum((p["cpu_s"] or 0) for name, p in run["sample"].get("procs", {}).items() if name != "wrk")
    return cpu * 1e6 / max(1, run["wrk"]["requests"])


def floor_lines(d, g, n):
    """The bare-library pair (ops/bench/floor.c) against nginx and the gateways: every round's
    ratio (this host's speed changes within minutes), their median and range."""
    f = d.get("floor")
    if not f or not f["wrk"]["rps"] or not n["wrk"]["rps"]:
        return []
    rs = [round_figures(r) for r in d.get("rounds") or [] if "floor" in r]
    ratios = [x["floor_ratio"] for x in rs if x["floor_ratio"]] or [f["wrk"]["rps"] / n["wrk"]["rps"]]
    gfl = [x["rps"] / x["floor"] for x in rs if x["floor"]] or [g["wrk"]["rps"] / f["wrk"]["rps"]]
    errs = sum(sum(r["floor"]["wrk"]["errors"].values()) for r in d.get("rounds") or [] if "floor" in r)
    spread = ("the median of %d rounds: %s; " % (len(ratios), ", ".join("%.2f" % x for x in ratios))
              if len(ratios) > 1 else "")
    return ["- the bare libraries (a reference, not a proof: one way to use them, with evhttp, which "
            "the gateway does not use): %.0f req/s in round 1, **%.2f** of the nginx pair's throughput "
            "(%sCPU per request in round 1 %.0f us against nginx's %.0f us); the gateways reach "
            "%.2f of them. With no gateway work at all, the transport made of libevent, "
            "libcurl and OpenSSL already costs about %.1fx nginx's CPU here%s"
            % (f["wrk"]["rps"], median(ratios), spread, cpu_per_request_us(f), cpu_per_request_us(n),
               median(gfl), cpu_per_request_us(f) / max(1, cpu_per_request_us(n)),
               "; **%d errors** in its runs, so its figure is not to be trusted" % errs if errs else "")]


def cmd_meta(args):
    """meta OUT KEY=VALUE...: the run's description, machine and versions."""
    d = dict(a.split("=", 1) for a in args[1:])
    for k in ("duration", "threads", "connections", "request_bytes", "response_bytes"):
        if k in d:
            d[k] = int(d[k])

    def sh(cmd):
        try:
            r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=10)
            return (r.stdout + r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    d.update(cpu=cpu, nproc=os.cpu_count(), mem="%.1f GB" % (mem_kb / 1048576.0),
             kernel=os.uname().release, loadavg=open("/proc/loadavg").read().split()[0:3],
             date=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
             nginx_version=sh("nginx -v"), wrk_version=sh("wrk -v").split(" Copyright")[0],
             openssl_version=sh("openssl version"))
    d["loadavg"] = " ".join(d["loadavg"])
    rev = sh("git -C %s rev-parse --short HEAD" % ROOT)
    dirty = subprocess.run("git -C %s status --porcelain --untracked-files=no" % ROOT, shell=True,
                           capture_output=True, text=True).stdout.strip()
    d["git"] = "commit %s%s" % (rev, " with uncommitted changes" if dirty else "")
    with open(args[0], "w") as f:
        json.dump(d, f, indent=1)


# ---- profile summary ------------------------------------------------------------

CG_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")


def cg_top(path, inclusive, n):
    """(total Ir, [(Ir, percent, function)]) from callgrind_annotate."""
    cmd = ["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive else "no"), path]
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0, []
    total, rows = 0, []
    for line in text.splitlines():
        m = CG_LINE.match(line)
        if not m:
            continue
        ir, pct, what = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)
        if "PROGRAM TOTALS" in what:
            total = ir
        elif len(rows) < n:
            name = cg_name(what)
            if all(name != r[2] for r in rows):
                rows.append((ir, pct, name))
    return total, rows


def cg_name(what):
    """"./malloc/./malloc/malloc.c:_int_free [/usr/lib/.../libc.so.6]" ->
    "_int_free (libc.so.6)"; our own functions keep their source file."""
    m = re.match(r"^(?:(.*?):)?([^:\[\s]+)(?:\s+\[(.*)\])?$", what.strip())
    if not m:
        return what
    path, fn, obj = m.group(1) or "", m.group(2), m.group(3) or ""
    obj = os.path.basename(obj)
    src = re.sub(r"^.*?/(gateway|adapters)/", r"\1/", path) if "/" in path or path.startswith(
        ("gateway", "adapters")) else ""
    if src.startswith(("gateway/", "adapters/")):
        return "%s (%s)" % (fn, src)
    return "%s (%s)" % (fn, obj) if obj else fn


def cg_calls(path):
    """{function: calls} summed over every call site in a callgrind file
    (names are compressed: "(id) name" the first time, "(id)" after)."""
    names, calls, cfn = {}, {}, None
    pat = re.compile(r"^c?fn=\((\d+)\)(?: (.*))?$")
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("fn=", "cfn=")):
                m = pat.match(line.rstrip("\n"))
                if not m:
                    continue
                if m.group(2):
                    names[m.group(1)] = m.group(2)
                cfn = names.get(m.group(1)) if line.startswith("cfn=") else None
            elif line.startswith("calls=") and cfn:
                n = int(line[6:].split()[0])
                calls[cfn] = calls.get(cfn, 0) + n
    return calls


# Functions whose count per request says what a request costs beyond parsing:
# TLS contexts and handshakes, key and certificate loading, XML documents,
# database statements, allocations.
WATCH = ("SSL_CTX_new_ex", "SSL_new", "SSL_do_handshake", "SSL_connect", "SSL_accept",
         "X509_STORE_load_file", "X509_STORE_load_locations", "X509_load_cert_crl_file",
         "PEM_read_bio_PrivateKey", "PEM_X509_INFO_read_bio_ex", "OSSL_DECODER_CTX_new_for_pkey",
         "EVP_DigestSignInit", "EVP_DigestVerifyInit", "ECDSA_do_sign", "ECDSA_do_verify",
         "EVP_PKEY_sign", "EVP_PKEY_verify", "EVP_PKEY_derive", "curl_easy_init",
         "curl_easy_duphandle", "curl_easy_reset", "curl_easy_cleanup",
         "xmlCreateMemoryParserCtxt", "xmlReadMemory", "xmlParseDocument", "xmlFreeDoc",
         "xmlSchemaValidateDoc", "sqlite3_open_v2", "sqlite3_prepare_v2", "sqlite3_prepare_v3",
         "sqlite3_step", "json_dumps", "malloc", "free", "write", "writev", "sendmsg", "send",
         "recv", "read", "epoll_wait", "epoll_ctl")


def cmd_profile_md(args):
    o = opts(args)
    w = o["work"]
    L = ["## Profile\n"]
    pdir = os.path.join(w, "prof-perf")
    if os.path.exists(os.path.join(pdir, "skipped")):
        L.append("perf: %s\n" % open(os.path.join(pdir, "skipped")).read().strip())
    elif os.path.exists(os.path.join(pdir, "dso.txt")):
        wrk = load_json(os.path.join(pdir, "wrk.json"), {})
        rps = wrk["requests"] / (wrk["duration_us"] / 1e6) if wrk else 0
        m = re.search(r"(\d+) connections", open(os.path.join(pdir, "wrk.txt")).read())
        conns = int(m.group(1)) if m else 0
        # perf's "pid" column is the thread id: map threads to gateways.
        owner = dict(ln.split() for ln in open(os.path.join(pdir, "threads")) if ln.strip())
        by = {}
        for ln in open(os.path.join(pdir, "dso.txt")):
            m = re.match(r"\s*([\d.]+)%\s+(\d+):\S+\s+(.*\S)", ln)
            if m and m.group(2) in owner:
                g = by.setdefault(owner[m.group(2)], {})
                g[m.group(3)] = g.get(m.group(3), 0) + float(m.group(1))
        L.append("### Where the time goes under load (perf)\n")
        L.append("`perf record -e cpu-clock -F 999` on both gateways (workers 1) for 4 s of a "
                 "6-s wrk run (%d connections, %.0f req/s while sampled; the hardware "
                 "`instructions` counter is not available on this machine, the software clock "
                 "is). Self time by library, as a share of each gateway's samples:\n"
                 % (conns, rps))
        L.append("| library | municipality | state |")
        L.append("| --- | --- | --- |")
        tot = {gw: sum(v.values()) or 1 for gw, v in by.items()}
        libs = sorted({k for v in by.values() for k in v},
                      key=lambda k: -sum(by.get(g, {}).get(k, 0) for g in by))
        for lib in libs[:12]:
            L.append("| %s | %s |" % (lib, " | ".join(
                "%.1f%%" % (100.0 * by.get(gw, {}).get(lib, 0) / tot.get(gw, 1))
                for gw in ("municipality", "state"))))
        L.append("")
        L.append("Hottest symbols (both gateways together; libcrypto has no symbols for its "
                 "internal functions, hence addresses):\n")
        L.append("```")
        L.extend(ln.rstrip() for ln in open(os.path.join(pdir, "sym.txt")))
        L.append("```\n")
    cdir = os.path.join(w, "prof-cg")
    if os.path.exists(os.path.join(cdir, "skipped")):
        L.append("callgrind: %s\n" % open(os.path.join(cdir, "skipped")).read().strip())
    else:
        drive = load_json(os.path.join(cdir, "drive.json"), {})
        nreq = sum(v for k, v in drive.get("counts", {}).items())
        L.append("### Instructions per request (callgrind)\n")
        L.append("Both gateways under `valgrind --tool=callgrind` (instrumentation switched on after "
                 "start-up), %d SOAP requests over 4 keep-alive connections (%s). "
                 "Exclusive instruction counts; `Ir/req` divides by the requests.\n"
                 % (nreq, ", ".join("%s x %s" % (v, k)
                                    for k, v in sorted(drive.get("counts", {}).items()))))
        for gw in ("municipality", "state"):
            path = os.path.join(cdir, "callgrind.%s.out" % gw)
            if not os.path.exists(path):
                L.append("%s: no callgrind output.\n" % gw)
                continue
            total, excl = cg_top(path, False, 20)
            _, incl = cg_top(path, True, 30)
            L.append("#### %s gateway: %s Ir in all, %s Ir per request\n"
                     % (gw, "{:,}".format(total), "{:,}".format(total // max(1, nreq))))
            L.append("Exclusive (top 20):\n")
            L.append("```")
            L.extend("%6.2f%%  %12s Ir/req  %s" % (pct, "{:,}".format(ir // max(1, nreq)), f[:110])
                     for ir, pct, f in excl)
            L.append("```\n")
            L.append("Inclusive (top 30):\n")
            L.append("```")
            L.extend("%6.2f%%  %12s Ir/req  %s" % (pct, "{:,}".format(ir // max(1, nreq)), f[:110])
                     for ir, pct, f in incl)
            L.append("```\n")
            calls = cg_calls(path)
            picked = []
            for want in WATCH:
                got = sum(v for k, v in calls.items() if k.split(" ")[0].split("'")[0] == want)
                if got:
                    picked.append("%s %.2f" % (want, got / max(1, nreq)))
            L.append("Calls per request of selected functions: %s.\n" % (
                ", ".join(picked) or "none found"))
    with open(o["out"], "w") as f:
        f.write("\n".join(L) + "\n")


def main(argv):
    cmds = {"body": cmd_body, "start": cmd_start, "startup-series": cmd_startup_series,
            "sample": cmd_sample, "drive": cmd_drive, "logcheck": cmd_logcheck, "phases": cmd_phases,
            "nginx-conf": cmd_nginx_conf, "reply-conf": cmd_reply_conf, "logsize": cmd_logsize,
            "report": cmd_report, "meta": cmd_meta,
            "profile-md": cmd_profile_md}
    if len(argv) < 1 or argv[0] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[0]](argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
