-- Names an MLflow client registered before any version (issue 16). gyre's registry is its
-- versions; this keeps a name created empty, and its description.
CREATE TABLE IF NOT EXISTS registered_models (
    name        TEXT    NOT NULL PRIMARY KEY,
    description TEXT    NOT NULL DEFAULT '',
    created_ms  BIGINT  NOT NULL
);
