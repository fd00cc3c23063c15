-- Dataset versions: immutable, content-addressed. A version's id is the BLAKE3 hash of its
-- manifest; `seq` numbers the versions of one dataset 1, 2, 3, ...
CREATE TABLE IF NOT EXISTS dataset_versions (
    dataset     TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    created_at  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    n_rows      BIGINT  NOT NULL,
    n_columns   BIGINT  NOT NULL,
    n_bytes     BIGINT  NOT NULL,
    manifest    TEXT    NOT NULL,
    profile     TEXT    NOT NULL,
    PRIMARY KEY (dataset, id),
    UNIQUE (dataset, seq)
);
