-- engagement-score: one row per contact (see contacts.contact_key); points
-- come from `crm.scoring`. Every column is a sum or a GREATEST/LEAST, so the
-- end state does not depend on the order events were applied in.
CREATE TABLE IF NOT EXISTS engagement_scores (
    contact_key      TEXT        PRIMARY KEY,
    contact_id       TEXT,
    email            TEXT,
    score            BIGINT      NOT NULL DEFAULT 0,
    page_views       BIGINT      NOT NULL DEFAULT 0,
    form_submissions BIGINT      NOT NULL DEFAULT 0,
    last_event_at    TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS engagement_scores_score ON engagement_scores (score DESC);

-- engagement-score: per contact and `utm_campaign` (page view data, or a form
-- field): first and last touch, and how many events carried the campaign.
CREATE TABLE IF NOT EXISTS campaign_touches (
    contact_key    TEXT        NOT NULL,
    utm_campaign   TEXT        NOT NULL,
    first_touch_at TIMESTAMPTZ NOT NULL,
    last_touch_at  TIMESTAMPTZ NOT NULL,
    touches        BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (contact_key, utm_campaign)
);

CREATE INDEX IF NOT EXISTS campaign_touches_campaign ON campaign_touches (utm_campaign);
