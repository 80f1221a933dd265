-- One event's attempts across webhooks: for `hookline trace`, and for the
-- time of an event's first failure that its dead letter carries.
CREATE INDEX IF NOT EXISTS delivery_attempts_event_id ON delivery_attempts (event_id, webhook_id);
