-- webhook-out state: subscriptions and the delivery-attempt log.

CREATE TABLE webhooks (
    id                         text PRIMARY KEY,              -- wh_<26 chars>
    url                        text NOT NULL,
    events                     text[] NOT NULL,
    profile                    text NOT NULL CHECK (profile IN ('standard', 'rc-legacy')),
    description                text,
    secret                     text NOT NULL,
    -- Rotation: the previous secret signs beside the new one until it expires.
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    -- Put in the rc-legacy body (`api_key`).
    api_key                    text,
    active                     boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    -- `api` or `config` (the one webhook made from crm_webhook.* at start-up).
    source                     text NOT NULL DEFAULT 'api' CHECK (source IN ('api', 'config')),
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    -- Failed attempts since the last success, and when that run began.
    fail_count                 bigint NOT NULL DEFAULT 0,
    failing_since              timestamptz,
    last_delivered_at          timestamptz
);

-- At most one webhook comes from config: start-ups (and concurrent instances)
-- upsert on this index, so it is created exactly once.
CREATE UNIQUE INDEX webhooks_one_config ON webhooks (source) WHERE source = 'config';

CREATE TABLE delivery_attempts (
    id            bigserial PRIMARY KEY,      -- keyset cursor
    webhook_id    text NOT NULL,              -- no FK: deleting a webhook must not delete millions of rows at once
    event_id      text NOT NULL,
    event         text NOT NULL,
    attempt       integer NOT NULL,
    status_code   integer,
    success       boolean NOT NULL,
    duration_ms   integer NOT NULL,
    error         text,
    exhausted     boolean NOT NULL DEFAULT false,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);

-- Newest-first pages of one webhook's log.
CREATE INDEX delivery_attempts_webhook_id ON delivery_attempts (webhook_id, id);
-- Retention deletes the oldest rows in small batches.
CREATE INDEX delivery_attempts_attempted_at ON delivery_attempts (attempted_at);

-- Replays in progress: each reads RC_EVENTS through its own durable consumer
-- up to end_seq, so a replay survives restarts and is shared by instances.
CREATE TABLE webhook_replays (
    id           bigserial PRIMARY KEY,
    webhook_id   text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    start_seq    bigint NOT NULL,
    end_seq      bigint NOT NULL,
    event_types  text[] NOT NULL,
    replayed     bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE INDEX webhook_replays_open ON webhook_replays (webhook_id) WHERE finished_at IS NULL;
