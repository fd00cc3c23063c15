-- MLflow 3's logged models (issue 16): a model's record, its artifacts under
-- `EXPERIMENT/models/ID/artifacts/` in the artifacts table. Params and tags as JSON objects.
CREATE TABLE IF NOT EXISTS logged_models (
    id              TEXT    NOT NULL PRIMARY KEY,
    experiment_id   BIGINT  NOT NULL,
    name            TEXT    NOT NULL,
    model_type      TEXT    NOT NULL DEFAULT '',
    source_run_id   TEXT,
    status          TEXT    NOT NULL,
    params          TEXT    NOT NULL DEFAULT '{}',
    tags            TEXT    NOT NULL DEFAULT '{}',
    created_ms      BIGINT  NOT NULL,
    updated_ms      BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS logged_models_experiment ON logged_models (experiment_id, created_ms);
