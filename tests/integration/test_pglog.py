"""A gateway whose message log is in PostgreSQL ([msglog] path = postgresql://...):
a real server started for the scenario (tests/integration/pg_server.sh, its own
cluster, Unix socket only). The state gateway logs there, the municipality in
SQLite as usual. Shown: signed exchanges logged in the database before the
answer (request and response, signature document and OCSP data), time-stamped
by the TSA; `ailgate log verify` and `ailgate log export` on the URI; a
changed row named by the verifier; kill -9 of the gateway during a bounded
load run: every exchange whose client got an answer is in the database, and
the log verifies; a second gateway process on the same log refused with a
message saying why; the log line shows the URI without its password; the
database server killed and restarted: LoggingFailed meanwhile, then logging
again by itself; a URI with no server behind it: the gateway does not start and
log verify exits 2, both saying why, neither showing the password.

Ports: client 29280-29282, server 29700-29702 (+20 TSA, +21/+22 OCSP), HTTPS 29643."""
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
import uuid

import harness as h

INST = "central-server"
CLERK = (INST, "GOV", "70000050", "household-register")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
PG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_server.sh")


def psql(ex, sql):
    r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", ex.dsn, "-c", sql],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def setup():
    pgdir = tempfile.mkdtemp(prefix="ailgate-pg-")
    os.rmdir(pgdir)
    r = subprocess.run([PG, "start", pgdir], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("PostgreSQL did not start: %s%s" % (r.stdout, r.stderr))
    dsn = r.stdout.strip()
    # A password in the URI (the server trusts the socket and ignores it):
    # the gateway's log line must not show it.
    shown = dsn + "&password=s3cret-pw"
    ex = None
    try:
        ex = h.Exchange("pglog", 29280, 29700, tls_port=29643,
                        extra_ini={"state": "[msglog]\npath = %s\n" % shown})
        ex.pgdir, ex.dsn = pgdir, dsn
        ex.start()
        ex.pins = h.household_heads(ex)
    except Exception:
        if ex:
            h.stop_and_clean(ex)
        subprocess.run([PG, "stop", pgdir], timeout=60)
        raise
    return ex


def teardown(ex):
    problems = h.stop_and_clean(ex)
    subprocess.run([PG, "stop", ex.pgdir], timeout=60)
    return problems


def clerk_soap(ex, pin):
    msg_id = str(uuid.uuid4())
    req = h.soap_request(CLERK, PASSPORT, "<pin>%s</pin>" % pin, msg_id=msg_id)
    status, _, body = h.request("POST", ex.url("municipality"), req, {"Content-Type": "text/xml; charset=utf-8"})
    return msg_id, status, body


def verify(ex, target):
    pki = ex.pki
    return subprocess.run(
        [h.binary(), "log", "verify", "--tsa-ca", os.path.join(pki, "ca", "root", "cert.pem"),
         "--tsa-cert", os.path.join(pki, "tsa", "tsa.pem"),
         "--sign-trust", os.path.join(pki, "ca", "sign-chain.pem"), target],
        capture_output=True, text=True, timeout=120)


def wait_stamped(ex, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        last = int(psql(ex, "SELECT COALESCE(max(id), 0) FROM msglog_records"))
        stamped = int(psql(ex, "SELECT COALESCE(max(last_id), 0) FROM msglog_timestamps"))
        if stamped >= last:
            return
        time.sleep(0.2)
    raise AssertionError("records not stamped in %.0f s" % timeout)


def test_a_exchange_logged_in_postgresql(ex):
    msg_id, status, body = clerk_soap(ex, ex.pins[0])
    assert status == 200, body[:600]
    rows = psql(ex, "SELECT dir || ':' || side || ':' || (position('<ds:SignatureValue>' in"
                    " convert_from(sigdoc, 'UTF8')) > 0) || ':' || (length(ocsp) > 0) || ':' ||"
                    " (body IS NOT NULL) FROM msglog_records WHERE message_id = '%s' ORDER BY id" % msg_id)
    # the state is the provider's side (2): its request and response, each signed, with OCSP data
    assert rows.split("\n") == ["1:2:true:true:true", "2:2:true:true:true"], rows
    # the answer relayed is the one the state logged
    logged = psql(ex, "SELECT encode(sha256(body), 'hex') FROM msglog_records WHERE message_id = '%s'"
                      " AND dir = 2" % msg_id)
    assert logged == hashlib.sha256(body).hexdigest()
    log = ex.log("state")
    assert "path=postgresql://" in log and "s3cret-pw" not in log, \
        [l for l in log.splitlines() if "event=msglog" in l]


def test_b_verify_and_export_on_the_uri(ex):
    for pin in ex.pins[1:4]:
        _, status, body = clerk_soap(ex, pin)
        assert status == 200, body[:300]
    wait_stamped(ex)
    r = verify(ex, ex.dsn)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "records" in r.stdout, r.stdout
    out = os.path.join(ex.dir, "export-pg")
    msg_id = psql(ex, "SELECT convert_from(message_id, 'UTF8') FROM msglog_records ORDER BY id LIMIT 1")
    r = subprocess.run([h.binary(), "log", "export", "--db", ex.dsn, "--message-id", msg_id, "--out", out,
                        "--tsa-ca", os.path.join(ex.pki, "ca", "root", "cert.pem"),
                        "--sign-trust", os.path.join(ex.pki, "ca", "trust.pem")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # the message's request and response, as a third party checks them
    h.check_export(out, 2)


def test_c_changed_row_named(ex):
    rid = int(psql(ex, "SELECT id FROM msglog_records WHERE dir = 2 ORDER BY id LIMIT 1"))
    orig = psql(ex, "SELECT encode(body, 'hex') FROM msglog_records WHERE id = %d" % rid)
    psql(ex, "UPDATE msglog_records SET body = overlay(body placing 'Z'::bytea from 60 for 1) WHERE id = %d" % rid)
    try:
        r = verify(ex, ex.dsn)
        assert r.returncode == 1, r.stdout + r.stderr
        assert re.search(r"^FAIL \(body\): first bad record %d:" % rid, r.stdout, re.M), r.stdout + r.stderr
    finally:
        psql(ex, "UPDATE msglog_records SET body = decode('%s', 'hex') WHERE id = %d" % (orig, rid))
    assert verify(ex, ex.dsn).returncode == 0


def test_d_second_writer_refused(ex):
    # The same configuration on other ports and another data_dir: only the log is shared.
    with open(ex.config_path("state")) as f:
        text = f.read()
    text = re.sub(r"listen = 127\.0\.0\.1:(\d+)", lambda m: "listen = 127.0.0.1:%d" % (int(m.group(1)) + 50), text)
    text = re.sub(r"data_dir = .*", "data_dir = " + os.path.join(ex.dir, "data", "state2"), text)
    os.makedirs(os.path.join(ex.dir, "data", "state2"), exist_ok=True)
    cfg = os.path.join(ex.dir, "state2.ini")
    with open(cfg, "w") as f:
        f.write(text)
    r = subprocess.run([h.binary(), "serve", "--config", cfg], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    text = r.stdout + r.stderr
    assert "another gateway process is writing this PostgreSQL log" in text, text[-1500:]
    assert "s3cret-pw" not in text, text[-1500:]


def test_e_kill9_answered_exchanges_in_postgresql(ex):
    for rnd in range(3):
        answered, stop = [], threading.Event()

        def worker(i):
            for n in range(300):   # bounded
                if stop.is_set():
                    return
                try:
                    mid, status, _ = clerk_soap(ex, ex.pins[(i + n) % len(ex.pins)])
                except Exception:
                    continue   # the gateway died under us: no answer, nothing owed
                if status == 200:
                    answered.append(mid)
        ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        time.sleep(0.8)
        before = len(answered)
        ex.kill9("state")
        stop.set()
        for t in ts:
            t.join(timeout=60)
        assert before > 0, "round %d: nothing answered before the kill" % rnd
        have = {}
        for line in psql(ex, "SELECT convert_from(message_id, 'UTF8') || ' ' || dir FROM msglog_records WHERE side = 2").split("\n"):
            if line:
                mid, d = line.split()
                have.setdefault(mid, set()).add(int(d))
        missing = [m for m in answered if have.get(m) != {1, 2}]
        assert not missing, "round %d: %d of %d answered exchanges not in the database: %s" % (
            rnd, len(missing), len(answered), missing[:5])
        ex.start(["state"])
        wait_stamped(ex)
        r = verify(ex, ex.dsn)
        assert r.returncode == 0, "round %d: %s%s" % (rnd, r.stdout, r.stderr)
        print("   round %d: state killed after %d answers (%d in all), every one in PostgreSQL; %s" % (
            rnd, before, len(answered), r.stdout.strip()[:100]))


def test_f_database_restart_survived(ex):
    """The database server goes down (kill -9) and comes back: exchanges meanwhile fail
    with LoggingFailed, none is answered unlogged, and the gateway logs again by itself."""
    assert subprocess.run([PG, "crash", ex.pgdir], timeout=60).returncode == 0
    failed_id, status, body = clerk_soap(ex, ex.pins[0])
    f = h.soap_fault(body) if body.startswith(b"<") else None
    # refused by the state gateway, whose log is down: not a time-stamping fault
    assert status == 500 and f and f["code"] == "Server.ServerProxy.LoggingFailed", (status, body[:400])
    lines = ex.request_lines(f["detail"])
    assert "state" in {gw for gw, _ in lines} and all(
        "fault=Server.ServerProxy.LoggingFailed " in l for _, l in lines), lines
    r = subprocess.run([PG, "restart", ex.pgdir], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    deadline, status = time.time() + 15, 0
    while time.time() < deadline:
        msg_id, status, body = clerk_soap(ex, ex.pins[1])
        if status == 200:
            break
        time.sleep(0.3)
    assert status == 200, body[:400]
    assert psql(ex, "SELECT COUNT(*) FROM msglog_records WHERE message_id = '%s'" % msg_id) == "2"
    # the refused exchange left nothing behind: no half of it was kept
    assert psql(ex, "SELECT COUNT(*) FROM msglog_records WHERE message_id = '%s'" % failed_id) == "0"
    st, _, _ = h.request("GET", ex.url("state", "/health"))
    assert st == 200
    wait_stamped(ex)
    assert verify(ex, ex.dsn).returncode == 0


def test_g_unreachable_database_refused_clearly(ex):
    """A URI whose server is not there: the gateway does not start, and says why (without the
    URI's password); log verify on it exits 2 with the reason."""
    bad = "postgresql:///postgres?host=%s/nowhere&port=1&user=postgres&password=s3cret-pw" % ex.dir
    with open(ex.config_path("state")) as f:
        text = f.read()
    text = re.sub(r"listen = 127\.0\.0\.1:(\d+)", lambda m: "listen = 127.0.0.1:%d" % (int(m.group(1)) + 60), text)
    text = re.sub(r"data_dir = .*", "data_dir = " + os.path.join(ex.dir, "data", "state3"), text)
    text = re.sub(r"path = postgresql://.*", "path = " + bad, text)
    os.makedirs(os.path.join(ex.dir, "data", "state3"), exist_ok=True)
    cfg = os.path.join(ex.dir, "state3.ini")
    with open(cfg, "w") as f:
        f.write(text)
    r = subprocess.run([h.binary(), "serve", "--config", cfg], capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-1500:]
    assert "cannot connect to PostgreSQL" in out, out[-1500:]
    assert "s3cret-pw" not in out, out[-1500:]
    r = verify(ex, bad)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "cannot connect to PostgreSQL" in r.stdout + r.stderr and "s3cret-pw" not in r.stdout + r.stderr, \
        r.stdout + r.stderr
