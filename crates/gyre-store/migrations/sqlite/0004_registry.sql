-- The model registry: named models, numbered versions (one per model file), aliases, every
-- alias move as an audit row, and the gate's verdicts.
CREATE TABLE IF NOT EXISTS model_versions (
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    model       TEXT    NOT NULL,
    run_id      TEXT,
    username    TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL,
    PRIMARY KEY (name, version),
    UNIQUE (name, model)
);

CREATE TABLE IF NOT EXISTS model_aliases (
    name     TEXT    NOT NULL,
    alias    TEXT    NOT NULL,
    version  BIGINT  NOT NULL,
    PRIMARY KEY (name, alias)
);

CREATE TABLE IF NOT EXISTS alias_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    alias         TEXT    NOT NULL,
    from_version  BIGINT,
    to_version    BIGINT,
    username      TEXT    NOT NULL,
    reason        TEXT    NOT NULL,
    forced        BIGINT  NOT NULL,
    at_ms         BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS alias_events_name ON alias_events (name, alias, id);

CREATE TABLE IF NOT EXISTS verdicts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    version     BIGINT  NOT NULL,
    passed      BIGINT  NOT NULL,
    checks      TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    created_ms  BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_version ON verdicts (name, version, id);
