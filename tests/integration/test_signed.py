"""The signed exchange across real gateways: every request and response
between gateways carries the sending member's signature (in front of the body,
with X-Ailgate-Signed giving its length and that of the OCSP responses after it)
and is verified and logged on both sides before the answer goes back; the
logs are hash-chained and batch time-stamped by a real RFC 3161 TSA
(OpenSSL's, tests/integration/tsa_server.py).

Shown here: a signed exchange SOAP and REST; the logged signature verified by
xmlsec1 and the batch token by `openssl ts -verify` (from `ailgate log
export`); `ailgate log verify` finds a flipped byte, a deleted, inserted and
reordered record and a replaced time stamp; signature-wrapping and replay
variants sent straight to a gateway's peer port refused; a member key from a
CA global configuration does not approve refused; a provider's answer with a
wrong requestHash refused by the client side; metadata-only logging; a TSA
outage tolerated, then failing closed (LoggingFailed.TimestamperFailed), then
recovering by itself.

Ports: client 29080-29082, server 29500-29502 (+20 TSA, +21/+22 OCSP),
municipality HTTPS 29443, fake peer on the state's server port (the real
state then on 29509)."""
import base64
import glob
import json
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import threading
import time
import uuid

import harness as h
import msglog_db

INST = "central-server"
CLERK = (INST, "GOV", "70000050", "household-register")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
FAMILY = "/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/%s"
BANK = "central-server/COM/60000001/bank-is"
HOUSEHOLD = "central-server/GOV/70000050/household-register"
EXTRA_INI = {
    # The bank logs its own system's exchanges without bodies.
    "bank": "[msglog]\nmetadata_only = central-server/COM/60000001/bank-is\n",
}


def setup():
    ex = h.Exchange("signed", 29080, 29500, tls_port=29443, extra_ini=EXTRA_INI)
    try:
        ex.start()
        ex.pins = h.household_heads(ex)
        for pin in ex.pins:    # the bank reads resident records with the person's consent
            h.grant_consent(ex, pin)
    except Exception:
        h.stop_and_clean(ex)
        raise
    return ex


def teardown(ex):
    return h.stop_and_clean(ex)


def db_path(ex, gw):
    return os.path.join(ex.dir, "data", gw, "msglog.db")


def records(ex, gw, msg_id):
    """(id, dir, side, body, body_mode, signature document, length of the carried
    OCSP data) of msg_id's records, read from the stored layout (msglog_db.py)."""
    return [(r.id, r.dir, r.side, r.body, r.body_mode, r.sigdoc, len(r.ocsp))
            for r in msglog_db.records(db_path(ex, gw), "r.message_id = ?", (msg_id,))]


def clerk_soap(ex, pin, msg_id=None):
    msg_id = msg_id or str(uuid.uuid4())
    req = h.soap_request(CLERK, PASSPORT, "<pin>%s</pin>" % pin, msg_id=msg_id)
    status, hdrs, body = h.request("POST", ex.url("municipality"), req,
                                   {"Content-Type": "text/xml; charset=utf-8"})
    return msg_id, status, hdrs, body


def verify_log(ex, gw, path=None):
    pki = ex.pki
    return subprocess.run(
        [h.binary(), "log", "verify", "--tsa-ca", os.path.join(pki, "ca", "root", "cert.pem"),
         "--tsa-cert", os.path.join(pki, "tsa", "tsa.pem"),
         "--sign-trust", os.path.join(pki, "ca", "sign-chain.pem"), path or db_path(ex, gw)],
        capture_output=True, text=True, timeout=60)


def wait_stamped(ex, gw, timeout=15.0):
    """Until every record of gw's log is covered by a time stamp."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        db = sqlite3.connect(db_path(ex, gw))
        last = db.execute("SELECT max(id) FROM records").fetchone()[0] or 0
        stamped = db.execute("SELECT max(last_id) FROM timestamps").fetchone()[0] or 0
        db.close()
        if stamped >= last:
            return
        time.sleep(0.2)
    raise AssertionError("%s: records not stamped in %.0f s" % (gw, timeout))


# ---- the signed exchange -----------------------------------------------------

def test_a_soap_signed_verified_logged_both_sides(ex):
    msg_id, status, _, body = clerk_soap(ex, ex.pins[0])
    assert status == 200, body[:600]
    client = records(ex, "municipality", msg_id)
    server = records(ex, "state", msg_id)
    # request and response on each side, each with its member's signature
    assert [(r[1], r[2]) for r in client] == [(1, 1), (2, 1)], client
    assert [(r[1], r[2]) for r in server] == [(1, 2), (2, 2)], server
    for r in client + server:
        assert r[5] and b"<ds:SignatureValue>" in r[5], r[:3]
    # the same bytes on both sides: what was sent is what was received
    assert client[0][3] == server[0][3] and client[1][3] == server[1][3]
    assert client[1][3] == body, "the response logged is not the one relayed"
    # the request is signed by the clerk's member, the answer by the registry's
    assert b"70000050" in client[0][5] and b"<sm:Kind>request</sm:Kind>" in client[0][5]
    assert b"<sm:Kind>response</sm:Kind>" in client[1][5] and b"<sm:RequestHash>" in client[1][5]


def test_b_rest_signed_verified_logged(ex):
    msg_id = str(uuid.uuid4())
    status, hdrs, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[1]),
                                   headers={"X-Road-Client": BANK, "X-Road-Id": msg_id})
    assert status == 200, body[:500]
    assert not any(k.startswith("x-ailgate-") for k in hdrs), hdrs   # stays between gateways
    server = records(ex, "municipality", msg_id)
    assert [(r[1], r[2]) for r in server] == [(1, 2), (2, 2)], server
    # REST is signed in its canonical form: request line, X-Road headers, body
    assert server[0][3].startswith(b"GET /r1/central-server/GOV/70000050/sanaripaymak-service/"
                                   b"family-members/%s\nx-road-client: %s\n" % (
                                       ex.pins[1].encode(), BANK.encode())), server[0][3][:200]
    assert server[1][3].startswith(b"200\ncontent-type: application/json"), server[1][3][:200]
    assert body in server[1][3]


def test_c_metadata_only_subsystem(ex):
    """bank-is is metadata-only on the bank's gateway: no bodies there, the
    municipality (full mode) keeps them."""
    msg_id = str(uuid.uuid4())
    status, _, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[2]),
                                headers={"X-Road-Client": BANK, "X-Road-Id": msg_id})
    assert status == 200, body[:300]
    bank = records(ex, "bank", msg_id)
    assert len(bank) == 2 and all(r[3] is None and r[4] == 2 for r in bank), bank
    assert all(r[5] for r in bank), "signatures are kept in metadata-only mode"
    full = records(ex, "municipality", msg_id)
    assert all(r[3] is not None and r[4] == 1 for r in full), full


def test_d_logs_verify_and_export_checks_with_xmlsec1_and_openssl(ex):
    msg_id, status, _, _ = clerk_soap(ex, ex.pins[3])
    assert status == 200
    for gw in h.GATEWAYS:
        wait_stamped(ex, gw)
        r = verify_log(ex, gw)
        assert r.returncode == 0 and r.stdout.startswith("OK"), (gw, r.stdout, r.stderr)
    out = os.path.join(ex.dir, "export")
    r = subprocess.run([h.binary(), "log", "export", "--db", db_path(ex, "state"), "--message-id", msg_id,
                        "--out", out, "--tsa-ca", os.path.join(ex.pki, "ca", "root", "cert.pem"),
                        "--sign-trust", os.path.join(ex.pki, "ca", "root", "cert.pem"),
                        "--sign-chain", os.path.join(ex.pki, "ca", "sign", "cert.pem")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for s in h.check_export(out, 2):
        # one changed byte and xmlsec1 says no
        bad = s + ".bad"
        data = open(s, "rb").read()
        i = data.index(b"<sm:MessageId>") + len(b"<sm:MessageId>")
        open(bad, "wb").write(data[:i] + (b"X" if data[i:i + 1] != b"X" else b"Y") + data[i + 1:])
        v = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", os.path.join(out, "sign-trust.pem"),
                            "--untrusted-pem", os.path.join(out, "sign-chain.pem"),
                            "--id-attr:Id", "SignedProperties", bad], capture_output=True, text=True)
        assert v.returncode != 0, "xmlsec1 accepted a changed signature document"
    # The auditor's forgery (finding 1): text appended to a body, meta.json rewritten to
    # match (canon's length and SHA-256, body_len, body_sha256, hash). xmlsec1 and openssl ts
    # pass as before; check.py and the README's command for that body (against the signed
    # BodyDigest) do not.
    forged = out + "-forged"
    shutil.copytree(out, forged)
    rid = sorted(os.listdir(os.path.join(forged, "records")), key=int)[0]
    subprocess.run(["/usr/bin/python3", os.path.join(h.ROOT, "tests", "integration", "export_tamper.py"), forged,
                    "forge-body", rid], check=True)
    c = subprocess.run(["/usr/bin/python3", os.path.join(forged, "check.py")], capture_output=True, text=True)
    assert c.returncode == 1 and re.search(r"^BAD +records/%s: .*BodyDigest> differs.*chain.json holds" % rid,
                                           c.stdout, re.M), c.stdout
    failed = [cmd for cmd in h.readme_commands(forged)
              if subprocess.run(cmd, shell=True, cwd=forged, capture_output=True).returncode != 0]
    assert len(failed) == 2 and failed[0] == "python3 check.py" and "records/%s/body.bin" % rid in failed[1], failed
    shutil.rmtree(os.path.join(forged, "batches"))
    c = subprocess.run(["/usr/bin/python3", os.path.join(forged, "check.py")], capture_output=True, text=True)
    assert c.returncode == 1 and "batches/" in c.stdout, c.stdout
    # The OCSP responses that travelled with each message: real DER (finding 3), the member's
    # verified by the README's openssl ocsp command as of the record's time (check_export ran
    # them all), tied to canon by check.py.
    readme = open(os.path.join(out, "README.txt")).read()
    assert re.search(r"^openssl ocsp -respin records/%s/ocsp-0\.der -resp_text -CAfile sign-trust\.pem "
                     r"-verify_other sign-chain\.pem -attime [0-9]+ " % rid, readme, re.M), readme
    ocsp = os.path.join(out + "-ocsp", "records", rid, "ocsp-0.der")
    shutil.copytree(out, out + "-ocsp")
    open(ocsp, "ab").write(b"\0")
    c = subprocess.run(["/usr/bin/python3", os.path.join(out + "-ocsp", "check.py")], capture_output=True, text=True)
    assert c.returncode == 1 and re.search(r"^BAD +records/%s: .*ocsp-0\.der" % rid, c.stdout, re.M), c.stdout


def leaf_by_xmllint(doc):
    """The leaf of a batch document computed independently of the gateway's
    writer: BatchProof and Batch removed with minidom, canonicalised by
    libxml2 (xmllint --exc-c14n), hashed."""
    from xml.dom import minidom
    d = minidom.parseString(doc)
    root = d.documentElement
    for name in ("sm:BatchProof", "sm:Batch"):
        el = [n for n in root.childNodes if n.nodeType == n.ELEMENT_NODE and n.tagName == name]
        assert len(el) == 1, name
        root.removeChild(el[0])
    c = subprocess.run(["xmllint", "--exc-c14n", "-"], input=root.toxml().encode(), capture_output=True,
                       check=True)
    import hashlib
    return hashlib.sha256(c.stdout).digest()


def fold(leaf, index, count, path):
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to (None if it does not fit)."""
    import hashlib
    fn, sn, r = index, count - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def assert_commit_health(ex):
    """/health on both sides says what the log's commits cost in the last minute,
    a warning only above [msglog] slow_commit_ms (500 by default)."""
    for side in ("municipality", "state"):
        hs, _, hb = h.request("GET", ex.url(side, "/health"))
        doc = json.loads(hb)
        c = {x["name"]: x for x in doc["checks"]}["msglog_commits"]
        m = re.match(r"(?:slow commits .*?: )?(\d+) commits? in the last 60 s, ([0-9.]+) records each; a commit "
                     r"took ([0-9.]+) ms on average, the longest ([0-9.]+) ms", c["detail"])
        assert m and c["ok"] is True, (side, c)
        commits, each, avg, longest = int(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4))
        assert commits >= 1 and each >= 1 and 0 <= avg <= longest, (side, c)
        if abs(longest - 500) > 0.01:
            assert c["warning"] is (longest > 500), (side, c)
        assert doc["warnings"] >= int(c["warning"]) and hs in (200, 503), (side, doc)


def test_j_batch_signatures_under_concurrent_load(ex):
    """Many requests at once: each gateway signs what one turn of its event
    loop has ready with one key operation (a hash tree; README-sign.md,
    "Batches"). Every exchange is answered; the logs hold batch documents
    that verify offline: xmlsec1 checks the shared signature over the root,
    an independent canonicalisation (xmllint) of each message's fields folds
    with its path to that root, ailgate log verify and the export's check.py
    agree."""
    pins = ex.pins
    ids, results = [], []
    lock = threading.Lock()

    def worker(k):
        for j in range(4):
            m, status, _, body = clerk_soap(ex, pins[(k + j) % len(pins)])
            with lock:
                ids.append(m)
                results.append((status, body[:200]))
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 64 and all(st == 200 for st, _ in results), results[:3]
    assert_commit_health(ex)   # now: the window is the last 60 s
    found = {}
    for gw in ("municipality", "state"):
        rows = [(r.message_id, r.dir, r.sigdoc) for r in msglog_db.records(
            db_path(ex, gw), "r.message_id IN (%s)" % ",".join("?" * len(ids)), ids)]
        db = sqlite3.connect(db_path(ex, gw))
        # past its first records the log stores them packed (compress = on, the default)
        assert db.execute("SELECT COUNT(*) FROM records WHERE packed IS NOT NULL").fetchone()[0] > 0, gw
        shared = db.execute("SELECT COUNT(*), COUNT(DISTINCT sig_batch) FROM records WHERE sig_batch IS NOT NULL"
                            " AND message_id IN (%s)" % ",".join("?" * len(ids)), ids).fetchone()
        db.close()
        assert len(rows) == 128, (gw, len(rows))   # request and answer of each, on each side
        found[gw] = [r for r in rows if b"<sm:BatchProof" in r[2]]
        # every batch-form document keeps its Batch element in sig_batches, once per batch
        assert shared[0] == len(found[gw]) and (not shared[0] or shared[1] < shared[0]), (gw, shared)
    batched = found["municipality"] + found["state"]
    assert batched, "no message was signed in a batch under 16 concurrent clients"
    roots = {}
    for msg_id, direction, doc in batched:
        index = int(re.search(rb'<sm:BatchProof Index="([0-9]+)">', doc).group(1))
        m = re.search(rb'<sm:Root Algorithm="[^"]+" Count="([0-9]+)">([^<]+)</sm:Root>', doc)
        path = [base64.b64decode(n) for n in re.findall(rb"<sm:Node>([^<]+)</sm:Node>", doc)]
        root = base64.b64decode(m.group(2))
        assert fold(leaf_by_xmllint(doc), index, int(m.group(1)), path) == root, msg_id
        roots.setdefault(root, []).append(doc)
    assert any(len(v) > 1 for v in roots.values()), "each batch root was seen once only"
    # xmlsec1 on one message of each of a few batches
    pem = os.path.join(ex.pki, "ca", "root", "cert.pem")
    for docs in list(roots.values())[:4]:
        f = os.path.join(ex.dir, "batch-%s.xml" % uuid.uuid4().hex[:8])
        open(f, "wb").write(docs[0])
        v = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", pem, "--untrusted-pem",
                            os.path.join(ex.pki, "ca", "sign", "cert.pem"), "--id-attr:Id", "SignedProperties",
                            "--id-attr:Id", "urn:ailgate:signed-message:1:Batch", f],
                           capture_output=True, text=True)
        assert v.returncode == 0 and "OK" in v.stderr, v.stderr
        # the Root changed: xmlsec1 says no
        bad = docs[0].replace(b"Count=\"", b"Count=\"1", 1)
        open(f, "wb").write(bad)
        v = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", pem, "--untrusted-pem",
                            os.path.join(ex.pki, "ca", "sign", "cert.pem"), "--id-attr:Id", "SignedProperties",
                            "--id-attr:Id", "urn:ailgate:signed-message:1:Batch", f],
                           capture_output=True, text=True)
        assert v.returncode != 0, "xmlsec1 accepted a changed Batch"
    for gw in ("municipality", "state"):
        wait_stamped(ex, gw)
        r = verify_log(ex, gw)
        assert r.returncode == 0 and r.stdout.startswith("OK"), (gw, r.stdout, r.stderr)
    # a shared Batch element changed: verify names the first record that uses it
    gw = "municipality" if found["municipality"] else "state"
    src, dst = db_path(ex, gw), os.path.join(ex.dir, "tamper-batch.db")
    s, d = sqlite3.connect(src), sqlite3.connect(dst)
    s.backup(d)
    s.close()
    first = d.execute("SELECT min(id) FROM records WHERE sig_batch = (SELECT max(first_id) FROM sig_batches)"
                      ).fetchone()[0]
    d.execute("UPDATE sig_batches SET data = CAST(replace(CAST(data AS TEXT), 'Count=\"', 'Count=\"1') AS BLOB)"
              " WHERE first_id = (SELECT max(first_id) FROM sig_batches)")
    d.commit()
    d.close()
    r = verify_log(ex, gw, dst)
    assert r.returncode == 1 and "first bad record %d:" % first in r.stdout, (first, r.stdout, r.stderr)
    # the export of a batched message: check.py folds its path too
    msg = batched[0][0]
    side = "municipality" if batched[0] in found["municipality"] else "state"
    out = os.path.join(ex.dir, "export-batch")
    r = subprocess.run([h.binary(), "log", "export", "--db", db_path(ex, side), "--message-id", msg,
                        "--out", out, "--tsa-ca", os.path.join(ex.pki, "ca", "root", "cert.pem"),
                        "--sign-trust", pem, "--sign-chain", os.path.join(ex.pki, "ca", "sign", "cert.pem")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    c = subprocess.run(["/usr/bin/python3", os.path.join(out, "check.py")], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
    readme = open(os.path.join(out, "README.txt")).read()
    assert "urn:ailgate:signed-message:1:Batch" in readme


def tamper(ex, name, sql):
    """A copy of the state's log with sql applied; returns (rc, output) of log verify."""
    src = db_path(ex, "state")
    dst = os.path.join(ex.dir, "tamper-%s.db" % name)
    s = sqlite3.connect(src)
    d = sqlite3.connect(dst)
    s.backup(d)
    s.close()
    d.executescript(sql)
    d.commit()
    d.close()
    r = verify_log(ex, "state", dst)
    return r.returncode, r.stdout + r.stderr


def test_e_log_verify_finds_every_tampering(ex):
    wait_stamped(ex, "state")
    db = sqlite3.connect(db_path(ex, "state"))
    ids = [r[0] for r in db.execute("SELECT id FROM records ORDER BY id")]
    nstamps = db.execute("SELECT count(*) FROM timestamps").fetchone()[0]
    first_stamped = db.execute("SELECT first_id FROM timestamps ORDER BY id LIMIT 1").fetchone()
    db.close()
    assert len(ids) >= 4 and nstamps >= 1, (ids, nstamps)
    k = ids[1]
    cases = {
        "flipped byte": "UPDATE records SET body = X'7E' || substr(body, 2) WHERE id = %d;" % k,
        "deleted": "DELETE FROM records WHERE id = %d;" % k,
        "inserted": ("CREATE TEMP TABLE t AS SELECT * FROM records WHERE id = %d;"
                     "UPDATE records SET id = id + 1000000 WHERE id > %d;"
                     "UPDATE t SET id = %d + 1, message_id = 'injected';"
                     "INSERT INTO records SELECT * FROM t;"
                     "UPDATE records SET id = id - 1000000 + 1 WHERE id > 1000000;") % (k, k, k),
        "reordered": ("UPDATE records SET id = -1 WHERE id = %d; UPDATE records SET id = %d WHERE id = %d;"
                      "UPDATE records SET id = %d WHERE id = -1;") % (k, k, k + 1, k + 1),
        "replaced time stamp": ("UPDATE timestamps SET token = (SELECT token FROM timestamps ORDER BY id DESC LIMIT 1) "
                                "WHERE id = (SELECT min(id) FROM timestamps);" if nstamps > 1 else
                                "UPDATE timestamps SET token = substr(token, 1, length(token) - 40) || "
                                "zeroblob(40);"),
    }
    # what each change must be reported as, and the record named first
    want = {"flipped byte": ("body", k), "deleted": ("missing", k), "inserted": ("inserted", k + 1),
            "reordered": ("link", k), "replaced time stamp": ("stamp", first_stamped and first_stamped[0])}
    for name, sql in cases.items():
        rc, out = tamper(ex, name.replace(" ", "-"), sql)
        kind, rec = want[name]
        assert rc == 1 and re.search(r"^FAIL \(%s\): first bad record %d:" % (kind, rec), out, re.M), (
            name, kind, rec, rc, out)
    rc, out = tamper(ex, "untouched", "SELECT 1;")
    assert rc == 0, out



def test_e1_signed_identifiers_against_the_record(ex):
    """A record whose message id, service or direction column was changed -
    its hash recomputed, as one who holds the file can - verified with
    "signatures verified" before: the signature binds the identifiers in
    the signed document, and log verify --sign-trust now compares them with
    the record's. The record's canonical encoding comes from an export
    (meta.json: canon, prev_hash), so the forger's hash is exactly right."""
    import hashlib
    msg_id, status, _, _ = clerk_soap(ex, ex.pins[2])
    assert status == 200
    wait_stamped(ex, "state")
    db = sqlite3.connect(db_path(ex, "state"))
    rid = db.execute("SELECT max(id) FROM records").fetchone()[0]
    mid = db.execute("SELECT message_id FROM records WHERE id = ?", (rid,)).fetchone()[0]
    db.close()
    out = os.path.join(ex.dir, "export-e1")
    r = subprocess.run([h.binary(), "log", "export", "--db", db_path(ex, "state"), "--message-id", mid,
                        "--out", out], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    meta = json.load(open(os.path.join(out, "records", str(rid), "meta.json")))
    canon = bytes.fromhex(meta["canon"])
    fields, i = [], 0
    while i < len(canon):
        n = int.from_bytes(canon[i:i + 4], "big")
        fields.append(canon[i + 4:i + 4 + n])
        i += 4 + n
    k = fields.index(mid.encode())
    fields[k] = b"forged-" + mid.encode()
    forged = b"".join(len(f).to_bytes(4, "big") + f for f in fields)
    new_hash = hashlib.sha256(bytes.fromhex(meta["prev_hash"]) + forged).digest()
    # the newest record, its stamp gone (what is after the last stamp the chain alone protects)
    sql = ("DELETE FROM timestamps WHERE last_id >= %d; UPDATE records SET message_id = 'forged-%s', "
           "hash = X'%s' WHERE id = %d;" % (rid, mid, new_hash.hex(), rid))
    rc, out_text = tamper(ex, "forged-id", sql)
    assert rc == 1 and re.search(r"^FAIL \(signature\): first bad record %d: .*the signed message id is '%s', "
                                 r"the record says 'forged-%s'" % (rid, re.escape(mid), re.escape(mid)),
                                 out_text, re.M), out_text
    # without the signature check the forged record passes: the chain alone cannot tell
    copy = os.path.join(ex.dir, "tamper-forged-id.db")
    r = subprocess.run([h.binary(), "log", "verify", copy], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_e2_anchor_tells_a_cut_tail(ex):
    """Deleting the newest batches together with their time stamps leaves a
    shorter log that verifies; with the anchor the gateway gave out earlier -
    its event=msglog_anchor log line, /health's msglog_anchor - kept off the
    machine, log verify --anchor names the cut (and a rewritten record)."""
    clerk_soap(ex, ex.pins[0])
    wait_stamped(ex, "state")
    st, _, body = h.request("GET", ex.url("state", "/health"))
    checks = {c["name"]: c for c in json.loads(body)["checks"]}
    m = re.search(r"newest stamped record (\d+):([0-9a-f]{64})", checks["msglog_anchor"]["detail"])
    assert m, checks["msglog_anchor"]
    anchor = "%s:%s" % (m.group(1), m.group(2))
    lines = re.findall(r"event=msglog_anchor anchor=(\d+):([0-9a-f]{64})", ex.log("state"))
    assert lines, ex.log("state")[-2000:]   # the first stamp is told at once
    db = sqlite3.connect(db_path(ex, "state"))
    for lid, lhash in lines:   # each line names a record as it is in the log
        assert db.execute("SELECT lower(hex(hash)) FROM records WHERE id = ?", (int(lid),)).fetchone()[0] == lhash
    stamps = [r[0] for r in db.execute("SELECT last_id FROM timestamps ORDER BY last_id")]
    db.close()
    keep = stamps[-2] if len(stamps) > 1 else 0
    cut = "DELETE FROM records WHERE id > %d; DELETE FROM timestamps WHERE last_id > %d;" % (keep, keep)
    rc, out = tamper(ex, "cut-tail", cut)
    assert rc == 0, out   # the limit of a hash chain on its own
    assert "newest stamped record: " in out or keep == 0, out

    def verify_anchored(name, sql, anchor_text):
        src = os.path.join(ex.dir, "tamper-%s.db" % name)
        tamper(ex, name, sql)
        return subprocess.run([h.binary(), "log", "verify", "--anchor", anchor_text,
                               "--tsa-ca", os.path.join(ex.pki, "ca", "root", "cert.pem"), src],
                              capture_output=True, text=True, timeout=60)
    r = verify_anchored("cut-anchored", cut, anchor)
    assert r.returncode == 1 and re.search(r"^FAIL \(cut\): first bad record %d: the log ends at record %d"
                                           % (keep + 1, keep), r.stdout, re.M), r.stdout + r.stderr
    r = verify_anchored("untouched-anchored", "SELECT 1;", anchor)
    assert r.returncode == 0 and "anchor: record %s is in the log" % m.group(1) in r.stdout, r.stdout + r.stderr
    # the anchor's record rewritten (and its successors' links with it): named
    wrong = "%s:%s" % (m.group(1), ("0" if m.group(2)[0] != "0" else "1") + m.group(2)[1:])
    r = verify_anchored("rewritten", "SELECT 1;", wrong)
    assert r.returncode == 1 and "FAIL (anchor): first bad record %s" % m.group(1) in r.stdout, r.stdout
    r = subprocess.run([h.binary(), "log", "verify", "--anchor", "12:beef", db_path(ex, "state")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "64 hex digits" in r.stderr, r.stderr


# ---- what the provider's gateway refuses ---------------------------------------

def peer_post(ex, gw_to, body, headers, as_gw="municipality", target="/"):
    """POST straight to gw_to's peer port with as_gw's TLS certificate."""
    import http.client
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(ex.pki, "ca", "trust.pem"))
    ctx.load_cert_chain(os.path.join(ex.pki, "gw", as_gw, "auth.pem"),
                        os.path.join(ex.pki, "gw", as_gw, "auth.key"))
    c = http.client.HTTPSConnection("127.0.0.1", ex.server_port(gw_to), timeout=15, context=ctx)
    c.request("POST", target, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def signed_body(body, sig, ocsp):
    """What a gateway sends to another: the signature document and the OCSP
    responses in front of the body, and the header that says how long each is."""
    ocsp = ocsp.encode() if isinstance(ocsp, str) else ocsp
    return sig + ocsp + body, {"X-Ailgate-Signed": "%d %d" % (len(sig), len(ocsp))}


def split_signed(headers, data):
    """The other way round: (signature, OCSP text, body) of what a gateway sent."""
    n = next(v for k, v in headers if k.lower() == "x-ailgate-signed")
    sl, ol = (int(x) for x in n.split(" "))
    return data[:sl], data[sl:sl + ol], data[sl + ol:]


def logged_request(ex, msg_id):
    """Body, signature document and carried OCSP header of a logged request."""
    r = msglog_db.records(db_path(ex, "municipality"), "r.message_id = ? AND r.dir = 1", (msg_id,))[0]
    return r.body, r.sigdoc, r.ocsp.decode()


def move_signature_first(sig):
    """The ds:Signature moved from last to first child of SignedMessage."""
    a, b = sig.index(b"<ds:Signature "), sig.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    head_end = sig.index(b">") + 1
    moved = sig[:head_end] + sig[a:b] + sig[head_end:a] + sig[b:]
    assert moved != sig
    return moved


def test_f_signature_wrapping_and_replay_refused(ex):
    m1, s1, _, _ = clerk_soap(ex, ex.pins[0])
    m2, s2, _, _ = clerk_soap(ex, ex.pins[1])
    assert s1 == 200 and s2 == 200
    body1, sig1, ocsp1 = logged_request(ex, m1)
    body2, sig2, _ = logged_request(ex, m2)
    assert ocsp1, "the OCSP responses carried are logged with the request"
    ct = "text/xml; charset=utf-8"

    def send(body, sig):
        hd = {"Content-Type": ct}
        if isinstance(sig, str):            # the header alone, as given
            hd["X-Ailgate-Signed"] = sig
        elif sig is not None:
            body, extra = signed_body(body, sig, ocsp1)
            hd.update(extra)
        status, data = peer_post(ex, "state", body, hd)
        f = h.soap_fault(data)
        assert status == 500 and f, (status, data[:400])
        return f["code"], f["string"]

    sm = b"urn:ailgate:signed-message:1"
    variants = {
        "no signature": (body1, None, "MissingSignature"),
        "not XML": (body1, b"!!!", "MalformedSignature"),
        "lengths not decimal": (body1, "12 x", "MalformedSignature"),
        "lengths past the body": (body1, "%d 0" % (len(body1) + 1), "MalformedSignature"),
        "lengths with a leading zero": (body1, "012 0", "MalformedSignature"),
        "body changed": (body1.replace(ex.pins[0].encode(), ex.pins[2].encode()), sig1,
                         "InvalidSignatureValue"),
        "signature of another message": (body1, sig2, "InvalidSignatureValue"),
        "message id changed in the signed document":
            (body1, sig1.replace(m1.encode(), m2.encode()), "InvalidSignatureValue"),
        "duplicated element": (body1, sig1.replace(b"<sm:Kind>request</sm:Kind>",
                                                   b"<sm:Kind>request</sm:Kind><sm:Kind>request</sm:Kind>"),
                               "MalformedSignature"),
        "second signed message wrapped around":
            (body1, b'<sm:SignedMessage xmlns:sm="%s" Id="x">' % sm + sig1 + b"</sm:SignedMessage>",
             "MalformedSignature"),
        "moved signature": (body1, move_signature_first(sig1), "MalformedSignature"),
        "DOCTYPE": (body1, b'<!DOCTYPE x [<!ENTITY e "a">]>' + sig1, "MalformedSignature"),
        "replayed as is": (body1, sig1, "DuplicateMessageId"),
    }
    wrong = []
    for name, (body, sig, want) in variants.items():
        code, why = send(body, sig)
        if code != "Server.ServerProxy." + want:
            wrong.append((name, code, why))
    assert not wrong, wrong
    # none of those reached the registry: the state logged nothing new for
    # m1, nor for m2, whose id and signature some of them carried
    assert len(records(ex, "state", m1)) == 2 and len(records(ex, "state", m2)) == 2


def test_g_unapproved_ca_refused(ex):
    """A rogue bank gateway signs with a key from a CA that the exchange's
    global configuration does not approve (its own copy approves it): the
    municipality refuses (CertValidation), and the bank's system is told."""
    import ocsp_responder
    other = os.path.join(ex.dir, "otherpki")
    subprocess.run([os.path.join(h.ROOT, "certs", "mkpki.sh"), other, "--members", "COM/60000001"],
                   check=True, stdout=subprocess.DEVNULL)
    resp = ocsp_responder.start(other, ca="sign", port=29523)
    try:
        gc = open(os.path.join(ex.dir, "globalconf.xml")).read()
        gc = re.sub(r"\s*<ds:Signature.*</ds:Signature>", "", gc, flags=re.S)   # re-signed below
        rogue_ca = ('<approvedCA name="rogue"><certificate>%s</certificate><ocsp url="http://127.0.0.1:29523/"/>'
                    '</approvedCA>\n') % open(os.path.join(other, "ca", "sign-chain.pem")).read()
        i = gc.index("<approvedTSA")
        gcpath = os.path.join(ex.dir, "globalconf-rogue.xml")
        open(gcpath, "w").write(gc[:i] + rogue_ca + gc[i:])
        ini = open(ex.config_path("bank")).read()
        if re.search(r"^anchor\s*=", ini, flags=re.M):
            op = os.path.join(ex.pki, "operator")
            subprocess.run([h.binary(), "globalconf", "sign", "--key", os.path.join(op, "operator.key"),
                            "--cert", os.path.join(op, "operator.pem"), "-o", gcpath, gcpath], check=True)
        bad = re.sub(r"member_key = COM/60000001 \S+ \S+",
                     "member_key = COM/60000001 %s/members/COM_60000001/sign.key "
                     "%s/members/COM_60000001/sign-fullchain.pem" % (other, other), ini)
        bad = re.sub(r"^globalconf = .*$", "globalconf = %s" % gcpath, bad, flags=re.M)
        assert bad != ini
        path = os.path.join(ex.dir, "bank-otherca.ini")
        open(path, "w").write(bad)
        ex.restart("bank", config=path)
        try:
            status, hdrs, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[0]),
                                           headers={"X-Road-Client": BANK})
            err = json.loads(body)
            assert status == 500 and err["type"] == "Server.ServerProxy.CertValidation", (status, body)
            assert hdrs.get("x-road-error") == err["type"]
        finally:
            ex.restart("bank")
    finally:
        resp.stop()
    status, _, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[0]), headers={"X-Road-Client": BANK})
    assert status == 200, body[:300]


def fake_state_peer(ex, handler):
    """An HTTPS server on the state's peer port with the state's real TLS
    identity (client certificates required), serving handler in threads:
    the municipality keeps its connections open and may open more."""
    import http.server
    import socketserver
    socketserver.TCPServer.allow_reuse_address = True
    http.server.ThreadingHTTPServer.daemon_threads = True
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", ex.server_port("state")), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(ex.pki, "gw", "state", "auth.pem"),
                        os.path.join(ex.pki, "gw", "state", "auth.key"))
    ctx.load_verify_locations(os.path.join(ex.pki, "ca", "trust.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_h_wrong_request_hash_refused_by_client_side(ex):
    """A peer with the state's real TLS identity answers with another
    request's hash: the municipality refuses the answer."""
    import http.server
    ex.stop(["state"])

    class Fake(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            req = self.rfile.read(n)
            head = req[req.index(b"<SOAP-ENV:Header>"):req.index(b"</SOAP-ENV:Header>")]
            resp = (b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
                    b'xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">'
                    + head + b'<xrd:requestHash algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">'
                    + base64.b64encode(b"\0" * 64) + b"</xrd:requestHash></SOAP-ENV:Header>"
                    b"<SOAP-ENV:Body><x/></SOAP-ENV:Body></SOAP-ENV:Envelope>")
            self.send_response(200)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(resp)))
            self.end_headers()
            self.wfile.write(resp)

        def log_message(self, *a):
            pass

    srv = fake_state_peer(ex, Fake)
    try:
        _, status, _, body = clerk_soap(ex, ex.pins[0])
        f = h.soap_fault(body)
        assert status == 500 and f and f["code"] == "Server.ClientProxy.InconsistentResponse", body[:500]
        assert "requestHash" in f["string"], f
    finally:
        srv.shutdown()
        srv.server_close()
        ex.start(["state"])


def test_k_provider_tls_certificate_status_checked_by_client_side(ex):
    """The provider's gateway carries the OCSP responses of its signing and
    of its TLS certificate with each answer; the client side checks both. A
    relay in the state's place (its real TLS identity) passes the answers
    on: unchanged they are accepted; with the TLS certificate's response
    taken out the municipality refuses the answer."""
    import http.client
    import http.server
    moved = 29509
    ex.stop(["state"])
    ini = open(ex.config_path("state")).read()
    old = "listen = 127.0.0.1:%d" % ex.server_port("state")
    assert old in ini
    path = os.path.join(ex.dir, "state-moved.ini")
    open(path, "w").write(ini.replace(old, "listen = 127.0.0.1:%d" % moved))
    ex.start(["state"], configs={"state": path}, trust=False)
    up = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    up.check_hostname = False
    up.load_verify_locations(os.path.join(ex.pki, "ca", "trust.pem"))
    up.load_cert_chain(os.path.join(ex.pki, "gw", "municipality", "auth.pem"),
                       os.path.join(ex.pki, "gw", "municipality", "auth.key"))
    mode = {"strip": False}

    class Relay(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            # one exchange per connection: a kept-alive connection would
            # outlive the relay (shutdown stops only the accepting) and carry
            # the next test's requests to a state that has moved back
            self.close_connection = True
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            c = http.client.HTTPSConnection("127.0.0.1", moved, context=up, timeout=20)
            try:
                c.request("POST", self.path, body, hdrs)
                r = c.getresponse()
                data = r.read()
            except OSError as e:
                # the state is away: say so as a proxy would instead of
                # printing the handler's traceback; the test's own exchanges
                # assert their answers
                self.send_error(502, "relay: %s" % e)
                return
            self.send_response(r.status)
            if mode["strip"]:
                sig, ocsp, rest = split_signed(r.getheaders(), data)
                data, extra = signed_body(rest, sig, ocsp.split(b",")[0])  # the signing certificate's only
            for k, v in r.getheaders():
                if k.lower() in ("content-length", "connection", "transfer-encoding"):
                    continue
                if k.lower() == "x-ailgate-signed" and mode["strip"]:
                    v = extra["X-Ailgate-Signed"]
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            c.close()

        def log_message(self, *a):
            pass

    srv = fake_state_peer(ex, Relay)
    try:
        _, status, _, body = clerk_soap(ex, ex.pins[0])
        assert status == 200, body[:500]
        mode["strip"] = True
        _, status, _, body = clerk_soap(ex, ex.pins[1])
        f = h.soap_fault(body)
        assert status == 500 and f and f["code"] == "Server.ClientProxy.CertValidation", body[:500]
        assert "TLS certificate of the provider's gateway" in f["string"], f
    finally:
        srv.shutdown()
        srv.server_close()
        ex.stop(["state"])
        ex.start(["state"], trust=False)


def test_i_callers_that_go_away_mid_exchange(ex):
    """Clients that close the connection while their exchange is being signed,
    sent, verified or logged: nothing is lost or double-freed (ASan watches the
    gateways), the exchanges still land in both logs, and service goes on."""
    import socket
    sent = []
    for i in range(40):
        mid = str(uuid.uuid4())
        req = h.soap_request(CLERK, PASSPORT, "<pin>%s</pin>" % ex.pins[i % len(ex.pins)], msg_id=mid)
        s = socket.create_connection(("127.0.0.1", ex.port("municipality")))
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(req) + req)
        if i % 2:
            time.sleep(0.012 * (i % 5))   # at different moments of the exchange
        s.close()
        sent.append(mid)
    for gw in ("municipality", "state"):
        assert ex.alive(gw), ex.log(gw)[-2000:]
    _, status, _, body = clerk_soap(ex, ex.pins[0])
    assert status == 200, body[:300]

    def dirs(gw):
        db = sqlite3.connect(db_path(ex, gw))
        out = {m: {r[0] for r in db.execute("SELECT dir FROM records WHERE message_id = ?", (m,))}
               for m in sent}
        db.close()
        return out
    # Calls left to finish end within their 3-s grace: read both logs until
    # they stop changing.
    deadline, last = time.time() + 10, None
    while time.time() < deadline:
        now = (dirs("municipality"), dirs("state"))
        if now == last:
            break
        last = now
        time.sleep(0.7)
    mun, state = last
    # The provider logs an exchange whole or not at all; the client side logs
    # the request it signed and sent, and the response only if it took it.
    assert all(v in (set(), {1, 2}) for v in state.values()), state
    assert all(v in (set(), {1}, {1, 2}) for v in mun.values()), mun
    for m in sent:
        assert not state[m] or 1 in mun[m], ("the state answered a request its sender did not log", m, mun[m])
        assert mun[m] != {1, 2} or state[m] == {1, 2}, ("a response logged that the state did not log", m)
    assert sum(1 for v in state.values() if v) > 0, "no exchange reached the provider"
    print("   %d callers left: %d exchanges logged whole by the state; the municipality logged %d requests, "
          "%d with their response" % (len(sent), sum(1 for v in state.values() if v),
                                      sum(1 for v in mun.values() if 1 in v), sum(1 for v in mun.values() if 2 in v)))


# ---- certificate status (OCSP) -----------------------------------------------

def ocsp_der(ex, ca, cert):
    """A fresh OCSP response for cert from the exchange's responder for ca."""
    out = os.path.join(ex.dir, "ocsp-%s-%s.der" % (ca, uuid.uuid4().hex[:8]))
    subprocess.run(["openssl", "ocsp", "-issuer", os.path.join(ex.pki, "ca", ca, "cert.pem"), "-cert", cert,
                    "-url", "http://127.0.0.1:%d/" % ex.ocsp_port(ca), "-respout", out, "-noverify"],
                   check=True, capture_output=True, timeout=20)
    return open(out, "rb").read()


def test_x_ocsp_responder_unreachable_no_fresh_response_refused(ex):
    """The state restarts while the signing CA's responder is down: with the
    responses it kept from its last run (still fresh) it goes on; with none it
    answers nothing signed and the clerk gets a fault that says why. The
    responder returns: service resumes."""
    import glob as g
    import ocsp_responder
    ex.trust_procs.pop("ocsp-sign").stop()
    try:
        # the responses kept from the last run are still fresh: a restart during the
        # outage is tolerated (they are verified again and served while fresh)
        ex.stop(["state"])
        kept = g.glob(os.path.join(ex.dir, "data", "state", "ocsp", "*.der"))
        assert len(kept) == 5, kept   # four members' signing certificates and the TLS certificate
        ex.start(["state"], trust=False)
        _, status, _, body = clerk_soap(ex, ex.pins[0])
        assert status == 200, body[:400]
        # without them, nothing fresh is known: the state cannot answer signed
        ex.stop(["state"])
        for f in kept:
            os.unlink(f)
        ex.start(["state"], wait=False, trust=False)
        deadline, f, status, body = time.time() + 15, None, None, b""
        while time.time() < deadline:
            try:
                _, status, _, body = clerk_soap(ex, ex.pins[0])
            except OSError:
                time.sleep(0.2)
                continue
            f = h.soap_fault(body)
            if f and "not known" in f["string"]:
                break
            time.sleep(0.2)
        assert f and f["code"] == "Server.ServerProxy.CertValidation", (status, body[:600], ex.log("state")[-1500:])
        assert "OCSP" in f["string"], f
    finally:
        ex.trust_procs["ocsp-sign"] = ocsp_responder.start(ex.pki, ca="sign", port=ex.ocsp_port("sign"))
    ex.stop(["state"])
    ex.start(["state"])
    _, status, _, body = clerk_soap(ex, ex.pins[0])
    assert status == 200, body[:400]


def test_y_certificate_revoked_mid_test_refused(ex):
    import ocsp_responder
    # The bank fetches its own certificates' status every few seconds, so that
    # it learns of the revocation below while running (part 2).
    fast = os.path.join(ex.dir, "bank-fast-ocsp.ini")
    with open(ex.config_path("bank")) as src, open(fast, "w") as dst:
        dst.write(src.read() + "\n[ocsp]\nfetch_interval_s = 2\n")
    ex.stop(["bank"])
    ex.start(["bank"], configs={"bank": fast}, trust=False)
    msg_id = str(uuid.uuid4())
    status, _, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[0]),
                                headers={"X-Road-Client": BANK, "X-Road-Id": msg_id})
    assert status == 200, body[:300]
    canon, sig = records(ex, "municipality", msg_id)[0][3], records(ex, "municipality", msg_id)[0][5]
    sign_pem = os.path.join(ex.pki, "members", "COM_60000001", "sign.pem")
    auth_pem = os.path.join(ex.pki, "gw", "bank", "auth.pem")
    ocsp_responder.revoke(ex.pki, "sign", sign_pem, responder=ex.trust_procs["ocsp-sign"])
    # 1. the provider's gateway refuses a message whose carried status says revoked
    head = canon.split(b"\n\n", 1)[0].decode().split("\n")
    method, target = head[0].split(" ", 1)
    hd = {k: v for k, v in (l.split(": ", 1) for l in head[1:])}
    assert hd["x-road-id"] == msg_id, hd   # as signed (replay is checked after the status)
    body, extra = signed_body(canon.split(b"\n\n", 1)[1], sig,
                              ",".join(base64.b64encode(d).decode() for d in
                                       (ocsp_der(ex, "sign", sign_pem), ocsp_der(ex, "auth", auth_pem))))
    hd.update(extra)
    import http.client
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(ex.pki, "ca", "trust.pem"))
    ctx.load_cert_chain(auth_pem, os.path.join(ex.pki, "gw", "bank", "auth.key"))
    c = http.client.HTTPSConnection("127.0.0.1", ex.server_port("municipality"), timeout=15, context=ctx)
    c.request(method, target, body=body, headers=hd)
    r = c.getresponse()
    err = json.loads(r.read())
    c.close()
    assert r.status == 500 and err["type"] == "Server.ServerProxy.CertValidation", err
    assert "revoked" in err["message"] and "keyCompromise" in err["message"], err
    # 2. the bank's own gateway, once it learns the status, refuses to sign and
    # send - while running: what it carried with its earlier messages (GOOD) is
    # not reused once its cache holds the new response
    deadline, err = time.time() + 30, None
    while time.time() < deadline:
        try:
            status, hdrs, body = h.request("GET", ex.url("bank", FAMILY % ex.pins[0]),
                                           headers={"X-Road-Client": BANK}, timeout=5)
        except OSError:
            time.sleep(0.2)
            continue
        err = json.loads(body)
        if "revoked" in err.get("message", ""):
            break
        time.sleep(0.2)
    assert status == 500 and err["type"] == "Server.ClientProxy.CertValidation", (status, err)
    assert "revoked" in err["message"], err
    hs, _, hb = h.request("GET", ex.url("bank", "/health"))
    assert hs == 503 and b"revoked" in hb, hb[:500]


# ---- the time-stamping authority goes away -------------------------------------

def household_call(ex):
    status, hdrs, body = h.request("GET", ex.url("municipality", FAMILY % ex.pins[0]),
                                   headers={"X-Road-Client": HOUSEHOLD})
    return status, hdrs, body


def test_z_tsa_outage_tolerated_then_fails_closed_then_recovers(ex):
    # Refuse after 3 s without a stamp (default 10 min): only here, so that a
    # slow TSA on a loaded machine does not refuse the other tests' exchanges.
    ini = open(ex.config_path("municipality")).read()
    assert "[msglog]\n" in ini
    path = os.path.join(ex.dir, "municipality-tsa3s.ini")
    open(path, "w").write(ini.replace("[msglog]\n", "[msglog]\nts_max_unstamped_ms = 3000\n", 1))
    ex.stop(["municipality"])
    ex.start(["municipality"], configs={"municipality": path}, trust=False)
    try:
        tsa_outage(ex)
    finally:
        ex.stop(["municipality"])
        ex.start(["municipality"], trust=False)


def tsa_outage(ex):
    status, _, body = household_call(ex)
    assert status == 200, body[:300]
    ex.tsa_down(True)
    try:
        # tolerated at first: answers keep coming while records wait for a stamp
        status, _, body = household_call(ex)
        assert status == 200, body[:300]
        deadline = time.time() + 25
        refused = None
        while time.time() < deadline:
            status, hdrs, body = household_call(ex)
            if status != 200:
                refused = (status, hdrs, body)
                break
            time.sleep(0.3)
        assert refused, "still answering 25 s into a TSA outage with ts_max_unstamped_ms = 3000"
        err = json.loads(refused[2])
        assert err["type"] == "Server.ClientProxy.LoggingFailed.TimestamperFailed", refused
        assert "TSA" in err["message"], err
        hs, _, hb = h.request("GET", ex.url("municipality", "/health"))
        assert hs == 503 and b"msglog" in hb, (hs, hb[:400])
    finally:
        ex.tsa_down(False)
    deadline = time.time() + 25
    while time.time() < deadline:
        status, _, body = household_call(ex)
        if status == 200:
            break
        time.sleep(0.3)
    assert status == 200, "did not recover after the TSA came back: %r" % body[:300]
    wait_stamped(ex, "municipality")
    r = verify_log(ex, "municipality")
    assert r.returncode == 0, r.stdout + r.stderr
