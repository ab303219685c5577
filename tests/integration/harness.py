"""Integration test harness: real gateway processes on loopback.

An Exchange lays out the three-gateway exchange with ops/mkexchange.sh (the
same script the demo uses: development PKI, global configuration, local
configurations), starts `ailgate serve` for each gateway, waits until each
answers /health, and stops them at the end. Tests talk to the gateways with
real clients: urllib/http.client here, curl, python3-zeep, openssl.
"""
import base64
import glob
import hashlib
import http.client
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GATEWAYS = ("municipality", "state", "bank")


def binary():
    b = os.environ.get("AILGATE_BIN")
    if b:
        return b
    for flavour in ("asan", "release", "clang"):
        p = os.path.join(ROOT, "build", flavour, "ailgate")
        if os.path.exists(p):
            return p
    raise RuntimeError("no ailgate binary: run ops/build.sh first")


class Exchange:
    def __init__(self, name, client_base, server_base, tls_port=None, workers=1,
                 extra_services=None, extra_members=None, extra_gateways=None,
                 extra_ini=None, env=None, max_body="10M", header_timeout=10000,
                 out_timeout=30000):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="ailgate-%s-" % name)
        self.client_base = client_base
        self.server_base = server_base
        self.tls_port = tls_port or client_base + 363
        self.procs = {}
        self.logs = {}
        args = [os.path.join(ROOT, "ops", "mkexchange.sh"), self.dir,
                "--client-base", str(client_base), "--server-base", str(server_base),
                "--tls-port", str(self.tls_port), "--workers", str(workers),
                "--max-body", str(max_body), "--header-timeout", str(header_timeout),
                "--out-timeout", str(out_timeout)]
        for opt, val in (("--extra-services", extra_services), ("--extra-members", extra_members),
                         ("--extra-gateways", extra_gateways)):
            if val:
                path = os.path.join(self.dir, opt.strip("-") + ".xml")
                with open(path, "w") as f:
                    f.write(val)
                args += [opt, path]
        for gw, text in (extra_ini or {}).items():
            path = os.path.join(self.dir, "extra-%s.ini" % gw)
            with open(path, "w") as f:
                f.write(text)
            args += ["--extra-ini", "%s:%s" % (gw, path)]
        e = dict(os.environ)
        e.update(env or {})
        subprocess.run(args, check=True, env=e, stdout=subprocess.DEVNULL)
        self.pki = os.path.join(self.dir, "pki")
        self.problems = {}   # from gateways stopped by restart(); stop() reports them
        self.log_offset = {}
        self.trust_procs = {}  # the TSA and OCSP responders global configuration approves

    def tsa_port(self):
        return self.server_base + 20

    def ocsp_port(self, ca):
        return self.server_base + (21 if ca == "auth" else 22)

    def start_trust(self):
        """Starts the approved TSA (and OCSP responders, once available) if not running."""
        if "tsa" not in self.trust_procs:
            self.trust_procs["tsa"] = subprocess.Popen(
                ["/usr/bin/python3", os.path.join(ROOT, "tests", "integration", "tsa_server.py"),
                 "--tsa-dir", os.path.join(self.pki, "tsa"), "--port", str(self.tsa_port()),
                 "--down-file", os.path.join(self.dir, "tsa.down")],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "tsa.log"), "ab"),
                preexec_fn=_die_with_parent)
            wait_port(self.tsa_port())
        import ocsp_responder
        for ca in ("auth", "sign"):
            if "ocsp-" + ca not in self.trust_procs:
                self.trust_procs["ocsp-" + ca] = ocsp_responder.start(self.pki, ca=ca,
                                                                      port=self.ocsp_port(ca))

    def tsa_down(self, down=True):
        """Takes the TSA down (answers 503) or brings it back."""
        path = os.path.join(self.dir, "tsa.down")
        if down:
            open(path, "w").close()
        elif os.path.exists(path):
            os.unlink(path)

    def stop_trust(self):
        for name, p in self.trust_procs.items():
            if name.startswith("ocsp-"):
                p.stop()
                continue
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.trust_procs = {}

    def port(self, gw):
        return self.client_base + GATEWAYS.index(gw)

    def server_port(self, gw):
        return self.server_base + GATEWAYS.index(gw)

    def url(self, gw, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port(gw), path)

    def config_path(self, gw):
        return os.path.join(self.dir, "%s.ini" % gw)

    def start(self, gateways=GATEWAYS, wait=True, configs=None, trust=True):
        """Starts gateways; configs maps a gateway to another .ini to use.
        trust=False leaves the TSA and OCSP responders as they are."""
        if trust:
            self.start_trust()
        for gw in gateways:
            logpath = os.path.join(self.dir, "%s.log" % gw)
            self.logs[gw] = logpath
            # A restarted gateway appends to its log: scan only its own run.
            self.log_offset[gw] = os.path.getsize(logpath) if os.path.exists(logpath) else 0
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            cfg = (configs or {}).get(gw) or self.config_path(gw)
            self.procs[gw] = subprocess.Popen(
                [binary(), "serve", "--config", cfg],
                stdout=open(logpath, "ab"), stderr=subprocess.STDOUT, env=env)
        if wait:
            for gw in gateways:
                self.wait_ready(gw)
        return self

    def wait_ready(self, gw, timeout=15.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.procs[gw].poll() is not None:
                raise RuntimeError("gateway %s exited: %s" % (gw, self.log(gw)[-2000:]))
            try:
                with urllib.request.urlopen(self.url(gw, "/health"), timeout=1) as r:
                    if r.status == 200:
                        return
            except Exception:
                pass
            time.sleep(0.05)
        raise RuntimeError("gateway %s not ready in %.0f s: %s" % (gw, timeout, self.log(gw)[-2000:]))

    def log(self, gw):
        try:
            with open(self.logs[gw], encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_since(self, gw, offset):
        """The log of gw from byte offset on."""
        try:
            with open(self.logs[gw], "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def request_lines(self, reqid, wait=2.0):
        """[(gw, line)] of every `event=request reqid=<reqid>` log line in any
        gateway's log; waits up to `wait` s for at least one to appear (a
        gateway writes its line as it answers, but the file may lag)."""
        needle = "event=request reqid=%s " % reqid
        deadline = time.time() + wait
        while True:
            found = [(gw, line) for gw in self.logs for line in self.log(gw).splitlines()
                     if needle in line]
            if found or time.time() >= deadline:
                return found
            time.sleep(0.05)

    def alive(self, gw):
        return self.procs[gw].poll() is None

    def restart(self, gw, config=None):
        """Stops gw (its problems are kept for the final stop()) and starts
        it again, with config (an .ini path) if given."""
        for k, v in self.stop([gw]).items():
            self.problems["%s (before restart)" % k] = v
        return self.start([gw], configs={gw: config} if config else None)

    def cleanup(self):
        """Removes the exchange's directory (PKI, configuration, logs) unless
        AILGATE_KEEP_TMP is set; call after stop()."""
        import shutil
        if self.procs:
            raise RuntimeError("cleanup() with gateways still running: %s" % ", ".join(self.procs))
        if not os.environ.get("AILGATE_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self, gateways=None):
        """Stops gateways; returns {gw: problem} for any that crashed or
        reported a sanitizer error (stop() with no argument also returns
        those found by restart())."""
        problems = {} if gateways else dict(self.problems)
        if not gateways:
            # everything: the trust services go too (a teardown must not leave them behind)
            self.stop_trust_after = True
        for gw in list(gateways or self.procs):
            p = self.procs.pop(gw)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    problems[gw] = "did not stop on SIGTERM"
            if p.returncode not in (0, -signal.SIGTERM) and gw not in problems:
                problems[gw] = "exit code %s" % p.returncode
            report = self.sanitizer_report(gw)
            if report:
                problems[gw] = report
        if getattr(self, "stop_trust_after", False):
            self.stop_trust_after = False
            self.stop_trust()
        return problems

    def sanitizer_report(self, gw):
        """What gw logged since it was started from the first sanitizer
        report on, or None."""
        text = self.log_since(gw, self.log_offset.get(gw, 0))
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            if marker in text:
                i = text.index(marker)
                return text[max(0, i - 200):i + 3000]
        return None

    def kill9(self, gw):
        """kill -9 of gw, which must still be running (one that died on its
        own is a failure, not a crash test); what it logged meanwhile is
        checked for sanitizer reports as stop() does. Start it again with
        start([gw])."""
        p = self.procs[gw]
        if p.poll() is not None:
            raise AssertionError("gateway %s died before the kill -9 (exit %s): %s" % (
                gw, p.returncode, self.log_since(gw, self.log_offset.get(gw, 0))[-2000:]))
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.procs.pop(gw)
        report = self.sanitizer_report(gw)
        if report:
            raise AssertionError("gateway %s reported before the kill -9: %s" % (gw, report))


def request(method, url, body=None, headers=None, timeout=15):
    """One HTTP request; returns (status, headers dict (lowercase), body bytes)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    target = u.path + ("?" + u.query if u.query else "")
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def sha512_b64(data):
    return base64.b64encode(hashlib.sha512(data).digest()).decode()


import urllib.parse  # noqa: E402  (used by request)

SOAP_NS = {
    "soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "xrd": "http://x-road.eu/xsd/xroad.xsd",
    "id": "http://x-road.eu/xsd/identifiers",
    "repr": "http://x-road.eu/xsd/representation.xsd",
}


def soap_request(client, service, body_xml, msg_id=None,
                 user_id="KG21203199000123", protocol="4.0", extra_headers="", ns="http://tunduk.kg/passport"):
    """A SOAP 4.0 request. client = (inst, class, code, sub); service = (inst,
    class, code, sub, serviceCode, version). Without msg_id, a new UUID (the
    gateways refuse a message id seen again from the same client)."""
    if msg_id is None:
        import uuid
        msg_id = str(uuid.uuid4())
    ci, cc, cm, cs = client
    si, sc, sm, ss, code, ver = service
    version = "<id:serviceVersion>%s</id:serviceVersion>" % ver if ver else ""
    proto = "<xrd:protocolVersion>%s</xrd:protocolVersion>" % protocol if protocol is not None else ""
    return ("""<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">
 <SOAP-ENV:Header>
  <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass><id:memberCode>%s</id:memberCode><id:subsystemCode>%s</id:subsystemCode></xrd:client>
  <xrd:service id:objectType="SERVICE"><id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass><id:memberCode>%s</id:memberCode><id:subsystemCode>%s</id:subsystemCode><id:serviceCode>%s</id:serviceCode>%s</xrd:service>
  <xrd:id>%s</xrd:id>
  <xrd:userId>%s</xrd:userId>
  %s%s
 </SOAP-ENV:Header>
 <SOAP-ENV:Body><m:%s xmlns:m="%s">%s</m:%s></SOAP-ENV:Body>
</SOAP-ENV:Envelope>
""" % (ci, cc, cm, cs, si, sc, sm, ss, code, version, msg_id, user_id, proto, extra_headers,
       code, ns, body_xml, code)).encode()


# ---- helpers for the scenarios (faults, hashes, headers, HTTPS) -------------

UUID_RE = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def check_export(out, n_records):
    """What a third party does with a `log export` directory: each record's
    signature.xml through `xmlsec1 --verify`, each batch token through
    `openssl ts -verify`, the export's own check.py, then every command its
    README.txt gives; n_records records expected. Returns the signature files."""
    sigs = sorted(glob.glob(os.path.join(out, "records", "*", "signature.xml")))
    tokens = glob.glob(os.path.join(out, "batches", "*", "token.tsr"))
    assert len(sigs) == n_records and tokens, (sigs, tokens)
    chain = os.path.join(out, "sign-chain.pem")
    for s in sigs:
        v = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", os.path.join(out, "sign-trust.pem")] +
                           (["--untrusted-pem", chain] if os.path.exists(chain) else []) +
                           ["--id-attr:Id", "SignedProperties", s], capture_output=True, text=True)
        assert v.returncode == 0 and "OK" in v.stderr, (s, v.stderr)
    for t in tokens:
        d = os.path.dirname(t)
        v = subprocess.run(["openssl", "ts", "-verify", "-data", os.path.join(d, "root.bin"), "-in", t,
                            "-CAfile", os.path.join(out, "tsa-ca.pem")], capture_output=True, text=True)
        assert v.returncode == 0 and "OK" in v.stdout, (t, v.stdout, v.stderr)
    c = subprocess.run(["/usr/bin/python3", os.path.join(out, "check.py")], capture_output=True, text=True)
    assert c.returncode == 0, c.stdout + c.stderr
    for cmd in readme_commands(out):
        r = subprocess.run(cmd, shell=True, cwd=out, capture_output=True, text=True)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return sigs


README_TOOLS = ("openssl ", "xmlsec1 ", "python3 ", "sha256sum ", "test ", "TZ=UTC xmlsec1 ")


def readme_commands(out):
    """The command lines an export's README.txt gives (those that start with a
    tool), without their trailing comments."""
    with open(os.path.join(out, "README.txt")) as f:
        return [line.strip().split("  #")[0] for line in f if line.strip().startswith(README_TOOLS)]


def soap_fault(body):
    """Parses a SOAP 1.1 Fault: {"code", "string", "actor", "detail"}, or
    None if body is not a Fault. actor is "" for an empty <faultactor/> and
    None when the element is missing."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    f = root.find("{%s}Body/{%s}Fault" % (SOAP_NS["soap"], SOAP_NS["soap"]))
    if f is None:
        return None
    actor = f.find("faultactor")
    detail = f.find("detail/faultDetail")
    return {"code": (f.findtext("faultcode") or "").strip(),
            "string": (f.findtext("faultstring") or "").strip(),
            "actor": None if actor is None else (actor.text or ""),
            "detail": None if detail is None else (detail.text or "").strip()}


def soap_header_leaves(body, skip=("requestHash",)):
    """The Header of a SOAP message as a list of (namespace, localname path,
    text) for every leaf element, in document order; elements whose local
    name is in skip (and their children) are left out. Prefixes do not
    matter; values are compared as text (stripped)."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    hdr = root.find("{%s}Header" % SOAP_NS["soap"])
    out = []

    def split(tag):
        ns, _, local = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        return ns, local

    def walk(el, path):
        ns, local = split(el.tag)
        if local in skip:
            return
        p = path + "/" + local
        kids = list(el)
        if not kids:
            out.append((ns, p, (el.text or "").strip()))
        attrs = tuple(sorted((k, v) for k, v in el.attrib.items()))
        if attrs:
            out.append((ns, p + "@", attrs))
        for k in kids:
            walk(k, p)

    if hdr is not None:
        for el in hdr:
            walk(el, "")
    return out


def soap_header_value(body, local):
    """Text of the first Header child element named local (any namespace)."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    hdr = root.find("{%s}Header" % SOAP_NS["soap"])
    for el in (hdr if hdr is not None else []):
        if el.tag.endswith("}" + local) or el.tag == local:
            return el.text, dict(el.attrib)
    return None, None


REST_HASHED = ("x-road-client", "x-road-id", "x-road-userid", "x-road-issue",
               "x-road-represented-party", "content-type")


def rest_request_hash(method, target, headers, body=b""):
    """X-Road-Request-Hash as gateway/proto/rest.h defines it, computed
    independently: H = METHOD SP target LF, then for each of REST_HASHED
    present (first value) lowercase-name ": " value LF; the hash is
    base64(SHA-512(SHA-512(H))) without a body, else
    base64(SHA-512(SHA-512(H) || SHA-512(body))). headers: [(name, value)]
    as the client gateway forwards them."""
    h = "%s %s\n" % (method, target)
    for name in REST_HASHED:
        for k, v in headers:
            if k.lower() == name:
                h += "%s: %s\n" % (name, v)
                break
    inner = hashlib.sha512(h.encode()).digest()
    if body:
        inner += hashlib.sha512(body).digest()
    return base64.b64encode(hashlib.sha512(inner).digest()).decode()


def https_request(method, url, body=None, headers=None, cert=None, key=None, cafile=None,
                  timeout=15):
    """Like request() over HTTPS, with an optional client certificate;
    the server is verified against cafile (hostname check on 127.0.0.1)."""
    import ssl
    u = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    c = http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout, context=ctx)
    target = u.path + ("?" + u.query if u.query else "")
    c.request(method, target, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def request_raw(method, url, body=None, headers=(), timeout=15, skip_host=False):
    """One HTTP request with a header list (repeats allowed, sent in order);
    returns (status, [(name, value)] as received, body bytes)."""
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    target = u.path + ("?" + u.query if u.query else "")
    c.putrequest(method, target, skip_host=skip_host, skip_accept_encoding=True)
    for k, v in headers:
        c.putheader(k, v)
    if body is not None:
        c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    data = r.read()
    hdrs = r.getheaders()
    c.close()
    return r.status, hdrs, data


def header_values(hdrs, name):
    """All values of name in a header list (case-insensitive)."""
    return [v for k, v in hdrs if k.lower() == name.lower()]


def household_heads(ex, n=5):
    """PINs of n heads of household of the municipality's register, each of one person only
    (the demo registries' seed), in register order."""
    import sqlite3
    db = sqlite3.connect(os.path.join(ex.dir, "data", "municipality", "household.db"))
    try:
        return [r[0] for r in db.execute(
            "SELECT pin FROM persons WHERE pin IS NOT NULL AND relation='head' GROUP BY pin "
            "HAVING count(*) = 1 ORDER BY min(id) LIMIT ?", (n,))]
    finally:
        db.close()


def grant_consent(ex, pin, purpose="integration test", days=30):
    """The person pin consents to the demo bank's queries (issue 5): the bank
    asks (consent-request), the one-time code reaches the person (the demo's
    console channel: the municipality's log), the portal confirms it for the
    person. Returns the consent id."""
    import datetime
    import json
    import re
    import uuid
    inst = "central-server"
    consent = "/r1/%s/GOV/70000050/consent" % inst
    end = (datetime.date.today() + datetime.timedelta(days=days)).isoformat()
    status, _, body = request("POST", ex.url("bank", consent + "/consent-request"),
                              json.dumps({"pin": pin, "purpose": purpose, "end_date": end}).encode(),
                              {"X-Road-Client": inst + "/COM/60000001/bank-is", "X-Road-Id": str(uuid.uuid4()),
                               "Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    cid = str(json.loads(body)["consent_id"])
    code, deadline = None, time.time() + 5
    while code is None and time.time() < deadline:
        m = re.findall(r"OTP for consent %s to person %s: (\d+)" % (re.escape(cid), pin), ex.log("municipality"))
        code = m[-1] if m else None
        if code is None:
            time.sleep(0.05)
    assert code, "no one-time code for consent %s in the municipality's log" % cid
    status, _, body = request("POST", ex.url("state", consent + "/consent-confirm"),
                              json.dumps({"consent_id": cid, "code": code}).encode(),
                              {"X-Road-Client": inst + "/GOV/70000073/portal", "X-Road-Id": str(uuid.uuid4()),
                               "X-Road-UserId": "KG" + pin, "Content-Type": "application/json"})
    assert status == 200, (status, body[:500])
    return cid


def _die_with_parent():
    """Child processes of a test (the TSA) end with the test, even one killed by SIGKILL."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def wait_port(port, timeout=10.0):
    """Waits until something listens on 127.0.0.1:port."""
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d after %.0f s" % (port, timeout))


def stop_and_clean(ex):
    """teardown() helper: stops every gateway, removes the exchange's
    directory (kept with AILGATE_KEEP_TMP=1), returns the problems found."""
    if ex is None:
        return {}
    problems = ex.stop()
    ex.stop_trust()
    ex.cleanup()
    return problems
