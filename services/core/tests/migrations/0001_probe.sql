-- A stand-in migration set for core's own tests of create / connect /
-- migrate: the real ones belong to the crates owning each database.
CREATE TABLE probe (
    id BIGINT PRIMARY KEY
);
