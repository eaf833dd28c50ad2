-- The coordinator's operational state: what must survive a crash.
CREATE TABLE tasks (
    task_id          TEXT PRIMARY KEY,
    seq              INTEGER NOT NULL UNIQUE,
    type             TEXT NOT NULL,
    spec             TEXT NOT NULL,          -- JSON: config, requirements, priority, timeout, max_retries, tags, depends_on
    status           TEXT NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    result           TEXT,                   -- JSON
    error            TEXT,                   -- JSON
    details          TEXT,                   -- JSON
    flaky            INTEGER NOT NULL DEFAULT 0,
    not_before       REAL,                   -- retry_wait: not before this UNIX time
    excluded_workers TEXT,                   -- JSON list
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
CREATE INDEX tasks_status_seq ON tasks (status, seq);

CREATE TABLE attempts (
    task_id        TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    worker_id      TEXT NOT NULL,
    lease          TEXT NOT NULL,
    dispatched_at  REAL NOT NULL,
    lease_deadline REAL NOT NULL,
    started_at     REAL,
    finished_at    REAL,
    outcome        TEXT,
    error_category TEXT,
    error          TEXT,
    PRIMARY KEY (task_id, attempt)
);

CREATE TABLE workers (
    worker_id  TEXT PRIMARY KEY,
    hardware   TEXT NOT NULL,   -- JSON
    tags       TEXT NOT NULL,   -- JSON
    state      TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen  REAL NOT NULL
);
