-- One row per contact and watched community: when they first and last
-- looked, and how often. The SDR team's queue reads it.
CREATE TABLE IF NOT EXISTS sdr_alerts (
    contact_id     TEXT        NOT NULL,
    community      TEXT        NOT NULL,
    first_event_id TEXT        NOT NULL,
    first_seen_at  TIMESTAMPTZ NOT NULL,
    last_seen_at   TIMESTAMPTZ NOT NULL,
    views          BIGINT      NOT NULL,
    PRIMARY KEY (contact_id, community)
);
