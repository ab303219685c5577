"""kill -9 during a bounded load run: every exchange whose client got an
answer is in the killed gateway's message log afterwards (request and
response), and the log verifies. Repeated, killing the client-side gateway
(bank) and the provider-side gateway (municipality) in turn.

Ports: client 29180-29182, server 29600-29602 (+20 TSA), HTTPS 29543."""
import os
import sqlite3
import subprocess
import threading
import time
import uuid

import harness as h

BANK = "central-server/COM/60000001/bank-is"
FAMILY = "/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/%s"
ROUNDS = (("bank", 1), ("municipality", 2), ("bank", 1), ("municipality", 2))
THREADS = 6
PER_THREAD = 400          # bound on requests per thread and round
KILL_AFTER_S = 0.8


def setup():
    ex = h.Exchange("kill9", 29180, 29600, tls_port=29543)
    try:
        ex.start()
        db = sqlite3.connect(os.path.join(ex.dir, "data", "municipality", "household.db"))
        ex.pins = [r[0] for r in db.execute(
            "SELECT pin FROM persons WHERE pin IS NOT NULL GROUP BY pin HAVING count(*) = 1 LIMIT 6")]
        db.close()
        for pin in ex.pins:    # the bank reads resident records with the person's consent
            h.grant_consent(ex, pin)
    except Exception:
        h.stop_and_clean(ex)
        raise
    return ex


def teardown(ex):
    return h.stop_and_clean(ex)


def load(ex, answered, stop):
    def worker(i):
        for n in range(PER_THREAD):
            if stop.is_set():
                return
            mid = str(uuid.uuid4())
            try:
                status, _, _ = h.request("GET", ex.url("bank", FAMILY % ex.pins[(i + n) % len(ex.pins)]),
                                         headers={"X-Road-Client": BANK, "X-Road-Id": mid}, timeout=5)
            except Exception:
                continue   # the gateway died under us: no answer, nothing owed
            if status == 200:
                answered.append(mid)
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in ts:
        t.start()
    return ts


def logged(ex, gw, side):
    db = sqlite3.connect(os.path.join(ex.dir, "data", gw, "msglog.db"))
    rows = db.execute("SELECT message_id, dir FROM records WHERE side = ?", (side,)).fetchall()
    db.close()
    have = {}
    for mid, d in rows:
        have.setdefault(mid, set()).add(d)
    return have


def test_kill9_answered_exchanges_are_logged(ex):
    pki = ex.pki
    for rnd, (victim, side) in enumerate(ROUNDS):
        answered, stop = [], threading.Event()
        threads = load(ex, answered, stop)
        time.sleep(KILL_AFTER_S)
        before = len(answered)
        ex.kill9(victim)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert before > 0, "round %d: no exchange answered before the kill" % rnd
        have = logged(ex, victim, side)
        missing = [m for m in answered if have.get(m) != {1, 2}]
        assert not missing, "round %d (%s killed): %d of %d answered exchanges not logged: %s" % (
            rnd, victim, len(missing), len(answered), missing[:5])
        r = subprocess.run([h.binary(), "log", "verify", "--tsa-ca", os.path.join(pki, "ca", "root", "cert.pem"),
                            "--tsa-cert", os.path.join(pki, "tsa", "tsa.pem"),
                            "--sign-trust", os.path.join(pki, "ca", "sign-chain.pem"),
                            os.path.join(ex.dir, "data", victim, "msglog.db")],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, "round %d: %s%s" % (rnd, r.stdout, r.stderr)
        print("   round %d: %s killed after %d answers (%d in all), every one logged; %s" % (
            rnd, victim, before, len(answered), r.stdout.strip()[:100]))
        ex.start([victim])
