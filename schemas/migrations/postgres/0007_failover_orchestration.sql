-- Failover orchestration on PostgreSQL.
--
-- Engine slots: a step may belong to a slot (a shared resource such as the replication engine)
-- with a limit; a fresh step of a slot is claimed only while fewer than `slot_limit` steps of the
-- slot have begun and not finished, across every run and instance. `engine_slots` holds one row
-- per slot that claims lock (FOR UPDATE), so instances take the last free places one at a time.
ALTER TABLE workflow_steps ADD COLUMN slot TEXT;
ALTER TABLE workflow_steps ADD COLUMN slot_limit BIGINT;
CREATE INDEX workflow_steps_slot ON workflow_steps (slot, state) WHERE slot IS NOT NULL;
-- A step finishing asks whether its stage is done: keep that cheap for stages of thousands.
CREATE INDEX workflow_steps_run_stage ON workflow_steps (run_id, stage, state);

CREATE TABLE engine_slots (
    slot    TEXT   NOT NULL PRIMARY KEY,
    claims  BIGINT NOT NULL
);

-- A run started by another run's step (a site failover's per-subscription failovers) names it,
-- so the parent can follow its children with one query.
ALTER TABLE workflow_runs ADD COLUMN parent_id TEXT;
CREATE INDEX workflow_runs_parent ON workflow_runs (parent_id, state) WHERE parent_id IS NOT NULL;

-- Per-subscription failover settings (JSON: priority tier, commit policy, drill cleanup) and the
-- deadline of an open commit window or drill (JSON: action, at, job), beside the phase.
ALTER TABLE failovers ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE failovers ADD COLUMN deadline TEXT;
