#!/usr/bin/env python3
"""OpenSSL's own OCSP responder for a PKI made by certs/mkpki.sh, for tests.

From a Python test (tests/integration is on sys.path when run.py runs it):

    import ocsp_responder as ocsp
    r = ocsp.start(pki_dir, ca="sign", port=28510)   # returns once it answers
    ...
    ocsp.revoke(pki_dir, "sign", cert_pem, responder=r)
    r.stop()                                         # or: with ocsp.start(...) as r:

From C tests or by hand:

    ocsp_responder.py serve PKI [--ca sign] --port N [--nmin 60] [--ready-file F]
        runs until SIGTERM/SIGINT; writes "PORT N" to F (atomically) once the
        responder answers
    ocsp_responder.py revoke PKI [--ca sign] CERT [--reason keyCompromise] [--port N]
        `openssl ca -revoke`, then (with --port) makes that responder re-read
        the index

The responder is

    openssl ocsp -index PKI/ca/CA/index.txt -CA PKI/ca/CA/cert.pem
                 -rsigner PKI/ocsp/CA/ocsp.pem -rkey PKI/ocsp/CA/ocsp.key
                 -port N -nmin 60 -ignore_err

(a delegated responder: mkpki.sh issues ocsp/CA/ocsp.pem from that CA with
the OCSPSigning usage). Two behaviours of OpenSSL 3.0 worth knowing:
  - `-port` takes a number only and listens on every interface ([::]:N); it
    cannot be limited to 127.0.0.1. Use ports from your test's block.
  - It re-reads index.txt when the file changed (mtime, ctime or inode), but
    checks that before waiting for the next connection: the first request
    after a revocation is still answered from the old index. revoke(...,
    responder=r) therefore sends one throw-away request (poke) so that the
    next real request sees the revocation.
It answers one request at a time.
"""
import argparse
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # The responder must not outlive the test, even one killed by SIGKILL.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def ca_paths(pki, ca):
    """The files of one openssl-ca directory made by mkpki.sh."""
    d = os.path.join(pki, "ca", ca)
    return {
        "dir": d,
        "cnf": os.path.join(d, "ca.cnf"),
        "index": os.path.join(d, "index.txt"),
        "cert": os.path.join(d, "cert.pem"),
        "rsigner": os.path.join(pki, "ocsp", ca, "ocsp.pem"),
        "rkey": os.path.join(pki, "ocsp", ca, "ocsp.key"),
    }


class Responder:
    """One `openssl ocsp` responder process (see the module text)."""

    def __init__(self, pki, ca="sign", port=None, nmin=60, rsigner=None, rkey=None,
                 log=None):
        if not port:
            raise ValueError("ocsp_responder: a port from the test's block is required")
        self.pki = os.path.abspath(pki)
        self.ca = ca
        self.port = int(port)
        self.paths = ca_paths(self.pki, ca)
        self.rsigner = rsigner or self.paths["rsigner"]
        self.rkey = rkey or self.paths["rkey"]
        for f in (self.paths["index"], self.paths["cert"], self.rsigner, self.rkey):
            if not os.path.exists(f):
                raise FileNotFoundError("ocsp_responder: missing %s (run certs/mkpki.sh %s)"
                                        % (f, self.pki))
        self.nmin = nmin
        self.log_path = log or os.path.join(
            tempfile.gettempdir(), "ocsp-responder-%s-%d.log" % (ca, self.port))
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/" % self.port

    def start(self, timeout=15):
        cmd = ["openssl", "ocsp", "-index", self.paths["index"], "-CA", self.paths["cert"],
               "-rsigner", self.rsigner, "-rkey", self.rkey, "-port", str(self.port),
               "-ignore_err"]
        if self.nmin:
            cmd += ["-nmin", str(self.nmin)]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("ocsp_responder: openssl ocsp on port %d exited with %d; "
                                   "see %s (port taken?)"
                                   % (self.port, self.proc.returncode, self.log_path))
            if self.query(self.rsigner, timeout=2)[0] == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("ocsp_responder: no answer on port %d within %d s; see %s"
                           % (self.port, timeout, self.log_path))

    def query(self, cert_pem, respout=None, timeout=5):
        """Asks the responder about cert_pem (issued by this CA) with
        `openssl ocsp` (no nonce, response signature not checked). Returns
        (exit code, printed text); the DER response goes to respout if given."""
        cmd = ["openssl", "ocsp", "-issuer", self.paths["cert"], "-cert", cert_pem,
               "-url", self.url, "-no_nonce", "-noverify", "-timeout", str(timeout)]
        if respout:
            cmd += ["-respout", respout]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout + 5)
        except subprocess.TimeoutExpired:
            return 1, "timeout"
        return p.returncode, p.stdout.decode(errors="replace")

    def poke(self):
        """One throw-away request: makes the responder notice a changed index."""
        self.query(self.rsigner)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and hasattr(self, "_log"):
            self._log.close()
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def start(pki, ca="sign", port=None, nmin=60, **kw):
    """Starts a responder for CA ("sign" or "auth") of the mkpki.sh PKI at
    pki on port; returns once it answers (raises RuntimeError otherwise)."""
    return Responder(pki, ca, port, nmin, **kw).start()


def revoke(pki, ca, cert_pem, reason="keyCompromise", responder=None):
    """Revokes cert_pem in CA's index (`openssl ca -revoke`); with responder,
    makes it re-read the index so its next answer says revoked."""
    p = ca_paths(os.path.abspath(pki), ca)
    r = subprocess.run(["openssl", "ca", "-config", p["cnf"], "-revoke", cert_pem,
                        "-crl_reason", reason], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise RuntimeError("ocsp_responder: openssl ca -revoke %s failed: %s"
                           % (cert_pem, r.stdout.decode(errors="replace")))
    if responder is not None:
        responder.poke()


def _serve(a):
    r = Responder(a.pki, a.ca, a.port, a.nmin)
    stop = {"now": False}

    def on_signal(*_):
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    r.start()
    if a.ready_file:
        tmp = a.ready_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("PORT %d\n" % r.port)
        os.rename(tmp, a.ready_file)
    print("READY %s" % r.url, flush=True)
    code = 0
    while not stop["now"]:
        if r.proc.poll() is not None:
            sys.stderr.write("ocsp_responder: openssl ocsp exited with %d\n" % r.proc.returncode)
            code = 1
            break
        time.sleep(0.2)
    r.stop()
    return code


def _revoke(a):
    resp = None
    if a.port:
        resp = Responder(a.pki, a.ca, a.port)   # not started: only to poke it
    revoke(a.pki, a.ca, a.cert, a.reason)
    if resp is not None:
        resp.poke()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a responder until SIGTERM")
    s.add_argument("pki")
    s.add_argument("--ca", default="sign", choices=["sign", "auth"])
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--nmin", type=int, default=60)
    s.add_argument("--ready-file")
    v = sub.add_parser("revoke", help="revoke a certificate in the CA index")
    v.add_argument("pki")
    v.add_argument("cert")
    v.add_argument("--ca", default="sign", choices=["sign", "auth"])
    v.add_argument("--reason", default="keyCompromise")
    v.add_argument("--port", type=int, help="responder to make re-read the index")
    a = ap.parse_args()
    try:
        return _serve(a) if a.cmd == "serve" else _revoke(a)
    except (RuntimeError, FileNotFoundError, ValueError) as e:
        sys.stderr.write("%s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
