"""A stand-in for two registries' own information systems, written apart
from the adapters: it reads the SQLite databases the adapters created and
answers by the contracts in adapters/household/README.md (REST) and
adapters/population/README.md (SOAP), so that the same service bound to an
adapter and bound to this provider's URL can be compared answer by answer.

  GET  /household/family-members/{pin}
  GET  /household/address-fact/{pin}
  GET  /household/household/{id}
  GET  /household/household-by-document/{citizenship}/{document}
       JSON as the household adapter answers it (same keys, same order,
       compact, UTF-8); errors {"error","message","request_id"} with 400
       invalid_input, 404 not_found / not_in_register, 500 failed,
       503 registry_unavailable
  POST /population/soap
       SOAP passportDataByPSN: the request's Envelope start tag and Header
       repeated verbatim, the body wrapper passportDataByPSNResponse in the
       request wrapper's namespace holding the answer by the core's JSON-to-XML
       rule (gateway/core/render.c); business errors as
       <error><code/><message/></error>

Setting `unavailable` makes every REST answer 503 registry_unavailable (with
Retry-After), as a registry under maintenance would. Each request is
recorded (method, target, headers) for the test to look at.
"""
import datetime
import http.server
import json
import re
import sqlite3
import threading
import urllib.parse
import xml.etree.ElementTree as ET

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI_NIL = '<%s xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>'
KEY_MAX = 32                    # household ids and document numbers
PARAM_MAX = 63                  # population: longest parameter accepted
HTTP_STATUS = {"invalid_input": 400, "not_found": 404, "not_in_register": 404,
               "failed": 500, "registry_unavailable": 503}
ALPHA2 = {"KG": "KGZ", "KZ": "KAZ", "UZ": "UZB", "TJ": "TJK", "TM": "TKM", "RU": "RUS",
          "CN": "CHN", "TR": "TUR", "AF": "AFG", "UA": "UKR", "BY": "BLR", "KR": "KOR",
          "DE": "DEU", "US": "USA"}


class Refusal(Exception):
    """A business outcome other than an answer: code (README's status) and
    a message for a person."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# ---- the rules both registries share (domain.md) -----------------------------

def pin_problem(pin, today=None):
    """None if pin is a well-formed PIN (14 digits, sex digit 1/2, digits
    2-9 a real date DDMMYYYY from 1900 and not after today), else why."""
    if not pin:
        return "PIN is missing"
    if len(pin) != 14:
        return "PIN must be 14 digits; got %d" % len(pin)
    for i, ch in enumerate(pin):
        if ch not in "0123456789":
            return "PIN must contain digits only; character %d is not a digit" % (i + 1)
    if pin[0] not in "12":
        return "PIN must start with 1 (female) or 2 (male); got %s" % pin[0]
    d, m, y = int(pin[1:3]), int(pin[3:5]), int(pin[5:9])
    try:
        born = datetime.date(y, m, d)
    except ValueError:
        return "PIN digits 2-9 must be the birth date DDMMYYYY; %s is not a date" % pin[1:9]
    if y < 1900:
        return "PIN birth year %04d is before 1900" % y
    if born > (today or datetime.date.today()):
        return "PIN birth date %02d.%02d.%04d is in the future" % (d, m, y)
    return None


def strip_ws(s):
    return (s or "").strip(" \t\r\n")


def key_or_none(s):
    """Household ids and document numbers: 1-32 of A-Z a-z 0-9 -, upper-cased."""
    if not s or len(s) > KEY_MAX or not re.fullmatch(r"[A-Za-z0-9-]+", s):
        return None
    return s.upper()


def citizenship_or_none(s):
    if not re.fullmatch(r"[A-Za-z]{2,3}", s or ""):
        return None
    s = s.upper()
    return s if len(s) == 3 else ALPHA2.get(s)


def open_ro(path):
    """A read-only connection; any failure is the registry being unavailable."""
    db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=1.0)
    db.row_factory = sqlite3.Row
    return db


# ---- household register --------------------------------------------------------

class Household:
    """The household register's answers, from its database."""

    def __init__(self, path):
        self.path = path

    def _household(self, db, hid):
        r = db.execute("SELECT * FROM households WHERE id = ?", (hid,)).fetchone()
        if r is None:
            raise Refusal("not_found", "no household with id %s" % hid)
        return {"household_id": r["id"],
                "address": {k: r[k] for k in ("region", "district", "ayil_okmotu", "village",
                                              "street", "house")},
                "cadastral_code": r["cadastral_code"],
                "house_registered": r["cadastral_code"] is not None,
                "registered_on": r["registered_on"]}

    @staticmethod
    def _member(r):
        foreign = r["citizenship"] != "KGZ"
        missing = []
        if r["pin"] is None and not foreign:
            missing.append("pin")
        if r["document_number"] is None and foreign:
            missing.append("document")
        if r["birth_date"] is None:
            missing.append("birth_date")
        if r["sex"] is None:
            missing.append("sex")
        doc = None
        if r["document_number"] is not None:
            doc = {"type": r["document_type"], "number": r["document_number"]}
        return {"pin": r["pin"], "last_name": r["last_name"], "first_name": r["first_name"],
                "patronymic": r["patronymic"], "birth_date": r["birth_date"], "sex": r["sex"],
                "relation": r["relation"], "relation_ky": r["ky"], "relation_ru": r["ru"],
                "citizenship": r["citizenship"], "document": doc,
                "birth_record_digitised": bool(r["birth_record_digitised"]),
                "registered_on": r["registered_on"], "missing_fields": missing}

    def _with_members(self, db, hid):
        out = self._household(db, hid)
        rows = db.execute("SELECT p.*, r.ky, r.ru FROM persons p JOIN relations r"
                          " ON r.code = p.relation WHERE p.household_id = ?", (hid,)).fetchall()
        # head first, then in order of entry
        rows.sort(key=lambda r: (r["relation"] != "head", r["id"]))
        out["members"] = [self._member(r) for r in rows]
        out["member_count"] = len(rows)
        return out

    def _person(self, db, pin):
        why = pin_problem(pin)
        if why:
            raise Refusal("invalid_input", why)
        rows = db.execute("SELECT * FROM persons WHERE pin = ?", (pin,)).fetchall()
        if len(rows) > 1:
            raise Refusal("failed", "PIN %s is recorded for more than one person (a duplicate "
                          "PIN from the 1990s); the municipality has to resolve it" % pin)
        if rows:
            return rows[0]
        p = db.execute("SELECT * FROM pending_persons WHERE pin = ?", (pin,)).fetchone()
        if p is not None:
            raise Refusal("not_in_register",
                          "PIN %s is on the municipality's population list (%s of %s) but the "
                          "person's household has not been entered in the register yet"
                          % (pin, p["source"], p["listed_on"]))
        raise Refusal("not_found", "no person with PIN %s in the household register or the "
                      "municipality's population list" % pin)

    def family_members(self, db, pin):
        pin = strip_ws(pin)
        person = self._person(db, pin)
        out = self._with_members(db, person["household_id"])
        out["pin"] = pin
        return out

    def address_fact(self, db, pin):
        pin = strip_ws(pin)
        p = self._person(db, pin)
        out = {"pin": pin, "last_name": p["last_name"], "first_name": p["first_name"],
               "patronymic": p["patronymic"], "registered_on": p["registered_on"]}
        hh = self._household(db, p["household_id"])
        del hh["registered_on"]      # the person's own date, not the household's
        out.update(hh)
        return out

    def household(self, db, hid):
        key = key_or_none(strip_ws(hid))
        if key is None:
            raise Refusal("invalid_input", "household id must be 1-32 letters, digits or '-', "
                          "e.g. LBD-0001")
        return self._with_members(db, key)

    def household_by_document(self, db, citizenship, document):
        cit = citizenship_or_none(strip_ws(citizenship))
        if cit is None:
            raise Refusal("invalid_input",
                          "citizenship must be an ISO 3166 alpha-3 country code, e.g. KAZ")
        doc = key_or_none(strip_ws(document))
        if doc is None:
            raise Refusal("invalid_input", "document number must be 1-32 letters, digits or "
                          "'-', e.g. N1234567")
        rows = db.execute("SELECT household_id FROM persons WHERE citizenship = ? AND "
                          "document_number = ?", (cit, doc)).fetchall()
        if not rows:
            raise Refusal("not_found", "no member with %s document %s in the household "
                          "register" % (cit, doc))
        if len(rows) > 1:
            raise Refusal("failed", "%s document %s is recorded for more than one person; the "
                          "municipality has to resolve it" % (cit, doc))
        return self._with_members(db, rows[0]["household_id"])

    ROUTES = {"family-members": ("family_members", 1), "address-fact": ("address_fact", 1),
              "household": ("household", 1),
              "household-by-document": ("household_by_document", 2)}

    def answer(self, segments):
        """segments: the decoded path after /household/. The answer dict, or
        Refusal."""
        route = self.ROUTES.get(segments[0]) if segments else None
        if route is None or len(segments) - 1 != route[1]:
            raise Refusal("invalid_input", "no such service or wrong number of path segments")
        try:
            db = open_ro(self.path)
        except sqlite3.Error:
            raise Refusal("registry_unavailable",
                          "the household register database is unavailable; try again later")
        try:
            return getattr(self, route[0])(db, *segments[1:])
        except sqlite3.Error:
            raise Refusal("registry_unavailable",
                          "the household register database is unavailable; try again later")
        finally:
            db.close()


# ---- population registry ----------------------------------------------------------

class Population:
    def __init__(self, path):
        self.path = path

    @staticmethod
    def _passport(db, person_id):
        # the current (valid) document, else the most recently issued one
        r = db.execute("SELECT * FROM passport WHERE person_id = ? ORDER BY status = 'valid' "
                       "DESC, issue_date DESC, id DESC LIMIT 1", (person_id,)).fetchone()
        if r is None:
            return None
        return {k: r[k] for k in ("series", "number", "issue_date", "valid_until", "authority",
                                  "status")}

    @staticmethod
    def _address(r):
        keys = ("region", "district", "ayil_okmotu", "village", "street", "house", "flat",
                "registered_on")
        a = {k: r["addr_" + k] for k in keys}
        # deregistered from any address: null, not an object of nulls
        return None if a["region"] is None and a["village"] is None else a

    def passport_data(self, pin):
        pin = strip_ws(pin)
        if len(pin.encode()) > PARAM_MAX:
            raise Refusal("invalid_input", "pin is longer than %d bytes" % PARAM_MAX)
        why = pin_problem(pin)
        if why:
            raise Refusal("invalid_input", why)
        try:
            db = open_ro(self.path)
        except sqlite3.Error:
            raise Refusal("registry_unavailable", "the population registry cannot answer now "
                          "(database unavailable); try again later")
        try:
            rows = db.execute("SELECT * FROM person WHERE pin = ? ORDER BY id LIMIT 16",
                              (pin,)).fetchall()
            if not rows:
                raise Refusal("not_found", "no person with PIN %s in the population registry"
                              % pin)
            people = []
            for r in rows:
                people.append({
                    "pin": r["pin"], "surname": r["surname"], "name": r["name"],
                    "patronymic": r["patronymic"], "birth_date": r["birth_date"],
                    "birth_place": r["birth_place"], "sex": r["sex"],
                    "citizenship": r["citizenship"], "alive": r["death_date"] is None,
                    "death_date": r["death_date"], "passport": self._passport(db, r["id"]),
                    "address": self._address(r)})
            return {"pin": pin, "duplicate_pin": len(people) > 1, "person": people}
        finally:
            db.close()


def xml_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render(value, name):
    """<name> holding value by the core's JSON-to-XML rule: object keys ->
    unqualified child elements in order, array -> repeated element, null ->
    xsi:nil, booleans true/false."""
    if isinstance(value, list):
        return "".join(render(v, name) for v in value)
    if value is None:
        return XSI_NIL % name
    if isinstance(value, dict):
        inner = "".join(render(v, k) for k, v in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = xml_text(str(value))
    return "<%s>%s</%s>" % (name, inner, name)


_ENVELOPE_RE = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Envelope\b[^>]*>")
_HEADER_RE = re.compile(rb"<((?:[A-Za-z_][\w.-]*:)?)Header\b.*?</\1Header\s*>", re.S)
_WRAPPER_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Body\b[^>]*>\s*<(?:([A-Za-z_][\w.-]*):)?"
                         rb"([A-Za-z_][\w.-]*)")


def soap_answer(req, population):
    """(status, bytes) of the SOAP answer to req (bytes)."""
    try:
        root = ET.fromstring(req)
        body = root.find("{%s}Body" % SOAP_ENV)
        wrapper = body[0]
    except (ET.ParseError, TypeError, IndexError):
        return 500, soap_fault("Client.InvalidSoap", "not a SOAP request")
    ns, _, local = wrapper.tag[1:].partition("}") if wrapper.tag.startswith("{") else \
        ("", "", wrapper.tag)
    if local != "passportDataByPSN":
        return 500, soap_fault("Server.UnknownOperation", "no operation %s here" % local)
    pins = [c for c in wrapper if c.tag == "pin"]
    try:
        if len(pins) != 1:
            raise Refusal("invalid_input", "pin is missing")
        answer = population.passport_data(pins[0].text)
        inner = "".join(render(v, k) for k, v in answer.items())
    except Refusal as r:
        if r.code in ("registry_unavailable", "failed"):
            return 500, soap_fault("Server.ServiceFailed", "%s: %s" % (r.code, r.message))
        inner = "<error><code>%s</code><message>%s</message></error>" % (
            r.code, xml_text(r.message))
    env = _ENVELOPE_RE.search(req)
    hdr = _HEADER_RE.search(req)
    wm = _WRAPPER_RE.search(req)
    envp = env.group(1).decode()
    prefix = (wm.group(1) or b"m").decode()
    wrapper_xml = '<%s:passportDataByPSNResponse xmlns:%s="%s">%s</%s:passportDataByPSNResponse>' \
        % (prefix, prefix, xml_text(ns), inner, prefix)
    out = (b'<?xml version="1.0" encoding="UTF-8"?>\n' + env.group(0) +
           (hdr.group(0) if hdr else b"") +
           ("<%sBody>%s</%sBody></%sEnvelope>" % (envp, wrapper_xml, envp, envp)).encode())
    return 200, out


def soap_fault(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV="%s">'
            '<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>%s</faultcode><faultstring>%s'
            '</faultstring><faultactor/></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>'
            % (SOAP_ENV, code, xml_text(message))).encode()


# ---- HTTP ----------------------------------------------------------------------

class Record:
    def __init__(self, method, target, headers):
        self.method = method
        self.target = target
        self.headers = headers

    def header(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, body, ctype, extra=()):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            for k, v in extra:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _json(self, status, value, extra=()):
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, body, "application/json; charset=utf-8", extra)

    def _refuse(self, r, extra=()):
        # request_id: the provider's gateway's id of this exchange when it
        # passes one on, else the message id (a provider system has no other)
        rid = (self.headers.get("X-Road-Request-Id") or self.headers.get("X-Road-Id") or "")
        self._json(HTTP_STATUS[r.code], {"error": r.code, "message": r.message,
                                         "request_id": rid}, extra)

    def _handle(self):
        try:
            self._route()
        except Exception as e:  # a bug here must show as an answer, not a hung call
            self._send(500, ("stand-in error: %r\n" % e).encode(), "text/plain; charset=utf-8")

    def _route(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if 0 < n <= 1 << 20 else b""
        owner = self.server.owner
        owner.record(Record(self.command, self.path, list(self.headers.items())))
        path = urllib.parse.urlsplit(self.path).path
        if path == "/population/soap" and self.command == "POST":
            status, out = soap_answer(body, owner.population)
            self._send(status, out, "text/xml; charset=utf-8")
            return
        if not path.startswith("/household/"):
            self._refuse(Refusal("not_found", "no such path %s" % path))
            return
        if owner.unavailable:
            self._refuse(Refusal("registry_unavailable", "the household register database is "
                                 "unavailable; try again later"), extra=(("Retry-After", "30"),))
            return
        if self.command != "GET":
            self._refuse(Refusal("invalid_input", "only GET is served here"))
            return
        segments = [urllib.parse.unquote(s) for s in path[len("/household/"):].split("/")]
        try:
            self._json(200, owner.household.answer(segments))
        except Refusal as r:
            self._refuse(r)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RegistryStandIn:
    """RegistryStandIn(port, household_db, population_db).start(); stop()."""

    def __init__(self, port, household_db, population_db, host="127.0.0.1"):
        self.port = port
        self.household = Household(household_db)
        self.population = Population(population_db)
        self.unavailable = False
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

    def record(self, rec):
        with self._lock:
            self.records.append(rec)

    def last(self, prefix="/"):
        with self._lock:
            for r in reversed(self.records):
                if r.target.startswith(prefix):
                    return r
        return None
