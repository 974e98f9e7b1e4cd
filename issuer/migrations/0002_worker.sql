-- What the worker needs to land the outbox exactly once (docs/PROGRAM.md,
-- "Awarding: award ids").

-- One award-id allocator per issuer key, persisted: an award's ids are
-- committed before its first send and kept for every re-send.
CREATE TABLE award_ids (
    issuer text PRIMARY KEY,
    next bigint NOT NULL
);

-- One award_batch transaction's worth of requests: one source and
-- reference, consecutive award ids from first_award_id.
CREATE TABLE award_batches (
    id bigserial PRIMARY KEY,
    issuer text NOT NULL,
    source text NOT NULL,
    reference bytea NOT NULL,
    first_award_id bigint NOT NULL,
    rows integer NOT NULL,
    state text NOT NULL DEFAULT 'sending'
        CHECK (state IN ('sending', 'landed', 'finalized', 'failed')),
    -- Every signed send, recorded before it is sent: after a crash, any of
    -- them may have landed.
    signatures text[] NOT NULL DEFAULT '{}',
    -- The newest send's blockhash: once it expires, no recorded send can
    -- land any more (earlier sends carry older blockhashes).
    blockhash text,
    -- The send that landed.
    signature text,
    slot bigint,
    failure text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX award_batches_open ON award_batches (issuer, id) WHERE state IN ('sending', 'landed');

ALTER TABLE award_requests ADD COLUMN batch_id bigint REFERENCES award_batches (id);
-- When its batch landed (accept → landed latency, per request).
ALTER TABLE award_requests ADD COLUMN landed_at timestamptz;
CREATE INDEX award_requests_batch ON award_requests (batch_id);
CREATE INDEX award_requests_pending ON award_requests (issuer, id) WHERE state = 'pending';
