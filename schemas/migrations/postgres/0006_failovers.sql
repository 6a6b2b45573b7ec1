-- Failover on PostgreSQL: one row per DR subscription that was ever failed over or drilled: its
-- phase, the operation whose job was started last, and the work left for later (JSON).

CREATE TABLE failovers (
    subscription_id  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    phase            TEXT   NOT NULL,  -- FailoverPhase name
    running          TEXT,             -- JSON {"kind", "jobId", "requestedBy", "reason", "startedAt"}
    pending          TEXT   NOT NULL,  -- JSON array of notes
    version          BIGINT NOT NULL
);
