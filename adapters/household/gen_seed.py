#!/usr/bin/env python3
"""Writes seed.sql: demo data for the household register (fictional people).

Deterministic (fixed random seed): re-running gives the same file, so the
unit tests can name exact values. The first households are written out by
hand because the tests and the demo rely on them (see README.md); the rest
are generated. Usage: python3 gen_seed.py > seed.sql
"""
import datetime
import random

RNG = random.Random(20240301)

REGION = "Чүй облусу"
DISTRICT = "Аламүдүн району"
AO = "Лебединовка айыл өкмөтү"
VILLAGES = {
    "Лебединовка": ["Ленин көчөсү", "Советская көчөсү", "Садовая көчөсү", "Мира көчөсү",
                    "Жаштар көчөсү", "Курманжан Датка көчөсү", "Токтогул көчөсү"],
    "Көк-Жар": ["Бакча көчөсү", "Ала-Тоо көчөсү", "Манас көчөсү", "Чүй көчөсү"],
}
RELATIONS = [
    ("head", "үй ээси", "глава хозяйства"),
    ("spouse", "жубайы", "супруг(а)"),
    ("son", "уулу", "сын"),
    ("daughter", "кызы", "дочь"),
    ("father", "атасы", "отец"),
    ("mother", "энеси", "мать"),
    ("grandson", "небереси (уул)", "внук"),
    ("granddaughter", "небереси (кыз)", "внучка"),
    ("daughter_in_law", "келини", "сноха"),
    ("son_in_law", "күйөө баласы", "зять"),
    ("brother", "бир тууганы (эркек)", "брат"),
    ("sister", "бир тууганы (кыз)", "сестра"),
    ("other", "башка", "другое"),
]
MALE = ["Азамат", "Бакыт", "Нурлан", "Эрлан", "Айбек", "Мирлан", "Талант", "Улан",
        "Жыргалбек", "Төлөгөн", "Кубанычбек", "Үсөн", "Бекболот", "Эрмек", "Чыңгыз",
        "Мелис", "Нурбек", "Өмүрбек", "Асылбек", "Кубат", "Рысбек", "Айдар", "Данияр",
        "Темирлан", "Адилет", "Нуртилек", "Элдияр", "Бектур", "Эмир", "Алинур", "Жеңиш",
        "Таалай", "Максат", "Эсен", "Сүйүн"]
FEMALE = ["Айгүл", "Гүлнара", "Жылдыз", "Нургүл", "Чолпон", "Айпери", "Бермет", "Мээрим",
          "Айжан", "Гүлзат", "Назира", "Асель", "Айзада", "Жибек", "Үмүт", "Сезим",
          "Айдана", "Нуриза", "Бүбүсара", "Күлүйпа", "Динара", "Толгонай", "Айсулуу",
          "Мөлдүр", "Каныкей", "Бегимай", "Асылкан", "Өмүргүл", "Жаңыл"]
SURNAMES = ["Абдыкадыров", "Сыдыков", "Жумабаев", "Касымов", "Мамытов", "Турдубаев",
            "Эсенкулов", "Үсөнбаев", "Өмүралиев", "Сатыбалдиев", "Нурматов", "Шабданов",
            "Бекназаров", "Дүйшөнбиев", "Калыбеков", "Чыңгышев", "Токтосунов", "Жээнбеков",
            "Ормонов", "Бөкөнбаев", "Акматов", "Кененсариев", "Мырзакматов", "Түлөбердиев"]

# PINs the tests use as "valid but unknown" must never be generated.
USED_PINS = {"21001199000999"}


def pin_for(sex, birth, serial=None):
    while True:
        s = serial if serial is not None else RNG.randint(1, 99999)
        pin = "%d%s%05d" % (1 if sex == "female" else 2, birth.strftime("%d%m%Y"), s)
        if serial is not None or pin not in USED_PINS:
            USED_PINS.add(pin)
            return pin


def rand_date(y0, y1):
    start = datetime.date(y0, 1, 1).toordinal()
    end = datetime.date(y1, 12, 31).toordinal()
    return datetime.date.fromordinal(RNG.randint(start, end))


def female(surname):
    return surname + "а"


def patronymic(father, sex):
    return father + ("ович" if sex == "male" else "овна")


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.date):
        return "'%s'" % v.isoformat()
    return "'%s'" % str(v).replace("'", "''")


class Seed:
    def __init__(self):
        self.households = []
        self.persons = []

    def household(self, hid, village, street, house, cadastral, registered):
        self.households.append((hid, REGION, DISTRICT, AO, village, street, house, cadastral,
                                registered))

    def person(self, hid, pin, last, first, patr, birth, sex, rel, registered,
               citizenship="KGZ", doc_type=None, doc_no=None, digitised=1):
        self.persons.append((hid, pin, last, first, patr, birth, sex, rel, citizenship,
                             doc_type, doc_no, digitised, registered))


def D(y, m, d):
    return datetime.date(y, m, d)


def fixed(seed):
    """The households the tests and the demo name; keep in step with README.md."""
    h = "LBD-0001"   # an ordinary household, house with a cadastral code
    seed.household(h, "Лебединовка", "Ленин көчөсү", "12", "7100600330016", D(2019, 3, 14))
    seed.person(h, "21205197500417", "Осмонов", "Бакыт", "Жумабекович", D(1975, 5, 12), "male",
                "head", D(2001, 6, 20))
    seed.person(h, "10309197901235", "Осмонова", "Айгүл", "Токтосуновна", D(1979, 9, 3),
                "female", "spouse", D(2001, 6, 20))
    seed.person(h, "22211200100562", "Осмонов", "Нурлан", "Бакытович", D(2001, 11, 22), "male",
                "son", D(2001, 11, 22))
    seed.person(h, "11402200500893", "Осмонова", "Мээрим", "Бакытовна", D(2005, 2, 14),
                "female", "daughter", D(2005, 2, 14))
    seed.person(h, "10107195000110", "Осмонова", "Күлүйпа", "Асановна", D(1950, 7, 1), "female",
                "mother", D(2003, 9, 1))

    h = "LBD-0002"   # the head is a citizen of Kazakhstan with no PIN
    seed.household(h, "Лебединовка", "Жаштар көчөсү", "5а", "7100600330102", D(2020, 7, 2))
    seed.person(h, None, "Сейткалиев", "Ержан", "Болатович", D(1980, 4, 10), "male", "head",
                D(2012, 5, 15), citizenship="KAZ", doc_type="passport", doc_no="N1234567")
    seed.person(h, "12506198400321", "Сейткалиева", "Жылдыз", "Эсенкуловна", D(1984, 6, 25),
                "female", "spouse", D(2012, 5, 15))
    seed.person(h, "23008201000744", "Сейткалиев", "Алинур", "Ержанович", D(2010, 8, 30),
                "male", "son", D(2012, 5, 15))

    h = "LBD-0003"   # house not formally registered; a child with no digitised birth record
    seed.household(h, "Көк-Жар", "Бакча көчөсү", "47", None, D(2021, 10, 11))
    seed.person(h, "23001198800158", "Төрөкулов", "Үсөн", "Мамытович", D(1988, 1, 30), "male",
                "head", D(2014, 4, 2))
    seed.person(h, "10512199100267", "Төрөкулова", "Чолпон", "Асылбековна", D(1991, 12, 5),
                "female", "spouse", D(2014, 4, 2))
    seed.person(h, "11903201500432", "Төрөкулова", "Айпери", "Үсөновна", D(2015, 3, 19),
                "female", "daughter", D(2015, 3, 19))
    seed.person(h, None, "Төрөкулов", "Эмир", None, None, "male", "son", None, digitised=0)

    # Two men sharing one PIN handed out in the 1990s, in two households.
    h = "LBD-0004"
    seed.household(h, "Лебединовка", "Садовая көчөсү", "3", "7100600330215", D(2019, 11, 5))
    seed.person(h, "21503199200011", "Маматов", "Кубат", "Рысбекович", D(1992, 3, 15), "male",
                "head", D(2016, 8, 1))
    seed.person(h, "11108199400529", "Маматова", "Бегимай", "Нурбековна", D(1994, 8, 11),
                "female", "spouse", D(2016, 8, 1))
    h = "LBD-0005"
    seed.household(h, "Көк-Жар", "Манас көчөсү", "18", "7100600330377", D(2022, 2, 17))
    seed.person(h, "21503199200011", "Нурматов", "Кубат", "Асылбекович", D(1992, 3, 15), "male",
                "head", D(2018, 3, 30))
    seed.person(h, "20406196500883", "Нурматов", "Асылбек", "Өмүрбекович", D(1965, 6, 4), "male",
                "father", D(2018, 3, 30))
    USED_PINS.update(p[1] for p in seed.persons if p[1])


def generated(seed, n_from, n_to):
    villages = list(VILLAGES)
    for i in range(n_from, n_to + 1):
        hid = "LBD-%04d" % i
        village = villages[0] if RNG.random() < 0.7 else villages[1]
        street = RNG.choice(VILLAGES[village])
        house = str(RNG.randint(1, 140)) + (RNG.choice(["а", "б"]) if RNG.random() < 0.1 else "")
        cadastral = None if RNG.random() < 0.1 else "71006003%05d" % RNG.randint(400, 99999)
        seed.household(hid, village, street, house, cadastral, rand_date(2019, 2023))
        family(seed, hid)


def add_child(seed, hid, surname, father, birth, reg, traditional):
    sex = RNG.choice(["male", "female"])
    first = RNG.choice(MALE if sex == "male" else FEMALE)
    if traditional:  # "Азамат уулу" as the surname, no patronymic
        last, patr = father + (" уулу" if sex == "male" else " кызы"), None
    else:
        last = surname if sex == "male" else female(surname)
        patr = patronymic(father, sex)
    rel = "son" if sex == "male" else "daughter"
    seed.person(hid, pin_for(sex, birth), last, first, patr, birth, sex, rel, max(birth, reg))
    return sex, first


def family(seed, hid):
    """Head and spouse, children, sometimes a parent or a married son's family: 2-7 people."""
    surname = RNG.choice(SURNAMES)
    head_birth = rand_date(1950, 1995)
    head = RNG.choice(MALE)
    reg = rand_date(max(head_birth.year + 20, 1995), 2018)
    seed.person(hid, pin_for("male", head_birth), surname, head, patronymic(RNG.choice(MALE), "male"),
                head_birth, "male", "head", reg)
    size = RNG.randint(2, 7)
    wife_birth = rand_date(head_birth.year, min(head_birth.year + 6, 1998))
    seed.person(hid, pin_for("female", wife_birth), female(surname), RNG.choice(FEMALE),
                patronymic(RNG.choice(MALE), "female"), wife_birth, "female", "spouse", reg)
    left = size - 2
    if left > 0 and head_birth.year < 1975 and RNG.random() < 0.3:
        mb = rand_date(head_birth.year - 30, head_birth.year - 20)
        seed.person(hid, pin_for("female", mb), female(surname), RNG.choice(FEMALE),
                    patronymic(RNG.choice(MALE), "female"), mb, "female", "mother", reg)
        left -= 1
    traditional = RNG.random() < 0.2
    year = wife_birth.year + RNG.randint(19, 26)
    first_son = None
    while left > 0 and year <= 2023:
        birth = rand_date(year, min(year + 2, 2023))
        sex, first = add_child(seed, hid, surname, head, birth, reg, traditional)
        left -= 1
        if sex == "male" and first_son is None:
            first_son = (first, birth)
        year = birth.year + RNG.randint(2, 4)
        if first_son and first_son[1].year <= 1998 and left >= 2:
            grandchildren(seed, hid, surname, first_son, left)
            break


def grandchildren(seed, hid, surname, son, left):
    """A married son living with his parents: his wife and their children."""
    name, birth = son
    wb = rand_date(birth.year, min(birth.year + 4, 2000))
    reg = max(wb.replace(year=wb.year + 21), datetime.date(2010, 1, 1))
    seed.person(hid, pin_for("female", wb), female(surname), RNG.choice(FEMALE),
                patronymic(RNG.choice(MALE), "female"), wb, "female", "daughter_in_law", reg)
    year = max(wb.year + 21, 2012)
    for _ in range(left - 1):
        if year > 2023:
            break
        b = rand_date(year, min(year + 2, 2023))
        sex = RNG.choice(["male", "female"])
        seed.person(hid, pin_for(sex, b), surname if sex == "male" else female(surname),
                    RNG.choice(MALE if sex == "male" else FEMALE), patronymic(name, sex), b, sex,
                    "grandson" if sex == "male" else "granddaughter", b)
        year = b.year + RNG.randint(2, 3)


def pending(out):
    rows = [("20202198000123", "Калыков", "Мирлан")]
    for _ in range(7):
        sex = RNG.choice(["male", "female"])
        birth = rand_date(1950, 2015)
        surname = RNG.choice(SURNAMES)
        rows.append((pin_for(sex, birth), surname if sex == "male" else female(surname),
                     RNG.choice(MALE if sex == "male" else FEMALE)))
    for pin, last, first in rows:
        out.append("INSERT INTO pending_persons VALUES (%s, %s, %s, '2024-02-01', %s);"
                   % (q(pin), q(last), q(first), q("population registry list")))


def main():
    seed = Seed()
    USED_PINS.add("20202198000123")
    fixed(seed)
    generated(seed, 6, 30)
    out = ["-- Demo data for the household register: fictional people in real places.",
           "-- Generated by gen_seed.py (deterministic); edit the script, not this file.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('data_as_of', '2024-03-01');"]
    out += ["INSERT INTO relations VALUES (%s, %s, %s);" % (q(c), q(k), q(r))
            for c, k, r in RELATIONS]
    out += ["INSERT INTO households VALUES (%s);" % ", ".join(q(v) for v in h)
            for h in seed.households]
    out += ["INSERT INTO persons (household_id, pin, last_name, first_name, patronymic, "
            "birth_date, sex, relation, citizenship, document_type, document_number, "
            "birth_record_digitised, registered_on) VALUES (%s);" % ", ".join(q(v) for v in p)
            for p in seed.persons]
    pending(out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
