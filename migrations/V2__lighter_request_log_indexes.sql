-- Request logs are written once per request and read rarely: every index on
-- request_logs is paid for on the request-log writer's CPU, next to the
-- gateway's. Five B-trees per row capped the writer at ~160k rows/s and made
-- it ~10% of llmo's CPU at the benchmark's peak; with (ts) and (status, ts)
-- alone it writes ~430k rows/s.
--
-- Kept: (ts) for time ranges, keyset pages, per-model stats and retention;
-- (status, ts) to find rare error statuses. Filters on model, provider or
-- key now walk the ts index newest first and stop after one page of matches
-- (bound them with since/until on very large logs). Per-provider totals come
-- from provider_stats, as before.
DROP INDEX IF EXISTS request_logs_by_model;
DROP INDEX IF EXISTS request_logs_by_provider;
DROP INDEX IF EXISTS request_logs_by_key;
