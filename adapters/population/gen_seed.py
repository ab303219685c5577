#!/usr/bin/env python3
"""Writes seed.sql: demo data for the population registry (fictional people).

The people are those of the household register (adapters/household/seed.sql:
every member with a PIN, and the "pending" people the municipality knows of
but has not entered), so a clerk who looks a person up in both registries
sees the same name, birth date and address. A few people are added that only
this registry has (see EXTRAS). Passports and civil status acts are derived
per person from an RNG seeded with the PIN, so one person's data does not
change when the household register gains or loses someone else.

The people the unit tests name get fixed values in FIXED_DOCS / EXTRAS.
Usage: python3 gen_seed.py > seed.sql   (reads ../household/{schema,seed}.sql)
"""
import datetime
import os
import random
import sqlite3
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")
AS_OF = datetime.date(2024, 3, 1)          # the household register's data_as_of

REGION, DISTRICT, AO = "Чүй облусу", "Аламүдүн району", "Лебединовка айыл өкмөтү"
LOCAL_OFFICE = "Аламүдүн райондук ЖАК бөлүмү"
ID_AUTHORITY = "МКК 211041"                # ID cards: State Registration Service office
OLD_AUTHORITY = "Аламүдүн РИИБ"            # old AN passports: district police
BIRTH_PLACES = [                            # place, registry office of the birth act
    ("Бишкек шаары", "Бишкек шаарынын ЖАК бөлүмү"),
    ("Нарын шаары", "Нарын шаарынын ЖАК бөлүмү"),
    ("Ат-Башы району, Нарын облусу", "Ат-Башы райондук ЖАК бөлүмү"),
    ("Талас шаары", "Талас шаарынын ЖАК бөлүмү"),
    ("Токмок шаары", "Токмок шаарынын ЖАК бөлүмү"),
    ("Кочкор району, Нарын облусу", "Кочкор райондук ЖАК бөлүмү"),
    ("Ош шаары", "Ош шаарынын ЖАК бөлүмү"),
    ("Кара-Балта шаары", "Жайыл райондук ЖАК бөлүмү"),
]


def D(y, m, d):
    return datetime.date(y, m, d)


def iso(d):
    return d.isoformat() if d else None


def rng_for(pin, salt=""):
    return random.Random(zlib.crc32((pin + salt).encode()))


def rand_between(rng, lo, hi):
    if hi < lo:
        hi = lo
    return datetime.date.fromordinal(rng.randint(lo.toordinal(), hi.toordinal()))


def add_years(d, n):
    try:
        return d.replace(year=d.year + n)
    except ValueError:                      # 29 February
        return d.replace(year=d.year + n, day=28)


def birth_from_pin(pin):
    return datetime.date(int(pin[5:9]), int(pin[3:5]), int(pin[1:3]))


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'%s'" % str(v).replace("'", "''")


# Documents the tests name: pin -> list of (series, number, issue, status), newest last.
FIXED_DOCS = {
    "21205197500417": [("AN", "0912345", D(2005, 6, 1), "replaced"),
                       ("ID", "2345671", D(2018, 4, 16), "valid")],
    "10309197901235": [("ID", "2211550", D(2017, 11, 2), "lost"),
                       ("ID", "2345672", D(2021, 9, 8), "valid")],
    "10107195000110": [("ID", "2345675", D(2019, 2, 20), "valid")],
}
# The two men of the 1990s duplicate PIN: one passport each.
DUP_DOCS = {"Маматов": ("ID", "3100011", D(2018, 7, 3)),
            "Нурматов": ("ID", "3100012", D(2019, 1, 22))}


# Women who joined the household by marriage: their surname is not their father's.
MARRIED_IN = ("spouse", "daughter_in_law", "mother")


class Person:
    def __init__(self, pin, surname, name, patronymic, birth, sex, addr, registered_on,
                 household=None, relation=None):
        self.pin, self.surname, self.name, self.patronymic = pin, surname, name, patronymic
        self.birth, self.sex, self.addr, self.registered_on = birth, sex, addr, registered_on
        self.household, self.relation = household, relation
        self.citizenship = "KGZ"
        self.death = None                    # (date, place)
        self.birth_place = None
        self.docs = None                     # fixed documents, else generated
        self.acts = []                       # (kind, dict)
        self.birth_act = {}                  # overrides for the birth act

    def full_name(self):
        return " ".join(x for x in (self.surname, self.name, self.patronymic) if x)


def load_household():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    rows = db.execute(
        "SELECT p.pin, p.last_name, p.first_name, p.patronymic, p.birth_date, p.sex,"
        " p.relation, p.registered_on, h.id, h.region, h.district, h.ayil_okmotu, h.village,"
        " h.street, h.house FROM persons p JOIN households h ON h.id = p.household_id"
        " WHERE p.pin IS NOT NULL ORDER BY p.id").fetchall()
    people = []
    for (pin, last, first, patr, birth, sex, rel, reg, hid, region, district, ao, village,
         street, house) in rows:
        addr = (region, district, ao, village, street, house, None)
        people.append(Person(pin, last, first, patr, datetime.date.fromisoformat(birth), sex,
                             addr, reg, hid, rel))
    pending = db.execute("SELECT pin, last_name, first_name FROM pending_persons"
                         " ORDER BY pin").fetchall()
    return people, pending


def pending_people(pending):
    """Known to this registry, not yet entered in the household register."""
    streets = ["Ленин көчөсү", "Мира көчөсү", "Токтогул көчөсү", "Садовая көчөсү"]
    out = []
    for pin, last, first in pending:
        r = rng_for(pin, "pending")
        sex = "female" if pin[0] == "1" else "male"
        father = r.choice(["Асан", "Мамыт", "Токтосун", "Эсенкул", "Жумабек", "Бакыт"])
        patr = father + ("ович" if sex == "male" else "овна")
        birth = birth_from_pin(pin)
        addr = (REGION, DISTRICT, AO, "Лебединовка", r.choice(streets), str(r.randint(1, 90)), None)
        out.append(Person(pin, last, first, patr, birth, sex, addr,
                          iso(max(birth, D(2008, 1, 1)) + datetime.timedelta(days=r.randint(0, 3000)))))
    return out


def extras(by_pin):
    """People only this registry has, each for a case the tests and demo need."""
    lbd1 = by_pin["21205197500417"].addr
    # A deceased man: Бакыт Осмонов's father, Күлүйпа's husband.
    dead = Person("21003194800215", "Осмонов", "Жумабек", "Асанович", D(1948, 3, 10), "male",
                  lbd1, "2003-09-01")
    dead.death = (D(2019, 11, 2), "Лебединовка айылы, Аламүдүн району")
    dead.birth_place = "Ат-Башы району, Нарын облусу"
    dead.docs = [("ID", "2345679", D(2018, 5, 5), "void")]
    # A newborn whose birth act was entered from paper, not digitised fully.
    baby = Person("10212202300051", "Калыкова", "Айсулуу", "Мирлановна", D(2023, 12, 2),
                  "female", None, None)
    baby.birth_act = {"act_number": None, "act_date": None, "registry_office": None,
                      "complete": 0, "mother": None, "father": None}
    baby.birth_place = "Лебединовка айылы, Аламүдүн району"
    # A man deregistered from his address (works abroad): address null.
    away = Person("22708198600042", "Абдыкадыров", "Эрмек", "Таалайбекович", D(1986, 8, 27),
                  "male", None, None)
    # "Traditional" name: no patronymic, "уулу" in the surname.
    trad = Person("20905199300077", "Асан уулу", "Мелис", None, D(1993, 5, 9), "male",
                  (REGION, DISTRICT, AO, "Көк-Жар", "Манас көчөсү", "7", None), "2015-06-11")
    # A woman in a flat in Bishkek, registered there.
    city = Person("11704199000310", "Сыдыкова", "Айжан", "Нурлановна", D(1990, 4, 17),
                  "female", ("Бишкек шаары", "Свердлов району", None, "Бишкек",
                             "Ахунбаев көчөсү", "119", "42"), "2016-02-03")
    return [dead, baby, away, trad, city]


def birth_place(p):
    if p.birth_place:
        return p.birth_place, dict(BIRTH_PLACES).get(p.birth_place, LOCAL_OFFICE)
    if p.registered_on and p.registered_on == iso(p.birth):
        return "Лебединовка айылы, Аламүдүн району", LOCAL_OFFICE
    return rng_for(p.pin + p.surname, "place").choice(BIRTH_PLACES)


def documents(p, used):
    if p.docs is not None:
        return p.docs
    if p.pin == "21503199200011":
        s, n, d = DUP_DOCS[p.surname]
        return [(s, n, d, "valid")]
    if p.pin in FIXED_DOCS:
        return FIXED_DOCS[p.pin]
    if add_years(p.birth, 16) > AS_OF:
        return []                            # a child: no identity document yet
    r = rng_for(p.pin, "doc")
    docs = []
    if p.birth.year < 1990 and r.random() < 0.5:
        old = rand_between(r, max(add_years(p.birth, 16), D(1998, 1, 1)), D(2012, 12, 31))
        docs.append(("AN", "%07d" % r.randint(100000, 999999), old, "replaced"))
    issue = rand_between(r, max(add_years(p.birth, 16), D(2017, 9, 1)), D(2023, 12, 31))
    while True:
        num = "%07d" % r.randint(1000000, 4999999)
        if num not in used:
            break
    docs.append(("ID", num, issue, "valid"))
    for _, n, _, _ in docs:
        used.add(n)
    return docs


def birth_act(p, parents):
    place, office = birth_place(p)
    p.birth_place = place
    r = rng_for(p.pin + p.surname, "birth")
    act = {"act_number": str(r.randint(10, 2999)), "act_date": iso(p.birth + datetime.timedelta(days=r.randint(3, 30))),
           "registry_office": office, "complete": 1, "mother": None, "father": None}
    mother, father = parents
    if mother:
        act["mother"] = (mother.pin, mother.full_name())
    if father:
        act["father"] = (father.pin, father.full_name())
    elif p.patronymic and p.relation not in MARRIED_IN:
        # The father's name survives in the patronymic; his surname is the
        # child's own, except for a woman who took her husband's.
        stem = p.patronymic[:-4] if p.patronymic[-4:] in ("ович", "овна") else None
        if stem:
            act["father"] = (None, "%s %s" % (p.surname.rstrip("а") if p.sex == "female" else p.surname, stem))
    act.update(p.birth_act)
    p.acts.insert(0, ("birth", act))


def marry(h, w, date, divorce=None):
    r = rng_for(h.pin + w.pin, "marriage")
    num, office = str(r.randint(10, 999)), LOCAL_OFFICE
    div_num = str(r.randint(10, 300)) if divorce else None
    for me, other in ((h, w), (w, h)):
        me.acts.append(("marriage", {
            "act_number": num, "act_date": iso(date), "registry_office": office, "complete": 1,
            "spouse_pin": other.pin, "spouse_name": other.full_name(),
            "surname_after": me.surname, "divorce_act_number": div_num,
            "divorce_date": iso(divorce)}))


def family_links(people):
    """Parents and marriages inside each household (head/spouse, son/daughter-in-law).
    Returns {Person: (mother, father)}: keyed by person, not PIN (duplicate PINs)."""
    parents = {}
    by_hh = {}
    for p in people:
        if p.household:
            by_hh.setdefault(p.household, []).append(p)
    for members in by_hh.values():
        rel = {}
        for p in members:
            rel.setdefault(p.relation, []).append(p)
        head = (rel.get("head") or [None])[0]
        wife = (rel.get("spouse") or [None])[0]
        if head and wife and head.pin != wife.pin:
            kids = [p for p in members if p.relation in ("son", "daughter")]
            lo = max(add_years(head.birth, 20), add_years(wife.birth, 18))
            hi = min([k.birth for k in kids] + [add_years(lo, 6)]) - datetime.timedelta(days=300)
            marry(head, wife, rand_between(rng_for(head.pin, "m"), lo, hi))
            for k in kids:
                parents[k] = (wife, head)
        elder_mother = (rel.get("mother") or [None])[0]
        elder_father = (rel.get("father") or [None])[0]
        if head and (elder_mother or elder_father):
            parents[head] = (elder_mother, elder_father)
        dil = (rel.get("daughter_in_law") or [None])[0]
        grands = rel.get("grandson", []) + rel.get("granddaughter", [])
        if dil:
            stems = {g.patronymic[:-4] for g in grands if g.patronymic}
            sons = [s for s in rel.get("son", []) if s.name in stems] or rel.get("son", [])
            husband = sons[0] if sons else None
            if husband:
                lo = max(add_years(husband.birth, 20), add_years(dil.birth, 18))
                hi = min([g.birth for g in grands] + [add_years(lo, 4)]) - datetime.timedelta(days=300)
                marry(husband, dil, rand_between(rng_for(dil.pin, "m"), lo, hi))
            for g in grands:
                parents[g] = (dil, husband)
    return parents


def special_links(by_pin, parents):
    dead, mother = by_pin["21003194800215"], by_pin["10107195000110"]
    marry(dead, mother, D(1972, 8, 19))
    parents[by_pin["21205197500417"]] = (mother, dead)
    dead.acts.append(("death", {"act_number": "417", "act_date": "2019-11-04",
                                "registry_office": LOCAL_OFFICE, "complete": 1,
                                "death_date": iso(dead.death[0]), "death_place": dead.death[1]}))
    # Калыков Мирлан: divorced, married again; father of the newborn.
    m = by_pin["20202198000123"]
    first = Person("10306198200123", "Бекова", "Назира", "Асановна", D(1982, 6, 3), "female",
                   None, None)
    marry(m, first, D(2004, 9, 11), divorce=D(2011, 3, 2))
    wife = Person("12202199500088", "Калыкова", "Жибек", "Эсеновна", D(1995, 2, 22), "female",
                  m.addr, "2016-07-15")
    marry(m, wife, D(2016, 7, 2))
    parents[by_pin["10212202300051"]] = (wife, m)
    by_pin["10212202300051"].addr = m.addr
    by_pin["10212202300051"].registered_on = "2024-01-10"
    return [first, wife]


def person_sql(pid, p):
    a = p.addr or (None,) * 7
    return ("INSERT INTO person VALUES (%d, %s);" % (pid, ", ".join(q(v) for v in (
        p.pin, p.surname, p.name, p.patronymic, iso(p.birth), p.birth_place, p.sex,
        p.citizenship, iso(p.death[0]) if p.death else None) + tuple(a) + (
        p.registered_on if p.addr else None,))))


def act_sql(pid, kind, a):
    mother, father = a.get("mother") or (None, None), a.get("father") or (None, None)
    vals = (pid, kind, a["act_number"], a["act_date"], a["registry_office"], a["complete"],
            mother[0], mother[1], father[0], father[1], a.get("spouse_pin"), a.get("spouse_name"),
            a.get("surname_after"), a.get("divorce_act_number"), a.get("divorce_date"),
            a.get("death_date"), a.get("death_place"))
    return ("INSERT INTO civil_act (person_id, kind, act_number, act_date, registry_office,"
            " complete, mother_pin, mother_name, father_pin, father_name, spouse_pin,"
            " spouse_name, surname_after, divorce_act_number, divorce_date, death_date,"
            " death_place) VALUES (%s);" % ", ".join(q(v) for v in vals))


def main():
    people, pending = load_household()
    people += pending_people(pending)
    by_pin = {}
    for p in people:
        by_pin.setdefault(p.pin, p)
    for p in extras(by_pin):
        people.append(p)
        by_pin[p.pin] = p
    parents = family_links(people)
    people += special_links(by_pin, parents)
    out = ["-- Demo data for the population registry: fictional people in real places.",
           "-- Generated by gen_seed.py from the household register's seed (the same",
           "-- people); edit the script, not this file. No BEGIN/COMMIT: the adapter",
           "-- loads it inside its own transaction."]
    used, docs_sql, acts_sql = set(), [], []
    for pid, p in enumerate(people, 1):
        birth_act(p, parents.get(p, (None, None)))
        out.append(person_sql(pid, p))
        for s, n, issue, status in documents(p, used):
            auth = OLD_AUTHORITY if s == "AN" else ID_AUTHORITY
            valid = add_years(issue, 10) if s == "ID" else None
            docs_sql.append("INSERT INTO passport (person_id, series, number, issue_date,"
                            " valid_until, authority, status) VALUES (%d, %s, %s, %s, %s, %s, %s);"
                            % (pid, q(s), q(n), q(iso(issue)), q(iso(valid)), q(auth), q(status)))
        for kind, a in p.acts:
            acts_sql.append(act_sql(pid, kind, a))
    print("\n".join(out + docs_sql + acts_sql))


if __name__ == "__main__":
    main()
