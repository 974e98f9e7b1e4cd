-- Indexes no query uses, dropped to cut the write path's index maintenance:
-- the API reads history from the ledger (not events by wallet), and the
-- per-issuer ledger sums of `verify` scan the whole table anyway.
DROP INDEX IF EXISTS events_wallet;
DROP INDEX IF EXISTS ledger_issuer;
