"""Scenario: hostile and broken input never takes a gateway down.

Two real gateways (municipality = client side, state = provider side) with
small limits (max_body 64k, header_timeout 1000 ms, body_timeout 1500 ms).
Every refusal must be the gateway's own fault (SOAP Fault, or REST JSON for
/r1/ targets) with the right HTTP status and a detail UUID that the gateway
logged as `event=request reqid=<uuid>`; after every case a valid SOAP
request crossing both gateways must still succeed; at teardown neither
gateway may have crashed or reported a sanitizer error.

Ports: client 26080.., peer 26500.., municipality HTTPS 26443."""
import http.client
import os
import random
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time

import badinput_util as U
from harness import Exchange, request, request_raw, soap_request

CLIENT = ("central-server", "GOV", "70000050", "household-register")
SERVICE = ("central-server", "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
PIN = "21205197500417"
VALID = soap_request(CLIENT, SERVICE, "<pin>%s</pin>" % PIN)


def valid():
    """VALID with a new message id (a repeated id is refused as a replay)."""
    return soap_request(CLIENT, SERVICE, "<pin>%s</pin>" % PIN)
XML_CT = {"Content-Type": "text/xml; charset=utf-8"}
REST_CLIENT = {"X-Road-Client": "central-server/GOV/70000050/household-register"}
# A REST service bound to a URL (a recording listener of this test), so a
# test can tell whether a request was forwarded at all.
ECHO = "/r1/central-server/GOV/70000005/passport-service/echo"
EXTRA_SERVICES = """
  <service client="GOV/70000005/passport-service" code="echo" type="rest"
           url="http://127.0.0.1:@PROVIDER_PORT@/echo" title="badinput test provider">
    <allowGroup>municipalities</allowGroup>
  </service>"""

MAX_BODY = 64 * 1024
HEADER_TIMEOUT = 1.0
MAX_CONNS = 300   # [limits] max_conns of both gateways (default 1024)
BODY_TIMEOUT = 1.5
SOAP_FAMILY = {"Client.InvalidXml", "Client.InvalidSoap"}


class Fixture:
    pass


def setup():
    fx = Fixture()
    fx.trap = U.Recorder()        # XML tricks try to reach it: must stay untouched
    fx.provider = U.Recorder()    # the echo service's provider system
    fx.ex = Exchange("badinput", 26080, 26500, tls_port=26443, max_body="64k",
                     header_timeout=int(HEADER_TIMEOUT * 1000), out_timeout=5000,
                     extra_services=EXTRA_SERVICES,
                     env={"PROVIDER_PORT": str(fx.provider.port)})
    for gw in ("municipality", "state"):
        U.set_ini(os.path.join(fx.ex.dir, gw + ".ini"), "body_timeout_ms",
                  int(BODY_TIMEOUT * 1000))
        U.set_ini(os.path.join(fx.ex.dir, gw + ".ini"), "max_conns", MAX_CONNS)
    try:
        fx.ex.start(gateways=("municipality", "state"))
    except Exception:
        # run.py calls no teardown after a failed setup: stop what started.
        fx.ex.stop()
        fx.trap.close()
        fx.provider.close()
        raise
    fx.port = fx.ex.port("municipality")
    fx.peer_port = fx.ex.server_port("state")
    fx.pki = fx.ex.pki
    return fx


def teardown(fx):
    if fx is None:
        return {}
    problems = fx.ex.stop()
    fx.trap.close()
    fx.provider.close()
    if not problems and not os.environ.get("AILGATE_KEEP"):
        shutil.rmtree(fx.ex.dir, ignore_errors=True)
    return problems


def pid(fx, gw):
    return fx.ex.procs[gw].pid


def serving(fx, limit=2.0):
    """A valid SOAP request crossing both gateways succeeds; returns seconds."""
    for gw in ("municipality", "state"):
        assert fx.ex.alive(gw), "gateway %s died: %s" % (gw, fx.ex.log(gw)[-2000:])
    t0 = time.monotonic()
    status, _, body = request("POST", fx.ex.url("municipality", "/"), valid(), XML_CT, timeout=5)
    dt = time.monotonic() - t0
    assert status == 200, "valid request failed: %s %r" % (status, body[:500])
    assert b"<surname>" in body and PIN.encode() in body, body[:500]
    if dt >= limit:
        # where the time went: the request lines' phase fields (sign, remote, logwait)
        tail = {gw: [l for l in fx.ex.log(gw).splitlines() if "event=request " in l][-3:]
                for gw in ("municipality", "state")}
        raise AssertionError("valid request took %.2f s; last request lines: %s" % (dt, tail))
    return dt


def post(fx, body, gw="municipality"):
    return request("POST", fx.ex.url(gw, "/"), body, XML_CT, timeout=5)


def with_doctype(doctype, pin_text=PIN):
    """The valid request with a DOCTYPE before the envelope and pin_text in <pin>."""
    decl, rest = VALID.split(b"\n", 1)
    rest = rest.replace(("<pin>%s</pin>" % PIN).encode(), ("<pin>%s</pin>" % pin_text).encode())
    return decl + b"\n" + doctype.encode() + b"\n" + rest


def passwd_leaked(answer):
    with open("/etc/passwd", "rb") as f:
        lines = [ln for ln in f.read().splitlines() if len(ln) > 8]
    return any(ln in answer for ln in lines) or b"root:x:0:0" in answer


# ---- malformed XML -----------------------------------------------------------

MALFORMED = [
    ("truncated envelope", VALID[:len(VALID) // 2], "Client.InvalidXml"),
    ("garbage bytes", bytes(random.Random(7).randrange(256) for _ in range(4096)),
     "Client.InvalidXml"),
    ("every byte value", bytes(range(256)) * 4, "Client.InvalidXml"),
    ("non-UTF-8 in text", VALID.replace(PIN.encode(), b"\xe9\xff\xfe2120519"),
     "Client.InvalidXml"),
    ("overlong UTF-8 '/'", VALID.replace(PIN.encode(), b"\xc0\xaf" + PIN.encode()),
     "Client.InvalidXml"),
    ("UTF-16 surrogate in UTF-8", VALID.replace(PIN.encode(), b"\xed\xa0\x80"),
     "Client.InvalidXml"),
    ("NUL inside the envelope", VALID.replace(b"<pin>", b"<pin>\x00"), "Client.InvalidXml"),
    ("empty body", b"", "Client.InvalidSoap"),
    ("whitespace only", b"  \r\n\t ", "Client.InvalidXml"),
    ("text, not XML", b"hello, gateway", "Client.InvalidXml"),
    ("XML, not SOAP", b'<?xml version="1.0"?><a><b/></a>', "Client.InvalidSoap"),
    ("two root elements", VALID + b"<x/>", "Client.InvalidXml"),
    ("unbound prefix", VALID.replace(b"<m:passportDataByPSN", b"<q:passportDataByPSN", 1),
     "Client.InvalidXml"),
]


def test_malformed_xml(fx):
    for name, body, want in MALFORMED:
        status, hdrs, answer = post(fx, body)
        try:
            code, _, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400,
                                      SOAP_FAMILY)
            assert code == want, "faultcode %s, expected %s" % (code, want)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
        serving(fx)


def test_soap_content_type_not_xml(fx):
    """A body posted for SOAP under a Content-Type that is not XML gets
    Client.InvalidContentType naming it (as X-Road's security server), not
    an XML parser's "Start tag expected"; XML types and none at all pass."""
    for ctype, hint in (("application/json", b"/r1/"), ("application/soap+xml; charset=utf-8", b"SOAP 1.2"),
                        ("text/plain", b"text/plain")):
        status, hdrs, answer = request("POST", fx.ex.url("municipality", "/"), b'{"pin": "1"}'
                                       if "json" in ctype else valid(), {"Content-Type": ctype}, timeout=5)
        _, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400,
                                 {"Client.InvalidContentType"})
        assert hint.decode() in msg, (ctype, msg)
    for headers in ({"Content-Type": "text/xml"}, {"Content-Type": "Application/XML; charset=UTF-8"}, {}):
        status, _, answer = request("POST", fx.ex.url("municipality", "/"), valid(), headers, timeout=5)
        assert status == 200 and b"passportDataByPSNResponse" in answer, (headers, status, answer[:300])
    # windows-1251 named only by the HTTP charset: read as UTF-8, it failed as libxml2's "Input is
    # not proper UTF-8"; now what to do. Declared in the XML, or ASCII only, it passes.
    def cp1251(declared):
        x = soap_request(CLIENT, SERVICE, "<pin>%s</pin>" % PIN, extra_headers="<xrd:issue>Заявка 7</xrd:issue>")
        x = x.decode().replace('encoding="UTF-8"', 'encoding="windows-1251"' if declared else "")
        return x.encode("cp1251")
    ct = {"Content-Type": "text/xml; charset=windows-1251"}
    status, hdrs, answer = request("POST", fx.ex.url("municipality", "/"), cp1251(False), ct, timeout=5)
    _, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400, {"Client.InvalidContentType"})
    assert "charset=windows-1251" in msg and "names no encoding" in msg and "UTF-8" in msg, msg
    for body in (cp1251(True), valid()):
        status, _, answer = request("POST", fx.ex.url("municipality", "/"), body, ct, timeout=5)
        assert status == 200 and b"passportDataByPSNResponse" in answer, (status, answer[:300])


# ---- entities: external, expanding ---------------------------------------------

def test_external_entities_refused(fx):
    trap = "http://127.0.0.1:%d" % fx.trap.port
    cases = [
        ("file entity", '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
         "&xxe;"),
        ("http entity", '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "%s/x">]>' % trap,
         "&xxe;"),
        ("external DTD subset", '<!DOCTYPE SOAP-ENV:Envelope SYSTEM "%s/subset.dtd">' % trap, PIN),
        ("PUBLIC DTD", '<!DOCTYPE SOAP-ENV:Envelope PUBLIC "-//X//Y//EN" "%s/pub.dtd">' % trap,
         PIN),
        ("parameter entity", '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY %% p SYSTEM "%s/p.dtd"> %%p;]>'
         % trap, PIN),
        ("file parameter entity", '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY % p SYSTEM '
         '"file:///etc/passwd"> %p;]>', PIN),
    ]
    for name, doctype, pin_text in cases:
        status, hdrs, answer = post(fx, with_doctype(doctype, pin_text))
        try:
            code, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400,
                                        {"Client.InvalidSoap"})
            assert "DTD" in msg, msg
            assert not passwd_leaked(answer), "content of /etc/passwd in the answer"
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
        serving(fx)
    time.sleep(0.3)
    assert fx.trap.count() == 0, "the gateway connected to the trap: %r" % fx.trap.hits


def test_xinclude_not_processed(fx):
    """XInclude needs no DTD: it must simply not be processed (the request
    may be answered, but nothing is fetched and nothing leaks)."""
    for href in ("file:///etc/passwd", "http://127.0.0.1:%d/xi" % fx.trap.port):
        pin = ('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="%s" parse="text"/>'
               % href)
        status, hdrs, answer = post(fx, valid().replace(PIN.encode(), pin.encode()))
        assert not passwd_leaked(answer), (status, answer[:300])
        # the element reached the registry as it was: a <pin> with no text
        # (expanded, it would have held the file or the trap's answer)
        assert status == 200 and b"<code>invalid_input</code><message>PIN is missing</message>" in answer, (
            status, answer[:1500])
        serving(fx)
    time.sleep(0.3)
    assert fx.trap.count() == 0, "XInclude was fetched: %r" % fx.trap.hits


def test_external_entity_from_peer_gateway(fx):
    """The provider side parses what a peer sends with the same rules: a
    request from the municipality's own certificate carrying a DTD."""
    ctx = U.tls_context(os.path.join(fx.pki, "ca", "trust.pem"),
                        os.path.join(fx.pki, "gw", "municipality", "auth-fullchain.pem"),
                        os.path.join(fx.pki, "gw", "municipality", "auth.key"))
    body = with_doctype('<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
                        '<!ENTITY web SYSTEM "http://127.0.0.1:%d/peer">]>' % fx.trap.port,
                        "&xxe;&web;")
    c = http.client.HTTPSConnection("127.0.0.1", fx.peer_port, context=ctx, timeout=5)
    c.request("POST", "/", body=body, headers=XML_CT)
    r = c.getresponse()
    answer = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    U.soap_fault(fx.ex, "state", r.status, hdrs, answer, 500, {"Server.ServerProxy.InvalidSoap"})
    assert not passwd_leaked(answer)
    time.sleep(0.3)
    assert fx.trap.count() == 0, fx.trap.hits
    serving(fx)


LAUGHS = ('<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY lol "lol">'
          + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % (i - 1 if i > 1 else "")) * 10)
                    for i in range(1, 10)) + "]>")
QUADRATIC = '<!DOCTYPE SOAP-ENV:Envelope [<!ENTITY a "%s">]>' % ("a" * 20000)


def test_entity_expansion_refused(fx):
    for name, doctype, pin_text in (("billion laughs", LAUGHS, "&lol9;"),
                                    ("quadratic blowup", QUADRATIC, "&a;" * 4000)):
        body = with_doctype(doctype, pin_text)
        assert len(body) < MAX_BODY, len(body)
        p = pid(fx, "municipality")
        rss0 = U.proc_status_kb(p, "VmRSS")
        t0 = time.monotonic()
        status, hdrs, answer = post(fx, body)
        dt = time.monotonic() - t0
        rss1 = U.proc_status_kb(p, "VmRSS")
        U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400, {"Client.InvalidSoap"})
        assert dt < 1.0, "%s took %.2f s" % (name, dt)
        assert rss1 - rss0 < 8 * 1024, "%s: RSS grew by %d kB" % (name, rss1 - rss0)
        serving(fx)


def test_deep_nesting_refused(fx):
    # 10,000 levels opened; as many closing tags as the 64k cap leaves room
    # for (libxml2 stops at its depth limit of 256 long before either end).
    head, tail = VALID.split(PIN.encode())
    closers = (MAX_BODY - len(VALID) - 30000 - 64) // 4
    body = head + b"<a>" * 10000 + b"</a>" * closers + tail
    assert len(body) <= MAX_BODY
    status, hdrs, answer = post(fx, body)
    code, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400,
                                {"Client.InvalidXml"})
    assert "depth" in msg.lower(), "not refused for its depth: %s" % msg
    serving(fx)


# ---- bodies over the cap ----------------------------------------------------------

def test_content_length_over_cap_answered_before_body(fx):
    """Only the head is sent: the 413 must come without the body (so the
    gateway did not wait for, or buffer, a body past the cap)."""
    for target, kind in (("/", "soap"), (ECHO + "/x", "rest")):
        for expect in ("", "Expect: 100-continue\r\n"):
            s = U.connect(fx.port)
            s.sendall(("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                       "X-Road-Client: central-server/GOV/70000050/household-register\r\n"
                       "Content-Length: %d\r\n%s\r\n" % (target, 50 << 20, expect)).encode())
            status, hdrs, body, dt = U.read_response(s, timeout=3)
            check = U.soap_fault if kind == "soap" else U.rest_fault
            check(fx.ex, "municipality", status, hdrs, body, 413, {"Client.BadRequest"})
            assert dt < 1.0, "413 took %.2f s" % dt
            assert U.wait_closed(s, 3.0) is not None, "connection left open after the 413"
            s.close()
    serving(fx)


def test_body_at_the_cap_crosses_gateways(fx):
    """A request of exactly max_body bytes (padded with whitespace between the
    envelope's elements) passes the client port and still crosses to the
    provider's gateway, whose peer port takes the signature and OCSP
    responses in front of the body on top of the cap."""
    body = valid()
    pad = MAX_BODY - len(body)
    assert pad > 0
    body = body.replace(b"<SOAP-ENV:Body>", b" " * pad + b"<SOAP-ENV:Body>", 1)
    assert len(body) == MAX_BODY, len(body)
    status, _, answer = request("POST", fx.ex.url("municipality", "/"), body, XML_CT, timeout=10)
    assert status == 200 and b"<surname>" in answer, (status, answer[:500])
    status, _, answer = request("POST", fx.ex.url("municipality", "/"), body + b" ", XML_CT, timeout=10)
    assert status == 413, (status, answer[:300])   # one byte more: the client port's cap


def test_chunked_body_over_cap(fx):
    p = pid(fx, "municipality")
    rss0 = U.proc_status_kb(p, "VmRSS")
    peak = [rss0]
    attempt = 50 << 20
    piece = b"<a>" * (65536 // 3)
    chunk = b"%x\r\n%s\r\n" % (len(piece), piece)

    def chunks():
        for i in range(attempt // len(piece) + 1):
            if i % 8 == 0:
                peak[0] = max(peak[0], U.proc_status_kb(p, "VmRSS"))
            yield chunk

    s = U.connect(fx.port, timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    sent = U.send_until_answered(s, chunks(), attempt)
    status, hdrs, body, _ = U.read_response(s, timeout=5)
    s.close()
    peak[0] = max(peak[0], U.proc_status_kb(p, "VmRSS"))
    U.soap_fault(fx.ex, "municipality", status, hdrs, body, 413, {"Client.BadRequest"})
    assert sent < attempt // 4, "the gateway took %d bytes before refusing" % sent
    grew = peak[0] - rss0
    assert grew < 16 * 1024, "RSS grew by %d kB while %d bytes were offered" % (grew, sent)
    serving(fx)


BAD_FRAMING = [
    ("negative Content-Length", b"Content-Length: -1\r\n\r\n", 400),
    ("Content-Length not a number", b"Content-Length: 12abc\r\n\r\n", 400),
    ("two different Content-Lengths", b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     400),
    ("bad chunk size", b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("unsupported Transfer-Encoding", b"Transfer-Encoding: gzip\r\n\r\n", 501),
    ("HTTP/2.0 request line", None, 505),
    ("header without colon", b"This is not a header\r\n\r\n", 400),
]


def test_bad_http_framing(fx):
    for name, rest, want in BAD_FRAMING:
        if rest is None:
            data = b"POST / HTTP/2.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"
        else:
            data = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n" + rest
        try:
            status, hdrs, body = U.raw_request(fx.port, data, timeout=3)
            U.soap_fault(fx.ex, "municipality", status, hdrs, body, want, {"Client.BadRequest"})
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
    serving(fx)


# ---- slow and idle clients --------------------------------------------------------

def stall(port, data, result, trickle=None):
    """Sends data at once (or `trickle` one byte per 100 ms) and waits for
    the answer. result gets status, hdrs, body, took (seconds from connect to
    the answer) and closed (seconds until the gateway closed after it, or
    None)."""
    try:
        s = U.connect(port, timeout=10)
        t0 = time.monotonic()
        if trickle:
            for b in trickle:
                r, _, _ = select.select([s], [], [], 0.1)
                if r:
                    break
                s.sendall(bytes([b]))
        else:
            s.sendall(data)
        status, hdrs, body, _ = U.read_response(s, timeout=6)
        result.update(status=status, hdrs=hdrs, body=body, took=time.monotonic() - t0,
                      closed=U.wait_closed(s, 3.0))
        s.close()
    except Exception as e:   # reported by the main thread
        result["error"] = repr(e)


def test_stalled_requests(fx):
    half_body = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(VALID)) + VALID[:len(VALID) // 2]
    cases = [
        ("half head", b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty", None,
         HEADER_TIMEOUT, "soap"),
        ("half head, REST", ("GET %s/x HTTP/1.1\r\nX-Road-Cli" % ECHO).encode(), None,
         HEADER_TIMEOUT, "rest"),
        ("full head, half body", half_body, None, BODY_TIMEOUT, "soap"),
        ("head trickled at 10 bytes/s", None, b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         + b"X-Padding: " + b"x" * 200 + b"\r\n\r\n", HEADER_TIMEOUT, "soap"),
    ]
    results = [dict() for _ in cases]
    threads = [threading.Thread(target=stall, args=(fx.port, c[1], r, c[2]), daemon=True)
               for c, r in zip(cases, results)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    # While four clients stall, others are served at once.
    during = [serving(fx, limit=0.5) for _ in range(3)]
    for t in threads:
        t.join(timeout=10)
    for (name, _, _, timeout, kind), r in zip(cases, results):
        try:
            assert "error" not in r, r.get("error")
            check = U.soap_fault if kind == "soap" else U.rest_fault
            check(fx.ex, "municipality", r["status"], r["hdrs"], r["body"], 408,
                  {"Client.BadRequest"})
            assert timeout * 0.8 <= r["took"] <= timeout + 1.5, \
                "408 after %.2f s, timeout %.1f s" % (r["took"], timeout)
            assert r["closed"] is not None, "connection not closed after the 408"
        except AssertionError as e:
            raise AssertionError("%s: %s (valid requests meanwhile: %s)" % (name, e, during))
    serving(fx)


def test_many_idle_connections(fx):
    p = pid(fx, "municipality")
    fds0 = U.fd_count(p)
    idle = [U.connect(fx.port) for _ in range(200)]
    peers = [U.connect(fx.peer_port) for _ in range(50)]
    # keep-alive connections that made one request and now sit idle
    kept = []
    for _ in range(20):
        s = U.connect(fx.port)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert U.read_response(s, 3)[0] == 200
        kept.append(s)
    time.sleep(0.2)
    assert U.fd_count(p) >= fds0 + 200, "the idle connections were not accepted"
    # Idle connections must not slow the service down: the best of three
    # valid requests within 0.5 s (each within 2 s). One slow request alone
    # is the host's doing (once 0.74 s under ASan in CI, 230 ms of it on the
    # state gateway, which holds none of these connections).
    best = min(serving(fx) for _ in range(3))
    assert best < 0.5, "with 250 idle connections the fastest of 3 valid requests took %.2f s" % best
    # Silent connections are dropped after header_timeout, without an answer.
    closed = sum(U.wait_closed(s, HEADER_TIMEOUT + 2.0) is not None for s in idle + peers)
    assert closed == len(idle) + len(peers), "%d of %d silent connections still open" % (
        len(idle) + len(peers) - closed, len(idle) + len(peers))
    for s in idle + peers + kept:
        s.close()
    time.sleep(0.3)
    assert U.fd_count(p) <= fds0 + 5, "fds %d, before %d" % (U.fd_count(p), fds0)
    serving(fx)


def log_since(fx, gw, offset, needle, wait=2.5):
    """Lines of gw's log after offset holding needle, waiting up to wait s."""
    deadline = time.monotonic() + wait
    while True:
        lines = [l for l in fx.ex.log(gw)[offset:].splitlines() if needle in l]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.1)


def hold(port, n, send=b"", answered=False):
    """n connections to port, each sent `send` (and its answer read, a 200,
    if answered); the caller closes them."""
    socks = []
    try:
        for _ in range(n):
            socks.append(U.connect(port))
            if send:
                socks[-1].sendall(send)
            if answered:
                assert U.read_response(socks[-1], 3)[0] == 200
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def test_full_client_port_makes_room(fx):
    """MAX_CONNS keep-alive connections that made one request each and sit
    idle, then MAX_CONNS that send nothing: a new client is still served -
    the longest-silent connection is closed to make room, as nginx does with
    kept-alive ones (before, everyone else got "503 too many connections"
    until the idle timeout) - and the log says so once a second."""
    off = len(fx.ex.log("municipality"))
    held = hold(fx.port, MAX_CONNS, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", answered=True)
    try:
        serving(fx)
        held += hold(fx.port, MAX_CONNS)
        time.sleep(0.2)
        serving(fx)
        lines = log_since(fx, "municipality", off, "event=connections_full listener=client ")
        assert lines and "reused=" in lines[0] and "refused=0" in lines[0], lines
    finally:
        for s in held:
            s.close()


def accept_queue(port):
    """Connections the kernel has completed on port that the gateway has not
    accepted yet (a listening socket's Recv-Q)."""
    out = subprocess.run(["ss", "-Hltn", "sport = :%d" % port], capture_output=True,
                         text=True, check=True).stdout
    return sum(int(l.split()[1]) for l in out.splitlines() if l.strip())


def test_full_client_port_every_connection_busy(fx):
    """MAX_CONNS connections each in the middle of a request (a head never
    finished): nothing can be closed for a newcomer, who gets 503 at once,
    and the log counts the refusal; service resumes when the heads time out.
    The scene holds only while the heads are younger than HEADER_TIMEOUT:
    the newcomer comes once the gateway has accepted them all, and the
    scene is set again (three times at most) when that took too long."""
    off = len(fx.ex.log("municipality"))
    for _ in range(3):
        t0 = time.monotonic()
        held = hold(fx.port, MAX_CONNS, b"POST / HTTP/1.1\r\nHost: x\r\n")
        try:
            while accept_queue(fx.port) and time.monotonic() - t0 < HEADER_TIMEOUT / 2:
                time.sleep(0.01)
            if time.monotonic() - t0 >= HEADER_TIMEOUT / 2:
                continue
            s = U.connect(fx.port)
            status, _, body, _ = U.read_response(s, 3)
            s.close()
            assert status == 503 and b"too many connections" in body, (status, body)
            break
        finally:
            for s in held:
                s.close()
            time.sleep(HEADER_TIMEOUT + 0.3)   # every held head is gone
    else:
        raise AssertionError("%d heads not held within %.1f s, three times: the machine is "
                             "too slow for this test" % (MAX_CONNS, HEADER_TIMEOUT / 2))
    lines = log_since(fx, "municipality", off, "event=connections_full listener=client ")
    assert any("refused=" in l and "refused=0" not in l for l in lines), lines
    serving(fx)


def test_full_peer_port_makes_room(fx):
    """MAX_CONNS plain TCP connections to the state gateway's peer port from
    anyone (no TLS handshake, no certificate): a municipality gateway that
    has to open a new connection still gets through - one that cannot
    finish a handshake is closed for it. Before, every exchange failed with
    SslAuthenticationFailed while the connections stayed open."""
    off = len(fx.ex.log("state"))
    held = hold(fx.peer_port, MAX_CONNS)
    try:
        time.sleep(0.2)
        fx.ex.restart("municipality")   # its pooled connection gone: a new one is needed
        fx.port = fx.ex.port("municipality")
        serving(fx)
        lines = log_since(fx, "state", off, "event=connections_full listener=server ")
        assert lines and "refused=0" in lines[0], lines
    finally:
        for s in held:
            s.close()


def test_second_serve_of_one_gateway_refused(fx):
    """A second `serve` of a running gateway's configuration stops at once,
    naming the first's pid (before: it started, shared both ports with the
    first by SO_REUSEPORT and wrote the same message log); the first goes on
    serving, and `serve --check` of that configuration is still allowed."""
    from harness import binary
    cfg = fx.ex.config_path("municipality")
    r = subprocess.run([binary(), "serve", "--config", cfg], capture_output=True, text=True, timeout=20)
    pid = fx.ex.procs["municipality"].pid
    assert r.returncode == 1 and "another 'ailgate serve' (pid %d)" % pid in r.stderr, (r.returncode, r.stderr)
    serving(fx)
    r = subprocess.run([binary(), "serve", "--check", "--config", cfg], capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    # the same ports with another data_dir (a copied configuration): it started,
    # and the kernel split the traffic between two message logs; now refused
    other = os.path.join(fx.ex.dir, "other-data")
    os.makedirs(other, exist_ok=True)
    text = re.sub(r"(?m)^data_dir = .*$", "data_dir = " + other, open(cfg).read())
    copy = os.path.join(os.path.dirname(cfg), "same-ports.ini")
    with open(copy, "w") as f:
        f.write(text)
    try:
        r = subprocess.run([binary(), "serve", "--config", copy], capture_output=True, text=True, timeout=20)
        assert r.returncode == 1 and ":%d: Address already in use" % fx.port in r.stderr, (r.returncode,
                                                                                           r.stderr[-600:])
    finally:
        os.unlink(copy)
    serving(fx)


def test_metadata_only_names_a_known_subsystem(fx):
    """`[msglog] metadata_only` with a misspelt subsystem passed `serve --check`
    and the start, and that subsystem's exchanges were logged with their bodies
    (what metadata-only exists to prevent); a subsystem global configuration
    does not know is refused, naming it."""
    from harness import binary
    cfg = fx.ex.config_path("municipality")
    copy = os.path.join(os.path.dirname(cfg), "metadata-typo.ini")
    with open(copy, "w") as f:
        f.write(open(cfg).read() + "[msglog]\nmetadata_only = central-server/COM/60000001/bank-iss\n"
                if "[msglog]" not in open(cfg).read() else
                re.sub(r"(?m)^\[msglog\]$", "[msglog]\nmetadata_only = central-server/COM/60000001/bank-iss",
                       open(cfg).read()))
    try:
        r = subprocess.run([binary(), "serve", "--check", "--config", copy], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode != 0 and "metadata_only central-server/COM/60000001/bank-iss: global configuration " \
            "has no such subsystem" in r.stderr, (r.returncode, r.stderr[-600:])
        good = open(copy).read().replace("bank-iss", "bank-is")
        with open(copy, "w") as f:
            f.write(good)
        r = subprocess.run([binary(), "serve", "--check", "--config", copy], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 0, r.stderr[-600:]
    finally:
        os.unlink(copy)


def test_check_beside_running_gateway(fx):
    """`serve --check` is what an operator runs before restarting a live
    gateway. Before, it listened on the running gateway's ports for a moment
    (SO_REUSEPORT: the kernel gave it some of the new connections, which were
    reset when it exited - 14 of 1,500 new connections failed during 40
    checks), opened the live message log as a second writer (its stamper and
    last stamp on close), and wrote msglog.db.replay, approved-tsa.pem and the
    OCSP files into data_dir. Now: no connection fails, nothing is written,
    and it says the gateway runs; with the gateway stopped and another
    program on one of its ports, the check fails naming the port."""
    from harness import binary
    cfg = fx.ex.config_path("municipality")
    data = os.path.join(fx.ex.dir, "data", "municipality")
    replay = os.path.join(data, "msglog.db.replay")
    if os.path.exists(replay):
        os.unlink(replay)
    def kept():   # what the gateway writes into data_dir beside its databases
        ocsp = os.path.join(data, "ocsp")
        files = [os.path.join(data, "approved-tsa.pem")] + (
            [os.path.join(ocsp, n) for n in os.listdir(ocsp)] if os.path.isdir(ocsp) else [])
        return {p: os.stat(p).st_mtime_ns for p in files}

    before = kept()
    stop = threading.Event()
    results = []

    def checks():
        for _ in range(15):
            r = subprocess.run([binary(), "serve", "--check", "--config", cfg], capture_output=True,
                               text=True, timeout=30)
            results.append(r)
        stop.set()

    t = threading.Thread(target=checks)
    t.start()
    tries = failed = 0
    while not stop.is_set() and tries < 5000:
        tries += 1
        try:
            c = http.client.HTTPConnection("127.0.0.1", fx.port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status != 200:
                failed += 1
            c.close()
        except OSError:
            failed += 1
    t.join()
    pid = fx.ex.procs["municipality"].pid
    assert all(r.returncode == 0 for r in results), [r.stderr[-400:] for r in results if r.returncode]
    assert "it runs now (pid %d)" % pid in results[0].stdout, results[0].stdout
    assert failed == 0, "%d of %d new connections failed while serve --check ran" % (failed, tries)
    assert not os.path.exists(replay), "serve --check wrote the replay snapshot of a running gateway"
    assert kept() == before, "serve --check wrote files into data_dir"
    serving(fx)
    # Stopped, with another program listening on its peer port: refused, naming it.
    for k, v in fx.ex.stop(["municipality"]).items():
        fx.ex.problems["%s (before serve --check)" % k] = v
    os.rename(replay, replay + ".kept")   # the stop wrote it; the check must not
    try:
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", fx.ex.server_port("municipality")))
        squatter.listen()
        r = subprocess.run([binary(), "serve", "--check", "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 1 and ":%d: Address already in use" % fx.ex.server_port("municipality") in r.stderr, \
            (r.returncode, r.stderr[-600:])
        squatter.close()
        r = subprocess.run([binary(), "serve", "--check", "--config", cfg], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0 and "would start (its ports are free)" in r.stdout, (r.returncode, r.stdout,
                                                                                     r.stderr[-600:])
        assert not os.path.exists(replay)
    finally:
        if os.path.exists(replay + ".kept"):
            os.rename(replay + ".kept", replay)
        fx.ex.start(["municipality"])
        fx.port = fx.ex.port("municipality")
    serving(fx)


def test_adapter_config_mistakes_found_by_check(fx):
    """A mistake in an adapter's section is found by `config check` and by
    `serve --check` (and stops a start, which runs the same check): before,
    `config check` said OK to `valid_days = abc` and to another member's
    signing key; the gateway started without its certificates service and
    the verification page told a court that it issues no certificates."""
    from harness import binary
    cfg = fx.ex.config_path("municipality")
    text = open(cfg).read()
    assert "[adapter.certificates]" in text and "GOV_70000050/sign.key" in text
    cases = [
        (text.replace("[adapter.certificates]\n", "[adapter.certificates]\nvalid_days = abc\n"),
         "[adapter.certificates] valid_days must be a number from 1 to 3660; got 'abc'"),
        (text.replace("[adapter.certificates]\n", "[adapter.certificates]\nvalid_days = 0\n"),
         "valid_days must be a number from 1 to 3660; got '0'"),
        (re.sub(r"(?m)^(sign_(key|cert) = .*)GOV_70000050/", r"\1GOV_70000005/", text),
         "sign_cert belongs to member GOV/70000005, but the certificates are issued by GOV/70000050"),
        (text + "\n[adapter.certificatez]\nvalid_days = 30\n",
         "[adapter.certificatez]: no adapter of that name is built in (there are: "),
        # a misspelt key fell back to the default without a word
        (text.replace("[adapter.certificates]\n", "[adapter.certificates]\nvalid_dayz = 3\n"),
         "[adapter.certificates] valid_dayz: not a key the adapter reads with this configuration"),
    ]
    bad = os.path.join(os.path.dirname(cfg), "adapter-mistake.ini")
    try:
        for body, want in cases:
            with open(bad, "w") as f:
                f.write(body)
            for cmd in (["config", "check", bad], ["serve", "--check", "--config", bad]):
                r = subprocess.run([binary()] + cmd, capture_output=True, text=True, timeout=30)
                assert r.returncode == 1 and want in r.stderr, (cmd, r.returncode, r.stdout, r.stderr[-600:])
        r = subprocess.run([binary(), "config", "check", cfg], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and ": OK" in r.stdout, (r.stdout, r.stderr[-600:])
    finally:
        if os.path.exists(bad):
            os.unlink(bad)
    serving(fx)


# ---- the peer (mutual TLS) port -------------------------------------------------

def selfsigned(fx):
    d = os.path.join(fx.ex.dir, "intruder")
    os.makedirs(d, exist_ok=True)
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=intruder", "-days", "1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def test_peer_port_garbage(fx):
    cases = [
        ("plain HTTP", b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"),
        ("random bytes", bytes(random.Random(11).randrange(256) for _ in range(4096))),
        ("TLS record header claiming 16 kB", b"\x16\x03\x01\x40\x00" + b"\x01" * 100),
    ]
    for name, data in cases:
        s = U.connect(fx.peer_port)
        s.sendall(data)
        got = b""
        s.settimeout(HEADER_TIMEOUT + 2.5)
        try:
            while True:
                c = s.recv(4096)
                if not c:
                    break
                got += c
        except socket.timeout:
            raise AssertionError("%s: peer port kept the connection open" % name)
        except OSError:
            pass
        s.close()
        assert not got.startswith(b"HTTP/"), "%s: answered in plain HTTP: %r" % (name, got[:100])
        serving(fx)


def test_peer_port_tls_without_gateway_cert(fx):
    trust = os.path.join(fx.pki, "ca", "trust.pem")
    req = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n" \
          b"Content-Length: %d\r\n\r\n" % len(VALID) + VALID
    cert, key = selfsigned(fx)
    for name, ctx in (
            ("no client certificate (TLS 1.3)", U.tls_context(trust)),
            ("no client certificate (TLS 1.2)",
             U.tls_context(trust, max_version=ssl.TLSVersion.TLSv1_2)),
            ("self-signed client certificate", U.tls_context(trust, cert, key)),
            ("self-signed client certificate (TLS 1.2)",
             U.tls_context(trust, cert, key, max_version=ssl.TLSVersion.TLSv1_2))):
        what, detail = U.tls_try_request(fx.peer_port, ctx, req)
        assert what in ("handshake", "refused"), "%s: got an answer: %r" % (name, detail[:300])
        if "TLS 1.2" in name:
            assert what == "handshake", "%s: handshake completed (%s)" % (name, detail)
        serving(fx)


def test_peer_port_cert_of_no_gateway(fx):
    """A certificate from the right CA that is not a gateway's: TLS may
    succeed, the request must not (SslAuthenticationFailed)."""
    isdir = os.path.join(fx.pki, "is", "COM_60000001_bank-is")
    ctx = U.tls_context(os.path.join(fx.pki, "ca", "trust.pem"),
                        os.path.join(isdir, "client-fullchain.pem"),
                        os.path.join(isdir, "client.key"))
    c = http.client.HTTPSConnection("127.0.0.1", fx.peer_port, context=ctx, timeout=5)
    try:
        c.request("POST", "/", body=valid(), headers=XML_CT)
        r = c.getresponse()
    except (ssl.SSLError, ConnectionError):
        c.close()     # refused at the TLS layer: also acceptable
        serving(fx)
        return
    answer = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    U.soap_fault(fx.ex, "state", r.status, hdrs, answer, 500,
                 {"Server.ServerProxy.SslAuthenticationFailed"})
    assert b"<surname>" not in answer
    # The peer is authenticated before its bytes are parsed: garbage from a
    # non-gateway certificate is an authentication failure, not an XML error.
    c = http.client.HTTPSConnection("127.0.0.1", fx.peer_port, context=ctx, timeout=5)
    c.request("POST", "/", body=b"<not-xml", headers=XML_CT)
    r = c.getresponse()
    answer = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    U.soap_fault(fx.ex, "state", r.status, hdrs, answer, 500,
                 {"Server.ServerProxy.SslAuthenticationFailed"})
    serving(fx)


# ---- REST -------------------------------------------------------------------

def rest_get(fx, target, headers=None):
    h = dict(REST_CLIENT)
    h.update(headers or {})
    return request("GET", fx.ex.url("municipality", target), None, h, timeout=5)


def test_rest_echo_reachable(fx):
    """Control for the REST cases: the echo provider is reached normally, so
    'provider not contacted' below means something."""
    n = fx.provider.count()
    status, _, body = rest_get(fx, ECHO + "/hello?x=1")
    assert status == 200 and b'"ok"' in body, (status, body[:300])
    assert fx.provider.count() == n + 1


def curl_get(fx, target, headers=None, method="GET"):
    """A request through the municipality with curl (Python's http.client
    stops at 100 answer headers): (status, [(name, value)] in order, body)."""
    cmd = ["curl", "-sS", "--max-time", "5", fx.ex.url("municipality", target)]
    cmd += ["-I"] if method == "HEAD" else ["-D", "-", "-X", method]
    for k, v in dict(REST_CLIENT, **(headers or {})).items():
        cmd += ["-H", "%s: %s" % (k, v)]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = [tuple(p.strip() for p in l.split(":", 1)) for l in lines[1:]]
    return int(lines[0].split()[1]), hdrs, body


def test_rest_provider_answer_many_headers(fx):
    """A REST provider's answer with many headers reaches the client whole
    and in order (before, from 47 on: 500 "out of memory" from the provider's
    gateway, the answer lost); over what the gateway takes (200), a fault
    that says so."""
    for n in (47, 60, 150, 190):
        fx.provider.headers = b"".join(b"X-Extra-%d: v%d\r\n" % (i, i) for i in range(n))
        try:
            status, hdrs, body = curl_get(fx, ECHO + "/many")
        finally:
            fx.provider.headers = b""
        assert status == 200 and body == b'{"ok":true}', (n, status, body[:300])
        got = [(k, v) for k, v in hdrs if k.startswith("X-Extra-")]
        assert got == [("X-Extra-%d" % i, "v%d" % i) for i in range(n)], (n, got[:3], len(got))
    fx.provider.headers = b"".join(b"X-Extra-%d: v%d\r\n" % (i, i) for i in range(230))
    try:
        status, hdrs, body = curl_get(fx, ECHO + "/many")
    finally:
        fx.provider.headers = b""
    assert status == 500 and b"ServiceFailed.IOError" in body and \
        b"response headers exceed the limit of 200 fields" in body, (status, body[:300])
    serving(fx)


def test_rest_provider_answer_without_body(fx):
    """A REST provider's 204 (a DELETE's usual answer) or 304 reaches the
    client as such, with its headers, signed and verified on the way (before:
    500 MalformedSignature - the status allows no body, so the signature that
    travels in front of it between the gateways was dropped). A status HTTP
    does not have is a ServiceFailed that says so (before: the provider's
    gateway sent 500 for it, and the client's gateway refused the signature,
    made over the status given, as InvalidSignatureValue)."""
    cases = [("DELETE", b"204 No Content", b"X-Deleted: 1\r\n", 204, ("X-Deleted", "1")),
             ("GET", b"304 Not Modified", b"ETag: \"v7\"\r\n", 304, ("ETag", '"v7"')),
             ("HEAD", b"204 No Content", b"X-Deleted: 2\r\n", 204, ("X-Deleted", "2"))]
    for method, st, extra, want, hdr in cases:
        fx.provider.status, fx.provider.headers = st, extra
        try:
            status, hdrs, body = curl_get(fx, ECHO + "/x", method=method)
        finally:
            fx.provider.status, fx.provider.headers = b"200 OK", b""
        assert status == want and hdr in hdrs, (method, st, status, hdrs, body[:300])
        assert not any(k.lower().startswith("x-ailgate-") for k, *_ in hdrs), hdrs
        assert "X-Road-Error" not in dict(hdrs) and body == b"", (hdrs, body)
    fx.provider.status = b"600 Beyond"
    try:
        status, hdrs, body = curl_get(fx, ECHO + "/x")
    finally:
        fx.provider.status = b"200 OK"
    assert status == 500 and b"ServiceFailed.IOError" in body and b"HTTP status 600" in body, \
        (status, body[:300])
    serving(fx)


def test_rest_methods_reach_the_provider(fx):
    """Each method reaches the provider with its body and Content-Type (a
    PUT or PATCH with an empty body with Content-Length: 0, as POST always
    had: before, none, and a server that wants one answers 411)."""
    cases = [("DELETE", b'{"why":"dup"}', "application/json"),
             ("PATCH", b'{"a":1}', "application/merge-patch+json"),
             ("PUT", b"", "application/octet-stream"),
             ("PATCH", b"", "application/json"),
             ("POST", b"", "text/plain")]
    for method, body, ctype in cases:
        n = fx.provider.count()
        status, _, answer = request_raw(method, fx.ex.url("municipality", ECHO + "/m"), body,
                                           list(REST_CLIENT.items()) + [("Content-Type", ctype)],
                                           timeout=5)
        assert status == 200 and answer == b'{"ok":true}', (method, status, answer[:300])
        assert fx.provider.count() == n + 1, method
        head, _, got = fx.provider.hits[n].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == method.encode() + b" /echo/m HTTP/1.1", lines[0]
        assert b"Content-Type: " + ctype.encode() in lines and got == body, (method, head, got)
        assert b"Content-Length: %d" % len(body) in lines, (method, head)


REST_BAD = [
    ("bad percent escape", "/r1/central-server/GOV/700%zz05/passport-service/echo/x",
     "Client.BadRequest"),
    ("truncated escape", "/r1/central-server/GOV/70000005/passport-service/echo%2",
     "Client.BadRequest"),
    ("encoded NUL", "/r1/central-server/GOV/70000005%00/passport-service/echo/x",
     "Client.BadRequest"),
    ("'@' in member code", "/r1/central-server/GOV/700@05/passport-service/echo/x",
     "Client.InvalidServiceIdentifier"),
    ("encoded '/' in a part", "/r1/central-server/GOV%2F70000005/passport-service/echo/x",
     "Client.InvalidServiceIdentifier"),
    ("encoded space", "/r1/central-server/GOV/70000005/passport%20service/echo/x",
     "Client.InvalidServiceIdentifier"),
    ("non-ASCII part", "/r1/central-server/GOV/%D0%90%D0%91/passport-service/echo/x",
     "Client.InvalidServiceIdentifier"),
]


def test_rest_bad_targets(fx):
    n = fx.provider.count()
    for name, target, want in REST_BAD:
        status, hdrs, body = rest_get(fx, target)
        try:
            U.rest_fault(fx.ex, "municipality", status, hdrs, body, 400, {want})
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
    status, hdrs, body = rest_get(fx, ECHO + "/x",
                                  {"X-Road-Client": "central-server/GOV/700@50/household-register"})
    U.rest_fault(fx.ex, "municipality", status, hdrs, body, 400, {"Client.InvalidClientIdentifier"})
    # A control byte in the request target (http.client would refuse to send it).
    status, hdrs, body = U.raw_request(fx.port, b"GET /r1/central-server/\x01/x HTTP/1.1\r\n"
                                       b"Host: 127.0.0.1\r\n\r\n", timeout=3)
    assert status == 400, (status, body[:300])
    assert fx.provider.count() == n, "a refused request reached the provider: %r" % (
        fx.provider.hits[n:],)
    serving(fx)


def test_message_id_not_one_line_of_text(fx):
    """A message id with a tab, a line break or bytes that are not UTF-8 is
    the client's mistake, told as such before anything is signed or sent
    (it was Server.ClientProxy.CannotCreateSignature, a 500, for a service
    of another gateway, and accepted for a local one)."""
    n = fx.provider.count()
    for name, mid in (("tab", "a&#9;b"), ("line feed", "a&#10;b"), ("carriage return", "a&#13;b")):
        body = re.sub(rb"<xrd:id>[^<]*</xrd:id>", ("<xrd:id>%s</xrd:id>" % mid).encode(), valid(), 1)
        status, hdrs, answer = post(fx, body)
        try:
            _, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400, {"Client.InvalidSoap"})
            assert "xrd:id" in msg, msg
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
    for name, mid in (("tab", b"a\tb"), ("not UTF-8", b"a\xff\xfe")):   # DEL: the HTTP parser refuses it
        status, hdrs, answer = rest_get(fx, ECHO + "/x", {"X-Road-Id": mid})
        try:
            _, msg, _ = U.rest_fault(fx.ex, "municipality", status, hdrs, answer, 400, {"Client.BadRequest"})
            assert "X-Road-Id" in msg, msg
        except AssertionError as e:
            raise AssertionError("REST %s: %s" % (name, e))
    assert fx.provider.count() == n, "forwarded to the provider"
    serving(fx)


def test_second_request_in_one_body(fx):
    """Two elements in the SOAP Body for an in-process registry: refused,
    naming both - the second was dropped without a word."""
    body = valid().replace(b"</m:passportDataByPSN>",
                           b"</m:passportDataByPSN><m:passportDataByPSN xmlns:m=\"http://tunduk.kg/passport\">"
                           b"<pin>11111111111111</pin>"
                           b"</m:passportDataByPSN>", 1)
    assert body.count(b"<m:passportDataByPSN") == 2
    status, hdrs, answer = post(fx, body)
    # refused by the state gateway, which holds the registry: its request id
    _, msg, _ = U.soap_fault(fx.ex, "state", status, hdrs, answer, 400, {"Client.InvalidSoap"})
    assert "exactly one" in msg and "passportDataByPSN" in msg, msg
    serving(fx)


def test_text_in_envelope_and_nul_bytes(fx):
    """Text directly in Envelope, Header or Body, and NUL bytes after the
    document, were accepted, signed, logged and sent on (libxml2 stops at a
    NUL; SOAP 1.1 parts hold elements only): refused by the municipality with
    what is wrong, before anything is sent."""
    cases = [(lambda b: b.replace(b"<SOAP-ENV:Body>", b"garbage<SOAP-ENV:Body>", 1), "Client.InvalidSoap",
              'text directly in Envelope'),
             (lambda b: b.replace(b"<SOAP-ENV:Body>", b"<SOAP-ENV:Body>x", 1), "Client.InvalidSoap",
              'text directly in Body'),
             (lambda b: b.replace(b"</SOAP-ENV:Header>", b"hdr</SOAP-ENV:Header>", 1), "Client.InvalidSoap",
              'text directly in Header'),
             (lambda b: b + b"\0\0", "Client.InvalidXml", "a NUL byte at offset"),
             (lambda b: b.replace(b"</pin>", b"\0</pin>", 1), "Client.InvalidXml", "a NUL byte at offset")]
    for change, code, words in cases:
        body = change(valid())
        status, hdrs, answer = post(fx, body)
        _, msg, _ = U.soap_fault(fx.ex, "municipality", status, hdrs, answer, 400, {code})
        assert words in msg, (words, msg)
    # white space between the parts is fine
    status, _, answer = post(fx, valid().replace(b"<SOAP-ENV:Body>", b"\n  \t<SOAP-ENV:Body>\r\n", 1))
    assert status == 200 and b"passportDataByPSNResponse" in answer, (status, answer[:300])
    serving(fx)


def test_rest_huge_url(fx):
    n = fx.provider.count()
    target = ECHO + "/" + "a" * 20000
    status, hdrs, body = rest_get(fx, target)
    forwarded = fx.provider.hits[n:]
    assert not forwarded, ("a 20 KB URL was forwarded to the provider as a %d-byte request "
                           "line (truncated?): gateway answered %s %r" % (
                               len(forwarded[0].split(b"\r\n", 1)[0]), status, body[:200]))
    typ, msg, line = U.rest_fault(fx.ex, "municipality", status, hdrs, body, (400, 414, 431),
                                  {"Client.BadRequest"})
    assert "long" in msg or "large" in msg, "not refused for its length: %s" % msg
    serving(fx)


def test_rest_too_many_or_too_big_headers(fx):
    many = {"X-Filler-%03d" % i: "v" for i in range(200)}
    status, hdrs, body = rest_get(fx, ECHO + "/x", many)
    U.rest_fault(fx.ex, "municipality", status, hdrs, body, (400, 431), {"Client.BadRequest"})
    big = {"X-Filler": "v" * (70 * 1024)}     # over max_head (64K)
    status, hdrs, body = rest_get(fx, ECHO + "/x", big)
    U.rest_fault(fx.ex, "municipality", status, hdrs, body, (400, 431), {"Client.BadRequest"})
    serving(fx)
