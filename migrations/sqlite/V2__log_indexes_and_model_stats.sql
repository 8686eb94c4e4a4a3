-- V2: lighter request-log indexes, and per-model minute stats.
--
-- Request logs are written once per request and read rarely: every index on
-- request_logs is paid for on the request-log writer's CPU, next to the
-- gateway's. Five B-trees per row capped the writer at ~160k rows/s and made
-- it ~10% of llmo's CPU at the benchmark's peak; with (ts) and (status, ts)
-- alone it writes ~430k rows/s.
--
-- Kept: (ts) for time ranges, keyset pages, latency percentiles and
-- retention; (status, ts) to find rare error statuses. Filters on model,
-- provider or key now walk the ts index newest first and stop after one page
-- of matches (bound them with since/until on very large logs). Totals come
-- from provider_stats, as before, and from model_stats below.
DROP INDEX IF EXISTS request_logs_by_model;
DROP INDEX IF EXISTS request_logs_by_provider;
DROP INDEX IF EXISTS request_logs_by_key;

-- Per-model totals per minute, kept by the request-log writer (one upsert per
-- model and minute per batch, like provider_stats), so per-model statistics
-- never scan request_logs. Filled here from the rows already logged.
CREATE TABLE model_stats (
    model            TEXT    NOT NULL,
    bucket           INTEGER NOT NULL,  -- minutes since the Unix epoch
    requests         INTEGER NOT NULL DEFAULT 0 CHECK (requests >= 0),
    errors           INTEGER NOT NULL DEFAULT 0 CHECK (errors >= 0),
    latency_ms_total REAL    NOT NULL DEFAULT 0,
    tokens_in        INTEGER NOT NULL DEFAULT 0,
    tokens_out       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model, bucket)
) WITHOUT ROWID;
CREATE INDEX model_stats_by_bucket ON model_stats (bucket);

INSERT INTO model_stats (model, bucket, requests, errors, latency_ms_total, tokens_in, tokens_out)
SELECT model, ts / 60000, count(*), sum(status >= 400), total(latency_ms),
       coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0)
FROM request_logs
WHERE model IS NOT NULL
GROUP BY model, ts / 60000;
