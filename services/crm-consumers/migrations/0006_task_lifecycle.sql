-- actions: the lifecycle of an automation task once a worker acts on it.
--
--   pending --claim--> sending --ok--> sent
--      ^                  |  \--permanent error, or out of attempts--> failed
--      \--retryable error-/   (back to pending, due again at next_attempt_at)
--
-- A worker claims due rows with `FOR UPDATE SKIP LOCKED` and stamps them
-- `sending` with a lease (`lease_until`) and its own id (`claimed_by`), so
-- two workers never hold the same task. A worker that dies leaves the row
-- `sending`; once the lease has passed, any worker may claim it again.
-- `attempts` counts claims, so a task that crashes its worker every time
-- still ends `failed`. Every outcome is recorded only by the worker that
-- still holds the claim (`claimed_by` matches), so a worker whose lease was
-- taken over cannot overwrite the new holder's result. A `pending` task
-- with no `next_attempt_at` has never failed and is due at once (no
-- time-dependent default: the rows the automation consumer writes stay a
-- pure function of the events).
ALTER TABLE automation_tasks
    ADD COLUMN IF NOT EXISTS attempts        INT         NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS last_error      TEXT,
    ADD COLUMN IF NOT EXISTS sent_at         TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS lease_until     TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS claimed_by      TEXT,
    ADD COLUMN IF NOT EXISTS next_attempt_at TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS updated_at      TIMESTAMPTZ NOT NULL DEFAULT now();

ALTER TABLE automation_tasks DROP CONSTRAINT IF EXISTS automation_tasks_status;
ALTER TABLE automation_tasks ADD CONSTRAINT automation_tasks_status
    CHECK (status IN ('pending', 'sending', 'sent', 'failed'));

DROP INDEX IF EXISTS automation_tasks_pending;
CREATE INDEX IF NOT EXISTS automation_tasks_due
    ON automation_tasks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS automation_tasks_leased
    ON automation_tasks (lease_until) WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS automation_tasks_status_id
    ON automation_tasks (status, id);
