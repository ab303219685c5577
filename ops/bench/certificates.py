#!/usr/bin/env python3
"""Benchmark: time from a citizen's request to a signed, time-stamped
certificate, on the demo exchange (three gateways, signed exchange and
message log on, the approved TSA and OCSP responders running).

The certificate is "no utility debt": built from three registries (the
population registry on the state gateway; the household register and utility
billing on the municipality's), queried through the exchange in two stages,
then signed (XAdES-BES), time-stamped (RFC 3161, synchronously), stored in
the register and registered in edocs. The request comes from the portal (state
gateway) as it would in production.

Baseline in the same run: the same three registry queries made directly by a
client through the exchange (the first two in parallel, then the debt), i.e.
what the certificate costs on top of the data it is built from.

    ops/bench/certificates.py [--n 60] [--conc 4] [--seconds 10] [--port-base 27100]

Prints the figures; with --results FILE appends them as a section (RESULTS.md).
Every loop is bounded (count and time)."""
import argparse
import json
import os
import statistics
import sys
import threading
import time
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness as h  # noqa: E402

INST = "central-server"
PORTAL = INST + "/GOV/70000073/portal"
CERTS = "/r1/%s/GOV/70000050/certificates/issue" % INST
CLERK = INST + "/GOV/70000050/household-register"


def post_json(url, body, headers, timeout=60):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers=dict(headers, **{"Content-Type": "application/json"}))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def get(url, headers, timeout=60):
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def issue(ex, pin):
    t0 = time.monotonic()
    st, d = post_json(ex.url("state", CERTS), {"kind": "no-utility-debt", "pin": pin, "purpose": "bench"},
                      {"X-Road-Client": PORTAL, "X-Road-UserId": pin, "X-Road-Id": str(uuid.uuid4())})
    return time.monotonic() - t0, st, d


def direct(ex, pin, household):
    """The three registry queries of the certificate, made by a clerk's system."""
    t0 = time.monotonic()
    res = [None, None]

    def q(i, url):
        res[i] = get(url, {"X-Road-Client": CLERK, "X-Road-Id": str(uuid.uuid4())})
    a = threading.Thread(target=q, args=(0, ex.url("municipality", "/r1/%s/GOV/70000005/passport-service/"
                                                   "passportDataByPSN/%s" % (INST, pin))))
    b = threading.Thread(target=q, args=(1, ex.url("municipality", "/r1/%s/GOV/70000050/sanaripaymak-service/"
                                                   "family-members/%s" % (INST, pin))))
    a.start()
    b.start()
    a.join()
    b.join()
    st3, _ = get(ex.url("municipality", "/r1/%s/GOV/70000050/billing/debt/%s" % (INST, household)),
                 {"X-Road-Client": CLERK, "X-Road-Id": str(uuid.uuid4())})
    ok = res[0][0] == 200 and res[1][0] == 200 and st3 == 200
    return time.monotonic() - t0, ok


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60, help="sequential requests for the latency figures")
    ap.add_argument("--conc", type=int, default=4, help="concurrent clients for the throughput figure")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the throughput run")
    ap.add_argument("--port-base", type=int, default=27100)
    ap.add_argument("--results", help="append the figures to this Markdown file")
    a = ap.parse_args()
    os.environ.setdefault("AILGATE_BIN", os.path.join(ROOT, "build", "release", "ailgate"))
    ex = h.Exchange("bench-certs", a.port_base + 80, a.port_base + 500, tls_port=a.port_base + 443)
    try:
        ex.start()
        import sqlite3
        db = sqlite3.connect(os.path.join(ex.dir, "data", "municipality", "household.db"))
        cands = [r for r in db.execute("SELECT pin, household_id FROM persons WHERE pin IS NOT NULL "
                                       "GROUP BY pin HAVING count(*) = 1 ORDER BY household_id")]
        db.close()
        pin = hh = None
        for p, hid in cands[:40]:          # a person whose household owes nothing
            _, st, d = issue(ex, p)
            if st == 200:
                pin, hh = p, hid
                break
        if not pin:
            raise SystemExit("no person in the seed gets a no-utility-debt certificate")
        for _ in range(5):                  # warm connections
            issue(ex, pin)
            direct(ex, pin, hh)
        lat, base, fails = [], [], 0
        for _ in range(a.n):
            dt, st, _ = issue(ex, pin)
            (lat if st == 200 else []).append(dt)
            fails += st != 200
            bt, ok = direct(ex, pin, hh)
            (base if ok else []).append(bt)
        done, errs, lock = [0], [0], threading.Lock()
        stop_at = time.monotonic() + a.seconds

        def worker():
            for _ in range(100000):
                if time.monotonic() >= stop_at:
                    return
                _, st, _ = issue(ex, pin)
                with lock:
                    done[0] += st == 200
                    errs[0] += st != 200
        ts = [threading.Thread(target=worker) for _ in range(a.conc)]
        t0 = time.monotonic()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        rate = done[0] / (time.monotonic() - t0)
        ms = lambda x: "%.1f ms" % (x * 1000)  # noqa: E731
        lines = [
            "## Certificates: request to signed, time-stamped document (`ops/bench/certificates.py`)",
            "",
            "- command: `ops/bench/certificates.py --n %d --conc %d --seconds %g` (release build, three gateways "
            "on loopback, TSA and OCSP responders running, message log on); date %s UTC" % (
                a.n, a.conc, a.seconds, time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
            "- certificate: `no-utility-debt` from three registries (population on the state gateway, household "
            "register and billing on the municipality's), requested by the portal, signed (XAdES-BES), "
            "time-stamped synchronously (RFC 3161 by `tests/integration/tsa_server.py`, which forks `openssl ts` "
            "per request), stored, registered in edocs",
            "",
            "| figure | value | target |",
            "| --- | --- | --- |",
            "| p50 request -> signed, time-stamped document (one at a time, %d requests) | %s | <= 50 ms: %s |" % (
                len(lat), ms(pct(lat, 50)), "met" if pct(lat, 50) <= 0.05 else "**NOT met**"),
            "| p99 | %s | |" % ms(pct(lat, 99)),
            "| baseline: the same three registry queries made directly (p50) | %s | |" % ms(pct(base, 50)),
            "| certificate / baseline (p50) | %.2f | |" % (pct(lat, 50) / pct(base, 50)),
            "| certificates per second, %d concurrent clients, %g s | %.1f (%d errors) | |" % (
                a.conc, a.seconds, rate, errs[0]),
            "| failed in the latency run | %d | |" % fails,
            "",
        ]
        text = "\n".join(lines)
        print(text)
        if a.results:
            with open(a.results, "a") as f:
                f.write("\n" + text)
    finally:
        h.stop_and_clean(ex)


if __name__ == "__main__":
    main()
