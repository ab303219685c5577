"""A small threaded stand-in for a provider information system.

It speaks the same contract as a real provider behind a gateway bound to a
URL (global configuration <service ... url="http://127.0.0.1:PORT/...">):

  POST /soap...        SOAP 1.1: answers a proper X-Road response that repeats
                       the request's Header verbatim (same prefixes, same
                       bytes) and a body wrapper named serviceCode + "Response"
                       holding <echo> of the request wrapper's first child text
                       and <path> (the request-target it received)
  POST /soapfault...   a SOAP Fault from the provider system itself (HTTP 500)
  ANY  /rest...        REST: 200 application/json {"method","path","query",
                       "body"} plus a response header X-Provider: stand-in
  POST /soapmismatch   a SOAP response whose xrd:id differs from the request's
  ANY  /restforge      200 JSON with X-Road-* response headers of its own
  ANY  /redirect       302 to /rest/redirected (a gateway must not follow it)
  ANY  /slow...        sleeps SLOW_SECONDS, then answers like /soap or /rest
                       (by the request's Content-Type)
  ANY  /fail500...     HTTP 500, text/plain, not SOAP
  ANY  /empty...       HTTP 200 with no body

Every request is recorded (method, raw target, header list, body) before it is
answered, so a test can check what the gateway forwarded.
"""
import http.server
import json
import re
import threading
import time
import urllib.parse

SLOW_SECONDS = 3.0
FAIL_BODY = b"provider exploded: database is on fire\n"


class Record:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = u.query
        self.headers = headers          # [(name, value)] as received
        self.body = body

    def header(self, name):
        """All values of a header (case-insensitive)."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


_HEADER_RE = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Header\b.*?</\1Header\s*>", re.S)
_ENVELOPE_RE = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Envelope\b[^>]*>", re.S)
_BODY_OPEN_RE = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Body\b[^>]*>\s*<((?:[A-Za-z_][\w.-]*:)?)([A-Za-z_][\w.-]*)([^>]*)>", re.S)
_FIRST_TEXT_RE = re.compile(rb">\s*<(?:[\w.-]+:)?[\w.-]+>([^<]*)<")


def soap_echo_response(req, target):
    """The SOAP response to req (bytes): request Envelope start tag and Header
    copied verbatim, body wrapper serviceCode+Response in the request
    wrapper's namespace."""
    env = _ENVELOPE_RE.search(req)
    hdr = _HEADER_RE.search(req)
    body = _BODY_OPEN_RE.search(req)
    if not env or not body:
        raise ValueError("not a SOAP request")
    envp = env.group(1).decode()
    wp, wname, wattrs = body.group(2).decode(), body.group(3).decode(), body.group(4).decode()
    wattrs = wattrs.rstrip("/")
    first = _FIRST_TEXT_RE.search(req, body.end() - 1)
    echo = first.group(1).decode() if first else ""
    inner = "<echo>%s</echo><path>%s</path>" % (echo, _xml_escape(target))
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n' + env.group(0) +
            (hdr.group(0) if hdr else b"") +
            ("<%sBody><%s%sResponse%s>%s</%s%sResponse></%sBody></%sEnvelope>" %
             (envp, wp, wname, wattrs, inner, wp, wname, envp, envp)).encode())


def _xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


SOAP_FAULT = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
              b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
              b'<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.ProviderBusinessError</faultcode>'
              b'<faultstring>the provider system refused</faultstring><faultactor/>'
              b'<detail><faultDetail xmlns="">provider-own-detail</faultDetail></detail>'
              b'</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>')


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status, body, ctype, extra=()):
        try:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in extra:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway gave up (timeouts): nothing to answer

    def _handle(self):
        body = self._read_body()
        rec = Record(self.command, self.path, list(self.headers.items()), body)
        self.server.owner._record(rec)
        path = rec.path
        if path.startswith("/slow"):
            time.sleep(self.server.owner.slow_seconds)
        if path.startswith("/fail500"):
            self._send(500, FAIL_BODY, "text/plain; charset=utf-8")
        elif path.startswith("/empty"):
            self._send(200, b"", "text/xml; charset=utf-8")
        elif path.startswith("/soapmismatch"):
            # a "response" whose headers do not repeat the request's
            out = soap_echo_response(body, self.path).replace(b"<xrd:id>", b"<xrd:id>changed-", 1)
            self._send(200, out, "text/xml; charset=utf-8")
        elif path.startswith("/restforge"):
            # tries to pass off X-Road headers of its own
            self._send(200, b'{"forged":true}', "application/json",
                       extra=(("X-Road-Request-Hash", "Zm9yZ2Vk"), ("X-Road-Error", "Server.Fake"),
                              ("X-Road-Id", "forged-id"), ("X-Road-Request-Id", "forged-rid"),
                              ("X-Provider", "stand-in")))
        elif path.startswith("/redirect"):
            self._send(302, b"moved\n", "text/plain",
                       extra=(("Location", self.server.owner.base("/rest/redirected")),))
        elif path.startswith("/soapfault"):
            self._send(500, SOAP_FAULT, "text/xml; charset=utf-8")
        elif path.startswith("/soap") or (path.startswith("/slow") and
                                          "xml" in (self.headers.get("Content-Type") or "")):
            try:
                out = soap_echo_response(body, self.path)
            except ValueError:
                self._send(400, b"not SOAP\n", "text/plain")
                return
            self._send(200, out, "text/xml; charset=utf-8")
        else:
            out = json.dumps({"method": rec.method, "path": rec.path, "query": rec.query,
                              "body": body.decode("utf-8", "replace")}).encode()
            self._send(200, out, "application/json",
                       extra=(("X-Provider", "stand-in"),))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StandInProvider:
    """Start with StandInProvider(port).start(); stop() at the end."""

    def __init__(self, port, host="127.0.0.1", slow_seconds=SLOW_SECONDS):
        self.port = port
        self.slow_seconds = slow_seconds
        self.records = []
        self._lock = threading.Lock()
        self._srv = _Server((host, port), _Handler)
        self._srv.owner = self
        self._thread = None

    def base(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def start(self):
        self._thread = threading.Thread(target=self._srv.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()

    def _record(self, rec):
        with self._lock:
            self.records.append(rec)

    def clear(self):
        with self._lock:
            self.records = []

    def last(self, prefix="/"):
        """The last request whose path starts with prefix (None if none)."""
        with self._lock:
            for r in reversed(self.records):
                if r.path.startswith(prefix):
                    return r
        return None
