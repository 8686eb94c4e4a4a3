-- V5: the replica heartbeat (see migrations/sqlite/V5__replicas.sql). One
-- row per running `llmo serve`, beaten every 10 s, deleted at shutdown.
-- Live state, not configuration: no llmo_bump_config_version trigger and
-- no NOTIFY (a heartbeat must not make every replica reload); `llmo db
-- copy` skips it.
CREATE TABLE replicas (
    -- Random per process start (16 hex digits).
    id         TEXT    NOT NULL PRIMARY KEY,
    host       TEXT    NOT NULL,
    pid        BIGINT  NOT NULL,
    -- The address `llmo serve` listens on.
    listen     TEXT    NOT NULL,
    -- llmo's version.
    version    TEXT    NOT NULL,
    -- True when the replica has a Redis URL (shared rate limits).
    redis      BOOLEAN NOT NULL DEFAULT FALSE,
    started_at BIGINT  NOT NULL,  -- epoch ms
    seen_at    BIGINT  NOT NULL   -- epoch ms, the last beat
);
CREATE INDEX replicas_by_seen ON replicas (seen_at);
