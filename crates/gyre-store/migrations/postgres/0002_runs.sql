-- Tracked runs. Metric values are stored as their IEEE-754 bits (exact for NaN and ±Inf) and,
-- for filtering, as a number. run_latest keeps the last value of each metric.
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    parent      TEXT,
    status      TEXT    NOT NULL,
    started_ms  BIGINT  NOT NULL,
    ended_ms    BIGINT,
    username    TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    pid_start   BIGINT  NOT NULL,
    git_commit  TEXT,
    git_dirty   BIGINT  NOT NULL,
    note        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_started ON runs (started_ms);
CREATE INDEX IF NOT EXISTS runs_status ON runs (status);

CREATE TABLE IF NOT EXISTS run_params (
    run_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE IF NOT EXISTS run_tags (
    run_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- A point is identified by its run, key, step and time; the table is its own index.
CREATE TABLE IF NOT EXISTS run_metrics (
    run_id  TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    step    BIGINT  NOT NULL,
    ts_ms   BIGINT  NOT NULL,
    bits    BIGINT  NOT NULL,
    PRIMARY KEY (run_id, key, step, ts_ms)
);

CREATE TABLE IF NOT EXISTS run_latest (
    run_id  TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    value   DOUBLE PRECISION,
    bits    BIGINT  NOT NULL,
    step    BIGINT  NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX IF NOT EXISTS run_latest_key ON run_latest (key, value);

CREATE TABLE IF NOT EXISTS run_io (
    run_id      TEXT NOT NULL,
    direction   TEXT NOT NULL,
    ref         TEXT NOT NULL,
    PRIMARY KEY (run_id, direction, ref)
);
