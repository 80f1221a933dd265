-- Webhook secrets and API keys are encrypted at rest by webhook-out
-- (AES-256-GCM, keys in webhook_out.encryption_keys). Rows written before
-- that hold plaintext: this marks them (secrets_sealed = false), and
-- webhook-out seals them at start-up (so does `hookline webhooks reencrypt`).
-- Every row written since says true.
ALTER TABLE webhooks ADD COLUMN secrets_sealed boolean NOT NULL DEFAULT false;
