-- A transaction the node refuses to return for good (e.g. a transaction
-- version this indexer cannot read) is stored with this problem instead of
-- stopping the indexer; `sparks-indexer reindex --problems` asks again.
ALTER TABLE transaction_problems DROP CONSTRAINT transaction_problems_kind_check;
ALTER TABLE transaction_problems ADD CONSTRAINT transaction_problems_kind_check
    CHECK (kind IN ('failed', 'malformed', 'log_truncated', 'undecodable', 'unfetchable'));

CREATE OR REPLACE VIEW skipped_transactions AS
    SELECT signature, slot, kind AS reason, detail
    FROM transaction_problems WHERE kind IN ('failed', 'malformed', 'unfetchable');
