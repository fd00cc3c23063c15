-- MLflow's experiments (issue 16): a named group of runs. Runs name theirs in the tag
-- gyre.experiment. Experiment 0, "Default", is where a client's runs go unless told.
CREATE TABLE IF NOT EXISTS experiments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT    NOT NULL UNIQUE,
    artifact_location TEXT  NOT NULL,
    lifecycle_stage TEXT    NOT NULL DEFAULT 'active',
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
INSERT INTO experiments (id, name, artifact_location, created_ms, updated_ms)
    VALUES (0, 'Default', 'mlflow-artifacts:/0', 0, 0) ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS experiment_tags (
    experiment_id   BIGINT  NOT NULL,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
