-- The durable engine on PostgreSQL: workflow runs, their steps (with leases) and runbook state.
-- Every time in these tables comes from the database clock (now()), never a worker's.

CREATE TABLE workflow_runs (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,  -- UUIDv7: sorts by creation
    workflow         TEXT    NOT NULL,
    params           TEXT    NOT NULL,              -- JSON
    state            TEXT    NOT NULL,              -- RunState name
    trigger          TEXT    NOT NULL,              -- api, webhook, schedule, event, ...
    started_by       TEXT    NOT NULL,
    reason           TEXT,
    subscription_id  TEXT,
    error            TEXT,
    dedupe_key       TEXT    UNIQUE,                -- the same logical job is created once
    current_stage    BIGINT  NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ
);

CREATE INDEX workflow_runs_state ON workflow_runs (state);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow);
CREATE INDEX workflow_runs_subscription ON workflow_runs (subscription_id);

CREATE TABLE workflow_steps (
    run_id            TEXT COLLATE "C" NOT NULL REFERENCES workflow_runs (id),
    id                BIGINT  NOT NULL,             -- 1, 2, ... within the run
    stage             BIGINT  NOT NULL,
    seq               BIGINT  NOT NULL,             -- position within the stage
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    input             TEXT    NOT NULL,             -- JSON
    output            TEXT,                         -- JSON
    at_least_once     BOOLEAN NOT NULL,
    state             TEXT    NOT NULL,             -- StepState name
    attempt           BIGINT  NOT NULL,             -- claims so far; fences every write
    retries           BIGINT  NOT NULL,             -- transient failures so far
    lease_owner       TEXT,
    lease_expires_at  TIMESTAMPTZ,
    not_before        TIMESTAMPTZ,
    wait_kind         TEXT,                         -- 'until' or 'ack' while waiting
    error             TEXT,
    ack_prompt        TEXT,
    acknowledged_by   TEXT,
    ack_comment       TEXT,
    acknowledged_at   TIMESTAMPTZ,
    started_at        TIMESTAMPTZ,
    finished_at       TIMESTAMPTZ,
    PRIMARY KEY (run_id, id)
);

CREATE INDEX workflow_steps_claimable ON workflow_steps (state, not_before);

CREATE TABLE runbooks (
    name               TEXT    NOT NULL PRIMARY KEY,
    enabled_override   BOOLEAN,                     -- NULL: the file's default
    schedule_override  TEXT,                        -- NULL: the file's; '': no schedule
    webhook_token      TEXT    NOT NULL,
    last_tick          TIMESTAMPTZ,                        -- the latest schedule tick handled
    created_at         TIMESTAMPTZ NOT NULL
);
