"""The registries through the exchange (issue 4): every service of the demo
global configuration called by SOAP and REST and answered from SQLite; the
metaservices and descriptions (listMethods, getWsdl, GET /wsdl, getOpenAPI)
checked with real tools (xmllint, python3-zeep, the npm OpenAPI validator);
the household register and the population registry also bound to the URL of
an independent stand-in provider (registry_stand_in.py, reading the same
SQLite files) and compared answer by answer; the clerk's request sequence of
README.md; the error classes of every adapter.

Ports: client 26180-26182, server 26580-26582, municipality HTTPS 26143,
stand-in provider 26190."""
import base64
import datetime
import email.parser
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import urllib.parse
import uuid
import xml.etree.ElementTree as ET

import harness as h
import registry_stand_in as rsi

INST = "central-server"
STAND_IN_PORT = 26190
GC = "urn:ailgate:globalconf:1"
SOAP = h.SOAP_NS["soap"]
XRD = h.SOAP_NS["xrd"]
IDS = h.SOAP_NS["id"]
XSD = "http://www.w3.org/2001/XMLSchema"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
HIDDEN = "http://INTERNAL-ADDRESS-HIDDEN/"
OAV_DIRS = (os.path.join(h.ROOT, "build", "oav"), "/tmp/oav")
CLERK = "GOV/70000050/household-register"

BAKYT = "21205197500417"           # LBD-0001, head
KULUIPA = "10107195000110"         # LBD-0001, pensioner with a benefit account
ZHYLDYZ = "12506198400321"         # LBD-0002, wife of the Kazakh citizen
USON = "23001198800158"            # LBD-0003, head (house without a cadastral code)
PENDING = "20202198000123"         # on the population list, household not entered
NOBODY = "21001199000999"          # a valid PIN nobody holds
DUPLICATE = "21503199200011"       # a PIN of the 1990s held by two people
SHORT = "2120519750041"            # 13 digits
INJECT = "' OR '1'='1' --"

# ---- the stand-in's bindings (extra subsystems on existing gateways) --------
MIRROR_HH = "GOV/70000095/sanaripaymak-mirror"
MIRROR_POP = "GOV/70000096/passport-mirror"
EXTRA_MEMBERS = """
  <member class="GOV" code="70000095" name="Household register mirror (test stand-in)">
    <subsystem code="sanaripaymak-mirror"/>
  </member>
  <member class="GOV" code="70000096" name="Population registry mirror (test stand-in)">
    <subsystem code="passport-mirror"/>
  </member>
"""
STAND_IN = "http://127.0.0.1:%d" % STAND_IN_PORT
EXTRA_SERVICES = "".join(
    '  <service client="%s" code="%s" type="rest" url="%s/household/%s" title="mirror %s">'
    '<allowGroup>municipalities</allowGroup><allowGroup>banks</allowGroup></service>\n'
    % (MIRROR_HH, code, STAND_IN, code, code)
    for code in ("family-members", "address-fact", "household", "household-by-document")) + (
    '  <service client="%s" code="passportDataByPSN" version="v1" type="soap" '
    'url="%s/population/soap" title="mirror passportDataByPSN">'
    '<allowGroup>municipalities</allowGroup></service>\n' % (MIRROR_POP, STAND_IN))


# ---- what each service is called with, and what the answer must hold --------
# code -> (SOAP body params, REST path segments, REST query, checks): checks
# are dotted paths into the answer with their exact value (from the adapters'
# READMEs); the SOAP and the REST answer must also be equal as a whole.
CASES = {
    "passportDataByPSN": ({"pin": BAKYT}, [BAKYT], {},
                          {"pin": BAKYT, "duplicate_pin": False, "person.0.surname": "Осмонов",
                           "person.0.passport.number": "2345671"}),
    "bankPinService": ({"pin": BAKYT, "series": "ID", "number": "2345671"}, [BAKYT],
                       {"series": "ID", "number": "2345671"},
                       {"pin": BAKYT, "match": True, "reason": "match"}),
    "zagsDataByPin": ({"pin": PENDING}, [PENDING], {},
                      {"pin": PENDING, "person.0.surname": "Калыков",
                       "person.0.marriage.0.dissolved": True}),
    "family-members": ({"pin": BAKYT}, [BAKYT], {},
                       {"pin": BAKYT, "household_id": "LBD-0001", "member_count": 5,
                        "members.0.pin": BAKYT}),
    "address-fact": ({"pin": BAKYT}, [BAKYT], {},
                     {"pin": BAKYT, "household_id": "LBD-0001", "cadastral_code": "7100600330016",
                      "registered_on": "2001-06-20"}),
    "household": ({"id": "LBD-0003"}, ["LBD-0003"], {},
                  {"household_id": "LBD-0003", "cadastral_code": None,
                   "house_registered": False}),
    "household-by-document": ({"citizenship": "KAZ", "document": "N1234567"}, ["KAZ", "N1234567"], {},
                              {"household_id": "LBD-0002", "members.0.pin": None,
                               "members.0.document.number": "N1234567"}),
    "GetPropertyInfo": ({"eni": "7100600330016"}, ["7100600330016"], {},
                        {"eni": "7100600330016", "eni_dashed": "7-10-06-0033-0016",
                         "rights.0.share": "1/2", "rights.1.share": "1/2"}),
    "person-properties": ({"pin": BAKYT}, [BAKYT], {}, {"pin": BAKYT, "owns_property": True}),
    "person-properties-by-document": ({"citizenship": "KAZ", "document": "N1234567"},
                                      ["KAZ", "N1234567"], {},
                                      {"citizenship": "KAZ", "document": "N1234567",
                                       "properties.0.eni": "7100600330102",
                                       "properties.0.rights.0.holder_type": "foreign_person"}),
    "household-property": ({"household_id": "LBD-0008"}, ["LBD-0008"], {},
                           {"household_id": "LBD-0008", "properties.0.eni": "7100600316328",
                            "properties.0.encumbrances.0.type": "arrest"}),
    "livestock": ({"household_id": "LBD-0001"}, ["LBD-0001"], {},
                  {"household_id": "LBD-0001", "total_head_count": 31, "owner.pin": BAKYT}),
    "livestock-by-owner": ({"pin": BAKYT}, [BAKYT], {},
                           {"pin": BAKYT, "holding_count": 1,
                            "holdings.0.household_id": "LBD-0001"}),
    "benefit-account": ({"pin": KULUIPA}, [KULUIPA], {},
                        {"pin": KULUIPA, "account": "129001******1278", "status": "active"}),
    "account-check": ({"pin": BAKYT, "account": "1290010000377401"}, [BAKYT, "1290010000377401"],
                      {}, {"pin": BAKYT, "belongs": True, "status": "active",
                           "account": "129001******7401"}),
    "social-categories": ({"pin": KULUIPA}, [KULUIPA], {},
                          {"pin": KULUIPA, "household_id": "LBD-0001",
                           "categories.0.category": "disability"}),
    "category-members": ({"category": "uy_bulogo_komok", "on": "2023-12-15"}, ["uy_bulogo_komok"],
                         {"on": "2023-12-15"}, {"category": "uy_bulogo_komok", "on": "2023-12-15"}),
    "category-status": ({"pin": "12006199223345", "category": "uy_bulogo_komok",
                         "on": "2023-12-15"},
                        ["12006199223345", "uy_bulogo_komok"], {"on": "2023-12-15"},
                        {"in_category": True, "since": "2023-01-01", "until": "2024-11-30",
                         "basis.number": "1342"}),
    "employee": ({"pin": BAKYT}, [BAKYT], {},
                 {"pin": BAKYT, "employed": True, "hired_on": "2009-04-01",
                  "current_position.position": "head"}),
    "length-of-service": ({"pin": BAKYT, "on": "2024-03-01"}, [BAKYT], {"on": "2024-03-01"},
                          {"years": 26, "months": 7, "days": 1, "total_days": 9710}),
    "vacancies": ({"department": "finance"}, [], {"department": "finance"},
                  {"department": "finance", "vacancies.0.id": "V-2024-01",
                   "vacancies.0.salary_som": "18500.00"}),
    "document": ({"number": "ВХ-2025-000005"}, ["ВХ-2025-000005"], {},
                 {"registration_number": "ВХ-2025-000005", "execution.status": "executed",
                  "execution.executed_by": "ИСХ-2025-000015", "execution.days_overdue": 4}),
    "documents": ({"from": "2025-02-01", "to": "2025-02-28", "direction": "in"}, [],
                  {"from": "2025-02-01", "to": "2025-02-28", "direction": "in"},
                  {"from": "2025-02-01", "to": "2025-02-28", "direction": "in"}),
    "execution-status": ({}, [], {}, {"documents.0.registration_number": "ВХ-2025-000076"}),
    "accounts": ({"pin": BAKYT}, [BAKYT], {},
                 {"pin": BAKYT, "household_id": "LBD-0001",
                  "accounts.0.account_number": "WTR-000001"}),
    "household-accounts": ({"household_id": "LBD-0002"}, ["LBD-0002"], {},
                           {"household_id": "LBD-0002", "accounts.0.holder.pin": None}),
    "debt": ({"household_id": "LBD-0003"}, ["LBD-0003"], {},
             {"household_id": "LBD-0003", "has_debt": True}),
    "statement": ({"account": "WTR-000003", "from": "2025-01-01", "to": "2025-06-30"},
                  ["WTR-000003"],
                  {"from": "2025-01-01", "to": "2025-06-30"},
                  {"account_number": "WTR-000003", "household_id": "LBD-0003"}),
}


# ---- global configuration as the test reads it --------------------------------

class Service:
    def __init__(self, el):
        self.owner = el.get("client")                 # CLASS/MEMBER/SUB
        self.code = el.get("code")
        self.version = el.get("version")
        self.type = el.get("type")
        self.adapter = el.get("adapter")
        self.subject = el.get("subjectParam")           # about a person
        self.consent_for = (el.get("consentRequiredFor") or "").split()
        self.url = el.get("url")
        self.description = el.get("description")
        self.openapi = el.get("openapi") or (
            self.description if (self.description or "").endswith(".json") else None)
        self.allow = [(e.tag.split("}")[1], e.text.strip()) for e in el
                      if e.tag in ("{%s}allow" % GC, "{%s}allowGroup" % GC)]

    def soap(self):
        return self.type in ("soap", "both")

    def rest(self):
        return self.type in ("rest", "both")

    def xid(self):
        return (INST,) + tuple(self.owner.split("/")) + (self.code, self.version)

    def __repr__(self):
        return "%s/%s" % (self.owner, self.code)


class GlobalConf:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        # the consent and certificates services have their own scenarios
        # (test_consent.py, test_certificates.py)
        self.services = [Service(e) for e in root.findall("{%s}service" % GC)
                         if e.get("adapter") not in ("consent", "certificates")]
        self.groups = {g.get("code"): [c.text.strip() for c in g.findall("{%s}client" % GC)]
                       for g in root.findall("{%s}group" % GC)}
        # clients that act for a signed-in person (the portal, the kiosk): a
        # service about a person answers them about that person only
        # (test_consent.py shows it), so they are not picked for such services
        self.for_user = {c.text.strip() for g in root.findall("{%s}group" % GC)
                         if g.get("actsForUser") == "true" for c in g.findall("{%s}client" % GC)}
        self.host = {c.text.strip(): gw.get("code") for gw in root.findall("{%s}gateway" % GC)
                     for c in gw.findall("{%s}client" % GC)}
        self.members = {"%s/%s" % (m.get("class"), m.get("code")):
                        [s.get("code") for s in m.findall("{%s}subsystem" % GC)]
                        for m in root.findall("{%s}member" % GC)}

    def expand(self, ident):
        """Subsystems an access-right entry names (a member: all of its)."""
        if ident.count("/") == 2:
            return [ident]
        return ["%s/%s" % (ident, s) for s in self.members.get(ident, [])]

    def allowed(self, svc):
        """[(client subsystem, its gateway)] in the order the rights list them."""
        out = []
        for kind, ident in svc.allow:
            for entry in (self.groups.get(ident, []) if kind == "allowGroup" else [ident]):
                for sub in self.expand(entry):
                    if sub in self.host and (sub, self.host[sub]) not in out:
                        out.append((sub, self.host[sub]))
        return out

    def pick_client(self, svc, for_user_ok=False):
        """An allowed client, on another gateway than the service's when one
        is allowed (the call then crosses two gateways). for_user_ok: the
        caller sends the person asked about as X-Road-UserId, so the portal
        may be picked for a service about a person."""
        allowed = self.allowed(svc)
        assert allowed, "no client may call %r" % svc
        if svc.subject:   # and not a bank that needs the person's consent (test_consent.py)
            allowed = [c for c in allowed if (for_user_ok or c[0] not in self.for_user) and
                       c[0].split("/")[0] not in svc.consent_for] or allowed
        # the clerk's system, the portal, the bank before the registries' own subsystems
        pref = (CLERK, "GOV/70000073/portal", "COM/60000001/bank-is")
        return min(allowed, key=lambda c: (c[1] == self.host[svc.owner],
                                           pref.index(c[0]) if c[0] in pref else len(pref)))


# ---- fixture -------------------------------------------------------------------

class Fixture:
    pass


def setup():
    fx = Fixture()
    fx.ex = fx.standin = None
    fx.tmp = tempfile.mkdtemp(prefix="ailgate-registries-t-")
    try:
        # The mirrors' gateways host them: mkexchange.sh fills the template's
        # @EXTRA_CLIENTS_<GW>@ from the EXTRA_CLIENTS_<GW> variables.
        fx.ex = h.Exchange("registries", 26180, 26580, tls_port=26143,
                           extra_members=EXTRA_MEMBERS, extra_services=EXTRA_SERVICES,
                           env={"EXTRA_CLIENTS_MUNICIPALITY": "    <client>%s</client>" % MIRROR_HH,
                                "EXTRA_CLIENTS_STATE": "    <client>%s</client>" % MIRROR_POP})
        data = os.path.join(fx.ex.dir, "data")
        fx.standin = rsi.RegistryStandIn(STAND_IN_PORT,
                                         os.path.join(data, "municipality", "household.db"),
                                         os.path.join(data, "state", "population.db")).start()
        fx.ex.start()
        fx.gc = GlobalConf(os.path.join(fx.ex.dir, "globalconf.xml"))
    except Exception:
        teardown(fx)
        raise
    return fx


def teardown(fx):
    if not fx:
        return {}
    if fx.standin:
        fx.standin.stop()
    shutil.rmtree(fx.tmp, ignore_errors=True)
    return h.stop_and_clean(fx.ex)


# ---- calling -------------------------------------------------------------------

def xesc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def tns_of(svc):
    """The target namespace of the service's WSDL (the body wrapper's)."""
    if not (svc.description or "").endswith(".wsdl"):
        return "http://tunduk.kg/%s" % svc.owner.split("/")[-1]
    path = os.path.join(h.ROOT, "wsdl", svc.description)
    return ET.parse(path).getroot().get("targetNamespace")


def soap_call(fx, client, svc, params, gw=None, ns=None, code=None, version="svc", body=None):
    """POSTs a SOAP request for svc (or its metaservice code) as client on
    the client's gateway; returns (request, status, headers, response)."""
    gw = gw or fx.gc.host[client]
    inner = body if body is not None else "".join(
        "<%s>%s</%s>" % (k, xesc(v), k) for k, v in params.items())
    sid = svc.xid()[:4] + (code or svc.code, svc.version if version == "svc" else version)
    req = h.soap_request((INST,) + tuple(client.split("/")), sid, inner,
                         msg_id=str(uuid.uuid4()), ns=ns or tns_of(svc))
    status, hdrs, resp = h.request("POST", fx.ex.url(gw), req,
                                   {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})
    return req, status, hdrs, resp


def soap_wrapper(resp, svc, ns=None):
    """The body wrapper of a SOAP answer (no Fault), checked by name."""
    root = ET.fromstring(resp)
    body = root.find("{%s}Body" % SOAP)
    assert body is not None and len(body) == 1, resp[:600]
    w = body[0]
    assert w.tag == "{%s}%sResponse" % (ns or tns_of(svc), svc.code), (w.tag, resp[:600])
    return w


def rest_target(owner, code, segments=(), query=None):
    t = "/r1/%s/%s/%s" % (INST, owner, code)
    t += "".join("/" + urllib.parse.quote(s, safe="") for s in segments)
    if query:
        t += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return t


def rest_call(fx, client, target, method="GET", body=None, ctype=None, gw=None):
    hdrs = [("X-Road-Client", "%s/%s" % (INST, client)), ("X-Road-Id", str(uuid.uuid4()))]
    if ctype:
        hdrs.append(("Content-Type", ctype))
    return h.request_raw(method, fx.ex.url(gw or fx.gc.host[client], target), body=body,
                         headers=hdrs)


def xml_like(el, like):
    """The value of element el read back by the core's JSON-to-XML rule,
    with the JSON answer `like` telling which keys are arrays and which
    scalars are booleans or numbers. Elements out of place, missing or extra
    give a value that differs from like."""
    if el.get(XSI_NIL) == "true":
        return None if len(el) == 0 and not (el.text or "").strip() else ("nil-with-content",)
    if isinstance(like, dict):
        kids = list(el)
        names = []
        for k in kids:
            if not names or names[-1] != k.tag:
                names.append(k.tag)
        want = [k for k, v in like.items() if not (isinstance(v, list) and not v)]
        if names != want:
            return ("element order", names)
        out = {}
        for key, v in like.items():
            found = [k for k in kids if k.tag == key]
            if isinstance(v, list):
                out[key] = [xml_like(f, v[i] if i < len(v) else None) for i, f in enumerate(found)]
            else:
                out[key] = xml_like(found[0], v)
        return out
    if len(el):
        return ("unexpected children", [k.tag for k in el])
    text = el.text or ""
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(text, text)
    if isinstance(like, int):
        return int(text) if re.fullmatch(r"-?[0-9]+", text) else text
    return text


def dumps(v):
    return json.dumps(v, ensure_ascii=False)


def dig(value, path):
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


def check_fields(data, checks, what):
    for path, want in checks.items():
        try:
            got = dig(data, path)
        except (KeyError, IndexError, TypeError):
            raise AssertionError("%s: no %s in %s" % (what, path, dumps(data)[:800]))
        assert got == want, "%s: %s is %r, want %r" % (what, path, got, want)


def rest_json(status, body, what, want_status=200):
    assert status == want_status, (what, status, body[:600])
    return json.loads(body)


# ---- 1. every service by SOAP and REST -------------------------------------------

def test_every_service_soap_and_rest_answered_from_sqlite(fx):
    adapters = [s for s in fx.gc.services if s.adapter]
    assert len(adapters) >= 29, adapters
    missing = [s.code for s in adapters if s.code not in CASES and s.code != "register-document"]
    assert not missing, "services with no case in this test: %s" % missing
    for svc in adapters:
        if svc.code == "register-document":
            continue
        client, gw = fx.gc.pick_client(svc)
        soap_params, segments, query, checks = CASES[svc.code]
        what = "%r as %s on %s" % (svc, client, gw)
        status, _, body = rest_call(fx, client, rest_target(svc.owner, svc.code, segments, query))
        data = rest_json(status, body, what + " (REST)")
        check_fields(data, checks, what + " (REST)")
        if not svc.soap():
            # REST-only in the demo configuration: SOAP is refused, saying so
            _, status, _, resp = soap_call(fx, client, svc, {"pin": BAKYT})
            f = h.soap_fault(resp)
            assert status == 500 and f and f["code"] == "Server.ServerProxy.UnknownService" \
                and "REST only" in f["string"], (what, status, resp[:600])
            continue
        _, status, _, resp = soap_call(fx, client, svc, soap_params)
        assert status == 200, (what + " (SOAP)", status, resp[:600])
        w = soap_wrapper(resp, svc)
        assert w.find("error") is None, (what, resp[:800])
        got = xml_like(w, data)
        assert got == data, "%s: SOAP and REST answers differ:\nSOAP %s\nREST %s" % (
            what, dumps(got)[:1500], dumps(data)[:1500])


def register_fields(title, request_id):
    sig = base64.b64encode(b"0\x82\x01\x0a" + hashlib.sha256(title.encode()).digest() * 4).decode()
    return {"request_id": request_id, "direction": "out", "doc_type": "certificate",
            "title": title, "correspondent": "Демо коммерциялык банкы ААК",
            "author": "Осмонова Айгүл", "signed_by": "Осмонов Бакыт Жумабекович",
            "signature": sig, "content_digest": hashlib.sha256(title.encode()).hexdigest()}, sig


def test_register_document_soap_flat_and_rest_json(fx):
    svc = next(s for s in fx.gc.services if s.code == "register-document")
    client, _ = fx.gc.pick_client(svc)
    fields, sig = register_fields("Справка о составе семьи LBD-0001",
                                  "reg-soap-" + str(uuid.uuid4()))
    _, status, _, resp = soap_call(fx, client, svc, fields)
    assert status == 200, (status, resp[:600])
    w = soap_wrapper(resp, svc)
    soap_ans = {c.tag: c.text for c in w}
    assert list(soap_ans) == ["registration_number", "registered_at", "signature_sha256"], soap_ans
    want_sha = hashlib.sha256(base64.b64decode(sig)).hexdigest()
    assert soap_ans["signature_sha256"] == want_sha, soap_ans
    fields2 = dict(fields, request_id="reg-rest-" + str(uuid.uuid4()),
                   title="Справка о составе семьи LBD-0002")
    body = json.dumps(fields2, ensure_ascii=False).encode()
    status, _, rbody = rest_call(fx, client, rest_target(svc.owner, svc.code), "POST", body,
                                 "application/json")
    rest_ans = rest_json(status, rbody, "register-document (REST)")
    assert list(rest_ans) == list(soap_ans), rest_ans
    assert rest_ans["signature_sha256"] == want_sha
    # two registrations, one after the other in the outgoing register
    m1 = re.fullmatch(r"ИСХ-(\d{4})-(\d{6,7})", soap_ans["registration_number"])
    m2 = re.fullmatch(r"ИСХ-(\d{4})-(\d{6,7})", rest_ans["registration_number"])
    assert m1 and m2 and m1.group(1) == m2.group(1), (soap_ans, rest_ans)
    assert int(m2.group(2)) == int(m1.group(2)) + 1, (soap_ans, rest_ans)
    # repeating the SOAP registration answers it again (same request_id)
    _, status, _, again = soap_call(fx, client, svc, fields)
    assert {c.tag: c.text for c in soap_wrapper(again, svc)} == soap_ans
    # what was registered over SOAP reads back over REST
    doc = next(s for s in fx.gc.services if s.code == "document")
    status, _, dbody = rest_call(fx, client, rest_target(doc.owner, "document",
                                                        [soap_ans["registration_number"]]))
    d = rest_json(status, dbody, "document")
    assert d["title"] == fields["title"] and d["signature_sha256"] == want_sha, d
    assert d["direction"] == "out" and d["doc_type"] == "certificate", d


# ---- 2. metaservices and descriptions ------------------------------------------------

def owners(fx):
    """Subsystems that own services, in the configuration's order."""
    out = []
    for s in fx.gc.services:
        if s.owner not in out:
            out.append(s.owner)
    return out


def test_list_methods_soap_and_rest_every_subsystem(fx):
    """listMethods lists the services a subsystem offers over that protocol:
    SOAP those of type soap/both, REST those of type rest/both; together
    every service the configuration gives the subsystem."""
    for owner in owners(fx):
        svcs = [s for s in fx.gc.services if s.owner == owner]
        anchor = svcs[0]
        _, status, _, resp = soap_call(fx, CLERK, anchor, {}, ns=XRD, code="listMethods",
                                       version=None)
        assert status == 200, (owner, status, resp[:600])
        w = ET.fromstring(resp).find("{%s}Body" % SOAP)[0]
        assert w.tag == "{%s}listMethodsResponse" % XRD, (owner, w.tag)
        got = []
        for e in w.findall("{%s}service" % XRD):
            assert "/".join(e.findtext("{%s}%s" % (IDS, k)) for k in
                            ("memberClass", "memberCode", "subsystemCode")) == owner, resp[:800]
            got.append(e.findtext("{%s}serviceCode" % IDS))
        assert sorted(got) == sorted(s.code for s in svcs if s.soap()), (owner, got)
        status, _, body = rest_call(fx, CLERK, rest_target(owner, "listMethods"))
        rest = rest_json(status, body, owner + " listMethods")["service"]
        assert all("%s/%s/%s" % (r["member_class"], r["member_code"], r["subsystem_code"]) == owner
                   for r in rest), rest
        assert sorted(r["service_code"] for r in rest) == \
            sorted(s.code for s in svcs if s.rest()), (owner, rest)
        assert {s.code for s in svcs if s.soap()} | {r["service_code"] for r in rest} == \
            {s.code for s in svcs}


def xmllint(*args, data=None):
    r = subprocess.run(["xmllint"] + list(args), input=data, capture_output=True, timeout=20)
    return r.returncode, r.stdout, r.stderr


def inline_schema(wsdl_path, ns, out_path):
    """Cuts the WSDL's inline xsd:schema of namespace ns out into out_path
    (as wsdl/validate.sh does; each schema declares its own prefixes)."""
    rc, out, err = xmllint("--xpath", "//*[local-name()='schema' and namespace-uri()='%s' and "
                           "@targetNamespace='%s']" % (XSD, ns), wsdl_path)
    assert rc == 0 and out.strip(), (wsdl_path, ns, err)
    with open(out_path, "wb") as f:
        f.write(out)


def check_served_wsdl(fx, name, wsdl, address, answer_wrapper, client):
    """The WSDL parses (xmllint), its three inline schemas compile, and a
    real answer's body wrapper and the X-Road client header validate."""
    d = tempfile.mkdtemp(dir=fx.tmp)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(wsdl)
    rc, _, err = xmllint("--noout", path)
    assert rc == 0, (name, err)
    root = ET.fromstring(wsdl)
    tns = root.get("targetNamespace")
    addrs = [a.get("location") for a in root.iter("{%s}address" % WSDL_SOAP_NS)]
    assert addrs and all(a == address for a in addrs), (name, addrs, address)
    inline_schema(path, IDS, os.path.join(d, "ids.xsd"))
    inline_schema(path, XRD, os.path.join(d, "xrd.xsd"))
    inline_schema(path, tns, os.path.join(d, "body.xsd"))
    with open(os.path.join(d, "xrd.xsd"), "rb") as f:
        xrd = f.read()
    xrd = xrd.replace(b'<xsd:import namespace="%s"/>' % IDS.encode(),
                      b'<xsd:import namespace="%s" schemaLocation="ids.xsd"/>' % IDS.encode())
    with open(os.path.join(d, "xrd.xsd"), "wb") as f:
        f.write(xrd)
    cls, mem, sub = client.split("/")
    header = ('<xrd:client xmlns:xrd="%s" xmlns:id="%s" id:objectType="SUBSYSTEM">'
              '<id:xRoadInstance>%s</id:xRoadInstance><id:memberClass>%s</id:memberClass>'
              '<id:memberCode>%s</id:memberCode><id:subsystemCode>%s</id:subsystemCode>'
              '</xrd:client>' % (XRD, IDS, INST, cls, mem, sub)).encode()
    for schema, doc in (("xrd.xsd", header), ("body.xsd", answer_wrapper)):
        rc, _, err = xmllint("--noout", "--schema", os.path.join(d, schema), "-", data=doc)
        assert rc == 0, (name, schema, err.decode(errors="replace")[:1500], doc[:400])


def wsdl_services(fx):
    """{WSDL file: the service to try it with}: a read-only one, crossing
    gateways when the access rights allow it."""
    out = {}
    for s in fx.gc.services:
        if not s.adapter or not (s.description or "").endswith(".wsdl") or \
           s.code == "register-document":
            continue
        cur = out.get(s.description)
        if cur is None or (fx.gc.pick_client(cur, True)[1] == fx.gc.host[cur.owner] and
                           fx.gc.pick_client(s, True)[1] != fx.gc.host[s.owner]):
            out[s.description] = s
    return out


def body_wrapper_bytes(resp):
    m = re.search(rb"<([\w.-]+:)?Body>(.*)</\1Body>", resp, re.S)
    assert m, resp[:400]
    return m.group(2)


def test_get_wsdl_and_wsdl_endpoint_validate(fx):
    svcs = wsdl_services(fx)
    assert len(svcs) == 10, sorted(svcs)
    for name, svc in sorted(svcs.items()):
        client, gw = fx.gc.pick_client(svc)
        soap_params = CASES[svc.code][0]
        _, status, _, resp = soap_call(fx, client, svc, soap_params)
        assert status == 200 and h.soap_fault(resp) is None, (name, status, resp[:600])
        wrapper = body_wrapper_bytes(resp)
        # getWsdl: multipart/related, the WSDL second, internal address hidden
        inner = "<xrd:serviceCode>%s</xrd:serviceCode>" % svc.code + (
            "<xrd:serviceVersion>%s</xrd:serviceVersion>" % svc.version if svc.version else "")
        _, status, hdrs, resp = soap_call(fx, client, svc, None, ns=XRD, code="getWsdl",
                                          version=None, body=inner)
        assert status == 200 and hdrs["content-type"].startswith("multipart/related"), \
            (name, status, hdrs, resp[:600])
        msg = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + hdrs["content-type"].encode() + b"\r\n\r\n" + resp)
        parts = [p.get_payload(decode=True) for p in msg.get_payload()]
        assert len(parts) == 2, (name, len(parts))
        check_served_wsdl(fx, "getWsdl-" + name, parts[1], HIDDEN, wrapper, client)
        # GET /wsdl on the client's gateway: the endpoint is that gateway
        q = {"xRoadInstance": INST, "memberClass": svc.owner.split("/")[0],
             "memberCode": svc.owner.split("/")[1], "subsystemCode": svc.owner.split("/")[2],
             "serviceCode": svc.code}
        if svc.version:
            q["version"] = svc.version
        status, hdrs, wsdl = h.request("GET", fx.ex.url(gw, "/wsdl?" + urllib.parse.urlencode(q)))
        assert status == 200 and "xml" in hdrs.get("content-type", ""), (name, status, wsdl[:300])
        check_served_wsdl(fx, "get-" + name, wsdl, fx.ex.url(gw), wrapper, client)
        with open(os.path.join(h.ROOT, "wsdl", name), "rb") as f:
            ops = {o.get("name") for o in ET.fromstring(f.read()).iter("{%s}operation" % WSDL_NS)}
        served = {o.get("name") for o in ET.fromstring(wsdl).iter("{%s}operation" % WSDL_NS)}
        assert served == ops and svc.code in served, (name, served, ops)


def zeep_headers(client, svc, msg_id, user="KG21203199000123"):
    cls, mem, sub = client.split("/")
    scls, smem, ssub = svc.owner.split("/")
    service = {"objectType": "SERVICE", "xRoadInstance": INST, "memberClass": scls,
               "memberCode": smem, "subsystemCode": ssub, "serviceCode": svc.code}
    if svc.version:
        service["serviceVersion"] = svc.version
    return {"client": {"objectType": "SUBSYSTEM", "xRoadInstance": INST, "memberClass": cls,
                       "memberCode": mem, "subsystemCode": sub},
            "service": service, "id": msg_id, "userId": user,
            "protocolVersion": "4.0"}


def plain(v):
    """zeep's values as JSON would have them (dates as text)."""
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def test_zeep_loads_each_wsdl_through_gateway_and_calls(fx):
    import zeep
    import zeep.helpers
    import zeep.transports
    svcs = wsdl_services(fx)
    crossed = 0
    for name, svc in sorted(svcs.items()):
        client, gw = fx.gc.pick_client(svc, for_user_ok=True)
        crossed += gw != fx.gc.host[svc.owner]
        o = svc.owner.split("/")
        q = {"xRoadInstance": INST, "memberClass": o[0], "memberCode": o[1], "subsystemCode": o[2],
             "serviceCode": svc.code}
        if svc.version:
            q["version"] = svc.version
        transport = zeep.transports.Transport(timeout=15, operation_timeout=15)
        zc = zeep.Client(fx.ex.url(gw, "/wsdl?" + urllib.parse.urlencode(q)), transport=transport)
        msg_id = str(uuid.uuid4())
        user = "KG" + CASES[svc.code][0][svc.subject] if svc.subject else "KG21203199000123"
        res = zc.service[svc.code](**CASES[svc.code][0],
                                   _soapheaders=zeep_headers(client, svc, msg_id, user))
        body = res.body if hasattr(res, "body") else res
        data = plain(zeep.helpers.serialize_object(body, dict))
        check_fields(data, CASES[svc.code][3], "zeep %s %s" % (name, svc.code))
        lines = [l for l in fx.ex.log(fx.gc.host[svc.owner]).splitlines()
                 if "msgid=%s" % msg_id in l and "side=server" in l or
                 ("msgid=%s" % msg_id in l and "peer=local" in l)]
        assert lines and "status=200" in lines[0], (name, lines)
    # all but edocs.wsdl cross gateways: only the municipality's own systems may call edocs
    assert crossed == len(svcs) - 1, crossed


def test_get_openapi_validates(fx):
    docs = {}
    for s in fx.gc.services:
        if s.adapter and s.openapi and s.openapi not in docs:
            docs[s.openapi] = s
    assert len(docs) == 9, sorted(docs)
    d = tempfile.mkdtemp(dir=fx.tmp)
    files = []
    for name, svc in sorted(docs.items()):
        client, _ = fx.gc.pick_client(svc)
        status, hdrs, body = rest_call(fx, client, rest_target(svc.owner, "getOpenAPI") +
                                       "?serviceCode=" + urllib.parse.quote(svc.code))
        assert status == 200, (name, status, body[:400])
        assert h.header_values(hdrs, "Content-Type")[0].startswith("application/json"), hdrs
        doc = json.loads(body)
        assert doc["openapi"].startswith("3."), (name, doc.get("openapi"))
        assert any(svc.code in p for p in doc["paths"]), (name, list(doc["paths"]))
        files.append(os.path.join(d, name))
        with open(files[-1], "wb") as f:
            f.write(body)
    oav = next((p for p in OAV_DIRS if os.path.exists(
        os.path.join(p, "node_modules", "@apidevtools", "swagger-parser", "package.json"))), None)
    if oav is None or shutil.which("node") is None:
        print("SKIP: OpenAPI validation of getOpenAPI answers (no node or no "
              "@apidevtools/swagger-parser in %s; ops/check.sh installs it)"
              % " or ".join(OAV_DIRS))
        return
    r = subprocess.run(["node", os.path.join(h.ROOT, "wsdl", "check-openapi.js")] + files,
                       env=dict(os.environ, NODE_PATH=os.path.join(oav, "node_modules")),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout.decode()[-2000:], r.stderr.decode()[-2000:])
    assert r.stdout.decode().count("valid OpenAPI") == len(files), r.stdout


# ---- 3. the same services bound to a stand-in provider's URL --------------------------

def household_targets(fx):
    """(code, path segments) to ask both bindings: every household by id and
    every member's family by PIN, plus the hard cases and the errors."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(fx.ex.dir, "data", "municipality",
                                                          "household.db"), uri=True)
    try:
        ids = [r[0] for r in db.execute("SELECT id FROM households ORDER BY id")]
        pins = [r[0] for r in db.execute("SELECT DISTINCT pin FROM persons WHERE pin IS NOT NULL "
                                         "ORDER BY pin")]
    finally:
        db.close()
    assert len(ids) == 30 and len(pins) > 100, (len(ids), len(pins))
    out = [("household", [i]) for i in ids] + [("family-members", [p]) for p in pins]
    out += [("address-fact", [p]) for p in pins[::10]]
    out += [
        ("household-by-document", ["KAZ", "N1234567"]),     # foreign owner without a PIN
        ("household-by-document", [" kz ", "n1234567"]),    # alpha-2, lower case, spaces
        ("household", ["lbd-0003"]),                        # undigitised child, no cadastral code
        ("address-fact", [ZHYLDYZ]),
        ("family-members", [PENDING]),                      # not in register
        ("address-fact", [PENDING]),
        ("family-members", [NOBODY]),                       # not found
        ("household", ["LBD-9999"]),
        ("household-by-document", ["KAZ", "N9999999"]),
        ("family-members", [DUPLICATE]),                    # failed: two people, one PIN
        ("family-members", [SHORT]),                        # invalid
        ("family-members", ["31205197500417"]),             # sex digit
        ("family-members", ["21302197500417"]),             # 13th month
        ("family-members", ["21205209900417"]),             # born in 2099
        ("address-fact", ["2120519750041X"]),
        ("household", ["LBD-0001" + INJECT]),               # injection-shaped
        ("household-by-document", ["KAZ", "N1234567' OR 1=1"]),
        ("household-by-document", ["XX", "N1234567"]),
        ("household-by-document", ["K4Z", "N1234567"]),
        ("household", ["A" * 33]),
    ]
    return out


def consent_minimised(answer, subject):
    """What the gateway's adapter binding answers under subject's consent
    (store/consent.h, consent_minimise): other people by relation and initials."""
    if isinstance(answer, list):
        return [consent_minimised(v, subject) for v in answer]
    if not isinstance(answer, dict):
        return answer
    if "pin" in answer and answer["pin"] != subject and ("first_name" in answer or "last_name" in answer):
        out = dict(answer)
        for k in ("pin", "patronymic", "birth_date", "sex", "document", "registered_on"):
            if k in out:
                out[k] = None
        for k in ("first_name", "last_name"):
            if out.get(k):
                out[k] = out[k][0] + "."
        return out
    return {k: consent_minimised(v, subject) for k, v in answer.items()}


def compare_rest(fx, client, code, segments, gw=None, consent_of=None):
    """Calls code on the adapter's and on the stand-in's binding; asserts the
    same status, and the same bytes for an answer or the same error code.
    consent_of: answered under that person's consent, which the adapter
    binding minimises (a provider system by URL answers for itself: the
    gateway passes its bytes as they are), so the stand-in's answer is
    compared minimised."""
    a = rest_call(fx, client, rest_target("GOV/70000050/sanaripaymak-service", code, segments),
                  gw=gw)
    b = rest_call(fx, client, rest_target(MIRROR_HH, code, segments), gw=gw)
    what = "%s/%s" % (code, "/".join(segments))
    assert a[0] == b[0], (what, a[0], a[2][:300], b[0], b[2][:300])
    ja, jb = json.loads(a[2]), json.loads(b[2])
    for hdrs in (a[1], b[1]):
        assert not h.header_values(hdrs, "X-Road-Error"), (what, hdrs)
    if a[0] == 200 and consent_of:
        assert ja == consent_minimised(jb, consent_of), "%s: answers differ\nadapter  %s\nstand-in %s" % (
            what, dumps(ja)[:1500], dumps(jb)[:1500])
        assert ja != jb, (what, "nobody else in the answer: the case shows nothing")
    elif a[0] == 200:
        assert ja == jb, "%s: answers differ\nadapter  %s\nstand-in %s" % (
            what, dumps(ja)[:1500], dumps(jb)[:1500])
        assert a[2] == b[2], (what, "same JSON, other bytes (key order or escaping)",
                              a[2][:300], b[2][:300])
    else:
        assert list(ja) == list(jb) == ["error", "message", "request_id"], (what, ja, jb)
        assert ja["error"] == jb["error"], (what, ja, jb)
    return a[0], ja


def test_stand_in_household_rest_same_answers(fx):
    statuses = {}
    for code, segments in household_targets(fx):
        status, data = compare_rest(fx, CLERK, code, segments)
        key = data.get("error", status)
        statuses[key] = statuses.get(key, 0) + 1
    # every outcome class was compared
    assert set(statuses) == {200, "invalid_input", "not_found", "not_in_register", "failed"}, \
        statuses
    # and from the bank's gateway (across two gateways to both bindings), with
    # the persons' consent (the resident record needs it: issue 5)
    h.grant_consent(fx.ex, BAKYT)
    h.grant_consent(fx.ex, PENDING)
    compare_rest(fx, "COM/60000001/bank-is", "family-members", [BAKYT], gw="bank", consent_of=BAKYT)
    compare_rest(fx, "COM/60000001/bank-is", "family-members", [PENDING], gw="bank", consent_of=PENDING)


def test_stand_in_population_soap_same_answers(fx):
    adapter = next(s for s in fx.gc.services if s.code == "passportDataByPSN" and s.adapter)
    mirror = next(s for s in fx.gc.services if s.owner == MIRROR_POP)
    pins = [BAKYT, "21003194800215",    # deceased, void passport
            DUPLICATE,                   # duplicate PIN: both people
            "11903201500432",            # child without a passport
            "22708198600042",            # no registered address
            "20905199300077",            # no patronymic
            "11704199000310",            # flat in Bishkek
            "10212202300051", ZHYLDYZ, KULUIPA, PENDING,
            NOBODY, SHORT, "  %s\n   " % BAKYT, BAKYT + INJECT, "21205209900417", "",
            "<>&\"'"]
    for pin in pins:
        answers = []
        for svc in (adapter, mirror):
            _, status, _, resp = soap_call(fx, CLERK, svc, {"pin": pin},
                                           ns="http://tunduk.kg/passport")
            assert status == 200, (svc, pin, status, resp[:600])
            answers.append(resp)
        wa = soap_wrapper(answers[0], adapter, ns="http://tunduk.kg/passport")
        wb = soap_wrapper(answers[1], mirror, ns="http://tunduk.kg/passport")
        if wa.find("error") is not None:
            assert wb.find("error") is not None, (pin, answers[1][-600:])
            assert wa.findtext("error/code") == wb.findtext("error/code"), (pin, answers)
            continue
        assert ET.tostring(wa) == ET.tostring(wb), (pin, answers[0][-800:], answers[1][-800:])
        # the body is the same, byte for byte
        assert body_wrapper_bytes(answers[0]) == body_wrapper_bytes(answers[1]), pin
        # and the provider's gateway added the requestHash to the stand-in's answer too
        assert h.soap_header_value(answers[1], "requestHash")[0], answers[1][:600]


def test_stand_in_rest_503_passes_unchanged(fx):
    target = rest_target(MIRROR_HH, "family-members", [BAKYT])
    fx.standin.unavailable = True
    try:
        status, hdrs, body = rest_call(fx, CLERK, target)
        status_bank, _, body_bank = rest_call(fx, "COM/60000001/bank-is", target, gw="bank")
    finally:
        fx.standin.unavailable = False
    for st, b in ((status, body), (status_bank, body_bank)):
        assert st == 503, (st, b[:300])
        err = json.loads(b)
        assert list(err) == ["error", "message", "request_id"], err
        assert err["error"] == "registry_unavailable", err
    # unchanged: the stand-in's own body (request_id = the X-Road-Id it was given) and headers
    sent = json.loads(body)
    assert sent["request_id"] == h.header_values(hdrs, "X-Road-Id")[0], (sent, hdrs)
    assert h.header_values(hdrs, "Retry-After") == ["30"], hdrs
    assert not h.header_values(hdrs, "X-Road-Error"), hdrs
    assert h.header_values(hdrs, "X-Road-Service") == ["%s/%s/family-members" % (INST, MIRROR_HH)]
    # back up: answers again
    status, _, body = rest_call(fx, CLERK, target)
    assert status == 200 and json.loads(body)["household_id"] == "LBD-0001", (status, body[:300])


# ---- 4. the clerk's request sequence (README.md) --------------------------------------

# the services in the order README.md's section names them (clerk_sequence calls them so)
SEQUENCE = ["family-members", "household", "passportDataByPSN", "person-properties",
            "social-categories", "person-properties-by-document", "livestock", "debt"]


def clerk_get(fx, owner, code, *segments):
    """One REST step of the sequence, as the clerk's system sends it: through
    the municipality's gateway as household-register. (status, JSON)."""
    status, _, body = rest_call(fx, CLERK, rest_target(owner, code, segments), gw="municipality")
    return status, json.loads(body)


def clerk_passport(fx, pin):
    svc = next(s for s in fx.gc.services if s.code == "passportDataByPSN" and s.adapter)
    _, status, _, resp = soap_call(fx, CLERK, svc, {"pin": pin}, gw="municipality")
    assert status == 200, (pin, status, resp[:600])
    w = soap_wrapper(resp, svc)
    assert w.find("error") is None, (pin, resp[-600:])
    return w


def test_registry_text_xml_cannot_carry(fx):
    """A registry field holding a byte XML 1.0 cannot carry (a vertical tab
    pasted into a birth place, U+FFFF): the SOAP answer replaces each with
    U+FFFD and stays well-formed and signed end to end - it used to go out as
    is and the client gateway refused the whole answer as malformed XML; the
    REST answer keeps the JSON escape. A NUL byte is replaced the same way
    and what follows it kept (the SOAP text used to end at it)."""
    path = os.path.join(fx.ex.dir, "data", "state", "population.db")
    db = sqlite3.connect(path, timeout=10)
    try:
        (old,) = db.execute("SELECT birth_place FROM person WHERE pin = ?", (BAKYT,)).fetchone()
        db.execute("UPDATE person SET birth_place = ? WHERE pin = ?",
                   ("\u041e\u0448\x0b\u0448\u0430\u0430\u0440\u044b\uffff\x00\u0410", BAKYT))
        db.commit()
        w = clerk_passport(fx, BAKYT)
        places = [e.text for e in w.iter() if e.tag.endswith("birth_place")]
        assert places == ["\u041e\u0448\ufffd\u0448\u0430\u0430\u0440\u044b\ufffd\ufffd\u0410"], places
        owner = next(s for s in fx.gc.services if s.code == "passportDataByPSN" and s.adapter).owner
        status, _, body = rest_call(fx, CLERK, rest_target(owner, "passportDataByPSN", [BAKYT]),
                                    gw="municipality")
        assert status == 200, (status, body[:600])
        place = json.loads(body)["person"][0]["birth_place"]
        assert place == "\u041e\u0448\x0b\u0448\u0430\u0430\u0440\u044b\uffff\x00\u0410", ascii(place)
    finally:
        db.execute("UPDATE person SET birth_place = ? WHERE pin = ?", (old, BAKYT))
        db.commit()
        db.close()


def clerk_sequence(fx, pin):
    """README.md "A clerk's request sequence", step by step. Returns what the
    clerk has in the end: {"family", "household", "members": [{"member",
    "passport", "properties", "categories"}], "livestock": (status, JSON),
    "debt"}."""
    status, family = clerk_get(fx, "GOV/70000050/sanaripaymak-service", "family-members", pin)
    assert status == 200, (pin, family)
    status, hh = clerk_get(fx, "GOV/70000050/sanaripaymak-service", "household",
                           family["household_id"])
    assert status == 200, (pin, hh)
    out = {"family": family, "household": hh, "members": []}
    for m in hh["members"]:
        seen = {"member": m, "passport": None, "properties": None, "categories": None}
        if m["pin"]:
            seen["passport"] = clerk_passport(fx, m["pin"])
            status, seen["properties"] = clerk_get(fx, "GOV/70000019/dkrpni-service",
                                                   "person-properties", m["pin"])
            assert status == 200, (m, seen["properties"])
            status, seen["categories"] = clerk_get(fx, "GOV/70000050/social-passport",
                                                   "social-categories", m["pin"])
            assert status == 200, (m, seen["categories"])
        elif m["document"]:
            status, seen["properties"] = clerk_get(fx, "GOV/70000019/dkrpni-service",
                                                   "person-properties-by-document",
                                                   m["citizenship"], m["document"]["number"])
            assert status == 200, (m, seen["properties"])
        else:
            # an undigitised birth record: nothing to ask by person
            assert "pin" in m["missing_fields"] and not m["birth_record_digitised"], m
        out["members"].append(seen)
    out["livestock"] = clerk_get(fx, "GOV/70000031/vet-registry", "livestock", hh["household_id"])
    status, out["debt"] = clerk_get(fx, "GOV/70000050/billing", "debt", hh["household_id"])
    assert status == 200, out["debt"]
    return out


def enis(props):
    return {p["eni"] for p in props["properties"]}


def check_members_agree(seen):
    """The population registry knows each member as the household register does."""
    for s in seen["members"]:
        m = s["member"]
        if s["passport"] is None:
            continue
        assert s["passport"].findtext("duplicate_pin") == "false", m
        p = s["passport"].find("person")
        assert (p.findtext("surname"), p.findtext("name"), p.findtext("birth_date")) == \
            (m["last_name"], m["first_name"], m["birth_date"]), (m, ET.tostring(p)[:400])
        assert s["categories"]["pin"] == m["pin"] and s["properties"]["pin"] == m["pin"]


def test_clerk_sequence_household_lbd_0001(fx):
    seen = clerk_sequence(fx, BAKYT)
    hh = seen["household"]
    assert {k: v for k, v in seen["family"].items() if k != "pin"} == hh
    assert hh["household_id"] == "LBD-0001" and hh["member_count"] == 5, hh
    assert [s["member"]["pin"] for s in seen["members"]] == \
        [BAKYT, "10309197901235", "22211200100562", "11402200500893", KULUIPA]
    check_members_agree(seen)
    by_pin = {s["member"]["pin"]: s for s in seen["members"]}
    # the house, half each to the spouses; his agricultural share; the son's flat in Bishkek
    assert {hh["cadastral_code"], "7100600510234"} <= enis(by_pin[BAKYT]["properties"])
    assert hh["cadastral_code"] in enis(by_pin["10309197901235"]["properties"])
    assert enis(by_pin["22211200100562"]["properties"]) == {"102020007000101061"}
    assert by_pin[BAKYT]["passport"].findtext("person/passport/number") == "2345671"
    assert by_pin[BAKYT]["categories"]["categories"] == []
    cats = {(c["category"], c["active"]) for c in by_pin[KULUIPA]["categories"]["categories"]}
    assert ("disability", True) in cats and ("labour_veteran", True) in cats, cats
    status, vet = seen["livestock"]
    assert status == 200 and vet["total_head_count"] == 31 and vet["owner"]["pin"] == BAKYT, vet
    assert vet["data_age_days"] == 40, vet
    debt = seen["debt"]
    assert debt["has_debt"] is False and debt["total_debt_tyiyn"] == 0, debt


def test_clerk_sequence_foreign_owner_and_unregistered_house(fx):
    """The hard cases along the same sequence: LBD-0002 (owner a Kazakh
    citizen without a PIN, asked by document) and LBD-0003 (house without a
    cadastral code, a child with no digitised birth record, stale livestock
    data, a debt)."""
    seen = clerk_sequence(fx, ZHYLDYZ)
    head = seen["members"][0]
    assert head["member"]["pin"] is None and head["passport"] is None, head["member"]
    assert enis(head["properties"]) == {seen["household"]["cadastral_code"]} == {"7100600330102"}
    assert head["properties"]["properties"][0]["rights"][0]["holder_type"] == "foreign_person"
    check_members_agree(seen)
    status, vet = seen["livestock"]
    assert status == 200 and vet["owner"]["pin"] is None and \
        vet["owner"]["document"]["number"] == "N1234567", vet
    debt = seen["debt"]
    assert debt["has_debt"] is False and debt["total_credit_som"] == "730.00", debt   # overpaid

    seen = clerk_sequence(fx, USON)
    hh = seen["household"]
    assert hh["cadastral_code"] is None and hh["house_registered"] is False, hh
    emir = [s for s in seen["members"] if s["member"]["first_name"] == "Эмир"]
    assert len(emir) == 1 and emir[0]["properties"] is None and emir[0]["passport"] is None
    assert emir[0]["member"]["missing_fields"] == ["pin", "birth_date"], emir[0]["member"]
    check_members_agree(seen)
    by_pin = {s["member"]["pin"]: s for s in seen["members"]}
    assert enis(by_pin[USON]["properties"]) == {"7100600510871"}      # the plot, no house
    assert by_pin["10512199100267"]["properties"]["owns_property"] is False
    status, vet = seen["livestock"]
    assert status == 200 and vet["data_age_days"] == 500, vet          # stale: a certifier refuses
    assert seen["debt"]["has_debt"] is True, seen["debt"]


def test_clerk_sequence_livestock_not_in_register(fx):
    """LBD-0004's household is entered but the veterinary registry has no
    data: 404 not_in_register, never "no animals"."""
    status, data = clerk_get(fx, "GOV/70000031/vet-registry", "livestock", "LBD-0004")
    assert status == 404 and data["error"] == "not_in_register", data
    assert "LBD-0004" in data["message"], data


def readme_clerk_section():
    with open(os.path.join(h.ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^### A clerk's request sequence.*?(?=^##)", text, re.S | re.M)
    assert m, "README.md has no section \"### A clerk's request sequence\""
    return m.group(0)


def test_readme_documents_the_clerk_sequence(fx):
    """README.md's section names the same services, in the same order, as
    clerk_sequence() calls them, through the municipality's gateway as
    household-register."""
    text = readme_clerk_section()
    codes = []
    for m in re.finditer(r"/(?:GOV|COM)/\d+/[\w-]+/([\w-]+)|<(?:\w+:)?(passportDataByPSN)\b", text):
        code = m.group(1) or m.group(2)
        if code in SEQUENCE and code not in codes:
            codes.append(code)
    assert codes == SEQUENCE, (
        "README.md's clerk section names %s; this test's sequence (clerk_sequence) is %s"
        % (codes, SEQUENCE))
    assert "127.0.0.1:8080" in text and "GOV/70000050/household-register" in text, text[:400]


# ---- 5. error classes of every adapter through the exchange ------------------------------

# (service code, expected error, REST path segments, REST query, SOAP params)
ERRORS = [
    # household register
    ("family-members", "invalid_input", [SHORT], {}, {"pin": SHORT}),
    ("family-members", "not_found", [NOBODY], {}, {"pin": NOBODY}),
    ("family-members", "not_in_register", [PENDING], {}, {"pin": PENDING}),
    ("household", "invalid_input", ["LBD-0001" + INJECT], {}, {"id": "LBD-0001" + INJECT}),
    # population registry
    ("passportDataByPSN", "invalid_input", [SHORT], {}, {"pin": SHORT}),
    ("passportDataByPSN", "not_found", [NOBODY], {}, {"pin": NOBODY}),
    ("passportDataByPSN", "invalid_input", [BAKYT + INJECT], {}, {"pin": BAKYT + INJECT}),
    ("bankPinService", "invalid_input", [BAKYT], {"series": "I1", "number": "2345671"},
     {"pin": BAKYT, "series": "I1", "number": "2345671"}),
    # cadastre
    ("GetPropertyInfo", "invalid_input", ["1-2-2-7-1"], {}, {"eni": "1-2-2-7-1"}),
    ("GetPropertyInfo", "not_found", ["7100600339999"], {}, {"eni": "7100600339999"}),
    ("GetPropertyInfo", "invalid_input", ["7100600330016'; DROP TABLE properties; --"], {},
     {"eni": "7100600330016'; DROP TABLE properties; --"}),
    # veterinary registry
    ("livestock", "invalid_input", ["LBD_0001"], {}, {"household_id": "LBD_0001"}),
    ("livestock", "not_in_register", ["LBD-0004"], {}, {"household_id": "LBD-0004"}),
    ("livestock-by-owner", "not_in_register", ["10309197901235"], {}, {"pin": "10309197901235"}),
    ("livestock", "invalid_input", ["LBD-0001" + INJECT], {},
     {"household_id": "LBD-0001" + INJECT}),
    # bank registry
    ("account-check", "invalid_input", [BAKYT, "129001000037740"], {},
     {"pin": BAKYT, "account": "129001000037740"}),
    ("benefit-account", "not_found", [BAKYT], {}, {"pin": BAKYT}),
    ("account-check", "invalid_input", [BAKYT, "1290010000377401 OR 1=1"], {},
     {"pin": BAKYT, "account": "1290010000377401 OR 1=1"}),
    # social passport
    ("category-status", "invalid_input", [KULUIPA, "pensioner"], {},
     {"pin": KULUIPA, "category": "pensioner"}),
    ("social-categories", "not_found", [NOBODY], {}, {"pin": NOBODY}),
    ("category-status", "invalid_input", [KULUIPA, "disability' OR '1'='1"], {},
     {"pin": KULUIPA, "category": "disability' OR '1'='1"}),
    # e-kyzmat
    ("length-of-service", "invalid_input", [BAKYT], {"on": "2023-02-29"},
     {"pin": BAKYT, "on": "2023-02-29"}),
    ("employee", "not_found", ["11402200500893"], {}, {"pin": "11402200500893"}),
    # a misspelt parameter is refused, not answered as if absent (was: today's length of service)
    ("length-of-service", "invalid_input", [BAKYT], {"onn": "2010-01-01"}, {"pin": BAKYT, "onn": "2010-01-01"}),
    ("vacancies", "invalid_input", [], {"department": "finance' OR 1=1 --"},
     {"department": "finance' OR 1=1 --"}),
    # electronic documents
    ("document", "invalid_input", ["BX-2026-000001"], {}, {"number": "BX-2026-000001"}),
    ("document", "not_found", ["ИСХ-2026-999999"], {}, {"number": "ИСХ-2026-999999"}),
    ("document", "invalid_input", ["ВХ-2025-000005' OR '1'='1"], {},
     {"number": "ВХ-2025-000005' OR '1'='1"}),
    # utility billing
    ("debt", "invalid_input", ["LBD-0001"], {"on": "2099-01-01"},
     {"household_id": "LBD-0001", "on": "2099-01-01"}),
    ("accounts", "not_found", [NOBODY], {}, {"pin": NOBODY}),
    ("accounts", "not_in_register", [PENDING], {}, {"pin": PENDING}),
    ("household-accounts", "invalid_input", ["LBD-0001" + INJECT], {},
     {"household_id": "LBD-0001" + INJECT}),
]


def test_error_classes_every_adapter_rest_and_soap(fx):
    by_code = {s.code: s for s in fx.gc.services if s.adapter}
    covered = {}
    for code, want, segments, query, soap_params in ERRORS:
        svc = by_code[code]
        client, _ = fx.gc.pick_client(svc)
        what = "%r %s/%s" % (svc, "/".join(segments), query)
        status, hdrs, body = rest_call(fx, client, rest_target(svc.owner, code, segments, query))
        assert status == (400 if want == "invalid_input" else 404), (what, status, body[:400])
        err = json.loads(body)
        assert err["error"] == want and err["message"], (what, err)
        assert err["request_id"] == h.header_values(hdrs, "X-Road-Request-Id")[0], (what, err, hdrs)
        assert not h.header_values(hdrs, "X-Road-Error"), (what, hdrs)
        if soap_params is not None:
            assert svc.soap(), svc
            _, status, _, resp = soap_call(fx, client, svc, soap_params)
            assert status == 200, (what, status, resp[:600])
            w = soap_wrapper(resp, svc)
            assert [c.tag for c in w] == ["error"], (what, resp[-600:])
            assert w.findtext("error/code") == want and w.findtext("error/message"), \
                (what, resp[-600:])
        covered.setdefault(svc.adapter, set()).add(want)
    assert set(covered) == {s.adapter for s in by_code.values()}, covered
    for adapter in ("household", "billing", "veterinary"):
        assert "not_in_register" in covered[adapter], covered
    for adapter, kinds in covered.items():
        assert "invalid_input" in kinds, (adapter, kinds)
    # the injection-shaped values changed nothing: the same services still answer
    for code in {e[0] for e in ERRORS}:
        svc = by_code[code]
        client, _ = fx.gc.pick_client(svc)
        _, segments, query, checks = CASES[code]
        status, _, body = rest_call(fx, client, rest_target(svc.owner, code, segments, query))
        check_fields(rest_json(status, body, code), checks, code)


# ---- one value per parameter ---------------------------------------------------
# A parameter given twice (path and query, two query keys, two body elements),
# an empty or extra path segment, or a method the service does not answer is
# refused with a client fault rather than guessed.

def test_parameters_have_exactly_one_value(fx):
    fam = "GOV/70000050/sanaripaymak-service"
    cases = [
        ("query repeats the path parameter", rest_target(fam, "family-members", [BAKYT], {"pin": NOBODY}),
         "GET", 400, "Client.BadRequest", "given more than once"),
        ("empty path segment", rest_target(fam, "family-members") + "//" + BAKYT,
         "GET", 400, "Client.BadRequest", "empty path segment"),
        ("extra segment after an empty one", rest_target(fam, "family-members", [BAKYT]) + "//x",
         "GET", 400, "Client.BadRequest", "empty path segment"),
        ("repeated query key", rest_target("GOV/70000031/vet-registry", "livestock", ["LBD-0001"]) +
         "?on=2024-01-01&on=2099-01-01", "GET", 400, "Client.BadRequest", "given more than once"),
        ("POST on a GET service", rest_target(fam, "family-members", [BAKYT]),
         "POST", 405, "Client.InvalidHttpMethod", "answers GET, not POST"),
    ]
    for what, target, method, status, code, words in cases:
        st, hdrs, body = rest_call(fx, CLERK, target, method=method,
                                   body=b"{}" if method == "POST" else None,
                                   ctype="application/json" if method == "POST" else None)
        assert st == status, (what, st, body[:300])
        err = json.loads(body)
        assert err["type"] == code and words in err["message"], (what, err)
        assert h.header_values(hdrs, "X-Road-Error") == [code], (what, hdrs)
        if status == 405:   # RFC 9110: a 405 names the methods the resource answers
            assert h.header_values(hdrs, "Allow") == ["GET, HEAD"], (what, hdrs)
    # every REST operation's description declares that 405 (it did not)
    for name in os.listdir(os.path.join(h.ROOT, "wsdl")):
        if name.endswith(".openapi.json"):
            doc = json.load(open(os.path.join(h.ROOT, "wsdl", name)))
            for path, ops in doc["paths"].items():
                for m, op in ops.items():
                    if isinstance(op, dict) and "responses" in op:
                        assert "405" in op["responses"], (name, path, m)
    # the service names every path parameter it takes in the message
    st, _, body = rest_call(fx, CLERK, rest_target("GOV/70000050/social-passport", "category-status",
                                                   [BAKYT, "disability", "x"]))
    assert st == 400 and "category-status/{pin}/{category}" in json.loads(body)["message"], body
    # a parameter the service does not read: refused naming those it reads
    st, _, body = rest_call(fx, CLERK, rest_target("GOV/70000050/sanaripaymak-service", "family-members",
                                                   [BAKYT], {"on": "2010-01-01"}))
    err = json.loads(body)
    assert st == 400 and err["error"] == "invalid_input", (st, body[:300])
    assert err["message"] == "unknown parameter 'on'; family-members reads pin", err
    # SOAP: two <pin> elements
    svc = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
    req = h.soap_request((INST, "GOV", "70000050", "household-register"), svc,
                         "<pin>%s</pin><pin>%s</pin>" % (BAKYT, NOBODY), msg_id=str(uuid.uuid4()))
    st, _, resp = h.request("POST", fx.ex.url("municipality"), req, {"Content-Type": "text/xml"})
    f = h.soap_fault(resp)
    assert st == 400 and f and f["code"] == "Client.BadRequest", (st, resp[:400])
    assert "'pin' appears more than once" in f["string"], f
