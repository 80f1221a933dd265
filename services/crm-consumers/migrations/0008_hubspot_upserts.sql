-- hubspot-sync: the form submissions whose contact HubSpot confirmed (a 2xx
-- to the batch upsert). Written right after HubSpot answers, outside the
-- runner's transaction, so a batch redelivered after a crash or a failed
-- commit does not upsert those contacts again.
CREATE TABLE IF NOT EXISTS hubspot_upserts (
    event_id    TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    hubspot_id  TEXT,
    upserted_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
