#!/usr/bin/env python3
"""Writes seed.sql: demo data for the electronic documents register (fictional).

Deterministic (fixed random seed): re-running gives the same file, so the
unit tests can name exact values. The registers of 2025 and of 2026 up to
2026-11-20 are simulated working day by working day: letters, requests and
citizens' applications come in, many under execution control; outgoing
replies close the control of the incoming document they answer (related_to),
on time or late; some controls stay open (overdue, or still in progress).
Citizens are the people of the household register (adapters/household), so a
clerk's lookups across registries agree.
Usage: python3 gen_seed.py > seed.sql
"""
import base64
import datetime
import hashlib
import os
import random
import sqlite3

RNG = random.Random(20260301)
HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")
TZ = "+06:00"                       # Asia/Bishkek
END = datetime.date(2026, 11, 20)   # last day of the demo registers
PREFIX = {"in": "ВХ", "out": "ИСХ"}

DOC_TYPES = [
    ("letter", "письмо", "кат"),
    ("application", "заявление", "арыз"),
    ("complaint", "жалоба", "даттануу"),
    ("request", "запрос", "сурам"),
    ("order", "распоряжение", "буйрук"),
    ("decision", "решение", "чечим"),
    ("certificate", "справка", "маалымкат"),
    ("report", "отчёт", "отчет"),
    ("reply", "ответ", "жооп"),
    ("other", "прочее", "башка"),
]

ORGS = [
    ("Аламүдүн районунун мамлекеттик администрациясы", "Бекмуратов А. С., аким"),
    ("Чүй облусундагы өкмөттүн ыйгарым укуктуу өкүлчүлүгү", "Токтогулов Н. Ж., орун басар"),
    ("Социалдык фонддун Аламүдүн райондук башкармалыгы", "Сыдыкова Г. А., начальник"),
    ("Мамлекеттик каттоо кызматынын Аламүдүн райондук бөлүмү", "Эсенов Т. Б., начальник"),
    ("Аламүдүн райондук айыл чарба башкармалыгы", "Жапаров К. О., начальник"),
    ("Аламүдүн райондук билим берүү бөлүмү", "Мамбетова Ч. К., начальник"),
    ("Ветеринардык кызматтын Аламүдүн райондук бөлүмү", "Осмоналиев Б. Т., начальник"),
    ("Аламүдүн райондук салык кызматы", "Абдраимов М. Н., начальник"),
]
IN_ORG_TITLES = [
    ("letter", "О подготовке к весенне-полевым работам"),
    ("letter", "О проведении весенней санитарной очистки территории"),
    ("request", "Запрос сведений о численности скота по айыл өкмөтү"),
    ("request", "Запрос списка малообеспеченных семей"),
    ("request", "Запрос сведений о земельных участках"),
    ("order", "Распоряжение о проведении подворного обхода"),
    ("letter", "О сроках сдачи отчётности за квартал"),
    ("request", "Запрос сведений о детях школьного возраста"),
    ("letter", "О вакцинации мелкого рогатого скота"),
    ("request", "Запрос сведений о задолженности по земельному налогу"),
]
IN_CITIZEN_TITLES = [
    ("application", "Заявление о выдаче справки о составе семьи"),
    ("application", "Заявление о выделении земельного участка"),
    ("application", "Заявление о материальной помощи"),
    ("complaint", "Жалоба на отсутствие поливной воды"),
    ("complaint", "Жалоба на состояние дороги"),
    ("application", "Заявление о выдаче справки о наличии скота"),
]
OUT_TITLES = [
    ("certificate", "Справка о составе семьи"),
    ("certificate", "Справка о наличии скота"),
    ("letter", "О предоставлении сведений"),
    ("report", "Отчёт о выполнении плана мероприятий"),
    ("letter", "Информация о ходе весенне-полевых работ"),
]
STAFF = ["Жумалиева Н. А., ведущий специалист", "Касымов Э. Т., специалист по земельным вопросам",
         "Абдыкадырова С. М., секретарь", "Үсөнбаев Р. К., специалист по соцвопросам"]
HEAD = "Асанов Т. Б., глава Лебединовского айыл өкмөтү"
CONTROLLED_DAYS = [10, 15, 30]


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def load_citizens():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    rows = db.execute(
        "SELECT p.last_name, p.first_name, p.patronymic, h.village, h.street, h.house, h.id"
        " FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE p.birth_date <= '2006-01-01' ORDER BY p.id").fetchall()
    out = []
    for last, first, patr, village, street, house, hid in rows:
        name = " ".join(x for x in (last, first, patr) if x)
        out.append(("%s (%s, %s %s)" % (name, village, street, house), hid))
    return out


def fake_signature(rng):
    """Bytes shaped like a detached CMS SignedData (DER SEQUENCE), not a real one."""
    body = bytes(rng.randrange(256) for _ in range(rng.randint(90, 150)))
    raw = b"\x30\x81" + bytes([len(body)]) + body
    return base64.b64encode(raw).decode(), hashlib.sha256(raw).hexdigest(), len(raw)


def digest(rng):
    return "".join("%02x" % rng.randrange(256) for _ in range(32))


def working_days(start, end):
    d = start
    while d <= end:
        if d.weekday() < 5 and not (d.month == 1 and d.day <= 8):
            yield d
        d += datetime.timedelta(days=1)


class Register:
    def __init__(self):
        self.docs = []          # dicts, in order of registration
        self.counters = {}      # (direction, year) -> last seq
        self.open_controls = [] # incoming docs under control, not executed

    def add(self, direction, day, doc):
        key = (direction, day.year)
        seq = self.counters.get(key, 0) + 1
        self.counters[key] = seq
        minute = 9 * 60 + len([d for d in self.docs if d["registered_on"] == day.isoformat()]) * 37 \
            + RNG.randint(0, 30)
        doc.update(direction=direction, year=day.year, seq=seq,
                   number="%s-%d-%06d" % (PREFIX[direction], day.year, seq),
                   registered_on=day.isoformat(),
                   registered_at="%sT%02d:%02d:00%s" % (day.isoformat(), minute // 60 % 24,
                                                         minute % 60, TZ))
        sig, sha, size = fake_signature(RNG)
        doc.update(signature=sig, signature_sha256=sha, signature_size=size,
                   content_digest=digest(RNG))
        doc.setdefault("related_to", None)
        doc.setdefault("due_date", None)
        doc.setdefault("executed_on", None)
        doc.setdefault("executed_by", None)
        self.docs.append(doc)
        return doc


def incoming(reg, day, citizens):
    if RNG.random() < 0.45:
        name, hid = RNG.choice(citizens)
        kind, title = RNG.choice(IN_CITIZEN_TITLES)
        doc = dict(doc_type=kind, title=title, correspondent=name, author=name.split(" (")[0],
                   signed_by=name.split(" (")[0])
        controlled = True
    else:
        org, chief = RNG.choice(ORGS)
        kind, title = RNG.choice(IN_ORG_TITLES)
        doc = dict(doc_type=kind, title=title, correspondent=org,
                   author="исп. " + RNG.choice(["Алиева Д.", "Бакиров У.", "Кадырова А.",
                                                 "Турсунов Ж."]),
                   signed_by=chief)
        controlled = kind == "request" or RNG.random() < 0.6
    if controlled:
        doc["due_date"] = (day + datetime.timedelta(days=RNG.choice(CONTROLLED_DAYS))).isoformat()
    doc = reg.add("in", day, doc)
    if controlled:
        reg.open_controls.append(doc)


def reply(reg, day, target):
    if target["doc_type"] in ("application",) and "справки" in target["title"]:
        kind, title = "certificate", target["title"].replace("Заявление о выдаче справки",
                                                             "Справка")
    else:
        kind, title = "reply", "Ответ на " + target["number"] + ": " + target["title"]
    who = target["correspondent"]
    doc = reg.add("out", day, dict(doc_type=kind, title=title[:500], correspondent=who,
                                   author=RNG.choice(STAFF), signed_by=HEAD,
                                   related_to=target["number"]))
    target["executed_on"] = day.isoformat()
    target["executed_by"] = doc["number"]
    reg.open_controls.remove(target)


def outgoing(reg, day, citizens):
    kind, title = RNG.choice(OUT_TITLES)
    if kind == "certificate":
        who = RNG.choice(citizens)[0]
    else:
        who = RNG.choice(ORGS)[0]
    reg.add("out", day, dict(doc_type=kind, title=title, correspondent=who,
                             author=RNG.choice(STAFF), signed_by=HEAD))


def simulate(reg, citizens):
    for day in working_days(datetime.date(2025, 1, 9), END):
        for _ in range(RNG.choice([0, 0, 0, 1, 1, 2])):
            incoming(reg, day, citizens)
        # Replies: the oldest open controls registered before today, most on
        # time; some late; some never (they stay overdue).
        for target in list(reg.open_controls):
            if target["registered_on"] >= day.isoformat() or target.get("ignored"):
                continue
            due = datetime.date.fromisoformat(target["due_date"])
            if "p" not in target:
                target["p"] = RNG.random()
                target["ignored"] = target["p"] < 0.04
                if target["ignored"]:
                    continue
            late = target["p"] > 0.85
            if (not late and RNG.random() < 0.25) or (late and day > due + datetime.timedelta(days=3)):
                reply(reg, day, target)
        if RNG.random() < 0.3:
            outgoing(reg, day, citizens)


def main():
    citizens = load_citizens()
    reg = Register()
    simulate(reg, citizens)
    out = ["-- Demo data for the electronic documents register: fictional correspondence.",
           "-- Generated by gen_seed.py (deterministic); edit the script, not this file.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('data_as_of', %s);" % q(END.isoformat())]
    out += ["INSERT INTO doc_types VALUES (%s, %s, %s);" % (q(c), q(r), q(k))
            for c, r, k in DOC_TYPES]
    out += ["INSERT INTO reg_counters VALUES (%s, %d, %d);" % (q(d), y, s)
            for (d, y), s in sorted(reg.counters.items())]
    cols = ("registration_number", "direction", "year", "seq", "doc_type", "title",
            "correspondent", "author", "signed_by", "signature", "signature_sha256",
            "signature_size", "content_digest", "related_to", "registered_at", "registered_on",
            "due_date", "executed_on", "executed_by")
    keys = ("number",) + cols[1:]
    for d in reg.docs:
        out.append("INSERT INTO documents (%s) VALUES (%s);"
                   % (", ".join(cols), ", ".join(q(d[k]) for k in keys)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
