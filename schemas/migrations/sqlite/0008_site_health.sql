-- Site health on SQLite: each stamp's current heartbeat verdict, one row per probe of its history
-- (kept for 30 days, pruned as probes are written), and the provider's per-stamp opt-in for
-- automatic site failover. Timestamps are fixed-width RFC 3339 UTC text, as the database clock
-- writes them, so they compare as text. A stamp's health and history go with the stamp.

ALTER TABLE stamps ADD COLUMN auto_failover BOOLEAN NOT NULL DEFAULT false;

CREATE TABLE site_health (
    stamp_id            TEXT    NOT NULL PRIMARY KEY REFERENCES stamps (id) ON DELETE CASCADE,
    verdict             TEXT    NOT NULL,   -- SiteVerdict name
    previous_verdict    TEXT,               -- the verdict before this one began
    since               TEXT    NOT NULL,   -- when this verdict began
    consecutive_misses  INTEGER NOT NULL CHECK (consecutive_misses >= 0),
    last_probe_at       TEXT    NOT NULL,
    last_probe          TEXT    NOT NULL,   -- JSON: each service's probe
    reason              TEXT    NOT NULL,
    alert_pending       BOOLEAN NOT NULL,   -- the change to this verdict is not yet alerted
    version             INTEGER NOT NULL
);

CREATE TABLE site_probes (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    stamp_id            TEXT    NOT NULL REFERENCES stamps (id) ON DELETE CASCADE,
    probed_at           TEXT    NOT NULL,
    verdict             TEXT    NOT NULL,   -- SiteVerdict name
    consecutive_misses  INTEGER NOT NULL,
    details             TEXT    NOT NULL    -- JSON: each service's probe
);

CREATE INDEX site_probes_stamp_time ON site_probes (stamp_id, probed_at);
