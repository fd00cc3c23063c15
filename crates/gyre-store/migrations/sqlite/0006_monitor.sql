-- Monitoring (issue 7).
--
-- Labels that have met their predictions. A label is joined when it is stored, if its
-- prediction is logged by then; otherwise it stays pending (joined = 0) and the monitor's
-- next pass joins it. Windows read `labelled` by seq, after the last closed window, so the
-- prediction log is never re-scanned.
ALTER TABLE feedback ADD COLUMN joined BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS feedback_pending ON feedback (ts_ms) WHERE joined = 0;

CREATE TABLE IF NOT EXISTS labelled (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   TEXT    NOT NULL,
    row_index    BIGINT  NOT NULL,
    role         TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    version      BIGINT  NOT NULL,
    predicted_ms BIGINT  NOT NULL,
    labelled_ms  BIGINT  NOT NULL,
    output       TEXT    NOT NULL,
    label        TEXT    NOT NULL,
    UNIQUE (request_id, row_index, role)
);
CREATE INDEX IF NOT EXISTS labelled_model ON labelled (model, role, seq);
-- A canary is judged on what both versions predicted since it started.
CREATE INDEX IF NOT EXISTS labelled_time ON labelled (model, role, predicted_ms);

-- One closed window: its metrics as JSON ({"f1": 0.81, ...}).
CREATE TABLE IF NOT EXISTS monitor_points (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    model     TEXT    NOT NULL,
    role      TEXT    NOT NULL,
    version   BIGINT  NOT NULL,
    kind      TEXT    NOT NULL,
    first_seq BIGINT  NOT NULL,
    last_seq  BIGINT  NOT NULL,
    start_ms  BIGINT  NOT NULL,
    end_ms    BIGINT  NOT NULL,
    n         BIGINT  NOT NULL,
    metrics   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_points_model ON monitor_points (model, kind, role, id);

-- A rule's breach, and its recovery.
CREATE TABLE IF NOT EXISTS monitor_events (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms     BIGINT  NOT NULL,
    model     TEXT    NOT NULL,
    version   BIGINT  NOT NULL,
    rule      TEXT    NOT NULL,
    kind      TEXT    NOT NULL,
    point     BIGINT,
    value     REAL,
    threshold REAL,
    detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS monitor_events_model ON monitor_events (model, id);

-- Every firing of a trigger, with its cause and what became of it.
CREATE TABLE IF NOT EXISTS trigger_firings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms       BIGINT  NOT NULL,
    trigger     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    cause       TEXT    NOT NULL,
    pipeline    TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    finished_ms BIGINT,
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS trigger_firings_trigger ON trigger_firings (trigger, id);
