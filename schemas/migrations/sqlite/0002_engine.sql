-- The durable engine on SQLite: workflow runs, their steps (with leases) and runbook state.
-- Timestamps are RFC 3339 UTC text with milliseconds, compared as text (one fixed format).

CREATE TABLE workflow_runs (
    id               TEXT    NOT NULL PRIMARY KEY,  -- UUIDv7: sorts by creation
    workflow         TEXT    NOT NULL,
    params           TEXT    NOT NULL,              -- JSON
    state            TEXT    NOT NULL,              -- RunState name
    trigger          TEXT    NOT NULL,              -- api, webhook, schedule, event, ...
    started_by       TEXT    NOT NULL,
    reason           TEXT,
    subscription_id  TEXT,
    error            TEXT,
    dedupe_key       TEXT    UNIQUE,                -- the same logical job is created once
    current_stage    INTEGER NOT NULL,
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT
);

CREATE INDEX workflow_runs_state ON workflow_runs (state);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow);
CREATE INDEX workflow_runs_subscription ON workflow_runs (subscription_id);

CREATE TABLE workflow_steps (
    run_id            TEXT    NOT NULL REFERENCES workflow_runs (id),
    id                INTEGER NOT NULL,             -- 1, 2, ... within the run
    stage             INTEGER NOT NULL,
    seq               INTEGER NOT NULL,             -- position within the stage
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    input             TEXT    NOT NULL,             -- JSON
    output            TEXT,                         -- JSON
    at_least_once     BOOLEAN NOT NULL,
    state             TEXT    NOT NULL,             -- StepState name
    attempt           INTEGER NOT NULL,             -- claims so far; fences every write
    retries           INTEGER NOT NULL,             -- transient failures so far
    lease_owner       TEXT,
    lease_expires_at  TEXT,
    not_before        TEXT,
    wait_kind         TEXT,                         -- 'until' or 'ack' while waiting
    error             TEXT,
    ack_prompt        TEXT,
    acknowledged_by   TEXT,
    ack_comment       TEXT,
    acknowledged_at   TEXT,
    started_at        TEXT,
    finished_at       TEXT,
    PRIMARY KEY (run_id, id)
);

CREATE INDEX workflow_steps_claimable ON workflow_steps (state, not_before);

CREATE TABLE runbooks (
    name               TEXT    NOT NULL PRIMARY KEY,
    enabled_override   BOOLEAN,                     -- NULL: the file's default
    schedule_override  TEXT,                        -- NULL: the file's; '': no schedule
    webhook_token      TEXT    NOT NULL,
    last_tick          TEXT,                        -- the latest schedule tick handled
    created_at         TEXT    NOT NULL
);
