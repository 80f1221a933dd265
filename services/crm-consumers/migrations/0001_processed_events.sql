-- One row per (consumer, event) whose effect has been committed. The runner
-- inserts it in the same transaction as the effect, so a redelivered event
-- finds its row and is skipped: effects happen exactly once.
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT        NOT NULL,
    event_id     TEXT        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
