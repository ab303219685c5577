#!/usr/bin/env python3
"""Writes seed.sql: demo data for e-kyzmat, the personnel register of the
AIL OKMOTU (fictional people).

The staff are people of the household register (adapters/household/seed.sql)
and two the population registry has (adapters/population/seed.sql: one lives
in Bishkek, one in Көк-Жар but not entered in the household register), with
the same names and birth dates, so a clerk's lookups across registers agree.
Each career and work-book entry is written out by hand: the tests and the demo
name them, and each shows a case of the length-of-service rule (README.md).
Deterministic. Usage: python3 gen_seed.py > seed.sql
"""
import datetime
import os
import sqlite3

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTERS = os.path.join(HERE, "..")

DEPARTMENTS = [  # code, Kyrgyz, Russian
    ("leadership", "Жетекчилик", "Руководство"),
    ("administration", "Айыл өкмөтүнүн аппараты", "Аппарат айыл окмоту"),
    ("finance", "Финансы-экономикалык бөлүм", "Финансово-экономический отдел"),
    ("land", "Жер жана муниципалдык менчик бөлүмү",
     "Отдел земельных ресурсов и муниципальной собственности"),
    ("social", "Социалдык бөлүм", "Социальный отдел"),
]
POSITIONS = [  # code, department, Kyrgyz, Russian
    ("head", "leadership", "Айыл өкмөтүнүн башчысы", "Глава айыл окмоту"),
    ("deputy_head", "leadership", "Айыл өкмөтүнүн башчысынын орун басары",
     "Заместитель главы айыл окмоту"),
    ("executive_secretary", "administration", "Жооптуу катчы", "Ответственный секретарь"),
    ("lawyer", "administration", "Юрист", "Юрист"),
    ("records_clerk", "administration", "Иш кагаздарын жүргүзүү боюнча адис",
     "Специалист по делопроизводству"),
    ("household_register_specialist", "administration", "Чарба китеби боюнча адис",
     "Специалист по похозяйственному учёту"),
    ("chief_accountant", "finance", "Башкы бухгалтер", "Главный бухгалтер"),
    ("economist", "finance", "Экономист", "Экономист"),
    ("tax_agent", "finance", "Салык агенти", "Налоговый агент"),
    ("land_specialist", "land", "Жер маселелери боюнча адис", "Специалист по земельным вопросам"),
    ("property_specialist", "land", "Муниципалдык менчик боюнча адис",
     "Специалист по муниципальной собственности"),
    ("architecture_specialist", "land", "Архитектура жана курулуш боюнча адис",
     "Специалист по архитектуре и строительству"),
    ("social_specialist", "social", "Социалдык маселелер боюнча башкы адис",
     "Главный специалист по социальным вопросам"),
    ("social_worker", "social", "Социалдык кызматкер", "Социальный работник"),
]
MOVE_KINDS = [
    ("hire", "Ишке кабыл алуу", "Приём на работу"),
    ("transfer", "Башка кызматка которуу", "Перевод на другую должность"),
    ("promotion", "Кызматтан жогорулатуу", "Повышение в должности"),
    ("dismissal", "Иштен бошотуу", "Увольнение"),
]


def D(y, m, d):
    return datetime.date(y, m, d)


# pin -> (moves, work-book periods). A move: (kind, date, position, order
# number, order date, reason). A period: (employer, position, start, end).
# Keep in step with README.md ("The cases in the demo data") and the tests.
STAFF = {
    # The head: district administration, then here from the next day on,
    # promoted twice. One continuous run of service.
    "21205197500417": (
        [("hire", D(2009, 4, 1), "land_specialist", "17-к", D(2009, 3, 30), None),
         ("promotion", D(2014, 6, 2), "deputy_head", "41-к", D(2014, 5, 30), None),
         ("promotion", D(2019, 1, 15), "head", "3-к", D(2019, 1, 14),
          "айылдык кеңештин 2019-жылдын 11-январындагы токтому")],
        [("Аламүдүн районунун мамлекеттик администрациясы", "Жер түзүү боюнча адис",
          D(1997, 8, 1), D(2009, 3, 31))]),
    "10309197901235": (
        [("hire", D(2003, 9, 1), "economist", "52-к", D(2003, 8, 29), None),
         ("promotion", D(2010, 2, 1), "chief_accountant", "9-к", D(2010, 1, 28), None)],
        []),
    # The court job ended on the day he started here: that day counts once.
    "23001198800158": (
        [("hire", D(2015, 3, 1), "lawyer", "12-к", D(2015, 2, 26), None)],
        [("Аламүдүн райондук соту", "Сот аткаруучу", D(2011, 9, 1), D(2015, 3, 1))]),
    # Left, and came back two and a half years later: a gap.
    "10512199100267": (
        [("hire", D(2014, 5, 5), "records_clerk", "36-к", D(2014, 5, 2), None),
         ("dismissal", D(2016, 8, 31), "records_clerk", "58-к", D(2016, 8, 25),
          "өз каалоосу менен"),
         ("hire", D(2019, 2, 1), "household_register_specialist", "8-к", D(2019, 1, 30), None)],
        []),
    # Hired on 29 February.
    "12506198400321": (
        [("hire", D(2012, 2, 29), "social_worker", "15-к", D(2012, 2, 27), None)],
        []),
    "21603199416015": (
        [("hire", D(2017, 7, 3), "tax_agent", "44-к", D(2017, 6, 30), None),
         ("transfer", D(2020, 1, 9), "property_specialist", "2-к", D(2020, 1, 8),
          "өз арызы боюнча")],
        []),
    # Hired here three months before the Social Fund job ended: overlap.
    "11606198936888": (
        [("hire", D(2013, 10, 1), "economist", "71-к", D(2013, 9, 27), None)],
        [("Социалдык фонддун Аламүдүн райондук башкармалыгы", "Инспектор", D(2010, 9, 1),
          D(2013, 12, 31))]),
    # A former employee.
    "21010198714770": (
        [("hire", D(2014, 6, 9), "land_specialist", "43-к", D(2014, 6, 5), None),
         ("dismissal", D(2018, 12, 28), "land_specialist", "95-к", D(2018, 12, 24),
          "башка мамлекеттик органга которулушуна байланыштуу")],
        []),
    "20905199300077": (
        [("hire", D(2019, 1, 21), "land_specialist", "5-к", D(2019, 1, 18), None)],
        []),
    # Bishkek city hall, then here after a weekend: a two-day gap.
    "11704199000310": (
        [("hire", D(2016, 2, 15), "executive_secretary", "11-к", D(2016, 2, 12), None)],
        [("Бишкек шаарынын мэриясы", "Адис", D(2012, 9, 3), D(2016, 2, 12))]),
    # Two earlier periods: conscript service and the district police.
    "23007198280151": (
        [("hire", D(2019, 1, 28), "deputy_head", "6-к", D(2019, 1, 25), None)],
        [("Кыргыз Республикасынын Куралдуу Күчтөрү", "Мерчемдүү аскердик кызмат",
          D(2000, 6, 1), D(2002, 5, 31)),
         ("Аламүдүн райондук ички иштер бөлүмү", "Участкалык инспектор", D(2005, 3, 1),
          D(2018, 12, 31))]),
    "20610198831569": (
        [("hire", D(2021, 4, 5), "social_specialist", "27-к", D(2021, 4, 1), None)],
        []),
    "13001199267339": (
        [("hire", D(2022, 9, 1), "records_clerk", "61-к", D(2022, 8, 29), None)],
        []),
    "10204198486741": (
        [("hire", D(2008, 8, 1), "economist", "48-к", D(2008, 7, 29), None),
         ("dismissal", D(2013, 9, 30), "economist", "69-к", D(2013, 9, 23), "өз каалоосу менен")],
        []),
}

VACANCIES = [  # id, position, posts, announced, salary in tyiyn, requirements, status
    ("V-2022-04", "records_clerk", 1, D(2022, 7, 20), 1450000,
     "Жогорку билим; иш кагаздарын мамлекеттик тилде жүргүзүү", "filled"),
    ("V-2023-07", "property_specialist", 1, D(2023, 5, 10), 1600000,
     "Жогорку юридикалык же экономикалык билим", "cancelled"),
    ("V-2024-01", "tax_agent", 1, D(2024, 1, 22), 1850000,
     "Жогорку экономикалык билим; салык мыйзамдарын билүү; кыргыз жана орус тилдери", "open"),
    ("V-2024-02", "social_worker", 2, D(2024, 2, 5), 1600000,
     "Орто кесиптик же жогорку билим; карыларга кам көрүү тажрыйбасы артыкчылык", "open"),
    ("V-2024-03", "architecture_specialist", 1, D(2024, 2, 19), 2100000,
     "Жогорку билим (архитектура же курулуш); AutoCAD менен иштөө", "open"),
]


def people():
    """pin -> (last, first, patronymic, birth, sex) from the other registers."""
    out = {}
    for name, query in (
            ("household", "SELECT pin, last_name, first_name, patronymic, birth_date, sex"
                          " FROM persons WHERE pin IS NOT NULL"),
            ("population", "SELECT pin, surname, name, patronymic, birth_date, sex FROM person")):
        db = sqlite3.connect(":memory:")
        for f in ("schema.sql", "seed.sql"):
            with open(os.path.join(ADAPTERS, name, f), encoding="utf-8") as fh:
                db.executescript(fh.read())
        for pin, *rest in db.execute(query):
            out.setdefault(pin, tuple(rest))
    return out


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.date):
        return "'%s'" % v.isoformat()
    return "'%s'" % str(v).replace("'", "''")


def values(*vs):
    return ", ".join(q(v) for v in vs)


def main():
    who = people()
    out = ["-- Demo data for e-kyzmat: fictional people in real places.",
           "-- Generated by gen_seed.py; edit the script, not this file.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('employer', 'Лебединовка айыл өкмөтү');"]
    out += ["INSERT INTO departments VALUES (%s, %d);" % (values(*d), i + 1)
            for i, d in enumerate(DEPARTMENTS)]
    out += ["INSERT INTO positions VALUES (%s);" % values(*p) for p in POSITIONS]
    out += ["INSERT INTO move_kinds VALUES (%s);" % values(*k) for k in MOVE_KINDS]
    for pin in sorted(STAFF):
        out.append("INSERT INTO employees VALUES (%s);" % values(pin, *who[pin]))
    for pin in sorted(STAFF):
        moves, book = STAFF[pin]
        out += ["INSERT INTO moves (pin, kind, date, position, order_number, order_date, reason)"
                " VALUES (%s);" % values(pin, *m) for m in moves]
        out += ["INSERT INTO prior_service (pin, employer, position, start_date, end_date)"
                " VALUES (%s);" % values(pin, *p) for p in book]
    out += ["INSERT INTO vacancies VALUES (%s);" % values(*v) for v in VACANCIES]
    print("\n".join(out))


if __name__ == "__main__":
    main()
