-- Per-minute rollups of error_events for the analytics endpoints (coordinator/analytics/queries.py).
--
-- error_minutes: one row per (minute, grouping set, key) for the GROUPING SETS the summary and trends
-- count by, kept apart rather than crossed, because a crossed (category x worker x hardware) key is
-- nearly as fine as the events themselves when those dimensions vary independently:
--   g = GROUPING(category, worker_id, hardware_type)
--   3 (0b011) per category       -> summary by_category and total, trends
--   5 (0b101) per worker_id      -> summary by_worker
--   6 (0b110) per hardware_type  -> summary by_hardware_type
-- (the same bits summary_body reads). Columns outside a row's set hold ''; a NULL worker or hardware
-- type is stored as '' too (key columns are NOT NULL for the upsert; the endpoints show both as
-- "unknown").
-- error_pattern_minutes: errors per minute and pattern (pattern window counts), apart so that the
-- summary does not scan past them (there are many more patterns than categories).
-- The DuckDB writer (error_handling/events.py) upserts each flush's counts in the same transaction
-- as the events, so both always equal the GROUP BYs below over error_events.
CREATE TABLE error_minutes (
    minute        TIMESTAMP NOT NULL,  -- time_bucket(INTERVAL 1 MINUTE, "timestamp")
    g             UTINYINT NOT NULL,
    category      VARCHAR NOT NULL,
    worker_id     VARCHAR NOT NULL,
    hardware_type VARCHAR NOT NULL,
    n             BIGINT NOT NULL
);

CREATE TABLE error_pattern_minutes (
    minute     TIMESTAMP NOT NULL,
    pattern_id VARCHAR NOT NULL,  -- events without a pattern are not counted here
    n          BIGINT NOT NULL
);

-- Backfill from the events already stored (bench/analytics.py fills events, then runs this file).
INSERT INTO error_minutes
SELECT minute, GROUPING(category, worker_id, hardware_type)::UTINYINT AS g, coalesce(category, ''),
       coalesce(worker_id, ''), coalesce(hardware_type, ''), count(*)
FROM (SELECT time_bucket(INTERVAL 1 MINUTE, "timestamp") AS minute, category,
             coalesce(worker_id, '') AS worker_id, coalesce(hardware_type, '') AS hardware_type
      FROM error_events)
GROUP BY GROUPING SETS ((minute, category), (minute, worker_id), (minute, hardware_type))
ORDER BY minute;

INSERT INTO error_pattern_minutes
SELECT time_bucket(INTERVAL 1 MINUTE, "timestamp") AS minute, pattern_id, count(*)
FROM error_events WHERE pattern_id IS NOT NULL
GROUP BY ALL ORDER BY minute;

-- Built after the backfill (faster than row by row); the writer's ON CONFLICT targets them.
CREATE UNIQUE INDEX idx_error_minutes_key ON error_minutes (minute, g, category, worker_id, hardware_type);
CREATE UNIQUE INDEX idx_error_pattern_minutes_key ON error_pattern_minutes (minute, pattern_id);
