-- The electronic documents register ("Infodocs") of one AIL OKMOTU, as the
-- edocs adapter reads and writes it: the registers of incoming and outgoing
-- correspondence, with execution control. Loaded by the adapter into a new,
-- empty database inside its own transaction: no BEGIN/COMMIT here.
-- Dates are ISO 8601 text (YYYY-MM-DD) in the municipality's local time;
-- registered_at carries the UTC offset (2026-03-18T10:42:00+06:00).

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- Kinds of document, with the names used on the register's printouts.
-- The adapter accepts exactly these codes (README.md); keep them in step.
CREATE TABLE doc_types (
	code TEXT PRIMARY KEY,          -- 'letter', 'application', ...
	ru   TEXT NOT NULL,             -- 'письмо'
	ky   TEXT NOT NULL              -- 'кат'
);

-- The last sequence number handed out per register and year. Numbers are
-- taken inside BEGIN IMMEDIATE, so two connections never get the same one;
-- the UNIQUE constraint on documents is the second line of defence.
CREATE TABLE reg_counters (
	direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	year      INTEGER NOT NULL CHECK (year BETWEEN 1900 AND 9999),
	last_seq  INTEGER NOT NULL CHECK (last_seq >= 0),
	PRIMARY KEY (direction, year)
);

-- One registered document. Registration number: 'ВХ-2026-000045' (incoming)
-- or 'ИСХ-2026-000123' (outgoing): register prefix, year of registration,
-- sequence within that register and year (6 digits, zero-padded).
CREATE TABLE documents (
	id                  INTEGER PRIMARY KEY,
	registration_number TEXT NOT NULL UNIQUE,
	direction           TEXT NOT NULL CHECK (direction IN ('in', 'out')),
	year                INTEGER NOT NULL,
	seq                 INTEGER NOT NULL CHECK (seq > 0),
	doc_type            TEXT NOT NULL REFERENCES doc_types(code),
	title               TEXT NOT NULL,
	correspondent       TEXT NOT NULL,   -- sender (in) or addressee (out)
	author              TEXT NOT NULL,   -- who prepared it
	signed_by           TEXT NOT NULL,
	signature           TEXT NOT NULL,   -- base64 of the signature, as given
	signature_sha256    TEXT NOT NULL,   -- hex SHA-256 of the decoded signature bytes
	signature_size      INTEGER NOT NULL CHECK (signature_size > 0),
	content_digest      TEXT NOT NULL CHECK (length(content_digest) = 64),
	related_to          TEXT REFERENCES documents(registration_number),
	registered_at       TEXT NOT NULL,
	registered_on       TEXT NOT NULL,
	due_date            TEXT,            -- NULL: not under execution control
	executed_on         TEXT,            -- NULL: not executed (yet)
	executed_by         TEXT,            -- the reply that closed the control
	client              TEXT NOT NULL DEFAULT '',   -- X-Road client that registered it
	user_id             TEXT NOT NULL DEFAULT '',
	request_id          TEXT,            -- the client's idempotency key
	request_digest      TEXT,            -- SHA-256 of the normalised request
	UNIQUE (direction, year, seq)
);
CREATE UNIQUE INDEX documents_request ON documents(client, request_id)
	WHERE request_id IS NOT NULL;
CREATE INDEX documents_registered ON documents(registered_on);
CREATE INDEX documents_related ON documents(related_to) WHERE related_to IS NOT NULL;
CREATE INDEX documents_control ON documents(due_date) WHERE due_date IS NOT NULL;

-- A register is append-only: what was registered stays as registered. Only
-- the execution mark may be set later.
CREATE TRIGGER documents_no_delete BEFORE DELETE ON documents
BEGIN
	SELECT RAISE(ABORT, 'registered documents cannot be deleted');
END;
CREATE TRIGGER documents_immutable BEFORE UPDATE OF registration_number, direction, year, seq,
	doc_type, title, correspondent, author, signed_by, signature, signature_sha256,
	signature_size, content_digest, related_to, registered_at, registered_on, due_date,
	client, user_id, request_id, request_digest ON documents
BEGIN
	SELECT RAISE(ABORT, 'registered documents cannot be changed');
END;
