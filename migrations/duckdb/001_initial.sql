-- dtf analytical history (DuckDB). One writer thread owns the file (error_handling/events.py).
-- Timestamps are TIMESTAMP holding UTC. JSON columns hold orjson-encoded values.

CREATE TABLE error_events (
    event_id      VARCHAR NOT NULL,
    "timestamp"   TIMESTAMP NOT NULL,
    task_id       VARCHAR,
    worker_id     VARCHAR,
    attempt       INTEGER,
    category      VARCHAR NOT NULL,
    type          VARCHAR,
    message       VARCHAR,
    traceback     VARCHAR,
    exit_code     INTEGER,
    signal        INTEGER,
    hardware_type VARCHAR,
    task_type     VARCHAR,
    pattern_id    VARCHAR,
    rule          VARCHAR,
    retry         BOOLEAN,
    retry_delay   DOUBLE,
    max_retries   INTEGER,
    outcome       VARCHAR,
    actions       JSON,
    tags          JSON,
    context       JSON
);

CREATE TABLE recovery_actions (
    action_id   VARCHAR NOT NULL,
    event_id    VARCHAR,
    action      VARCHAR NOT NULL,
    task_id     VARCHAR,
    worker_id   VARCHAR,
    success     BOOLEAN,
    detail      VARCHAR,
    "timestamp" TIMESTAMP NOT NULL
);

-- Upserted per flush: counts add up, first/last seen widen.
CREATE TABLE error_patterns (
    pattern_id VARCHAR PRIMARY KEY,
    template   VARCHAR,
    category   VARCHAR,
    count      BIGINT NOT NULL,
    first_seen TIMESTAMP,
    last_seen  TIMESTAMP
);

CREATE TABLE task_results (
    task_id          VARCHAR NOT NULL,
    attempt          INTEGER,
    type             VARCHAR,
    status           VARCHAR,
    outcome          VARCHAR,
    worker_id        VARCHAR,
    hardware_type    VARCHAR,
    tags             JSON,
    started_at       TIMESTAMP,
    finished_at      TIMESTAMP,
    duration_seconds DOUBLE,
    error_category   VARCHAR,
    test_name        VARCHAR,
    flaky            BOOLEAN,
    result           JSON,
    error_message    VARCHAR
);

-- The API filters events by category, worker, task, pattern and time window; lookups by
-- task and worker are selective, so ART indexes pay; time ranges ride on zone maps, since
-- rows arrive in time order, but an index keeps "latest N" cheap.
CREATE INDEX idx_error_events_task ON error_events (task_id);
CREATE INDEX idx_error_events_worker ON error_events (worker_id);
CREATE INDEX idx_error_events_category ON error_events (category);
CREATE INDEX idx_error_events_pattern ON error_events (pattern_id);
CREATE INDEX idx_error_events_time ON error_events ("timestamp");
CREATE INDEX idx_error_events_event ON error_events (event_id);
CREATE INDEX idx_recovery_actions_task ON recovery_actions (task_id);
CREATE INDEX idx_recovery_actions_event ON recovery_actions (event_id);
CREATE INDEX idx_recovery_actions_time ON recovery_actions ("timestamp");
CREATE INDEX idx_task_results_task ON task_results (task_id);
CREATE INDEX idx_task_results_time ON task_results (finished_at);
