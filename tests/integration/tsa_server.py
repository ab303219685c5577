#!/usr/bin/env python3
"""A tiny RFC 3161 time-stamping server for tests.

Answers POST application/timestamp-query by running OpenSSL's own TS
implementation:

    openssl ts -reply -config tsa.cnf -queryfile Q -inkey KEY -signer CERT -out R

and returns R as application/timestamp-reply. One request at a time (the
serial file of `openssl ts -reply` is not safe for concurrent writers).

Outage switch, for tests of the message log's TSA-failure handling:
  - while the file given with --down-file exists, every request is answered
    with HTTP 503 (or the connection is closed without an answer, with
    --down-mode close);
  - SIGUSR1 goes down, SIGUSR2 comes back.

Usage:
    tsa_server.py --tsa-dir DIR [--port 0] [--port-file F] [--down-file F]
                  [--down-mode 503|close]

DIR is certs/mkpki.sh's OUTDIR/tsa (tsa.cnf, tsa.key, tsa.pem). With port 0
the kernel picks one; it is printed as "PORT <n>" on stdout and written to
--port-file (written to a temporary name, then renamed, so a reader never
sees half of it). Listens on 127.0.0.1 only.
"""
import argparse
import http.server
import os
import signal
import subprocess
import sys
import tempfile

MAX_QUERY = 16 * 1024

state = {"down": False}


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "tsa-test/1"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("tsa_server: " + (fmt % args) + "\n")

    def is_down(self):
        f = self.server.down_file
        return state["down"] or (f is not None and os.path.exists(f))

    def do_GET(self):
        self.send_error(405)

    def do_POST(self):
        if self.is_down():
            if self.server.down_mode == "close":
                self.close_connection = True
                self.connection.close()
                return
            self.send_error(503, "TSA down for the test")
            return
        try:
            n = int(self.headers.get("Content-Length", "-1"))
        except ValueError:
            n = -1
        if n <= 0 or n > MAX_QUERY:
            self.send_error(400, "bad Content-Length")
            return
        ctype = self.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/timestamp-query":
            self.send_error(415, "want application/timestamp-query")
            return
        query = self.rfile.read(n)
        reply = self.server.stamp(query)
        if reply is None:
            self.send_error(500, "openssl ts -reply failed")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class Server(http.server.HTTPServer):
    def stamp(self, query):
        with tempfile.TemporaryDirectory(prefix="tsa-") as tmp:
            q = os.path.join(tmp, "q.tsq")
            r = os.path.join(tmp, "r.tsr")
            with open(q, "wb") as fh:
                fh.write(query)
            cmd = ["openssl", "ts", "-reply", "-config", self.cnf,
                   "-queryfile", q, "-inkey", self.key, "-signer", self.cert,
                   "-out", r]
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=20)
            if p.returncode != 0 or not os.path.exists(r):
                sys.stderr.write("tsa_server: openssl failed: %s\n"
                                 % p.stderr.decode(errors="replace"))
                return None
            with open(r, "rb") as fh:
                return fh.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tsa-dir", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--down-file")
    ap.add_argument("--down-mode", choices=["503", "close"], default="503")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    srv = Server(("127.0.0.1", a.port), Handler)
    srv.cnf = os.path.join(a.tsa_dir, "tsa.cnf")
    srv.key = os.path.join(a.tsa_dir, "tsa.key")
    srv.cert = os.path.join(a.tsa_dir, "tsa.pem")
    srv.down_file = a.down_file
    srv.down_mode = a.down_mode
    srv.verbose = a.verbose
    for f in (srv.cnf, srv.key, srv.cert):
        if not os.path.exists(f):
            sys.exit("tsa_server: missing %s" % f)

    signal.signal(signal.SIGUSR1, lambda *_: state.update(down=True))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(down=False))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.rename(tmp, a.port_file)
    print("PORT %d" % port, flush=True)
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
