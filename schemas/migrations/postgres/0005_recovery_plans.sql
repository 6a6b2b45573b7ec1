-- Recovery plans on PostgreSQL: each subscription's plans, its groups (ordered, with their VMs,
-- delay and pre/post actions) kept as one JSON document, since a plan is always read and written
-- whole. One default plan per subscription, kept in sync by wapdr; plan names are unique per
-- subscription and sort byte by byte as on SQLite.

CREATE TABLE recovery_plans (
    id               TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    subscription_id  TEXT COLLATE "C" NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    description      TEXT,
    groups           TEXT        NOT NULL,   -- JSON array of groups
    is_default       BOOLEAN     NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    version          BIGINT      NOT NULL
);

CREATE UNIQUE INDEX recovery_plans_name ON recovery_plans (subscription_id, name);
CREATE UNIQUE INDEX recovery_plans_default ON recovery_plans (subscription_id) WHERE is_default;
