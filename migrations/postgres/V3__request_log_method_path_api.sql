-- V3: what each request asked for (method, path, API) and, for an unknown
-- client key, its non-secret prefix; as migrations/sqlite/V3. All nullable:
-- older rows read as "not recorded". No index.
ALTER TABLE request_logs ADD COLUMN method TEXT;
ALTER TABLE request_logs ADD COLUMN path TEXT;
ALTER TABLE request_logs ADD COLUMN api TEXT;
ALTER TABLE request_logs ADD COLUMN key_prefix TEXT;
