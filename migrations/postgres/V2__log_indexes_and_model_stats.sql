-- V2: lighter request-log indexes, and per-model minute stats (the same
-- change as migrations/sqlite/V2; see there for the measurements).
--
-- Kept: (ts) for time ranges, keyset pages, latency percentiles and
-- retention; (status, ts) to find rare error statuses. Filters on model,
-- provider or key walk the ts index newest first and stop after one page of
-- matches. Totals come from provider_stats and model_stats.
DROP INDEX IF EXISTS request_logs_by_model;
DROP INDEX IF EXISTS request_logs_by_provider;
DROP INDEX IF EXISTS request_logs_by_key;

-- Per-model totals per minute, kept by the request-log writers (one upsert
-- that adds, per model and minute per batch, like provider_stats).
CREATE TABLE model_stats (
    model            TEXT   COLLATE "C" NOT NULL,
    bucket           BIGINT NOT NULL,  -- minutes since the Unix epoch
    requests         BIGINT NOT NULL DEFAULT 0 CHECK (requests >= 0),
    errors           BIGINT NOT NULL DEFAULT 0 CHECK (errors >= 0),
    latency_ms_total DOUBLE PRECISION NOT NULL DEFAULT 0,
    tokens_in        BIGINT NOT NULL DEFAULT 0,
    tokens_out       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (model, bucket)
);
CREATE INDEX model_stats_by_bucket ON model_stats (bucket);

INSERT INTO model_stats (model, bucket, requests, errors, latency_ms_total, tokens_in, tokens_out)
SELECT model, ts / 60000, count(*), count(*) FILTER (WHERE status >= 400),
       coalesce(sum(latency_ms), 0), coalesce(sum(prompt_tokens), 0),
       coalesce(sum(completion_tokens), 0)
FROM request_logs
WHERE model IS NOT NULL
GROUP BY model, ts / 60000;
