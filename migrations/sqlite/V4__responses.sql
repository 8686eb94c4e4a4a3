-- V4: the OpenAI Responses API's stored responses. `POST /v1/responses`
-- with `store` on (the default) keeps the Response object llmo answered and
-- the conversation up to it, so a later request's `previous_response_id`
-- can be expanded for any provider, and `GET`/`DELETE /v1/responses/{id}`
-- answer. Written by the request-log writer, off the request path; pruned
-- with the request logs (`log_retention_days`).
--
-- A rowid table (not WITHOUT ROWID): rows are large JSON documents, which
-- SQLite keeps better in a rowid table's overflow pages.
CREATE TABLE responses (
    id         TEXT    NOT NULL PRIMARY KEY,
    -- Who may read it: the client key's id and a digest prefix
    -- (`<id>:<16 hex>`), or '' when anonymous.
    owner      TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,  -- epoch ms
    -- The Response object JSON, as answered.
    response   BLOB    NOT NULL,
    -- JSON array of Responses items: the prior conversation, this request's
    -- input items and this response's output items.
    items      BLOB    NOT NULL
);
CREATE INDEX responses_by_created ON responses (created_at);
