"""A common SOAP client, python3-zeep (Debian), used as an information
system would: it loads the WSDL THROUGH the gateway (GET /wsdl, whose
endpoint address is the gateway's own), calls passportDataByPSN across two
gateways (municipality -> state) with the X-Road headers as _soapheaders,
reads the answer's fields, and as the bank gets AccessDenied as a zeep Fault.

Ports: client 25080-25082, server 25500-25502, municipality HTTPS 25443."""
import re

import harness as h
import zeep
import zeep.exceptions
import zeep.transports

INST = "central-server"
PIN = "21205197500417"
WSDL_QUERY = ("/wsdl?xRoadInstance=central-server&memberClass=GOV&memberCode=70000005"
              "&subsystemCode=passport-service&serviceCode=passportDataByPSN&version=v1")
TNS = "http://tunduk.kg/passport"


class RecordingTransport(zeep.transports.Transport):
    """Keeps the exact bytes of the last SOAP request zeep posted."""
    sent = None

    def post(self, address, message, headers):
        self.sent = message if isinstance(message, bytes) else message.encode()
        self.address = address
        return super().post(address, message, headers)


class Fixture:
    pass


def setup():
    fx = Fixture()
    fx.ex = h.Exchange("zeep", 25080, 25500, tls_port=25443)
    try:
        fx.ex.start()
        fx.transport = RecordingTransport(timeout=15, operation_timeout=15)
        fx.client = zeep.Client(fx.ex.url("municipality", WSDL_QUERY), transport=fx.transport)
    except Exception:
        h.stop_and_clean(fx.ex)
        raise
    return fx


def teardown(fx):
    return h.stop_and_clean(fx.ex if fx else None)


def headers(client, msg_id, user_id="KG21203199000123", issue=None):
    ident = {"xRoadInstance": INST, "memberClass": "GOV", "memberCode": "70000005",
             "subsystemCode": "passport-service"}
    out = {
        "client": {"objectType": "SUBSYSTEM", "xRoadInstance": INST, "memberClass": client[0],
                   "memberCode": client[1], "subsystemCode": client[2]},
        "service": dict(ident, objectType="SERVICE", serviceCode="passportDataByPSN", serviceVersion="v1"),
        "id": msg_id,
        "userId": user_id,
        "protocolVersion": "4.0",
    }
    if issue:
        out["issue"] = issue
    return out


def binding_name(client):
    names = list(client.wsdl.bindings)
    assert names, "the WSDL has no binding"
    return names[0]


def test_wsdl_loaded_through_gateway(fx):
    svc = list(fx.client.wsdl.services.values())
    assert len(svc) == 1, svc
    port = list(svc[0].ports.values())[0]
    assert port.binding_options["address"] == "http://127.0.0.1:%d/" % fx.ex.port("municipality"), \
        port.binding_options
    ops = set(port.binding._operations)
    assert {"passportDataByPSN", "bankPinService"} <= ops, ops


def test_call_across_gateways(fx):
    msg_id = "7c0b6f2e-3d5a-4b1e-8f9a-0a1b2c3d4e5f"
    res = fx.client.service.passportDataByPSN(
        pin=PIN, _soapheaders=headers(("GOV", "70000050", "household-register"), msg_id,
                                      issue="ZEEP-1"))
    assert fx.transport.address == "http://127.0.0.1:%d/" % fx.ex.port("municipality")
    body = res.body if hasattr(res, "body") else res
    assert len(body["person"]) == 1, body["person"]   # a list: duplicate PINs give several
    person = body["person"][0]
    assert body["pin"] == PIN and body["duplicate_pin"] is False, body
    assert person["surname"] == "Осмонов" and person["name"] == "Бакыт", person
    assert person["patronymic"] == "Жумабекович"
    assert str(person["birth_date"]) == "1975-05-12"
    assert person["passport"]["number"] == "2345671" and person["passport"]["series"] == "ID"
    assert person["death_date"] is None
    # the response header as zeep reads it: our values, and the hash of what zeep sent
    hdr = res.header
    assert hdr is not None, "zeep did not read the response header"

    def text(name):
        v = getattr(hdr, name, None) if not isinstance(hdr, list) else \
            next((e.text for e in hdr if e.tag.endswith("}" + name)), None)
        return getattr(v, "_value_1", v)

    assert text("id") == msg_id
    assert text("issue") == "ZEEP-1"
    assert text("protocolVersion") == "4.0"
    assert text("requestHash") == h.sha512_b64(fx.transport.sent), (text("requestHash"),)
    lines = [l for l in fx.ex.log("state").splitlines() if "msgid=%s" % msg_id in l]
    assert len(lines) == 1 and "peer=municipality" in lines[0] and "status=200" in lines[0], lines


def test_bank_gets_access_denied_fault(fx):
    bank = fx.client.create_service(binding_name(fx.client), fx.ex.url("bank"))
    try:
        bank.passportDataByPSN(pin=PIN, _soapheaders=headers(("COM", "60000001", "bank-is"),
                                                             "7c0b6f2e-3d5a-4b1e-8f9a-0a1b2c3d4e60"))
    except zeep.exceptions.Fault as f:
        assert f.code == "Server.ServerProxy.AccessDenied", (f.code, f.message)
        assert "bank-is" in f.message, f.message
        assert f.actor in (None, ""), f.actor
        detail = f.detail.findtext("faultDetail") if f.detail is not None else None
        assert detail and re.match(h.UUID_RE, detail), detail
        assert [gw for gw, _ in fx.ex.request_lines(detail)] == ["state"], detail
    else:
        raise AssertionError("the bank was allowed passportDataByPSN")
    assert fx.transport.address == fx.ex.url("bank")
