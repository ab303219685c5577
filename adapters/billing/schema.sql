-- Utility billing of the municipal enterprises of one AIL OKMOTU (drinking
-- water, waste collection, irrigation water), as the billing adapter reads
-- it. Loaded by the adapter into a new, empty database inside its own
-- transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD), periods YYYY-MM; money is integer
-- tyiyn (1 som = 100 tyiyn), never floating point.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL           -- 'accruals_through': last period accrued, '2026-10'
);

CREATE TABLE services (
	code TEXT PRIMARY KEY,          -- 'water', 'waste', 'irrigation'
	ru   TEXT NOT NULL,
	ky   TEXT NOT NULL
);

-- A municipal enterprise and the one service it bills.
CREATE TABLE enterprises (
	code       TEXT PRIMARY KEY,    -- 'suu'
	name       TEXT NOT NULL,
	tax_number TEXT NOT NULL,       -- 14 digits
	service    TEXT NOT NULL REFERENCES services(code)
);

CREATE TABLE tariffs (
	code        TEXT PRIMARY KEY,   -- 'water-person'
	service     TEXT NOT NULL REFERENCES services(code),
	name        TEXT NOT NULL,
	unit        TEXT NOT NULL,      -- what quantity counts: 'person', 'm3', 'sotka'
	price_tyiyn INTEGER NOT NULL CHECK (price_tyiyn >= 0)   -- per unit and month
);

-- Subscriber addresses: the households of the household register (a copy
-- kept by the enterprises; same ids).
CREATE TABLE households (
	id      TEXT PRIMARY KEY,       -- 'LBD-0001'
	village TEXT NOT NULL,
	street  TEXT NOT NULL,
	house   TEXT NOT NULL
);

-- Who lives where, from the household register, so that accounts can be
-- found by a person's PIN. household_id NULL: the person is on the
-- municipality's population list but the household is not entered yet
-- ("not in register"). A PIN is not unique: duplicates from the 1990s exist.
CREATE TABLE residents (
	pin          TEXT NOT NULL,
	household_id TEXT REFERENCES households(id),
	full_name    TEXT NOT NULL
);
CREATE INDEX residents_pin ON residents(pin);

CREATE TABLE accounts (
	account_number TEXT PRIMARY KEY,    -- 'WTR-000101'
	household_id   TEXT NOT NULL REFERENCES households(id),
	enterprise     TEXT NOT NULL REFERENCES enterprises(code),
	tariff         TEXT NOT NULL REFERENCES tariffs(code),
	holder_pin     TEXT,                -- NULL: a holder without a PIN (a foreigner)
	holder_name    TEXT NOT NULL,
	opened_on      TEXT NOT NULL,
	closed_on      TEXT                 -- NULL: open; a debt outlives the closing
);
CREATE INDEX accounts_household ON accounts(household_id);

-- Monthly accruals. amount_tyiyn may be negative for a recalculation.
CREATE TABLE accruals (
	id             INTEGER PRIMARY KEY,
	account_number TEXT NOT NULL REFERENCES accounts(account_number),
	period         TEXT NOT NULL,       -- 'YYYY-MM'
	accrued_on     TEXT NOT NULL,       -- last day of the period
	quantity       TEXT NOT NULL,       -- decimal, in the tariff's unit: '5', '12.5'
	amount_tyiyn   INTEGER NOT NULL,
	note           TEXT,
	UNIQUE (account_number, period)
);
CREATE INDEX accruals_date ON accruals(account_number, accrued_on);

CREATE TABLE payments (
	id             INTEGER PRIMARY KEY,
	account_number TEXT NOT NULL REFERENCES accounts(account_number),
	paid_on        TEXT NOT NULL,
	amount_tyiyn   INTEGER NOT NULL CHECK (amount_tyiyn > 0),
	channel        TEXT NOT NULL CHECK (channel IN ('cash', 'bank', 'terminal', 'mobile')),
	receipt        TEXT NOT NULL
);
CREATE INDEX payments_date ON payments(account_number, paid_on);
