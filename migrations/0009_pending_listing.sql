-- A long listing kept in Postgres instead of memory. The indexer lists
-- newest first but stores oldest first, so everything between the tip and
-- the cursor is listed before the first transaction can be stored. Past a
-- few pages the listing is written here page by page with the point it has
-- reached, so memory stays bounded by a page and a crash or a page failing
-- for the whole retry budget resumes where it stopped instead of starting
-- over. At most one listing is in progress (the row with id = true).
CREATE TABLE listing (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    -- The cursor the listing runs down to (NULL: the start of history). A
    -- listing whose cursor is no longer the store's (a rollback moved it)
    -- is dropped.
    down_to text,
    -- The chain's slot when the listing began: what the mirror is complete
    -- up to once everything listed is stored.
    tip bigint NOT NULL,
    -- The oldest signature listed so far: the next page is the one before it.
    next_before text,
    next_before_slot bigint,
    -- Listed down to `down_to`: what is left is storing the pending rows.
    complete boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL DEFAULT now()
);

-- The listing's signatures, `position` 0 the newest.
CREATE TABLE pending_signatures (
    position bigint PRIMARY KEY,
    signature text NOT NULL,
    slot bigint NOT NULL,
    error text,
    block_time bigint,
    finalized boolean NOT NULL
);
