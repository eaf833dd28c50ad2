-- Exit statuses wider than 32 bits: Windows reports NTSTATUS codes as unsigned 32-bit exit
-- statuses (0xC0000005, an access violation, is 3221225477), which an INTEGER column refused
-- (the events were set aside instead of stored). DuckDB alters a column only without the
-- indexes that depend on its table, so they are dropped and made again around the change.
DROP INDEX idx_error_events_task;
DROP INDEX idx_error_events_worker;
DROP INDEX idx_error_events_category;
DROP INDEX idx_error_events_pattern;
DROP INDEX idx_error_events_time;
DROP INDEX idx_error_events_event;

ALTER TABLE error_events ALTER COLUMN exit_code TYPE BIGINT;

CREATE INDEX idx_error_events_task ON error_events (task_id);
CREATE INDEX idx_error_events_worker ON error_events (worker_id);
CREATE INDEX idx_error_events_category ON error_events (category);
CREATE INDEX idx_error_events_pattern ON error_events (pattern_id);
CREATE INDEX idx_error_events_time ON error_events ("timestamp");
CREATE INDEX idx_error_events_event ON error_events (event_id);
