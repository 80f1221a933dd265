-- event-store: every CRM event, with the columns of the seed receiver's
-- content_events table. `event_id` is unique, so even a write that bypassed
-- processed_events could not store an event twice. `payload` is the event's
-- `data` object as received; `ts` is when the edge accepted the event.
CREATE TABLE IF NOT EXISTS content_events (
    id           BIGSERIAL   PRIMARY KEY,
    event_id     TEXT        NOT NULL UNIQUE,
    event_name   TEXT        NOT NULL,
    content_type TEXT,
    content_id   TEXT,
    slug         TEXT,
    title        TEXT,
    community    TEXT,
    contact_id   TEXT,
    email        TEXT,
    url          TEXT,
    payload      JSONB       NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,
    stored_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS content_events_contact_id ON content_events (contact_id)
    WHERE contact_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS content_events_email ON content_events (lower(email))
    WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS content_events_content ON content_events (content_type, content_id);
CREATE INDEX IF NOT EXISTS content_events_ts ON content_events (ts);
