-- Protection on PostgreSQL: each DR subscription's record, each protected VM's record, and the
-- runbooks' named cursors. Ids are lower-case hyphenated GUIDs kept as text; the columns that
-- ORDER BY and keyset paging use have byte-order collation so results agree with SQLite whatever
-- the database's default collation is. `updated_at` always comes from the database clock.

CREATE TABLE dr_subscriptions (
    subscription_id    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    phase              TEXT        NOT NULL,   -- DrPhase name
    pair_id            TEXT,
    primary_stamp_id   TEXT,
    recovery_stamp_id  TEXT,
    active_stamp_id    TEXT,
    primary_plan_id    TEXT,
    owner              TEXT,
    mirror             TEXT        NOT NULL,   -- MirrorState name
    networks           TEXT        NOT NULL,   -- JSON array of {"primary", "recovery"} ids
    message            TEXT,
    updated_at         TIMESTAMPTZ NOT NULL
);

CREATE INDEX dr_subscriptions_phase ON dr_subscriptions (phase);
CREATE INDEX dr_subscriptions_pair ON dr_subscriptions (pair_id);
CREATE INDEX dr_subscriptions_primary_stamp ON dr_subscriptions (primary_stamp_id);
CREATE INDEX dr_subscriptions_recovery_stamp ON dr_subscriptions (recovery_stamp_id);
CREATE INDEX dr_subscriptions_active_stamp ON dr_subscriptions (active_stamp_id);

CREATE TABLE protected_vms (
    subscription_id              TEXT COLLATE "C" NOT NULL,
    vm_id                        TEXT COLLATE "C" NOT NULL,  -- SPF id on the primary stamp
    name                         TEXT COLLATE "C" NOT NULL,
    stamp_id                     TEXT        NOT NULL,   -- primary stamp
    cloud_id                     TEXT        NOT NULL,
    pair_id                      TEXT        NOT NULL,
    replica_vm_id                TEXT,
    replica_owned                BOOLEAN     NOT NULL,
    state                        TEXT        NOT NULL,   -- VmProtectionState name
    exclusion                    TEXT,                   -- Exclusion name
    reason                       TEXT,
    health                       TEXT,                   -- VmHealth name
    health_detail                TEXT,
    last_replicated              TIMESTAMPTZ,
    last_recovery_point          TIMESTAMPTZ,
    initial_replication_percent  BIGINT CHECK (initial_replication_percent BETWEEN 0 AND 255),
    vm_created_at                TIMESTAMPTZ,
    protection_requested_at      TIMESTAMPTZ,
    protected_at                 TIMESTAMPTZ,
    updated_at                   TIMESTAMPTZ NOT NULL,
    version                      BIGINT      NOT NULL,
    PRIMARY KEY (subscription_id, vm_id)
);

-- An event names a VM, not its subscription.
CREATE INDEX protected_vms_vm ON protected_vms (vm_id);
CREATE INDEX protected_vms_subscription_name ON protected_vms (subscription_id, name, vm_id);
CREATE INDEX protected_vms_state ON protected_vms (state);
CREATE INDEX protected_vms_stamp ON protected_vms (stamp_id);
CREATE INDEX protected_vms_pair ON protected_vms (pair_id);

CREATE TABLE protection_cursors (
    name        TEXT        NOT NULL PRIMARY KEY,
    value       TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
