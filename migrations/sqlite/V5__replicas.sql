-- V5: the replica heartbeat. Every running `llmo serve` keeps one row here
-- (written by its database thread every 10 s, deleted at shutdown), so a
-- replica and `llmo doctor` can tell how many replicas share this database
-- and which have Redis: without Redis each replica enforces rate limits on
-- its own traffic, and both say so.
--
-- Live state, not configuration: no config_version trigger (a heartbeat
-- must not make every replica reload), and `llmo db copy` skips it. Rows
-- of replicas not seen for an hour (a crash) are deleted by the next
-- replica's census.
CREATE TABLE replicas (
    -- Random per process start (16 hex digits).
    id         TEXT    NOT NULL PRIMARY KEY,
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    -- The address `llmo serve` listens on.
    listen     TEXT    NOT NULL,
    -- llmo's version.
    version    TEXT    NOT NULL,
    -- 1 when the replica has a Redis URL (shared rate limits).
    redis      INTEGER NOT NULL DEFAULT 0 CHECK (redis IN (0, 1)),
    started_at INTEGER NOT NULL,  -- epoch ms
    seen_at    INTEGER NOT NULL   -- epoch ms, the last beat
);
CREATE INDEX replicas_by_seen ON replicas (seen_at);
