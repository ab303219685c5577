"""Each protocol error gets its own fault, in the protocol of the request:
SOAP 1.1 Fault (faultcode, faultstring, empty faultactor, detail/faultDetail
UUID) or REST JSON {"type","message","detail"} with X-Road-Error; HTTP 400
for Client.*, 500 for Server.*; and the fault's UUID is the reqid of the
`event=request` log line of the gateway that produced it.

Ports: client 22080-22082, server 22500-22502, municipality HTTPS 22443."""
import json
import re
import time

import harness as h

INST = "central-server"
HOUSEHOLD_REGISTER = (INST, "GOV", "70000050", "household-register")
BANK_IS = (INST, "COM", "60000001", "bank-is")
PASSPORT = (INST, "GOV", "70000005", "passport-service", "passportDataByPSN", "v1")
BODY = "<pin>21205197500417</pin>"
MSG_ID = "0b6a7d4e-1f6c-4a8e-9d7a-4f0e1c2b3a4d"
FAMILY = "/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/21205197500417"


def setup():
    ex = h.Exchange("faults", 22080, 22500, tls_port=22443)
    try:
        ex.start()
    except Exception:
        h.stop_and_clean(ex)
        raise
    return ex


def teardown(ex):
    return h.stop_and_clean(ex)


def status_for(code):
    return 400 if code.startswith("Client.") else 500


def check_logged(ex, reqid, code, producer):
    """reqid is in exactly one request line, of gateway producer. Returns
    that line."""
    lines = ex.request_lines(reqid)
    assert [gw for gw, _ in lines] == [producer], (reqid, producer, lines)
    assert "status=%d " % status_for(code) in lines[0][1], lines[0][1]
    return lines[0][1]


def soap_fault(ex, gw, req, code, producer, method="POST"):
    status, hdrs, body = h.request(method, ex.url(gw), req,
                                   {"Content-Type": "text/xml; charset=utf-8"} if req else {})
    assert status == status_for(code), (status, body[:600])
    assert hdrs["content-type"].startswith("text/xml"), hdrs
    f = h.soap_fault(body)
    assert f is not None, body[:600]
    assert f["code"] == code, f
    assert f["string"], f
    assert f["actor"] == "", f
    assert re.match(h.UUID_RE, f["detail"] or ""), f
    f["line"] = check_logged(ex, f["detail"], code, producer)
    return f


def rest_fault(ex, gw, target, headers, code, producer, method="GET"):
    status, rh, body = h.request_raw(method, ex.url(gw, target), headers=headers)
    assert status == status_for(code), (status, body[:600])
    assert h.header_values(rh, "X-Road-Error") == [code], rh
    assert h.header_values(rh, "Content-Type")[0].startswith("application/json"), rh
    err = json.loads(body)
    assert set(err) == {"type", "message", "detail"}, err
    assert err["type"] == code and err["message"], err
    assert re.match(h.UUID_RE, err["detail"]), err
    err["line"] = check_logged(ex, err["detail"], code, producer)
    return err


# ---- SOAP ------------------------------------------------------------------

def test_soap_unknown_client(ex):
    req = h.soap_request((INST, "GOV", "70000050", "no-such-system"), PASSPORT, BODY)
    f = soap_fault(ex, "municipality", req, "Server.ClientProxy.UnknownMember", "municipality")
    assert "no-such-system" in f["string"], f


def test_soap_unknown_member(ex):
    req = h.soap_request((INST, "COM", "99999999", "bank-is"), PASSPORT, BODY)
    soap_fault(ex, "bank", req, "Server.ClientProxy.UnknownMember", "bank")


def test_soap_client_of_another_gateway(ex):
    """bank-is exists, but it is the bank gateway's client, not the municipality's."""
    req = h.soap_request(BANK_IS, PASSPORT, BODY)
    f = soap_fault(ex, "municipality", req, "Server.ClientProxy.UnknownMember", "municipality")
    assert "municipality" in f["string"], f


def test_soap_access_denied_passed_through(ex):
    """Banks may not call passportDataByPSN: the state gateway refuses, the
    bank gateway relays its fault unchanged."""
    req = h.soap_request(BANK_IS, PASSPORT, BODY)
    f = soap_fault(ex, "bank", req, "Server.ServerProxy.AccessDenied", "state")
    assert "bank-is" in f["string"] and "passportDataByPSN" in f["string"], f


def test_soap_access_denied_in_process(ex):
    """GOV/70000073/portal is on the state gateway but may not call
    bankPinService: the in-process provider pipeline refuses it."""
    svc = (INST, "GOV", "70000005", "passport-service", "bankPinService", "v1")
    req = h.soap_request((INST, "GOV", "70000073", "portal"), svc,
                         BODY + "<series>ID</series><number>2345671</number>")
    f = soap_fault(ex, "state", req, "Server.ServerProxy.AccessDenied", "state")
    assert "peer=local" in f["line"], f["line"]


def test_fault_code_in_log_line(ex):
    """The request line of the gateway that produced a fault names it
    (fault=CODE), whatever the protocol and wherever the fault was made:
    client side, server side (SOAP and REST), in-process."""
    cases = [
        (h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, protocol="3.1"), "municipality",
         "Client.InvalidProtocolVersion", "municipality"),
        (h.soap_request(BANK_IS, PASSPORT, BODY), "bank", "Server.ServerProxy.AccessDenied", "state"),
        (h.soap_request((INST, "GOV", "70000073", "portal"),
                        (INST, "GOV", "70000005", "passport-service", "bankPinService", "v1"),
                        BODY + "<series>ID</series><number>2345671</number>"), "state",
         "Server.ServerProxy.AccessDenied", "state"),
    ]
    wrong = []
    for req, gw, code, producer in cases:
        f = soap_fault(ex, gw, req, code, producer)
        if "fault=%s " % code not in f["line"]:
            wrong.append(("soap", code, producer, f["line"]))
    target = "/r1/central-server/GOV/70000050/sanaripaymak-service/household/LBD-0001"
    err = rest_fault(ex, "bank", target, [("X-Road-Client", "central-server/COM/60000001/bank-is")],
                     "Server.ServerProxy.AccessDenied", "municipality")
    if "fault=Server.ServerProxy.AccessDenied " not in err["line"]:
        wrong.append(("rest", "Server.ServerProxy.AccessDenied", "municipality", err["line"]))
    # REST in-process: a path the service does not take
    err = rest_fault(ex, "municipality", FAMILY + "/extra/segments",
                     [("X-Road-Client", "central-server/GOV/70000050/household-register")],
                     "Client.BadRequest", "municipality")
    if "fault=Client.BadRequest " not in err["line"]:
        wrong.append(("rest in-process", "Client.BadRequest", "municipality", err["line"]))
    assert not wrong, "\n".join(map(repr, wrong))


def test_soap_unknown_service(ex):
    svc = (INST, "GOV", "70000005", "passport-service", "noSuchService", "v1")
    req = h.soap_request(HOUSEHOLD_REGISTER, svc, BODY)
    soap_fault(ex, "municipality", req, "Server.ClientProxy.UnknownService", "municipality")


def test_soap_protocol_version_3_1(ex):
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, protocol="3.1")
    f = soap_fault(ex, "municipality", req, "Client.InvalidProtocolVersion", "municipality")
    assert "3.1" in f["string"], f


def test_soap_missing_id(ex):
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, msg_id=MSG_ID)
    req = req.replace(b"<xrd:id>%s</xrd:id>" % MSG_ID.encode(), b"")
    assert b"<xrd:id>" not in req
    f = soap_fault(ex, "municipality", req, "Client.MissingHeaderField", "municipality")
    assert "id" in f["string"], f


def test_soap_missing_protocol_version(ex):
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, protocol=None)
    f = soap_fault(ex, "municipality", req, "Client.MissingHeaderField", "municipality")
    assert "protocolVersion" in f["string"], f


def test_soap_duplicate_id(ex):
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY,
                         extra_headers="<xrd:id>1c2d3e4f-0000-4000-8000-000000000001</xrd:id>")
    assert req.count(b"<xrd:id>") == 2
    f = soap_fault(ex, "municipality", req, "Client.DuplicateHeaderField", "municipality")
    assert "id" in f["string"], f


def test_soap_get_method(ex):
    soap_fault(ex, "municipality", None, "Client.InvalidHttpMethod", "municipality", method="GET")


# ---- REST ------------------------------------------------------------------

def test_rest_missing_client_header(ex):
    err = rest_fault(ex, "bank", FAMILY, [("X-Road-Id", "no-client-1")],
                     "Client.MissingHeaderField", "bank")
    assert "X-Road-Client" in err["message"], err


def test_rest_error_as_xml_when_asked(ex):
    import xml.etree.ElementTree as ET
    status, rh, body = h.request_raw("GET", ex.url("bank", FAMILY),
                                     headers=[("Accept", "application/xml")])
    assert status == 400, (status, body[:300])
    assert h.header_values(rh, "X-Road-Error") == ["Client.MissingHeaderField"], rh
    assert h.header_values(rh, "Content-Type")[0].startswith("application/xml"), rh
    root = ET.fromstring(body)
    assert root.tag == "error", root.tag
    assert root.findtext("type") == "Client.MissingHeaderField" and root.findtext("message")
    assert [gw for gw, _ in ex.request_lines(root.findtext("detail"))] == ["bank"]


def test_rest_duplicate_client_header(ex):
    hdrs = [("X-Road-Client", "central-server/COM/60000001/bank-is"),
            ("X-Road-Client", "central-server/COM/60000001/bank-is")]
    err = rest_fault(ex, "bank", FAMILY, hdrs, "Client.DuplicateHeaderField", "bank")
    assert "X-Road-Client" in err["message"], err


def test_rest_malformed_path(ex):
    hdrs = [("X-Road-Client", "central-server/COM/60000001/bank-is")]
    for target in ("/r1/central-server/GOV", "/r1/central-server/GOV/70000050/%zz/family-members",
                   "/r1/"):
        rest_fault(ex, "bank", target, hdrs, "Client.BadRequest", "bank")


def test_rest_access_denied_passed_through(ex):
    """Banks may not read a household by its id."""
    target = "/r1/central-server/GOV/70000050/sanaripaymak-service/household/LBD-0001"
    hdrs = [("X-Road-Client", "central-server/COM/60000001/bank-is"), ("X-Road-Id", "denied-1")]
    rest_fault(ex, "bank", target, hdrs, "Server.ServerProxy.AccessDenied", "municipality")


def test_rest_unknown_client(ex):
    hdrs = [("X-Road-Client", "central-server/COM/60000001/no-such-system")]
    rest_fault(ex, "bank", FAMILY, hdrs, "Server.ClientProxy.UnknownMember", "bank")


def test_rest_unknown_service(ex):
    target = "/r1/central-server/GOV/70000050/sanaripaymak-service/no-such-service/1"
    hdrs = [("X-Road-Client", "central-server/COM/60000001/bank-is")]
    rest_fault(ex, "bank", target, hdrs, "Server.ClientProxy.UnknownService", "bank")


# ---- limits and bytes that are the caller's to fix ---------------------------

HR_CLIENT = ("X-Road-Client", "central-server/GOV/70000050/household-register")
FAMILY_OF = "/r1/central-server/GOV/70000050/sanaripaymak-service/family-members/"
PASSPORT_REST = "/r1/central-server/GOV/70000005/passport-service/passportDataByPSN/21205197500417"
SOAP_CT = {"Content-Type": "text/xml; charset=utf-8"}
WSDL_Q = ("/wsdl?xRoadInstance=central-server&memberClass=GOV&memberCode=70000005"
          "&subsystemCode=passport-service&serviceCode=passportDataByPSN")


def test_rest_params_not_utf8(ex):
    """A path or query parameter that percent-decodes to bytes that are not
    UTF-8 is Client.BadRequest naming the parameter and the reason (not "out
    of memory"); a path segment over its 1023 bytes says so (not "malformed
    percent-encoding")."""
    cases = [(FAMILY_OF + "%FF", "'pin' is not valid UTF-8 after percent-decoding"),
             (FAMILY_OF + "%C0%AE", "'pin' is not valid UTF-8 after percent-decoding"),
             (FAMILY_OF + "%80", "'pin' is not valid UTF-8 after percent-decoding"),
             (FAMILY + "?household_id=%FF", "'household_id' is not valid UTF-8 after percent-decoding"),
             (FAMILY_OF + "1" * 1024, "'pin' is longer than 1023 bytes"),
             (FAMILY_OF + "%41" * 1024, "'pin' is longer than 1023 bytes"),
             (FAMILY_OF + "12%zz", "malformed percent-encoding in path parameter 'pin'")]
    wrong = []
    for target, want in cases:
        err = rest_fault(ex, "municipality", target, [HR_CLIENT], "Client.BadRequest", "municipality")
        if want not in err["message"] or "memory" in err["message"]:
            wrong.append((target[:90], err["message"]))
    assert not wrong, "\n".join(map(repr, wrong))


def test_rest_dot_segments_refused_before_signing(ex):
    """A path with "." or ".." segments to a service on another gateway was
    signed as received and then sent with the dot segments resolved (libcurl),
    so the provider's gateway refused it as a forged signature (500
    InvalidSignatureValue, logged as tampering on both sides). Now the
    caller's gateway refuses it at once, naming the segment."""
    for target, seg in ((PASSPORT_REST.replace("passportDataByPSN/", "passportDataByPSN/x/../"), "'..'"),
                        (PASSPORT_REST.replace("passportDataByPSN/", "passportDataByPSN/./"), "'.'"),
                        (PASSPORT_REST.replace("passportDataByPSN/", "passportDataByPSN/%2e%2E/"), "'%2e%2E'")):
        err = rest_fault(ex, "municipality", target, [HR_CLIENT], "Client.BadRequest", "municipality")
        assert "has a %s segment" % seg in err["message"], err
        # the request line names the connection it came from, so the system can be found
        assert re.search(r" from=127\.0\.0\.1:\d+( |$)", err["line"]), err["line"]
    status, _, body = h.request_raw("GET", ex.url("municipality", PASSPORT_REST), headers=[HR_CLIENT])
    assert status == 200, body[:300]


def test_wsdl_query_errors_name_the_reason(ex):
    """GET /wsdl blames what is wrong: a repeated parameter, bytes that are
    not UTF-8, a version that is not an identifier part; not a missing
    xRoadInstance that is there."""
    cases = [(WSDL_Q + "&version=v1&version=v2", "parameter 'version' is given more than once"),
             (WSDL_Q + "&serviceCode=x", "parameter 'serviceCode' is given more than once"),
             (WSDL_Q + "&x=%FF", "parameter 'x' is not valid UTF-8 after percent-decoding"),
             (WSDL_Q + "&version=v1%26serviceCode%3Dx", "query parameter version is not an identifier part"),
             (WSDL_Q.replace("memberClass=GOV", "memberClass=G%20V"),
              "query parameter memberClass is not an identifier part"),
             (WSDL_Q.replace("&memberCode=70000005", ""), "needs the query parameter memberCode")]
    wrong = []
    for q, want in cases:
        err = rest_fault(ex, "municipality", q, [], "Client.BadRequest", "municipality")
        if want not in err["message"]:
            wrong.append((q, err["message"]))
    assert not wrong, "\n".join(map(repr, wrong))
    status, _, body = h.request("GET", ex.url("municipality", WSDL_Q + "&version=v1"))
    assert status == 200 and b"definitions" in body, (status, body[:300])
    # a version the service is not published in: say which it is (was "no service")
    err = rest_fault(ex, "municipality", WSDL_Q + "&version=v9", [], "Server.ServerProxy.UnknownService", "state")
    assert ("service 'passportDataByPSN' in GOV/70000005/passport-service has no version 'v9'; it is "
            "published as version 'v1'") in err["message"], err


def test_rest_too_many_headers_is_the_callers(ex):
    """More headers than the gateway passes on: 400 naming the limit, before
    anything is signed or sent (was 500 InternalError "cannot prepare the
    request"); as many as fit still pass."""
    extra = [("X-Custom-%d" % i, "v") for i in range(48)]
    err = rest_fault(ex, "municipality", FAMILY, [HR_CLIENT] + extra, "Client.BadRequest", "municipality")
    assert "at most 46" in err["message"] and "49 headers" in err["message"], err
    status, rh, body = h.request_raw("GET", ex.url("municipality", PASSPORT_REST), headers=[HR_CLIENT] + extra)
    assert status == 400 and h.header_values(rh, "X-Road-Error") == ["Client.BadRequest"], (status, body[:300])
    status, rh, body = h.request_raw("GET", ex.url("municipality", PASSPORT_REST),
                                     headers=[HR_CLIENT] + extra[:45])
    assert status == 200 and not h.header_values(rh, "X-Road-Error"), (status, body[:300])


def test_long_headers_cross_gateways(ex):
    """A header of 16 KB or more on a call to another gateway travels (was
    500 Server.ClientProxy.NetworkError "cannot start the call"): REST
    X-Custom, REST Content-Type, SOAP SOAPAction. A SOAP Content-Type is
    signed, at most 255 bytes: a longer one is the caller's Client.BadRequest
    (was cut short and failed as Server.ServerProxy.InvalidSignatureValue)."""
    long = "a" * 20000
    for extra in (("X-Custom", long), ("Content-Type", "application/json; x=" + long)):
        status, rh, body = h.request_raw("GET", ex.url("municipality", PASSPORT_REST),
                                         headers=[HR_CLIENT, extra])
        assert status == 200 and not h.header_values(rh, "X-Road-Error"), (extra[0], status, body[:300])
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY)
    status, _, body = h.request("POST", ex.url("municipality"), req,
                                {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s"' % long})
    assert status == 200 and "Осмонов".encode() in body, (status, body[:300])
    # across gateways (household-register), and in-process (the portal, on state)
    for gw, client in (("municipality", HOUSEHOLD_REGISTER), ("state", (INST, "GOV", "70000073", "portal"))):
        status, _, body = h.request("POST", ex.url(gw), h.soap_request(client, PASSPORT, BODY),
                                    {"Content-Type": "text/xml; charset=utf-8; x=" + long})
        assert status == 400, (gw, status, body[:300])
        f = h.soap_fault(body)
        assert f["code"] == "Client.BadRequest" and "at most 255" in f["string"], f
        check_logged(ex, f["detail"], f["code"], gw)


def logfmt(line):
    """[(key, value)] of a logfmt line: bare values, or double-quoted with
    backslash escapes (what gateway/core/log.c log_quote writes)."""
    out = []
    for k, v in re.findall(r'(?:^|\s)([A-Za-z_]+)=("(?:[^"\\]|\\.)*"|\S*)', line):
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out.append((k, v))
    return out


def test_log_line_fields_not_forged(ex):
    """A message id is the caller's text: in the event=request line it is one
    value (quoted), and a "reqid=fake" inside it is not a field; a UUID
    message id stays bare."""
    import uuid
    mark = uuid.uuid4().hex
    soap_id = "x-%s status=200 fault=- reqid=fake" % mark
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, msg_id=soap_id)
    status, _, body = h.request("POST", ex.url("municipality"), req, SOAP_CT)
    assert status == 200, (status, body[:300])
    rest_id = 'y-%s status=200 reqid=fake "q" \\' % mark
    status, rh, body = h.request_raw("GET", ex.url("municipality", FAMILY),
                                     headers=[HR_CLIENT, ("X-Road-Id", rest_id)])
    assert status == 200, (status, body[:300])
    uuid_id = str(uuid.uuid4())
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY, msg_id=uuid_id)
    status, _, body = h.request("POST", ex.url("municipality"), req, SOAP_CT)
    assert status == 200, (status, body[:300])
    lines = []
    for _ in range(40):
        lines = [(gw, l) for gw in h.GATEWAYS for l in ex.log(gw).splitlines()
                 if "event=request " in l and mark in l]
        if len(lines) >= 3:
            break
        time.sleep(0.05)
    # SOAP: municipality (client side) and state (server side); REST: in-process
    assert len(lines) == 3, lines
    for gw, l in lines:
        f = logfmt(l)
        keys = [k for k, _ in f]
        assert len(keys) == len(set(keys)), (gw, l)
        d = dict(f)
        assert re.match(h.UUID_RE, d["reqid"]) and d["status"] == "200" and d["fault"] == "-", (gw, l)
        assert d["msgid"] in (soap_id, rest_id), (gw, l)
    plain = [l for gw in ("municipality", "state") for l in ex.log(gw).splitlines()
             if "event=request " in l and " msgid=%s " % uuid_id in l]
    assert len(plain) == 2, plain


def test_faults_leave_gateways_serving(ex):
    """After all of the above every gateway still answers a good request."""
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY)
    status, _, body = h.request("POST", ex.url("municipality"), req,
                                {"Content-Type": "text/xml; charset=utf-8"})
    assert status == 200 and "Осмонов".encode() in body, (status, body[:300])
    for gw in h.GATEWAYS:
        assert ex.alive(gw), gw
