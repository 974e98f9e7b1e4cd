-- The address lookup tables the worker created for an issuer key: v0
-- batch transactions name their hot accounts by a one-byte index instead of
-- 32 bytes. Recorded before the create is sent, so a crash never loses
-- track of a table it may have paid for.
CREATE TABLE lookup_tables (
    address text PRIMARY KEY,
    issuer text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX lookup_tables_issuer ON lookup_tables (issuer, created_at);
