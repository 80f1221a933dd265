-- The RC side's schema (webhooks, delivery attempts) follows in later
-- migrations; this first one only marks the database as hookline's.
COMMENT ON SCHEMA public IS 'hookline';
