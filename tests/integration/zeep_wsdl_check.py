#!/usr/bin/python3
"""Proves that zeep, a common SOAP client, can use the WSDLs in wsdl/.

For every wsdl/*.wsdl: load it from disk (no network: the files import
nothing), print each operation with its input signature, build a request
envelope with the X-Road headers the way a client system would (checking that
the body wrapper is in the target namespace and its children unqualified, as
the gateway expects), and parse every example response body in
wsdl/examples/ with the operation's output element (xsi:nil included).

Run with Debian's python3-zeep:  /usr/bin/python3 tests/integration/zeep_wsdl_check.py [WSDL_DIR]
Exits non-zero if any WSDL fails.
"""
import glob
import os
import sys

import zeep
from lxml import etree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XRD = "http://x-road.eu/xsd/xroad.xsd"
SAMPLE = {"pin": "21205197500417", "series": "ID", "number": "2345671"}


def headers(service_code):
    ident = {"xRoadInstance": "central-server", "memberClass": "GOV", "memberCode": "70000005"}
    return {
        "client": {"objectType": "SUBSYSTEM", "xRoadInstance": "central-server",
                   "memberClass": "COM", "memberCode": "60000001", "subsystemCode": "bank-kyc"},
        "service": dict(ident, objectType="SERVICE", subsystemCode="passport-service",
                        serviceCode=service_code),
        "id": "5d3c1a9e-8f0b-4c55-9a55-0d6f3c2b7e11",
        "protocolVersion": "4.0",
    }


def check_request(client, tns, service_name, port_name, op_name, op):
    """Builds the request envelope and checks the shape the gateway parses."""
    args = {name: SAMPLE.get(name, "x") for name, _ in op.input.body.type.elements}
    proxy = client.bind(service_name, port_name)
    env = client.create_message(proxy, op_name, _soapheaders=headers(op_name), **args)
    body = env.find("{%s}Body" % SOAP_ENV)
    wrapper = body[0]
    qname = etree.QName(wrapper)
    if qname.localname != op_name or qname.namespace != tns:
        raise ValueError("body wrapper is %s, want {%s}%s" % (wrapper.tag, tns, op_name))
    for child in wrapper:
        if etree.QName(child).namespace is not None:
            raise ValueError("body child %s is qualified; the gateway wants unqualified"
                             % child.tag)
    got = {etree.QName(c).localname: c.text for c in wrapper}
    if got != args:
        raise ValueError("body children %r, want %r" % (got, args))
    pv = env.find("{%s}Header/{%s}protocolVersion" % (SOAP_ENV, XRD))
    if pv is None or pv.text != "4.0":
        raise ValueError("no xrd:protocolVersion 4.0 header")


def check_examples(client, ns, subsystem, op_name):
    """Parses wsdl/examples/OP.*response.xml and SUBSYSTEM-OP.*response.xml
    with the operation's output element (only those in the WSDL's namespace)."""
    elem = client.get_element("{%s}%sResponse" % (ns, op_name))
    n = 0
    paths = set(glob.glob(os.path.join(EXAMPLES, op_name + ".*response.xml")))
    paths |= set(glob.glob(os.path.join(EXAMPLES, "%s-%s.*response.xml" % (subsystem, op_name))))
    for path in sorted(paths):
        node = etree.parse(path).getroot()
        if etree.QName(node).namespace != ns:
            continue
        value = elem.parse(node, client.wsdl.types)
        keys = [k for k in value if value[k] is not None]
        print("    parsed %s: %s" % (os.path.basename(path), ", ".join(keys)))
        n += 1
    return n


def check(path):
    client = zeep.Client(path)
    tns = etree.parse(path).getroot().get("targetNamespace")
    n_ops = 0
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            for op_name, op in sorted(port.binding._operations.items()):
                n_ops += 1
                print("  %s(%s)" % (op_name, op.input.signature(as_output=False)))
                check_request(client, tns, service.name, port.name, op_name, op)
                subsystem = os.path.splitext(os.path.basename(path))[0]
                if check_examples(client, tns, subsystem, op_name) == 0:
                    print("    (no example responses)")
    if n_ops == 0:
        raise ValueError("no operations")
    return n_ops


def main(argv):
    global EXAMPLES
    wsdl_dir = argv[1] if len(argv) > 1 else os.path.join(ROOT, "wsdl")
    EXAMPLES = os.path.join(wsdl_dir, "examples")
    files = sorted(glob.glob(os.path.join(wsdl_dir, "*.wsdl")))
    if not files:
        print("no WSDL files in %s" % wsdl_dir)
        return 1
    failed = 0
    for path in files:
        print("%s:" % os.path.basename(path))
        try:
            check(path)
        except Exception as e:  # any failure of any kind fails this file
            failed += 1
            print("  FAIL: %s: %s" % (type(e).__name__, e))
    print("zeep_wsdl_check: %d passed, %d failed" % (len(files) - failed, failed))
    return 1 if failed else 0


EXAMPLES = ""

if __name__ == "__main__":
    sys.exit(main(sys.argv))
