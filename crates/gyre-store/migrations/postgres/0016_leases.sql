-- Team mode (issue 20): several servers and agents on one store. A lease names the one
-- process that does a piece of work (firing triggers, monitoring passes, a pipeline run)
-- until it expires; a holder that dies stops renewing it and another process takes over.
CREATE TABLE IF NOT EXISTS leases (
    name       TEXT   PRIMARY KEY,
    holder     TEXT   NOT NULL,
    expires_ms BIGINT NOT NULL,
    since_ms   BIGINT NOT NULL
);
-- What each trigger has seen (its cursor), so the process that takes the triggers over
-- fires what happened while none held them, and nothing twice.
CREATE TABLE IF NOT EXISTS trigger_state (
    name       TEXT   PRIMARY KEY,
    state      TEXT   NOT NULL,
    updated_ms BIGINT NOT NULL
);
