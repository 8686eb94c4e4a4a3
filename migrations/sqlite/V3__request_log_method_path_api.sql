-- V3: what each request asked for. A row now says which HTTP method and path
-- the client used and which API that is (`chat`, `embeddings`, `models`,
-- `other`; an open set: `messages` and `responses` come next, so there is no
-- CHECK on it), so an unknown route such as `POST /v1/responses` shows what
-- clients wanted. A request that presented an unknown client key keeps that
-- key's non-secret prefix (the `llmo-XXXX` of llmo's own key format; never
-- the key itself) in `key_prefix`.
--
-- All nullable: rows logged before this migration stay valid and read as
-- "not recorded". No index: filters on these walk the (ts) index, as the
-- model, provider and key filters do since V2.
ALTER TABLE request_logs ADD COLUMN method TEXT;
ALTER TABLE request_logs ADD COLUMN path TEXT;
ALTER TABLE request_logs ADD COLUMN api TEXT;
ALTER TABLE request_logs ADD COLUMN key_prefix TEXT;
