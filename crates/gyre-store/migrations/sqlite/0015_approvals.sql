-- Promotions through environments (issue 19): an approval of a model version for an
-- environment, by a token whose role is kept as it was when it approved.
CREATE TABLE IF NOT EXISTS approvals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    environment TEXT    NOT NULL,
    approver    TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_version ON approvals (name, version, environment);
