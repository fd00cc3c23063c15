-- Pipeline step results by cache key: what a step produced when its definition, params,
-- inputs and code hashed to `key`. A key is stored once; the first result stays.
CREATE TABLE IF NOT EXISTS step_results (
    key         TEXT    PRIMARY KEY,
    step        TEXT    NOT NULL,
    outputs     TEXT    NOT NULL,
    run_id      TEXT,
    created_ms  BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS step_results_step ON step_results (step, created_ms);
-- Lineage walks from an output back to the runs that made it.
CREATE INDEX IF NOT EXISTS run_io_ref ON run_io (ref, direction);
