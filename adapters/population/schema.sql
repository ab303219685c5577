-- Population registry (civil status and passports): the demo database of
-- adapters/population. Applied once, when the database file is new or empty,
-- then seed.sql. Dates are ISO 8601 text (YYYY-MM-DD).

CREATE TABLE person (
	id              INTEGER PRIMARY KEY,
	-- Not UNIQUE on purpose: PINs issued twice in the 1990s still exist.
	pin             TEXT NOT NULL CHECK (length(pin) = 14),
	surname         TEXT NOT NULL,
	name            TEXT NOT NULL,
	patronymic      TEXT,
	birth_date      TEXT NOT NULL,
	birth_place     TEXT,
	sex             TEXT NOT NULL CHECK (sex IN ('female', 'male')),
	citizenship     TEXT NOT NULL DEFAULT 'KGZ',   -- ISO 3166-1 alpha-3
	death_date      TEXT,                          -- NULL while alive
	-- registered address (propiska)
	addr_region       TEXT,
	addr_district     TEXT,
	addr_ayil_okmotu  TEXT,
	addr_village      TEXT,
	addr_street       TEXT,
	addr_house        TEXT,
	addr_flat         TEXT,
	addr_registered_on TEXT
);
CREATE INDEX person_pin ON person (pin);

-- Identity documents: the ID card (series ID, since 2017) and the older
-- passports (series AN, AC...). A person keeps the history; one is current.
CREATE TABLE passport (
	id          INTEGER PRIMARY KEY,
	person_id   INTEGER NOT NULL REFERENCES person (id),
	series      TEXT NOT NULL,
	number      TEXT NOT NULL,
	issue_date  TEXT NOT NULL,
	valid_until TEXT,
	authority   TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('valid', 'replaced', 'lost', 'void')),
	UNIQUE (series, number)
);
CREATE INDEX passport_person ON passport (person_id);

-- Civil status acts (ZAGS). One table, kind-specific columns NULL elsewhere.
-- complete = 0 marks a record entered from paper but not digitised fully
-- (domain.md: children whose birth certificates are not digitised yet).
CREATE TABLE civil_act (
	id              INTEGER PRIMARY KEY,
	person_id       INTEGER NOT NULL REFERENCES person (id),
	kind            TEXT NOT NULL CHECK (kind IN ('birth', 'marriage', 'death')),
	act_number      TEXT,
	act_date        TEXT,
	registry_office TEXT,
	complete        INTEGER NOT NULL DEFAULT 1,
	-- birth
	mother_pin      TEXT,
	mother_name     TEXT,
	father_pin      TEXT,
	father_name     TEXT,
	-- marriage
	spouse_pin      TEXT,
	spouse_name     TEXT,
	surname_after   TEXT,
	divorce_act_number TEXT,
	divorce_date    TEXT,
	-- death
	death_date      TEXT,
	death_place     TEXT
);
CREATE INDEX civil_act_person ON civil_act (person_id);
