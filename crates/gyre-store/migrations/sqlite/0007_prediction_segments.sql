-- The prediction log in segments (issue 6). A server's log writer stores each flush as a few
-- rows of up to 512 records, compressed, instead of one indexed row per record: at request
-- rate the per-record B-tree inserts and the text's bytes were a third of the server's CPU.
-- `predictions` stays, read alongside, for what was logged before.
--
-- Server-made request ids are `{prefix}-{counter:010x}`; a segment of such ids holds one
-- prefix and notes the counters' range (lo..hi), which finds a request's segments with no
-- per-record index. `span` (hi - lo) bounds that search. Any other id (a client's own) gets a
-- `prediction_keys` row, whose key also keeps a re-logged record out.
CREATE TABLE IF NOT EXISTS prediction_segments (
    id      INTEGER PRIMARY KEY,
    model   TEXT    NOT NULL,
    prefix  TEXT    NOT NULL,
    lo      BIGINT  NOT NULL,
    hi      BIGINT  NOT NULL,
    span    BIGINT  NOT NULL,
    n       BIGINT  NOT NULL,
    body    BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS prediction_segments_range ON prediction_segments (prefix, lo);
CREATE INDEX IF NOT EXISTS prediction_segments_span ON prediction_segments (prefix, span);
-- A model's segments in order (reading its log), and its count without the bodies.
CREATE INDEX IF NOT EXISTS prediction_segments_model ON prediction_segments (model, id, n);

CREATE TABLE IF NOT EXISTS prediction_keys (
    request_id  TEXT    NOT NULL,
    row_index   BIGINT  NOT NULL,
    role        TEXT    NOT NULL,
    segment     BIGINT  NOT NULL,
    PRIMARY KEY (request_id, row_index, role)
) WITHOUT ROWID;

-- A labelled row keeps its inputs (copied when the label is joined), so drift on labelled
-- traffic reads no segment. Rows joined before this migration have NULL and are read from
-- `predictions`.
ALTER TABLE labelled ADD COLUMN inputs TEXT;
