-- Artifacts logged through MLflow's artifacts proxy (issue 16): each path under
-- `EXPERIMENT/RUN/artifacts/` names an object in the content-addressed store, so the same
-- bytes logged twice are kept once.
CREATE TABLE IF NOT EXISTS artifacts (
    path        TEXT    NOT NULL PRIMARY KEY,
    hash        TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    created_ms  BIGINT  NOT NULL
);
