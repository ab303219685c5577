#!/usr/bin/env python3
"""Writes seed.sql: demo data for the social passport (fictional people).

The residents are those of the household register (adapters/household/seed.sql:
every member with a PIN, and the "pending" people on the municipality's
population list whose household is not entered yet), so a clerk who looks a
person up in both registers sees the same name and household.

The category periods the tests and the demo name are written out by hand in
FIXED; the "large family" entries are derived from the household register
(LARGE_FAMILY rule below), so they follow it when it changes.
Deterministic: no randomness at all. Usage: python3 gen_seed.py > seed.sql
"""
import datetime
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")
AS_OF = datetime.date(2024, 3, 1)          # the household register's data_as_of

SOCIAL_DEPT = "Аламүдүн райондук социалдык өнүктүрүү башкармалыгы"
MSEK = "Аламүдүн райондук МСЭК"
MSEK_CHILD = "Чүй облустук балдар МСЭКи"
AO = "Лебединовка айыл өкмөтү"

CATEGORIES = [  # code, Kyrgyz, Russian
    ("disability", "Майыптуулугу бар адам", "Лицо с инвалидностью"),
    ("disabled_child", "Ден соолугунун мүмкүнчүлүгү чектелген бала",
     "Ребёнок с ограниченными возможностями здоровья"),
    ("lonely_pensioner", "Жалгыз бой пенсионер", "Одинокий пенсионер"),
    ("uy_bulogo_komok", "«Үй-бүлөгө көмөк» жөлөкпулун алуучу",
     "Получатель пособия малообеспеченной семье «Үй-бүлөгө көмөк»"),
    ("chernobyl_liquidator", "Чернобыль АЭСиндеги кырсыктын кесепеттерин жоюуга катышуучу",
     "Участник ликвидации последствий аварии на Чернобыльской АЭС"),
    ("afghan_veteran", "Афганистандагы согуштун ардагери", "Ветеран войны в Афганистане"),
    ("large_family", "Көп балалуу үй-бүлө", "Многодетная семья"),
    ("orphan", "Жетим же ата-энесинин камкордугусуз калган бала",
     "Ребёнок-сирота или оставшийся без попечения родителей"),
    ("mother_heroine", "Баатыр эне", "Мать-героиня"),
    ("labour_veteran", "Эмгек ардагери", "Ветеран труда"),
]

CAUSES = [  # code, Kyrgyz, Russian
    ("general_illness", "жалпы оору", "общее заболевание"),
    ("since_childhood", "бала кезинен", "инвалидность с детства"),
    ("work_injury", "эмгектеги жаракат", "трудовое увечье"),
    ("occupational_disease", "кесиптик оору", "профессиональное заболевание"),
    ("military_service", "аскердик кызматтагы жаракат", "военная травма"),
    ("chernobyl", "Чернобыль АЭСиндеги кырсык", "авария на Чернобыльской АЭС"),
]


def D(y, m, d):
    return datetime.date(y, m, d)


def row(pin, category, start, end, doc, number, date, issuer, group=None, cause=None):
    return (pin, category, group, cause, start, end, doc, number, date, issuer)


# Keep in step with README.md ("The cases in the demo data") and the tests.
FIXED = [
    # Осмонова Күлүйпа (LBD-0001): group III, re-certified as group II from the
    # next day on, indefinitely: one continuous membership since 2016-04-12.
    row("10107195000110", "disability", D(2016, 4, 12), D(2018, 4, 30), "МСЭК актысы", "0417",
        D(2016, 4, 12), MSEK, "III", "general_illness"),
    row("10107195000110", "disability", D(2018, 5, 1), None, "МСЭК актысы", "0593",
        D(2018, 4, 27), MSEK, "II", "general_illness"),
    row("10107195000110", "labour_veteran", D(2010, 7, 1), None, "Эмгек ардагеринин күбөлүгү",
        "ЭА-10234", D(2010, 6, 15), SOCIAL_DEPT),
    # Жумабаева Сезим (LBD-0015): the benefit renewed with an overlap, then a
    # month without it, then again.
    row("12006199223345", "uy_bulogo_komok", D(2023, 1, 1), D(2023, 12, 31),
        "Жөлөкпул дайындоо жөнүндө чечим", "118", D(2022, 12, 20), SOCIAL_DEPT),
    row("12006199223345", "uy_bulogo_komok", D(2023, 12, 1), D(2024, 11, 30),
        "Жөлөкпул дайындоо жөнүндө чечим", "1342", D(2023, 11, 24), SOCIAL_DEPT),
    row("12006199223345", "uy_bulogo_komok", D(2025, 2, 1), None,
        "Жөлөкпул дайындоо жөнүндө чечим", "87", D(2025, 1, 28), SOCIAL_DEPT),
    # Ормонова Айгүл (LBD-0014): two back-to-back years of the benefit, now none.
    row("12503199153648", "uy_bulogo_komok", D(2021, 1, 1), D(2021, 12, 31),
        "Жөлөкпул дайындоо жөнүндө чечим", "64", D(2020, 12, 22), SOCIAL_DEPT),
    row("12503199153648", "uy_bulogo_komok", D(2022, 1, 1), D(2022, 12, 31),
        "Жөлөкпул дайындоо жөнүндө чечим", "1105", D(2021, 12, 21), SOCIAL_DEPT),
    # Түлөбердиев Таалай (LBD-0029): liquidator entered from a paper file
    # (certificate number and date unknown); disability caused by it.
    row("21911195284027", "chernobyl_liquidator", D(1992, 3, 1), None,
        "ЧАЭСтин кырсыгынын кесепеттерин жоюуга катышуучунун күбөлүгү", None, None, None),
    row("21911195284027", "disability", D(2005, 10, 3), None, "МСЭК актысы", "1288",
        D(2005, 9, 29), MSEK, "II", "chernobyl"),
    # Чыңгышев Төлөгөн (LBD-0008): liquidator.
    row("22102195508169", "chernobyl_liquidator", D(1990, 11, 15), None,
        "ЧАЭСтин кырсыгынын кесепеттерин жоюуга катышуучунун күбөлүгү", "Б-012734",
        D(1990, 11, 15), "Социалдык камсыздоо министрлиги"),
    # Afghan war veterans (LBD-0009, LBD-0017); the second had a disability
    # for two years only.
    row("22804196202024", "afghan_veteran", D(1989, 5, 10), None, "Согуш ардагеринин күбөлүгү",
        "А-204517", D(1989, 5, 10), "Аламүдүн райондук аскер комиссариаты"),
    row("20110196223409", "afghan_veteran", D(1988, 2, 17), None, "Согуш ардагеринин күбөлүгү",
        "А-118830", D(1988, 2, 17), "Аламүдүн райондук аскер комиссариаты"),
    row("20110196223409", "disability", D(2012, 3, 5), D(2014, 3, 31), "МСЭК актысы", "0266",
        D(2012, 3, 5), MSEK, "III", "military_service"),
    # Сатыбалдиев Таалай (LBD-0007), born 2019: until the day before he is 18.
    row("23007201968238", "disabled_child", D(2021, 3, 10), D(2037, 7, 29),
        "МСЭК корутундусу", "0211", D(2021, 3, 10), MSEK_CHILD),
    # Калыбекова Каныкей: on the population list only (household not entered).
    row("11106196331971", "lonely_pensioner", D(2023, 6, 1), None,
        "Жалгыз бой экендиги жөнүндө акт", "14", D(2023, 5, 25), AO),
    # Нурматова Мөлдүр, born 2013-10-10, under guardianship: population list only.
    row("11010201306325", "orphan", D(2020, 9, 15), D(2031, 10, 9),
        "Камкордук белгилөө жөнүндө чечим", "31", D(2020, 9, 15), AO),
    row("11203195520594", "mother_heroine", D(1999, 3, 8), None, "«Баатыр эне» күбөлүгү",
        "0458", D(1999, 3, 4), "Социалдык камсыздоо министрлиги"),
    # Үсөнбаев Үсөн (LBD-0023): a work injury disability that ended.
    row("20108198158702", "disability", D(2017, 9, 1), D(2019, 8, 31), "МСЭК актысы", "0981",
        D(2017, 8, 30), MSEK, "III", "work_injury"),
    # The PIN two men share (LBD-0004, LBD-0005): whose benefit is it?
    row("21503199200011", "uy_bulogo_komok", D(2024, 1, 1), None,
        "Жөлөкпул дайындоо жөнүндө чечим", "12", D(2023, 12, 27), SOCIAL_DEPT),
]


def load_household():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    residents = db.execute(
        "SELECT pin, last_name, first_name, patronymic, household_id FROM persons"
        " WHERE pin IS NOT NULL ORDER BY id").fetchall()
    residents += db.execute(
        "SELECT pin, last_name, first_name, NULL, NULL FROM pending_persons ORDER BY pin").fetchall()
    children = db.execute(
        "SELECT household_id, birth_date FROM persons WHERE relation IN ('son', 'daughter')"
        " AND birth_date IS NOT NULL ORDER BY household_id, birth_date").fetchall()
    mothers = dict(db.execute(
        "SELECT household_id, pin FROM persons WHERE relation = 'spouse' AND sex = 'female'"
        " AND pin IS NOT NULL").fetchall())
    return residents, children, mothers


def large_families(children, mothers):
    """LARGE_FAMILY rule: a household with three or more sons and daughters
    under 18 on AS_OF; entered for the mother, from 30 days after the third
    such child was born, with no end date."""
    young = {}
    for hid, birth in children:
        b = datetime.date.fromisoformat(birth)
        if b > AS_OF.replace(year=AS_OF.year - 18):
            young.setdefault(hid, []).append(b)
    out = []
    for n, hid in enumerate(sorted(h for h in young if len(young[h]) >= 3 and h in mothers)):
        start = young[hid][2] + datetime.timedelta(days=30)
        out.append(row(mothers[hid], "large_family", start, None, "Көп балалуу үй-бүлөнүн күбөлүгү",
                       "КБ-%03d" % (n + 1), start, SOCIAL_DEPT))
    return out


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.date):
        return "'%s'" % v.isoformat()
    return "'%s'" % str(v).replace("'", "''")


def main():
    residents, children, mothers = load_household()
    pins = {r[0] for r in residents}
    rows = FIXED + large_families(children, mothers)
    for r in rows:
        assert r[0] in pins, "not a resident: %s" % r[0]
    out = ["-- Demo data for the social passport: fictional people in real places.",
           "-- Generated by gen_seed.py from adapters/household/seed.sql; edit the script,",
           "-- not this file.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('data_as_of', '%s');" % AS_OF.isoformat()]
    out += ["INSERT INTO categories VALUES (%s, %s, %s, %d);" % (q(c), q(k), q(r), i + 1)
            for i, (c, k, r) in enumerate(CATEGORIES)]
    out += ["INSERT INTO disability_causes VALUES (%s, %s, %s);" % (q(c), q(k), q(r))
            for c, k, r in CAUSES]
    out += ["INSERT INTO residents (pin, last_name, first_name, patronymic, household_id)"
            " VALUES (%s);" % ", ".join(q(v) for v in r) for r in residents]
    out += ["INSERT INTO memberships (pin, category, disability_group, cause, start_date,"
            " end_date, basis_document, basis_number, basis_date, basis_issued_by)"
            " VALUES (%s);" % ", ".join(q(v) for v in r) for r in rows]
    print("\n".join(out))


if __name__ == "__main__":
    main()
