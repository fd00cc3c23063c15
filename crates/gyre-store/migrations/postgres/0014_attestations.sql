-- The ML Test Score (issue 19): a test done by hand counts half a point only with a recorded
-- attestation: which test, what was done, who said so and when. Kept, never edited: a newer
-- attestation of the same test is the one that counts.
CREATE TABLE IF NOT EXISTS attestations (
    id          BIGSERIAL PRIMARY KEY,
    test        TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    username    TEXT    NOT NULL,
    at_ms       BIGINT  NOT NULL
);
CREATE INDEX IF NOT EXISTS attestations_test ON attestations (test, at_ms);
