-- The Sparks mirror: an append-only event log and the projections the app reads.
--
-- Keys are base58 strings (what the API takes and returns). Amounts are u64
-- on chain and bigint here: the store refuses a value above 2^63-1 rather
-- than wrap it. Every projection row carries the account's `seq`; an upsert
-- changes a row only when the incoming seq is newer, so replays and
-- out-of-order batches converge to the chain's state.

-- One row per indexed transaction of the program (including failed ones).
CREATE TABLE transactions (
    signature   text PRIMARY KEY,
    slot        bigint NOT NULL,
    block_time  bigint,
    failed      boolean NOT NULL,
    event_count integer NOT NULL,
    finalized   boolean NOT NULL DEFAULT false,
    indexed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_slot ON transactions (slot);
CREATE INDEX transactions_unfinalized ON transactions (slot) WHERE NOT finalized;

-- Every event, exactly once: (signature, event_index) is its identity.
CREATE TABLE events (
    signature   text NOT NULL,
    event_index integer NOT NULL,
    slot        bigint NOT NULL,
    block_time  bigint,
    kind        text NOT NULL,
    wallet      text,
    origin      text NOT NULL CHECK (origin IN ('inner_instruction', 'log')),
    -- discriminator + borsh, exactly as the program emitted it
    payload     bytea NOT NULL,
    PRIMARY KEY (signature, event_index)
);
CREATE INDEX events_slot ON events (slot);
CREATE INDEX events_wallet ON events (wallet, slot) WHERE wallet IS NOT NULL;

-- What the decoder could not use, with the reason. Failed and malformed
-- transactions are skipped whole (see the skipped_transactions view).
CREATE TABLE transaction_problems (
    signature text NOT NULL,
    position  integer NOT NULL,
    slot      bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('failed', 'malformed', 'log_truncated', 'undecodable')),
    detail    text NOT NULL,
    PRIMARY KEY (signature, position)
);
CREATE VIEW skipped_transactions AS
    SELECT signature, slot, kind AS reason, detail
    FROM transaction_problems WHERE kind IN ('failed', 'malformed');

-- How far the mirror is complete: every transaction at or before `signature`
-- (in chain order) is indexed. Never moved over a hole.
CREATE TABLE cursor (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    signature      text,
    slot           bigint NOT NULL DEFAULT 0,
    finalized_slot bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cursor (id) VALUES (true);

CREATE TABLE config (
    address                  text PRIMARY KEY,
    admin                    text NOT NULL,
    pending_admin            text,
    paused                   boolean NOT NULL,
    referral_trade_share_bps integer NOT NULL,
    first_subscription_bonus bigint NOT NULL,
    max_award_per_ix         bigint NOT NULL,
    seq                      bigint NOT NULL,
    slot                     bigint NOT NULL
);

CREATE TABLE issuers (
    authority        text PRIMARY KEY,
    allowed_sources  smallint NOT NULL,
    cap_per_period   bigint NOT NULL,
    period_secs      bigint NOT NULL,
    active           boolean NOT NULL,
    seq              bigint NOT NULL,
    slot             bigint NOT NULL
);

CREATE TABLE spark_accounts (
    wallet                      text PRIMARY KEY,
    balance                     bigint NOT NULL,
    lifetime_earned             bigint NOT NULL,
    lifetime_spent              bigint NOT NULL,
    lifetime_revoked            bigint NOT NULL,
    earned_trading              bigint NOT NULL,
    earned_subscription         bigint NOT NULL,
    earned_campaign             bigint NOT NULL,
    earned_referral             bigint NOT NULL,
    referrer                    text,
    invitee_count               integer NOT NULL,
    first_subscription_rewarded boolean NOT NULL,
    seq                         bigint NOT NULL,
    slot                        bigint NOT NULL,
    block_time                  bigint
);
CREATE INDEX spark_accounts_referrer ON spark_accounts (referrer, wallet) WHERE referrer IS NOT NULL;
CREATE INDEX spark_accounts_lifetime ON spark_accounts (lifetime_earned DESC, wallet);

-- A wallet's history: one row per balance change. `seq` is the account's
-- seq after the change, unique per wallet: the keyset for paging.
CREATE TABLE ledger (
    signature     text NOT NULL,
    event_index   integer NOT NULL,
    wallet        text NOT NULL,
    seq           bigint NOT NULL,
    slot          bigint NOT NULL,
    block_time    bigint,
    kind          text NOT NULL CHECK (kind IN ('award', 'referral_share', 'revoke', 'redeem')),
    source        smallint,
    amount        bigint NOT NULL, -- signed: + earned, - spent or revoked
    balance_after bigint NOT NULL,
    issuer        text,
    reference     bytea,
    counterparty  text, -- the invitee of a referral share, the perk of a redemption
    PRIMARY KEY (signature, event_index)
);
CREATE UNIQUE INDEX ledger_history ON ledger (wallet, seq DESC);
CREATE INDEX ledger_issuer ON ledger (issuer) WHERE issuer IS NOT NULL;

CREATE TABLE referrals (
    invitee    text PRIMARY KEY,
    referrer   text NOT NULL,
    signature  text NOT NULL,
    slot       bigint NOT NULL,
    block_time bigint
);
CREATE INDEX referrals_referrer ON referrals (referrer, slot);

CREATE TABLE perks (
    address          text PRIMARY KEY,
    id               bigint NOT NULL UNIQUE,
    kind             text NOT NULL,
    cost             bigint NOT NULL,
    max_supply       bigint NOT NULL,
    claimed          bigint NOT NULL,
    per_wallet_limit bigint NOT NULL,
    starts_at        bigint NOT NULL,
    ends_at          bigint NOT NULL,
    active           boolean NOT NULL,
    whitelist        text,
    uri              text NOT NULL,
    seq              bigint NOT NULL,
    slot             bigint NOT NULL
);

CREATE TABLE perk_claims (
    address       text PRIMARY KEY,
    perk          text NOT NULL,
    wallet        text NOT NULL,
    times_claimed bigint NOT NULL,
    seq           bigint NOT NULL,
    slot          bigint NOT NULL,
    UNIQUE (wallet, perk)
);

CREATE TABLE whitelists (
    address             text PRIMARY KEY,
    id                  bigint NOT NULL UNIQUE,
    admin               text NOT NULL,
    consumer            text NOT NULL,
    capacity            bigint NOT NULL,
    entries             bigint NOT NULL,
    spots_granted       bigint NOT NULL,
    spots_used          bigint NOT NULL,
    spots_per_wallet    integer NOT NULL,
    min_lifetime_sparks bigint NOT NULL,
    starts_at           bigint NOT NULL,
    ends_at             bigint NOT NULL,
    active              boolean NOT NULL,
    seq                 bigint NOT NULL,
    slot                bigint NOT NULL
);

CREATE TABLE whitelist_entries (
    address       text PRIMARY KEY,
    whitelist     text NOT NULL,
    wallet        text NOT NULL,
    spots_granted integer NOT NULL,
    spots_used    integer NOT NULL,
    obtained_via  smallint NOT NULL,
    seq           bigint NOT NULL,
    slot          bigint NOT NULL,
    UNIQUE (wallet, whitelist)
);

-- Config's supply totals move with every award without a settings change
-- (Config.seq counts settings only), so the mirror derives them.
CREATE VIEW supply_totals AS
    SELECT coalesce(sum(balance), 0)::bigint          AS outstanding,
           coalesce(sum(lifetime_earned), 0)::bigint  AS total_awarded,
           coalesce(sum(lifetime_spent), 0)::bigint   AS total_spent,
           coalesce(sum(lifetime_revoked), 0)::bigint AS total_revoked
    FROM spark_accounts;
