-- The veterinary registry of livestock (vet-registry), as the veterinary
-- adapter reads it. Loaded by the adapter into a new, empty database inside
-- its own transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD); names are UTF-8.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Species and their names on certificates, in both languages; sort is the
-- order answers list them in.
CREATE TABLE species (
	code TEXT PRIMARY KEY,           -- 'cattle', 'sheep', ...
	ky   TEXT NOT NULL,              -- 'бодо мал'
	ru   TEXT NOT NULL,              -- 'крупный рогатый скот'
	sort INTEGER NOT NULL
);

-- A household's holding as the veterinary service registered it. Only
-- households the service has visited are here: one that is absent has no
-- veterinary data at all ("not in register"), which is not "no animals".
CREATE TABLE holdings (
	household_id          TEXT PRIMARY KEY,   -- the household register's id, 'LBD-0001'
	owner_pin             TEXT,               -- NULL: a foreign owner (document below)
	owner_name            TEXT NOT NULL,
	owner_citizenship     TEXT NOT NULL DEFAULT 'KGZ',
	owner_document_type   TEXT,
	owner_document_number TEXT,
	registered_on         TEXT NOT NULL,      -- first entered
	updated_on            TEXT NOT NULL,      -- last confirmed as a whole (an
	                                          -- inspection that found no animals too)
	CHECK (owner_pin IS NOT NULL OR owner_document_number IS NOT NULL)
);
CREATE INDEX holdings_owner ON holdings(owner_pin) WHERE owner_pin IS NOT NULL;

-- Head count per species, with the date it was last updated: the date a
-- livestock certificate is judged by.
CREATE TABLE records (
	id           INTEGER PRIMARY KEY,
	household_id TEXT NOT NULL REFERENCES holdings(household_id),
	species      TEXT NOT NULL REFERENCES species(code),
	head_count   INTEGER NOT NULL CHECK (head_count >= 0),
	last_updated TEXT NOT NULL,
	UNIQUE (household_id, species)
);

-- Ear tags of individually identified animals (cattle, horses, yaks, most
-- sheep and goats; never poultry). Young animals may not be tagged yet, so
-- a record can have fewer tags than heads.
CREATE TABLE tags (
	record_id INTEGER NOT NULL REFERENCES records(id),
	tag_id    TEXT NOT NULL UNIQUE
);
CREATE INDEX tags_record ON tags(record_id);
