-- Content drift: the latest version of each Resources Centre content item,
-- as announced by `content_published`, and the page views and forms that
-- saw a different one. Written by the event-store consumer only.

-- The latest announced checksum per content item. `updated_at` and
-- `event_id` are the edge time and id of the announcement in effect: an
-- older announcement arriving late never replaces a newer one (compared as
-- the pair, event ids breaking ties). `published_at` is the edge time of
-- the first announcement applied.
CREATE TABLE IF NOT EXISTS content_catalog (
    content_type TEXT        NOT NULL,
    content_id   TEXT        NOT NULL,
    slug         TEXT        NOT NULL,
    title        TEXT        NOT NULL,
    checksum     TEXT        NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    event_id     TEXT        NOT NULL,
    PRIMARY KEY (content_type, content_id)
);

-- One row per content item and (expected, seen) pair: `count` distinct
-- events saw `seen` while the catalog held `expected`.
CREATE TABLE IF NOT EXISTS content_drift (
    content_type TEXT        NOT NULL,
    content_id   TEXT        NOT NULL,
    expected     TEXT        NOT NULL,
    seen         TEXT        NOT NULL,
    first_seen   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    count        BIGINT      NOT NULL,
    PRIMARY KEY (content_type, content_id, expected, seen)
);

CREATE INDEX IF NOT EXISTS content_drift_last_seen ON content_drift (last_seen);

-- Each drifting event once: the key that keeps `count` exact even if an
-- event's effect were ever applied twice.
CREATE TABLE IF NOT EXISTS content_drift_events (
    event_id     TEXT        PRIMARY KEY,
    content_type TEXT        NOT NULL,
    content_id   TEXT        NOT NULL,
    expected     TEXT        NOT NULL,
    seen         TEXT        NOT NULL,
    seen_at      TIMESTAMPTZ NOT NULL
);
