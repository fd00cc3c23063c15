-- Metrics linked to MLflow 3 logged models (`log_metric(..., model_id=...)`, and what
-- autolog links after `log_model`): the latest value per model, key and dataset.
CREATE TABLE IF NOT EXISTS logged_model_metrics (
    model_id        TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    dataset_name    TEXT    NOT NULL DEFAULT '',
    dataset_digest  TEXT    NOT NULL DEFAULT '',
    bits            BIGINT  NOT NULL, -- the f64's bits: NaN and ±Inf kept exactly
    timestamp_ms    BIGINT  NOT NULL,
    step            BIGINT  NOT NULL,
    run_id          TEXT,
    PRIMARY KEY (model_id, key, dataset_name, dataset_digest)
);
