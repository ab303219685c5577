"""Certificates instead of paper, across real gateways (issue 5, items 1, 2, 5).

The state portal (a client of the state gateway) asks the municipality's
certificates service for a certificate on the citizen's behalf
(X-Road-UserId); the service queries the registries through the exchange as
its own client subsystem (population and cadastre and the veterinary
registry on the state gateway, the household register, social passport,
e-kyzmat and billing on its own), composes, signs (the municipality's key),
time-stamps (a real RFC 3161 TSA: tests/integration/tsa_server.py), registers
it, and registers it in edocs as an outgoing document.

Shown here: every kind issued over REST and one over SOAP; each document
verified by xmlsec1 and by the verify service (a bank asks); the registry
exchanges it names are in the gateways' logs; the edocs record carries its
digest; the PDF's text has the subject's name in Cyrillic and its QR code
decodes (pdftoppm + zbarimg) to the verification address; the refusals of
domain.md with their reasons (no or stale veterinary data with the date,
person not in the register, someone else's certificate, a registry that
cannot answer: try again later) and no document for any of them; the foreign
owner by document number; revocation by the clerk's system (and refused to
the portal by the access rights); one changed byte -> tampered; the public
page.

Ports: client 28800-28802, server 28810-28812 (+20 TSA, +21/+22 OCSP),
municipality HTTPS 28809."""
import base64
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import urllib.parse
import uuid

import harness as h

INST = "central-server"
PORTAL = "central-server/GOV/70000073/portal"
BANK = "central-server/COM/60000001/bank-is"
CLERK = "central-server/GOV/70000050/household-register"
KIOSK = "central-server/GOV/70000050/kiosk"
SVC = "/r1/central-server/GOV/70000050/certificates/"
# [adapter.certificates] (key, TSA, trust, verify_url) comes from ops/mkexchange.sh.
EXTRA_INI = {}


def setup():
    ex = h.Exchange("certificates", 28800, 28810, tls_port=28809, extra_ini=EXTRA_INI)
    try:
        ex.start()
    except Exception:
        ex.stop()
        raise
    return ex


def teardown(ex):
    problems = ex.stop()
    ex.stop_trust()
    ex.cleanup()
    return problems


# ---- calls --------------------------------------------------------------------------

def call(ex, gw, client, method, path, body=None, user=None, ctype="application/json", svc=SVC):
    hdrs = {"X-Road-Client": client}
    if user is not None:
        hdrs["X-Road-UserId"] = user
    if body is not None:
        hdrs["Content-Type"] = ctype
        if isinstance(body, (dict, list)):
            body = json.dumps(body, ensure_ascii=False).encode()
        elif isinstance(body, str):
            body = body.encode()
    st, hd, data = h.request(method, ex.url(gw, svc + path), body=body, headers=hdrs, timeout=60)
    try:
        return st, json.loads(data)
    except ValueError:
        raise AssertionError("HTTP %d, not JSON: %r" % (st, data[:300]))


def issue(ex, user, **fields):
    return call(ex, "state", PORTAL, "POST", "issue", fields, user=user)


def verify(ex, number, digest):
    return call(ex, "bank", BANK, "GET", "verify?number=%s&digest=%s" % (number, digest))


def counts(ex):
    """Certificates in the register and outgoing documents in edocs (the
    municipality's data directory)."""
    data = os.path.join(ex.dir, "data", "municipality")
    with sqlite3.connect(os.path.join(data, "certificates.db")) as c:
        n = c.execute("SELECT count(*) FROM cert_documents").fetchone()[0]
    with sqlite3.connect(os.path.join(data, "edocs.db")) as c:
        e = c.execute("SELECT count(*) FROM documents WHERE direction = 'out'").fetchone()[0]
    return n, e


def xmlsec1_ok(ex, xml):
    with tempfile.NamedTemporaryFile("w", suffix=".xml", delete=False) as f:
        f.write(xml)
    try:
        r = subprocess.run(["xmlsec1", "--verify", "--trusted-pem", os.path.join(ex.pki, "ca", "trust.pem"),
                            "--id-attr:Id", "SignedProperties", f.name], capture_output=True)
        return r.returncode == 0
    finally:
        os.unlink(f.name)


def check_issued(ex, st, d, name):
    """Signed (xmlsec1), stamped, digest of the bytes handed out, valid for a
    bank, made from exchanges the gateways logged, in edocs with its digest."""
    assert st == 200, (st, d)
    xml = d["document_xml"]
    assert d["digest"] == hashlib.sha256(xml.encode()).hexdigest()
    assert re.fullmatch(r"70000050-\d{4}-\d{6}", d["number"]), d["number"]
    assert d["verify_url"] == "http://127.0.0.1:28800/verify?n=%s&d=%s" % (d["number"], d["digest"])
    assert d["subject"]["name"] == name and name in xml
    assert "EncapsulatedTimeStamp" in xml
    assert xmlsec1_ok(ex, xml), "xmlsec1 refused the document"
    st, v = verify(ex, d["number"], d["digest"])
    assert st == 200 and v["verdict"] == "valid", v
    for src in d["sources"]:
        lines = msg_lines(ex, src["message_id"])
        assert lines, "exchange %s (%s) not in any gateway's log" % (src["message_id"], src["service"])
        for gw, line in lines:
            assert "client=SUBSYSTEM:central-server/GOV/70000050/certificates " in line, line
            assert "/%s " % src["service"] in line and " status=200 " in line, line
        assert src["message_id"] in xml
    st, e = call(ex, "municipality", CLERK, "GET", "document/" + urlq(d["edocs_registration_number"]),
                 svc="/r1/central-server/GOV/70000050/edocs/")
    assert st == 200, e
    assert e["content_digest"] == d["digest"] and e["direction"] == "out" and e["doc_type"] == "certificate"


def msg_lines(ex, msgid, wait=2.0):
    """[(gw, line)] of the request log lines of the exchange with X-Road-Id msgid."""
    import time
    deadline = time.time() + wait
    while True:
        found = [(gw, line) for gw in ex.logs for line in ex.log(gw).splitlines()
                 if "event=request " in line and " msgid=%s " % msgid in line]
        if found or time.time() >= deadline:
            return found
        time.sleep(0.05)


def urlq(s):
    import urllib.parse
    return urllib.parse.quote(s, safe="")


# ---- tests ------------------------------------------------------------------------------

KINDS = [
    ("21205197500417", dict(kind="household-composition", pin="21205197500417", purpose="для банка"),
     "Осмонов Бакыт Жумабекович"),
    ("KG10309197901235", dict(kind="place-of-residence", pin="10309197901235", purpose="для школы"),
     "Осмонова Айгүл Токтосуновна"),
    ("21205197500417", dict(kind="livestock-holding", pin="21205197500417", purpose="для кредита"),
     "Осмонов Бакыт Жумабекович"),
    ("21205197500417", dict(kind="property-holding", pin="21205197500417", purpose="для нотариуса"),
     "Осмонов Бакыт Жумабекович"),
    ("10107195000110", dict(kind="social-category", pin="10107195000110", category="disability",
                            purpose="для соцфонда"), "Осмонова Күлүйпа Асановна"),
    ("21205197500417", dict(kind="no-utility-debt", pin="21205197500417", purpose="для нотариуса"),
     "Осмонов Бакыт Жумабекович"),
    ("21205197500417", dict(kind="employment-record", pin="21205197500417", purpose="для визы"),
     "Осмонов Бакыт Жумабекович"),
]


def test_every_kind(ex):
    for user, fields, name in KINDS:
        st, d = issue(ex, user, **fields)
        check_issued(ex, st, d, name)


def test_foreign_owner_by_document(ex):
    st, d = issue(ex, "KZN1234567", kind="property-holding", citizenship="KAZ", document="N1234567",
                  purpose="для нотариуса")
    check_issued(ex, st, d, "Сейткалиев Ержан Болатович")
    assert d["subject"]["pin"] is None and d["subject"]["document"] == "N1234567"


def overlapping_words(pdf_path):
    """Pairs of words on one line of the PDF whose boxes overlap
    (pdftotext -bbox): text set over other text."""
    html = subprocess.run(["pdftotext", "-bbox", pdf_path, "-"], capture_output=True, check=True).stdout.decode()
    words = [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html)]
    assert words, html[:300]
    bad = []
    for i, (x0, y0, x1, y1, t) in enumerate(words):
        for (u0, v0, u1, v1, s) in words[i + 1:]:
            same_line = min(y1, v1) - max(y0, v0) > 0.5 * min(y1 - y0, v1 - v0)
            if same_line and min(x1, u1) - max(x0, u0) > 0.5:
                bad.append((t, s))
    return bad


def test_pdf_text_and_qr(ex):
    st, d = issue(ex, "23001198800158", kind="household-composition", pin="23001198800158",
                  purpose="для банка")
    check_issued(ex, st, d, "Төрөкулов Үсөн Мамытович")
    st, p = call(ex, "state", PORTAL, "GET", "document/%s?form=pdf" % d["number"], user="23001198800158")
    assert st == 200 and p["content_type"] == "application/pdf", p
    pdf = base64.b64decode(p["content_base64"])
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "c.pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True,
                              check=True).stdout.decode()
        assert "Төрөкулов Үсөн Мамытович" in text and "ОТОЗВАНА" not in text, text[:500]
        # no text over other text (a long label ran into its value, a name into the relation)
        assert not overlapping_words(path), overlapping_words(path)
        subprocess.run(["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", path,
                        os.path.join(tmp, "p")], check=True, capture_output=True)
        png = [f for f in os.listdir(tmp) if f.endswith(".png")][0]
        qr = subprocess.run(["zbarimg", "--quiet", "--raw", os.path.join(tmp, png)],
                            capture_output=True).stdout.decode().strip()
        assert qr == d["verify_url"], (qr, d["verify_url"])
    assert p["status"] == "valid" and p["revoked_at"] is None and p["valid_until"], p
    # someone else may not fetch it
    st, e = call(ex, "state", PORTAL, "GET", "document/%s" % d["number"], user="21205197500417")
    assert st == 400 and "your own certificates" in e["message"], e


def test_refusals_no_document(ex):
    import datetime
    stale_day = (datetime.date.today() - datetime.timedelta(days=500)).isoformat()
    cases = [
        ("21205197500417", dict(kind="household-composition", pin="10309197901235", purpose="x"),
         400, "you can only request certificates about yourself"),
        ("10309197901235", dict(kind="livestock-holding", pin="10309197901235", purpose="x"),
         404, "The veterinary registry has no data on your livestock"),
        ("23001198800158", dict(kind="livestock-holding", pin="23001198800158", purpose="x"),
         404, "were last updated on %s, 500 days ago" % stale_day),
        ("20202198000123", dict(kind="household-composition", pin="20202198000123", purpose="x"),
         404, "has not been entered in the household register yet"),
        ("21001199000999", dict(kind="place-of-residence", pin="21001199000999", purpose="x"),
         404, "The population registry has no person with PIN 21001199000999"),
        ("23001198800158", dict(kind="no-utility-debt", pin="23001198800158", purpose="x"),
         400, "records a debt of 1137.75 som"),
    ]
    before = counts(ex)
    for user, fields, status, part in cases:
        st, e = issue(ex, user, **fields)
        assert st == status and part in e.get("message", ""), (fields, st, e)
    assert counts(ex) == before, "a refusal left a certificate or an edocs record behind"


def test_registry_unavailable(ex):
    """The state gateway (population, cadastre, veterinary) is down: try again
    later, nothing issued; back up: issued."""
    before = counts(ex)
    for gw, what in ex.stop(["state"]).items():
        raise AssertionError("state gateway: %s" % what)
    try:
        st, e = call(ex, "municipality", KIOSK, "POST", "issue",
                     dict(kind="household-composition", pin="21205197500417", purpose="x"),
                     user="21205197500417")
        assert st == 503 and "try again later" in e["message"], (st, e)
        assert counts(ex) == before
    finally:
        ex.start(["state"], trust=False)
    st, d = issue(ex, "21205197500417", kind="household-composition", pin="21205197500417", purpose="x")
    check_issued(ex, st, d, "Осмонов Бакыт Жумабекович")


def test_soap_issue(ex):
    body = ("<kind>place-of-residence</kind><pin>21205197500417</pin>"
            "<purpose>для банка</purpose>")
    req = h.soap_request((INST, "GOV", "70000073", "portal"),
                         (INST, "GOV", "70000050", "certificates", "issue", None), body,
                         user_id="KG21205197500417", ns="http://tunduk.kg/certificates")
    st, hd, data = h.request("POST", ex.url("state", "/"), body=req,
                             headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=60)
    assert st == 200, data[:500]
    text = data.decode()
    m = re.search(r"<number>([^<]+)</number>", text)
    dig = re.search(r"<digest>([^<]+)</digest>", text)
    assert m and dig, text[:1000]
    st, v = verify(ex, m.group(1), dig.group(1))
    assert st == 200 and v["verdict"] == "valid", v


def test_revoke_and_tamper(ex):
    st, d = issue(ex, "21205197500417", kind="household-composition", pin="21205197500417",
                  purpose="для банка")
    assert st == 200, d
    # one changed byte in an uploaded copy
    xml = d["document_xml"].replace("Осмонов Бакыт", "Осмонов Бакыд", 1)
    st, v = call(ex, "bank", BANK, "POST", "verify-document", xml, ctype="application/xml")
    assert st == 200 and v["verdict"] == "tampered", v
    st, v = call(ex, "bank", BANK, "POST", "verify-document", d["document_xml"], ctype="application/xml")
    assert st == 200 and v["verdict"] == "valid", v
    # the same file saved by an editor: a byte order mark, CRLF, the final line end lost -
    # outside the signed content; it read as "not XML" (BOM) or "tampered"
    for copy in ("\ufeff" + d["document_xml"], d["document_xml"].rstrip("\n"),
                 d["document_xml"].replace("\n", "\r\n"), "\r\n" + d["document_xml"]):
        st, v = call(ex, "bank", BANK, "POST", "verify-document", copy, ctype="application/xml")
        assert st == 200 and v["verdict"] == "valid" and v["digest"] == d["digest"], (copy[:20], v)
        st, v = call(ex, "bank", BANK, "POST", "verify-document",
                     {"document_base64": base64.b64encode(copy.encode()).decode()})
        assert st == 200 and v["verdict"] == "valid", v
    # the portal may not revoke (access rights); the clerk's system may
    st, e = call(ex, "state", PORTAL, "POST", "revoke", {"number": d["number"], "reason": "x"},
                 user="21205197500417")
    assert st == 500 and e.get("type") == "Server.ServerProxy.AccessDenied", (st, e)
    # the clerk's system must say which clerk revokes (the register keeps it)
    st, e = call(ex, "municipality", CLERK, "POST", "revoke",
                 {"number": d["number"], "reason": "выдана по ошибке"})
    assert st == 400 and "X-Road-UserId" in e["message"], (st, e)
    st, v = verify(ex, d["number"], d["digest"])
    assert v["verdict"] == "valid", v
    st, r = call(ex, "municipality", CLERK, "POST", "revoke",
                 {"number": d["number"], "reason": "выдана по ошибке"}, user="clerk-7")
    assert st == 200 and r["revoked"], r
    st, v = verify(ex, d["number"], d["digest"])
    assert v["verdict"] == "revoked" and v["revoke_reason"] == "выдана по ошибке", v
    # its owner fetching it again is told so, and its PDF says so in red on top
    # (before: the same answer and PDF as a valid one)
    st, x = call(ex, "state", PORTAL, "GET", "document/%s" % d["number"], user="21205197500417")
    assert st == 200 and x["status"] == "revoked" and x["revoke_reason"] == "выдана по ошибке", x
    assert x["revoked_at"] and base64.b64decode(x["content_base64"]).decode() == d["document_xml"]
    st, p = call(ex, "state", PORTAL, "GET", "document/%s?form=pdf" % d["number"], user="21205197500417")
    assert st == 200 and p["status"] == "revoked", p
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.pdf")
        with open(path, "wb") as f:
            f.write(base64.b64decode(p["content_base64"]))
        text = subprocess.run(["pdftotext", "-enc", "UTF-8", path, "-"], capture_output=True,
                              check=True).stdout.decode()
    assert "СПРАВКА ОТОЗВАНА / REVOKED" in text and "выдана по ошибке" in text, text[:600]
    assert text.index("ОТОЗВАНА") < text.index("Осмонов"), text[:600]
    st, e = call(ex, "municipality", CLERK, "POST", "revoke",
                 {"number": d["number"], "reason": "again"}, user="clerk-7")
    assert st == 400 and "already" in e["message"], e


def test_verify_page(ex):
    st, d = issue(ex, "21205197500417", kind="household-composition", pin="21205197500417",
                  purpose="для банка")
    assert st == 200, d
    st, p = call(ex, "bank", BANK, "GET", "verify-page?n=%s&d=%s" % (d["number"], d["digest"]))
    assert st == 200 and p["content_type"].startswith("text/html"), p
    assert "Осмонов Бакыт Жумабекович" in p["html"] and "<script" not in p["html"]


def test_public_verify_page_from_the_qr_address(ex):
    """The address the QR code carries opens the gateway's own page (HTML, no
    JavaScript): valid, then revoked with the reason; a changed digest is not
    this document."""
    st, d = issue(ex, "21205197500417", kind="place-of-residence", pin="21205197500417",
                  purpose="для суда")
    assert st == 200, d
    status, hdrs, page = h.request("GET", d["verify_url"])
    html = page.decode()
    assert status == 200 and hdrs["content-type"].startswith("text/html"), (status, hdrs)
    assert d["number"] in html and "<script" not in html.lower() and "<form" in html, html[:500]
    assert "Справка действительна" in html and "Справка отозвана" not in html, html[:800]
    bad = d["verify_url"][:-4] + ("0000" if not d["verify_url"].endswith("0000") else "1111")
    status, _, page2 = h.request("GET", bad)
    assert status == 200 and page2 != page and "Осмонов" not in page2.decode(), page2[:300]
    # an empty form, and a POST of the form without a document, are pages too
    status, _, empty = h.request("GET", ex.url("municipality", "/verify"))
    assert status == 200 and b"<form" in empty
    status, _, posted = h.request("POST", ex.url("municipality", "/verify"), b"",
                                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and b"<form" in posted and d["number"].encode() not in posted, posted[:300]
    # another method: 405 naming the two it answers (it came without Allow)
    status, hdrs, other = h.request("PUT", ex.url("municipality", "/verify"), b"x")
    assert status == 405 and hdrs.get("allow") == "GET, POST", (status, hdrs)
    assert b"not PUT" in other and b"upload form" in other, other
    # the certificate's text without its signature, pasted into the form: not
    # called a forgery, and nothing of the register shown (it was "Tampered with")
    st, doc = issue(ex, "21205197500417", kind="place-of-residence", pin="21205197500417", purpose="для суда")
    assert st == 200, doc
    xml = re.sub(r"<ds:Signature\b.*</ds:Signature>", "", doc["document_xml"], flags=re.S)
    assert xml != doc["document_xml"]
    form = urllib.parse.urlencode({"xml_text": xml}).encode()
    status, _, page4 = h.request("POST", ex.url("municipality", "/verify"), form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    html4 = page4.decode()
    assert status == 200 and "Это не подписанная электронная справка" in html4, html4[:800]
    assert "Документ изменён" not in html4 and "Осмонов" not in html4, html4[:800]
    # the signed certificate pasted into the text box as a browser sends it
    # (multipart, CRLF line ends, the final line end lost; or with a BOM and
    # blanks, urlencoded): the issued document, valid - it read as "changed"
    pasted = doc["document_xml"].rstrip("\n").replace("\n", "\r\n")
    bnd = "----formB0undary7MA4YWxk"
    mp = ("--%s\r\nContent-Disposition: form-data; name=\"xml\"; filename=\"\"\r\n"
          "Content-Type: application/octet-stream\r\n\r\n\r\n"
          "--%s\r\nContent-Disposition: form-data; name=\"xml_text\"\r\n\r\n%s\r\n--%s--\r\n"
          % (bnd, bnd, pasted, bnd)).encode()
    for body, ctype in ((mp, "multipart/form-data; boundary=" + bnd),
                        (urllib.parse.urlencode({"xml_text": "\ufeff  " + pasted + "\r\n\r\n"}).encode(),
                         "application/x-www-form-urlencoded")):
        status, _, page5 = h.request("POST", ex.url("municipality", "/verify"), body,
                                     {"Content-Type": ctype})
        html5 = page5.decode()
        assert status == 200 and "Справка действительна" in html5, (ctype, html5[:1200])
        assert doc["number"] in html5 and "Документ изменён" not in html5, html5[:800]
    # a changed word in the paste is still a changed document
    forged = pasted.replace("для суда", "для банка", 1)
    assert forged != pasted
    status, _, page6 = h.request("POST", ex.url("municipality", "/verify"),
                                 urllib.parse.urlencode({"xml_text": forged}).encode(),
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "Справка действительна" not in page6.decode(), page6[:800]
    # revoked by the clerk: the same address now says so, with the reason
    st, r = call(ex, "municipality", CLERK, "POST", "revoke",
                 {"number": d["number"], "reason": "адрес изменился"}, user="clerk-7")
    assert st == 200 and r["revoked"], r
    status, _, page3 = h.request("GET", d["verify_url"])
    html3 = page3.decode()
    assert status == 200 and "Справка отозвана" in html3 and "Справка действительна" not in html3, html3[:800]
    assert "адрес изменился" in html3 and d["number"] in html3, html3[:800]
