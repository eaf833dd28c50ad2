-- Attempts keyed by their task's submission order (tasks.seq), no longer by its random id.
-- Every dispatch inserts attempt rows; keyed by (task_id, attempt) each new row landed on a
-- random page of the key's index, so a group commit of 150 assignments wrote some 150 index
-- pages to the WAL. Keyed by seq, assignments (made in about submission order) append to
-- the same few pages. task_id stays in the row; lookups by id go through tasks.
CREATE TABLE attempts_by_seq (
    task_seq       INTEGER NOT NULL,
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
    PRIMARY KEY (task_seq, attempt)
);
INSERT INTO attempts_by_seq (task_seq, task_id, attempt, worker_id, lease, dispatched_at, lease_deadline,
                             started_at, finished_at, outcome, error_category, error)
    SELECT t.seq, a.task_id, a.attempt, a.worker_id, a.lease, a.dispatched_at, a.lease_deadline, a.started_at,
           a.finished_at, a.outcome, a.error_category, a.error
    FROM attempts a JOIN tasks t ON t.task_id = a.task_id ORDER BY a.rowid;
DROP TABLE attempts;
ALTER TABLE attempts_by_seq RENAME TO attempts;
