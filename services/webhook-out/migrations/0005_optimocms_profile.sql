-- webhook-out's `optimocms` profile (OptimoCMS's body and x-optimocms-*
-- signature) beside `standard` and `rc-legacy`.
ALTER TABLE webhooks DROP CONSTRAINT IF EXISTS webhooks_profile_check;
ALTER TABLE webhooks ADD CONSTRAINT webhooks_profile_check
    CHECK (profile IN ('standard', 'rc-legacy', 'optimocms'));
