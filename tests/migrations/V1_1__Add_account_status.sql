ALTER TABLE app.ledger_accounts
    ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'frozen', 'closed'));
