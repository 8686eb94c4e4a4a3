-- llmo initial schema. Never edit this file once shipped: add V2__*.sql instead.
-- Timestamps are Unix epoch milliseconds (INTEGER).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;

-- Bumped by triggers on every change to routing configuration, so a running
-- `llmo serve` notices changes made by other processes and reloads.
INSERT INTO meta (key, value) VALUES ('config_version', 1);

CREATE TABLE providers (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    kind           TEXT    NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini', 'openai-compatible')),
    base_url       TEXT    NOT NULL CHECK (base_url LIKE 'http://%' OR base_url LIKE 'https://%'),
    api_key        TEXT,
    api_key_env    TEXT,
    priority       INTEGER NOT NULL DEFAULT 0     CHECK (priority >= 0),
    weight         INTEGER NOT NULL DEFAULT 1     CHECK (weight >= 0),
    max_retries    INTEGER NOT NULL DEFAULT 2     CHECK (max_retries BETWEEN 0 AND 10),
    timeout_ms     INTEGER NOT NULL DEFAULT 60000 CHECK (timeout_ms > 0),
    rate_limit_rpm INTEGER NOT NULL DEFAULT 0     CHECK (rate_limit_rpm >= 0),
    enabled        INTEGER NOT NULL DEFAULT 1     CHECK (enabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    CHECK (api_key IS NULL OR api_key_env IS NULL)
);

CREATE TABLE models (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 128),
    description TEXT    NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE model_providers (
    model_id       INTEGER NOT NULL REFERENCES models (id) ON DELETE CASCADE,
    provider_id    INTEGER NOT NULL REFERENCES providers (id) ON DELETE CASCADE,
    upstream_model TEXT    NOT NULL CHECK (length(upstream_model) >= 1),
    -- NULL: use the provider's priority / weight.
    priority       INTEGER CHECK (priority IS NULL OR priority >= 0),
    weight         INTEGER CHECK (weight IS NULL OR weight >= 0),
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (model_id, provider_id)
) WITHOUT ROWID;
CREATE INDEX model_providers_by_provider ON model_providers (provider_id);

-- Keys that clients of the gateway present. Only a SHA-256 hash is stored.
CREATE TABLE api_keys (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    key_hash       TEXT    NOT NULL UNIQUE,
    prefix         TEXT    NOT NULL,
    rpm_limit      INTEGER NOT NULL DEFAULT 0 CHECK (rpm_limit >= 0),
    -- JSON array of public model names; NULL means every model.
    allowed_models TEXT,
    created_at     INTEGER NOT NULL,
    last_used_at   INTEGER,
    revoked_at     INTEGER
);

-- One row per request served by the gateway. Provider and model are names,
-- not foreign keys, so history survives the removal of a provider.
CREATE TABLE request_logs (
    id                INTEGER PRIMARY KEY,
    ts                INTEGER NOT NULL,
    request_id        TEXT    NOT NULL,
    key_name          TEXT,
    model             TEXT,
    provider          TEXT,
    upstream_model    TEXT,
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status            INTEGER NOT NULL,
    error_type        TEXT,
    latency_ms        REAL    NOT NULL DEFAULT 0,
    ttfb_ms           REAL,
    upstream_ms       REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    stream            INTEGER NOT NULL DEFAULT 0 CHECK (stream IN (0, 1))
);
CREATE INDEX request_logs_by_ts       ON request_logs (ts);
CREATE INDEX request_logs_by_model    ON request_logs (model, ts);
CREATE INDEX request_logs_by_provider ON request_logs (provider, ts);
CREATE INDEX request_logs_by_status   ON request_logs (status, ts);
CREATE INDEX request_logs_by_key      ON request_logs (key_name, ts);

-- Circuit-breaker state changes, newest last; the latest row per provider is
-- its current state.
CREATE TABLE provider_health (
    id                   INTEGER PRIMARY KEY,
    provider             TEXT    NOT NULL,
    state                TEXT    NOT NULL CHECK (state IN ('closed', 'open', 'half_open')),
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_error           TEXT,
    last_success_at      INTEGER,
    changed_at           INTEGER NOT NULL
);
CREATE INDEX provider_health_by_provider ON provider_health (provider, changed_at);

-- Per provider, per minute aggregates, maintained by the request-log writer.
CREATE TABLE provider_stats (
    provider         TEXT    NOT NULL,
    bucket           INTEGER NOT NULL, -- epoch minute (ts_ms / 60000)
    requests         INTEGER NOT NULL DEFAULT 0,
    successes        INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    latency_ms_total REAL    NOT NULL DEFAULT 0,
    tokens_in        INTEGER NOT NULL DEFAULT 0,
    tokens_out       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, bucket)
) WITHOUT ROWID;
CREATE INDEX provider_stats_by_bucket ON provider_stats (bucket);

CREATE TRIGGER providers_ins AFTER INSERT ON providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER providers_upd AFTER UPDATE ON providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER providers_del AFTER DELETE ON providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER models_ins AFTER INSERT ON models
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER models_upd AFTER UPDATE ON models
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER models_del AFTER DELETE ON models
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER model_providers_ins AFTER INSERT ON model_providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER model_providers_upd AFTER UPDATE ON model_providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER model_providers_del AFTER DELETE ON model_providers
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER api_keys_ins AFTER INSERT ON api_keys
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
-- last_used_at is bookkeeping, not configuration: it does not trigger a reload.
CREATE TRIGGER api_keys_upd AFTER UPDATE OF name, key_hash, prefix, rpm_limit, allowed_models, revoked_at ON api_keys
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
CREATE TRIGGER api_keys_del AFTER DELETE ON api_keys
BEGIN UPDATE meta SET value = value + 1 WHERE key = 'config_version'; END;
