"""Global configuration reload without a restart (SIGHUP).

A gateway swaps in a new global configuration atomically when told to, and
keeps the last good one - saying so in /health - when the new file fails its
checks, and refuses exchanges once its configuration has expired. Ports: client
21680-21682, server 21880-21882, HTTPS 21643; the expired exchange 21780/21980/21743."""
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import time

import harness as h

INST = "central-server"
CLERK = (INST, "GOV", "70000050", "household-register")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
PIN = "21205197500417"


def setup():
    ex = h.Exchange("reload", 21680, 21880, tls_port=21643)
    ex.start()
    return ex


def teardown(ex):
    return h.stop_and_clean(ex)


def ask(ex):
    req = h.soap_request(CLERK, PASSPORT, "<pin>%s</pin>" % PIN, msg_id="reload-%f" % time.time())
    st, _, body = h.request("POST", ex.url("municipality"), req, {"Content-Type": "text/xml"})
    return st, body


def health(ex, gw):
    st, _, body = h.request("GET", ex.url(gw, "/health"))
    return st, json.loads(body)


def write_signed(ex, path, text):
    """Writes text to path as the operator would publish it: signed with the
    operator's key (the gateways' anchor). A text the signer refuses (it fails
    the schema) is written as it is: the gateways refuse it either way."""
    tmp = path + ".unsigned"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    op = os.path.join(ex.pki, "operator")
    r = subprocess.run([h.binary(), "globalconf", "sign", "--replace", "--key", os.path.join(op, "operator.key"),
                        "--cert", os.path.join(op, "operator.pem"), "-o", path, tmp],
                       capture_output=True)
    if r.returncode != 0:
        os.replace(tmp, path)
    else:
        os.unlink(tmp)


def reload(ex, gws, text):
    """Publishes text, sends SIGHUP to each of gws and waits for each one's
    `event=globalconf_reload` line about it; returns {gw: that line}."""
    write_signed(ex, os.path.join(ex.dir, "globalconf.xml"), text)
    offsets = {gw: len(ex.log(gw)) for gw in gws}
    for gw in gws:
        ex.procs[gw].send_signal(signal.SIGHUP)
    lines, deadline = {}, time.time() + 15
    while len(lines) < len(gws):
        for gw in gws:
            found = [l for l in ex.log(gw)[offsets[gw]:].splitlines() if "event=globalconf_reload " in l]
            if found:
                lines[gw] = found[0]
        assert len(lines) == len(gws) or time.time() < deadline, ("no reload line", gws, lines)
        time.sleep(0.05)
    return lines


def test_reload_applies_and_bad_file_keeps_last_good(ex):
    path = os.path.join(ex.dir, "globalconf.xml")
    with open(path, encoding="utf-8") as f:
        good = f.read()
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:300]

    # 1. access withdrawn: municipalities lose passportDataByPSN on both gateways
    marker = '<allowGroup>municipalities</allowGroup>\n    <allow>GOV/70000073/portal</allow>\n  </service>\n  <service client="GOV/70000005/passport-service" code="bankPinService"'
    assert marker in good, "the demo global configuration changed; update this test"
    withdrawn = good.replace(marker, marker.replace("<allowGroup>municipalities</allowGroup>\n    ", ""), 1)
    lines = reload(ex, ("municipality", "state"), withdrawn)
    assert all("event=globalconf_reload ok=1 " in l for l in lines.values()), lines
    st, body = ask(ex)
    f = h.soap_fault(body)
    assert f and f["code"] == "Server.ServerProxy.AccessDenied", body[:400]

    # 2. a file that fails its checks: the previous (withdrawn) configuration stays
    lines = reload(ex, ("municipality", "state"), withdrawn.replace("<instance>", "<instanceX>", 1))
    assert all("event=globalconf_reload ok=0 " in l and "keeping=previous" in l for l in lines.values()), lines
    st, body = ask(ex)
    f = h.soap_fault(body)
    assert f and f["code"] == "Server.ServerProxy.AccessDenied", body[:400]
    st, hl = health(ex, "state")
    gc = [c for c in hl["checks"] if c["name"] == "globalconf"][0]
    assert st == 200 and gc["ok"] and "last reload failed" in gc["detail"], hl

    # 3. the good file again: access back, the health warning gone
    lines = reload(ex, ("municipality", "state"), good)
    assert all("event=globalconf_reload ok=1 " in l for l in lines.values()), lines
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    st, hl = health(ex, "state")
    gc = [c for c in hl["checks"] if c["name"] == "globalconf"][0]
    assert "last reload failed" not in gc["detail"], hl
    for gw in ("municipality", "state", "bank"):
        assert ex.alive(gw), gw


def test_sighup_names_local_changes_that_wait_for_a_restart(ex):
    """The local file is read at start only. An operator who edited it and
    sent SIGHUP was told nothing (and `config keys` called max_body and
    log_level "reloadable"): now the gateway names each changed key, or says
    why the file no longer loads, and keeps serving as configured."""
    cfg = ex.config_path("state")
    with open(cfg) as f:
        orig = f.read()

    def hup_line():
        off = len(ex.log("state"))
        ex.procs["state"].send_signal(signal.SIGHUP)
        deadline = time.time() + 15
        while time.time() < deadline:
            new = ex.log("state")[off:]
            if "event=globalconf_reload " in new:
                time.sleep(0.2)
                return [l for l in ex.log("state")[off:].splitlines() if "event=config_reload" in l]
            time.sleep(0.05)
        raise AssertionError("no reload line")
    try:
        assert hup_line() == []   # unchanged: nothing said
        with open(cfg, "w") as f:
            f.write(re.sub(r"(?m)^max_body = .*$", "max_body = 1K", orig.replace("log_level = info",
                                                                                "log_level = debug")))
        lines = hup_line()
        assert len(lines) == 1 and "ok=0" in lines[0], lines
        assert "[gateway] log_level, [limits] max_body: changed since the gateway started" in lines[0], lines
        with open(cfg, "w") as f:
            f.write(orig + "\n[limits]\nmax_bdy = 1K\n")
        lines = hup_line()
        assert len(lines) == 1 and "unknown key (did you mean 'max_body'?)" in lines[0], lines
        # an adapter section a restart would refuse: said so, not "restart to apply"
        with open(cfg, "w") as f:
            f.write(orig + "\n[adapter.population]\nbusy_timeout_ms = lots\n")
        lines = hup_line()
        assert len(lines) == 1 and "busy_timeout_ms" in lines[0] and "a restart with this file would fail" \
            in lines[0], lines
    finally:
        with open(cfg, "w") as f:
            f.write(orig)
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:300]


def test_reload_refuses_an_expired_file(ex):
    path = os.path.join(ex.dir, "globalconf.xml")
    with open(path, encoding="utf-8") as f:
        good = f.read()
    expired = re.sub(r"<generatedAt>[^<]*</generatedAt>", "<generatedAt>2020-01-01T00:00:00Z</generatedAt>", good)
    expired = re.sub(r"<expiresAt>[^<]*</expiresAt>", "<expiresAt>2020-01-02T00:00:00Z</expiresAt>", expired)
    line = reload(ex, ("state",), expired)["state"]
    assert "event=globalconf_reload ok=0 " in line and "expired" in line, line
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:300]
    line = reload(ex, ("state",), good)["state"]
    assert "event=globalconf_reload ok=1 " in line, line


def test_expired_configuration_refuses_exchanges(_ex):
    """A gateway whose global configuration has expired refuses every
    exchange with OutdatedGlobalConf (client side and provider side) and says
    so in /health."""
    env = {"GLOBALCONF_GENERATED_AT": "2020-01-01T00:00:00Z", "GLOBALCONF_EXPIRES_AT": "2020-01-02T00:00:00Z"}
    old = h.Exchange("reload-expired", 21780, 21980, tls_port=21743, env=env)
    try:
        old.start(wait=False)
        deadline = time.time() + 15
        for gw in ("municipality", "state"):   # both listening (they answer 503)
            while True:
                try:
                    st, hl = health(old, gw)
                    break
                except OSError:
                    assert time.time() < deadline, old.log(gw)[-800:]
                    time.sleep(0.05)
        gc = [c for c in hl["checks"] if c["name"] == "globalconf"][0]
        assert st == 503 and not gc["ok"] and "expired" in gc["detail"], hl
        st, body = ask(old)
        f = h.soap_fault(body)
        assert f and f["code"] == "Server.ClientProxy.OutdatedGlobalConf", body[:400]
        st, hdrs, body = h.request("GET", old.url("municipality", "/r1/central-server/GOV/70000050/"
                                                  "sanaripaymak-service/family-members/" + PIN),
                                   headers={"X-Road-Client": "central-server/GOV/70000050/household-register"})
        assert st == 500 and json.loads(body)["type"] == "Server.ClientProxy.OutdatedGlobalConf", body
        # the provider side refuses a peer's request too
        pki = old.pki
        ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca", "trust.pem"))
        ctx.check_hostname = False
        ctx.load_cert_chain(os.path.join(pki, "gw", "municipality", "auth-fullchain.pem"),
                            os.path.join(pki, "gw", "municipality", "auth.key"))
        c = http.client.HTTPSConnection("127.0.0.1", old.server_port("state"), context=ctx, timeout=5)
        c.request("POST", "/", body=h.soap_request(CLERK, PASSPORT, "<pin>%s</pin>" % PIN),
                  headers={"Content-Type": "text/xml"})
        r = c.getresponse()
        f = h.soap_fault(r.read())
        c.close()
        assert f and f["code"] == "Server.ServerProxy.OutdatedGlobalConf", f
    finally:
        problems = h.stop_and_clean(old)
    assert not problems, problems
