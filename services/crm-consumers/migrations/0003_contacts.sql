-- event-store: contacts upserted from form submissions.
--
-- `contact_key` is the contact's identity everywhere on the CRM side (also in
-- engagement_scores, campaign_touches and automation_tasks): the event's
-- `contact_id` when it has one, else its email, trimmed and lower-cased.
-- Anonymous submissions (neither) create no contact.
--
-- Upserts merge: a blank or missing field never overwrites a known value
-- (`COALESCE(NULLIF(EXCLUDED.x, ''), contacts.x)`).
CREATE TABLE IF NOT EXISTS contacts (
    contact_key TEXT        PRIMARY KEY,
    contact_id  TEXT,
    email       TEXT,
    first_name  TEXT,
    last_name   TEXT,
    company     TEXT,
    job_title   TEXT,
    country     TEXT,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS contacts_email ON contacts (lower(email)) WHERE email IS NOT NULL;
CREATE INDEX IF NOT EXISTS contacts_contact_id ON contacts (contact_id) WHERE contact_id IS NOT NULL;
