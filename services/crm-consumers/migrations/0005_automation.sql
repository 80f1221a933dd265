-- automation: tasks created by the rules in `crm.automation`, for workers
-- (email senders, SDR queues) to pick up by `kind` and `status`.
--
-- At most once: an event rule fires at most once per (rule, event), a score
-- threshold rule at most once per (rule, contact). The partial unique
-- indexes enforce it whatever the runner does.
CREATE TABLE IF NOT EXISTS automation_tasks (
    id          BIGSERIAL   PRIMARY KEY,
    rule        TEXT        NOT NULL,
    kind        TEXT        NOT NULL,
    fired_on    TEXT        NOT NULL CHECK (fired_on IN ('event', 'threshold')),
    contact_key TEXT        NOT NULL,
    event_id    TEXT        NOT NULL,
    payload     JSONB       NOT NULL,
    status      TEXT        NOT NULL DEFAULT 'pending',
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX IF NOT EXISTS automation_tasks_once_per_event
    ON automation_tasks (rule, event_id) WHERE fired_on = 'event';
CREATE UNIQUE INDEX IF NOT EXISTS automation_tasks_once_per_contact
    ON automation_tasks (rule, contact_key) WHERE fired_on = 'threshold';
CREATE INDEX IF NOT EXISTS automation_tasks_pending
    ON automation_tasks (kind, created_at) WHERE status = 'pending';

-- automation's own running score per contact, computed with the same scoring
-- function as engagement_scores. Threshold rules read this rather than
-- engagement_scores: the two consumers run independently, so engagement-score
-- may be ahead of or behind automation; this view always includes exactly
-- the events automation has applied, in the same transaction.
CREATE TABLE IF NOT EXISTS automation_contact_scores (
    contact_key TEXT        PRIMARY KEY,
    contact_id  TEXT,
    email       TEXT,
    score       BIGINT      NOT NULL DEFAULT 0,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
