-- Provider setup on SQLite: stamps, replication policies, cloud pairs and network mappings.
-- Secrets (SPF password, WAP admin token) are stored as given: no encryption key management is in
-- scope; protect the database as you would the credentials. The constraints back the domain's
-- rules, so that two instances racing cannot break them: names are unique ignoring case, a pair
-- joins two stamps, and a primary plan belongs to at most one pair.

CREATE TABLE stamps (
    id                 TEXT NOT NULL PRIMARY KEY,
    name               TEXT NOT NULL,
    name_key           TEXT NOT NULL UNIQUE,          -- lower-case name
    spf_url            TEXT NOT NULL,
    spf_username       TEXT NOT NULL,
    spf_password       TEXT NOT NULL,
    spf_stamp_id       TEXT,                          -- the VMM stamp GUID, found by verify
    wap_admin_url      TEXT NOT NULL,
    wap_admin_token    TEXT NOT NULL,
    tenant_portal_url  TEXT NOT NULL
);

CREATE TABLE replication_policies (
    name_key                  TEXT    NOT NULL PRIMARY KEY, -- lower-case name
    name                      TEXT    NOT NULL,
    copy_frequency_seconds    INTEGER NOT NULL CHECK (copy_frequency_seconds IN (30, 300, 900)),
    recovery_points           INTEGER NOT NULL CHECK (recovery_points BETWEEN 0 AND 24),
    app_consistent_hours      INTEGER NOT NULL CHECK (app_consistent_hours BETWEEN 0 AND 12),
    initial_replication       TEXT    NOT NULL CHECK (initial_replication IN ('OverNetwork', 'Offline')),
    compression               BOOLEAN NOT NULL
);

CREATE TABLE cloud_pairs (
    id                  TEXT NOT NULL PRIMARY KEY,
    primary_stamp_id    TEXT NOT NULL REFERENCES stamps (id),
    primary_plan_id     TEXT NOT NULL,
    primary_plan_key    TEXT NOT NULL,                -- lower-case plan id
    primary_plan_name   TEXT NOT NULL,
    primary_cloud_id    TEXT NOT NULL,
    recovery_stamp_id   TEXT NOT NULL REFERENCES stamps (id),
    recovery_plan_id    TEXT NOT NULL,
    recovery_plan_name  TEXT NOT NULL,
    recovery_cloud_id   TEXT NOT NULL,
    policy_key          TEXT NOT NULL REFERENCES replication_policies (name_key),
    policy_name         TEXT NOT NULL,
    state               TEXT NOT NULL,                -- PairState name
    error               TEXT,
    test_network_id     TEXT,
    CHECK (primary_stamp_id <> recovery_stamp_id),
    UNIQUE (primary_stamp_id, primary_plan_key)       -- a subscription's plan resolves to one pair
);

CREATE INDEX cloud_pairs_recovery_stamp ON cloud_pairs (recovery_stamp_id);
CREATE INDEX cloud_pairs_policy ON cloud_pairs (policy_key);

CREATE TABLE network_mappings (
    pair_id              TEXT NOT NULL REFERENCES cloud_pairs (id) ON DELETE CASCADE,
    primary_network_id   TEXT NOT NULL,
    recovery_network_id  TEXT NOT NULL,
    PRIMARY KEY (pair_id, primary_network_id)
);
