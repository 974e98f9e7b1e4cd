-- A batch that cannot land is voided and its requests are packed again,
-- smaller; a request that cannot land alone fails with its reason. Nothing
-- the worker does holds the award-id window's floor forever.

-- Sends of the batch that did not land: failed for a reason other than a
-- program refusal (on chain, or refused by the node's simulation), or
-- expired unseen. Each kind has its bound (issuer/src/worker.rs).
ALTER TABLE award_batches ADD COLUMN failed_sends integer NOT NULL DEFAULT 0;
ALTER TABLE award_batches ADD COLUMN expired_sends integer NOT NULL DEFAULT 0;
-- The newest send's last valid block height: its blockhash has expired
-- once a node's block height at `confirmed` is past it.
ALTER TABLE award_batches ADD COLUMN last_valid_block_height bigint;

-- Voiding: why (`failure` once it ends), whether the requests are then sent
-- again in smaller batches (`split`) or fail, and every signed
-- void_award_ids send, recorded before it is sent, with the newest one's
-- last valid block height.
ALTER TABLE award_batches ADD COLUMN void_reason text;
ALTER TABLE award_batches ADD COLUMN void_split boolean NOT NULL DEFAULT false;
ALTER TABLE award_batches ADD COLUMN void_signatures text[] NOT NULL DEFAULT '{}';
ALTER TABLE award_batches ADD COLUMN void_last_valid_block_height bigint;

-- 'voided': its ids were voided and its requests went back to pending.
ALTER TABLE award_batches DROP CONSTRAINT award_batches_state_check;
ALTER TABLE award_batches ADD CONSTRAINT award_batches_state_check
    CHECK (state IN ('sending', 'landed', 'finalized', 'failed', 'voided'));

-- The most rows the next batch holding the request may have (NULL: as many
-- as fit); halved each time a batch holding it is split.
ALTER TABLE award_requests ADD COLUMN max_batch_rows integer;
-- How many batches holding the request were voided and split.
ALTER TABLE award_requests ADD COLUMN splits integer NOT NULL DEFAULT 0;
