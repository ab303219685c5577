-- The social passport of one AIL OKMOTU, as the social-passport adapter
-- reads it: who among the municipality's residents belongs to a benefit
-- category (disability, lonely pensioner, "Үй-бүлөгө көмөк", ...), from when
-- to when, on what basis. Loaded by the adapter into a new, empty database
-- inside its own transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD), checked to be real dates: SQLite's
-- date() alone lets 2023-02-31 through, a modifier makes it normalise.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- The municipality's residents: the household register's members with a PIN
-- and the people on the population list whose household is not entered yet
-- (household_id NULL). A PIN not listed here is "not found".
-- Not UNIQUE: duplicate PINs from the 1990s exist; the adapter refuses to
-- attribute a category to one of two people.
CREATE TABLE residents (
	id           INTEGER PRIMARY KEY,
	pin          TEXT NOT NULL CHECK (length(pin) = 14),
	last_name    TEXT NOT NULL,
	first_name   TEXT NOT NULL,
	patronymic   TEXT,
	household_id TEXT              -- 'LBD-0001', or NULL (not entered yet)
);
CREATE INDEX residents_pin ON residents (pin);

-- The categories, with the names certificates print (Kyrgyz, Russian).
CREATE TABLE categories (
	code      TEXT PRIMARY KEY,     -- 'disability', 'uy_bulogo_komok', ...
	ky        TEXT NOT NULL,
	ru        TEXT NOT NULL,
	sort      INTEGER NOT NULL UNIQUE   -- order of listing
);

-- Causes of a disability, as the medical-social commission (МСЭК) writes them.
CREATE TABLE disability_causes (
	code TEXT PRIMARY KEY,          -- 'general_illness', ...
	ky   TEXT NOT NULL,
	ru   TEXT NOT NULL
);

-- One period of one person in one category. end_date NULL: no end set
-- (indefinite, or until the next review). Both ends are inclusive.
-- A person may have several periods in a category (re-certification,
-- renewal of a benefit); they may touch or overlap.
CREATE TABLE memberships (
	id               INTEGER PRIMARY KEY,
	pin              TEXT NOT NULL CHECK (length(pin) = 14),
	category         TEXT NOT NULL REFERENCES categories (code),
	disability_group TEXT CHECK (disability_group IN ('I', 'II', 'III')),
	cause            TEXT REFERENCES disability_causes (code),
	start_date       TEXT NOT NULL CHECK (start_date = date(start_date, '+0 days')),
	end_date         TEXT CHECK (end_date IS NULL OR
	                             (end_date = date(end_date, '+0 days') AND end_date >= start_date)),
	-- the document the entry rests on; number and date may be unknown for
	-- records entered from old paper files
	basis_document   TEXT NOT NULL,
	basis_number     TEXT,
	basis_date       TEXT CHECK (basis_date IS NULL OR basis_date = date(basis_date, '+0 days')),
	basis_issued_by  TEXT,
	-- group and cause belong to disability only, and it must have a group
	CHECK ((category = 'disability') = (disability_group IS NOT NULL)),
	CHECK (cause IS NULL OR category = 'disability')
);
CREATE INDEX memberships_pin ON memberships (pin, category);
CREATE INDEX memberships_category ON memberships (category, start_date);
