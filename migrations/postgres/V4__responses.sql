-- V4: the OpenAI Responses API's stored responses (see
-- migrations/sqlite/V4__responses.sql). Written by the request-log writer,
-- off the request path; pruned with the request logs.
CREATE TABLE responses (
    id         TEXT   NOT NULL PRIMARY KEY,
    -- Who may read it: the client key's id and a digest prefix
    -- (`<id>:<16 hex>`), or '' when anonymous.
    owner      TEXT   NOT NULL,
    model      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,  -- epoch ms
    -- The Response object JSON, as answered.
    response   BYTEA  NOT NULL,
    -- JSON array of Responses items: the prior conversation, this request's
    -- input items and this response's output items.
    items      BYTEA  NOT NULL
);
CREATE INDEX responses_by_created ON responses (created_at);
