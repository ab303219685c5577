"""TLS between gateways and towards information systems.

- A gateway whose TLS certificate is issued by the right CA but is not the
  one global configuration lists for it ("rogue", made with the same dev
  PKI) is refused: as a caller by the provider's gateway
  (Server.ServerProxy.SslAuthenticationFailed), as a provider by the
  client's gateway, which pins the peer's certificate hash
  (Server.ClientProxy.SslAuthenticationFailed).
- An information system bound to a client certificate ([client] is_cert)
  must come over HTTPS with exactly that certificate.

Ports: client 24080-24082, server 24500-24502, municipality HTTPS 24443."""
import json
import os
import re
import ssl
import subprocess
import tempfile

import harness as h

INST = "central-server"
HOUSEHOLD_REGISTER = (INST, "GOV", "70000050", "household-register")
CERTIFICATES = (INST, "GOV", "70000050", "certificates")
BANK_IS = (INST, "COM", "60000001", "bank-is")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
BODY = "<pin>21205197500417</pin>"
FAMILY = "/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/21205197500417"
IS_DIR = "is/GOV_70000050_household-register"


def setup():
    ex = h.Exchange("tls", 24080, 24500, tls_port=24443, extra_ini={
        "municipality": "[client]\nis_cert = central-server/GOV/70000050/household-register "
                        "@PKI@/%s/client.pem\n" % IS_DIR})
    try:
        subprocess.run([os.path.join(h.ROOT, "certs", "mkpki.sh"), ex.pki,
                        "--gateways", "municipality state bank rogue"],
                       check=True, stdout=subprocess.DEVNULL)
        ex.start()
    except Exception:
        h.stop_and_clean(ex)
        raise
    return ex


def teardown(ex):
    return h.stop_and_clean(ex)


def rogue_config(ex, gw):
    """A copy of gw's .ini whose [server] certificate and key are the rogue's."""
    with open(ex.config_path(gw)) as f:
        text = f.read()
    cert = os.path.join(ex.pki, "gw", gw, "auth.pem")
    key = os.path.join(ex.pki, "gw", gw, "auth.key")
    assert cert in text and key in text
    text = text.replace(cert, os.path.join(ex.pki, "gw", "rogue", "auth.pem"))
    text = text.replace(key, os.path.join(ex.pki, "gw", "rogue", "auth.key"))
    path = os.path.join(ex.dir, "%s-rogue.ini" % gw)
    with open(path, "w") as f:
        f.write(text)
    return path


def fault_of(ex, status, body, code, producer):
    assert status == 500, (status, body[:600])
    f = h.soap_fault(body)
    assert f is not None and f["code"] == code, (f, body[:600])
    assert f["actor"] == "" and re.match(h.UUID_RE, f["detail"]), f
    assert [gw for gw, _ in ex.request_lines(f["detail"])] == [producer], f
    return f


def soap(ex, gw, client, url=None, **https):
    req = h.soap_request(client, PASSPORT, BODY)
    hdrs = {"Content-Type": "text/xml; charset=utf-8"}
    if url:
        return h.https_request("POST", url, req, hdrs, **https)
    return h.request("POST", ex.url(gw), req, hdrs)


# ---- gateway certificates -------------------------------------------------

def test_rogue_client_gateway_refused(ex):
    """The bank gateway presents the rogue certificate: the municipality
    (provider side) refuses it; SOAP and REST both."""
    rogue_hash = open(os.path.join(ex.pki, "gw", "rogue", "auth.sha256")).read().strip()
    ex.restart("bank", rogue_config(ex, "bank"))
    try:
        assert "is not the one global configuration lists" in ex.log_since("bank", ex.log_offset["bank"])
        target = FAMILY
        status, rh, body = h.request_raw("GET", ex.url("bank", target),
                                         headers=[("X-Road-Client", "central-server/COM/60000001/bank-is")])
        assert status == 500, (status, body[:600])
        assert h.header_values(rh, "X-Road-Error") == ["Server.ServerProxy.SslAuthenticationFailed"], rh
        err = json.loads(body)
        assert rogue_hash.lower() in err["message"].lower(), err
        assert [gw for gw, _ in ex.request_lines(err["detail"])] == ["municipality"], err
        # SOAP: the bank-is may call bankPinService on the state: refused there too
        req = h.soap_request(BANK_IS, (INST, "GOV", "70000005", "passport-service", "bankPinService", "v1"),
                             BODY + "<series>ID</series><number>2345671</number>")
        status, _, body = h.request("POST", ex.url("bank"), req, {"Content-Type": "text/xml"})
        fault_of(ex, status, body, "Server.ServerProxy.SslAuthenticationFailed", "state")
    finally:
        ex.restart("bank")
    # with its own certificate again (and the person's consent), the same request works
    h.grant_consent(ex, FAMILY.rsplit("/", 1)[1])
    status, _, body = h.request_raw("GET", ex.url("bank", FAMILY),
                                    headers=[("X-Road-Client", "central-server/COM/60000001/bank-is")])
    assert status == 200, (status, body[:300])


def test_rogue_provider_gateway_refused(ex):
    """The state gateway presents the rogue certificate: the municipality
    (client side) pins state's hash from global configuration and refuses
    the connection."""
    ex.restart("state", rogue_config(ex, "state"))
    try:
        status, _, body = soap(ex, "municipality", CERTIFICATES)
        f = fault_of(ex, status, body, "Server.ClientProxy.SslAuthenticationFailed", "municipality")
        assert "state" in f["string"], f
    finally:
        ex.restart("state")
    status, _, body = soap(ex, "municipality", CERTIFICATES)
    assert status == 200 and "Осмонов".encode() in body, (status, body[:300])


# ---- information system over HTTPS ----------------------------------------

def https_url(ex):
    return "https://127.0.0.1:%d/" % ex.tls_port


def is_cert(ex, name):
    d = os.path.join(ex.pki, "is", name)
    return {"cert": os.path.join(d, "client-fullchain.pem"), "key": os.path.join(d, "client.key"),
            "cafile": os.path.join(ex.pki, "ca", "auth-chain.pem")}


def test_is_https_with_its_certificate_curl(ex):
    """curl, as an information system would, with the registered certificate."""
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY)
    c = is_cert(ex, "GOV_70000050_household-register")
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(req)
        f.flush()
        r = subprocess.run(["curl", "-sS", "--max-time", "15", "--cert", c["cert"], "--key", c["key"],
                            "--cacert", c["cafile"], "-H", "Content-Type: text/xml; charset=utf-8",
                            "--data-binary", "@" + f.name, "-w", "\n%{http_code}", https_url(ex)],
                           capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    body, _, code = r.stdout.rpartition(b"\n")
    assert code == b"200", (code, body[:600])
    assert "Осмонов".encode() in body
    assert h.soap_header_value(body, "requestHash")[0] == h.sha512_b64(req)


def test_is_https_python_and_rest(ex):
    status, _, body = soap(ex, None, HOUSEHOLD_REGISTER, url=https_url(ex),
                           **is_cert(ex, "GOV_70000050_household-register"))
    assert status == 200, (status, body[:600])
    status, _, body = h.https_request(
        "GET", "https://127.0.0.1:%d%s" % (ex.tls_port, FAMILY),
        headers={"X-Road-Client": "central-server/GOV/70000050/household-register"},
        **is_cert(ex, "GOV_70000050_household-register"))
    assert status == 200 and b"LBD-0001" in body, (status, body[:300])


def test_is_plain_http_refused(ex):
    status, _, body = soap(ex, "municipality", HOUSEHOLD_REGISTER)
    fault_of(ex, status, body, "Server.ClientProxy.SslAuthenticationFailed", "municipality")
    status, rh, body = h.request_raw(
        "GET", ex.url("municipality", FAMILY),
        headers=[("X-Road-Client", "central-server/GOV/70000050/household-register")])
    assert status == 500 and h.header_values(rh, "X-Road-Error") == \
        ["Server.ClientProxy.SslAuthenticationFailed"], (status, rh)


def test_is_https_other_certificate_refused(ex):
    """The bank's information-system certificate is valid (same CA) but not
    the one registered for household-register."""
    status, _, body = soap(ex, None, HOUSEHOLD_REGISTER, url=https_url(ex), **is_cert(ex, "COM_60000001_bank-is"))
    fault_of(ex, status, body, "Server.ClientProxy.SslAuthenticationFailed", "municipality")


def test_is_https_without_certificate_refused(ex):
    c = is_cert(ex, "GOV_70000050_household-register")
    try:
        status, _, body = soap(ex, None, HOUSEHOLD_REGISTER, url=https_url(ex), cafile=c["cafile"])
    except (ssl.SSLError, ConnectionError) as e:
        raise AssertionError("the client certificate is optional on the HTTPS port; "
                             "expected a fault, got %r" % e)
    fault_of(ex, status, body, "Server.ClientProxy.SslAuthenticationFailed", "municipality")


def test_unbound_client_still_plain_http(ex):
    """is_cert binds only household-register: another subsystem of the same
    member keeps using plain HTTP."""
    status, _, body = soap(ex, "municipality", CERTIFICATES)
    assert status == 200 and "Осмонов".encode() in body, (status, body[:300])
