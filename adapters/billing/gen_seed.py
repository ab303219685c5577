#!/usr/bin/env python3
"""Writes seed.sql: demo data for utility billing (fictional subscribers).

Deterministic (fixed random seed): re-running gives the same file, so the
unit tests can name exact values. Households, residents and PINs come from the
household register's seed (adapters/household), so a clerk's lookups across
registries agree. Accruals run monthly from 2024-01 (when the enterprises'
books were moved to this system) through ACCRUALS_THROUGH; payments follow
each account's habit (on time, quarterly, in arrears, overpaying).

The hand-written households the tests and the demo name (README.md):
  LBD-0001  water + waste, all paid; October's bills paid on the day the
            database is created (dated date('now') by the last statement of
            seed.sql): "a payment posted today" turns a debt into none
  LBD-0002  holder without a PIN (foreign citizen); water overpaid: a credit
  LBD-0003  metered water in arrears since May 2026; irrigation account
            closed 2025-10-31 with nothing owed
  LBD-0004  no utility accounts at all
  LBD-0005  waste account closed 2025-12-31 with a debt left; water paid
Usage: python3 gen_seed.py > seed.sql
"""
import datetime
import os
import random
import sqlite3

RNG = random.Random(20261101)
HERE = os.path.dirname(os.path.abspath(__file__))
HOUSEHOLD = os.path.join(HERE, "..", "household")
FIRST = (2024, 1)
ACCRUALS_THROUGH = (2026, 10)
END = datetime.date(2026, 11, 20)      # no payment after this day (but "today" ones)
TODAY = "date('now', 'localtime')"     # SQL, evaluated when the database is created

SERVICES = [("water", "питьевая вода", "ичүүчү суу"),
            ("waste", "вывоз бытовых отходов", "таштанды чыгаруу"),
            ("irrigation", "поливная вода", "сугат суусу")]
ENTERPRISES = [("suu", "МП «Лебединовка Суу»", "02711200310017", "water"),
               ("taza", "МП «Таза Лебединовка»", "02504201010023", "waste"),
               ("sugat", "Ассоциация водопользователей «Сугат»", "03103200510031", "irrigation")]
TARIFFS = [("water-person", "water", "Питьевая вода по нормативу, на человека в месяц", "person", 4500),
           ("water-meter", "water", "Питьевая вода по счётчику, за кубометр", "m3", 1850),
           ("waste-person", "waste", "Вывоз отходов, на человека в месяц", "person", 3000),
           ("irrigation-sotka", "irrigation", "Поливная вода, за сотку в месяц (апрель–сентябрь)",
            "sotka", 450)]
PRICE = {t[0]: t[4] for t in TARIFFS}
ENTERPRISE_OF = {"water": "suu", "waste": "taza", "irrigation": "sugat"}
PREFIX = {"water": "WTR", "waste": "WST", "irrigation": "IRR"}


def q(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Sql):
        return v.text
    return "'" + str(v).replace("'", "''") + "'"


class Sql:
    def __init__(self, text):
        self.text = text


def periods(start=FIRST, end=ACCRUALS_THROUGH):
    y, m = start
    while (y, m) <= end:
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


def last_day(y, m):
    nxt = datetime.date(y + (m == 12), 1 if m == 12 else m + 1, 1)
    return nxt - datetime.timedelta(days=1)


def load_household():
    db = sqlite3.connect(":memory:")
    for f in ("schema.sql", "seed.sql"):
        with open(os.path.join(HOUSEHOLD, f), encoding="utf-8") as fh:
            db.executescript(fh.read())
    households = db.execute("SELECT id, village, street, house, registered_on FROM households"
                            " ORDER BY id").fetchall()
    persons = db.execute("SELECT household_id, pin, last_name, first_name, patronymic, relation"
                         " FROM persons ORDER BY id").fetchall()
    pending = db.execute("SELECT pin, last_name, first_name FROM pending_persons ORDER BY pin").fetchall()
    return households, persons, pending


def full_name(last, first, patr):
    return " ".join(x for x in (last, first, patr) if x)


class Book:
    def __init__(self):
        self.accounts = []
        self.accruals = []
        self.payments = []
        self.receipt = 0

    def account(self, hid, service, tariff, holder, opened, closed=None):
        number = "%s-%06d" % (PREFIX[service], int(hid.split("-")[1]))
        self.accounts.append((number, hid, ENTERPRISE_OF[service], tariff, holder[0], holder[1],
                              opened, closed))
        return number

    def accrue(self, number, y, m, qty, tariff, note=None):
        amount = round(float(qty) * PRICE[tariff])
        self.accruals.append((number, "%04d-%02d" % (y, m), last_day(y, m).isoformat(),
                              str(qty), amount, note))
        return amount

    def pay(self, number, day, amount, channel):
        self.receipt += 1
        self.payments.append((number, day, amount, channel, "R%08d" % (1000000 + self.receipt)))


def month_list(opened, closed, service):
    """The periods an account is billed for: from its opening (or 2024-01)
    to its closing (or ACCRUALS_THROUGH); irrigation only April-September."""
    start = max(FIRST, (opened.year, opened.month))
    end = ACCRUALS_THROUGH
    if closed is not None:
        end = min(end, (closed.year, closed.month))
    out = [p for p in periods(start, end)]
    if service == "irrigation":
        out = [p for p in out if 4 <= p[1] <= 9]
    return out


def on_time(book, number, bills, channel="mobile", day=10, skip_last=False):
    """Pays each bill on `day` of the next month."""
    todo = bills[:-1] if skip_last else bills
    for (y, m), amount in todo:
        nxt = datetime.date(y + (m == 12), 1 if m == 12 else m + 1, day)
        book.pay(number, nxt.isoformat(), amount, channel)


def fixed(book, heads, sizes):
    # LBD-0001: paid up; October's two bills paid "today".
    h = heads["LBD-0001"]
    n = sizes["LBD-0001"]
    for service, tariff in (("water", "water-person"), ("waste", "waste-person")):
        acc = book.account("LBD-0001", service, tariff, h, "2019-03-14")
        bills = [((y, m), book.accrue(acc, y, m, n, tariff)) for y, m in periods()]
        on_time(book, acc, bills, skip_last=True)
        book.pay(acc, Sql(TODAY), bills[-1][1], "mobile")

    # LBD-0002: holder without a PIN; water paid ahead (a credit of 730.00).
    h = heads["LBD-0002"]
    n = sizes["LBD-0002"]
    acc = book.account("LBD-0002", "water", "water-person", h, "2020-07-02")
    bills = [((y, m), book.accrue(acc, y, m, n, "water-person")) for y, m in periods()]
    on_time(book, acc, [b for b in bills if b[0] <= (2026, 8)], channel="cash", day=12)
    book.pay(acc, "2026-09-15", 100000, "cash")
    acc = book.account("LBD-0002", "waste", "waste-person", h, "2020-07-02")
    bills = [((y, m), book.accrue(acc, y, m, n, "waste-person")) for y, m in periods()]
    on_time(book, acc, bills, channel="cash", day=5)

    # LBD-0003: metered water, nothing paid since the April bill; irrigation
    # closed 2025-10-31 with nothing owed.
    h = heads["LBD-0003"]
    acc = book.account("LBD-0003", "water", "water-meter", h, "2021-10-11")
    arrears = {(2026, 5): "8", (2026, 6): "9.5", (2026, 7): "12", (2026, 8): "14",
               (2026, 9): "11", (2026, 10): "7"}
    bills = []
    for y, m in periods():
        qty = arrears.get((y, m)) or str(RNG.choice([5, 6, 6.5, 7, 8, 9, 10, 11.5]))
        bills.append(((y, m), book.accrue(acc, y, m, qty, "water-meter")))
    on_time(book, acc, [b for b in bills if b[0] <= (2026, 4)], channel="terminal", day=20)
    acc = book.account("LBD-0003", "irrigation", "irrigation-sotka", h, "2021-04-01", "2025-10-31")
    bills = [(p, book.accrue(acc, p[0], p[1], 12, "irrigation-sotka"))
             for p in month_list(datetime.date(2021, 4, 1), datetime.date(2025, 10, 31), "irrigation")]
    on_time(book, acc, bills, channel="cash", day=25)

    # LBD-0004: no accounts.

    # LBD-0005: waste closed 2025-12-31, November and December unpaid (120.00).
    h = heads["LBD-0005"]
    n = sizes["LBD-0005"]
    acc = book.account("LBD-0005", "waste", "waste-person", h, "2022-02-17", "2025-12-31")
    bills = [(p, book.accrue(acc, p[0], p[1], n, "waste-person"))
             for p in month_list(datetime.date(2022, 2, 17), datetime.date(2025, 12, 31), "waste")]
    on_time(book, acc, bills[:-2], channel="bank", day=15)
    acc = book.account("LBD-0005", "water", "water-person", h, "2022-02-17")
    bills = [((y, m), book.accrue(acc, y, m, n, "water-person")) for y, m in periods()]
    on_time(book, acc, bills, channel="bank", day=15)


def habit_payments(book, acc, bills, habit):
    if habit == "good":
        for (y, m), amount in bills:
            day = datetime.date(y + (m == 12), 1 if m == 12 else m + 1, RNG.randint(3, 25))
            if day <= END:
                book.pay(acc, day.isoformat(), amount, RNG.choice(["cash", "mobile", "terminal"]))
    elif habit == "quarterly":
        for i in range(0, len(bills), 3):
            chunk = bills[i:i + 3]
            (y, m) = chunk[-1][0]
            day = datetime.date(y + (m == 12), 1 if m == 12 else m + 1, RNG.randint(1, 28))
            if day <= END:
                book.pay(acc, day.isoformat(), sum(a for _, a in chunk), "cash")
    elif habit == "arrears":
        stop = RNG.randint(len(bills) // 2, len(bills) - 2)
        habit_payments(book, acc, bills[:stop], "good")
    else:  # overpay: round sums now and then, ahead of the bills
        owed = 0
        for (y, m), amount in bills:
            owed += amount
            if owed > 0 and RNG.random() < 0.4:
                pay = (owed // 10000 + 2) * 10000
                day = datetime.date(y + (m == 12), 1 if m == 12 else m + 1, RNG.randint(1, 28))
                if day <= END:
                    book.pay(acc, day.isoformat(), pay, "bank")
                    owed -= pay


def generated(book, households, heads, sizes):
    for hid, village, street, house, registered in households:
        if int(hid.split("-")[1]) <= 5:
            continue
        opened = datetime.date.fromisoformat(registered)
        wanted = []
        if RNG.random() < 0.9:
            wanted.append(("water", "water-meter" if RNG.random() < 0.2 else "water-person"))
        if RNG.random() < 0.8:
            wanted.append(("waste", "waste-person"))
        if village == "Көк-Жар" and RNG.random() < 0.6 or RNG.random() < 0.15:
            wanted.append(("irrigation", "irrigation-sotka"))
        for service, tariff in wanted:
            closed = None
            if RNG.random() < 0.06:
                closed = last_day(RNG.choice([2024, 2025]), RNG.randint(1, 12))
            acc = book.account(hid, service, tariff, heads[hid], opened.isoformat(),
                               closed.isoformat() if closed else None)
            sotka = RNG.randint(5, 25)
            bills = []
            for y, m in month_list(opened, closed, service):
                qty = {"person": sizes[hid], "sotka": sotka}.get(
                    tariff.split("-")[1], None)
                if qty is None:
                    qty = RNG.choice([4, 5, 6, 7, 7.5, 8, 9, 10, 12])
                bills.append(((y, m), book.accrue(acc, y, m, qty, tariff)))
            habit = RNG.choices(["good", "quarterly", "arrears", "overpay"], [60, 20, 15, 5])[0]
            habit_payments(book, acc, bills, habit)


def main():
    households, persons, pending = load_household()
    heads, sizes = {}, {}
    for hid, pin, last, first, patr, rel in persons:
        sizes[hid] = sizes.get(hid, 0) + 1
        if rel == "head":
            heads[hid] = (pin, full_name(last, first, patr))
    book = Book()
    fixed(book, heads, sizes)
    generated(book, households, heads, sizes)
    out = ["-- Demo data for utility billing: fictional subscribers of real-looking enterprises.",
           "-- Generated by gen_seed.py (deterministic); edit the script, not this file.",
           "-- The payments dated date('now') by the last statement are \"posted today\" when the"
           " database is created.",
           "INSERT INTO meta VALUES ('schema_version', '1');",
           "INSERT INTO meta VALUES ('accruals_through', '%04d-%02d');" % ACCRUALS_THROUGH]
    out += ["INSERT INTO services VALUES (%s);" % ", ".join(q(v) for v in s) for s in SERVICES]
    out += ["INSERT INTO enterprises VALUES (%s);" % ", ".join(q(v) for v in e) for e in ENTERPRISES]
    out += ["INSERT INTO tariffs VALUES (%s);" % ", ".join(q(v) for v in t) for t in TARIFFS]
    out += ["INSERT INTO households VALUES (%s);" % ", ".join(q(v) for v in h[:4]) for h in households]
    for hid, pin, last, first, patr, rel in persons:
        if pin:
            out.append("INSERT INTO residents VALUES (%s, %s, %s);"
                       % (q(pin), q(hid), q(full_name(last, first, patr))))
    for pin, last, first in pending:
        out.append("INSERT INTO residents VALUES (%s, NULL, %s);" % (q(pin), q(full_name(last, first, None))))
    out += ["INSERT INTO accounts VALUES (%s);" % ", ".join(q(v) for v in a) for a in book.accounts]
    out += ["INSERT INTO accruals (account_number, period, accrued_on, quantity, amount_tyiyn, note)"
            " VALUES (%s);" % ", ".join(q(v) for v in a) for a in book.accruals]
    # "Today's" payments are inserted with a stand-in day, in their place (so
    # their ids are what they always were), and dated by one UPDATE at the
    # end: everything before it is the same whatever the day, so the build
    # loads it once into the seed database and a first start runs only the
    # UPDATE (adapters/README.md, "Seed databases").
    today = [p[4] for p in book.payments if isinstance(p[1], Sql)]
    out += ["INSERT INTO payments (account_number, paid_on, amount_tyiyn, channel, receipt)"
            " VALUES (%s);" % ", ".join(q(v) for v in (p[0], END.isoformat() if isinstance(p[1], Sql)
                                                      else p[1]) + p[2:]) for p in book.payments]
    out.append("UPDATE payments SET paid_on = %s WHERE receipt IN (%s);"
               % (TODAY, ", ".join(q(r) for r in today)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
