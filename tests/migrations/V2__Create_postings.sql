CREATE TABLE app.postings (
    id          bigserial PRIMARY KEY,
    account_id  bigint         NOT NULL REFERENCES app.ledger_accounts (id),
    amount      numeric(18, 2) NOT NULL,
    posted_at   timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX postings_account_idx ON app.postings (account_id, posted_at);
