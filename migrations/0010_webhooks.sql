-- Webhooks: the app's subscriptions to the program's events, and the outbox
-- of deliveries. A delivery row is written in the same database transaction
-- as the event that causes it (never one without the other), and sent by
-- the delivery worker afterwards (never before the event is stored).

CREATE TABLE webhook_subscriptions (
    id                  bigserial PRIMARY KEY,
    url                 text NOT NULL,
    -- 'perk.redeemed', 'sparks.awarded', ... (webhooks::EVENT_TYPES)
    event_types         text[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Only events of these perk kinds / perk ids (perk events); NULL: any.
    perk_kinds          text[],
    perk_ids            bigint[],
    commitment          text NOT NULL CHECK (commitment IN ('confirmed', 'finalized')),
    -- Standard Webhooks secrets ("whsec_" + base64). During a rotation's
    -- grace period deliveries carry a signature with each.
    secret              text NOT NULL,
    previous_secret     text,
    previous_secret_until timestamptz,
    -- How long a delivery is retried before it is dead-lettered.
    retry_for_seconds   bigint NOT NULL CHECK (retry_for_seconds > 0),
    -- Deliveries in flight at once for this subscription.
    max_in_flight       integer NOT NULL CHECK (max_in_flight > 0),
    disabled_at         timestamptz,
    disabled_reason     text,
    created_at          timestamptz NOT NULL DEFAULT now()
);
-- One live subscription per URL: a second `add` is a mistake, not a fan-out.
CREATE UNIQUE INDEX webhook_subscriptions_live_url ON webhook_subscriptions (url) WHERE disabled_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    -- The `webhook-id` header: stable per event (and per rollback notice),
    -- so receivers deduplicate on it.
    message_id      text NOT NULL,
    event_type      text NOT NULL,
    -- Whose event it is ('' for none, e.g. perk.created): deliveries of
    -- one (subscription, wallet) go in order. Not NULL, so the order check
    -- is an index lookup (an IS NOT DISTINCT FROM is not).
    wallet          text NOT NULL,
    signature       text NOT NULL,
    event_index     integer NOT NULL,
    slot            bigint NOT NULL,
    -- The JSON body sent (the same bytes on every attempt).
    body            text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, message_id)
);
-- The worker's claim: the oldest due deliveries, and per (subscription,
-- wallet) whether an older one is still pending (order per wallet).
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (subscription_id, wallet, id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_pending_id ON webhook_deliveries (id) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_signature ON webhook_deliveries (signature);
CREATE INDEX webhook_deliveries_slot ON webhook_deliveries (subscription_id, slot);
