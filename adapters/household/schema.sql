-- The household register ("Sanarip Aimak") of one AIL OKMOTU, as the
-- household adapter reads it. Loaded by the adapter into a new, empty
-- database inside its own transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD); names are UTF-8.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Relation of a member to the head of the household, in both languages
-- used on certificates.
CREATE TABLE relations (
	code TEXT PRIMARY KEY,          -- 'head', 'spouse', 'son', ...
	ky   TEXT NOT NULL,             -- 'үй ээси'
	ru   TEXT NOT NULL              -- 'глава хозяйства'
);

-- A household (the former paper household book entry) and its house.
CREATE TABLE households (
	id             TEXT PRIMARY KEY,   -- 'LBD-0001'
	region         TEXT NOT NULL,      -- облус
	district       TEXT NOT NULL,      -- район
	ayil_okmotu    TEXT NOT NULL,
	village        TEXT NOT NULL,
	street         TEXT NOT NULL,
	house          TEXT NOT NULL,      -- number as written: '12', '5а'
	cadastral_code TEXT,               -- NULL: house not formally registered
	registered_on  TEXT NOT NULL       -- entered into the register
);

-- Members. A person with no PIN is either a foreign citizen (identified by
-- citizenship + document) or a child whose birth record is not digitised
-- yet (birth_record_digitised = 0, fields missing).
CREATE TABLE persons (
	id                     INTEGER PRIMARY KEY,
	household_id           TEXT NOT NULL REFERENCES households(id),
	pin                    TEXT,              -- 14 digits, or NULL
	last_name              TEXT NOT NULL,
	first_name             TEXT NOT NULL,
	patronymic             TEXT,
	birth_date             TEXT,
	sex                    TEXT CHECK (sex IN ('female', 'male')),
	relation               TEXT NOT NULL REFERENCES relations(code),
	citizenship            TEXT NOT NULL DEFAULT 'KGZ',  -- ISO 3166-1 alpha-3
	document_type          TEXT,              -- for foreigners: 'passport', ...
	document_number        TEXT,
	birth_record_digitised INTEGER NOT NULL DEFAULT 1 CHECK (birth_record_digitised IN (0, 1)),
	registered_on          TEXT               -- registered at this address
);
-- Not UNIQUE: duplicate PINs handed out in the 1990s exist, and the register
-- records people as they are; the adapter refuses to pick one of them.
CREATE INDEX persons_pin ON persons(pin) WHERE pin IS NOT NULL;
CREATE INDEX persons_household ON persons(household_id);
CREATE INDEX persons_document ON persons(citizenship, document_number)
	WHERE document_number IS NOT NULL;

-- People the municipality knows live here (the population list it received)
-- whose household has not been entered yet: "not in register", which is
-- neither "does not exist" nor "registry unavailable".
CREATE TABLE pending_persons (
	pin        TEXT PRIMARY KEY,
	last_name  TEXT NOT NULL,
	first_name TEXT NOT NULL,
	listed_on  TEXT NOT NULL,        -- date of the population list
	source     TEXT NOT NULL
);
