"""Helpers for test_badinput.py: raw sockets (to send what well-behaved
clients refuse to send), a recording TCP listener, fault checks against the
gateway's log, and memory figures from /proc.

Everything here is bounded: every socket has a timeout and every wait a
deadline, so a gateway that misbehaves fails a test instead of hanging it."""
import json
import os
import re
import select
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


# ---- raw HTTP --------------------------------------------------------------

def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(sock, timeout=5.0):
    """Reads one HTTP/1.1 response (Content-Length framed, as the gateway
    answers). Returns (status, headers lowercased, body, elapsed seconds) or
    raises AssertionError if none arrives in time."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv_some(sock, deadline, "response head")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    assert m, "not an HTTP response: %r" % lines[0][:200]
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(body) < n:
        body += _recv_some(sock, deadline, "response body")
    return int(m.group(1)), hdrs, body[:n], time.monotonic() - t0


def _recv_some(sock, deadline, what):
    left = deadline - time.monotonic()
    assert left > 0, "no complete %s in time" % what
    sock.settimeout(left)
    try:
        chunk = sock.recv(65536)
    except socket.timeout:
        raise AssertionError("no complete %s in time" % what)
    assert chunk, "connection closed before the %s was complete" % what
    return chunk


def wait_closed(sock, timeout):
    """Seconds until the peer closes (EOF or reset), reading and dropping
    anything it still sends; None if it stays open past timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return time.monotonic() - t0
        except socket.timeout:
            return None
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
            return time.monotonic() - t0


def raw_request(port, data, timeout=5.0):
    """Sends bytes as they are and reads one response."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return read_response(s, timeout)[:3]


def send_until_answered(sock, chunks, limit):
    """Sends chunks (an iterator of bytes) until the server answers (the
    socket turns readable), the server stops reading, or limit bytes went
    out. Returns bytes sent."""
    sent = 0
    for c in chunks:
        r, w, _ = select.select([sock], [sock], [], 5.0)
        if r or not w:
            break
        try:
            sock.sendall(c)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(c)
        if sent >= limit:
            break
    return sent


# ---- faults ----------------------------------------------------------------

def log_has_request(ex, gw, reqid, timeout=2.0):
    """The request's `event=request reqid=<uuid>` line in the gateway's log."""
    pat = "event=request reqid=%s " % reqid
    deadline = time.monotonic() + timeout
    while True:
        for line in ex.log(gw).splitlines():
            if pat in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError("reqid %s not in %s's log as event=request" % (reqid, gw))
        time.sleep(0.05)


def soap_fault(ex, gw, status, hdrs, body, want_status, codes):
    """Checks a SOAP 1.1 fault answer: HTTP status, text/xml, faultcode one of
    codes, empty faultactor, faultDetail a UUID logged by gw. Returns
    (faultcode, faultstring, log line)."""
    assert status == want_status, "HTTP %s, expected %s: %r" % (status, want_status, body[:400])
    assert hdrs.get("content-type", "").startswith("text/xml"), hdrs
    root = ET.fromstring(body)
    fault = root.find("{%s}Body/{%s}Fault" % (SOAP_ENV, SOAP_ENV))
    assert fault is not None, "no SOAP Fault: %r" % body[:400]
    code = fault.findtext("faultcode")
    msg = fault.findtext("faultstring") or ""
    assert code in codes, "faultcode %s (%s), expected one of %s" % (code, msg, codes)
    assert fault.find("faultactor") is not None and not (fault.findtext("faultactor") or "")
    detail = (fault.findtext("detail/faultDetail") or "").strip()
    assert UUID_RE.match(detail), "faultDetail %r is not a UUID" % detail
    line = log_has_request(ex, gw, detail)
    assert "fault=%s " % code in line and "status=%d " % want_status in line, line
    return code, msg, line


def rest_fault(ex, gw, status, hdrs, body, want_status, codes):
    """Checks a REST JSON fault: status, application/json, type one of codes
    (also in X-Road-Error), detail a UUID logged by gw. Returns (type,
    message, log line)."""
    if isinstance(want_status, int):
        want_status = (want_status,)
    assert status in want_status, "HTTP %s, expected %s: %r" % (status, want_status, body[:400])
    assert hdrs.get("content-type", "").startswith("application/json"), hdrs
    j = json.loads(body)
    assert j.get("type") in codes, "type %s (%s), expected one of %s" % (
        j.get("type"), j.get("message"), codes)
    assert hdrs.get("x-road-error") == j["type"], hdrs
    assert UUID_RE.match(j.get("detail", "")), j
    line = log_has_request(ex, gw, j["detail"])
    assert "fault=%s " % j["type"] in line and "status=%d " % status in line, line
    return j["type"], j.get("message", ""), line


# ---- a TCP listener that records who connects ------------------------------

class Recorder:
    """Listens on a free loopback port; records every connection and the
    first bytes it sends; answers anything that looks like HTTP with a small
    200 so a caller never waits on it."""

    def __init__(self, reply=b'{"ok":true}'):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.status = b"200 OK"
        self.headers = b""       # more header lines for the answer ("Name: v\r\n"...)
        self.hits = []           # first bytes of each connection
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(2.0)
        data = b""
        try:
            while b"\r\n\r\n" not in data and len(data) < 1 << 20:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            m = re.search(rb"\r\nContent-Length: *(\d+)\r\n", data.partition(b"\r\n\r\n")[0] + b"\r\n",
                          re.I)
            while m and len(data.partition(b"\r\n\r\n")[2]) < min(int(m.group(1)), 1 << 20):
                chunk = c.recv(65536)   # the whole body, so a test sees what was sent
                if not chunk:
                    break
                data += chunk
            with self.lock:
                self.hits.append(data)
            if re.match(rb"[A-Z]+ /", data):
                reply = self.reply if not self.status.startswith((b"204", b"304")) else b""
                c.sendall(b"HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s"
                          b"%sConnection: close\r\n\r\n%s"
                          % (self.status, self.headers,
                             b"Content-Length: %d\r\n" % len(reply) if reply else b"", reply))
        except OSError:
            with self.lock:
                self.hits.append(data)
        finally:
            c.close()

    def count(self):
        with self.lock:
            return len(self.hits)

    def close(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()


# ---- process figures -------------------------------------------------------

def proc_status_kb(pid, field):
    """A /proc/<pid>/status field in kB (VmRSS, VmHWM)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("%s not in /proc/%d/status" % (field, pid))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def set_ini(path, key, value):
    """Replaces `key = ...` in a generated local configuration (for limits
    the harness does not expose as parameters)."""
    with open(path) as f:
        text = f.read()
    new, n = re.subn(r"(?m)^%s\s*=.*$" % re.escape(key), "%s = %s" % (key, value), text)
    assert n == 1, "%s: key %s found %d times" % (path, key, n)
    with open(path, "w") as f:
        f.write(new)


# ---- TLS to the peer port --------------------------------------------------

def tls_context(ca=None, cert=None, key=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(cert, key)
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def tls_try_request(port, ctx, request, timeout=5.0):
    """Handshakes and sends request. Returns ('handshake', err) if the
    handshake failed, ('refused', err) if the server dropped or alerted
    afterwards without an HTTP answer, or ('answer', bytes received)."""
    raw = connect(port, timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except (ssl.SSLError, OSError) as e:
        raw.close()
        return "handshake", str(e)
    try:
        s.sendall(request)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                break
        if data:
            return "answer", data
        return "refused", "closed without an answer"
    except (ssl.SSLError, OSError) as e:
        return "refused", str(e)
    finally:
        s.close()
