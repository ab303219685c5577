"""Global configuration reload without a restart (SIGHUP).

A gateway swaps in a new global configuration atomically when told to, and
keeps the last good one - saying so in /health - when the new file fails its
checks. Ports: client 21680-21682, server 21880-21882, HTTPS 21643."""
import json
import os
import signal
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


def reload(ex, gws, text):
    path = os.path.join(ex.dir, "globalconf.xml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    for gw in gws:
        ex.procs[gw].send_signal(signal.SIGHUP)
    time.sleep(0.5)


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
    reload(ex, ("municipality", "state"), withdrawn)
    st, body = ask(ex)
    f = h.soap_fault(body)
    assert f and f["code"] == "Server.ServerProxy.AccessDenied", body[:400]
    assert "event=globalconf_reload ok=1" in ex.log("state")

    # 2. a file that fails its checks: the previous (withdrawn) configuration stays
    reload(ex, ("municipality", "state"), withdrawn.replace("<instance>", "<instanceX>", 1))
    st, body = ask(ex)
    f = h.soap_fault(body)
    assert f and f["code"] == "Server.ServerProxy.AccessDenied", body[:400]
    assert "event=globalconf_reload ok=0" in ex.log("state")
    st, hl = health(ex, "state")
    gc = [c for c in hl["checks"] if c["name"] == "globalconf"][0]
    assert st == 200 and gc["ok"] and "last reload failed" in gc["detail"], hl

    # 3. the good file again: access back, the health warning gone
    reload(ex, ("municipality", "state"), good)
    st, body = ask(ex)
    assert st == 200 and b"requestHash" in body, body[:400]
    st, hl = health(ex, "state")
    gc = [c for c in hl["checks"] if c["name"] == "globalconf"][0]
    assert "last reload failed" not in gc["detail"], hl
    for gw in ("municipality", "state", "bank"):
        assert ex.alive(gw), gw
