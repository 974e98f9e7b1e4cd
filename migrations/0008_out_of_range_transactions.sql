-- A transaction whose events carry a quantity above 2^63 - 1 (which the
-- program refuses since it bounds every stored quantity by MAX_QUANTITY,
-- and which no bigint column holds) is recorded with this problem and
-- skipped whole, instead of failing its batch on every retry.
ALTER TABLE transaction_problems DROP CONSTRAINT transaction_problems_kind_check;
ALTER TABLE transaction_problems ADD CONSTRAINT transaction_problems_kind_check
    CHECK (kind IN ('failed', 'malformed', 'log_truncated', 'undecodable', 'unfetchable',
                    'out_of_range'));

CREATE OR REPLACE VIEW skipped_transactions AS
    SELECT signature, slot, kind AS reason, detail
    FROM transaction_problems WHERE kind IN ('failed', 'malformed', 'unfetchable', 'out_of_range');
