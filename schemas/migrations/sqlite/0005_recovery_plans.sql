-- Recovery plans on SQLite: each subscription's plans, its groups (ordered, with their VMs, delay
-- and pre/post actions) kept as one JSON document, since a plan is always read and written whole.
-- One default plan per subscription, kept in sync by wapdr; plan names are unique per
-- subscription.

CREATE TABLE recovery_plans (
    id               TEXT    NOT NULL PRIMARY KEY,
    subscription_id  TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    description      TEXT,
    groups           TEXT    NOT NULL,   -- JSON array of groups
    is_default       BOOLEAN NOT NULL,
    updated_at       TEXT    NOT NULL,
    version          INTEGER NOT NULL
);

CREATE UNIQUE INDEX recovery_plans_name ON recovery_plans (subscription_id, name);
CREATE UNIQUE INDEX recovery_plans_default ON recovery_plans (subscription_id) WHERE is_default;
