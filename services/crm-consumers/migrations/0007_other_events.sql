-- Events of types hookline does not model (order.created, booking.created,
-- page.published, …), kept as received by the event-store consumer.
-- Idempotent by id: a redelivery or a second sender's copy changes nothing.
CREATE TABLE IF NOT EXISTS other_events (
    id          text PRIMARY KEY,
    type        text NOT NULL,
    -- The ingest path: resources-centre or optimocms.
    source      text NOT NULL,
    -- The verified body as received (a legacy body's api_key removed).
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS other_events_type_received ON other_events (type, received_at);
