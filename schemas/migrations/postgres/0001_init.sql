-- wapdr on PostgreSQL: subscriptions, the usage log and wapdr's own settings.

CREATE TABLE subscriptions (
    -- Lower-case hyphenated GUID kept as text, with byte-order collation so ORDER BY and keyset
    -- paging agree with SQLite whatever the database's default collation is.
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    name        TEXT        NOT NULL,
    state       TEXT        NOT NULL,      -- SubscriptionState name
    lifecycle   TEXT        NOT NULL,      -- LifecycleState name
    last_error  TEXT,
    admin_id    TEXT        NOT NULL,
    co_admins   TEXT        NOT NULL,      -- JSON array of strings
    quota       TEXT        NOT NULL,      -- JSON of QuotaSources
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    version     BIGINT      NOT NULL
);

CREATE INDEX subscriptions_state_lifecycle ON subscriptions (state, lifecycle);
CREATE INDEX subscriptions_lifecycle ON subscriptions (lifecycle);

CREATE TABLE usage_records (
    event_id            BIGINT      NOT NULL PRIMARY KEY, -- from usage_counter, never a sequence
    external_record_id  TEXT        NOT NULL,
    subscription_id     TEXT        NOT NULL,
    resource_id         TEXT        NOT NULL,
    service_type        TEXT        NOT NULL,
    provider_name       TEXT        NOT NULL,
    start_time          TIMESTAMPTZ NOT NULL,
    end_time            TIMESTAMPTZ NOT NULL,
    properties          TEXT        NOT NULL,  -- JSON object of strings
    resources           TEXT        NOT NULL,  -- JSON object of strings
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row. EventIds come from here, inside the transaction that inserts the records: the row lock
-- serialises writers until commit, so EventIds commit in order (a sequence would not: a later id
-- could commit first and a collector paging by lastID would skip the earlier one).
CREATE TABLE usage_counter (
    singleton       BOOLEAN NOT NULL PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    next_event_id   BIGINT  NOT NULL,
    acked_event_id  BIGINT  NOT NULL
);
INSERT INTO usage_counter (singleton, next_event_id, acked_event_id) VALUES (TRUE, 1, 0);

CREATE TABLE settings (
    key    TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);
