#!/usr/bin/env python3
"""Writes seed.sql: demo data for the real-estate cadastre (fictional rights).

Built from the household register (adapters/household/seed.sql): every
household whose house has a cadastral code gets that house here, held by its
head (alone, or half each with the spouse), with the address the household
register has, so a clerk who looks a house up in both registries sees the
same thing. A household without a cadastral code (LBD-0003 and a few
generated ones) has no house here: the house is not formally registered. The
cases the tests and the demo name are written out in FIXED; the rest comes
from an RNG seeded with the household id, so one household's data does not
change when another is added.

Usage: python3 gen_seed.py > seed.sql   (reads ../household/{schema,seed}.sql)
"""
import datetime
import os
import random
import sqlite3
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")

TYPES = [
    ("land_plot", "жер участогу", "земельный участок"),
    ("house", "турак үй", "жилой дом"),
    ("flat", "батир", "квартира"),
]
PURPOSES = [
    ("housing", "жашоо үчүн", "для проживания"),
    ("agricultural", "агрардык", "сельскохозяйственного назначения"),
    ("public", "коомдук", "общественного назначения"),
]

BANK = ("Демо коммерциялык банкы ААК", "02504199610013")      # COM/60000001
AO = ("Лебединовка айыл өкмөтү", "01803200010105")
AGRO = ("Ак-Суу Агро ЖЧК", "02210201810034")
COURT = "Аламүдүн райондук соту"
HOUSEHOLD_BOOK = "Үй чарба китебинен көчүрмө, Лебединовка айыл өкмөтү"
LAND_SHARE = "Жер үлүшүнө укук күбөлүгү"


def D(y, m, d):
    return datetime.date(y, m, d)


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.date):
        return "'%s'" % v.isoformat()
    return "'%s'" % str(v).replace("'", "''")


def rng_for(key):
    return random.Random(zlib.crc32(key.encode()))


def rand_date(rng, lo, hi):
    return datetime.date.fromordinal(rng.randint(lo.toordinal(), hi.toordinal()))


def full_name(last, first, patr):
    return " ".join(x for x in (last, first, patr) if x)


def load_household():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    households = db.execute(
        "SELECT id, region, district, ayil_okmotu, village, street, house, cadastral_code"
        " FROM households ORDER BY id").fetchall()
    members = {}
    for hid, pin, last, first, patr, rel in db.execute(
            "SELECT household_id, pin, last_name, first_name, patronymic, relation"
            " FROM persons WHERE pin IS NOT NULL ORDER BY id"):
        members.setdefault(hid, []).append((pin, full_name(last, first, patr), rel))
    return households, members


class Seed:
    def __init__(self):
        self.props, self.rights, self.encs = [], [], []

    def prop(self, eni, typ, purpose, addr, land, building, registered, hid=None):
        region, district, ao, village, street, house, flat = addr
        self.props.append((eni, typ, purpose, region, district, ao, village, street, house, flat,
                           land, building, registered, hid))

    def person(self, eni, pin, name, share, registered, basis, right="ownership"):
        self.rights.append((eni, "person", pin, None, name, "KGZ", None, None, right,
                            share[0], share[1], registered, basis))

    def foreigner(self, eni, cit, doc_type, doc_no, name, share, registered, basis):
        self.rights.append((eni, "foreign_person", None, None, name, cit, doc_type, doc_no,
                            "ownership", share[0], share[1], registered, basis))

    def organisation(self, eni, org, share, registered, basis, right="ownership"):
        self.rights.append((eni, "organisation", None, org[1], org[0], None, None, None, right,
                            share[0], share[1], registered, basis))

    def enc(self, eni, typ, holder, tax, registered, until, basis):
        self.encs.append((eni, typ, holder, tax, registered, until, basis))


def house_addr(h):
    return (h[1], h[2], h[3], h[4], h[5], h[6], None)


def fields_addr(h, village):
    """An agricultural plot: in the municipality's fields, no street."""
    return (h[1], h[2], h[3], village, None, None, None)


def fixed(seed, hh):
    """The cases the tests and the demo name; keep in step with README.md."""
    h = hh["LBD-0001"]          # house held half each by the spouses
    seed.prop("7100600330016", "house", "housing", house_addr(h), "1200.00", "96.50",
              D(2004, 5, 17), "LBD-0001")
    for pin, name in (("21205197500417", "Осмонов Бакыт Жумабекович"),
                      ("10309197901235", "Осмонова Айгүл Токтосуновна")):
        seed.person("7100600330016", pin, name, (1, 2), D(2004, 5, 17),
                    HOUSEHOLD_BOOK + ", 2004-05-10")
    # Бакыт's agricultural land share, mortgaged to the bank.
    seed.prop("7100600510234", "land_plot", "agricultural", fields_addr(h, "Лебединовка"),
              "25000.00", None, D(1999, 11, 2))
    seed.person("7100600510234", "21205197500417", "Осмонов Бакыт Жумабекович", (1, 1),
                D(1999, 11, 2), LAND_SHARE + " №0412, 1999-10-20")
    seed.enc("7100600510234", "mortgage", BANK[0], BANK[1], D(2022, 4, 11), D(2027, 4, 11),
             "Ипотека келишими №ИП-2022/0417")
    # Their son's flat in Bishkek (the dashed ENI of domain.md), mortgaged.
    seed.prop("102020007000101061", "flat", "housing",
              ("Бишкек шаары", "Свердлов району", None, "Бишкек", "Ахунбаев көчөсү", "119", "61"),
              None, "48.30", D(2023, 6, 20))
    seed.person("102020007000101061", "22211200100562", "Осмонов Нурлан Бакытович", (1, 1),
                D(2023, 6, 20), "Үлүштүк курулуш келишими №Б-119/61, 2021-02-03")
    seed.enc("102020007000101061", "mortgage", BANK[0], BANK[1], D(2023, 6, 20),
             D(2038, 6, 20), "Ипотека келишими №ИП-2023/1190")

    h = hh["LBD-0002"]          # a Kazakh citizen without a PIN holds half
    seed.prop("7100600330102", "house", "housing", house_addr(h), "800.00", "74.20",
              D(2012, 6, 1), "LBD-0002")
    seed.foreigner("7100600330102", "KAZ", "passport", "N1234567", "Сейткалиев Ержан Болатович",
                   (1, 2), D(2012, 6, 1), "Сатып алуу-сатуу келишими №1187, 2012-05-28")
    seed.person("7100600330102", "12506198400321", "Сейткалиева Жылдыз Эсенкуловна", (1, 2),
                D(2012, 6, 1), "Сатып алуу-сатуу келишими №1187, 2012-05-28")

    # LBD-0003: the house has no cadastral code, so it is not here. The head
    # holds an inherited agricultural plot; his wife holds nothing.
    h = hh["LBD-0003"]
    seed.prop("7100600510871", "land_plot", "agricultural", fields_addr(h, "Көк-Жар"),
              "18000.00", None, D(2016, 3, 22))
    seed.person("7100600510871", "23001198800158", "Төрөкулов Үсөн Мамытович", (1, 1),
                D(2016, 3, 22), "Мураска укук күбөлүгү №223, 2016-02-11")

    # The 1990s duplicate PIN: two men, two houses, one PIN.
    h = hh["LBD-0004"]
    seed.prop("7100600330215", "house", "housing", house_addr(h), "1000.00", "88.00",
              D(2016, 9, 14), "LBD-0004")
    seed.person("7100600330215", "21503199200011", "Маматов Кубат Рысбекович", (1, 1),
                D(2016, 9, 14), HOUSEHOLD_BOOK + ", 2016-09-01")
    h = hh["LBD-0005"]
    seed.prop("7100600330377", "house", "housing", house_addr(h), "1500.00", "102.00",
              D(2018, 4, 20), "LBD-0005")
    seed.person("7100600330377", "21503199200011", "Нурматов Кубат Асылбекович", (1, 1),
                D(2018, 4, 20), HOUSEHOLD_BOOK + ", 2018-04-02")

    # Municipal land held by an organisation, leased to a company.
    seed.prop("7100600512001", "land_plot", "agricultural", fields_addr(h, "Көк-Жар"),
              "120000.00", None, D(2005, 2, 15))
    seed.organisation("7100600512001", AO, (1, 1), D(2005, 2, 15),
                      "Жер үлүштөрүн бөлүштүрүү фонду, Өкмөттүн токтому №111, 2005")
    seed.enc("7100600512001", "lease", AGRO[0], AGRO[1], D(2021, 3, 1), D(2031, 3, 1),
             "Ижара келишими №14, 2021-02-20")


def generated(seed, households, members):
    taken = {p[0] for p in seed.props}
    for h in households:
        hid, code = h[0], h[7]
        if code is None or code in taken or hid not in members:
            continue
        rng = rng_for(hid)
        people = members[hid]
        head = next((p for p in people if p[2] == "head"), people[0])
        spouse = next((p for p in people if p[2] == "spouse"), None)
        reg = rand_date(rng, D(1998, 1, 1), D(2018, 12, 31))
        land = "%d.00" % (rng.randint(12, 50) * 50)
        building = "%d.%d0" % (rng.randint(55, 180), rng.randint(0, 9))
        seed.prop(code, "house", "housing", house_addr(h), land, building, reg, hid)
        basis = "%s, %s" % (HOUSEHOLD_BOOK, (reg - datetime.timedelta(days=rng.randint(3, 30))).isoformat())
        if spouse is not None and rng.random() < 0.4:
            seed.person(code, head[0], head[1], (1, 2), reg, basis)
            seed.person(code, spouse[0], spouse[1], (1, 2), reg, basis)
        else:
            seed.person(code, head[0], head[1], (1, 1), reg, basis)
        if hid == "LBD-0008":    # the arrest the tests name
            seed.enc(code, "arrest", COURT, None, D(2023, 9, 12), None,
                     "Соттун аныктамасы №2-1187/23, 2023-09-08")
        if rng.random() < 0.3:   # an agricultural land share
            eni = "71006005%05d" % rng.randint(1000, 99999)
            if eni in taken:
                continue
            taken.add(eni)
            plot_reg = rand_date(rng, D(1996, 1, 1), D(2005, 12, 31))
            seed.prop(eni, "land_plot", "agricultural", fields_addr(h, h[4]),
                      "%d.00" % (rng.randint(5, 40) * 1000), None, plot_reg)
            seed.person(eni, head[0], head[1], (1, 1), plot_reg,
                        "%s №%04d, %s" % (LAND_SHARE, rng.randint(100, 9999), plot_reg.isoformat()))


def main():
    households, members = load_household()
    hh = {h[0]: h for h in households}
    seed = Seed()
    fixed(seed, hh)
    generated(seed, households, members)
    out = ["-- Demo data for the real-estate cadastre: fictional rights to real places.",
           "-- Generated by gen_seed.py (deterministic); edit the script, not this file.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('data_as_of', '2024-03-01');"]
    out += ["INSERT INTO property_types VALUES (%s, %s, %s);" % tuple(q(v) for v in t) for t in TYPES]
    out += ["INSERT INTO purposes VALUES (%s, %s, %s);" % tuple(q(v) for v in p) for p in PURPOSES]
    out += ["INSERT INTO properties VALUES (%s);" % ", ".join(q(v) for v in p) for p in seed.props]
    out += ["INSERT INTO rights (eni, holder_type, holder_pin, holder_tax_number, holder_name,"
            " citizenship, document_type, document_number, right_type, share_numerator,"
            " share_denominator, registered_on, basis) VALUES (%s);" % ", ".join(q(v) for v in r)
            for r in seed.rights]
    out += ["INSERT INTO encumbrances (eni, type, holder, holder_tax_number, registered_on,"
            " valid_until, basis) VALUES (%s);" % ", ".join(q(v) for v in e) for e in seed.encs]
    print("\n".join(out))


if __name__ == "__main__":
    main()
