"""Each protocol error gets its own fault, in the protocol of the request:
SOAP 1.1 Fault (faultcode, faultstring, empty faultactor, detail/faultDetail
UUID) or REST JSON {"type","message","detail"} with X-Road-Error; HTTP 400
for Client.*, 500 for Server.*; and the fault's UUID is the reqid of the
`event=request` log line of the gateway that produced it.

Ports: client 22080-22082, server 22500-22502, municipality HTTPS 22443."""
import json
import re

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


def test_faults_leave_gateways_serving(ex):
    """After all of the above every gateway still answers a good request."""
    req = h.soap_request(HOUSEHOLD_REGISTER, PASSPORT, BODY)
    status, _, body = h.request("POST", ex.url("municipality"), req,
                                {"Content-Type": "text/xml; charset=utf-8"})
    assert status == 200 and "Осмонов".encode() in body, (status, body[:300])
    for gw in h.GATEWAYS:
        assert ex.alive(gw), gw
