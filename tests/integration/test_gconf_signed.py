"""The signed global configuration and its updates, with real gateways.

The operator signs the global configuration (`ailgate globalconf sign`);
every gateway holds the operator's certificate as its anchor. Here the state
and bank gateways read updates from a URL (a python http.server on loopback,
every second, each with its own local copy) and the municipality from its
local file (every second).

Shown: the signature verifies with xmlsec1 and `ailgate globalconf verify`;
a wrongly signed, a tampered, an unsigned, an expired, an older and a future-dated file are
each refused while the last good one stays in force (requests answered,
/health 200 with a warning that says what failed, since when and which
configuration is in force); a good new one with an added access right is
picked up from the URL and the right works at once; with the URL down the
gateways keep serving with a health warning, a restarted gateway starts
from its last good local copy, and the warning clears when the URL is back;
a bounded loop of requests during repeated swaps has zero failures.

Ports: client 28080-28082, server 28280-28282 (+20 TSA, +21/+22 OCSP),
municipality HTTPS 28443, the configuration's URL 28350."""
import http.server
import json
import os
import re
import signal
import subprocess
import threading
import time

import harness as h

INST = "central-server"
CLERK = (INST, "GOV", "70000050", "household-register")
BANK_IS = (INST, "COM", "60000001", "bank-is")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
PIN = "21205197500417"
URL_PORT = 28350
URL_GWS = ("state", "bank")
REFRESH = "[globalconf]\nrefresh_s = 1\ndownload_timeout_ms = 2000\n"


class Publisher:
    """The operator's web server: serves dir/globalconf.xml on 127.0.0.1."""

    def __init__(self, directory):
        self.dir = directory
        self.server = None

    def start(self):
        handler = lambda *a, **k: QuietHandler(*a, directory=self.dir, **k)
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", URL_PORT), handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def publish(self, text):
        tmp = os.path.join(self.dir, "globalconf.xml.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, os.path.join(self.dir, "globalconf.xml"))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def setup():
    ex = h.Exchange("gconf-signed", 28080, 28280, tls_port=28443,
                    extra_ini={"municipality": REFRESH})
    ex.publisher = None
    try:
        with open(os.path.join(ex.dir, "globalconf.xml"), encoding="utf-8") as f:
            ex.good = f.read()
        pub = os.path.join(ex.dir, "published")
        os.mkdir(pub)
        ex.publisher = Publisher(pub)
        ex.publisher.publish(ex.good)
        ex.publisher.start()
        ex.url_configs = {gw: url_config(ex, gw) for gw in URL_GWS}
        ex.start(configs=ex.url_configs)
    except Exception:
        teardown(ex)
        raise
    return ex


def teardown(ex):
    if getattr(ex, "publisher", None):
        ex.publisher.stop()
    return h.stop_and_clean(ex)


def url_config(ex, gw):
    """gw's configuration with the URL as source and a local copy of its own."""
    with open(ex.config_path(gw), encoding="utf-8") as f:
        text = f.read()
    local = os.path.join(ex.dir, "globalconf.xml")
    cache = os.path.join(ex.dir, "cache-%s.xml" % gw)
    assert "globalconf = %s\n" % local in text, text
    with open(local, encoding="utf-8") as f, open(cache, "w", encoding="utf-8") as c:
        c.write(f.read())
    text = text.replace("globalconf = %s\n" % local, "globalconf = %s\n" % cache)
    text += "\n%ssource = http://127.0.0.1:%d/globalconf.xml\n" % (REFRESH, URL_PORT)
    path = os.path.join(ex.dir, "%s-url.ini" % gw)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# ---- helpers -----------------------------------------------------------------

def sign(ex, text, key="operator/operator.key", cert="operator/operator.pem"):
    """text signed (again) with key/cert under the exchange's PKI."""
    src = os.path.join(ex.dir, "to-sign.xml")
    out = os.path.join(ex.dir, "signed.xml")
    with open(src, "w", encoding="utf-8") as f:
        f.write(text)
    r = subprocess.run([h.binary(), "globalconf", "sign", "--replace", "--key", os.path.join(ex.pki, key),
                        "--cert", os.path.join(ex.pki, cert), "-o", out, src], capture_output=True)
    assert r.returncode == 0, r.stderr
    with open(out, encoding="utf-8") as f:
        return f.read()


def unsigned(text):
    return re.sub(r"<ds:Signature .*</ds:Signature>\n", "", text, flags=re.S)


def with_bank_right(text):
    """text with bank-is allowed passportDataByPSN (the demo does not allow it)."""
    m = re.search(r'code="passportDataByPSN"[^>]*>.*?(</service>)', text, flags=re.S)
    assert m, "the demo global configuration changed; update this test"
    return text[:m.start(1)] + "  <allow>COM/60000001/bank-is</allow>\n  " + text[m.start(1):]


def with_times(text, generated, expires):
    text = re.sub(r"<generatedAt>[^<]*</generatedAt>", "<generatedAt>%s</generatedAt>" % generated, text)
    return re.sub(r"<expiresAt>[^<]*</expiresAt>", "<expiresAt>%s</expiresAt>" % expires, text)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def generated_of(text):
    return re.search(r"<generatedAt>([^<]*)</generatedAt>", text).group(1)


def drop(ex, text):
    """Puts text where every gateway reads updates: the URL and the
    municipality's local file."""
    ex.publisher.publish(text)
    path = os.path.join(ex.dir, "globalconf.xml")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def ask(ex, gw="municipality", client=CLERK):
    req = h.soap_request(client, PASSPORT, "<pin>%s</pin>" % PIN)
    st, _, body = h.request("POST", ex.url(gw), req, {"Content-Type": "text/xml"})
    return st, body


def bank_allowed(ex):
    st, body = ask(ex, "bank", BANK_IS)
    if st == 200 and b"requestHash" in body:
        return True
    f = h.soap_fault(body)
    assert f and f["code"] == "Server.ServerProxy.AccessDenied", body[:400]
    return False


def health(ex, gw):
    """/health with doc["warnings"] counting the global configuration's warnings only: a slow
    disk on this machine may add msglog_commits' (test_signed.py checks that one)."""
    st, _, body = h.request("GET", ex.url(gw, "/health"))
    doc = json.loads(body)
    checks = {c["name"]: c for c in doc["checks"]}
    doc["warnings"] -= int(checks.get("msglog_commits", {}).get("warning", False))
    return st, doc, checks


def wait_until(what, fn, timeout=10.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        assert time.time() < deadline, "timed out waiting for: %s" % what
        time.sleep(0.1)


def refused_since(ex, gw, offset, needle):
    """The log of gw from offset holds a refused update mentioning needle."""
    return [ln for ln in ex.log_since(gw, offset).splitlines()
            if "event=globalconf_reload ok=0" in ln and needle in ln]


def offsets(ex):
    return {gw: len(ex.log(gw).encode("utf-8")) for gw in h.GATEWAYS}


def assert_serving_last_good(ex, needle):
    """Every gateway answers on the configuration in force and /health says
    the update failed (200, a warning)."""
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    assert not bank_allowed(ex)
    for gw in ("municipality", "state", "bank"):
        st, doc, checks = health(ex, gw)
        up = checks["globalconf_update"]
        assert st == 200 and doc["status"] == "ok" and doc["warnings"] == 1, doc
        assert checks["globalconf"]["ok"] and up["ok"] and up["warning"], doc
        assert needle in up["detail"] and "failing since" in up["detail"], up
        assert "in force: the configuration generated at %s" % generated_of(ex.good) in up["detail"], up


def check_refused(ex, text, needle):
    off = offsets(ex)
    drop(ex, text)
    for gw in h.GATEWAYS:
        wait_until("%s refuses (%s)" % (gw, needle), lambda gw=gw: refused_since(ex, gw, off[gw], needle))
    assert_serving_last_good(ex, needle)


# ---- scenarios (run in name order) ------------------------------------------------

def test_1_signed_configuration_in_force(ex):
    path = os.path.join(ex.dir, "globalconf.xml")
    r = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", os.path.join(ex.pki, "ca", "root", "cert.pem"),
                        path], capture_output=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([h.binary(), "globalconf", "verify", "--anchor",
                        os.path.join(ex.pki, "operator", "operator.pem"), path], capture_output=True, text=True)
    assert r.returncode == 0 and "generatedAt %s" % generated_of(ex.good) in r.stdout, (r.stdout, r.stderr)
    # the anchor is one certificate: another one of the same root does not verify it
    r = subprocess.run([h.binary(), "globalconf", "verify", "--anchor",
                        os.path.join(ex.pki, "members", "GOV_70000050", "sign.pem"), path],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "not-anchor" in r.stderr, r.stderr
    for gw in h.GATEWAYS:
        st, doc, checks = health(ex, gw)
        assert st == 200 and doc["warnings"] == 0, doc
        assert "signed by the anchor" in checks["globalconf"]["detail"], doc
        assert checks["globalconf_update"]["warning"] is False, doc
    assert "source http://127.0.0.1:%d/" % URL_PORT in health(ex, "state")[2]["globalconf_update"]["detail"]
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    assert not bank_allowed(ex)


def test_2_wrongly_signed_tampered_unsigned_refused(ex):
    new = with_bank_right(ex.good)
    # signed by a member's key of the same PKI: a valid signature, not the anchor
    check_refused(ex, sign(ex, new, "members/GOV_70000050/sign.key", "members/GOV_70000050/sign.pem"),
                  "not-anchor")
    # the operator's signature, then the file changed
    check_refused(ex, with_bank_right(sign(ex, ex.good)), "bad-signature")
    check_refused(ex, unsigned(new), "unsigned")


def test_3_expired_and_older_refused(ex):
    new = with_bank_right(ex.good)
    check_refused(ex, sign(ex, with_times(new, "2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z")), "expired")
    now = time.time()
    check_refused(ex, sign(ex, with_times(new, iso(now - 86400 * 400), iso(now + 86400))), "back in time")
    # generated in the future (a typo of the year): in force, it would make
    # every correctly dated update "older" and refused until then
    future = sign(ex, with_times(new, iso(now + 86400 * 365 * 30), iso(now + 86400 * 365 * 31)))
    check_refused(ex, future, "in the future")
    path = os.path.join(ex.dir, "future.xml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(future)
    r = subprocess.run([h.binary(), "globalconf", "verify", "--anchor",
                        os.path.join(ex.pki, "operator", "operator.pem"), path], capture_output=True, text=True)
    assert r.returncode == 1 and "in the future: gateways refuse it" in r.stderr, (r.stdout, r.stderr)


def test_4_good_update_picked_up_from_url(ex):
    new = sign(ex, with_times(with_bank_right(ex.good), iso(time.time()), iso(time.time() + 86400 * 30)))
    t0 = time.time()
    drop(ex, new)
    wait_until("the new access right works", lambda: bank_allowed(ex))
    assert time.time() - t0 < 5, "picked up after %.1f s (refresh is 1 s)" % (time.time() - t0)
    for gw in h.GATEWAYS:
        wait_until("%s health clears" % gw, lambda gw=gw: health(ex, gw)[1]["warnings"] == 0)
    for gw in URL_GWS:   # the good download is the local copy a restart starts from
        with open(os.path.join(ex.dir, "cache-%s.xml" % gw), encoding="utf-8") as f:
            assert f.read() == new, gw
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    ex.good = new


def test_5_url_down_keeps_serving(ex):
    ex.publisher.stop()
    for gw in URL_GWS:
        wait_until("%s warns about the download" % gw,
                   lambda gw=gw: "download" in health(ex, gw)[2]["globalconf_update"]["detail"])
        st, doc, checks = health(ex, gw)
        assert st == 200 and doc["warnings"] == 1 and checks["globalconf_update"]["warning"], doc
        assert "http://127.0.0.1:%d/globalconf.xml" % URL_PORT in checks["globalconf_update"]["detail"], doc
    assert bank_allowed(ex)
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    # a restart with the URL still down starts from the last good local copy
    ex.restart("state", ex.url_configs["state"])
    assert bank_allowed(ex)
    wait_until("the restarted state reports the URL down",
               lambda: "event=globalconf_fetch ok=0" in ex.log_since("state", ex.log_offset["state"]))
    ex.publisher.start()
    for gw in URL_GWS:
        wait_until("%s warning clears" % gw, lambda gw=gw: health(ex, gw)[1]["warnings"] == 0)
    # no local copy at all: the gateway starts from the URL and keeps a copy
    cache = os.path.join(ex.dir, "cache-bank.xml")
    for k, v in ex.stop(["bank"]).items():
        ex.problems["%s (before restart)" % k] = v
    os.unlink(cache)
    ex.start(["bank"], configs={"bank": ex.url_configs["bank"]})
    with open(cache, encoding="utf-8") as f:
        assert f.read() == ex.good
    assert bank_allowed(ex)


def test_6_no_request_fails_during_swaps(ex):
    """Requests through both URL gateways while SIGHUP forces a download and
    a swap every 50 ms, each time of a newer file."""
    stop = threading.Event()
    base = time.time()
    before = ex.log("state").count("event=globalconf_reload ok=1")
    signed = [sign(ex, with_times(ex.good, iso(base + i), iso(base + 86400 * 30))) for i in range(1, 4)]

    def swapper():
        i = 0
        while not stop.is_set():
            ex.publisher.publish(signed[min(i // 20, len(signed) - 1)])
            for gw in URL_GWS:
                ex.procs[gw].send_signal(signal.SIGHUP)
            i += 1
            time.sleep(0.05)

    t = threading.Thread(target=swapper)
    t.start()
    failures, n = [], 0
    try:
        deadline = time.time() + 60
        # at least 240 requests and 20 swaps (a fast host answered the 240
        # before 20 swaps had happened); bounded by the deadline
        while time.time() < deadline:
            if n >= 240 and n % 20 == 0 and ex.log("state").count("event=globalconf_reload ok=1") - before >= 20:
                break
            gw, client = (("municipality", CLERK), ("bank", BANK_IS))[n % 2]
            st, body = ask(ex, gw, client)
            if st != 200 or b"requestHash" not in body:
                failures.append((gw, st, body[:300]))
            n += 1
    finally:
        stop.set()
        t.join()
    swaps = ex.log("state").count("event=globalconf_reload ok=1") - before
    assert n >= 100, "only %d requests in 60 s" % n
    assert not failures, failures[:3]
    assert swaps >= 20, "only %d swaps on the state gateway" % swaps
    for gw in h.GATEWAYS:
        assert ex.alive(gw), gw
    ex.good = signed[-1]
