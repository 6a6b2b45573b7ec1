-- wapdr on SQLite: subscriptions, the usage log and wapdr's own settings.
-- Timestamps are RFC 3339 UTC text with milliseconds (what strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
-- writes and sqlx reads back as OffsetDateTime).

CREATE TABLE subscriptions (
    id          TEXT    NOT NULL PRIMARY KEY, -- lower-case hyphenated GUID; sorts as text
    name        TEXT    NOT NULL,
    state       TEXT    NOT NULL,             -- SubscriptionState name
    lifecycle   TEXT    NOT NULL,             -- LifecycleState name
    last_error  TEXT,
    admin_id    TEXT    NOT NULL,
    co_admins   TEXT    NOT NULL,             -- JSON array of strings
    quota       TEXT    NOT NULL,             -- JSON of QuotaSources
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    version     INTEGER NOT NULL
);

CREATE INDEX subscriptions_state_lifecycle ON subscriptions (state, lifecycle);
CREATE INDEX subscriptions_lifecycle ON subscriptions (lifecycle);

CREATE TABLE usage_records (
    event_id            INTEGER NOT NULL PRIMARY KEY, -- given from usage_counter, never reused
    external_record_id  TEXT    NOT NULL,
    subscription_id     TEXT    NOT NULL,
    resource_id         TEXT    NOT NULL,
    service_type        TEXT    NOT NULL,
    provider_name       TEXT    NOT NULL,
    start_time          TEXT    NOT NULL,
    end_time            TEXT    NOT NULL,
    properties          TEXT    NOT NULL,     -- JSON object of strings
    resources           TEXT    NOT NULL,     -- JSON object of strings
    created_at          TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- One row. EventIds come from here, inside the transaction that inserts the records, so writers
-- are serialised and commit in EventId order.
CREATE TABLE usage_counter (
    singleton       INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
    next_event_id   INTEGER NOT NULL,
    acked_event_id  INTEGER NOT NULL
);
INSERT INTO usage_counter (singleton, next_event_id, acked_event_id) VALUES (1, 1, 0);

CREATE TABLE settings (
    key    TEXT NOT NULL PRIMARY KEY,
    value  TEXT NOT NULL
);
