-- A small sample migration set for the tests, in Flyway's naming (V<version>__<description>.sql):
-- what a domain repository's db/migrations holds. Tables live in schema app, owned by the migration role.
CREATE TABLE app.ledger_accounts (
    id          bigserial PRIMARY KEY,
    number      text        NOT NULL UNIQUE,
    opened_at   timestamptz NOT NULL DEFAULT now()
);
