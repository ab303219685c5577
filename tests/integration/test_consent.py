"""Consent for banks and "who saw my data" (issue 5, items 6 and 7) across the
three real gateways: the bank's information system (COM/60000001/bank-is, on
the bank gateway) queries the resident record (household register
address-fact / family-members on the municipality gateway, whose global
configuration says subjectParam="pin" consentRequiredFor="COM"):
  - without consent: refused with Server.ServerProxy.AccessDenied saying why;
  - the bank asks (consent-request), the code reaches the person (the file
    channel, what an SMS would be), the portal (GOV/70000073/portal, on the
    state gateway) confirms it for the person (X-Road-UserId): answered;
  - after the person withdraws it: refused again ("consent N withdrawn on");
  - after the end date: refused ("consent N ended on"); the end date is moved
    into the past in the municipality's consent.db, as the passing of time
    would (nothing else writes it);
  - the person's report (data-access-report) lists the bank's queries, newest
    first, answered and refused; a clerk's query is answered without consent
    and recorded too; nobody but the person reads the report.
The functions run in name order (test_a_ ... test_f_), one story.

Ports: client 28700-28702, server 28710-28712, TSA/OCSP 28730-28732,
municipality HTTPS 28743."""
import datetime
import json
import os
import re
import sqlite3
import tempfile
import time

import harness as h

INST = "central-server"
PIN = "21205197500417"          # LBD-0001, head of household (household register seed)
OTHER = "10107195000110"        # LBD-0001, another member
BANK_IS = "%s/COM/60000001/bank-is" % INST
PORTAL = "%s/GOV/70000073/portal" % INST
CLERK = "%s/GOV/70000050/household-register" % INST
HH = "/r1/%s/GOV/70000050/sanaripaymak-service" % INST
CONSENT = "/r1/%s/GOV/70000050/consent" % INST
DENIED = "Server.ServerProxy.AccessDenied"
BURST = 1100   # test_j: queries about a person arriving in one event-loop turn


class Fixture:
    pass


def setup():
    fx = Fixture()
    fx.tmp = tempfile.mkdtemp(prefix="ailgate-consent-otp-")
    fx.otp = os.path.join(fx.tmp, "otp.jsonl")
    fx.ex = h.Exchange("consent", 28700, 28710, tls_port=28743, extra_ini={
        "municipality": "[adapter.consent]\notp_channel = file:%s\n" % fx.otp})
    # test_j opens more connections at once than the default max_conns
    import badinput_util
    badinput_util.set_ini(os.path.join(fx.ex.dir, "municipality.ini"), "max_conns", BURST + 100)
    try:
        fx.ex.start()
    except Exception:
        h.stop_and_clean(fx.ex)
        raise
    fx.db = os.path.join(fx.ex.dir, "data", "municipality", "consent.db")
    fx.seq = 0
    return fx


def teardown(fx):
    problems = h.stop_and_clean(fx.ex)
    import shutil
    shutil.rmtree(fx.tmp, ignore_errors=True)
    return problems


# ---- calls ------------------------------------------------------------------

def rest(fx, gw, method, target, client, user=None, issue=None, body=None):
    fx.seq += 1
    hdrs = [("X-Road-Client", client), ("X-Road-Id", "consent-it-%04d" % fx.seq)]
    if user:
        hdrs.append(("X-Road-UserId", user))
    if issue:
        hdrs.append(("X-Road-Issue", issue))
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.append(("Content-Type", "application/json"))
    status, rh, resp = h.request_raw(method, fx.ex.url(gw, target), data, headers=hdrs)
    return status, rh, resp, "consent-it-%04d" % fx.seq


def bank_query(fx, code="address-fact", pin=PIN, issue=None):
    """The bank's query of the resident record through its own gateway."""
    return rest(fx, "bank", "GET", "%s/%s/%s" % (HH, code, pin), BANK_IS, issue=issue)


def assert_refused(fx, resp_tuple, *why):
    status, rh, body, _ = resp_tuple
    assert status == 500, (status, body[:600])
    assert h.header_values(rh, "X-Road-Error") == [DENIED], (rh, body[:600])
    err = json.loads(body)
    assert err["type"] == DENIED, err
    for w in why:
        assert w in err["message"], (w, err)
    return err["message"]


def assert_answered(resp_tuple):
    status, rh, body, _ = resp_tuple
    assert status == 200, (status, body[:600])
    data = json.loads(body)
    assert data["pin"] == PIN and data["household_id"] == "LBD-0001", data
    return data


def portal(fx, method, target, user="KG" + PIN, body=None):
    status, _, resp, _ = rest(fx, "state", method, CONSENT + target, PORTAL, user=user, body=body)
    return status, json.loads(resp)


def ask_consent(fx, end, purpose="Mortgage application 17"):
    status, _, resp, _ = rest(fx, "bank", "POST", CONSENT + "/consent-request", BANK_IS,
                              body={"pin": PIN, "purpose": purpose, "end_date": end})
    assert status == 200, (status, resp[:600])
    c = json.loads(resp)
    assert c["status"] == "pending" and c["bank"] == "COM/60000001" and c["pin"] == PIN, c
    assert c["subsystem"] == "bank-is" and c["code_sent_by"] == "file", c
    return c["consent_id"]


def delivered_code(fx, consent_id):
    """The code the person received for consent_id (the file channel's line)."""
    with open(fx.otp) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    mine = [l for l in lines if l["consent_id"] == str(consent_id)]
    assert len(mine) == 1, (consent_id, lines)
    assert mine[0]["pin"] == PIN and "COM/60000001" in mine[0]["bank"], mine
    return mine[0]["code"]


def confirm(fx, consent_id, code):
    return portal(fx, "POST", "/consent-confirm", body={"consent_id": consent_id, "code": code})


def day(delta):
    return (datetime.date.today() + datetime.timedelta(days=delta)).isoformat()


# ---- the story ----------------------------------------------------------------

def test_a_bank_without_consent_refused(fx):
    msg = assert_refused(fx, bank_query(fx), "no consent of this person", "COM/60000001")
    assert "consent-request" in msg, msg
    assert_refused(fx, bank_query(fx, "family-members"), "no consent of this person")
    # SOAP is refused the same way
    req = h.soap_request((INST, "COM", "60000001", "bank-is"),
                         (INST, "GOV", "70000050", "sanaripaymak-service", "address-fact", None),
                         "<pin>%s</pin>" % PIN, ns="http://tunduk.kg/sanaripaymak")
    status, _, body = h.request("POST", fx.ex.url("bank"), req, {"Content-Type": "text/xml"})
    f = h.soap_fault(body)
    assert status == 500 and f and f["code"] == DENIED, (status, body[:600])
    assert "no consent of this person" in f["string"], f
    # the municipality's own clerk needs no consent (a legal basis), and is recorded
    status, _, body, _ = rest(fx, "municipality", "GET", "%s/address-fact/%s" % (HH, PIN), CLERK,
                              issue="certificate 2026/115")
    assert status == 200, (status, body[:600])
    # a request that names no person is refused before the register sees it
    assert_refused(fx, bank_query(fx, pin="2120519750.417"), "not a PIN")


def test_b_with_consent_answered(fx):
    fx.consent = ask_consent(fx, day(30))
    # asked but not confirmed: still refused, saying so
    assert_refused(fx, bank_query(fx), "consent %d is not confirmed yet" % fx.consent)
    code = delivered_code(fx, fx.consent)
    wrong = ("0" if code[0] != "0" else "1") + code[1:]
    status, err = confirm(fx, fx.consent, wrong)
    assert status == 400 and "4 attempts left" in err["message"], err
    # the bank cannot confirm for the person: access rights (the portal only)
    status, rh, body, _ = rest(fx, "bank", "POST", CONSENT + "/consent-confirm", BANK_IS,
                               user="KG" + PIN, body={"consent_id": fx.consent, "code": code})
    assert status == 500 and h.header_values(rh, "X-Road-Error") == [DENIED], (status, body[:300])
    # another person signed in at the portal cannot confirm it
    status, err = portal(fx, "POST", "/consent-confirm", user="KG" + OTHER,
                         body={"consent_id": fx.consent, "code": code})
    assert status == 404, err
    status, c = confirm(fx, fx.consent, code)
    assert status == 200 and c["status"] == "active" and c["confirmed_at"], c
    data = assert_answered(bank_query(fx, issue="LOAN-17"))
    assert data["cadastral_code"] == "7100600330016", data
    status, _, body, _ = bank_query(fx, "family-members")
    assert status == 200 and json.loads(body)["member_count"] == 5, body[:300]
    # ... and the answer carries this person's data only: the other members
    # by their relation, names cut to an initial, no PIN, birth date, sex or
    # document (before, all five members' personal data went to the bank)
    members = json.loads(body)["members"]
    own = [m for m in members if m["pin"] == PIN]
    others = [m for m in members if m["pin"] != PIN]
    assert len(own) == 1 and len(own[0]["first_name"]) > 2 and own[0]["birth_date"], own
    assert len(others) == 4 and all(
        m["pin"] is None and m["birth_date"] is None and m["sex"] is None and m["document"] is None
        and m["patronymic"] is None and re.fullmatch(r"\w\.", m["first_name"])
        and re.fullmatch(r"\w\.", m["last_name"]) and m["relation"] for m in others), others
    assert OTHER not in body.decode() if isinstance(body, bytes) else OTHER not in body
    # a clerk of the municipality (no consent needed) still sees the household whole
    status, _, body, _ = rest(fx, "municipality", "GET", HH + "/family-members/" + PIN, CLERK)
    whole = json.loads(body)["members"]
    assert status == 200 and sorted(m["pin"] or "" for m in whole).count(OTHER) == 1, body[:300]
    assert all(len(m["first_name"]) > 2 for m in whole), whole
    # the consent covers this person only
    assert_refused(fx, bank_query(fx, pin=OTHER), "no consent of this person")
    # the person sees it
    status, lst = portal(fx, "GET", "/consents/" + PIN)
    assert status == 200 and lst["count"] == 1, lst
    assert lst["consents"][0]["consent_id"] == fx.consent and lst["consents"][0]["status"] == "active"


def test_c_after_withdrawal_refused(fx):
    status, err = portal(fx, "POST", "/consent-withdraw", user="KG" + OTHER,
                         body={"consent_id": fx.consent, "pin": PIN})
    assert status == 400 and "only their own" in err["message"], err
    status, c = portal(fx, "POST", "/consent-withdraw", body={"consent_id": fx.consent, "pin": PIN})
    assert status == 200 and c["status"] == "withdrawn", c
    assert_refused(fx, bank_query(fx), "consent %d withdrawn on %s" % (fx.consent, day(0)))


def test_d_after_end_date_refused(fx):
    fx.consent2 = ask_consent(fx, day(1), purpose="Card application 3")
    status, c = confirm(fx, fx.consent2, delivered_code(fx, fx.consent2))
    assert status == 200 and c["status"] == "active", c
    assert_answered(bank_query(fx))
    # time passes: the last day of the consent was yesterday
    db = sqlite3.connect(fx.db, timeout=5)
    with db:
        n = db.execute("UPDATE consents SET end_date = ? WHERE id = ?", (day(-1), fx.consent2)).rowcount
    db.close()
    assert n == 1
    assert_refused(fx, bank_query(fx), "consent %d ended on %s" % (fx.consent2, day(-1)))
    status, lst = portal(fx, "GET", "/consents/" + PIN)
    assert [c["status"] for c in lst["consents"]] == ["expired", "withdrawn"], lst


def test_e_report_lists_the_banks_queries(fx):
    status, rep = portal(fx, "GET", "/data-access-report/" + PIN)
    assert status == 200, rep
    rows = rep["accesses"]
    assert rep["count"] == len(rows) and not rep["more"], rep
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True), times   # newest first
    bank = [r for r in rows if r["client"] == BANK_IS]
    hh = "%s/GOV/70000050/sanaripaymak-service/" % INST
    assert all(r["service"].startswith(hh) for r in bank), bank
    # the story, newest first: ended, answered under consent 2, withdrawn,
    # answered x3 under consent 1 (family-members, address-fact with issue),
    # not confirmed yet, no consent (x3: address-fact, family-members, SOAP)
    outcomes = [(r["outcome"], r["consent_id"]) for r in bank]
    c1, c2 = fx.consent, fx.consent2
    assert outcomes == [("refused", c2), ("answered", c2), ("refused", c1), ("answered", c1),
                        ("answered", c1), ("refused", c1), ("refused", None), ("refused", None),
                        ("refused", None)], outcomes
    assert "ended on" in bank[0]["reason"] and "withdrawn on" in bank[2]["reason"], bank
    assert bank[1]["purpose"] == "Card application 3", bank[1]        # the consent's purpose
    # what the person consented to, with the bank's X-Road-Issue beside it (it used to replace it)
    assert bank[4]["purpose"] == ("Mortgage application 17 (the caller's reference, X-Road-Issue: "
                                  "LOAN-17)"), bank[4]
    assert bank[3]["service"].endswith("/family-members"), bank[3]
    # the exchange's message ids: the X-Road-Id the bank sent (REST), a UUID (the SOAP one)
    assert len([r for r in bank if r["message_id"].startswith("consent-it-")]) == 8, bank
    assert all(r["message_id"] for r in bank), bank
    assert bank[0]["reason"] and bank[1]["reason"] is None, bank
    # the clerk's queries, answered without consent: family-members (test_b),
    # address-fact with its issue
    clerk = [r for r in rows if r["client"] == CLERK]
    assert [r["outcome"] for r in clerk] == ["answered", "answered"], clerk
    assert clerk[0]["service"].endswith("/family-members") and clerk[0]["consent_id"] is None, clerk
    assert clerk[1]["purpose"] == "certificate 2026/115" and clerk[1]["consent_id"] is None, clerk
    # the other member: the one refused query, in their own report only
    status, rep2 = portal(fx, "GET", "/data-access-report/" + OTHER, user="KG" + OTHER)
    assert status == 200 and [r["outcome"] for r in rep2["accesses"]] == ["refused"], rep2


def test_f_only_the_person_reads_it(fx):
    status, err = portal(fx, "GET", "/data-access-report/" + PIN, user="KG" + OTHER)
    assert status == 400 and "not the person" in err["message"], err
    status, err = portal(fx, "GET", "/data-access-report/" + PIN, user=None)
    assert status == 400 and "X-Road-UserId" in err["message"], err
    # the bank has no access to the report at all
    status, rh, body, _ = rest(fx, "bank", "GET", CONSENT + "/data-access-report/" + PIN, BANK_IS,
                               user="KG" + PIN)
    assert status == 500 and h.header_values(rh, "X-Road-Error") == [DENIED], (status, body[:300])


def test_g_portal_and_kiosk_answered_about_their_person_only(fx):
    """The portal and the kiosk act for the person signed in there (global
    configuration: group citizen-facing, actsForUser="true"): a service about
    a person answers them about that person only. Before, the portal read
    anyone's household (and disability status, employment, bills) under
    another person's X-Road-UserId or none. The refusal is in the report of
    the person asked about."""
    KIOSK = "%s/GOV/70000050/kiosk" % INST
    for gw, client, user, why in (("state", PORTAL, "KG" + OTHER, "is not the person asked about"),
                                  ("state", PORTAL, None, "send that person as X-Road-UserId"),
                                  # the kiosk is no staff system: not in the municipalities group
                                  ("municipality", KIOSK, OTHER, "may not call")):
        assert_refused(fx, rest(fx, gw, "GET", "%s/family-members/%s" % (HH, PIN), client, user=user), why)
    for user in ("KG" + PIN, PIN, "KGZ-" + PIN):
        assert_answered(rest(fx, "state", "GET", "%s/address-fact/%s" % (HH, PIN), PORTAL, user=user))
    # a clerk's system does not act for one person: it asks about anyone
    assert_answered(rest(fx, "municipality", "GET", "%s/address-fact/%s" % (HH, PIN), CLERK))
    status, rep = portal(fx, "GET", "/data-access-report/" + PIN)
    assert status == 200, rep
    mine = [r for r in rep["accesses"] if r["client"] in (PORTAL, KIOSK)]
    refused = [r for r in mine if r["outcome"] == "refused"]
    assert len(refused) == 2 and all("X-Road-UserId" in r["reason"] for r in refused), mine
    assert len([r for r in mine if r["outcome"] == "answered"]) == 3, mine


def test_h_unwritable_access_log_answers_nothing(fx):
    """A query about a person is answered only once its record is written. The
    records of the queries of one event-loop turn are written together, in one
    transaction, before those queries reach the service (gateway/core/provider.c,
    "parked"). While another process holds the access log's write lock longer
    than the gateway waits (500 ms), each query of a burst gets
    Server.ServerProxy.DatabaseError and no data, and none is recorded; once
    the lock is gone, each query of a burst is answered and recorded."""
    import threading
    al = os.path.join(fx.ex.dir, "data", "municipality", "accesslog.db")
    target = fx.ex.url("municipality", "%s/address-fact/%s" % (HH, PIN))

    def burst(tag, n=6):
        out = [None] * n

        def one(i):
            hdrs = [("X-Road-Client", CLERK), ("X-Road-Id", "%s-%d" % (tag, i)),
                    ("X-Road-Issue", "%s-%d" % (tag, i))]
            out[i] = h.request_raw("GET", target, None, headers=hdrs)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        return out

    offset = os.path.getsize(fx.ex.logs["municipality"])
    lock = sqlite3.connect(al, isolation_level=None, timeout=5)
    try:
        lock.execute("BEGIN IMMEDIATE")
        for status, rh, body in burst("locked"):
            assert status == 500, (status, body[:400])
            assert h.header_values(rh, "X-Road-Error") == ["Server.ServerProxy.DatabaseError"], rh
            assert "access log cannot be used now" in json.loads(body)["message"], body[:400]
            assert PIN.encode() not in body and b"LBD-0001" not in body, body[:400]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    logged = fx.ex.log_since("municipality", offset)
    assert "event=consent ok=0 calls=" in logged and "locked" in logged, logged[-2000:]
    for status, rh, body in burst("after"):
        assert status == 200, (status, body[:400])
        assert json.loads(body)["pin"] == PIN, body[:400]
    status, rep = portal(fx, "GET", "/data-access-report/" + PIN)
    assert status == 200, rep
    ids = sorted(r["message_id"] for r in rep["accesses"] if r["client"] == CLERK)
    assert [i for i in ids if i.startswith("locked-")] == [], ids
    assert [i for i in ids if i.startswith("after-")] == ["after-%d" % i for i in range(6)], ids
    for r in rep["accesses"]:
        if r["message_id"].startswith("after-"):
            assert r["purpose"] == r["message_id"] and r["outcome"] == "answered", r


def test_i_callers_leaving_while_their_record_waits(fx):
    """Callers that close their connection (here: send the query, then shut
    their side at once, which the gateway takes as leaving) while their
    query waits for its access-log record: each exchange ends as aborted,
    the gateway goes on serving (under ASan in the test run: no leak, no
    use after free)."""
    import socket
    port = fx.ex.port("municipality")
    offset = os.path.getsize(fx.ex.logs["municipality"])
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(("GET %s/address-fact/%s HTTP/1.1\r\nHost: x\r\nX-Road-Client: %s\r\n"
                   "X-Road-Id: gone-%d\r\n\r\n" % (HH, PIN, CLERK, i)).encode())
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
        s.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        logged = fx.ex.log_since("municipality", offset)
        if logged.count("event=request ") >= 20:
            break
        time.sleep(0.1)
    assert logged.count("event=request ") >= 20, logged[-3000:]
    assert "event=aborted" in logged, logged[-3000:]
    assert fx.ex.alive("municipality")
    assert_answered(rest(fx, "municipality", "GET", "%s/address-fact/%s" % (HH, PIN), CLERK))


def test_j_a_burst_of_queries_all_recorded_and_answered(fx):
    """More queries about a person than one write takes (256) and than the
    access log holds waiting (1024) arrive in one event-loop turn (the
    gateway stopped while they are sent on 1100 open connections): each is
    answered and recorded. (Before, a burst kept pushing its write back and
    the queries past 1024 got DatabaseError with the database healthy.)"""
    import resource
    import signal
    import socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < BURST + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, BURST + 400), hard))
    port = fx.ex.port("municipality")
    socks = []
    pid = fx.ex.procs["municipality"].pid
    try:
        for i in range(BURST):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=60))
        time.sleep(0.5)   # every connection accepted before the burst
        os.kill(pid, signal.SIGSTOP)
        try:
            for i, s in enumerate(socks):
                s.sendall(("GET %s/address-fact/%s HTTP/1.1\r\nHost: x\r\nX-Road-Client: %s\r\n"
                           "X-Road-Id: burst-%d\r\n\r\n" % (HH, PIN, CLERK, i)).encode())
        finally:
            os.kill(pid, signal.SIGCONT)
        statuses = {}
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                assert chunk, data
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            n = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            while len(body) < n:
                chunk = s.recv(65536)
                assert chunk, head
                body += chunk
            st = int(head.split(b" ", 2)[1])
            statuses[st] = statuses.get(st, 0) + 1
            if st != 200 and statuses[st] == 1:
                print("first non-200:", head.decode(errors="replace"), body[:300])
    finally:
        for s in socks:
            s.close()
    assert statuses == {200: BURST}, statuses
    db = sqlite3.connect(os.path.join(fx.ex.dir, "data", "municipality", "accesslog.db"))
    n = db.execute("SELECT count(*) FROM access_log WHERE message_id LIKE 'burst-%' AND outcome = "
                   "'answered'").fetchone()[0]
    db.close()
    assert n == BURST, n
