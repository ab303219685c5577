#!/usr/bin/env python3
"""Writes seed.sql: demo data for the veterinary registry (fictional animals).

Built from the household register (adapters/household/seed.sql): the owner
of a holding is the head of the household, with his PIN (or, for LBD-0002,
the foreign head's passport). Some households have fresh data, some stale
(last updated more than a year ago), some none at all (never visited by the
veterinary service). The cases the tests and the demo name are in FIXED;
the rest come from an RNG seeded with the household id.

Update dates are written relative to the day the database is created
(SQL date('now', 'localtime', '-N days')), so that "fresh" stays fresh in a
demo run years after this file was generated; the tests name N, the age in
days. Registration dates are fixed.

Usage: python3 gen_seed.py > seed.sql   (reads ../household/{schema,seed}.sql)
"""
import datetime
import os
import random
import sqlite3
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")

SPECIES = [  # code, ky, ru, tagged
    ("cattle", "бодо мал", "крупный рогатый скот", True),
    ("sheep", "кой", "овцы", True),
    ("goats", "эчки", "козы", True),
    ("horses", "жылкы", "лошади", True),
    ("yaks", "топоз", "яки", True),
    ("poultry", "үй канаттуулары", "домашняя птица", False),
]


class Ago:
    """A date N days before the database is created."""
    def __init__(self, days):
        self.days = days


def D(y, m, d):
    return datetime.date(y, m, d)


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Ago):
        return "date('now', 'localtime', '-%d days')" % v.days
    if isinstance(v, datetime.date):
        return "'%s'" % v.isoformat()
    return "'%s'" % str(v).replace("'", "''")


def rng_for(key):
    return random.Random(zlib.crc32(key.encode()))


def full_name(last, first, patr):
    return " ".join(x for x in (last, first, patr) if x)


def load_heads():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    return db.execute(
        "SELECT h.id, p.pin, p.last_name, p.first_name, p.patronymic, p.citizenship,"
        " p.document_type, p.document_number, h.registered_on"
        " FROM households h JOIN persons p ON p.household_id = h.id AND p.relation = 'head'"
        " ORDER BY h.id").fetchall()


class Seed:
    def __init__(self):
        self.holdings, self.records, self.tags = [], [], []
        self.serial = 1000

    def holding(self, hid, pin, name, registered, updated, cit="KGZ", doc_type=None, doc_no=None):
        self.holdings.append((hid, pin, name, cit, doc_type, doc_no, registered, updated))

    def record(self, hid, species, heads, tagged, updated):
        rid = len(self.records) + 1
        self.records.append((rid, hid, species, heads, updated))
        for _ in range(tagged):
            self.serial += 1
            self.tags.append((rid, "KG7106%06d" % self.serial))


def fixed(seed):
    """The cases the tests and the demo name; keep in step with README.md."""
    # Fresh: updated 12 and 40 days ago; two lambs not tagged yet.
    seed.holding("LBD-0001", "21205197500417", "Осмонов Бакыт Жумабекович", D(2015, 4, 10), Ago(12))
    seed.record("LBD-0001", "cattle", 3, 3, Ago(12))
    seed.record("LBD-0001", "sheep", 12, 10, Ago(12))
    seed.record("LBD-0001", "horses", 1, 1, Ago(40))
    seed.record("LBD-0001", "poultry", 15, 0, Ago(40))
    # Fresh, the owner a Kazakh citizen without a PIN.
    seed.holding("LBD-0002", None, "Сейткалиев Ержан Болатович", D(2013, 5, 20), Ago(30),
                 "KAZ", "passport", "N1234567")
    seed.record("LBD-0002", "sheep", 8, 8, Ago(30))
    seed.record("LBD-0002", "goats", 4, 4, Ago(30))
    # Stale: nothing updated for more than a year.
    seed.holding("LBD-0003", "23001198800158", "Төрөкулов Үсөн Мамытович", D(2016, 6, 1), Ago(430))
    seed.record("LBD-0003", "cattle", 2, 2, Ago(500))
    seed.record("LBD-0003", "goats", 5, 3, Ago(430))
    # LBD-0004: never visited, no data at all.
    # Known, and keeps no animals (confirmed 75 days ago).
    seed.holding("LBD-0005", "21503199200011", "Нурматов Кубат Асылбекович", D(2018, 5, 15), Ago(75))


def generated(seed, heads):
    done = {h[0] for h in seed.holdings} | {"LBD-0004"}
    for hid, pin, last, first, patr, cit, doc_type, doc_no, reg in heads:
        if hid in done:
            continue
        rng = rng_for(hid)
        kind = rng.random()
        if kind < 0.2:
            continue                                  # no veterinary data
        stale = kind < 0.4
        base = rng.randint(400, 1500) if stale else rng.randint(3, 200)
        registered = datetime.date.fromisoformat(reg) + datetime.timedelta(days=rng.randint(0, 200))
        seed.holding(hid, pin, full_name(last, first, patr), registered, Ago(base), cit,
                     doc_type, doc_no)
        for code, _ky, _ru, tagged in SPECIES:
            if rng.random() < (0.15 if code == "yaks" else 0.55):
                heads_n = rng.randint(1, 4) if code in ("cattle", "horses", "yaks") else rng.randint(3, 30)
                tags = heads_n - rng.randint(0, min(2, heads_n)) if tagged else 0
                seed.record(hid, code, heads_n, tags, Ago(base + rng.randint(0, 30)))


def main():
    seed = Seed()
    fixed(seed)
    generated(seed, load_heads())
    out = ["-- Demo data for the veterinary registry: fictional animals of real households.",
           "-- Generated by gen_seed.py (deterministic); edit the script, not this file.",
           "-- Update dates are relative to the day the database is created.",
           "INSERT INTO meta VALUES ('schema_version', '1');"]
    out += ["INSERT INTO species VALUES (%s, %s, %s, %d);" % (q(c), q(k), q(r), i + 1)
            for i, (c, k, r, _t) in enumerate(SPECIES)]
    out += ["INSERT INTO holdings VALUES (%s);" % ", ".join(q(v) for v in h) for h in seed.holdings]
    out += ["INSERT INTO records VALUES (%s);" % ", ".join(q(v) for v in r) for r in seed.records]
    out += ["INSERT INTO tags VALUES (%s);" % ", ".join(q(v) for v in t) for t in seed.tags]
    print("\n".join(out))


if __name__ == "__main__":
    main()
