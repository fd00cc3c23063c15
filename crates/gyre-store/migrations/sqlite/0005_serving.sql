-- Every prediction a server made, one row per input row (role: champion, challenger, shadow),
-- and the true labels clients send back later, by request id and row.
CREATE TABLE IF NOT EXISTS predictions (
    request_id  TEXT    NOT NULL,
    row_index   BIGINT  NOT NULL,
    role        TEXT    NOT NULL,
    ts_ms       BIGINT  NOT NULL,
    model       TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    inputs      TEXT    NOT NULL,
    output      TEXT    NOT NULL,
    PRIMARY KEY (request_id, row_index, role)
) WITHOUT ROWID;
-- Servers write this table at request rate, so it carries one index only (its key, which
-- grows with time for server-made request ids).

CREATE TABLE IF NOT EXISTS feedback (
    request_id  TEXT    NOT NULL,
    row_index   BIGINT  NOT NULL,
    label       TEXT    NOT NULL,
    ts_ms       BIGINT  NOT NULL,
    PRIMARY KEY (request_id, row_index)
);
