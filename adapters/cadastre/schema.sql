-- The real-estate cadastre and register of rights (dkrpni-service), as the
-- cadastre adapter reads it. Loaded by the adapter into a new, empty
-- database inside its own transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD); names are UTF-8. Areas are decimal
-- text with two places ('1200.00'), never floating point.

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Kinds of property and their names on extracts, in both languages.
CREATE TABLE property_types (
	code TEXT PRIMARY KEY,          -- 'land_plot', 'house', 'flat'
	ky   TEXT NOT NULL,
	ru   TEXT NOT NULL
);

-- Designated purpose (целевое назначение) of the property.
CREATE TABLE purposes (
	code TEXT PRIMARY KEY,          -- 'housing', 'agricultural', ...
	ky   TEXT NOT NULL,             -- 'жашоо үчүн', 'агрардык'
	ru   TEXT NOT NULL
);

-- A unit of real estate, by its ENI in canonical form (the plain digits:
-- adapters/common/eni.h). A house and the plot under it are one unit with
-- both areas.
CREATE TABLE properties (
	eni              TEXT PRIMARY KEY CHECK (length(eni) IN (13, 15, 18) AND eni NOT GLOB '*[^0-9]*'),
	type             TEXT NOT NULL REFERENCES property_types(code),
	purpose          TEXT NOT NULL REFERENCES purposes(code),
	region           TEXT NOT NULL,
	district         TEXT,
	ayil_okmotu      TEXT,
	village          TEXT,              -- village, or the city
	street           TEXT,
	house            TEXT,
	flat             TEXT,
	land_area_m2     TEXT,              -- '1200.00'; NULL for a flat
	building_area_m2 TEXT,              -- '86.40'; NULL for bare land
	registered_on    TEXT NOT NULL,     -- first state registration
	household_id     TEXT               -- the household book entry the rights were
	                                    -- registered on (rural houses), else NULL
);
CREATE INDEX properties_household ON properties(household_id) WHERE household_id IS NOT NULL;

-- Registered rights. The holder is a person with a PIN, a foreign person
-- (no PIN: citizenship + document) or an organisation (tax number).
CREATE TABLE rights (
	id                INTEGER PRIMARY KEY,
	eni               TEXT NOT NULL REFERENCES properties(eni),
	holder_type       TEXT NOT NULL CHECK (holder_type IN ('person', 'foreign_person', 'organisation')),
	holder_pin        TEXT,
	holder_tax_number TEXT,
	holder_name       TEXT NOT NULL,     -- as registered: 'Осмонов Бакыт Жумабекович'
	citizenship       TEXT,              -- ISO 3166-1 alpha-3; NULL for organisations
	document_type     TEXT,              -- foreign persons: 'passport'
	document_number   TEXT,
	right_type        TEXT NOT NULL CHECK (right_type IN ('ownership', 'lease', 'use')),
	share_numerator   INTEGER NOT NULL CHECK (share_numerator > 0),
	share_denominator INTEGER NOT NULL CHECK (share_denominator >= share_numerator),
	registered_on     TEXT NOT NULL,
	basis             TEXT NOT NULL,     -- the title document
	CHECK ((holder_type = 'person') = (holder_pin IS NOT NULL)),
	CHECK ((holder_type = 'organisation') = (holder_tax_number IS NOT NULL)),
	CHECK ((holder_type = 'foreign_person') = (document_number IS NOT NULL))
);
-- Not UNIQUE: the old duplicate PINs of the 1990s hold rights too; the
-- adapter refuses to answer for such a PIN rather than mix two people.
CREATE INDEX rights_pin ON rights(holder_pin) WHERE holder_pin IS NOT NULL;
CREATE INDEX rights_document ON rights(citizenship, document_number) WHERE document_number IS NOT NULL;
CREATE INDEX rights_eni ON rights(eni);

-- Encumbrances in force (a lifted one is deleted from here into the
-- archive, which the adapter does not serve).
CREATE TABLE encumbrances (
	id                INTEGER PRIMARY KEY,
	eni               TEXT NOT NULL REFERENCES properties(eni),
	type              TEXT NOT NULL CHECK (type IN ('mortgage', 'arrest', 'lease', 'easement')),
	holder            TEXT NOT NULL,     -- bank, court, lessee
	holder_tax_number TEXT,
	registered_on     TEXT NOT NULL,
	valid_until       TEXT,              -- NULL: until lifted
	basis             TEXT NOT NULL
);
CREATE INDEX encumbrances_eni ON encumbrances(eni);
