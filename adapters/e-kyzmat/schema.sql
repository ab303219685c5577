-- E-kyzmat, the personnel register of one AIL OKMOTU, as the e-kyzmat
-- adapter reads it: municipal employees, their positions and career moves,
-- the earlier service entered from their work books, and open vacancies.
-- Loaded by the adapter into a new, empty database inside its own
-- transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD), checked to be real dates: SQLite's
-- date() alone lets 2023-02-31 through, a modifier makes it normalise.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

CREATE TABLE departments (
	code TEXT PRIMARY KEY,          -- 'finance', ...
	ky   TEXT NOT NULL,
	ru   TEXT NOT NULL,
	sort INTEGER NOT NULL UNIQUE
);

-- Positions of the staff list (штатное расписание), each in one department.
CREATE TABLE positions (
	code       TEXT PRIMARY KEY,    -- 'chief_accountant', ...
	department TEXT NOT NULL REFERENCES departments (code),
	ky         TEXT NOT NULL,
	ru         TEXT NOT NULL
);

CREATE TABLE move_kinds (
	code TEXT PRIMARY KEY,          -- 'hire', 'transfer', 'promotion', 'dismissal'
	ky   TEXT NOT NULL,
	ru   TEXT NOT NULL
);

-- Everyone who has ever worked here; the PIN identifies them (an employee
-- record is made from the person's passport, so a PIN appears once).
CREATE TABLE employees (
	pin        TEXT PRIMARY KEY CHECK (length(pin) = 14),
	last_name  TEXT NOT NULL,
	first_name TEXT NOT NULL,
	patronymic TEXT,
	birth_date TEXT NOT NULL CHECK (birth_date = date(birth_date, '+0 days')),
	sex        TEXT NOT NULL CHECK (sex IN ('female', 'male'))
);

-- Career moves, each by an order of the head (буйрук / приказ). A hire
-- starts an employment period, a dismissal ends it; its date is the last
-- working day, which counts. position is the one taken (hire, transfer,
-- promotion) or left (dismissal).
CREATE TABLE moves (
	id           INTEGER PRIMARY KEY,
	pin          TEXT NOT NULL REFERENCES employees (pin),
	kind         TEXT NOT NULL REFERENCES move_kinds (code),
	date         TEXT NOT NULL CHECK (date = date(date, '+0 days')),
	position     TEXT NOT NULL REFERENCES positions (code),
	order_number TEXT NOT NULL,
	order_date   TEXT NOT NULL CHECK (order_date = date(order_date, '+0 days')),
	reason       TEXT               -- dismissal grounds, a note on a transfer
);
CREATE INDEX moves_pin ON moves (pin, date);

-- Service before this municipality that counts towards length of service,
-- entered from the work book (эмгек китепчеси); may overlap other periods.
CREATE TABLE prior_service (
	id         INTEGER PRIMARY KEY,
	pin        TEXT NOT NULL REFERENCES employees (pin),
	employer   TEXT NOT NULL,
	position   TEXT,
	start_date TEXT NOT NULL CHECK (start_date = date(start_date, '+0 days')),
	end_date   TEXT NOT NULL CHECK (end_date = date(end_date, '+0 days') AND end_date >= start_date)
);
CREATE INDEX prior_service_pin ON prior_service (pin);

-- Vacancies announced; only status 'open' ones are answered.
CREATE TABLE vacancies (
	id           TEXT PRIMARY KEY,  -- 'V-2024-01'
	position     TEXT NOT NULL REFERENCES positions (code),
	posts        INTEGER NOT NULL DEFAULT 1 CHECK (posts > 0),
	announced_on TEXT NOT NULL CHECK (announced_on = date(announced_on, '+0 days')),
	salary_tyiyn INTEGER NOT NULL CHECK (salary_tyiyn >= 0),  -- monthly base, 1 som = 100 tyiyn
	requirements TEXT NOT NULL,
	status       TEXT NOT NULL CHECK (status IN ('open', 'filled', 'cancelled'))
);
CREATE INDEX vacancies_status ON vacancies (status, position);
