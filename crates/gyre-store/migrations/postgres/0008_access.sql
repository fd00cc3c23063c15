-- Access control and the label audit (issue 15).
--
-- API tokens: only the BLAKE3 hash of a token's text is kept; its id (8 hex digits, part of
-- the text) names it in lists. A revoked token stays, so the audit trail's names still resolve.
CREATE TABLE IF NOT EXISTS api_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    role        TEXT    NOT NULL,
    hash        TEXT    NOT NULL UNIQUE,
    created_by  TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    revoked_ms  BIGINT
);

-- Every label that replaced another: both values, who and when. (First labels are the
-- feedback table itself.)
CREATE TABLE IF NOT EXISTS label_corrections (
    id          BIGSERIAL PRIMARY KEY,
    request_id  TEXT    NOT NULL,
    row_index   BIGINT  NOT NULL,
    old_label   TEXT    NOT NULL,
    new_label   TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS label_corrections_request ON label_corrections (request_id, row_index);

-- Alias moves get a typed kind: a rollback is known by it, not by its free-text reason.
ALTER TABLE alias_events ADD COLUMN kind TEXT NOT NULL DEFAULT 'move';
UPDATE alias_events SET kind = 'rollback' WHERE reason LIKE 'rollback%';
