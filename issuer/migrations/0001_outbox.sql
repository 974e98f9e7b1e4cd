-- The issuer service's own schema (`issuer`, next to the indexer's tables
-- in the same database, so the indexer's API can show pending awards).

-- Bearer tokens, stored as SHA-256 of the token: each bound to one issuer
-- key and the award sources it may use.
CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    token_sha256 bytea NOT NULL UNIQUE,
    issuer text NOT NULL,
    sources text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- The outbox: a request is accepted only once its row is committed; the
-- worker moves it pending → sending → landed → finalized, or failed.
CREATE TABLE award_requests (
    id bigserial PRIMARY KEY,
    issuer text NOT NULL,
    -- The app's idempotency key (a trade id), unique per issuer.
    key text NOT NULL,
    wallet text NOT NULL,
    source text NOT NULL CHECK (source IN ('trading', 'subscription', 'campaign', 'referral')),
    amount bigint NOT NULL CHECK (amount > 0),
    reference bytea NOT NULL CHECK (length(reference) = 32),
    -- SHA-256 of the request's fields: the same key with another body is a conflict.
    body_sha256 bytea NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'sending', 'landed', 'finalized', 'failed')),
    -- Assigned once, for life (the award-id rules in docs/PROGRAM.md).
    award_id bigint,
    signature text,
    slot bigint,
    failure text,
    token_id bigint NOT NULL REFERENCES api_tokens (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (issuer, key)
);

CREATE INDEX award_requests_wallet ON award_requests (wallet, created_at DESC);
CREATE INDEX award_requests_open ON award_requests (issuer, id)
    WHERE state IN ('pending', 'sending');
