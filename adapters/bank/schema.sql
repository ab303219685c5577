-- The accounts register of one bank (bank-registry), as the bank adapter
-- reads it: the accounts the bank holds for residents, of which the one
-- marked 'benefit' receives social benefit payments. Loaded by the adapter
-- into a new, empty database inside its own transaction: no BEGIN/COMMIT.
-- Dates are ISO 8601 text (YYYY-MM-DD).

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,     -- 'bank_name', 'bic', 'schema_version'
	value TEXT NOT NULL
);

CREATE TABLE accounts (
	number      TEXT PRIMARY KEY CHECK (length(number) = 16 AND number NOT GLOB '*[^0-9]*'),
	holder_pin  TEXT NOT NULL,
	holder_name TEXT NOT NULL,
	purpose     TEXT NOT NULL CHECK (purpose IN ('benefit', 'current', 'deposit')),
	currency    TEXT NOT NULL DEFAULT 'KGS',
	opened_on   TEXT NOT NULL,
	status      TEXT NOT NULL CHECK (status IN ('active', 'closed')),
	closed_on   TEXT,
	CHECK ((status = 'closed') = (closed_on IS NOT NULL))
);
CREATE INDEX accounts_pin ON accounts(holder_pin);
-- Benefits are paid into one account: a person has at most one active.
CREATE UNIQUE INDEX accounts_one_benefit ON accounts(holder_pin)
	WHERE purpose = 'benefit' AND status = 'active';
